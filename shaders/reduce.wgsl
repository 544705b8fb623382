// Reductions sum / max (with first argmax) / logsumexp of an array viewed as [outer, len, inner], over
// len, plus the backward kernels of max and logsumexp (sum's backward is linalg.wgsl's `expand`).
// Driven by src/ops/reduce.ts. One entry point per layout, its kind chosen by the define MAX or LSE
// (neither: sum): `reduce_last` (inner = 1: one workgroup per chunk of a row) and `reduce_first` (inner > 1:
// TC columns of the outer·inner outputs x WG / TC row lanes per workgroup).
//
// Multi-pass: each workgroup reduces one chunk of the reduced axis and writes a partial, so the
// partials form an [outer, num_chunks] (last) or [num_chunks, outer·inner] (first) array that the next
// pass reduces the same way. Partials are (value) for sum, (value, index) for max and (max m, sum of
// exp(x - m)) for logsumexp; flag PARTIAL_INPUT says the input is such partials.
//
// Subgroups: reduce_last combines within a subgroup first and assumes subgroups are made of
// consecutive local_invocation_index values (true on every implementation we know of, and what other
// WebGPU scan/reduce libraries assume too). reduce_first keeps one column per lane of a subgroup
// (coalesced loads), so it reduces rows in workgroup memory only.
#include "wg_reduce"

const FLAG_PARTIAL_INPUT: u32 = 1u; // input is partials of an earlier pass
const FLAG_FINAL: u32 = 2u;         // logsumexp: write m + log(s) instead of the (m, s) partial

struct Params {
  outer: u32,
  len: u32,        // length of the reduced axis
  inner: u32,
  chunk: u32,      // elements of the reduced axis per workgroup
  num_chunks: u32, // workgroups (partials) per output
  flags: u32,
  neg_inf: f32,    // -infinity from the host: WGSL constant expressions cannot produce it
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x_aux: array<f32>; // logsumexp partial sums
@group(0) @binding(2) var<storage, read> x_idx: array<u32>; // max partial indices
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_idx: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

override WG: u32 = 256;
// reduce_first: TC columns x (WG / TC) row lanes per workgroup.
override TC: u32 = 64;

var<private> NEG_INF: f32;

fn neg_inf() -> f32 { return NEG_INF; }

// Where element i of the reduced axis of this lane's output lies: x[base + i * step].
struct ReduceAt { base: u32, step: u32 }

fn element(at: ReduceAt, i: u32) -> u32 { return at.base + i * at.step; }

// Each kind folds the elements first, first + step, … < end of its lane serially, combines the lanes
// through the wg_reduce trees (subgroup operations first where given), and stores an output: the
// final value, or the partial with its aux / index part. Results travel as vec2<u32> bit patterns.
#if MAX
// (max, index); an index is the position along the axis, or for partial input the earlier pass's index.
fn fold(first: u32, end: u32, step: u32, at: ReduceAt) -> vec2<u32> {
  let partial = (p.flags & FLAG_PARTIAL_INPUT) != 0u;
  var best = neg_inf();
  var best_i = WG_NO_INDEX;
  for (var i = first; i < end; i += step) {
    let e = element(at, i);
    let v = x[e];
    var idx = i;
    if (partial) { idx = x_idx[e]; }
    if (wg_argmax_better(best, best_i, v, idx)) {
      best = v;
      best_i = idx;
    }
  }
  return vec2<u32>(bitcast<u32>(best), best_i);
}

fn combine_in(v: vec2<u32>, lid: u32, stride: u32, count: u32) -> vec2<u32> {
  return wg_argmax_in(bitcast<f32>(v.x), v.y, lid, stride, count);
}

#if SUBGROUPS
fn combine_subgroups(v: vec2<u32>, lid: u32, sg_lane: u32, sg_size: u32) -> vec2<u32> {
  let val = bitcast<f32>(v.x);
  let m = subgroupMax(select(neg_inf(), val, v.y != WG_NO_INDEX));
  let im = subgroupMin(select(WG_NO_INDEX, v.y, v.y != WG_NO_INDEX && val == m));
  if (sg_lane == 0u) { wg_f32[lid / sg_size] = m; wg_u32[lid / sg_size] = im; }
  return wg_argmax_tree(lid, 1u, max(WG / sg_size, 1u));
}
#endif

fn store(o: u32, v: vec2<u32>) {
  out[o] = bitcast<f32>(v.x);
  out_idx[o] = v.y;
}
#else
#if LSE
// Fold one element into a running logsumexp state without a second exp when the max moves.
fn lse_push(s: vec2<f32>, v: f32) -> vec2<f32> {
  if (v > s.x) { return vec2<f32>(v, s.y * exp(s.x - v) + 1.0); }
  if (s.x == neg_inf()) { return s; }
  return vec2<f32>(s.x, s.y + exp(v - s.x));
}

// (max m, Σ exp(x − m)); partial input is such pairs (x, x_aux).
fn fold(first: u32, end: u32, step: u32, at: ReduceAt) -> vec2<u32> {
  var st = vec2<f32>(neg_inf(), 0.0);
  // Two loops, not a branch per element: software adapters run both sides of a branch they cannot
  // prove uniform.
  if ((p.flags & FLAG_PARTIAL_INPUT) != 0u) {
    for (var i = first; i < end; i += step) { st = lse_merge(st, vec2<f32>(x[element(at, i)], x_aux[element(at, i)])); }
  } else {
    for (var i = first; i < end; i += step) { st = lse_push(st, x[element(at, i)]); }
  }
  return bitcast<vec2<u32>>(st);
}

fn combine_in(v: vec2<u32>, lid: u32, stride: u32, count: u32) -> vec2<u32> {
  return bitcast<vec2<u32>>(wg_lse_in(bitcast<vec2<f32>>(v), lid, stride, count));
}

#if SUBGROUPS
fn combine_subgroups(v: vec2<u32>, lid: u32, sg_lane: u32, sg_size: u32) -> vec2<u32> {
  let st = bitcast<vec2<f32>>(v);
  let m = subgroupMax(st.x);
  var scaled = 0.0;
  if (m != neg_inf()) { scaled = st.y * exp(st.x - m); }
  let s = subgroupAdd(scaled);
  if (sg_lane == 0u) { wg_vec2[lid / sg_size] = vec2<f32>(m, s); }
  return bitcast<vec2<u32>>(wg_lse_tree(lid, 1u, max(WG / sg_size, 1u)));
}
#endif

fn store(o: u32, v: vec2<u32>) {
  let st = bitcast<vec2<f32>>(v);
  if ((p.flags & FLAG_FINAL) != 0u) {
    out[o] = select(st.x + log(st.y), st.x, st.x == neg_inf());
  } else {
    out[o] = st.x;
    out_aux[o] = st.y;
  }
}
#else
// sum (the default kind)
fn fold(first: u32, end: u32, step: u32, at: ReduceAt) -> vec2<u32> {
  var acc = 0.0;
  for (var i = first; i < end; i += step) { acc += x[element(at, i)]; }
  return vec2<u32>(bitcast<u32>(acc), 0u);
}

fn combine_in(v: vec2<u32>, lid: u32, stride: u32, count: u32) -> vec2<u32> {
  return vec2<u32>(bitcast<u32>(wg_sum_in(bitcast<f32>(v.x), lid, stride, count)), 0u);
}

#if SUBGROUPS
fn combine_subgroups(v: vec2<u32>, lid: u32, sg_lane: u32, sg_size: u32) -> vec2<u32> {
  let s = subgroupAdd(bitcast<f32>(v.x));
  if (sg_lane == 0u) { wg_f32[lid / sg_size] = s; }
  return vec2<u32>(bitcast<u32>(wg_sum_tree(lid, 1u, max(WG / sg_size, 1u))), 0u);
}
#endif

fn store(o: u32, v: vec2<u32>) { out[o] = bitcast<f32>(v.x); }
#endif
#endif

// ---------------------------------------------------------------- inner = 1: one workgroup per (row, chunk)

@compute @workgroup_size(WG)
fn reduce_last(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
  NEG_INF = p.neg_inf;
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.outer * p.num_chunks) { return; }
  let start = (w % p.num_chunks) * p.chunk;
  let v = fold(start + lid, min(start + p.chunk, p.len), WG, ReduceAt((w / p.num_chunks) * p.len, 1u));
#if SUBGROUPS
  let r = combine_subgroups(v, lid, sg_lane, sg_size);
#else
  let r = combine_in(v, lid, 1u, WG);
#endif
  if (lid == 0u) { store(w, r); }
}

