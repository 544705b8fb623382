// Broadcast-expansion (the backward of sum, and strided copies), 2-D matmul with strided operands
// (so transposes cost nothing), and the covariance-factor parameterisations
// L = strictly_lower(P) + diag(exp(diag(P)/2)) and L = diag(exp(scale·p)).
override WG: u32 = 256u;
override TS: u32 = 16u;

// expand: out[i] = src[dot(index(i), srcStrides)] over the padded 4-D `shape`.
struct ExpandParams { n: u32, shape: vec4<u32>, srcStrides: vec4<u32> }
// C[M, N] = Σ_k A(m, k) B(k, n) with A(m, k) = a[m·aRow + k·aCol], B(k, n) = b[k·bRow + n·bCol].
struct MatmulParams { M: u32, N: u32, K: u32, aRow: u32, aCol: u32, bRow: u32, bCol: u32 }
// Batched d×d factors (n = batch·d·d elements); `scale` for diag_exp.
struct FactorParams { n: u32, d: u32, scale: f32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> pe: ExpandParams;
@group(0) @binding(4) var<storage, read> a: array<f32>;
@group(0) @binding(5) var<storage, read> b: array<f32>;
@group(0) @binding(6) var<uniform> pm: MatmulParams;
@group(0) @binding(7) var<uniform> pf: FactorParams;
@group(0) @binding(8) var<storage, read> gy: array<f32>;

var<workgroup> tileA: array<f32, TS * TS>;
var<workgroup> tileB: array<f32, TS * TS>;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn expand(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= pe.n) { return; }
  var r = i;
  var idx: vec4<u32>;
  idx.w = r % pe.shape.w; r = r / pe.shape.w;
  idx.z = r % pe.shape.z; r = r / pe.shape.z;
  idx.y = r % pe.shape.y; r = r / pe.shape.y;
  idx.x = r;
  dst[i] = src[dot(idx, pe.srcStrides)];
}

// Tiled TS×TS matmul; workgroup (wid.x, wid.y) computes columns wid.x·TS.., rows wid.y·TS...
@compute @workgroup_size(TS, TS)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * TS + lid.y;
  let col = wid.x * TS + lid.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < pm.K; k0 += TS) {
    let ka = k0 + lid.x;
    let kb = k0 + lid.y;
    tileA[lid.y * TS + lid.x] = select(0.0, a[min(row, pm.M - 1u) * pm.aRow + min(ka, pm.K - 1u) * pm.aCol], row < pm.M && ka < pm.K);
    tileB[lid.y * TS + lid.x] = select(0.0, b[min(kb, pm.K - 1u) * pm.bRow + min(col, pm.N - 1u) * pm.bCol], kb < pm.K && col < pm.N);
    workgroupBarrier();
    for (var k = 0u; k < TS; k++) { acc += tileA[lid.y * TS + k] * tileB[k * TS + lid.x]; }
    workgroupBarrier();
  }
  if (row < pm.M && col < pm.N) { dst[row * pm.N + col] = acc; }
}

// L[i, j] = P[i, j] below the diagonal, exp(P[i, i] / 2) on it, 0 above (per d×d block).
@compute @workgroup_size(WG)
fn chol_param(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= pf.n) { return; }
  let i = (e / pf.d) % pf.d;
  let j = e % pf.d;
  dst[e] = select(select(0.0, src[e], i > j), exp(0.5 * src[e]), i == j);
}

// gP = gL below the diagonal, gL · L_ii / 2 on it, 0 above (the upper triangle is unused).
@compute @workgroup_size(WG)
fn chol_param_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= pf.n) { return; }
  let i = (e / pf.d) % pf.d;
  let j = e % pf.d;
  dst[e] = select(select(0.0, gy[e], i > j), gy[e] * 0.5 * exp(0.5 * src[e]), i == j);
}

// out[.., i, j] = exp(scale · p[.., i]) if i == j else 0; n = batch·d·d.
@compute @workgroup_size(WG)
fn diag_exp(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= pf.n) { return; }
  let i = (e / pf.d) % pf.d;
  let j = e % pf.d;
  let v = src[(e / (pf.d * pf.d)) * pf.d + i];
  dst[e] = select(0.0, exp(pf.scale * v), i == j);
}

// gp[.., i] = g[.., i, i] · scale · exp(scale · p[.., i]); n = batch·d.
@compute @workgroup_size(WG)
fn diag_exp_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat(gid, nwg);
  if (e >= pf.n) { return; }
  let i = e % pf.d;
  let g = gy[(e / pf.d) * pf.d * pf.d + i * pf.d + i];
  dst[e] = g * pf.scale * exp(pf.scale * src[e]);
}
