/**
 * Float64 host views of a model's latent dynamics, for describing teachers and checking students: one
 * noiseless step of the latent map, its limit cycle, and the transition noise in latent and in
 * observation space.
 */
import { phi } from '../ops/nonlin.js';
import { effectiveReadout, hostNoiseFactor, type HostParams, type ModelConfig } from '../models/lowrank-rnn.js';

/** Σz = L Lᵀ of the transition noise in float64 ([R,R]). */
export function transitionCovariance(config: ModelConfig, params: HostParams): Float64Array {
  const R = config.rank;
  const L = hostNoiseFactor(config, params.noiseZ);
  const S = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) for (let k = 0; k < R; k++) S[i * R + j] += L[i * R + k] * L[j * R + k];
  return S;
}

/**
 * tr(Bᵀ Σz B): the transition noise seen in observation (pre-link) space, summed over channels (B the
 * effective readout, diag(B_o) m for one-to-one models).
 * Latents are identified only up to an invertible map z → A z, under which Σz → A Σz Aᵀ and
 * Bᵀ → Bᵀ A⁻¹, so this product is the same for every equivalent model while Σz itself is not.
 */
export function observedTransitionNoise(config: ModelConfig, params: HostParams): number {
  const R = config.rank;
  const S = transitionCovariance(config, params);
  const B = effectiveReadout(config, params).B;
  let tr = 0;
  for (let d = 0; d < config.obsDim; d++) {
    for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) tr += B[d * R + i] * S[i * R + j] * B[d * R + j];
  }
  return tr;
}

/** One noiseless step of the latent map z' = a z + nᵀ φ(m z + Wu u; h) in float64. */
export function latentStep(config: ModelConfig, params: HostParams, z: ArrayLike<number>, u?: ArrayLike<number>): Float64Array {
  const { rank: R, units: N, inputDim: DU } = config;
  const a = Math.exp(-Math.exp(params.thetaA[0]));
  const out = new Float64Array(R);
  for (let r = 0; r < R; r++) out[r] = a * z[r];
  for (let i = 0; i < N; i++) {
    let x = 0;
    for (let r = 0; r < R; r++) x += params.m[i * R + r] * z[r];
    if (u) for (let j = 0; j < DU; j++) x += params.wu[i * DU + j] * u[j];
    const f = phi(config.nonlinearity, x, params.h[i]);
    for (let r = 0; r < R; r++) out[r] += params.n[i * R + r] * f;
  }
  return out;
}

export interface LimitCycle {
  /** Period in steps (mean interval between upward crossings of the first latent's mean level). */
  period: number;
  /** Range of |z| over the recorded cycles. */
  radiusMin: number;
  radiusMax: number;
  /** |z| after a tiny kick at the origin grew (the origin is unstable). */
  originUnstable: boolean;
}

/**
 * Run the noiseless autonomous latent map from near the origin, drop `burnIn` steps and measure the
 * attractor: a limit cycle shows a bounded, non-zero radius and regular crossings. Throws if no
 * oscillation is found (decay to a fixed point or divergence).
 */
export function limitCycle(config: ModelConfig, params: HostParams, burnIn = 2000, steps = 2000): LimitCycle {
  const R = config.rank;
  let z: Float64Array = new Float64Array(R);
  z[0] = 1e-3;
  const kick = Math.hypot(...z);
  let early = 0;
  const first = new Float64Array(steps);
  let rMin = Infinity;
  let rMax = 0;
  for (let t = 0; t < burnIn + steps; t++) {
    z = latentStep(config, params, z);
    const r = Math.hypot(...z);
    if (!Number.isFinite(r) || r > 1e6) throw new Error('limit cycle: the latent map diverges');
    if (t === 50) early = r;
    if (t >= burnIn) {
      first[t - burnIn] = z[0];
      rMin = Math.min(rMin, r);
      rMax = Math.max(rMax, r);
    }
  }
  const mean = first.reduce((a, b) => a + b, 0) / steps;
  const ups: number[] = [];
  for (let t = 1; t < steps; t++) {
    const a = first[t - 1] - mean;
    const b = first[t] - mean;
    if (a < 0 && b >= 0) ups.push(t - 1 + a / (a - b));
  }
  if (ups.length < 3 || rMax < 1e-6) throw new Error('limit cycle: no sustained oscillation (the map settles to a fixed point)');
  return { period: (ups[ups.length - 1] - ups[0]) / (ups.length - 1), radiusMin: rMin, radiusMax: rMax, originUnstable: early > kick };
}
