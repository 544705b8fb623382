// Fused particle filter for the stochastic low-rank RNN: one workgroup per trial, one invocation per
// particle, the whole time loop inside one dispatch, resampling in workgroup memory.
//
// Model (see src/models/lowrank-rnn.ts):  x = m z + Wu v,  z' = a z + nᵀ φ(x; h) + ε,  a = exp(−exp θ_a)
// Proposals: bootstrap (z ~ N(μ, L Lᵀ), weight p(y|z)), encoder (#if ENCODER: the product of N(μ, diag L²) and the
// encoder's per-step Gaussian, see encoder_gaussian in smc_common) or the optimal one for linear-Gaussian
// observations (#if OPTIMAL): with G = C̃C̃ᵀ, q_t = C̃ỹ_t, s_t = |ỹ_t|² (C̃ = B/σ, ỹ = (y−b)/σ,
// precomputed per call), the proposal is z = μ + Σq (q_t − Gμ) + Lq ξ and the incremental weight is the
// predictive log N(y_t; Bᵀμ + b, S) up to a constant (qs = [q (B,T,R) | s (B,T)]): −½s_t + μ·q_t − ½μᵀGμ + ½ rᵀΣq r, r = q_t − Gμ.
//
// All parameters arrive packed in one buffer `theta` (offsets in the uniform); the backward kernel
// writes one packed gradient. Per step we store only z (pre-resampling), μ, normalised weights, the
// resampling decision and ancestors: training memory is O(B·T·K·R); the N-wide currents are
// recomputed in the backward pass.
//
// ESS threshold (p.ess_frac < 1): a step resamples only when 1/Σw² < ess_frac·K. Otherwise every
// particle is its own ancestor and carries log(K·w) into the next step's log weight, so the increment
// logsumexp(carry + ℓ) − log K is log Σ_k W_k e^ℓ_k. With ess_frac = 1 the carry is always 0.
#include "smc_common"

#const R
#const WG
#const NSMALL

