// Recursive least squares with one shared inverse-correlation matrix P (n × n) for all rows of the
// learned weights Jw (rows × n: recurrent rows, then readout rows), as in full-FORCE:
//   k = P r,  c = 1 / (1 + rᵀ P r),  P ← P − c k kᵀ,  Jw ← Jw − c e kᵀ
// with a-priori errors e = Jw r − target. Three dispatches: gain (k and e, here), coef
// (sparse_rls_coef.wgsl) and update (sparse_rls_update.wgsl).

struct Params {
  n: u32,           // units (size of r and P)
  rows: u32,        // rows of Jw
  teach_rows: u32,  // rows whose target is tcur[i]; rows ≥ teach_rows take sig[.., sig_off + i − teach_rows]
  t: u32,
  sig_batch: u32,
  sig_b0: u32,
  d: u32,           // channels per sig entry
  sig_off: u32,
}

@group(0) @binding(0) var<storage, read> pmat: array<f32>;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> cur: array<f32>;
@group(0) @binding(3) var<storage, read> tcur: array<f32>;
@group(0) @binding(4) var<storage, read> sig: array<f32>;
@group(0) @binding(5) var<storage, read_write> k: array<f32>;
@group(0) @binding(6) var<storage, read_write> e: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

#include "wg_reduce"
override WG: u32 = 64;

// One workgroup per row i < max(n, rows): k_i = P[i, :] · r and e_i = cur_i − target_i.
@compute @workgroup_size(WG)
fn gain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wid.x + wid.y * 65535u;
  if (i >= max(p.n, p.rows)) { return; }
  var s = 0.0;
  if (i < p.n) {
    for (var j = lid.x; j < p.n; j += WG) { s += pmat[i * p.n + j] * r[j]; }
  }
  let ki = wg_sum(s, lid.x);
  if (lid.x != 0u) { return; }
  if (i < p.n) { k[i] = ki; }
  if (i < p.rows) {
    var want = 0.0;
    if (i < p.teach_rows) { want = tcur[i]; }
    else { want = sig[(p.t * p.sig_batch + p.sig_b0) * p.d + p.sig_off + i - p.teach_rows]; }
    e[i] = cur[i] - want;
  }
}
