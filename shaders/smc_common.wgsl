// Shared by the fused (smc_sequence) and per-step (smc_step) particle filters: paths and data indexing,
// observation model, noise addressing, proposals and small matrix helpers. Both shaders declare `p`
// with the fields of src/inference/smc-host.ts commonParams (p.B: trials of the whole batch), `theta`,
// `data` (y | v | qs, packed by the host) and `paths`; the random-number addressing must stay identical
// for their results to agree.
#include "shared_constants"
#include "rng"
#include "nonlin"
#include "obs_link"

const LOG_2PI: f32 = 1.8378770664093453;

// Forward prediction (t_forward): steps t ≥ p.t_in (= T − t_forward; T without it) draw from the transition
// alone (the encoder proposal with the encoder's share α = 0), weigh by the likelihood, never resample and
// carry no weights (each starts from equally weighted particles); the step before them always resamples.
fn prior_step(t: u32) -> bool { return t >= p.t_in; }

// Whether step t resamples, given the ESS rule's answer (the step before forward prediction always does).
fn resample_decision(t: u32, ess_says: bool) -> bool { return !prior_step(t) && (ess_says || (t + 1u == p.t_in && p.t_in < p.T)); }

// Whether the log-weights' adjoint restarts at step t (its own normalised weights): the last step, a step that
// resampled, or one whose weights are not carried into the next (forward prediction); else it is the next step's.
fn weights_restart(b: u32, t: u32) -> bool { return t + 1u >= p.t_in || paths[flagidx(b, t)] != 0.0; }

// paths: z (pre-resampling) [B,T,K,R] | μ [B,T,K,R] | normalised weights [B,T,K] | resampled after t [B,T]
// (pathFloats in src/inference/smc-layout.ts); ancestors [B,T,K].
fn zidx(b: u32, t: u32, k: u32) -> u32 { return ((b * p.T + t) * p.K + k) * R; }
fn muidx(b: u32, t: u32, k: u32) -> u32 { return p.B * p.T * p.K * R + zidx(b, t, k); }
fn widx(b: u32, t: u32, k: u32) -> u32 { return 2u * p.B * p.T * p.K * R + (b * p.T + t) * p.K + k; }
fn flagidx(b: u32, t: u32) -> u32 { return (2u * R + 1u) * p.B * p.T * p.K + b * p.T + t; }
fn ancidx(b: u32, t: u32, k: u32) -> u32 { return (b * p.T + t) * p.K + k; }

// Observation d and input j of trial b at step t, from the packed data buffer.
fn obs_y(b: u32, t: u32, d: u32) -> f32 { return data[p.off_y + (b * p.T + t) * p.D + d]; }
fn input_v(b: u32, t: u32, j: u32) -> f32 { return data[p.off_v + (b * p.T + t) * p.DU + j]; }

// Trial b's index in the random-number streams: p.trial0 offsets it, so a batch filtered in chunks of
// trials draws the same numbers as in one call.
fn rng_trial(b: u32) -> u32 { return p.trial0 + b; }

// Standard normals for particle (b,k) at step t: counter words (t*ceil(R/4)+c, b*K+k, NOISE, iter).
fn noise(b: u32, t: u32, k: u32) -> array<f32, R> {
  var xi = array<f32, R>();
  let key = vec2<u32>(p.seed_lo, p.seed_hi);
  let chunks = (R + 3u) / 4u;
  for (var c = 0u; c < chunks; c++) {
    let n4 = rng_normal4(key, vec4<u32>(t * chunks + c, rng_trial(b) * p.K + k, PURPOSE_NOISE, p.iter));
    for (var j = 0u; j < 4u; j++) {
      let r = c * 4u + j;
      if (r < R) { xi[r] = n4[j]; }
    }
  }
  return xi;
}

// Readout offset of channel d at step t of trial bg: b_d, plus (Bvᵀ v_t)_d when the readout is from [v; z].
fn obs_offset(bg: u32, t: u32, d: u32) -> f32 {
  var eta = theta[p.off_b + d];
#if READOUT_V
  for (var j = 0u; j < p.DU; j++) { eta += theta[p.off_Bv + d * p.DU + j] * input_v(bg, t, j); }
#endif
  return eta;
}