struct Params {
  B: u32, T: u32, K: u32, N: u32, D: u32, DU: u32,
  iter: u32, seed_lo: u32, seed_hi: u32, resample: u32, ess_frac: f32,
  off_m: u32, off_n: u32, off_h: u32, off_a: u32, off_wu: u32, off_mu0: u32,
  off_L: u32, off_L0: u32, off_Sq: u32, off_Lq: u32, off_Sq0: u32, off_Lq0: u32, off_G: u32,
  off_B: u32, off_b: u32, off_lv: u32, off_Bv: u32, off_Bo: u32,
  off_y: u32, off_v: u32, off_qs: u32, t_in: u32, P: u32, trial0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> data: array<f32>;
// paths: z (pre-resampling) [B,T,K,R] | μ [B,T,K,R] | normalised weights [B,T,K] | resampled after t [B,T]
@group(0) @binding(3) var<storage, read_write> paths: array<f32>;
@group(0) @binding(4) var<storage, read_write> anc: array<u32>;
@group(0) @binding(5) var<storage, read_write> ll: array<f32>;

var<workgroup> sz: array<f32, WG * R>;      // particle states being carried (ẑ after resampling)
var<workgroup> sw: array<f32, WG>;          // log weights, then normalised weights; backward: their adjoints
var<workgroup> scum: array<f32, WG>;        // cumulative normalised weights
var<workgroup> sred: array<f32, WG>;        // multinomial spacings; backward per-step sums
var<workgroup> sanc: array<u32, WG>;
var<workgroup> slse: f32;
var<workgroup> sresample: u32;              // whether this step resamples (ESS decision)
#if UNITPAR
// Unit-parallel path for few particles (K·R ≤ KR): every invocation takes a slice of the units and
// accumulates, for all K particles, into private partial sums, which one pass reduces. Each unit's
// parameters are then loaded once per step and reused K times (the particle-parallel loop reloads them
// per particle), and all invocations work even when K is far below the workgroup size.
#const KR
// The particle count of this pipeline variant as a constant (KC = K, KR = K·R): the loops over particles
// are unrolled (#unroll), so the private partial sums and particle states stay in registers.
#const KC
// Partial sums are reduced KCH entries at a time (KCH = KR when WG·KR floats fit workgroup memory), so
// larger K·R fit the same memory at the price of two barriers per chunk.
#const KCH
var<workgroup> spart: array<f32, WG * KCH>; // per-invocation partial sums of one chunk
var<workgroup> ssum: array<f32, KR>;        // reduced sums, per particle and rank

// Sum every invocation's private partial sums `part` into ssum (all invocations must call).
fn reduce_partials(tid: u32, part: ptr<function, array<f32, KR>>) {
  for (var c0 = 0u; c0 < KR; c0 += KCH) {
    workgroupBarrier();
    for (var j = 0u; j < KCH; j++) {
      if (c0 + j < KR) { spart[tid * KCH + j] = (*part)[c0 + j]; }
    }
    workgroupBarrier();
    for (var e = tid; e < KCH && c0 + e < KR; e += WG) {
      var s = 0.0;
      for (var j = 0u; j < WG; j++) { s += spart[j * KCH + e]; }
      ssum[c0 + e] = s;
    }
  }
  workgroupBarrier();
}

// ssum[k·R + r] = (nᵀ φ(m ẑ_k + Wu v_t; h))_r for every particle k (ẑ in sz).
fn transition_sums(b: u32, t: u32, tid: u32) {
  var part = array<f32, KR>();
  // particles' states in registers: workgroup-memory reads in the hot loop are slow on some adapters
  var zl = array<f32, KR>();
  for (var e = 0u; e < KR; e++) { zl[e] = sz[e]; }
  for (var u = 0u; u < UPT; u++) {
    let cur = input_current(b, t, tid + u * WG);
    let h = uh[u];
    var mrow = array<f32, R>();
    var nrow = array<f32, R>();
    for (var r = 0u; r < R; r++) { mrow[r] = um[u * R + r]; nrow[r] = un[u * R + r]; }
#unroll KK KC
    {
      var x = cur;
      for (var r = 0u; r < R; r++) { x += mrow[r] * zl[KK * R + r]; }
      let f = phi(x, h);
      for (var r = 0u; r < R; r++) { part[KK * R + r] += nrow[r] * f; }
    }
#endunroll
  }
  reduce_partials(tid, &part);
}
#endif

// Units i = tid + u·WG (u < UPT = ceil(N/WG)) belong to invocation tid. Their parameter rows are
// loaded once per dispatch into private arrays (constant-indexed after unrolling: registers, not
// per-step gathers from the parameter buffer); units past N get zero rows, so they add nothing.
#const UPT
var<private> um: array<f32, UPT * R>;
var<private> un: array<f32, UPT * R>;
var<private> uh: array<f32, UPT>;

fn load_units(tid: u32) {
  for (var u = 0u; u < UPT; u++) {
    let i = tid + u * WG;
    let ok = i < p.N;
    let ic = min(i, p.N - 1u);
    for (var r = 0u; r < R; r++) {
      um[u * R + r] = select(0.0, theta[p.off_m + ic * R + r], ok);
      un[u * R + r] = select(0.0, theta[p.off_n + ic * R + r], ok);
    }
    uh[u] = select(0.0, theta[p.off_h + ic], ok);
  }
}

// Input current (Wu v_t)_i of unit i (0 without inputs or past N).
fn input_current(b: u32, t: u32, i: u32) -> f32 {
  var cur = 0.0;
  if (i < p.N) {
    for (var j = 0u; j < p.DU; j++) { cur += theta[p.off_wu + i * p.DU + j] * input_v(b, t, j); }
  }
  return cur;
}

fn decay() -> f32 { return exp(-exp(theta[p.off_a])); }

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = wid.x;
  let tid = lid.x;
  let K = p.K;
  let live = tid < K;
  let key = vec2<u32>(p.seed_lo, p.seed_hi);
  var total = 0.0;
  var carry = 0.0; // log(K·w) carried from the previous step when it did not resample
#if UNITPAR
  load_units(tid);
#endif
  for (var t = 0u; t < p.T; t++) {
    var lw = -3.0e38;
    var z = array<f32, R>();
#if UNITPAR
    if (t > 0u) { transition_sums(b, t - 1u, tid); }
#endif
    if (live) {
      var mu = array<f32, R>();
      if (t == 0u) {
        for (var r = 0u; r < R; r++) { mu[r] = theta[p.off_mu0 + r]; }
      } else {
#if UNITPAR
        let a = decay();
        for (var r = 0u; r < R; r++) { mu[r] = a * sz[tid * R + r] + ssum[tid * R + r]; }
#else
        var zp = array<f32, R>();
        for (var r = 0u; r < R; r++) { zp[r] = sz[tid * R + r]; }
        mu = transition_mean(b, t - 1u, zp);
#endif
      }
      let xi = noise(b, t, tid);
      let pz = propose(b, t, mu, xi);
      z = pz.z;
      lw = pz.lw + carry;
      for (var r = 0u; r < R; r++) {
        paths[zidx(b, t, tid) + r] = z[r];
        paths[muidx(b, t, tid) + r] = mu[r];
      }
    }
    // One invocation does the O(K) work serially (max, normalisation, cumulative sum, multinomial
    // spacings): on software adapters each workgroup barrier costs a pass over all invocations, so
    // two barriers beat the 2·log2(WG) of tree reductions, and K is small on this path.
    sw[tid] = select(-3.0e38, lw, live);
    if (p.resample == RESAMPLE_MULTINOMIAL) {
      // multinomial via sorted uniforms: normalised partial sums of K+1 exponentials (WG > K)
      let u = rng_uniform4(key, vec4<u32>(t, rng_trial(b) * (K + 1u) + tid, PURPOSE_RESAMPLE, p.iter)).x;
      sred[tid] = select(0.0, -log(u), tid <= K);
    }
    workgroupBarrier();
    if (tid == 0u) {
      var m = -3.0e38;
      for (var k = 0u; k < K; k++) { m = max(m, sw[k]); }
      var s = 0.0;
      for (var k = 0u; k < K; k++) { let e = exp(sw[k] - m); sw[k] = e; s += e; }
      slse = m + log(s);
      var c = 0.0;
      var sumsq = 0.0;
      for (var k = 0u; k < K; k++) { let w = sw[k] / s; sw[k] = w; c += w; sumsq += w * w; scum[k] = c; }
      sresample = select(0u, 1u, resample_decision(t, p.ess_frac >= 1.0 || 1.0 / sumsq < p.ess_frac * f32(K)));
      paths[flagidx(b, t)] = f32(sresample);
      if (p.resample == RESAMPLE_MULTINOMIAL) {
        var ce = 0.0;
        for (var k = 0u; k <= K; k++) { ce += sred[k]; sred[k] = ce; }
      }
    }
    workgroupBarrier();
    total += slse - log(f32(K));
    if (live) { paths[widx(b, t, tid)] = sw[tid]; }
    let resample = sresample != 0u;
    var lo = tid; // without resampling every particle is its own ancestor
    if (resample) {
      // resampling positions (sorted in j, so ancestors come out sorted)
      var pos = 0.0;
      if (p.resample == RESAMPLE_MULTINOMIAL) {
        pos = sred[tid] / sred[K];
      } else if (p.resample == RESAMPLE_STRATIFIED) {
        let u = rng_uniform4(key, vec4<u32>(t, rng_trial(b) * (K + 1u) + tid, PURPOSE_RESAMPLE, p.iter)).x;
        pos = (f32(tid) + u) / f32(K);
      } else {
        let u = rng_uniform4(key, vec4<u32>(t, rng_trial(b), PURPOSE_RESAMPLE, p.iter)).x;
        pos = (f32(tid) + u) / f32(K);
      }
      // ancestor: first i with cumsum_i >= pos * total (renormalised by the last entry)
      let goal = pos * scum[K - 1u];
      lo = 0u;
      var hi = K - 1u;
      while (lo < hi) {
        let mid = (lo + hi) / 2u;
        if (scum[mid] < goal) { lo = mid + 1u; } else { hi = mid; }
      }
    }
    carry = select(lw - slse + log(f32(K)), 0.0, resample || prior_step(t));
    if (live) {
      anc[ancidx(b, t, tid)] = lo;
      sanc[tid] = lo;
    }
    workgroupBarrier();
    // gather: write all pre-resampling states to workgroup memory, then pick ancestors
    if (live) { for (var r = 0u; r < R; r++) { sz[tid * R + r] = z[r]; } }
    workgroupBarrier();
    var zn = array<f32, R>();
    if (live) { for (var r = 0u; r < R; r++) { zn[r] = sz[sanc[tid] * R + r]; } }
    workgroupBarrier();
    if (live) { for (var r = 0u; r < R; r++) { sz[tid * R + r] = zn[r]; } }
    workgroupBarrier();
  }
  if (tid == 0u) { ll[b] = total; }
}

