// Backward pass of the multi-workgroup step filter (src/inference/smc-step-grad.ts): the same
// mathematics as `backward` in smc_sequence.wgsl (the specification), split into per-step kernels over
// particle blocks so that K is not limited by one workgroup. The forward (shaders/smc_step.wgsl) stores
// z (pre-resampling), μ, normalised weights, resampling decisions and the sorted ancestors; the N-wide
// currents are recomputed here. Per step t, in reverse, for all trials at once:
//   particles  (TP blocks of BS particles per workgroup, PB per invocation, as `propagate`): the weight adjoint of step t
//              (w_tk·gll_b where step t resampled or is the last, else the next step's, carried per
//              particle) and the adjoint of the resampled particle ẑ_tk through μ_{t+1} = a ẑ + nᵀφ(m ẑ + Wu v_t)
//   units      (one invocation per unit and block): unit-owned gradients of m, n, h, Wu over the block;
//              #if LANE_GRADS (software adapters) `particles` adds them instead, per lane, while it
//              recomputes the currents: every lane owns a row slice, and each unit's parameter loads and
//              gradient updates then serve its PB particles (the per-particle gathers of `units` dominate there)
//   channels   (one invocation per channel and block, bootstrap and encoder proposals): observation parameter gradients
//              (#if BLOCKED_OBS, with LANE_GRADS and the affine readout, `gather` adds them per lane instead)
//   gather     (as `particles`): the adjoint of z_tj is the sum over its children (a contiguous range of
//              the sorted ancestors, found by binary search: no atomics), then the proposal and
//              observation terms give the adjoint of μ_tj and the small parameters' gradients
// Every parameter gradient is accumulated over steps in slices owned by one workgroup of TP blocks (G = ⌈B·nb/TP⌉
// of them; without LANE_GRADS TP = 1) or, LANE_GRADS, one lane of it (unit and channel rows; the `channels` kernel
// gives block s of the workgroup lane s), or one invocation (the small parameters θ_a, μ0 and the R×R matrices): gpart
// = rows [G, P, RS] | small [G·WG, NSMALL] (RS = WG with LANE_GRADS, else 1); `reduce_rows` / `reduce_small` sum the
// slices into the packed gradient, `reduce_q` the per-block shares of the per-step data gradients (optimal
// proposal: q_t, s_t; encoder proposal: the encoder's mean and log-variance).
#include "smc_common"

#const R
#const WG
#const BS
#const PB
// TP blocks per workgroup (as smc_step.wgsl; the unit and channel kernels' per-block slices need TP = 1 without RS lanes)
#const TP
const PBB: u32 = PB / TP;
#const NSMALL
#const RS

