// Batched low-rank product per particle: x = M z_p + c (N units), y_p = Nmatᵀ φ(x; h) (R outputs).
// Layouts (row-major): z, y, gy, gz [P, R]; M, Nmat [N, R]; c, h [N].
// The N-wide x is never stored: each thread keeps its particle's z and R accumulators in registers
// and walks the units in tiles staged in workgroup memory (every thread reads the same unit at the
// same time, so the tile reads are broadcasts). The backward kernels recompute x the same way.
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

// One tile of units (forward, gz) or of particles (parameter gradients).
var<workgroup> tileA: array<f32, WG * RMAX>;
var<workgroup> tileB: array<f32, WG * RMAX>;
var<workgroup> tileC: array<f32, WG>;
var<workgroup> tileH: array<f32, WG>;

// Stage units [start, start + WG) of M, Nmat, c, h; rows of M and Nmat are contiguous, so thread t
// copies elements t, t + WG, ... of the block (coalesced).
fn load_unit_tile(start: u32, lid: u32) {
  let count = min(WG, p.N - start);
  for (var e = lid; e < count * R; e += WG) {
    tileA[e] = M[start * R + e];
    tileB[e] = Nmat[start * R + e];
  }
  if (lid < count) {
    tileC[lid] = c[start + lid];
    tileH[lid] = h[start + lid];
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = gid.x + gid.y * nwg.x * WG;
  let live = q < p.P;
  var zq: array<f32, RMAX>;
  var acc: array<f32, RMAX>;
  for (var r = 0u; r < R; r++) {
    zq[r] = select(0.0, z[min(q, p.P - 1u) * R + r], live);
    acc[r] = 0.0;
  }
  // Every thread takes part in the tile loads and barriers, live or not.
  for (var start = 0u; start < p.N; start += WG) {
    load_unit_tile(start, lid);
    workgroupBarrier();
    let count = min(WG, p.N - start);
    for (var j = 0u; j < count; j++) {
      var x = tileC[j];
      for (var r = 0u; r < R; r++) { x += tileA[j * R + r] * zq[r]; }
      let f = phi(x, tileH[j]);
      for (var r = 0u; r < R; r++) { acc[r] += tileB[j * R + r] * f; }
    }
    workgroupBarrier();
  }
  if (live) {
    for (var r = 0u; r < R; r++) { y[q * R + r] = acc[r]; }
  }
}

// gz_p = Mᵀ (φ'(x) ⊙ (Nmat gy_p)).
@compute @workgroup_size(WG)
fn backward_z(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = gid.x + gid.y * nwg.x * WG;
  let live = q < p.P;
  let qq = min(q, p.P - 1u);
  var zq: array<f32, RMAX>;
  var gq: array<f32, RMAX>;
  var acc: array<f32, RMAX>;
  for (var r = 0u; r < R; r++) {
    zq[r] = select(0.0, z[qq * R + r], live);
    gq[r] = select(0.0, gy[qq * R + r], live);
    acc[r] = 0.0;
  }
  for (var start = 0u; start < p.N; start += WG) {
    load_unit_tile(start, lid);
    workgroupBarrier();
    let count = min(WG, p.N - start);
    for (var j = 0u; j < count; j++) {
      var x = tileC[j];
      var gf = 0.0;
      for (var r = 0u; r < R; r++) {
        x += tileA[j * R + r] * zq[r];
        gf += tileB[j * R + r] * gq[r];
      }
      let gx = gf * dphi_dx(x, tileH[j]);
      for (var r = 0u; r < R; r++) { acc[r] += gx * tileA[j * R + r]; }
    }
    workgroupBarrier();
  }
  if (live) {
    for (var r = 0u; r < R; r++) { gz[q * R + r] = acc[r]; }
  }
}

// Workgroup (wid.x, wid.y) = (block of WG units, chunk of p.chunk particles). Each thread owns one
// unit and sums its gradient terms over the chunk; particles are staged WG at a time.
// partial[k * S + e], S = N (2R + 2): [gM (N R) | gNmat (N R) | gc (N) | gh (N)].
@compute @workgroup_size(WG)
fn param_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x * WG + lid;
  let live = n < p.N;
  let nn = min(n, p.N - 1u);
  var mRow: array<f32, RMAX>;
  var nRow: array<f32, RMAX>;
  var accM: array<f32, RMAX>;
  var accN: array<f32, RMAX>;
  for (var r = 0u; r < R; r++) {
    mRow[r] = M[nn * R + r];
    nRow[r] = Nmat[nn * R + r];
    accM[r] = 0.0;
    accN[r] = 0.0;
  }
  let cn = c[nn];
  let hn = h[nn];
  var accC = 0.0;
  var accH = 0.0;
  let first = wid.y * p.chunk;
  let last = min(first + p.chunk, p.P);
  for (var start = first; start < last; start += WG) {
    let count = min(WG, last - start);
    for (var e = lid; e < count * R; e += WG) {
      tileA[e] = z[start * R + e];
      tileB[e] = gy[start * R + e];
    }
    workgroupBarrier();
    for (var j = 0u; j < count; j++) {
      var x = cn;
      var gf = 0.0;
      for (var r = 0u; r < R; r++) {
        x += mRow[r] * tileA[j * R + r];
        gf += nRow[r] * tileB[j * R + r];
      }
      let f = phi(x, hn);
      let gx = gf * dphi_dx(x, hn);
      for (var r = 0u; r < R; r++) {
        accN[r] += tileB[j * R + r] * f;
        accM[r] += gx * tileA[j * R + r];
      }
      accC += gx;
      accH += gf * dphi_dh(x, hn);
    }
    workgroupBarrier();
  }
  if (live) {
    let base = wid.y * p.N * (2u * R + 2u);
    for (var r = 0u; r < R; r++) {
      partial[base + n * R + r] = accM[r];
      partial[base + p.N * R + n * R + r] = accN[r];
    }
    partial[base + 2u * p.N * R + n] = accC;
    partial[base + 2u * p.N * R + p.N + n] = accH;
  }
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