// ------------------------------------------------------------------------------------------------
// Backward pass. Reverse time loop per trial. Gradients flow through the resampled particles (the
// gather's adjoint is a segmented sum over the sorted ancestors), not through the ancestor choice.
// Weight adjoints: ∂L_t/∂ℓ_tk = w_tk at a step that resampled (and at the last step); at a step that
// did not, the carried weights telescope and the adjoint is the next step's, kept per particle in sw.
// Parameter gradients: unit-wise (m, n, h, Wu) and channel-wise (B, b, log σ²) entries are owned by
// one invocation each and accumulated in this trial's slice of `gpart`; the small ones (θ_a, μ0, the
// R×R matrices) are accumulated per invocation in registers and written out once. `reduce_rows` and
// `reduce_small` then sum the slices into the packed gradient `gtheta`.
@group(0) @binding(6) var<storage, read> gll: array<f32>;
@group(0) @binding(7) var<storage, read_write> gpart: array<f32>;
@group(0) @binding(8) var<storage, read_write> gqs: array<f32>;
@group(0) @binding(9) var<storage, read_write> gtheta: array<f32>;
@group(0) @binding(10) var<storage, read> smallmap: array<u32>;
#if INPUT_GRAD
// Gradient with respect to the inputs v (when they are themselves computed, e.g. low-pass filtered):
// the backward kernel leaves per step the adjoints of the unit currents Σ_k ∂/∂x_i [B,T,N] and of the
// readout offsets [B,T,D] in gxs (zeroed; steps without them stay 0), and `input_grad` contracts
// them with Wu and Bv.
@group(0) @binding(11) var<storage, read_write> gxs: array<f32>;
@group(0) @binding(12) var<storage, read_write> gv: array<f32>;
#endif

