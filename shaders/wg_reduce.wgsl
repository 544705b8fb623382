// Tree reductions across the invocations of a workgroup, through workgroup memory (`#include "wg_reduce"`).
// The including shader declares WG (a const or an override, a power of two): the size of the scratch
// arrays, normally the workgroup size; lanes are identified by local_invocation_index `lid`. A kernel
// of another size n ≤ WG reduces with *_in(value, lid, 1, n).
//
// `*_in(value, lid, stride, count)` combines the values of the `count` lanes (a power of two) that are
// `stride` apart and share lid − ((lid / stride) % count) · stride, their group's first lane:
//   (1, WG)        the whole workgroup        (1, c)   consecutive runs of c lanes (rows of a 2-D grid)
//   (s, WG / s)    the lanes with equal lid % s (columns of a [WG / s, s] grid)
// Every invocation of the workgroup must call with the same stride and count (the barriers need
// uniform control flow). Every lane gets its group's result, and the call ends with a barrier, so the
// scratch can be used again at once. The order of the pairwise combines is fixed, so results are
// deterministic; `wg_*_tree` reduce values that the caller has already stored in the scratch.
// Local names avoid the short names kernels give their bindings: the reflection matches by name.

// A shader whose entry points have different workgroup sizes defines WG_SCRATCH (the largest) to size
// the scratch, and reduces with the *_in forms.
#if WG_SCRATCH
#const WG_SCRATCH
var<workgroup> wg_f32: array<f32, WG_SCRATCH>;
var<workgroup> wg_u32: array<u32, WG_SCRATCH>;
var<workgroup> wg_vec2: array<vec2<f32>, WG_SCRATCH>;
var<workgroup> wg_vec4: array<vec4<f32>, WG_SCRATCH>;
#else
var<workgroup> wg_f32: array<f32, WG>;
var<workgroup> wg_u32: array<u32, WG>;
var<workgroup> wg_vec2: array<vec2<f32>, WG>;
var<workgroup> wg_vec4: array<vec4<f32>, WG>;
#endif

const WG_NO_INDEX: u32 = 0xffffffffu;

fn wg_member(lid: u32, stride: u32, count: u32) -> u32 { return (lid / stride) % count; }

// ---------------------------------------------------------------- sums

fn wg_sum_tree(lid: u32, stride: u32, count: u32) -> f32 {
  let member = wg_member(lid, stride, count);
  for (var half = count / 2u; half > 0u; half = half >> 1u) {
    workgroupBarrier();
    if (member < half) { wg_f32[lid] += wg_f32[lid + half * stride]; }
  }
  workgroupBarrier();
  let res = wg_f32[lid - member * stride];
  workgroupBarrier();
  return res;
}

fn wg_sum_in(value: f32, lid: u32, stride: u32, count: u32) -> f32 {
  wg_f32[lid] = value;
  return wg_sum_tree(lid, stride, count);
}

fn wg_sum(value: f32, lid: u32) -> f32 { return wg_sum_in(value, lid, 1u, WG); }

// Four sums at once (one barrier sequence for four values).
fn wg_sum4(value: vec4<f32>, lid: u32) -> vec4<f32> {
  wg_vec4[lid] = value;
  for (var half = WG / 2u; half > 0u; half = half >> 1u) {
    workgroupBarrier();
    if (lid < half) { wg_vec4[lid] += wg_vec4[lid + half]; }
  }
  workgroupBarrier();
  let res = wg_vec4[0];
  workgroupBarrier();
  return res;
}

// ---------------------------------------------------------------- maxima

fn wg_max_in(value: f32, lid: u32, stride: u32, count: u32) -> f32 {
  wg_f32[lid] = value;
  let member = wg_member(lid, stride, count);
  for (var half = count / 2u; half > 0u; half = half >> 1u) {
    workgroupBarrier();
    if (member < half) { wg_f32[lid] = max(wg_f32[lid], wg_f32[lid + half * stride]); }
  }
  workgroupBarrier();
  let res = wg_f32[lid - member * stride];
  workgroupBarrier();
  return res;
}

fn wg_max(value: f32, lid: u32) -> f32 {
  wg_f32[lid] = value;
  for (var half = WG / 2u; half > 0u; half = half >> 1u) {
    workgroupBarrier();
    if (lid < half) { wg_f32[lid] = max(wg_f32[lid], wg_f32[lid + half]); }
  }
  workgroupBarrier();
  let res = wg_f32[0];
  workgroupBarrier();
  return res;
}

// (rhs, rhs_i) beats (lhs, lhs_i): larger value, ties to the smaller index; WG_NO_INDEX (no element) never wins.
fn wg_argmax_better(lhs: f32, lhs_i: u32, rhs: f32, rhs_i: u32) -> bool {
  return rhs_i != WG_NO_INDEX && (lhs_i == WG_NO_INDEX || rhs > lhs || (rhs == lhs && rhs_i < lhs_i));
}

// Max with its index over (value, index) pairs stored in wg_f32 / wg_u32; returns (bits of the value, index).
fn wg_argmax_tree(lid: u32, stride: u32, count: u32) -> vec2<u32> {
  let member = wg_member(lid, stride, count);
  for (var half = count / 2u; half > 0u; half = half >> 1u) {
    workgroupBarrier();
    let other = lid + half * stride;
    if (member < half && wg_argmax_better(wg_f32[lid], wg_u32[lid], wg_f32[other], wg_u32[other])) {
      wg_f32[lid] = wg_f32[other];
      wg_u32[lid] = wg_u32[other];
    }
  }
  workgroupBarrier();
  let first = lid - member * stride;
  let res = vec2<u32>(bitcast<u32>(wg_f32[first]), wg_u32[first]);
  workgroupBarrier();
  return res;
}

fn wg_argmax_in(value: f32, index: u32, lid: u32, stride: u32, count: u32) -> vec2<u32> {
  wg_f32[lid] = value;
  wg_u32[lid] = index;
  return wg_argmax_tree(lid, stride, count);
}

// ---------------------------------------------------------------- log-sum-exp

// Merge two log-sum-exp states (m, s) = (max, Σ exp(x − m)). An empty state has s = 0 (and m = −∞ or a
// large negative stand-in); it is skipped, so two empty states never give exp(−∞ + ∞) = NaN.
fn lse_merge(lhs: vec2<f32>, rhs: vec2<f32>) -> vec2<f32> {
  if (rhs.y == 0.0) { return lhs; }
  if (lhs.y == 0.0) { return rhs; }
  let top = max(lhs.x, rhs.x);
  return vec2<f32>(top, lhs.y * exp(lhs.x - top) + rhs.y * exp(rhs.x - top));
}

fn wg_lse_tree(lid: u32, stride: u32, count: u32) -> vec2<f32> {
  let member = wg_member(lid, stride, count);
  for (var half = count / 2u; half > 0u; half = half >> 1u) {
    workgroupBarrier();
    if (member < half) { wg_vec2[lid] = lse_merge(wg_vec2[lid], wg_vec2[lid + half * stride]); }
  }
  workgroupBarrier();
  let res = wg_vec2[lid - member * stride];
  workgroupBarrier();
  return res;
}

fn wg_lse_in(value: vec2<f32>, lid: u32, stride: u32, count: u32) -> vec2<f32> {
  wg_vec2[lid] = value;
  return wg_lse_tree(lid, stride, count);
}
