/**
 * Float64 CPU reference of the fused particle filter (shaders/smc_sequence.wgsl), fed the same
 * counter-based random numbers. It is the test oracle for the GPU filter's log-likelihood and, with the
 * ancestors held fixed, for its gradient (finite differences of this function).
 */
import { rngNormal4, rngUniform4 } from '../gpu/rng.js';
import { PURPOSE_NOISE, PURPOSE_RESAMPLE } from '../gpu/shared-constants.js';
import { phi } from '../ops/nonlin.js';
import { resampleThreshold, shouldResample, type Resampling, type SmcConfig } from './smc-layout.js';
import { priorStart } from './smc-host.js';
import { type ObsNonlinearity } from '../models/theta-layout.js';

/** The reference takes the GPU filter's configuration unchanged. */
export type FilterSpec = SmcConfig;

export interface FilterData {
  /** Observations [B,T,D]. */
  y: ArrayLike<number>;
  /** Inputs [B,T,DU] (empty when DU = 0). */
  v: ArrayLike<number>;
  /** Optimal proposal: per-step q_t and s_t packed as [q (B,T,R) | s (B,T)]; encoder: [mean (B,T,R) | log-variance (B,T,R)]. */
  qs?: ArrayLike<number>;
}

export interface FilterResult {
  /** Σ_t (logsumexp_k ℓ_tk − log K) per trial (without the optimal proposal's constant). */
  ll: Float64Array;
  z: Float64Array;
  mu: Float64Array;
  w: Float64Array;
  anc: Uint32Array;
  /** Whether the filter resampled after step t [B,T] (1/0; always 1 with the default threshold). */
  resampled: Uint8Array;
}

export function psiRef(kind: ObsNonlinearity, eta: number): number {
  switch (kind) {
    case 'softplus':
      return Math.max(eta, 0) + Math.log1p(Math.exp(-Math.abs(eta))) + 1e-6;
    case 'exp':
      return Math.exp(eta) + 1e-10;
    case 'relu':
      return Math.max(eta, 0) + 1e-10;
    default:
      return eta;
  }
}

/**
 * The filter; `fixedAncestors` replays given ancestors instead of resampling and `fixedResampled` given
 * ESS decisions [B,T] (for gradient checks: both are constants of the objective).
 */