var<workgroup> sgmu: array<f32, WG * R>;   // adjoint of μ_{t+1} per particle
var<workgroup> sgzh: array<f32, WG * R>;   // adjoint of the resampled particles ẑ_t
var<workgroup> sgq: array<f32, WG * (R + 1u)>; // per-particle shares of the q_t, s_t gradients

// Layout of the per-invocation small accumulators: the slots of smallMap (src/models/theta-layout.ts).
const S_A: u32 = 0u;
const S_MU0: u32 = 1u;
const S_M1: u32 = 1u + R;              // bootstrap L  | optimal Σq
const S_M2: u32 = 1u + R + R * R;      // bootstrap L0 | optimal Σq0
const S_M3: u32 = 1u + R + 2u * R * R; // optimal Lq
const S_M4: u32 = 1u + R + 3u * R * R; // optimal Lq0
const S_M5: u32 = 1u + R + 4u * R * R; // optimal G

// Unit i's input-weight gradient share at step t (and its current adjoint gx, when inputs get a
// gradient). The m, n, h rows are accumulated in private arrays over the whole time loop instead.
fn add_input_grads(gb: u32, b: u32, t: u32, i: u32, gx: f32) {
  if (i >= p.N) { return; }
  for (var j = 0u; j < p.DU; j++) { gpart[gb + p.off_wu + i * p.DU + j] += gx * input_v(b, t, j); }
#if INPUT_GRAD
  gxs[(b * p.T + t) * p.N + i] = gx;
#endif
}

fn gslice(b: u32) -> u32 { return b * (p.P + WG * NSMALL); }

// ---- Backward helpers: the transition, one per proposal and per observation model (readout; likelihood).

// Unit-owned gradients of m, n, h summed over time and particles (rows as in load_units).
var<private> gmA: array<f32, UPT * R>;
var<private> gnA: array<f32, UPT * R>;
var<private> ghA: array<f32, UPT>;