struct Params {
  B: u32, T: u32, K: u32, N: u32, D: u32, DU: u32,
  t: u32, nb: u32, iter: u32, seed_lo: u32, seed_hi: u32, P: u32,
  off_m: u32, off_n: u32, off_h: u32, off_a: u32, off_wu: u32, off_mu0: u32,
  off_L: u32, off_L0: u32, off_Sq: u32, off_Lq: u32, off_Sq0: u32, off_Lq0: u32, off_G: u32,
  off_B: u32, off_b: u32, off_lv: u32, off_Bv: u32, off_Bo: u32,
  off_y: u32, off_v: u32, off_qs: u32, trial0: u32, t_in: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> data: array<f32>;
// paths: z [B,T,K,R] | μ [B,T,K,R] | normalised weights [B,T,K] | resampled after t [B,T]
@group(0) @binding(3) var<storage, read> paths: array<f32>;
@group(0) @binding(4) var<storage, read> anc: array<u32>;
@group(0) @binding(5) var<storage, read> gll: array<f32>;
// work: adjoint of μ_{t+1} [B,K,R] | adjoint of ẑ_t [B,K,R] | weight adjoint (× gll) [B,K]
@group(0) @binding(6) var<storage, read_write> work: array<f32>;
// parameter rows per block w = b·nb + g, lanes interleaved [B·nb, P, RS] | small accumulators per invocation [B·nb·WG, NSMALL]
@group(0) @binding(7) var<storage, read_write> gpart: array<f32>;
// per (b, t, block): shares of the per-step data gradients [B,T,nb,QW] (optimal: q_t, s_t, QW = R+1; encoder: mean,
// log-variance, QW = 2R)
@group(0) @binding(8) var<storage, read_write> gqpart: array<f32>;
@group(0) @binding(9) var<storage, read_write> gtheta: array<f32>;
@group(0) @binding(10) var<storage, read> smallmap: array<u32>;
@group(0) @binding(11) var<storage, read_write> gqs: array<f32>;
#if INPUT_GRAD
// Gradient with respect to the inputs v (when they carry one, e.g. low-pass filtered with the trained
// decay), DUC = DU: each invocation's share of step t's [DU] (transition by `particles`, readout by
// `gather`) in its slot of gvpart [B·nb·WG, DU], summed by `reduce_v` into gv [B,T,DU] every step.
#const DUC
@group(0) @binding(12) var<storage, read_write> gvpart: array<f32>;
@group(0) @binding(13) var<storage, read_write> gv: array<f32>;
fn gvslot(w: u32, tid: u32) -> u32 { return (w * WG + tid) * DUC; } // per block w
#endif

// Small accumulators, in the layout of smc_sequence.wgsl (and theta-layout.ts smallMap).
const S_A: u32 = 0u;
const S_MU0: u32 = 1u;
const S_M1: u32 = 1u + R;              // bootstrap L  | optimal Σq
const S_M2: u32 = 1u + R + R * R;      // bootstrap L0 | optimal Σq0
const S_M3: u32 = 1u + R + 2u * R * R; // optimal Lq
const S_M4: u32 = 1u + R + 3u * R * R; // optimal Lq0
const S_M5: u32 = 1u + R + 4u * R * R; // optimal G

fn gmu_base(b: u32, k: u32) -> u32 { return (b * p.K + k) * R; }
fn gzh_base(b: u32, k: u32) -> u32 { return p.B * p.K * R + (b * p.K + k) * R; }
fn wadj_idx(b: u32, k: u32) -> u32 { return 2u * p.B * p.K * R + b * p.K + k; }
// Workgroups of `particles` and `gather` (TP blocks each): every gradient slice below belongs to one of them.
fn groups() -> u32 { return (p.B * p.nb + TP - 1u) / TP; }
// Row slice of workgroup w (lane `lane` with LANE_GRADS; its entry e at s + e·RS) and small slot of its invocation tid.
// The lanes' slices are interleaved so that their read-modify-writes of one parameter share a cache line instead of
// touching RS lines a row (P floats) apart: hc2 and maze train faster on lavapipe (bench/RESULTS.md).
fn slice(w: u32, lane: u32) -> u32 { return w * p.P * RS + lane; }
fn small_slot(w: u32, tid: u32) -> u32 { return groups() * RS * p.P + (w * WG + tid) * NSMALL; }

// Workgroup wg = wid.x + wid.y·nwg.x of the grid: its first block w0 = wg·TP (a padding group's blocks are all invalid),
// and the trials of its TP blocks (their inputs and observations).
struct Group { wg: u32, w0: u32, valid: bool, bts: array<u32, TP> }
fn group_of(wid: vec3<u32>, nwg: vec3<u32>, tid: u32) -> Group {
  var grp = Group();
  grp.wg = wid.x + wid.y * nwg.x;
  grp.w0 = grp.wg * TP;
  grp.valid = grp.w0 < p.B * p.nb;
  for (var s = 0u; s < TP; s++) { grp.bts[s] = slot_of(grp.w0, p.B * p.nb, s * PBB, tid).b; }
  return grp;
}

@compute @workgroup_size(WG)
fn particles(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tid = lid.x;
  let grp = group_of(wid, nwg, tid);
  let K = p.K;
  let t = p.t;
  let last = t + 1u == p.T;
  var zh = array<f32, PB * R>();
  var gl = array<f32, PB * R>();
  var gz = array<f32, PB * R>();
  var gaz = 0.0; // Σ g·ẑ over this invocation's particles (gradient of the decay a)
  let a = exp(-exp(theta[p.off_a]));
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(grp.w0, p.B * p.nb, q, tid);
    let b = sl.b;
    let k = sl.k;
    if (sl.valid && k < K) {
      if (weights_restart(b, t)) { work[wadj_idx(b, k)] = paths[widx(b, t, k)] * gll[b]; }
      if (!last) {
        let ak = anc[ancidx(b, t, k)];
        for (var r = 0u; r < R; r++) {
          zh[q * R + r] = paths[zidx(b, t, ak) + r];
          gl[q * R + r] = work[gmu_base(b, k) + r];
          gz[q * R + r] = a * gl[q * R + r];
          gaz += gl[q * R + r] * zh[q * R + r];
        }
      }
    }
  }
  if (last) {
    for (var q = 0u; q < PB; q++) {
      let sl = slot_of(grp.w0, p.B * p.nb, q, tid);
      if (sl.valid && sl.k < K) { for (var r = 0u; r < R; r++) { work[gzh_base(sl.b, sl.k) + r] = 0.0; } }
    }
#if INPUT_GRAD
    for (var s = 0u; s < TP; s++) {
      let sl = slot_of(grp.w0, p.B * p.nb, s * PBB, tid);
      if (sl.valid) { for (var j = 0u; j < DUC; j++) { gvpart[gvslot(sl.w, tid) + j] = 0.0; } }
    }
#endif
    return;
  }
#if INPUT_GRAD
  var gvacc = array<f32, TP * DUC>(); // per block
#endif
  // adjoint of ẑ_t through the transition into step t+1 (input v_t): gz += Σ_i m_i (n_i·g) φ'(x_i)
  for (var i = 0u; i < p.N; i++) {
    // the rank loops unrolled (as in `propagate`): at R = 36 a loop-indexed private array is per-lane scratch memory
    var mrow = array<f32, R>();
    var nrow = array<f32, R>();
#unroll U R
    mrow[U] = theta[p.off_m + i * R + U];
    nrow[U] = theta[p.off_n + i * R + U];
#endunroll
    let h = theta[p.off_h + i];
    var cur = array<f32, TP>();
    for (var j = 0u; j < p.DU; j++) {
      let wu = theta[p.off_wu + i * p.DU + j];
#unroll S TP
      cur[S] += wu * input_v(grp.bts[S], t, j);
#endunroll
    }
#if LANE_GRADS
    var gm = array<f32, R>();
    var gn = array<f32, R>();
    var gh = 0.0;
    var gx = array<f32, TP>(); // per block: the inputs differ by trial
#endif
#if INPUT_GRAD
    var gxi = array<f32, TP>(); // Σ over this invocation's particles of each block of the current adjoint of unit i
#endif
#unroll Q PB
    {
      var x = cur[Q / PBB];
      var rr = 0.0;
#unroll U R
      x += mrow[U] * zh[Q * R + U];
      rr += nrow[U] * gl[Q * R + U];
#endunroll
      let c = rr * dphi_dx(x, h);
#unroll U R
      gz[Q * R + U] += mrow[U] * c;
#endunroll
#if INPUT_GRAD
      gxi[Q / PBB] += c;
#endif
#if LANE_GRADS
      // particles past K have ẑ = g = 0: they add nothing
      let f = phi(x, h);
      gh += rr * dphi_dh(x, h);
      gx[Q / PBB] += c;
#unroll U R
      gn[U] += f * gl[Q * R + U];
      gm[U] += c * zh[Q * R + U];
#endunroll
#endif
    }
#endunroll
#if INPUT_GRAD
    for (var j = 0u; j < DUC; j++) {
      let wu = theta[p.off_wu + i * p.DU + j];
#unroll S TP
      gvacc[S * DUC + j] += wu * gxi[S];
#endunroll
    }
#endif
#if LANE_GRADS
    if (grp.valid) {
      let s = slice(grp.wg, tid);
#unroll U R
      gpart[s + (p.off_m + i * R + U) * RS] += gm[U];
      gpart[s + (p.off_n + i * R + U) * RS] += gn[U];
#endunroll
      gpart[s + (p.off_h + i) * RS] += gh;
      for (var j = 0u; j < p.DU; j++) {
        var gw = 0.0;
#unroll S TP
        gw += gx[S] * input_v(grp.bts[S], t, j);
#endunroll
        gpart[s + (p.off_wu + i * p.DU + j) * RS] += gw;
      }
    }
#endif
  }
  if (!grp.valid) { return; }
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(grp.w0, p.B * p.nb, q, tid);
    if (sl.valid && sl.k < K) { for (var r = 0u; r < R; r++) { work[gzh_base(sl.b, sl.k) + r] = gz[q * R + r]; } }
  }
  gpart[small_slot(grp.wg, tid) + S_A] += gaz * (-a * exp(theta[p.off_a]));
