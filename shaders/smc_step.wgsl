// Multi-workgroup particle filter for large K (src/inference/smc-step.ts): one set of dispatches per
// time step, any number of particles per trial. Same model, proposals, formulas and random-number
// counters as the fused kernel (shaders/smc_sequence.wgsl); forward only.
//
// Per step t (all encoded, no host sync), one dispatch:
//   propagate  workgroups = TP blocks of BS particles (block g of trial b), PB = TP·BS/WG particles per invocation
//              (particle g·BS + (q % PBB)·WG + tid of block q / PBB for q < PB: each parameter load serves PB
//              particles):
//              (t ≥ 1) the combine of step t−1, by every workgroup for the trials of its blocks from the
//              block partials in `prev` (reduce-then-scan without a dispatch of its own, and no
//              forward-progress assumption between workgroups): logsumexp → ll[b] += lse − log K (the
//              workgroup of block 0), the ESS decision, the step's normalised weights exp(ℓ − lse) into the
//              paths (each workgroup its own particles); if step t−1 resamples, systematic/stratified
//              resampling: the position (k + u)/K in the previous step's cumulative weights (two-level:
//              the inclusive scan of the blocks' shares, made here in chunks of CH blocks, then the block's
//              own cumsum), each invocation resolving a run of consecutive outputs by one search and a walk
//              forward from the previous ancestor (positions increase with k); gather of the ancestor's
//              state; else the particle keeps its state and carries log(K·w) into its log weight (as the
//              fused kernel); transition mean, proposal draw and log weight; then, inside the block: max,
//              Σexp, block-normalised weights, their running sum (the scan of step t, without the add-back
//              of the block offsets) and squared sum.
// A final propagate with t = T only combines and resamples step T − 1.
//
// State buffer of one chunk of trials (two of them, ping-pong between steps):
//   z [B,K,R] (pre-resampling states of step t) | lcum [B,K] (per-block cumsum of the block-normalised
//   weights) | per block (max ℓ, Σexp(ℓ − max), last lcum, unused) [B,nb,4] |
//   ℓ [B,K] (log weights with the carry) | per block Σ of squared block-normalised weights [B,nb]
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

// Software adapters with few blocks per trial (stepPlan): one invocation does the combine's reductions and scan alone,
// in the order of the parallel ones (same numbers), since every barrier there is a pass over all invocations; with
// many blocks the serial walk over all of them in every workgroup costs more than the barriers, and LANE_COMBINE
// splits it: each invocation reduces and scans a run of consecutive blocks, and one exchange through workgroup memory
// per reduction combines the runs (lane_lse, lane_scan), two barriers each instead of a tree's.
#if SERIAL_COMBINE
const SERIAL_COMBINE: bool = true;
#else
const SERIAL_COMBINE: bool = false;
#endif
// The block offsets are scanned CH blocks at a time, CITEMS consecutive blocks per invocation (LANE_COMBINE: up to
// CITEMS, as few as cover the trial's blocks, so that up to CH blocks take one chunk: see lane_items).
#if LANE_COMBINE
const LANE_COMBINE: bool = true;
const CITEMS: u32 = 32u;
#else
const LANE_COMBINE: bool = false;
const CITEMS: u32 = 4u;
#endif
const CH: u32 = WG * CITEMS;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> data: array<f32>;
@group(0) @binding(3) var<storage, read> prev: array<f32>;
@group(0) @binding(4) var<storage, read_write> next: array<f32>;
// paths (optional): z [B,T,K,R] | μ [B,T,K,R] | normalised weights [B,T,K] | resampled [B,T]
@group(0) @binding(5) var<storage, read_write> paths: array<f32>;
@group(0) @binding(6) var<storage, read_write> anc: array<u32>;
// acc: per trial Σ_t (lse_t − log K) [B]
@group(0) @binding(7) var<storage, read_write> acc: array<f32>;