// Through the transition into step t+1 (which used input v_t): the adjoint of the resampled particles ẑ_t
// (into sgzh), θ_a's share (into acc) and the unit-owned gradients of m, n, h (gmA, gnA, ghA) and Wu.
// Every invocation of the workgroup must call (barriers).
#if UNITPAR
fn transition_adjoint(b: u32, t: u32, tid: u32, live: bool, a: f32, dadtheta: f32, gb: u32, acc: ptr<function, array<f32, NSMALL>>) {
  // One pass over this invocation's units for all particles: unit-owned gradients of m, n, h, Wu and
  // partial sums of mᵀ(r ⊙ φ'), reduced into the adjoint of ẑ_t (transition into t+1 used v_t).
  var part = array<f32, KR>();
  var zl = array<f32, KR>();
  var gl = array<f32, KR>();
  for (var e = 0u; e < KR; e++) { zl[e] = sz[e]; gl[e] = sgmu[e]; }
  for (var u = 0u; u < UPT; u++) {
    let i = tid + u * WG;
    let cur = input_current(b, t, i);
    let h = uh[u];
    var mrow = array<f32, R>();
    var nrow = array<f32, R>();
    for (var r = 0u; r < R; r++) { mrow[r] = um[u * R + r]; nrow[r] = un[u * R + r]; }
    var gm = array<f32, R>();
    var gn = array<f32, R>();
    var gh = 0.0;
    var gx = 0.0;
    // particles unrolled: zl, gl and part are indexed by constants (registers)
#unroll KK KC
    {
      var x = cur;
      var rr = 0.0;
      for (var r = 0u; r < R; r++) {
        x += mrow[r] * zl[KK * R + r];
        rr += nrow[r] * gl[KK * R + r];
      }
      let f = phi(x, h);
      let cx = rr * dphi_dx(x, h);
      gh += rr * dphi_dh(x, h);
      gx += cx;
      for (var r = 0u; r < R; r++) {
        gn[r] += f * gl[KK * R + r];
        gm[r] += cx * zl[KK * R + r];
        part[KK * R + r] += mrow[r] * cx;
      }
    }
#endunroll
    for (var r = 0u; r < R; r++) { gmA[u * R + r] += gm[r]; gnA[u * R + r] += gn[r]; }
    ghA[u] += gh;
    add_input_grads(gb, b, t, i, gx);
  }
  reduce_partials(tid, &part);
  if (live) {
    var gdotz = 0.0;
    for (var r = 0u; r < R; r++) {
      let g = sgmu[tid * R + r];
      gdotz += g * sz[tid * R + r];
      sgzh[tid * R + r] = a * g + ssum[tid * R + r];
    }
    (*acc)[S_A] += gdotz * dadtheta;
  }
}
#else
fn transition_adjoint(b: u32, t: u32, tid: u32, live: bool, a: f32, dadtheta: f32, gb: u32, acc: ptr<function, array<f32, NSMALL>>) {
  // (1) adjoint of ẑ_t through the transition into step t+1, which used input v_t
  if (live) {
    var zh = array<f32, R>();
    var g = array<f32, R>();
    var gz = array<f32, R>();
    var gdotz = 0.0;
    for (var r = 0u; r < R; r++) {
      zh[r] = sz[tid * R + r];
      g[r] = sgmu[tid * R + r];
      gz[r] = a * g[r];
      gdotz += g[r] * zh[r];
    }
    (*acc)[S_A] += gdotz * dadtheta;
    for (var i = 0u; i < p.N; i++) {
      var x = 0.0;
      var rr = 0.0;
      for (var r = 0u; r < R; r++) {
        x += theta[p.off_m + i * R + r] * zh[r];
        rr += theta[p.off_n + i * R + r] * g[r];
      }
      for (var j = 0u; j < p.DU; j++) { x += theta[p.off_wu + i * p.DU + j] * input_v(b, t, j); }
      let c = rr * dphi_dx(x, theta[p.off_h + i]);
      for (var r = 0u; r < R; r++) { gz[r] += theta[p.off_m + i * R + r] * c; }
    }
    for (var r = 0u; r < R; r++) { sgzh[tid * R + r] = gz[r]; }
  }
  // (2) unit-owned gradients of m, n, h, Wu, summed over this trial's particles
  for (var u = 0u; u < UPT; u++) {
    let i = tid + u * WG;
    var gh = 0.0;
    var gx = 0.0;
    let cur = input_current(b, t, i);
    let h = uh[u];
    for (var k = 0u; k < p.K; k++) {
      var x = cur;
      var rr = 0.0;
      for (var r = 0u; r < R; r++) {
        x += um[u * R + r] * sz[k * R + r];
        rr += un[u * R + r] * sgmu[k * R + r];
      }
      let f = phi(x, h);
      let cx = rr * dphi_dx(x, h);
      gh += rr * dphi_dh(x, h);
      gx += cx;
      for (var r = 0u; r < R; r++) {
        gnA[u * R + r] += f * sgmu[k * R + r];
        gmA[u * R + r] += cx * sz[k * R + r];
      }
    }
    ghA[u] += gh;
    add_input_grads(gb, b, t, i, gx);
  }
}
#endif

// Observation model: ∂ log p(y | η_d)/∂η_d through the link ψ and, Gaussian, ∂/∂ log σ²_d.
struct ObsGrad { deta: f32, dlv: f32 }

fn obs_grad(y: f32, eta: f32, d: u32) -> ObsGrad {
  var g = ObsGrad();
  let lam = psi(eta);
#if POISSON
  g.deta = (y / lam - 1.0) * dpsi(eta);
#else
  let prec = exp(-theta[p.off_lv + d]);
  let res = y - lam;
  g.deta = res * prec * dpsi(eta);
  g.dlv = 0.5 * res * res * prec - 0.5;
#endif
  return g;
}

// Readout of channel d under z at step t of trial b: affine, η_d = Bᵀz + offset; or (#if RATES) one-to-one
// from the rates, η_d = B_o,d φ(x_d; h_d) + b_d with x_d = m_d·z + (Wu v_t)_d, keeping x_d and f = φ(x_d; h_d).
struct Readout { eta: f32, x: f32, f: f32 }

fn readout(b: u32, t: u32, d: u32, z: array<f32, R>) -> Readout {
  var ro = Readout();
  ro.eta = obs_offset(b, t, d);
#if RATES
  ro.x = unit_current(b, t, d, z);
  ro.f = phi(ro.x, theta[p.off_h + d]);
  ro.eta += theta[p.off_Bo + d] * ro.f;
#else
  for (var r = 0u; r < R; r++) { ro.eta += theta[p.off_B + d * R + r] * z[r]; }
#endif
  return ro;
}

// c ∂η_d/∂z: affine c B_d; RATES c B_o,d φ'(x_d) m_d.
fn readout_pullback(d: u32, ro: Readout, c: f32) -> array<f32, R> {
  var g = array<f32, R>();
#if RATES
  let cz = c * theta[p.off_Bo + d] * dphi_dx(ro.x, theta[p.off_h + d]);
  for (var r = 0u; r < R; r++) { g[r] = cz * theta[p.off_m + d * R + r]; }
#else
  for (var r = 0u; r < R; r++) { g[r] = c * theta[p.off_B + d * R + r]; }
#endif
  return g;
}

