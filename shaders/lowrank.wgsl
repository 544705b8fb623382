// Batched low-rank product per particle: x = M z_p + c (N units), y_p = Nmatᵀ φ(x; h) (R outputs).
// Layouts (row-major): z, y, gy, gz [P, R]; M, Nmat [N, R]; c, h [N].
// The N-wide x is never stored: each thread keeps its particle's z and R accumulators in registers
// and walks the units; all threads read the same unit's parameters at the same time, so those reads
// are cache broadcasts. (Staging units in workgroup memory measured 1.7× slower on lavapipe, whose
// barriers are costly, and it would cap R by workgroup memory.) The backward kernels recompute x.
// Parameter gradients are sums over particles: `param_partials` writes one partial sum per
// (unit, particle chunk) and `param_reduce` adds the chunks (no float atomics in WGSL).
#include "nonlin"

#const RMAX
override R: u32 = 1u;
override WG: u32 = 64u;

struct Params { P: u32, N: u32, chunk: u32, chunks: u32 }

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> M: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read> Nmat: array<f32>;
@group(0) @binding(4) var<storage, read> h: array<f32>;
@group(0) @binding(5) var<storage, read> gy: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

// Separate output bindings for the backward kernels (each entry point uses at most 8 buffers).
@group(0) @binding(8) var<storage, read_write> gz: array<f32>;
@group(0) @binding(9) var<storage, read_write> partial: array<f32>;
@group(0) @binding(10) var<storage, read> partial_in: array<f32>;
@group(0) @binding(11) var<storage, read_write> gM: array<f32>;
@group(0) @binding(12) var<storage, read_write> gNmat: array<f32>;
@group(0) @binding(13) var<storage, read_write> gc: array<f32>;
@group(0) @binding(14) var<storage, read_write> gh: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = gid.x + gid.y * nwg.x * WG;
  if (q >= p.P) { return; }
  var zq: array<f32, RMAX>;
  var acc: array<f32, RMAX>;
  for (var r = 0u; r < R; r++) {
    zq[r] = z[q * R + r];
    acc[r] = 0.0;
  }
  for (var n = 0u; n < p.N; n++) {
    var x = c[n];
    for (var r = 0u; r < R; r++) { x += M[n * R + r] * zq[r]; }
    let f = phi(x, h[n]);
    for (var r = 0u; r < R; r++) { acc[r] += Nmat[n * R + r] * f; }
  }
  for (var r = 0u; r < R; r++) { y[q * R + r] = acc[r]; }
}

// gz_p = Mᵀ (φ'(x) ⊙ (Nmat gy_p)).
@compute @workgroup_size(WG)
fn backward_z(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = gid.x + gid.y * nwg.x * WG;
  if (q >= p.P) { return; }
  var zq: array<f32, RMAX>;
  var gq: array<f32, RMAX>;
  var acc: array<f32, RMAX>;
  for (var r = 0u; r < R; r++) {
    zq[r] = z[q * R + r];
    gq[r] = gy[q * R + r];
    acc[r] = 0.0;
  }
  for (var n = 0u; n < p.N; n++) {
    var x = c[n];
    var gf = 0.0;
    for (var r = 0u; r < R; r++) {
      x += M[n * R + r] * zq[r];
      gf += Nmat[n * R + r] * gq[r];
    }
    let gx = gf * dphi_dx(x, h[n]);
    for (var r = 0u; r < R; r++) { acc[r] += gx * M[n * R + r]; }
  }
  for (var r = 0u; r < R; r++) { gz[q * R + r] = acc[r]; }
}

// Workgroup (wid.x, wid.y) = (block of WG units, chunk of p.chunk particles). Each thread owns one
// unit and sums its gradient terms over the chunk (all threads read the same particle together).
// partial[k * S + e], S = N (2R + 2): [gM (N R) | gNmat (N R) | gc (N) | gh (N)].
@compute @workgroup_size(WG)
fn param_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x * WG + lid;
  if (n >= p.N) { return; }
  var mRow: array<f32, RMAX>;
  var nRow: array<f32, RMAX>;
  var accM: array<f32, RMAX>;
  var accN: array<f32, RMAX>;
  for (var r = 0u; r < R; r++) {
    mRow[r] = M[n * R + r];
    nRow[r] = Nmat[n * R + r];
    accM[r] = 0.0;
    accN[r] = 0.0;
  }
  let cn = c[n];
  let hn = h[n];
  var accC = 0.0;
  var accH = 0.0;
  let first = wid.y * p.chunk;
  let last = min(first + p.chunk, p.P);
  for (var q = first; q < last; q++) {
    var x = cn;
    var gf = 0.0;
    for (var r = 0u; r < R; r++) {
      x += mRow[r] * z[q * R + r];
      gf += nRow[r] * gy[q * R + r];
    }
    let f = phi(x, hn);
    let gx = gf * dphi_dx(x, hn);
    for (var r = 0u; r < R; r++) {
      accN[r] += gy[q * R + r] * f;
      accM[r] += gx * z[q * R + r];
    }
    accC += gx;
    accH += gf * dphi_dh(x, hn);
  }
  let base = wid.y * p.N * (2u * R + 2u);
  for (var r = 0u; r < R; r++) {
    partial[base + n * R + r] = accM[r];
    partial[base + p.N * R + n * R + r] = accN[r];
  }
  partial[base + 2u * p.N * R + n] = accC;
  partial[base + 2u * p.N * R + p.N + n] = accH;
}

// Sum the chunks' partials and scatter them into the four gradient tensors.
@compute @workgroup_size(WG)
fn param_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  let S = p.N * (2u * R + 2u);
  if (e >= S) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.chunks; k++) { s += partial_in[k * S + e]; }
  let NR = p.N * R;
  if (e < NR) { gM[e] = s; }
  else if (e < 2u * NR) { gNmat[e - NR] = s; }
  else if (e < 2u * NR + p.N) { gc[e - 2u * NR] = s; }
  else { gh[e - 2u * NR - p.N] = s; }
}
