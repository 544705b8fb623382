// One whole full-FORCE RLS training trial of the learner in a single workgroup (one dispatch per
// trial instead of ~4 per time step). Per step t, with r = r(t) the learner's rates:
//   cur = Jw r                                  (rows: n recurrent, then readout rows)
//   if mask[t]: k = P r, c = 1/(1 + rᵀk), e = cur − target(t), P ← P − c k kᵀ, Jw ← Jw − c e kᵀ
//   x ← x + dt/τ (−x + cur[0..n) + Uin u(t)),  r ← tanh(x)
// (same update as sparse_rls*.wgsl; the step uses the a-priori current, as the per-step path does).
// Jw is stored transposed (n × rows) and P is symmetric, so every loop walks memory contiguously
// across the lanes: lanes over rows i, loops over j (no integer division in the inner loops). r, k and e
// are shared through workgroup memory. Targets come from a precomputed
// teacher-forced embedder record (time × conditions × 2n: [r_D | s]) and the embedder signals.

struct Params {
  n: u32,
  rows: u32,
  nin: u32,
  time: u32,
  conds: u32,     // conditions stored per time step in rec, sig_in and sig_emb
  cond: u32,      // this trial's condition (index into those)
  d_emb: u32,     // channels per sig_emb entry
  out_off: u32,   // first output channel in sig_emb
  trial: u32,     // row of stats to write
  dt_tau: f32,
  mask_off: u32,  // this trial's update flags start here in mask
}

@group(0) @binding(0) var<storage, read_write> jwt: array<f32>;
@group(0) @binding(1) var<storage, read_write> pm: array<f32>;
// [Uin (n × nin) | x_init (n)]
@group(0) @binding(2) var<storage, read> fixed: array<f32>;
@group(0) @binding(3) var<storage, read> sig_in: array<f32>;
@group(0) @binding(4) var<storage, read> rec: array<f32>;
@group(0) @binding(5) var<storage, read> sig_emb: array<f32>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
// per trial: Σ e² (recurrent rows), Σ e² (readout rows), updates
@group(0) @binding(7) var<storage, read_write> stats: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

#include "wg_reduce"
override WG: u32 = 64;
override MAXN: u32 = 1024;
override MAXROWS: u32 = 1024;
// Rows per thread: rows ≤ RPT · WG.
const RPT: u32 = 16u;

var<workgroup> r_s: array<f32, MAXN>;
var<workgroup> k_s: array<f32, MAXN>;
var<workgroup> e_s: array<f32, MAXROWS>;

@compute @workgroup_size(WG)
fn trial(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let n = p.n;
  let rows = p.rows;
  let uin_len = n * p.nin;
  var x = array<f32, RPT>();
  var cur = array<f32, RPT>();
  var err_rec = 0.0;
  var err_out = 0.0;
  var updates = 0.0;
  for (var q = 0u; q < RPT; q++) {
    let i = lid + q * WG;
    if (i < n) {
      x[q] = fixed[uin_len + i];
      r_s[i] = tanh(clamp(x[q], -15.0, 15.0));
    }
  }
  workgroupBarrier();
  for (var t = 0u; t < p.time; t++) {
    let upd = mask[p.mask_off + t] != 0u;
    let slot = t * p.conds + p.cond;
    // A: currents cur_i = Σ_j Jwᵀ[j, i] r_j and gain k_i = Σ_j P[j, i] r_j (P symmetric).
    var rk = 0.0;
    for (var q = 0u; q < RPT; q++) {
      let i = lid + q * WG;
      if (i < rows) {
        var s = 0.0;
        for (var j = 0u; j < n; j++) { s += jwt[j * rows + i] * r_s[j]; }
        cur[q] = s;
        if (upd) {
          var want = 0.0;
          if (i < n) { want = rec[slot * 2u * n + n + i]; } else { want = sig_emb[slot * p.d_emb + p.out_off + i - n]; }
          let e = s - want;
          e_s[i] = e;
          if (i < n) { err_rec += e * e; } else { err_out += e * e; }
        }
      }
      if (upd && i < n) {
        var s = 0.0;
        for (var j = 0u; j < n; j++) { s += pm[j * n + i] * r_s[j]; }
        k_s[i] = s;
        rk += r_s[i] * s;
      }
    }
    storageBarrier();
    let c = 1.0 / (1.0 + wg_sum(rk, lid));
    // B: rank-1 updates over flat indices (the reduction's barriers published k and e).
    if (upd) {
      updates += 1.0;
      for (var j = 0u; j < n; j++) {
        let ckj = c * k_s[j];
        for (var i = lid; i < n; i += WG) { pm[j * n + i] -= c * (k_s[j] * k_s[i]); }
        for (var i = lid; i < rows; i += WG) { jwt[j * rows + i] -= ckj * e_s[i]; }
      }
    }
    // All reads of r_s (A) and the weight writes (B) are done and visible before the next step.
    storageBarrier();
    workgroupBarrier();
    // C: Euler step of this thread's units.
    for (var q = 0u; q < RPT; q++) {
      let i = lid + q * WG;
      if (i < n) {
        var drive = 0.0;
        for (var a = 0u; a < p.nin; a++) { drive += fixed[i * p.nin + a] * sig_in[slot * p.nin + a]; }
        x[q] += p.dt_tau * (-x[q] + cur[q] + drive);
        r_s[i] = tanh(clamp(x[q], -15.0, 15.0));
      }
    }
    workgroupBarrier();
  }
  let sum_rec = wg_sum(err_rec, lid);
  let sum_out = wg_sum(err_out, lid);
  if (lid == 0u) {
    stats[p.trial * 3u] = sum_rec;
    stats[p.trial * 3u + 1u] = sum_out;
    stats[p.trial * 3u + 2u] = updates;
  }
}