// One particle's adjoints at step t, given the adjoint gz of its draw z and its weight's adjoint w: the
// adjoint of μ_t, the proposal's small-parameter gradients (added to acc) and, for the optimal proposal,
// its shares of the q_t, s_t gradients (the encoder proposal: of its mean in gq and log-variance in ge).
struct ParticleAdjoint { gmu: array<f32, R>, gq: array<f32, R>, gs: f32, ge: array<f32, R> }

#if OPTIMAL
// Optimal proposal: z = μ + Σq r + Lq ξ with r = q_t − Gμ, weight −½s_t + μ·q_t − ½μᵀGμ + ½rᵀΣq r.
fn optimal_particle_adjoint(b: u32, t: u32, w: f32, mu: array<f32, R>, xi: array<f32, R>, gz: array<f32, R>,
                            acc: ptr<function, array<f32, NSMALL>>) -> ParticleAdjoint {
  var out = ParticleAdjoint();
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
    out.gmu[c] = gz[c] - s + w * (rr[c] - gpr[c]);
  }
  for (var r = 0u; r < R; r++) {
    for (var c = 0u; c < R; c++) {
      (*acc)[sq + r * R + c] += gz[r] * rr[c] + 0.5 * w * rr[r] * rr[c];
      (*acc)[S_M5 + r * R + c] += -sgz[r] * mu[c] - w * (0.5 * mu[r] * mu[c] + pr[r] * mu[c]);
      if (c <= r) { (*acc)[sl + r * R + c] += gz[r] * xi[c]; }
    }
    out.gq[r] = sgz[r] + w * (mu[r] + pr[r]);
  }
  out.gs = -0.5 * w;
  return out;
}

// Per-step data gradients (q_t, s_t): each particle's share to workgroup memory, summed serially.
// Every invocation of the workgroup must call (barrier).
fn optimal_data_grads(b: u32, t: u32, tid: u32, live: bool, gq: array<f32, R>, gs: f32) {
  for (var r = 0u; r < R; r++) { sgq[tid * (R + 1u) + r] = select(0.0, gq[r], live); }
  sgq[tid * (R + 1u) + R] = select(0.0, gs, live);
  workgroupBarrier();
  if (tid == 0u) {
    for (var r = 0u; r <= R; r++) {
      var s = 0.0;
      for (var k = 0u; k < p.K; k++) { s += sgq[k * (R + 1u) + r]; }
      if (r < R) { gqs[(b * p.T + t) * R + r] = s; } else { gqs[p.B * p.T * R + b * p.T + t] = s; }
    }
  }
}
#else
// gz0 plus w ∂ log p(y_t | z)/∂z (through every channel's readout).
fn add_obs_pullback(b: u32, t: u32, w: f32, z: array<f32, R>, gz0: array<f32, R>) -> array<f32, R> {
  var gz = gz0;
  for (var d = 0u; d < p.D; d++) {
    let ro = readout(b, t, d, z);
    let pb = readout_pullback(d, ro, w * obs_grad(obs_y(b, t, d), ro.eta, d).deta);
    for (var r = 0u; r < R; r++) { gz[r] += pb[r]; }
  }
  return gz;
}

#if ENCODER
// Encoder proposal: the observation's pullback into the adjoint of z, then per dimension encoder_dim_adjoint (smc_common).
fn encoder_particle_adjoint(b: u32, t: u32, w: f32, z: array<f32, R>, mu: array<f32, R>, xi: array<f32, R>, gz0: array<f32, R>,
                            acc: ptr<function, array<f32, NSMALL>>) -> ParticleAdjoint {
  var out = ParticleAdjoint();
  let gzo = add_obs_pullback(b, t, w, z, gz0);
  let sl = select(S_M1, S_M2, t == 0u);
  let offL = select(p.off_L, p.off_L0, t == 0u);
  for (var r = 0u; r < R; r++) {
    let ea = encoder_dim_adjoint(theta[offL + r * R + r], mu[r], data[enc_mean_idx(b, t, r)], data[enc_logvar_idx(b, t, r)], z[r], xi[r], gzo[r], w,
                                 prior_step(t));
    out.gmu[r] = ea.gmu;
    out.gq[r] = ea.gm;
    out.ge[r] = ea.glv;
    (*acc)[sl + r * R + r] += ea.gl;
  }
  return out;
}

