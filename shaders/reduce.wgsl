// Reductions sum / max (with first argmax) / logsumexp of a [rows, inner] array, over the last axis
// (`*_last`: one output per row) or over the first axis (`*_first`: one output per column), plus
// their backward kernels. Driven by src/ops/reduce.ts.
//
// Multi-pass: each workgroup reduces one chunk of the reduced axis and writes a partial, so the
// partials form a [rows, num_chunks] (last) or [num_chunks, inner] (first) array that the next pass
// reduces the same way. Partials are (value) for sum, (value, index) for max and (max m, sum of
// exp(x - m)) for logsumexp; flag PARTIAL_INPUT says the input is such partials.
//
// Subgroups: the last-axis kernels combine within a subgroup first and assume subgroups are made of
// consecutive local_invocation_index values (true on every implementation we know of, and what other
// WebGPU scan/reduce libraries assume too). The first-axis kernels keep one column per lane of a
// subgroup (coalesced loads), so they reduce rows in workgroup memory only.

const FLAG_PARTIAL_INPUT: u32 = 1u; // input is partials of an earlier pass
const FLAG_FINAL: u32 = 2u;         // logsumexp: write m + log(s) instead of the (m, s) partial
const NO_INDEX: u32 = 0xffffffffu;

struct Params {
  rows: u32,       // length of the first axis
  inner: u32,      // length of the last axis
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
// First-axis kernels: TC columns x (WG / TC) row lanes per workgroup.
override TC: u32 = 64;

var<workgroup> sh_a: array<f32, WG>;
var<workgroup> sh_b: array<f32, WG>;
var<workgroup> sh_i: array<u32, WG>;
var<private> sg_lane: u32;
var<private> sg_size: u32;
var<private> NEG_INF: f32;

fn neg_inf() -> f32 { return NEG_INF; }

// (b, ib) beats (a, ia): larger value, ties to the smaller index; NO_INDEX never wins.
fn max_better(a: f32, ia: u32, b: f32, ib: u32) -> bool {
  return ib != NO_INDEX && (ia == NO_INDEX || b > a || (b == a && ib < ia));
}

// Combine two (max, scaled sum) logsumexp partials.
fn lse_combine(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  if (m == neg_inf()) { return vec2<f32>(m, 0.0); }
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// Fold one element into a running logsumexp state without a second exp when the max moves.
fn lse_push(s: vec2<f32>, v: f32) -> vec2<f32> {
  if (v > s.x) { return vec2<f32>(v, s.y * exp(s.x - v) + 1.0); }
  if (s.x == neg_inf()) { return s; }
  return vec2<f32>(s.x, s.y + exp(v - s.x));
}

fn lse_final(s: vec2<f32>) -> f32 {
  if (s.x == neg_inf()) { return s.x; }
  return s.x + log(s.y);
}

// ---------------------------------------------------------------- workgroup-wide combines (last axis)
// Every invocation calls these (uniform control flow); the result is valid in invocation 0.

fn wg_sum(v: f32, lid: u32) -> f32 {
#if SUBGROUPS
  let s = subgroupAdd(v);
  if (sg_lane == 0u) { sh_a[lid / sg_size] = s; }
  let n = max(WG / sg_size, 1u);
#else
  sh_a[lid] = v;
  let n = WG;
#endif
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride && lid + stride < n) { sh_a[lid] = sh_a[lid] + sh_a[lid + stride]; }
    workgroupBarrier();
  }
  return sh_a[0];
}

fn wg_max(v: f32, i: u32, lid: u32) -> vec2<u32> {
#if SUBGROUPS
  let m = subgroupMax(select(neg_inf(), v, i != NO_INDEX));
  let im = subgroupMin(select(NO_INDEX, i, i != NO_INDEX && v == m));
  if (sg_lane == 0u) { sh_a[lid / sg_size] = m; sh_i[lid / sg_size] = im; }
  let n = max(WG / sg_size, 1u);
#else
  sh_a[lid] = v;
  sh_i[lid] = i;
  let n = WG;
#endif
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride && lid + stride < n && max_better(sh_a[lid], sh_i[lid], sh_a[lid + stride], sh_i[lid + stride])) {
      sh_a[lid] = sh_a[lid + stride];
      sh_i[lid] = sh_i[lid + stride];
    }
    workgroupBarrier();
  }
  return vec2<u32>(bitcast<u32>(sh_a[0]), sh_i[0]);
}