// ---------------------------------------------------------------- inner > 1: TC columns x WG/TC row lanes

@compute @workgroup_size(WG)
fn reduce_first(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  NEG_INF = p.neg_inf;
  let w = wid.x + wid.y * nwg.x;
  let cols = p.outer * p.inner;
  let col_tiles = (cols + TC - 1u) / TC;
  if (w >= col_tiles * p.num_chunks) { return; }
  let slab = w / col_tiles;
  let col = (w % col_tiles) * TC + lid % TC;
  let start = slab * p.chunk;
  // A lane past the last column folds nothing.
  let end = select(start, min(start + p.chunk, p.len), col < cols);
  let at = ReduceAt((col / p.inner) * p.len * p.inner + col % p.inner, p.inner);
  let r = combine_in(fold(start + lid / TC, end, WG / TC, at), lid, TC, WG / TC);
  if (lid < TC && col < cols) { store(slab * cols + col, r); }
}

// ---------------------------------------------------------------- backward (elementwise over x)

struct BwdParams {
  n: u32,         // elements of x
  len: u32,       // length of the reduced axis
  inner: u32,
  neg_inf: f32,
}

@group(0) @binding(7) var<storage, read> gy: array<f32>;    // gradient of the output
@group(0) @binding(8) var<storage, read> y: array<f32>;     // logsumexp output
@group(0) @binding(9) var<storage, read> arg: array<u32>;   // argmax (index along the reduced axis)
@group(0) @binding(10) var<storage, read_write> gx: array<f32>;
@group(0) @binding(11) var<uniform> bp: BwdParams;

// (flat index, output index, position along the reduced axis) of x as [outer, len, inner]
fn bwd_coords(gid: vec3<u32>, nwg: vec3<u32>) -> vec3<u32> {
  let f = gid.x + gid.y * nwg.x * WG;
  return vec3<u32>(f, (f / (bp.len * bp.inner)) * bp.inner + f % bp.inner, (f / bp.inner) % bp.len);
}

// d logsumexp / dx: softmax weights exp(x - y).
@compute @workgroup_size(WG)
fn lse_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  NEG_INF = bp.neg_inf;
  let c = bwd_coords(gid, nwg);
  if (c.x >= bp.n) { return; }
  let v = x[c.x];
  var g = 0.0;
  if (v != neg_inf()) { g = gy[c.y] * exp(v - y[c.y]); }
  gx[c.x] = g;
}

// d max / dx: all of the gradient to the first argmax.
@compute @workgroup_size(WG)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = bwd_coords(gid, nwg);
  if (c.x < bp.n) { gx[c.x] = select(0.0, gy[c.y], arg[c.y] == c.z); }
}