var<workgroup> sw: array<f32, BS * TP>;
// ancestors of the workgroup's outputs (local index: block slot · BS + position in the block)
var<workgroup> sanc: array<u32, BS * TP>;
// one chunk of the block offsets (inclusive scan of the blocks' shares)
var<workgroup> boff: array<f32, CH>;
// per block slot: lse of its trial's step t − 1, and 1 where that step resamples
var<workgroup> tstat: array<f32, 2 * TP>;

// State-buffer offsets for trial b of the chunk.
fn lcum_base(b: u32) -> u32 { return p.Bc * p.K * R + b * p.K; }
fn stat_base(b: u32) -> u32 { return p.Bc * p.K * (R + 1u) + b * p.nb * 4u; }
fn lw_base(b: u32) -> u32 { return p.Bc * (p.K * (R + 1u) + p.nb * 4u) + b * p.K; }
fn sumsq_base(b: u32) -> u32 { return p.Bc * (p.K * (R + 2u) + p.nb * 4u) + b * p.nb; }

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

// As search_prev where the answer is known to be ≥ lo0 and likely close to it (the previous output's ancestor):
// steps of 1, 2, 4, … from lo0 bracket it, then a binary search inside the bracket. Same answer as search_prev.
fn walk_prev(base: u32, lo0: u32, hi0: u32, goal: f32) -> u32 {
  var lo = lo0;
  var step = 1u;
  while (lo < hi0 && prev[base + lo] < goal) {
    let nxt = min(lo + step, hi0);
    if (prev[base + nxt] < goal) {
      lo = nxt + 1u;
      step *= 2u;
    } else {
      return search_prev(base, lo + 1u, nxt, goal);
    }
  }
  return min(lo, hi0);
}

// The uniform that places output particle k when resampling step s of trial bg: systematic, one per trial and step
// (the same for every k); stratified, one per particle. Its position in [0, 1) is (k + u)/K.
fn resample_u(bg: u32, s: u32, k: u32) -> f32 {
  let key = vec2<u32>(p.seed_lo, p.seed_hi);
  if (p.resample == RESAMPLE_STRATIFIED) {
    return rng_uniform4(key, vec4<u32>(s, rng_trial(bg) * (p.K + 1u) + k, PURPOSE_RESAMPLE, p.iter)).x;
  }
  return rng_uniform4(key, vec4<u32>(s, rng_trial(bg), PURPOSE_RESAMPLE, p.iter)).x;
}

// Block g's share of trial b's normalised weight at the step in `prev` (s_g e^{m_g − lse}).
fn block_share(b: u32, g: u32, lse: f32) -> f32 {
  let sb = stat_base(b) + g * 4u;
  return prev[sb + 1u] * exp(prev[sb] - lse);
}

// Tree reduction (sum, or max when `mx`) of GL partials in wg_*_in's order of pairwise combines.
fn tree_serial(v0: array<f32, WG>, GL: u32, mx: bool) -> f32 {
  var v = v0;
  for (var half = GL / 2u; half > 0u; half = half >> 1u) {
    for (var i = 0u; i < half; i++) { v[i] = select(v[i] + v[i + half], max(v[i], v[i + half]), mx); }
  }
  return v[0];
}