// Current x_i = (m z + Wu v_t)_i of unit i at step t of trial bg (input current first, as transition_mean).
fn unit_current(bg: u32, t: u32, i: u32, z: array<f32, R>) -> f32 {
  var x = 0.0;
  for (var j = 0u; j < p.DU; j++) { x += theta[p.off_wu + i * p.DU + j] * input_v(bg, t, j); }
  for (var r = 0u; r < R; r++) { x += theta[p.off_m + i * R + r] * z[r]; }
  return x;
}

// Readout η_d of channel d at step t under z: affine Bᵀz + offset, or (#if RATES, one-to-one from the rates,
// channel d = unit d) B_o,d φ(x_d; h_d) + b_d.
fn obs_eta(b: u32, t: u32, d: u32, z: array<f32, R>) -> f32 {
  var eta = obs_offset(b, t, d);
#if RATES
  eta += theta[p.off_Bo + d] * phi(unit_current(b, t, d, z), theta[p.off_h + d]);
#else
  for (var r = 0u; r < R; r++) { eta += theta[p.off_B + d * R + r] * z[r]; }
#endif
  return eta;
}

// Log-likelihood of observation y_t under z (bootstrap weights).
fn obs_loglik(b: u32, t: u32, z: array<f32, R>) -> f32 {
  var l = 0.0;
  for (var d = 0u; d < p.D; d++) {
    let eta = obs_eta(b, t, d, z);
    let lam = psi(eta);
    let y = obs_y(b, t, d);
#if POISSON
    l += y * log(lam) - lam;
#else
    let lv = theta[p.off_lv + d];
    let res = y - lam;
    l += -0.5 * res * res * exp(-lv) - 0.5 * lv - 0.5 * LOG_2PI;
#endif
  }
  return l;
}

fn sym_matvec(off: u32, x: array<f32, R>) -> array<f32, R> {
  var out = array<f32, R>();
  for (var r = 0u; r < R; r++) {
    var s = 0.0;
    for (var c = 0u; c < R; c++) { s += theta[off + r * R + c] * x[c]; }
    out[r] = s;
  }
  return out;
}

// a z + nᵀ φ(m z + Wu v_t; h): the N-wide currents stay in registers, one unit at a time.
fn transition_mean(bg: u32, t: u32, z: array<f32, R>) -> array<f32, R> {
  let a = exp(-exp(theta[p.off_a]));
  var acc_r = array<f32, R>();
  for (var i = 0u; i < p.N; i++) {
    // input current first, then m z: the same order as the step path and the unit-parallel loop
    var x = 0.0;
    for (var j = 0u; j < p.DU; j++) { x += theta[p.off_wu + i * p.DU + j] * input_v(bg, t, j); }
    for (var r = 0u; r < R; r++) { x += theta[p.off_m + i * R + r] * z[r]; }
    let f = phi(x, theta[p.off_h + i]);
    for (var r = 0u; r < R; r++) { acc_r[r] += theta[p.off_n + i * R + r] * f; }
  }
  var mu = array<f32, R>();
  for (var r = 0u; r < R; r++) { mu[r] = a * z[r] + acc_r[r]; }
  return mu;
}

struct Proposed { z: array<f32, R>, lw: f32 }

// Encoder proposal data (packed where the optimal proposal's qs go): mean [B,T,R] | log-variance [B,T,R].
fn enc_mean_idx(bg: u32, t: u32, r: u32) -> u32 { return p.off_qs + (bg * p.T + t) * R + r; }
fn enc_logvar_idx(bg: u32, t: u32, r: u32) -> u32 { return p.off_qs + p.B * p.T * R + (bg * p.T + t) * R + r; }

// One dimension of the encoder proposal: the precision-weighted product of the transition N(μ, v_z), v_z = L_rr²
// (diagonal or scalar noise), and the encoder's N(m, v_e), v_e = exp(log-variance): variance v_q = 1/(1/v_z + 1/v_e)
// and mean v_q (μ/v_z + m/v_e); α = v_q/v_e is the encoder's share. A forward-prediction step (`prior`) ignores the
// encoder: α = 0, v_q = v_z.
struct EncoderGaussian { vz: f32, ve: f32, vq: f32, mean: f32, alpha: f32 }