fn wg_lse(st: vec2<f32>, lid: u32) -> vec2<f32> {
#if SUBGROUPS
  let m = subgroupMax(st.x);
  var scaled = 0.0;
  if (m != neg_inf()) { scaled = st.y * exp(st.x - m); }
  let s = subgroupAdd(scaled);
  if (sg_lane == 0u) { sh_a[lid / sg_size] = m; sh_b[lid / sg_size] = s; }
  let n = max(WG / sg_size, 1u);
#else
  sh_a[lid] = st.x;
  sh_b[lid] = st.y;
  let n = WG;
#endif
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride && lid + stride < n) {
      let c = lse_combine(vec2<f32>(sh_a[lid], sh_b[lid]), vec2<f32>(sh_a[lid + stride], sh_b[lid + stride]));
      sh_a[lid] = c.x;
      sh_b[lid] = c.y;
    }
    workgroupBarrier();
  }
  return vec2<f32>(sh_a[0], sh_b[0]);
}

// ---------------------------------------------------------------- last axis: one workgroup per (row, chunk)

struct LastTask { valid: bool, w: u32, base: u32, start: u32, end: u32 }

fn last_task(wid: vec3<u32>, nwg: vec3<u32>) -> LastTask {
  let w = wid.x + wid.y * nwg.x;
  let row = w / p.num_chunks;
  let start = (w % p.num_chunks) * p.chunk;
  return LastTask(w < p.rows * p.num_chunks, w, row * p.inner, start, min(start + p.chunk, p.inner));
}

@compute @workgroup_size(WG)
fn sum_last(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
#endif
) {
  NEG_INF = p.neg_inf;
#if SUBGROUPS
  sg_lane = lane;
  sg_size = size;
#endif
  let t = last_task(wid, nwg);
  if (!t.valid) { return; }
  var acc = 0.0;
  for (var i = t.start + lid; i < t.end; i += WG) { acc += x[t.base + i]; }
  let total = wg_sum(acc, lid);
  if (lid == 0u) { out[t.w] = total; }
}

@compute @workgroup_size(WG)
fn max_last(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
#endif
) {
  NEG_INF = p.neg_inf;
#if SUBGROUPS
  sg_lane = lane;
  sg_size = size;
#endif
  let t = last_task(wid, nwg);
  if (!t.valid) { return; }
  let partial = (p.flags & FLAG_PARTIAL_INPUT) != 0u;
  var best = neg_inf();
  var best_i = NO_INDEX;
  for (var i = t.start + lid; i < t.end; i += WG) {
    let v = x[t.base + i];
    var idx = i;
    if (partial) { idx = x_idx[t.base + i]; }
    if (max_better(best, best_i, v, idx)) {
      best = v;
      best_i = idx;
    }
  }
  let r = wg_max(best, best_i, lid);
  if (lid == 0u) {
    out[t.w] = bitcast<f32>(r.x);
    out_idx[t.w] = r.y;
  }
}

@compute @workgroup_size(WG)
fn lse_last(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
#endif
) {
  NEG_INF = p.neg_inf;
#if SUBGROUPS
  sg_lane = lane;
  sg_size = size;
#endif
  let t = last_task(wid, nwg);
  if (!t.valid) { return; }
  var st = vec2<f32>(neg_inf(), 0.0);
  if ((p.flags & FLAG_PARTIAL_INPUT) != 0u) {
    for (var i = t.start + lid; i < t.end; i += WG) { st = lse_combine(st, vec2<f32>(x[t.base + i], x_aux[t.base + i])); }
  } else {
    for (var i = t.start + lid; i < t.end; i += WG) { st = lse_push(st, x[t.base + i]); }
  }
  let r = wg_lse(st, lid);
  if (lid == 0u) {
    if ((p.flags & FLAG_FINAL) != 0u) {
      out[t.w] = lse_final(r);
    } else {
      out[t.w] = r.x;
      out_aux[t.w] = r.y;
    }
  }
}

// ---------------------------------------------------------------- first axis: TC columns x WG/TC row lanes

struct FirstTask { col: u32, tc: u32, tr: u32, start: u32, end: u32, out_at: u32 }

// Kept apart from FirstTask: a struct with any per-invocation field is non-uniform as a whole, and
// the early return must be workgroup-uniform for the barriers after it.
fn first_valid(wid: vec3<u32>, nwg: vec3<u32>) -> bool {
  return wid.x + wid.y * nwg.x < ((p.inner + TC - 1u) / TC) * p.num_chunks;
}