// Per-step encoder-output gradients (mean, log-variance): each particle's shares summed serially, one
// half at a time through sgq. Every invocation of the workgroup must call (barriers).
fn encoder_data_grads(b: u32, t: u32, tid: u32, live: bool, gm: array<f32, R>, ge: array<f32, R>) {
  for (var r = 0u; r < R; r++) { sgq[tid * (R + 1u) + r] = select(0.0, gm[r], live); }
  workgroupBarrier();
  if (tid == 0u) {
    for (var r = 0u; r < R; r++) {
      var s = 0.0;
      for (var k = 0u; k < p.K; k++) { s += sgq[k * (R + 1u) + r]; }
      gqs[enc_mean_idx(b, t, r) - p.off_qs] = s;
    }
  }
  workgroupBarrier();
  for (var r = 0u; r < R; r++) { sgq[tid * (R + 1u) + r] = select(0.0, ge[r], live); }
  workgroupBarrier();
  if (tid == 0u) {
    for (var r = 0u; r < R; r++) {
      var s = 0.0;
      for (var k = 0u; k < p.K; k++) { s += sgq[k * (R + 1u) + r]; }
      gqs[enc_logvar_idx(b, t, r) - p.off_qs] = s;
    }
  }
}
#endif

// Bootstrap proposal: z = μ + L ξ, weight log p(y_t | z), whose gradient with respect to z adds to the adjoint of z.
fn bootstrap_particle_adjoint(b: u32, t: u32, w: f32, z: array<f32, R>, xi: array<f32, R>, gz0: array<f32, R>,
                              acc: ptr<function, array<f32, NSMALL>>) -> ParticleAdjoint {
  var out = ParticleAdjoint();
  let gz = add_obs_pullback(b, t, w, z, gz0);
  let sl = select(S_M1, S_M2, t == 0u);
  for (var r = 0u; r < R; r++) {
    out.gmu[r] = gz[r];
    for (var c = 0u; c <= r; c++) { (*acc)[sl + r * R + c] += gz[r] * xi[c]; }
  }
  return out;
}

