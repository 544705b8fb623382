// C = Aᵀ B over samples: C[i, j] = Σ_s A[s * lda + aoff + i] · B[s * ldb + boff + j], i < ca, j < cb.
// Used for the ridge-regression normal equations (Rᵀ R and Rᵀ S). 16 × 16 output tiles, samples
// streamed through workgroup memory in chunks of 16.

struct Params { samples: u32, ca: u32, cb: u32, lda: u32, ldb: u32, aoff: u32, boff: u32, _pad: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const T: u32 = 16u;
var<workgroup> ta: array<f32, 256>;
var<workgroup> tb: array<f32, 256>;

@compute @workgroup_size(16, 16)
fn gemm_tn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wid.x * T + lid.x;
  let j = wid.y * T + lid.y;
  var acc = 0.0;
  for (var s0 = 0u; s0 < p.samples; s0 += T) {
    // Thread (x, y) loads sample s0 + y: column wid.x*T + x of A and column wid.y*T + x of B.
    let s = s0 + lid.y;
    let ai = wid.x * T + lid.x;
    let bj = wid.y * T + lid.x;
    var va = 0.0;
    var vb = 0.0;
    if (s < p.samples && ai < p.ca) { va = a[s * p.lda + p.aoff + ai]; }
    if (s < p.samples && bj < p.cb) { vb = b[s * p.ldb + p.boff + bj]; }
    ta[lid.y * T + lid.x] = va;
    tb[lid.y * T + lid.x] = vb;
    workgroupBarrier();
    for (var q = 0u; q < T; q++) { acc += ta[q * T + lid.x] * tb[q * T + lid.y]; }
    workgroupBarrier();
  }
  if (i < p.ca && j < p.cb) { c[i * p.cb + j] = acc; }
}