fn first_task(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> FirstTask {
  let w = wid.x + wid.y * nwg.x;
  let col_tiles = (p.inner + TC - 1u) / TC;
  let tile = w % col_tiles;
  let slab = w / col_tiles;
  let tc = lid % TC;
  let col = tile * TC + tc;
  let start = slab * p.chunk;
  return FirstTask(col, tc, lid / TC, start, min(start + p.chunk, p.rows), slab * p.inner + col);
}

// Tree over the row lanes of each column; results land in row lane 0 (sh_*[tc]).
fn first_tree_sum(tc: u32, tr: u32) {
  for (var stride = (WG / TC) / 2u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    if (tr < stride) { sh_a[tr * TC + tc] = sh_a[tr * TC + tc] + sh_a[(tr + stride) * TC + tc]; }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn sum_first(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  NEG_INF = p.neg_inf;
  if (!first_valid(wid, nwg)) { return; }
  let t = first_task(lid, wid, nwg);
  var acc = 0.0;
  if (t.col < p.inner) {
    for (var r = t.start + t.tr; r < t.end; r += WG / TC) { acc += x[r * p.inner + t.col]; }
  }
  sh_a[lid] = acc;
  first_tree_sum(t.tc, t.tr);
  if (t.tr == 0u && t.col < p.inner) { out[t.out_at] = sh_a[t.tc]; }
}

@compute @workgroup_size(WG)
fn max_first(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  NEG_INF = p.neg_inf;
  if (!first_valid(wid, nwg)) { return; }
  let t = first_task(lid, wid, nwg);
  let partial = (p.flags & FLAG_PARTIAL_INPUT) != 0u;
  var best = neg_inf();
  var best_i = NO_INDEX;
  if (t.col < p.inner) {
    for (var r = t.start + t.tr; r < t.end; r += WG / TC) {
      let v = x[r * p.inner + t.col];
      var idx = r;
      if (partial) { idx = x_idx[r * p.inner + t.col]; }
      if (max_better(best, best_i, v, idx)) {
        best = v;
        best_i = idx;
      }
    }
  }
  sh_a[lid] = best;
  sh_i[lid] = best_i;
  for (var stride = (WG / TC) / 2u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    let a = t.tr * TC + t.tc;
    let b = (t.tr + stride) * TC + t.tc;
    if (t.tr < stride && max_better(sh_a[a], sh_i[a], sh_a[b], sh_i[b])) {
      sh_a[a] = sh_a[b];
      sh_i[a] = sh_i[b];
    }
  }
  workgroupBarrier();
  if (t.tr == 0u && t.col < p.inner) {
    out[t.out_at] = sh_a[t.tc];
    out_idx[t.out_at] = sh_i[t.tc];
  }
}

@compute @workgroup_size(WG)
fn lse_first(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  NEG_INF = p.neg_inf;
  if (!first_valid(wid, nwg)) { return; }
  let t = first_task(lid, wid, nwg);
  var st = vec2<f32>(neg_inf(), 0.0);
  if (t.col < p.inner) {
    if ((p.flags & FLAG_PARTIAL_INPUT) != 0u) {
      for (var r = t.start + t.tr; r < t.end; r += WG / TC) { st = lse_combine(st, vec2<f32>(x[r * p.inner + t.col], x_aux[r * p.inner + t.col])); }
    } else {
      for (var r = t.start + t.tr; r < t.end; r += WG / TC) { st = lse_push(st, x[r * p.inner + t.col]); }
    }
  }
  sh_a[lid] = st.x;
  sh_b[lid] = st.y;
  for (var stride = (WG / TC) / 2u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    let a = t.tr * TC + t.tc;
    let b = (t.tr + stride) * TC + t.tc;
    if (t.tr < stride) {
      let c = lse_combine(vec2<f32>(sh_a[a], sh_b[a]), vec2<f32>(sh_a[b], sh_b[b]));
      sh_a[a] = c.x;
      sh_b[a] = c.y;
    }
  }
  workgroupBarrier();
  if (t.tr == 0u && t.col < p.inner) {
    let r = vec2<f32>(sh_a[t.tc], sh_b[t.tc]);
    if ((p.flags & FLAG_FINAL) != 0u) {
      out[t.out_at] = lse_final(r);
    } else {
      out[t.out_at] = r.x;
      out_aux[t.out_at] = r.y;
    }
  }
}

// ---------------------------------------------------------------- backward (elementwise over x)

struct BwdParams {
  n: u32,         // elements of x
  inner: u32,
  axis_last: u32, // 1: output index = row, 0: output index = column
  neg_inf: f32,
}

@group(0) @binding(7) var<storage, read> gy: array<f32>;    // gradient of the output
@group(0) @binding(8) var<storage, read> y: array<f32>;     // logsumexp output
@group(0) @binding(9) var<storage, read> arg: array<u32>;   // argmax (index along the reduced axis)
@group(0) @binding(10) var<storage, read_write> gx: array<f32>;
@group(0) @binding(11) var<uniform> bp: BwdParams;

// (flat index, output index, position along the reduced axis)
fn bwd_coords(gid: vec3<u32>, nwg: vec3<u32>) -> vec3<u32> {
  let f = gid.x + gid.y * nwg.x * WG;
  let row = f / bp.inner;
  let col = f % bp.inner;
  if (bp.axis_last != 0u) { return vec3<u32>(f, row, col); }
  return vec3<u32>(f, col, row);
}

// d sum / dx: broadcast.
@compute @workgroup_size(WG)
fn sum_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = bwd_coords(gid, nwg);
  if (c.x < bp.n) { gx[c.x] = gy[c.y]; }
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