export function referenceFilter(
  spec: FilterSpec,
  theta: ArrayLike<number>,
  data: FilterData,
  fixedAncestors?: ArrayLike<number>,
  fixedResampled?: ArrayLike<number>,
): FilterResult {
  const { layout, B, T, K, key, iter } = spec;
  const trial0 = spec.trial0 ?? 0;
  const { R, N, D, DU } = layout.dims;
  const o = layout.offsets;
  if (layout.rates && spec.proposal === 'optimal') throw new Error('referenceFilter: the readout from the rates (layout.rates) needs the bootstrap proposal');
  const a = Math.exp(-Math.exp(theta[o.a]));
  const chunks = Math.ceil(R / 4);
  const ll = new Float64Array(B);
  const zAll = new Float64Array(B * T * K * R);
  const muAll = new Float64Array(B * T * K * R);
  const wAll = new Float64Array(B * T * K);
  const ancAll = new Uint32Array(B * T * K);
  const resampledAll = new Uint8Array(B * T);
  const threshold = resampleThreshold(spec);
  // forward prediction from step tIn on: the transition alone, no resampling, no carried weights
  const tIn = priorStart(spec, 'referenceFilter');
  const lowerMatvec = (off: number, x: ArrayLike<number>) => {
    const out = new Float64Array(R);
    for (let r = 0; r < R; r++) for (let c = 0; c <= r; c++) out[r] += theta[off + r * R + c] * x[c];
    return out;
  };
  const matvec = (off: number, x: ArrayLike<number>) => {
    const out = new Float64Array(R);
    for (let r = 0; r < R; r++) for (let c = 0; c < R; c++) out[r] += theta[off + r * R + c] * x[c];
    return out;
  };
  for (let b = 0; b < B; b++) {
    let carried = new Float64Array(K * R);
    // log(K·W_{t−1,k}): 0 after a resampling, else the previous step's normalised log weight + log K
    let carriedLogW = new Float64Array(K);
    let total = 0;
    for (let t = 0; t < T; t++) {
      const lw = new Float64Array(K);
      const zt = new Float64Array(K * R);
      for (let k = 0; k < K; k++) {
        const mu = new Float64Array(R);
        if (t === 0) for (let r = 0; r < R; r++) mu[r] = theta[o.mu0 + r];
        else {
          const z = carried.subarray(k * R, k * R + R);
          for (let r = 0; r < R; r++) mu[r] = a * z[r];
          for (let i = 0; i < N; i++) {
            let x = 0;
            for (let r = 0; r < R; r++) x += theta[o.m + i * R + r] * z[r];
            for (let j = 0; j < DU; j++) x += theta[o.wu + i * DU + j] * data.v[(b * T + t - 1) * DU + j];
            const f = phi(spec.nonlinearity, x, theta[o.h + i]);
            for (let r = 0; r < R; r++) mu[r] += theta[o.n + i * R + r] * f;
          }
        }
        const xi = new Float64Array(R);
        for (let c = 0; c < chunks; c++) {
          const n4 = rngNormal4(key, [t * chunks + c, (trial0 + b) * K + k, PURPOSE_NOISE, iter]);
          for (let j = 0; j < 4 && c * 4 + j < R; j++) xi[c * 4 + j] = n4[j];
        }
        const z = zt.subarray(k * R, k * R + R);
        if (spec.proposal === 'optimal') {
          const qb = (b * T + t) * R;
          const sIdx = B * T * R + b * T + t;
          const qs = data.qs!;
          const gmu = matvec(o.G, mu);
          const rr = new Float64Array(R);
          for (let r = 0; r < R; r++) rr[r] = qs[qb + r] - gmu[r];
          const pr = matvec(t === 0 ? o.Sq0 : o.Sq, rr);
          const lx = lowerMatvec(t === 0 ? o.Lq0 : o.Lq, xi);
          let l = -0.5 * qs[sIdx];
          for (let r = 0; r < R; r++) {
            z[r] = mu[r] + pr[r] + lx[r];
            l += mu[r] * qs[qb + r] - 0.5 * mu[r] * gmu[r] + 0.5 * rr[r] * pr[r];
          }
          lw[k] = l;
        } else {
          let l = 0;
          if (spec.proposal === 'encoder' && t >= tIn) {
            // forward prediction: the transition N(μ, v_z) alone, so log N(z; μ, v_z) − log q(z) = 0
            const offL = t === 0 ? o.L0 : o.L;
            for (let r = 0; r < R; r++) z[r] = mu[r] + Math.abs(theta[offL + r * R + r]) * xi[r];
          } else if (spec.proposal === 'encoder') {
            // product of N(μ, v_z = L_rr²) and the encoder's N(m, v_e); l gets log N(z; μ, v_z) − log q(z)
            const offL = t === 0 ? o.L0 : o.L;
            for (let r = 0; r < R; r++) {
              const vz = theta[offL + r * R + r] ** 2;
              const em = data.qs![(b * T + t) * R + r];
              const ve = Math.exp(data.qs![B * T * R + (b * T + t) * R + r]);
              const vq = 1 / (1 / vz + 1 / ve);
              z[r] = vq * (mu[r] / vz + em / ve) + Math.sqrt(vq) * xi[r];
              const dz = z[r] - mu[r];
              l += (-0.5 * (dz * dz)) / vz - 0.5 * Math.log(vz) + 0.5 * xi[r] * xi[r] + 0.5 * Math.log(vq);
            }
          } else {
            const lx = lowerMatvec(t === 0 ? o.L0 : o.L, xi);
            for (let r = 0; r < R; r++) z[r] = mu[r] + lx[r];
          }
          for (let d = 0; d < D; d++) {
            let eta = theta[o.b + d];
            if (spec.readoutFromInputs) for (let j = 0; j < DU; j++) eta += theta[o.Bv + d * DU + j] * data.v[(b * T + t) * DU + j];
            if (layout.rates) {
              // one-to-one from the rates: B_o,d φ(x_d; h_d), x_d = (Wu v_t)_d + m_d·z
              let x = 0;
              for (let j = 0; j < DU; j++) x += theta[o.wu + d * DU + j] * data.v[(b * T + t) * DU + j];
              for (let r = 0; r < R; r++) x += theta[o.m + d * R + r] * z[r];
              eta += theta[o.Bo + d] * phi(spec.nonlinearity, x, theta[o.h + d]);
            } else for (let r = 0; r < R; r++) eta += theta[o.B + d * R + r] * z[r];
            const lam = psiRef(spec.obsNonlinearity, eta);
            const y = data.y[(b * T + t) * D + d];
            if (spec.obs === 'poisson') l += y * Math.log(lam) - lam;
            else {
              const lv = theta[o.lv + d];
              l += -0.5 * (y - lam) ** 2 * Math.exp(-lv) - 0.5 * lv - 0.5 * Math.log(2 * Math.PI);
            }
          }
          lw[k] = l;
        }
        const base = ((b * T + t) * K + k) * R;
        for (let r = 0; r < R; r++) {
          zAll[base + r] = z[r];
          muAll[base + r] = mu[r];
        }
      }
      for (let k = 0; k < K; k++) lw[k] += carriedLogW[k];
      let m = -Infinity;
      for (const v of lw) m = Math.max(m, v);
      let s = 0;
      for (const v of lw) s += Math.exp(v - m);
      total += m + Math.log(s) - Math.log(K);
      const w = Float64Array.from(lw, (v) => Math.exp(v - m) / s);
      wAll.set(w, (b * T + t) * K);
      let sumSq = 0;
      for (const v of w) sumSq += v * v;
      const resample = fixedResampled ? fixedResampled[b * T + t] !== 0 : t < tIn && (shouldResample(threshold, sumSq, K) || (t + 1 === tIn && tIn < T));
      resampledAll[b * T + t] = resample ? 1 : 0;
      const lse = m + Math.log(s);
      carriedLogW = resample || t >= tIn ? new Float64Array(K) : Float64Array.from(lw, (v) => v - lse + Math.log(K));
      // ancestors
      let anc: Uint32Array;
      if (fixedAncestors) anc = Uint32Array.from({ length: K }, (_, j) => fixedAncestors[(b * T + t) * K + j]);
      else if (!resample) anc = Uint32Array.from({ length: K }, (_, j) => j);
      else anc = resampleRef(spec.resampling, w, trial0 + b, t, K, key, iter);
      ancAll.set(anc, (b * T + t) * K);
      const next = new Float64Array(K * R);
      for (let j = 0; j < K; j++) for (let r = 0; r < R; r++) next[j * R + r] = zt[anc[j] * R + r];
      carried = next;
    }
    ll[b] = total;
  }
  return { ll, z: zAll, mu: muAll, w: wAll, anc: ancAll, resampled: resampledAll };
}