#if INPUT_GRAD
  for (var s = 0u; s < TP; s++) {
    let sl = slot_of(grp.w0, p.B * p.nb, s * PBB, tid);
    if (sl.valid) { for (var j = 0u; j < DUC; j++) { gvpart[gvslot(sl.w, tid) + j] = gvacc[s * DUC + j]; } }
  }
#endif
}

// Unit i's gradients of m_i, n_i, h_i and Wu_i from the transition t → t+1, over block w's particles.
@compute @workgroup_size(64)
fn units(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 64u;
  let nu = ((p.N + 63u) / 64u) * 64u;
  let w = e / nu;
  let i = e % nu;
  if (w >= p.B * p.nb || i >= p.N) { return; }
  let b = w / p.nb;
  let g = w % p.nb;
  let t = p.t;
  var mrow = array<f32, R>();
  var nrow = array<f32, R>();
  for (var r = 0u; r < R; r++) { mrow[r] = theta[p.off_m + i * R + r]; nrow[r] = theta[p.off_n + i * R + r]; }
  let h = theta[p.off_h + i];
  var cur = 0.0;
  for (var j = 0u; j < p.DU; j++) { cur += theta[p.off_wu + i * p.DU + j] * input_v(b, t, j); }
  var gm = array<f32, R>();
  var gn = array<f32, R>();
  var gh = 0.0;
  var gx = 0.0;
  let end = min(p.K, (g + 1u) * BS);
  for (var k = g * BS; k < end; k++) {
    let ak = anc[ancidx(b, t, k)];
    var zh = array<f32, R>();
    var gl = array<f32, R>();
    var x = cur;
    var rr = 0.0;
    for (var r = 0u; r < R; r++) {
      zh[r] = paths[zidx(b, t, ak) + r];
      gl[r] = work[gmu_base(b, k) + r];
      x += mrow[r] * zh[r];
      rr += nrow[r] * gl[r];
    }
    let f = phi(x, h);
    let cx = rr * dphi_dx(x, h);
    gh += rr * dphi_dh(x, h);
    gx += cx;
    for (var r = 0u; r < R; r++) {
      gn[r] += f * gl[r];
      gm[r] += cx * zh[r];
    }
  }
  let s = slice(w, 0u);
  for (var r = 0u; r < R; r++) {
    gpart[s + (p.off_m + i * R + r) * RS] += gm[r];
    gpart[s + (p.off_n + i * R + r) * RS] += gn[r];
  }
  gpart[s + (p.off_h + i) * RS] += gh;
  for (var j = 0u; j < p.DU; j++) { gpart[s + (p.off_wu + i * p.DU + j) * RS] += gx * input_v(b, t, j); }
}

