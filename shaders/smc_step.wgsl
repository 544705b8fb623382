// Multi-workgroup particle filter for large K (src/inference/smc-step.ts): one set of dispatches per
// time step, any number of particles per trial. Same model, proposals, formulas and random-number
// counters as the fused kernel (shaders/smc_sequence.wgsl); forward only.
//
// Per step t (all encoded, no host sync):
//   propagate  workgroups = TP blocks of BS particles (block g of trial b), PB = TP·BS/WG particles per invocation
//              (particle g·BS + (q % PBB)·WG + tid of block q / PBB for q < PB: each parameter load serves PB
//              particles):
//              (t ≥ 1) if step t−1 resamples (its ESS decision, by `combine`), systematic/stratified
//              resampling of step t−1: binary search of the position
//              (k + u)/K in the previous step's cumulative weights (two-level: block totals, then the
//              block's own cumsum), gather of the ancestor's state; else the particle keeps its state
//              and carries log(K·w) into its log weight (as the fused kernel); transition mean,
//              proposal draw and log weight; then, inside the block: max, Σexp, block-normalised
//              weights, their running sum (the scan of step t, without the add-back of the block
//              offsets) and squared sum.
//   combine    one workgroup per trial: logsumexp over the block partials → ll[b] += lse − log K;
//              the ESS decision; each block's share of the normalised weight and the inclusive scan
//              of the shares (block offsets). This is reduce-then-scan: no forward-progress assumption between
//              workgroups; the add-back is folded into the next step's search.
//   weights    (only when paths are stored) normalised weights exp(ℓ − lse) into the paths.
// A final propagate with t = T only resamples (writes the last ancestors).
//
// State buffer of one chunk of trials (two of them, ping-pong between steps):
//   z [B,K,R] (pre-resampling states of step t) | lcum [B,K] (per-block cumsum of the block-normalised
//   weights) | per block (max ℓ, Σexp(ℓ − max), last lcum → share, share-offset) [B,nb,4] |
//   ℓ [B,K] (log weights with the carry) | per block Σ of squared block-normalised weights [B,nb] |
//   per trial (resample decision 1/0, lse) [B,2]
#include "smc_common"
#include "wg_reduce"

#const R
#const WG
#const BS
#const PB
// TP: blocks per workgroup (software adapters, trials of fewer than 256 particles: several trials share the unit
// loop's parameter loads, see stepPlan); PBB: particles of each block per invocation (slots: slot_of in smc_common).
#const TP
const PBB: u32 = PB / TP;

// B: trials of the whole batch (paths, data); Bc: trials of this chunk (state buffers), b0 its first.
struct Params {
  B: u32, Bc: u32, b0: u32, T: u32, K: u32, N: u32, D: u32, DU: u32,
  t: u32, nb: u32, flags: u32, resample: u32,
  iter: u32, seed_lo: u32, seed_hi: u32, ess_frac: f32,
  off_m: u32, off_n: u32, off_h: u32, off_a: u32, off_wu: u32, off_mu0: u32,
  off_L: u32, off_L0: u32, off_Sq: u32, off_Lq: u32, off_Sq0: u32, off_Lq0: u32, off_G: u32,
  off_B: u32, off_b: u32, off_lv: u32, off_Bv: u32, off_Bo: u32,
  off_y: u32, off_v: u32, off_qs: u32, trial0: u32, t_in: u32,
}

// CWG: the combine kernel's workgroup size (256 on GPUs; small on software adapters, where every
// barrier of its tree reductions is a pass over all invocations)
#const CWG
const CITEMS: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> data: array<f32>;
@group(0) @binding(3) var<storage, read> prev: array<f32>;
@group(0) @binding(4) var<storage, read_write> next: array<f32>;
// paths (optional): z [B,T,K,R] | μ [B,T,K,R] | normalised weights [B,T,K] | resampled [B,T]
@group(0) @binding(5) var<storage, read_write> paths: array<f32>;
@group(0) @binding(6) var<storage, read_write> anc: array<u32>;
// acc: per trial Σ_t (lse_t − log K) [B] | lse of the current step [B]
@group(0) @binding(7) var<storage, read_write> acc: array<f32>;

var<workgroup> sw: array<f32, BS * TP>;
var<workgroup> csh: array<f32, CWG>;