// logsumexp of trial b's log weights and Σ of its squared normalised weights at the step in `prev`, from the block
// partials: the GL lanes of each run of GL (member = their index in the run) reduce together, every lane gets the
// result (with SERIAL_COMBINE, member 0 alone). Each block's squared sum is rescaled by its share.
fn trial_lse_sumsq(b: u32, tid: u32, member: u32, GL: u32) -> vec2<f32> {
  let sb = stat_base(b);
  var res = vec2<f32>(0.0);
  if (SERIAL_COMBINE) {
    if (member == 0u) {
      var part = array<f32, WG>();
      for (var m = 0u; m < GL; m++) {
        var mx = -3.0e38;
        for (var g = m; g < p.nb; g += GL) { mx = max(mx, prev[sb + g * 4u]); }
        part[m] = mx;
      }
      let M = tree_serial(part, GL, true);
      for (var m = 0u; m < GL; m++) {
        var sa = 0.0;
        for (var g = m; g < p.nb; g += GL) { sa += prev[sb + g * 4u + 1u] * exp(prev[sb + g * 4u] - M); }
        part[m] = sa;
      }
      res.x = M + log(tree_serial(part, GL, false));
      for (var m = 0u; m < GL; m++) {
        var sq = 0.0;
        for (var g = m; g < p.nb; g += GL) {
          let share = block_share(b, g, res.x);
          sq += prev[sumsq_base(b) + g] * share * share;
        }
        part[m] = sq;
      }
      res.y = tree_serial(part, GL, false);
    }
  } else {
    var mx = -3.0e38;
    for (var g = member; g < p.nb; g += GL) { mx = max(mx, prev[sb + g * 4u]); }
    let M = wg_max_in(mx, tid, 1u, GL);
    var sa = 0.0;
    for (var g = member; g < p.nb; g += GL) { sa += prev[sb + g * 4u + 1u] * exp(prev[sb + g * 4u] - M); }
    res.x = M + log(wg_sum_in(sa, tid, 1u, GL));
    var sq = 0.0;
    for (var g = member; g < p.nb; g += GL) {
      let share = block_share(b, g, res.x);
      sq += prev[sumsq_base(b) + g] * share * share;
    }
    res.y = wg_sum_in(sq, tid, 1u, GL);
  }
  return res;
}

// Inclusive scan of trial b's block shares (times each block's last cumsum entry, ≈ 1) for blocks base … base + CH − 1
// into boff, continuing from `carry` (the scan of the blocks before); returns the carry for the next chunk (with
// SERIAL_COMBINE, to invocation 0 alone, which alone uses it). Uniform control flow (barriers); boff is ready when it
// returns.
fn scan_shares(b: u32, base: u32, lse: f32, carry: f32, tid: u32) -> f32 {
  if (SERIAL_COMBINE) {
    var next_carry = 0.0;
    if (tid == 0u) {
      // each invocation's running sums (into boff) and totals, then the Hillis–Steele scan of the totals
      var tot = array<f32, WG>();
      for (var l = 0u; l < WG; l++) {
        var run = 0.0;
        for (var j = 0u; j < CITEMS; j++) {
          let g = base + l * CITEMS + j;
          if (g < p.nb) { run += block_share(b, g, lse) * prev[stat_base(b) + g * 4u + 2u]; }
          boff[l * CITEMS + j] = run;
        }
        tot[l] = run;
      }
      for (var off = 1u; off < WG; off = off * 2u) {
        for (var l = WG - 1u; l >= off; l--) { tot[l] = tot[l] + tot[l - off]; }
      }
      for (var l = 0u; l < WG; l++) {
        var excl = carry;
        if (l > 0u) { excl += tot[l - 1u]; }
        for (var j = 0u; j < CITEMS; j++) { boff[l * CITEMS + j] = excl + boff[l * CITEMS + j]; }
      }
      next_carry = carry + tot[WG - 1u];
    }
    workgroupBarrier();
    return next_carry;
  }
  var incl = array<f32, CITEMS>();
  var run = 0.0;
  for (var j = 0u; j < CITEMS; j++) {
    let g = base + tid * CITEMS + j;
    if (g < p.nb) { run += block_share(b, g, lse) * prev[stat_base(b) + g * 4u + 2u]; }
    incl[j] = run;
  }
  // Hillis–Steele scan of the invocations' totals
  wg_f32[tid] = run;
  workgroupBarrier();
  for (var off = 1u; off < WG; off = off * 2u) {
    var v = wg_f32[tid];
    if (tid >= off) { v = v + wg_f32[tid - off]; }
    workgroupBarrier();
    wg_f32[tid] = v;
    workgroupBarrier();
  }
  var excl = carry;
  if (tid > 0u) { excl += wg_f32[tid - 1u]; }
  for (var j = 0u; j < CITEMS; j++) { boff[tid * CITEMS + j] = excl + incl[j]; }
  let next_carry = carry + wg_f32[WG - 1u];
  workgroupBarrier();
  return next_carry;
}