#if !OPTIMAL
// Channel d's gradients of the bias, of Bv (readout from [v; z]) and of the log-variance (Gaussian) at
// step t of trial b, added to the row slice at s.
fn add_channel_grads(s: u32, b: u32, t: u32, d: u32, gbias: f32, glv: f32) {
  gpart[s + (p.off_b + d) * RS] += gbias;
#if READOUT_V
  for (var j = 0u; j < p.DU; j++) { gpart[s + (p.off_Bv + d * p.DU + j) * RS] += gbias * input_v(b, t, j); }
#endif
#if !POISSON
  gpart[s + (p.off_lv + d) * RS] += glv;
#endif
}

// Channel d's observation parameter gradients at step t over block w's particles (bootstrap). With
// RATES channel d is unit d: its m, h, gain and Wu rows get the readout's share here.
@compute @workgroup_size(64)
fn channels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 64u;
  let nd = ((p.D + 63u) / 64u) * 64u;
  let wb = e / nd;
  let d = e % nd;
  if (wb >= p.B * p.nb || d >= p.D) { return; }
  let b = wb / p.nb;
  let g = wb % p.nb;
  let t = p.t;
  var gB = array<f32, R>(); // RATES: the gradient of m_d
  var gbias = 0.0;
  var glv = 0.0;
#if RATES
  var ggain = 0.0;
  var gh = 0.0;
  var gx = 0.0;
  let hd = theta[p.off_h + d];
  let gain = theta[p.off_Bo + d];