// State-buffer offsets for trial b of the chunk.
fn lcum_base(b: u32) -> u32 { return p.Bc * p.K * R + b * p.K; }
fn stat_base(b: u32) -> u32 { return p.Bc * p.K * (R + 1u) + b * p.nb * 4u; }
fn lw_base(b: u32) -> u32 { return p.Bc * (p.K * (R + 1u) + p.nb * 4u) + b * p.K; }
fn sumsq_base(b: u32) -> u32 { return p.Bc * (p.K * (R + 2u) + p.nb * 4u) + b * p.nb; }
fn trial_base(b: u32) -> u32 { return p.Bc * (p.K * (R + 2u) + p.nb * 5u) + b * 2u; }


// First index i in [lo, hi] of prev[base + i] >= goal (hi if none).
fn search_prev(base: u32, lo0: u32, hi0: u32, goal: f32) -> u32 {
  var lo = lo0;
  var hi = hi0;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (prev[base + mid] < goal) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

// Ancestor of output particle k when resampling step s (state of step s in `prev`).
fn ancestor(b: u32, bg: u32, s: u32, k: u32) -> u32 {
  let key = vec2<u32>(p.seed_lo, p.seed_hi);
  let K = p.K;
  var u = 0.0;
  if (p.resample == RESAMPLE_STRATIFIED) {
    u = rng_uniform4(key, vec4<u32>(s, rng_trial(bg) * (K + 1u) + k, PURPOSE_RESAMPLE, p.iter)).x;
  } else {
    u = rng_uniform4(key, vec4<u32>(s, rng_trial(bg), PURPOSE_RESAMPLE, p.iter)).x;
  }
  let pos = (f32(k) + u) / f32(K);
  let lc = lcum_base(b);
  if (p.nb == 1u) {
    // One block: its cumsum is the trial's (as in the fused kernel).
    return search_prev(lc, 0u, K - 1u, pos * prev[lc + K - 1u]);
  }
  // Block offsets: entry 3 of each block's stats is the inclusive scan of the blocks' shares.
  let sb = stat_base(b);
  let goal = pos * prev[sb + (p.nb - 1u) * 4u + 3u];
  var lo = 0u;
  var hi = p.nb - 1u;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (prev[sb + mid * 4u + 3u] < goal) { lo = mid + 1u; } else { hi = mid; }
  }
  let g = lo;
  var excl = 0.0;
  if (g > 0u) { excl = prev[sb + (g - 1u) * 4u + 3u]; }
  let share = prev[sb + g * 4u + 2u];
  let first = g * BS;
  let last = min(K, first + BS) - 1u;
  // A block with no weight is only reached through rounding at the very end: take its last particle.
  var lgoal = 3.0e38;
  if (share > 0.0) { lgoal = (goal - excl) / share; }
  return search_prev(lc, first, last, lgoal);
}

@compute @workgroup_size(WG)
fn propagate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // No early return before the unit loop: it runs in uniform control flow for every group and step
  // (grid padding groups compute on trial 0, the final pass on step T−1's input; both write nothing).
  let w0 = (wid.x + wid.y * nwg.x) * TP;
  let valid = w0 < p.Bc * p.nb; // the workgroup's first block: every block of a padding group is invalid
  let tid = lid.x;
  let K = p.K;
  let t = p.t;
  // the trials of the workgroup's blocks (their inputs and observations)
  var bgs = array<u32, TP>();
  for (var s = 0u; s < TP; s++) { bgs[s] = p.b0 + slot_of(w0, p.Bc * p.nb, s * PBB, tid).b; }
  // resampling of step t−1 (or the carried weight), per particle of this invocation
  var zin = array<f32, PB * R>();
  var carry = array<f32, PB>();
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(w0, p.Bc * p.nb, q, tid);
    let b = sl.b;
    let bg = p.b0 + b;
    let k = sl.k;
    if (t > 0u && k < K && sl.valid) {
      var a = k;
      if (prev[trial_base(b)] != 0.0) {
        a = ancestor(b, bg, t - 1u, k);
      } else if (!prior_step(t - 1u)) {
        carry[q] = prev[lw_base(b) + k] - prev[trial_base(b) + 1u] + log(f32(K));
      }
      if ((p.flags & STEP_FLAG_ANC) != 0u) { anc[ancidx(bg, t - 1u, k)] = a; }
      for (var r = 0u; r < R; r++) { zin[q * R + r] = prev[(b * K + a) * R + r]; }
    }
  }
  // The unit loop's private arrays are indexed by constants only (copied in and out by unrolled code): on
  // software adapters an array indexed by a loop variable anywhere lives in per-lane scratch memory, and
  // every access to it, in the unit loop too, becomes a gather or scatter.
  var zp = array<f32, PB * R>();
