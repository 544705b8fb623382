// Batched row gather out[b, k, :] = x[b, idx[b, k], :] (ancestor selection after resampling) and its
// adjoint gx[b, j, :] = Σ_{k : idx[b, k] = j} gy[b, k, :] (src/ops/gather.ts).
//
// WGSL has no float atomics, so the adjoint is a segmented sum over SORTED indices: each row idx[b, :]
// must be non-decreasing (systematic/stratified resampling produces sorted ancestors), and the k with
// idx[b, k] = j then form one contiguous range, found by two binary searches.

struct Params {
  batch: u32,
  k_out: u32, // K: gathered rows per batch entry (idx is [batch, K])
  j_src: u32, // J: source rows per batch entry (x is [batch, J, width])
  width: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 256;

// One invocation per output element; an out-of-range index gathers 0 (the debug helper reports it).
@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = gid.x + gid.y * nwg.x * WG;
  if (f >= p.batch * p.k_out * p.width) { return; }
  let bk = f / p.width;
  let c = f % p.width;
  let b = bk / p.k_out;
  let j = idx[bk];
  var v = 0.0;
  if (j < p.j_src) { v = x[(b * p.j_src + j) * p.width + c]; }
  out[f] = v;
}

// First k in [0, K) with idx[b, k] >= j (K if none).
fn lower_bound(row: u32, j: u32) -> u32 {
  var lo = 0u;
  var hi = p.k_out;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (idx[row + mid] < j) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

// One invocation per source element (b, j, c): sum the gradients of the range of k that copied it.
@compute @workgroup_size(WG)
fn gather_adjoint(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = gid.x + gid.y * nwg.x * WG;
  if (f >= p.batch * p.j_src * p.width) { return; }
  let bj = f / p.width;
  let c = f % p.width;
  let b = bj / p.j_src;
  let j = bj % p.j_src;
  let row = b * p.k_out;
  let first = lower_bound(row, j);
  let end = lower_bound(row, j + 1u);
  var acc = 0.0;
  for (var k = first; k < end; k++) { acc += gy[(row + k) * p.width + c]; }
  gx[f] = acc;
}