#endif
  let y = data[p.off_y + (b * p.T + t) * p.D + d];
  let off = obs_offset(b, t, d);
  let end = min(p.K, (g + 1u) * BS);
  for (var k = g * BS; k < end; k++) {
    let w = work[wadj_idx(b, k)];
    var eta = off;
    var z = array<f32, R>();
    for (var r = 0u; r < R; r++) {
      z[r] = paths[zidx(b, t, k) + r];
#if !RATES
      eta += theta[p.off_B + d * R + r] * z[r];
#endif
    }
#if RATES
    let x = unit_current(b, t, d, z);
    let f = phi(x, hd);
    eta += gain * f;
#endif
    let lam = psi(eta);
#if POISSON
    let geta = (y / lam - 1.0) * dpsi(eta);
#else
    let prec = exp(-theta[p.off_lv + d]);
    let res = y - lam;
    let geta = res * prec * dpsi(eta);
    glv += w * (0.5 * res * res * prec - 0.5);
#endif
    gbias += w * geta;
#if RATES
    ggain += w * geta * f;
    gh += w * geta * gain * dphi_dh(x, hd);
    let cx = w * geta * gain * dphi_dx(x, hd);
    gx += cx;
    for (var r = 0u; r < R; r++) { gB[r] += cx * z[r]; }
#else
    for (var r = 0u; r < R; r++) { gB[r] += w * geta * z[r]; }
#endif
  }
  let s = slice(wb / TP, wb % TP); // block wb's lane of its workgroup's slice
#if RATES
  for (var r = 0u; r < R; r++) { gpart[s + (p.off_m + d * R + r) * RS] += gB[r]; }
  gpart[s + (p.off_h + d) * RS] += gh;
  gpart[s + (p.off_Bo + d) * RS] += ggain;
  for (var j = 0u; j < p.DU; j++) { gpart[s + (p.off_wu + d * p.DU + j) * RS] += gx * input_v(b, t, j); }
#else
  for (var r = 0u; r < R; r++) { gpart[s + (p.off_B + d * R + r) * RS] += gB[r]; }
#endif
  add_channel_grads(s, b, t, d, gbias, glv);
}
#endif

#if QDATA
#const QW
var<workgroup> sgq: array<f32, WG * TP * QW>;
#endif

// Children of particle j at the step of ancestor row `arow`: the range [x, y) of k with ancestor j in the
// sorted row (binary searches: no atomics).
fn children(arow: u32, j: u32) -> vec2<u32> {
  var lo = 0u;
  var hi = p.K;
  while (lo < hi) { let mid = (lo + hi) / 2u; if (anc[arow + mid] < j) { lo = mid + 1u; } else { hi = mid; } }
  var end = lo;
  var hi2 = p.K;
  while (end < hi2) { let mid = (end + hi2) / 2u; if (anc[arow + mid] <= j) { end = mid + 1u; } else { hi2 = mid; } }
  return vec2<u32>(lo, end);
}

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tid = lid.x;
  let grp = group_of(wid, nwg, tid);
  let K = p.K;
  let t = p.t;
#if SMALL_ACC
  var acc = array<f32, NSMALL>();
#endif
  // per block: the per-step data gradients and the inputs' are the trial's
  var gqv = array<f32, TP * R>();
  var gsv = array<f32, TP>();
  var gev = array<f32, TP * R>();
#if INPUT_GRAD
  var gvacc = array<f32, TP * DUC>();