// LANE_COMBINE: blocks per invocation in a chunk of the scan (WG of them per chunk).
fn lane_items() -> u32 { return min(CITEMS, (p.nb + WG - 1u) / WG); }

// LANE_COMBINE: logsumexp of trial b's log weights at the step in `prev`, to every invocation: each reduces the blocks
// tid, tid + WG, … (max, then Σ relative to it), then every one combines the WG pairs in lane order.
fn lane_lse(b: u32, tid: u32) -> f32 {
  let sb = stat_base(b);
  var m = -3.0e38;
  for (var g = tid; g < p.nb; g += WG) { m = max(m, prev[sb + g * 4u]); }
  var s = 0.0;
  for (var g = tid; g < p.nb; g += WG) { s += prev[sb + g * 4u + 1u] * exp(prev[sb + g * 4u] - m); }
  wg_vec2[tid] = vec2<f32>(m, s);
  workgroupBarrier();
  var mx = -3.0e38;
  for (var l = 0u; l < WG; l++) { mx = max(mx, wg_vec2[l].x); }
  var sum = 0.0;
  for (var l = 0u; l < WG; l++) {
    let v = wg_vec2[l];
    sum += v.y * exp(v.x - mx);
  }
  workgroupBarrier();
  return mx + log(sum);
}

// LANE_COMBINE: one chunk (WG · lane_items() blocks from `base`) of trial b's block shares (times each block's last
// cumsum entry): invocation tid scans lane_items() consecutive blocks, then every invocation adds up the WG runs in lane
// order. Returns, to every invocation, the offset after the chunk (continuing from `carry`) and the chunk's Σ of squared
// normalised weights; with `fill`, the chunk's inclusive scan into boff (ready when it returns). The offset after the
// chunk is computed as its last block's (the same additions), so a single chunk's total is exactly its last offset.
fn lane_scan(b: u32, base: u32, lse: f32, carry: f32, tid: u32, fill: bool) -> vec2<f32> {
  let ci = lane_items();
  var run = 0.0;
  var sq = 0.0;
  for (var j = 0u; j < ci; j++) {
    let g = base + tid * ci + j;
    if (g < p.nb) {
      let share = block_share(b, g, lse);
      sq += prev[sumsq_base(b) + g] * share * share;
      run += share * prev[stat_base(b) + g * 4u + 2u];
    }
    if (fill) { boff[tid * ci + j] = run; }
  }
  wg_vec2[tid] = vec2<f32>(run, sq);
  workgroupBarrier();
  var c = carry;
  var excl = carry;
  var sqt = 0.0;
  for (var l = 0u; l < WG; l++) {
    let v = wg_vec2[l];
    if (l == tid) { excl = c; }
    c += v.x;
    sqt += v.y;
  }
  if (fill) {
    for (var j = 0u; j < ci; j++) { boff[tid * ci + j] = excl + boff[tid * ci + j]; }
  }
  workgroupBarrier();
  return vec2<f32>(c, sqt);
}

// Ancestor of an output in block g of trial b whose goal (position × the last block offset) is `goal`, with the
// block's share and the offset of the blocks before it; the search starts at `start` (≥ the block's first particle,
// ≤ the answer).
fn ancestor_in_block(b: u32, g: u32, share: f32, excl: f32, goal: f32, start: u32) -> u32 {
  let last = min(p.K, g * BS + BS) - 1u;
  // A block with no weight is only reached through rounding at the very end: take its last particle.
  var lgoal = 3.0e38;
  if (share > 0.0) { lgoal = (goal - excl) / share; }
  return walk_prev(lcum_base(b), start, last, lgoal);
}