/** Resampling positions in [0, 1) (sorted), drawing the same uniforms as the WGSL kernel. */
export function resamplePositions(kind: Resampling, b: number, t: number, K: number, key: [number, number], iter: number): Float64Array {
  const pos = new Float64Array(K);
  if (kind === 'multinomial') {
    const e = Float64Array.from({ length: K + 1 }, (_, j) => -Math.log(rngUniform4(key, [t, b * (K + 1) + j, PURPOSE_RESAMPLE, iter])[0]));
    let s = 0;
    const ps = e.map((v) => (s += v));
    for (let j = 0; j < K; j++) pos[j] = ps[j] / ps[K];
  } else if (kind === 'stratified') {
    for (let j = 0; j < K; j++) pos[j] = (j + rngUniform4(key, [t, b * (K + 1) + j, PURPOSE_RESAMPLE, iter])[0]) / K;
  } else {
    const u = rngUniform4(key, [t, b, PURPOSE_RESAMPLE, iter])[0];
    for (let j = 0; j < K; j++) pos[j] = (j + u) / K;
  }
  return pos;
}

/** Sorted ancestors: the first i whose cumulative weight reaches each position. */
export function resampleRef(kind: Resampling, w: ArrayLike<number>, b: number, t: number, K: number, key: [number, number], iter: number): Uint32Array {
  const cum = new Float64Array(K);
  let acc = 0;
  for (let i = 0; i < K; i++) cum[i] = acc += w[i];
  const pos = resamplePositions(kind, b, t, K, key, iter);
  const anc = new Uint32Array(K);
  for (let j = 0; j < K; j++) {
    const goal = pos[j] * cum[K - 1];
    let lo = 0;
    let hi = K - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] < goal) lo = mid + 1;
      else hi = mid;
    }
    anc[j] = lo;
  }
  return anc;
}

/**
 * Largest violation, over all steps, of the rule "ancestor j is the first particle whose cumulative
 * weight reaches position j" for given ancestors and normalised weights (0 when exact). Float32
 * cumulative sums may flip near-ties, so a GPU run is checked against this with a small tolerance.
 * Steps that did not resample (`resampled` [B,T] is 0) must have the identity as ancestors.
 */
export function ancestorViolation(
  kind: Resampling,
  w: ArrayLike<number>,
  anc: ArrayLike<number>,
  B: number,
  T: number,
  K: number,
  key: [number, number],
  iter: number,
  resampled?: ArrayLike<number>,
): number {
  let worst = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const base = (b * T + t) * K;
      if (resampled && resampled[b * T + t] === 0) {
        for (let j = 0; j < K; j++) if (anc[base + j] !== j) worst = Math.max(worst, 1);
        continue;
      }
      const cum = new Float64Array(K);
      let acc = 0;
      for (let i = 0; i < K; i++) cum[i] = acc += w[base + i];
      const pos = resamplePositions(kind, b, t, K, key, iter);
      for (let j = 0; j < K; j++) {
        const goal = pos[j] * cum[K - 1];
        const a = anc[base + j];
        const lo = a > 0 ? cum[a - 1] : 0;
        // need lo < goal ≤ cum[a]
        worst = Math.max(worst, goal - cum[a], lo - goal);
      }
    }
  }
  return worst;
}