#endif
#if BLOCKED_OBS
  // Bootstrap or encoder proposal, affine readout, gradients per lane: the adjoints of this invocation's PB
  // particles first, then one pass over the channels (each channel's parameter loads and gradient slice serve
  // all PB particles; this replaces the `channels` kernel), then the proposal's terms per particle.
  var gzb = array<f32, PB * R>();
  var zb = array<f32, PB * R>();
  var wb = array<f32, PB>(); // particles past K keep w = z = 0: they add nothing
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(grp.w0, p.B * p.nb, q, tid);
    let b = sl.b;
    let j = sl.k;
    if (sl.valid && j < K) {
      let cr = children(ancidx(b, t, 0u), j);
      for (var k = cr.x; k < cr.y; k++) { for (var r = 0u; r < R; r++) { gzb[q * R + r] += work[gzh_base(b, k) + r]; } }
      wb[q] = work[wadj_idx(b, j)];
      for (var r = 0u; r < R; r++) { zb[q * R + r] = paths[zidx(b, t, j) + r]; }
    }
  }
  let s = slice(grp.wg, tid);
  for (var d = 0u; d < p.D; d++) {
    var off = array<f32, TP>();
    var y = array<f32, TP>();
#unroll S TP
    off[S] = obs_offset(grp.bts[S], t, d);
    y[S] = data[p.off_y + (grp.bts[S] * p.T + t) * p.D + d];
#endunroll
    // rank loops unrolled, as in `particles`
    var brow = array<f32, R>();
#unroll U R
    brow[U] = theta[p.off_B + d * R + U];
#endunroll
#if !POISSON
    let prec = exp(-theta[p.off_lv + d]);
#endif
    var glv = array<f32, TP>();
    var gB = array<f32, R>();
    var gbias = array<f32, TP>();
#unroll Q PB
    {
      var eta = off[Q / PBB];
#unroll U R
      eta += brow[U] * zb[Q * R + U];
#endunroll
      let lam = psi(eta);
#if POISSON
      let geta = (y[Q / PBB] / lam - 1.0) * dpsi(eta);
#else
      let res = y[Q / PBB] - lam;
      let geta = res * prec * dpsi(eta);
      glv[Q / PBB] += wb[Q] * (0.5 * res * res * prec - 0.5);
#endif
      let wg = wb[Q] * geta;
      gbias[Q / PBB] += wg;
#unroll U R
      gzb[Q * R + U] += wg * brow[U];
      gB[U] += wg * zb[Q * R + U];
#endunroll
    }
#endunroll
    if (grp.valid) {
#unroll U R
      gpart[s + (p.off_B + d * R + U) * RS] += gB[U];
#endunroll
      // (padding blocks add zeros)
#unroll S TP
      add_channel_grads(s, grp.bts[S], t, d, gbias[S], glv[S]);
#endunroll
    }
#if INPUT_GRAD
#if READOUT_V
    for (var u = 0u; u < DUC; u++) {
      let bv = theta[p.off_Bv + d * p.DU + u];
#unroll S TP
      gvacc[S * DUC + u] += gbias[S] * bv;
#endunroll
    }
#endif
#endif
  }
  // Per particle: its ξ, and the gradient of its mean into `work`. The encoder proposal's noise terms reach only the
  // diagonal of L (L0) and μ0: per particle, into `acc`. The bootstrap's (the gradient of L, L0 at t = 0, is this lane's
  // Σ over its particles of g ξᵀ, lower triangle; that of μ0 Σ g) after the loop, row by row, each entry a sum over the
  // particles with constant indices into ξ: accumulating them particle by particle into the loop-indexed `acc` made each
  // of the R(R+1)/2 updates per particle a per-lane gather and scatter.
#if !ENCODER
  var xis = array<f32, PB * R>(); // particles past K keep ξ = g = 0: they add nothing
#endif
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(grp.w0, p.B * p.nb, q, tid);
    let b = sl.b;
    let j = sl.k;
    if (sl.valid && j < K) {
      let xi = noise(b, t, j);
#if ENCODER
      let so = select(S_M1, S_M2, t == 0u);
      let qo = (q / PBB) * R; // the block's per-step encoder gradients
      let offL = select(p.off_L, p.off_L0, t == 0u);
      for (var r = 0u; r < R; r++) {
        let ea = encoder_dim_adjoint(theta[offL + r * R + r], paths[muidx(b, t, j) + r], data[enc_mean_idx(b, t, r)], data[enc_logvar_idx(b, t, r)],
                                     zb[q * R + r], xi[r], gzb[q * R + r], wb[q], prior_step(t));
        gqv[qo + r] += ea.gm;
        gev[qo + r] += ea.glv;
        acc[so + r * R + r] += ea.gl;
        if (t == 0u) { acc[S_MU0 + r] += ea.gmu; }
        work[gmu_base(b, j) + r] = ea.gmu;
      }
#else
      for (var r = 0u; r < R; r++) {
        xis[q * R + r] = xi[r];
        work[gmu_base(b, j) + r] = gzb[q * R + r];
      }
#endif
    }
  }
#if !ENCODER
  if (grp.valid) {
    let ss = small_slot(grp.wg, tid);
    let so = select(S_M1, S_M2, t == 0u);
    for (var r = 0u; r < R; r++) {
      var g = array<f32, PB>();
      var gsum = 0.0;
#unroll Q PB
      g[Q] = gzb[Q * R + r];
      gsum += g[Q];
#endunroll
      if (t == 0u) { gpart[ss + S_MU0 + r] += gsum; }
#unroll C R
      if (C <= r) {
        var s = 0.0;
#unroll Q PB
        s += g[Q] * xis[Q * R + C];
#endunroll
        gpart[ss + so + r * R + C] += s;
      }
#endunroll
    }
  }