#unroll Q PB
#unroll U R
  zp[Q * R + U] = zin[Q * R + U];
#endunroll
#endunroll
  // nᵀ φ(m z + Wu v_{t−1}; h) for the PB particles: one load of each unit's parameters serves all of
  // them (loads, not arithmetic, bound this loop on software adapters). Two units per iteration, so each
  // running sum takes one update per pair (a software adapter blends every store inside a loop with the
  // active-lane mask: a load, blend and store per update), in the same order of additions as one unit at
  // a time; an odd N pairs its last unit with a copy of itself weighted zero.
  let tin = min(max(t, 1u) - 1u, p.T - 1u);
  var tsum = array<f32, PB * R>();
  for (var i = 0u; i < p.N; i += 2u) {
    let i1 = min(i + 1u, p.N - 1u);
    let w1 = select(0.0, 1.0, i + 1u < p.N);
    // the rank loops unrolled too: software adapters' compilers stop unrolling loops of a few dozen
    // iterations, and a loop-indexed private array becomes per-lane scratch memory (rank 36)
    var mrow = array<f32, R>();
    var nrow = array<f32, R>();
    var mrow1 = array<f32, R>();
    var nrow1 = array<f32, R>();
#unroll U R
    mrow[U] = theta[p.off_m + i * R + U];
    nrow[U] = theta[p.off_n + i * R + U];
    mrow1[U] = theta[p.off_m + i1 * R + U];
    nrow1[U] = w1 * theta[p.off_n + i1 * R + U];
#endunroll
    let h = theta[p.off_h + i];
    let h1 = theta[p.off_h + i1];
    // input currents per trial of the workgroup's blocks
    var cur = array<f32, TP>();
    var cur1 = array<f32, TP>();
    for (var j = 0u; j < p.DU; j++) {
      let wu = theta[p.off_wu + i * p.DU + j];
      let wu1 = theta[p.off_wu + i1 * p.DU + j];
#unroll S TP
      {
        let vj = input_v(bgs[S], tin, j);
        cur[S] += wu * vj;
        cur1[S] += wu1 * vj;
      }
#endunroll
    }
#unroll Q PB
    {
      var x = cur[Q / PBB];
      var x1 = cur1[Q / PBB];
#unroll U R
      x += mrow[U] * zp[Q * R + U];
      x1 += mrow1[U] * zp[Q * R + U];
#endunroll
      let f = phi(x, h);
      let f1 = phi(x1, h1);
#unroll U R
      tsum[Q * R + U] = tsum[Q * R + U] + nrow[U] * f + nrow1[U] * f1;
#endunroll
    }
#endunroll
  }
  if (t >= p.T || !valid) { return; } // the final pass only resamples
  let decay = exp(-exp(theta[p.off_a]));
  var pin = ProposalInputs(); // the block's trial's, set at its first slot
  var mu0 = array<f32, R>();
#unroll U R
  mu0[U] = theta[p.off_mu0 + U];
#endunroll
  // transition means μ = a z + nᵀφ(…) (μ0 at t = 0), for the per-particle loops below
  var mus = array<f32, PB * R>();
#unroll Q PB
#unroll U R
  mus[Q * R + U] = select(decay * zp[Q * R + U] + tsum[Q * R + U], mu0[U], t == 0u);
#endunroll
#endunroll
#if BLOCKED_OBS
  // Bootstrap or encoder proposal with the affine readout: draw the PB particles first, then one pass over the
  // channels whose parameter loads serve all of them (per particle, the D-wide loop's loads dominate for large D).
  var zn = array<f32, PB * R>();
#if ENCODER
  var lenc = array<f32, PB>(); // the proposal's share of each log weight
#endif
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(w0, p.Bc * p.nb, q, tid);
    let bg = p.b0 + sl.b;
    let k = sl.k;
    if (q % PBB == 0u) { pin = proposal_inputs(bg, t); }
    let xi = noise(bg, t, min(k, K - 1u));