fn encoder_gaussian(lrr: f32, mu: f32, em: f32, elv: f32, prior: bool) -> EncoderGaussian {
  var g = EncoderGaussian();
  g.vz = lrr * lrr;
  if (prior) {
    g.ve = 1.0;
    g.vq = g.vz;
    g.mean = mu;
    return g;
  }
  g.ve = exp(elv);
  g.vq = 1.0 / (1.0 / g.vz + 1.0 / g.ve);
  g.alpha = g.vq / g.ve;
  g.mean = (1.0 - g.alpha) * mu + g.alpha * em;
  return g;
}

// Adjoints of one dimension r of the encoder proposal at one particle (both filters' backward passes). z = μ_q + √v_q ξ
// (μ_q = (1−α)μ + α m) and the weight's share log N(z; μ, v_z) + ½ξ² + ½ log v_q (−log q with ξ fixed); `gz` is the
// adjoint of z from the future and the observation, `w` the weight's adjoint. Chain rule with ξ fixed: G = gz − w(z−μ)/v_z;
// ∂z/∂μ = 1−α, ∂z/∂m = α, ∂z/∂v_z = (1−α)² c − (1−α) μ/v_z and ∂z/∂v_e = α² c − α m/v_e with c = μ/v_z + m/v_e + ξ/(2√v_q).
// Returns the adjoints of μ_r, the encoder's mean and log-variance (v_e = exp) and L_rr (v_z = L_rr²).
struct EncoderAdjoint { gmu: f32, gm: f32, glv: f32, gl: f32 }

fn encoder_dim_adjoint(lrr: f32, mu: f32, em: f32, elv: f32, z: f32, xi: f32, gz: f32, w: f32, prior: bool) -> EncoderAdjoint {
  var out = EncoderAdjoint();
  let g = encoder_gaussian(lrr, mu, em, elv, prior);
  let beta = 1.0 - g.alpha;
  let dz = z - mu;
  let G = gz - w * dz / g.vz;
  var c = mu / g.vz + 0.5 * xi / sqrt(g.vq);
  if (!prior) { c += em / g.ve; }
  let gvz = G * (beta * beta * c - beta * mu / g.vz) + w * (0.5 * dz * dz / (g.vz * g.vz) - 0.5 / g.vz + 0.5 * beta * beta / g.vq);
  out.gmu = G * beta + w * dz / g.vz;
  out.gl = gvz * 2.0 * lrr;
  if (!prior) {
    out.gm = G * g.alpha;
    out.glv = (G * (g.alpha * g.alpha * c - g.alpha * em / g.ve) + w * 0.5 * g.alpha * g.alpha / g.vq) * g.ve;
  }
  return out;
}

// What the proposal reads besides μ and ξ at step t of trial bg, loaded once and reused for every
// particle an invocation carries (a software adapter gathers each parameter load per lane).
// Optimal: G, Σq, Lq (the t = 0 ones at t = 0) and the step's projections q_t, s_t. Bootstrap: L.
// Encoder: L (its diagonal) and the step's encoder mean (in q) and log-variance (in e).
// (the R×R G and Σq only with the optimal proposal: per-invocation arrays that the others would carry unused)
#if OPTIMAL
struct ProposalInputs { G: array<f32, R * R>, S: array<f32, R * R>, L: array<f32, R * R>, q: array<f32, R>, s: f32, e: array<f32, R> }
#else
struct ProposalInputs { L: array<f32, R * R>, q: array<f32, R>, e: array<f32, R> }
#endif

fn proposal_inputs(bg: u32, t: u32) -> ProposalInputs {
  var m = ProposalInputs();
#if OPTIMAL
  let offSq = select(p.off_Sq, p.off_Sq0, t == 0u);
  let offLq = select(p.off_Lq, p.off_Lq0, t == 0u);
  for (var e = 0u; e < R * R; e++) {
    m.G[e] = theta[p.off_G + e];
    m.S[e] = theta[offSq + e];
    m.L[e] = theta[offLq + e];
  }
  for (var r = 0u; r < R; r++) { m.q[r] = data[p.off_qs + (bg * p.T + t) * R + r]; }
  m.s = data[p.off_qs + p.B * p.T * R + bg * p.T + t];
#else
  let offL = select(p.off_L, p.off_L0, t == 0u);
  for (var e = 0u; e < R * R; e++) { m.L[e] = theta[offL + e]; }
#if ENCODER
  for (var r = 0u; r < R; r++) {
    m.q[r] = data[enc_mean_idx(bg, t, r)];
    m.e[r] = data[enc_logvar_idx(bg, t, r)];
  }
#endif
#endif
  return m;
}