#endif
#else
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(grp.w0, p.B * p.nb, q, tid);
    let b = sl.b;
    let j = sl.k;
    let qo = (q / PBB) * R; // the block's per-step data gradients
    if (sl.valid && j < K) {
      // children of particle j: the k-range with ancestor j in the sorted ancestor row
      let cr = children(ancidx(b, t, 0u), j);
      var gz = array<f32, R>();
      for (var k = cr.x; k < cr.y; k++) { for (var r = 0u; r < R; r++) { gz[r] += work[gzh_base(b, k) + r]; } }
      let w = work[wadj_idx(b, j)];
      var z = array<f32, R>();
      var mu = array<f32, R>();
      for (var r = 0u; r < R; r++) {
        z[r] = paths[zidx(b, t, j) + r];
        mu[r] = paths[muidx(b, t, j) + r];
      }
      let xi = noise(b, t, j);
      var gmu = array<f32, R>();
#if OPTIMAL
      let sq = select(S_M1, S_M2, t == 0u);
      let sl = select(S_M3, S_M4, t == 0u);
      let offSq = select(p.off_Sq, p.off_Sq0, t == 0u);
      let qbase = p.off_qs + (b * p.T + t) * R;
      let gm_ = sym_matvec(p.off_G, mu);
      var rr = array<f32, R>();
      for (var r = 0u; r < R; r++) { rr[r] = data[qbase + r] - gm_[r]; }
      let pr = sym_matvec(offSq, rr);
      // sgz = Σqᵀ gz
      var sgz = array<f32, R>();
      for (var c = 0u; c < R; c++) {
        var s = 0.0;
        for (var r = 0u; r < R; r++) { s += theta[offSq + r * R + c] * gz[r]; }
        sgz[c] = s;
      }
      // ∂ℓ/∂μ = r − G Σq r
      let gpr = sym_matvec(p.off_G, pr);
      for (var c = 0u; c < R; c++) {
        var s = 0.0;
        for (var r = 0u; r < R; r++) { s += theta[p.off_G + r * R + c] * sgz[r]; }
        gmu[c] = gz[c] - s + w * (rr[c] - gpr[c]);
      }
      for (var r = 0u; r < R; r++) {
        for (var c = 0u; c < R; c++) {
          acc[sq + r * R + c] += gz[r] * rr[c] + 0.5 * w * rr[r] * rr[c];
          acc[S_M5 + r * R + c] += -sgz[r] * mu[c] - w * (0.5 * mu[r] * mu[c] + pr[r] * mu[c]);
          if (c <= r) { acc[sl + r * R + c] += gz[r] * xi[c]; }
        }
        gqv[qo + r] += sgz[r] + w * (mu[r] + pr[r]);
      }
      gsv[q / PBB] += -0.5 * w;
#else
      // observation log-likelihood gradient with respect to z
      for (var d = 0u; d < p.D; d++) {
#if RATES
        let x = unit_current(b, t, d, z);
        let hd = theta[p.off_h + d];
        let eta = obs_offset(b, t, d) + theta[p.off_Bo + d] * phi(x, hd);
#else
        var eta = obs_offset(b, t, d);
        for (var r = 0u; r < R; r++) { eta += theta[p.off_B + d * R + r] * z[r]; }
#endif
        let lam = psi(eta);
        let y = data[p.off_y + (b * p.T + t) * p.D + d];
#if POISSON
        let geta = (y / lam - 1.0) * dpsi(eta);
#else
        let geta = (y - lam) * exp(-theta[p.off_lv + d]) * dpsi(eta);
#endif
#if RATES
        let cz = w * geta * theta[p.off_Bo + d] * dphi_dx(x, hd);
        for (var r = 0u; r < R; r++) { gz[r] += cz * theta[p.off_m + d * R + r]; }
#if INPUT_GRAD
        for (var u = 0u; u < DUC; u++) { gvacc[(q / PBB) * DUC + u] += cz * theta[p.off_wu + d * p.DU + u]; }
#endif
#else
        for (var r = 0u; r < R; r++) { gz[r] += w * geta * theta[p.off_B + d * R + r]; }
#endif
#if INPUT_GRAD
#if READOUT_V
        for (var u = 0u; u < DUC; u++) { gvacc[(q / PBB) * DUC + u] += w * geta * theta[p.off_Bv + d * p.DU + u]; }
#endif
#endif
      }
      let sl = select(S_M1, S_M2, t == 0u);
#if ENCODER
      let offL = select(p.off_L, p.off_L0, t == 0u);
      for (var r = 0u; r < R; r++) {
        let ea = encoder_dim_adjoint(theta[offL + r * R + r], mu[r], data[enc_mean_idx(b, t, r)], data[enc_logvar_idx(b, t, r)], z[r], xi[r], gz[r], w,
                                     prior_step(t));
        gmu[r] = ea.gmu;
        gqv[qo + r] += ea.gm;
        gev[qo + r] += ea.glv;
        acc[sl + r * R + r] += ea.gl;
      }
#else
      for (var r = 0u; r < R; r++) {
        gmu[r] = gz[r];
        for (var c = 0u; c <= r; c++) { acc[sl + r * R + c] += gz[r] * xi[c]; }
      }
#endif
#endif
      if (t == 0u) { for (var r = 0u; r < R; r++) { acc[S_MU0 + r] += gmu[r]; } }
      for (var r = 0u; r < R; r++) { work[gmu_base(b, j) + r] = gmu[r]; }
    }
  }