// Ancestors of the workgroup's outputs when resampling step s (state in `prev`): invocation tid resolves the PB
// consecutive outputs tid·PB … of its block slot (tstat: the slot's lse and decision), one search then walks forward,
// into sanc. Uniform control flow (the chunked scan of the block offsets has barriers). LANE_COMBINE: `lane_total` is
// the trial's last block offset, and boff already holds the scan when it takes one chunk.
fn resolve_ancestors(w0: u32, s: u32, tid: u32, lane_total: f32) {
  let i0 = tid * PB;
  let slot = i0 / BS;
  let sl = slot_of(w0, p.Bc * p.nb, slot * PBB, 0u);
  let b = sl.b;
  let bg = p.b0 + b;
  let k0 = sl.g * BS + i0 % BS;
  let lse = tstat[2u * slot];
  let resampling = sl.valid && tstat[2u * slot + 1u] != 0.0;
  let lc = lcum_base(b);
  let stratified = p.resample == RESAMPLE_STRATIFIED;
  var u = resample_u(bg, s, k0);
  if (p.nb == 1u) {
    // One block: its cumsum is the trial's (as in the fused kernel).
    let total = prev[lc + p.K - 1u];
    var a = 0u;
    for (var j = 0u; j < PB; j++) {
      let k = k0 + j;
      if (resampling && k < p.K) {
        if (stratified && j > 0u) { u = resample_u(bg, s, k); }
        a = walk_prev(lc, a, p.K - 1u, (f32(k) + u) / f32(p.K) * total);
        sanc[i0 + j] = a;
      }
    }
    return;
  }
  // Several blocks (then TP = 1): the offsets chunk by chunk. The goals scale with the last block's offset, so a
  // first pass finds it (the chunks are scanned again below unless there is only one; LANE_COMBINE: the combine's).
  var carry = 0.0;
  var total = lane_total;
  var chunk = WG * lane_items();
  if (!LANE_COMBINE) {
    chunk = CH;
    for (var base = 0u; base < p.nb; base += CH) { carry = scan_shares(b, base, lse, carry, tid); }
    total = boff[(p.nb - 1u) % CH];
  }
  carry = 0.0;
  var before = 0.0; // offset of the last block of the previous chunks
  var j = 0u; // the invocation's next unresolved output
  var a = 0u; // its previous ancestor, that ancestor's block, the block's share and the offset before it
  var ga = p.nb;
  var share = 0.0;
  var excl = 0.0;
  for (var base = 0u; base < p.nb; base += chunk) {
    if (p.nb > chunk) {
      if (LANE_COMBINE) {
        carry = lane_scan(b, base, lse, carry, tid, true).x;
      } else {
        carry = scan_shares(b, base, lse, carry, tid);
      }
    }
    let n = min(chunk, p.nb - base);
    let top = boff[n - 1u];
    let final_chunk = base + chunk >= p.nb;
    loop {
      let k = k0 + j;
      if (!resampling || j >= PB || k >= p.K) { break; }
      if (stratified && j > 0u) { u = resample_u(bg, s, k); }
      let goal = (f32(k) + u) / f32(p.K) * total;
      if (goal > top && !final_chunk) { break; }
      // the first block of the chunk whose offset reaches the goal (the last if none): a binary search, or a walk on
      // from the previous output's block
      var i = 0u;
      if (ga >= base && ga < base + n) {
        i = ga - base;
        while (i + 1u < n && boff[i] < goal) { i++; }
      } else {
        var hi = n - 1u;
        while (i < hi) {
          let mid = (i + hi) / 2u;
          if (boff[mid] < goal) { i = mid + 1u; } else { hi = mid; }
        }
      }
      let g = base + i;
      var start = g * BS;
      if (g == ga) {
        start = a;
      } else {
        share = block_share(b, g, lse);
        excl = before;
        if (i > 0u) { excl = boff[i - 1u]; }
        ga = g;
      }
      a = ancestor_in_block(b, g, share, excl, goal, start);
      sanc[i0 + j] = a;
      j++;
    }
    before = top;
    workgroupBarrier(); // boff is rewritten by the next chunk
  }
}