fn mat_vec(a: array<f32, R * R>, x: array<f32, R>) -> array<f32, R> {
  var out = array<f32, R>();
  for (var r = 0u; r < R; r++) {
    var s = 0.0;
    for (var c = 0u; c < R; c++) { s += a[r * R + c] * x[c]; }
    out[r] = s;
  }
  return out;
}

fn lower_vec(a: array<f32, R * R>, x: array<f32, R>) -> array<f32, R> {
  var out = array<f32, R>();
  for (var r = 0u; r < R; r++) {
    var s = 0.0;
    for (var c = 0u; c <= r; c++) { s += a[r * R + c] * x[c]; }
    out[r] = s;
  }
  return out;
}

#if ENCODER
// The encoder proposal's draw at step t (transition means μ, normals ξ) and its share of the log weight,
// log N(z; μ, v_z) − log q(z); the observation's share is the caller's.
fn encoder_draw(m: ProposalInputs, t: u32, mu: array<f32, R>, xi: array<f32, R>) -> Proposed {
  var out = Proposed();
  var l = 0.0;
  for (var r = 0u; r < R; r++) {
    let g = encoder_gaussian(m.L[r * R + r], mu[r], m.q[r], m.e[r], prior_step(t));
    out.z[r] = g.mean + sqrt(g.vq) * xi[r];
    // (z − μ_q)/√v_q = ξ
    let dz = out.z[r] - mu[r];
    l += -0.5 * dz * dz / g.vz - 0.5 * log(g.vz) + 0.5 * xi[r] * xi[r] + 0.5 * log(g.vq);
  }
  out.lw = l;
  return out;
}
#endif

// One particle's draw from the proposal at step t of trial bg and its incremental log weight.
// Bootstrap: z = μ + L ξ, weight log p(y_t | z). Optimal (linear-Gaussian observations): z = μ + Σq (q_t − Gμ)
// + Lq ξ, weight the predictive density up to a constant, −½ s_t + μ·q_t − ½ μᵀGμ + ½ rᵀΣq r with r = q_t − Gμ.
fn propose_with(m: ProposalInputs, bg: u32, t: u32, mu: array<f32, R>, xi: array<f32, R>) -> Proposed {
  var out = Proposed();
#if OPTIMAL
  let gmu = mat_vec(m.G, mu);
  var rr = array<f32, R>();
  for (var r = 0u; r < R; r++) { rr[r] = m.q[r] - gmu[r]; }
  let pr = mat_vec(m.S, rr);
  let lx = lower_vec(m.L, xi);
  var l = -0.5 * m.s;
  for (var r = 0u; r < R; r++) {
    out.z[r] = mu[r] + pr[r] + lx[r];
    l += mu[r] * m.q[r] - 0.5 * mu[r] * gmu[r] + 0.5 * rr[r] * pr[r];
  }
  out.lw = l;
#else
#if ENCODER
  out = encoder_draw(m, t, mu, xi);
  out.lw = obs_loglik(bg, t, out.z) + out.lw;
#else
  let lx = lower_vec(m.L, xi);
  for (var r = 0u; r < R; r++) { out.z[r] = mu[r] + lx[r]; }
  out.lw = obs_loglik(bg, t, out.z);
#endif
#endif
  return out;
}

// As propose_with, loading the proposal's inputs for this one particle (qs = [q (B,T,R) | s (B,T)]).
fn propose(bg: u32, t: u32, mu: array<f32, R>, xi: array<f32, R>) -> Proposed {
  return propose_with(proposal_inputs(bg, t), bg, t, mu, xi);
}

#if TP
// The step kernels (TP blocks of BS particles per workgroup, PBB of each block per invocation): slot q of invocation
// tid in the workgroup whose first block is w0 is block w = w0 + q / PBB (block g of trial b) and its particle
// k = g·BS + (q % PBB)·WG + tid. Blocks from `blocks` on (grid padding) are invalid: they compute on block 0 and
// write nothing.
struct Slot { b: u32, g: u32, w: u32, k: u32, valid: bool }
fn slot_of(w0: u32, blocks: u32, q: u32, tid: u32) -> Slot {
  let wq = w0 + q / PBB;
  let valid = wq < blocks;
  let w = select(0u, wq, valid);
  let g = w % p.nb;
  return Slot(w / p.nb, g, w, g * BS + (q % PBB) * WG + tid, valid);
}
#endif
