// C = Aᵀ B over samples: C[i, j] = Σ_s A[s * lda + aoff + i] · B[s * ldb + boff + j], i < ca, j < cb.
// Used for the ridge-regression normal equations (Rᵀ R and Rᵀ S) and the BPTT weight gradients.
// No workgroup memory or barriers (which dominate on CPU adapters): invocation (i, jb) accumulates
// C[i, 4·jb … 4·jb + 3] in registers, summing the samples in order. Lanes run over i, so each
// sample's A values are read contiguously and its four B values are shared by the lanes.

struct Params { samples: u32, ca: u32, cb: u32, lda: u32, ldb: u32, aoff: u32, boff: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn gemm_tn_cols(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let j0 = gid.y * 4u;
  if (i >= p.ca || j0 >= p.cb) { return; }
  // Columns past the last are read clamped and not written.
  let last = p.cb - 1u - j0;
  var acc = vec4<f32>();
  for (var s = 0u; s < p.samples; s++) {
    let av = a[s * p.lda + p.aoff + i];
    let bb = s * p.ldb + p.boff + j0;
    let bv = vec4<f32>(b[bb], b[bb + min(1u, last)], b[bb + min(2u, last)], b[bb + min(3u, last)]);
    acc += av * bv;
  }
  let cc = i * p.cb + j0;
  c[cc] = acc.x;
  if (last >= 1u) { c[cc + 1u] = acc.y; }
  if (last >= 2u) { c[cc + 2u] = acc.z; }
  if (last >= 3u) { c[cc + 3u] = acc.w; }
}