#if ENCODER
    var mu = array<f32, R>();
    for (var r = 0u; r < R; r++) { mu[r] = mus[q * R + r]; }
    let ez = encoder_draw(pin, t, mu, xi);
    lenc[q] = ez.lw;
    for (var r = 0u; r < R; r++) { zn[q * R + r] = ez.z[r]; }
#else
    let lx = lower_vec(pin.L, xi);
    for (var r = 0u; r < R; r++) { zn[q * R + r] = mus[q * R + r] + lx[r]; }
#endif
  }
  // constant-indexed copies for the channel loop (see the unit loop), the sums copied out after it
  var zc = array<f32, PB * R>();
#unroll Q PB
#unroll U R
  zc[Q * R + U] = zn[Q * R + U];
#endunroll
#endunroll
  var lsum = array<f32, PB>();
  for (var d = 0u; d < p.D; d++) {
    var off = array<f32, TP>();
    var y = array<f32, TP>();
#unroll S TP
    off[S] = obs_offset(bgs[S], t, d);
    y[S] = obs_y(bgs[S], t, d);
#endunroll
    var brow = array<f32, R>();
#unroll U R
    brow[U] = theta[p.off_B + d * R + U];
#endunroll
#if !POISSON
    let lv = theta[p.off_lv + d];
    let prec = exp(-lv);
#endif
#unroll Q PB
    {
      var eta = off[Q / PBB];
#unroll U R
      eta += brow[U] * zc[Q * R + U];
#endunroll
      let lam = psi(eta);
#if POISSON
      lsum[Q] += y[Q / PBB] * log(lam) - lam;
#else
      let res = y[Q / PBB] - lam;
      lsum[Q] += -0.5 * res * res * prec - 0.5 * lv - 0.5 * LOG_2PI;
#endif
    }
#endunroll
  }
  var lobs = array<f32, PB>();
#unroll Q PB
  lobs[Q] = lsum[Q];
#endunroll
#endif
  // (plain loops outside the unit loop: unrolling the proposal PB times makes compiles take minutes)
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(w0, p.Bc * p.nb, q, tid);
    let b = sl.b;
    let bg = p.b0 + b;
    let k = sl.k;
    var mu = array<f32, R>();
    for (var r = 0u; r < R; r++) { mu[r] = mus[q * R + r]; }
    var lw = -3.0e38;
    if (k < K && sl.valid) {
#if BLOCKED_OBS
      var pz = Proposed();
      for (var r = 0u; r < R; r++) { pz.z[r] = zn[q * R + r]; }
      pz.lw = lobs[q];
#if ENCODER
      pz.lw = pz.lw + lenc[q]; // in propose_with's order: observation first
#endif
#else
      if (q % PBB == 0u) { pin = proposal_inputs(bg, t); }
      let pz = propose_with(pin, bg, t, mu, noise(bg, t, k));
#endif
      lw = pz.lw + carry[q];
      for (var r = 0u; r < R; r++) { next[(b * K + k) * R + r] = pz.z[r]; }
      next[lw_base(b) + k] = lw;
      if ((p.flags & STEP_FLAG_PATHS) != 0u) {
        for (var r = 0u; r < R; r++) {
          paths[zidx(bg, t, k) + r] = pz.z[r];
          paths[muidx(bg, t, k) + r] = mu[r];
        }
        paths[widx(bg, t, k)] = lw; // normalised by `weights` once the trial's lse is known
      }
    }
    sw[q * WG + tid] = lw;
  }
  // Block max, Σexp, normalised weights and their running sum, serially by one invocation in the
  // fused kernel's order (with one block per trial both give the same numbers): on a software adapter
  // every barrier is a pass over all invocations, so two barriers beat tree reductions.
  // (with several blocks per workgroup, invocation s serves block s)
  workgroupBarrier();
  let own = slot_of(w0, p.Bc * p.nb, tid * PBB, 0u);
  if (tid < TP && own.valid) {
    let b = own.b;
    let g = own.g;
    let o = tid * BS;
    let n = min(BS, K - g * BS);
    var m = -3.0e38;
    for (var j = o; j < o + n; j++) { m = max(m, sw[j]); }
    var s = 0.0;
    for (var j = o; j < o + n; j++) { let e = exp(sw[j] - m); sw[j] = e; s += e; }
    var c = 0.0;
    var sumsq = 0.0;
    for (var j = o; j < o + n; j++) { let wj = sw[j] / s; c += wj; sumsq += wj * wj; sw[j] = c; }
    next[sumsq_base(b) + g] = sumsq;
    let sb = stat_base(b) + g * 4u;
    next[sb] = m;
    next[sb + 1u] = s;
    next[sb + 2u] = c;
    next[sb + 3u] = 0.0;
  }
  workgroupBarrier();
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(w0, p.Bc * p.nb, q, tid);
    if (sl.k < K && sl.valid) { next[lcum_base(sl.b) + sl.k] = sw[q * WG + tid]; }
  }
}