// Channel-owned observation parameter gradients at step t, summed over this trial's particles: b, log σ²
// (Gaussian), Bv (READOUT_V) and B; with RATES channel d is unit d, owned by the same invocation as in the
// transition's unit loop and load_units, so instead of B its gain B_o and unit d's m, h, Wu rows (and
// current adjoint) get the readout's share here.
fn obs_channel_grads(gb: u32, b: u32, t: u32, d: u32, seed: f32) {
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
  let y = obs_y(b, t, d);
  for (var k = 0u; k < p.K; k++) {
    let w = sw[k] * seed;
    var z = array<f32, R>();
    for (var r = 0u; r < R; r++) { z[r] = paths[zidx(b, t, k) + r]; }
    let ro = readout(b, t, d, z);
    let og = obs_grad(y, ro.eta, d);
    let geta = og.deta;
#if !POISSON
    glv += w * og.dlv;
#endif
    gbias += w * geta;
#if RATES
    ggain += w * geta * ro.f;
    gh += w * geta * gain * dphi_dh(ro.x, hd);
    let cx = w * geta * gain * dphi_dx(ro.x, hd);
    gx += cx;
    for (var r = 0u; r < R; r++) { gB[r] += cx * z[r]; }
#else
    for (var r = 0u; r < R; r++) { gB[r] += w * geta * z[r]; }
#endif
  }
#if RATES
  for (var r = 0u; r < R; r++) { gpart[gb + p.off_m + d * R + r] += gB[r]; }
  gpart[gb + p.off_h + d] += gh;
  gpart[gb + p.off_Bo + d] += ggain;
  for (var j = 0u; j < p.DU; j++) { gpart[gb + p.off_wu + d * p.DU + j] += gx * input_v(b, t, j); }
#if INPUT_GRAD
  gxs[(b * p.T + t) * p.N + d] += gx; // after the transition's unit loop wrote this step's share
#endif
#else
  for (var r = 0u; r < R; r++) { gpart[gb + p.off_B + d * R + r] += gB[r]; }
#endif
  gpart[gb + p.off_b + d] += gbias;
#if INPUT_GRAD
  gxs[p.B * p.T * p.N + (b * p.T + t) * p.D + d] = gbias;
#endif
#if READOUT_V
  for (var j = 0u; j < p.DU; j++) { gpart[gb + p.off_Bv + d * p.DU + j] += gbias * input_v(b, t, j); }
#endif
#if !POISSON
  gpart[gb + p.off_lv + d] += glv;
#endif
}
#endif

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = wid.x;
  let tid = lid.x;
  let K = p.K;
  let live = tid < K;
  let seed = gll[b];
  let a = decay();
  let dadtheta = -a * exp(theta[p.off_a]);
  let gb = gslice(b);
  var acc = array<f32, NSMALL>();
  load_units(tid);
  for (var r = 0u; r < R; r++) { sgmu[tid * R + r] = 0.0; }
  workgroupBarrier();
  for (var tt = 0u; tt < p.T; tt++) {
    let t = p.T - 1u - tt;
    if (live) {
      if (weights_restart(b, t)) { sw[tid] = paths[widx(b, t, tid)]; }
      let ak = anc[ancidx(b, t, tid)];
      sanc[tid] = ak;
      for (var r = 0u; r < R; r++) { sz[tid * R + r] = paths[zidx(b, t, ak) + r]; }
    }
    workgroupBarrier();
    if (t + 1u < p.T) {
      transition_adjoint(b, t, tid, live, a, dadtheta, gb, &acc);
    } else if (live) {
      for (var r = 0u; r < R; r++) { sgzh[tid * R + r] = 0.0; }
    }
    workgroupBarrier();
    // (3) per particle j at step t: gather adjoint, proposal and observation terms, adjoint of μ_t
    var gqv = array<f32, R>();
    var gsv = 0.0;
    var gev = array<f32, R>();
    if (live) {
      let j = tid;
      // k-range with ancestor j in the sorted ancestor list
      var lo = 0u;
      var hi = K;
      while (lo < hi) { let mid = (lo + hi) / 2u; if (sanc[mid] < j) { lo = mid + 1u; } else { hi = mid; } }
      var end = lo;
      var hi2 = K;
      while (end < hi2) { let mid = (end + hi2) / 2u; if (sanc[mid] <= j) { end = mid + 1u; } else { hi2 = mid; } }
      var gz = array<f32, R>();
      for (var k = lo; k < end; k++) { for (var r = 0u; r < R; r++) { gz[r] += sgzh[k * R + r]; } }
      let w = sw[j] * seed;
      var z = array<f32, R>();
      var mu = array<f32, R>();
      for (var r = 0u; r < R; r++) {
        z[r] = paths[zidx(b, t, j) + r];
        mu[r] = paths[muidx(b, t, j) + r];
      }
      let xi = noise(b, t, j);
#if OPTIMAL
      let pa = optimal_particle_adjoint(b, t, w, mu, xi, gz, &acc);
      gqv = pa.gq;
      gsv = pa.gs;
#else
#if ENCODER
      let pa = encoder_particle_adjoint(b, t, w, z, mu, xi, gz, &acc);
      gqv = pa.gq;
      gev = pa.ge;
#else
      let pa = bootstrap_particle_adjoint(b, t, w, z, xi, gz, &acc);
#endif
#endif
      let gmu = pa.gmu;
      if (t == 0u) { for (var r = 0u; r < R; r++) { acc[S_MU0 + r] += gmu[r]; } }
      for (var r = 0u; r < R; r++) { sgmu[j * R + r] = gmu[r]; }
    }
#if OPTIMAL
    optimal_data_grads(b, t, tid, live, gqv, gsv);
#else
#if ENCODER
    encoder_data_grads(b, t, tid, live, gqv, gev);
#endif
    // (4) channel-owned observation parameter gradients
    for (var d = tid; d < p.D; d += WG) { obs_channel_grads(gb, b, t, d, seed); }
#endif
    workgroupBarrier();
  }
  for (var e = 0u; e < NSMALL; e++) { gpart[gb + p.P + tid * NSMALL + e] = acc[e]; }
  for (var u = 0u; u < UPT; u++) {
    let i = tid + u * WG;
    if (i < p.N) {
      for (var r = 0u; r < R; r++) {
        gpart[gb + p.off_m + i * R + r] += gmA[u * R + r];
        gpart[gb + p.off_n + i * R + r] += gnA[u * R + r];
      }
      gpart[gb + p.off_h + i] += ghA[u];
    }
  }
}

@compute @workgroup_size(SMC_REDUCE_WG)
fn reduce_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= p.P) { return; }
  var s = 0.0;
  for (var b = 0u; b < p.B; b++) { s += gpart[gslice(b) + e]; }
  gtheta[e] = s;
}

@compute @workgroup_size(SMC_REDUCE_WG)
fn reduce_small(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= NSMALL) { return; }
  let dst = smallmap[e];
  if (dst == SMALL_SLOT_UNUSED) { return; }
  var s = 0.0;
  for (var b = 0u; b < p.B; b++) {
    for (var k = 0u; k < WG; k++) { s += gpart[gslice(b) + p.P + k * NSMALL + e]; }
  }
  gtheta[dst] += s;
}

#if INPUT_GRAD
@compute @workgroup_size(SMC_REDUCE_WG)
fn input_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= p.B * p.T * p.DU) { return; }
  let bt = e / p.DU;
  let j = e % p.DU;
  var s = 0.0;
  for (var i = 0u; i < p.N; i++) { s += theta[p.off_wu + i * p.DU + j] * gxs[bt * p.N + i]; }
#if READOUT_V
#if !OPTIMAL
  for (var d = 0u; d < p.D; d++) { s += theta[p.off_Bv + d * p.DU + j] * gxs[p.B * p.T * p.N + bt * p.D + d]; }
#endif
#endif
  gv[e] = s;
}
#endif