@compute @workgroup_size(WG)
fn propagate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // No early return before the unit loop but the final pass's: it runs in uniform control flow for every group
  // (grid padding groups compute on trial 0 and write nothing).
  let w0 = (wid.x + wid.y * nwg.x) * TP;
  let valid = w0 < p.Bc * p.nb; // the workgroup's first block: every block of a padding group is invalid
  let tid = lid.x;
  let K = p.K;
  let t = p.t;
  // the trials of the workgroup's blocks (their inputs and observations)
  var bgs = array<u32, TP>();
  for (var s = 0u; s < TP; s++) { bgs[s] = p.b0 + slot_of(w0, p.Bc * p.nb, s * PBB, tid).b; }
  if (t > 0u) {
    // The combine of step t − 1 for the trial of each block slot (its GL = WG / TP invocations reduce together).
    let GL = WG / TP;
    let own = slot_of(w0, p.Bc * p.nb, (tid / GL) * PBB, 0u);
    var stats = vec2<f32>(0.0);
    var total = 0.0; // LANE_COMBINE: the trial's last block offset
    if (LANE_COMBINE) {
      // (one block slot: TP = 1) logsumexp, then the scan of the block offsets with the squared sums in the same pass
      stats.x = lane_lse(own.b, tid);
      let chunk = WG * lane_items();
      for (var base = 0u; base < p.nb; base += chunk) {
        let r = lane_scan(own.b, base, stats.x, total, tid, p.nb <= chunk);
        total = r.x;
        stats.y += r.y;
      }
    } else {
      stats = trial_lse_sumsq(own.b, tid, tid % GL, GL);
    }
    if (tid % GL == 0u) {
      let resample = resample_decision(t - 1u, p.ess_frac >= 1.0 || 1.0 / stats.y < p.ess_frac * f32(K));
      tstat[2u * (tid / GL)] = stats.x;
      tstat[2u * (tid / GL) + 1u] = select(0.0, 1.0, resample);
      if (own.valid && own.g == 0u) {
        let bg = p.b0 + own.b;
        acc[bg] = acc[bg] + (stats.x - log(f32(K)));
        if ((p.flags & STEP_FLAG_PATHS) != 0u) { paths[flagidx(bg, t - 1u)] = select(0.0, 1.0, resample); }
      }
    }
    workgroupBarrier();
    resolve_ancestors(w0, t - 1u, tid, total);
    workgroupBarrier();
  }
  // resampling of step t−1 (or the carried weight) and its normalised weights in the paths, per particle of this
  // invocation
  var zin = array<f32, PB * R>();
  var carry = array<f32, PB>();
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(w0, p.Bc * p.nb, q, tid);
    let b = sl.b;
    let bg = p.b0 + b;
    let k = sl.k;
    if (t > 0u && k < K && sl.valid) {
      let lse = tstat[2u * (q / PBB)];
      var a = k;
      if (tstat[2u * (q / PBB) + 1u] != 0.0) {
        a = sanc[(q / PBB) * BS + (q % PBB) * WG + tid];
      } else if (!prior_step(t - 1u)) {
        carry[q] = prev[lw_base(b) + k] - lse + log(f32(K));
      }
      if ((p.flags & STEP_FLAG_ANC) != 0u) { anc[ancidx(bg, t - 1u, k)] = a; }
      if ((p.flags & STEP_FLAG_PATHS) != 0u) {
        let wi = widx(bg, t - 1u, k);
        paths[wi] = exp(paths[wi] - lse);
      }
      for (var r = 0u; r < R; r++) { zin[q * R + r] = prev[(b * K + a) * R + r]; }
    }
  }
  if (t >= p.T) { return; } // the final pass only combines (and resamples) step T − 1
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
  if (!valid) { return; }
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
        paths[widx(bg, t, k)] = lw; // normalised by the next pass, once the trial's lse is known
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
  }
  workgroupBarrier();
  for (var q = 0u; q < PB; q++) {
    let sl = slot_of(w0, p.Bc * p.nb, q, tid);
    if (sl.k < K && sl.valid) { next[lcum_base(sl.b) + sl.k] = sw[q * WG + tid]; }
  }
}