@compute @workgroup_size(CWG)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.x + wid.y * nwg.x;
  if (b >= p.Bc) { return; }
  let tid = lid.x;
  let nb = p.nb;
  let sb = stat_base(b);
  var mx = -3.0e38;
  for (var g = tid; g < nb; g += CWG) { mx = max(mx, next[sb + g * 4u]); }
  let M = wg_max_in(mx, tid, 1u, CWG);
  var sa = 0.0;
  for (var g = tid; g < nb; g += CWG) { sa += next[sb + g * 4u + 1u] * exp(next[sb + g * 4u] - M); }
  let lse = M + log(wg_sum_in(sa, tid, 1u, CWG));
  // Σ of squared normalised weights: each block's squared sum rescaled by its share s_g e^{m_g − lse}
  var sq = 0.0;
  for (var g = tid; g < nb; g += CWG) {
    let share = next[sb + g * 4u + 1u] * exp(next[sb + g * 4u] - lse);
    sq += next[sumsq_base(b) + g] * share * share;
  }
  let sumsq = wg_sum_in(sq, tid, 1u, CWG);
  let bg = p.b0 + b;
  if (tid == 0u) {
    acc[bg] = acc[bg] + (lse - log(f32(p.K)));
    acc[p.B + bg] = lse;
    let resample = resample_decision(p.t, p.ess_frac >= 1.0 || 1.0 / sumsq < p.ess_frac * f32(p.K));
    next[trial_base(b)] = select(0.0, 1.0, resample);
    next[trial_base(b) + 1u] = lse;
    if ((p.flags & STEP_FLAG_PATHS) != 0u) { paths[flagidx(bg, p.t)] = select(0.0, 1.0, resample); }
  }
  // Shares of the blocks (s_g e^{m_g − lse} times the block cumsum's last entry, ≈ Σ weights of the
  // block) and their inclusive scan, CWG·CITEMS blocks at a time with a running carry.
  var carry = 0.0;
  for (var base = 0u; base < nb; base += CWG * CITEMS) {
    var share = array<f32, CITEMS>();
    var incl = array<f32, CITEMS>();
    var run = 0.0;
    for (var j = 0u; j < CITEMS; j++) {
      let g = base + tid * CITEMS + j;
      if (g < nb) {
        share[j] = next[sb + g * 4u + 1u] * exp(next[sb + g * 4u] - lse);
        run += share[j] * next[sb + g * 4u + 2u];
      }
      incl[j] = run;
    }
    csh[tid] = run;
    workgroupBarrier();
    for (var off = 1u; off < CWG; off = off * 2u) {
      var v = csh[tid];
      if (tid >= off) { v = v + csh[tid - off]; }
      workgroupBarrier();
      csh[tid] = v;
      workgroupBarrier();
    }
    var excl = carry;
    if (tid > 0u) { excl += csh[tid - 1u]; }
    for (var j = 0u; j < CITEMS; j++) {
      let g = base + tid * CITEMS + j;
      if (g < nb) {
        next[sb + g * 4u + 2u] = share[j];
        next[sb + g * 4u + 3u] = excl + incl[j];
      }
    }
    carry += csh[CWG - 1u];
    workgroupBarrier();
  }
}

@compute @workgroup_size(STEP_WEIGHTS_WG)
fn weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * STEP_WEIGHTS_WG;
  if (i >= p.Bc * p.K) { return; }
  let bg = p.b0 + i / p.K;
  let j = widx(bg, p.t, i % p.K);
  paths[j] = exp(paths[j] - acc[p.B + bg]);
}