#endif
  if (grp.valid) {
#if SMALL_ACC
    let ss = small_slot(grp.wg, tid);
    for (var e = 1u; e < NSMALL; e++) { gpart[ss + e] += acc[e]; }
#endif
#if INPUT_GRAD
    for (var s = 0u; s < TP; s++) {
      let sl = slot_of(grp.w0, p.B * p.nb, s * PBB, tid);
      if (sl.valid) { for (var u = 0u; u < DUC; u++) { gvpart[gvslot(sl.w, tid) + u] += gvacc[s * DUC + u]; } }
    }
#endif
  }
#if QDATA
  // each block's share of the per-step data gradients: invocations' sums to workgroup memory, summed serially (by
  // invocation s for block s)
  for (var s = 0u; s < TP; s++) {
    let o = (tid * TP + s) * QW;
    for (var r = 0u; r < R; r++) { sgq[o + r] = gqv[s * R + r]; }
#if OPTIMAL
    sgq[o + R] = gsv[s];
#else
    for (var r = 0u; r < R; r++) { sgq[o + R + r] = gev[s * R + r]; }
#endif
  }
  workgroupBarrier();
  let own = slot_of(grp.w0, p.B * p.nb, tid * PBB, 0u);
  if (tid < TP && own.valid) {
    for (var r = 0u; r < QW; r++) {
      var s = 0.0;
      for (var k = 0u; k < WG; k++) { s += sgq[(k * TP + tid) * QW + r]; }
      gqpart[((own.b * p.T + t) * p.nb + own.g) * QW + r] = s;
    }
  }
#endif
}

@compute @workgroup_size(64)
fn reduce_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= p.P) { return; }
  var s = 0.0;
  for (var w = 0u; w < groups(); w++) {
    for (var l = 0u; l < RS; l++) { s += gpart[(w * p.P + e) * RS + l]; }
  }
  gtheta[e] = s;
}

@compute @workgroup_size(64)
fn reduce_small(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= NSMALL) { return; }
  let dst = smallmap[e];
  if (dst == 0xffffffffu) { return; }
  var s = 0.0;
  for (var w = 0u; w < groups(); w++) {
    for (var k = 0u; k < WG; k++) { s += gpart[small_slot(w, k) + e]; }
  }
  gtheta[dst] += s;
}

#if QDATA
// gqs, optimal [q (B,T,R) | s (B,T)], encoder [mean (B,T,R) | log-variance (B,T,R)]: the sum of the blocks' shares of every step.
@compute @workgroup_size(64)
fn reduce_q(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= p.B * p.T * QW) { return; }
  let bt = e / QW;
  let r = e % QW;
  var s = 0.0;
  for (var g = 0u; g < p.nb; g++) { s += gqpart[(bt * p.nb + g) * QW + r]; }
  if (r < R) { gqs[bt * R + r] = s; } else { gqs[p.B * p.T * R + bt * (QW - R) + r - R] = s; }
}
#endif

#if INPUT_GRAD
// gv[b, t, j]: the sum of every invocation's share of step t.
@compute @workgroup_size(64)
fn reduce_v(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= p.B * DUC) { return; }
  let b = e / DUC;
  let j = e % DUC;
  var s = 0.0;
  for (var g = 0u; g < p.nb; g++) {
    for (var k = 0u; k < WG; k++) { s += gvpart[gvslot(b * p.nb + g, k) + j]; }
  }
  gv[(b * p.T + p.t) * DUC + j] = s;
}
#endif
