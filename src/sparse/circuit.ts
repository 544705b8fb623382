/**
 * Ground-truth "biological" circuit for the sparse-neuron experiments: a stability-optimised E/I rate
 * network (Hennequin et al. 2014, parameters after Stroud et al. 2018) as a motor-cortex model, run in
 * float64 on the CPU. Reach conditions start from different preparatory states in the span of the
 * most amplified directions; muscle-like outputs are a linear readout of the excitatory rates.
 * Everything is a deterministic function of the options (seeded).
 */
import { EigenvalueDecomposition } from 'ml-matrix';
import { lyapunovPairInSchurBasis, realSchur, solveLyapunovPair, toMatrix } from './linalg.js';
import { matmul } from '../util/dense.js';
import { normalSampler } from '../util/random.js';

export interface SocOptions {
  /** Neurons (default 200); the first `excitatoryFraction` of them are excitatory. */
  n?: number;
  excitatoryFraction?: number;
  /** Connection probability of the initial random matrix (default 0.1). */
  connectionProbability?: number;
  /** Approximate initial spectral radius R (default 10). */
  radius?: number;
  /** Inhibition/excitation strength ratio γ (default 3). */
  gamma?: number;
  /** Stop when the spectral abscissa is at most this (default 0.15). */
  targetAbscissa?: number;
  /** Step size η on the inhibitory weights (default 10). */
  learningRate?: number;
  /** Fraction of inhibitory weights kept non-zero (default 0.4). */
  inhibitoryDensity?: number;
  /**
   * Iteration cap (default 300, about 0.1 s of CPU per iteration at n = 200). If the target is not
   * reached the circuit is returned as long as it is stable (abscissa < 1); see `Soc.abscissa`.
   */
  maxIterations?: number;
  seed?: number;
}

export interface Soc {
  n: number;
  /** Number of excitatory neurons (indices 0 … ne−1). */
  ne: number;
  /** Row-major n × n weights; column j holds neuron j's outgoing weights (Dale's law on columns). */
  w: Float64Array;
  initialAbscissa: number;
  /** Final spectral abscissa of W (the target is met when ≤ targetAbscissa). */
  abscissa: number;
  iterations: number;
}

const abscissaOf = (re: Float64Array) => re.reduce((m, v) => Math.max(m, v), -Infinity);

/** Build the SOC: random sparse E/I matrix, then gradient descent of the smoothed spectral abscissa on the inhibitory weights. */
export function stabilityOptimisedCircuit(options: SocOptions = {}): Soc {
  const n = options.n ?? 200;
  const ne = Math.round(n * (options.excitatoryFraction ?? 0.5));
  const p = options.connectionProbability ?? 0.1;
  const radius = options.radius ?? 10;
  const gamma = options.gamma ?? 3;
  const target = options.targetAbscissa ?? 0.15;
  const eta = options.learningRate ?? 10;
  const density = options.inhibitoryDensity ?? 0.4;
  const maxIterations = options.maxIterations ?? 300;
  if (!Number.isInteger(n) || n < 4) throw new Error(`circuit: n must be an integer ≥ 4 (got ${n})`);
  if (ne < 1 || ne >= n) throw new Error(`circuit: excitatoryFraction must leave at least one E and one I neuron (got ${ne} of ${n})`);
  if (!(p > 0 && p <= 1)) throw new Error(`circuit: connectionProbability must be in (0, 1] (got ${p})`);
  const rng = normalSampler(options.seed ?? 1);
  const w0 = (Math.SQRT2 * radius) / Math.sqrt(p * (1 - p) * (1 + gamma * gamma));
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j || rng.uniform() >= p) continue;
      w[i * n + j] = j < ne ? w0 / Math.sqrt(n) : (-gamma * w0) / Math.sqrt(n);
    }
  }
  const ident2 = new Float64Array(n * n);
  for (let i = 0; i < n; i++) ident2[i * n + i] = 2;
  // One real Schur form W = U T Uᵀ per iteration gives the spectral abscissa and both Lyapunov solves.
  let schur = realSchur(w, n);
  const initialAbscissa = abscissaOf(schur.re);
  let alpha = initialAbscissa;
  let iterations = 0;
  while (alpha > target) {
    if (iterations >= maxIterations) {
      // The dynamics matrix W − I must at least be stable; short of the target is reported, not fatal.
      if (alpha >= 1) {
        throw new Error(
          `circuit: stability optimisation left the network unstable after ${maxIterations} iterations (spectral abscissa ${alpha.toFixed(4)} ` +
            `≥ 1); raise maxIterations`,
        );
      }
      break;
    }
    iterations++;
    const s = Math.max(1.5 * alpha, alpha + 0.2);
    // Gradient of the smoothed spectral abscissa: Q P / tr(Q P), needed on inhibitory columns only. In the
    // Schur basis Q P = U (Q̃ P̃) Uᵀ and tr(Q P) = tr(Q̃ P̃).
    const { controllability: pt, observability: qt } = lyapunovPairInSchurBasis(schur, s, ident2);
    const qp = matmul(qt, pt, n);
    const uqp = matmul(schur.u, qp, n);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += qp[i * n + i];
    const u = schur.u;
    const gradient = new Float64Array(n - ne);
    for (let i = 0; i < n; i++) {
      const row = i * n;
      for (let j = ne; j < n; j++) {
        let g = 0;
        for (let k = 0; k < n; k++) g += uqp[row + k] * u[j * n + k];
        gradient[j - ne] = g;
      }
      for (let j = ne; j < n; j++) w[row + j] -= (eta * gradient[j - ne]) / trace;
    }
    // Inhibitory weights that turned positive are clipped to 0, then the other constraints apply.
    for (let i = 0; i < n; i++) for (let j = ne; j < n; j++) if (w[i * n + j] > 0) w[i * n + j] = 0;
    constrainInhibition(w, n, ne, gamma, density);
    schur = realSchur(w, n);
    alpha = abscissaOf(schur.re);
  }
  return { n, ne, w, initialAbscissa, abscissa: alpha, iterations };
}

/**
 * Project onto the constraints: clip positive inhibitory weights (done by the caller), mean
 * inhibition = γ × mean excitation per target population, only the strongest `density` of
 * inhibitory weights non-zero, no self-loops.
 */
function constrainInhibition(w: Float64Array, n: number, ne: number, gamma: number, density: number): void {
  for (const [r0, r1] of [
    [0, ne],
    [ne, n],
  ]) {
    let exc = 0;
    let inh = 0;
    for (let i = r0; i < r1; i++) {
      for (let j = 0; j < ne; j++) exc += w[i * n + j];
      for (let j = ne; j < n; j++) inh -= w[i * n + j];
    }
    if (inh > 0) {
      const scale = (gamma * exc * (n - ne)) / ne / inh;
      for (let i = r0; i < r1; i++) for (let j = ne; j < n; j++) w[i * n + j] *= scale;
    }
  }
  const mags: number[] = [];
  for (let i = 0; i < n; i++) for (let j = ne; j < n; j++) if (i !== j) mags.push(-w[i * n + j]);
  mags.sort((x, y) => y - x);
  const keep = Math.round(density * mags.length);
  const threshold = keep > 0 ? mags[keep - 1] : Infinity;
  for (let i = 0; i < n; i++) for (let j = ne; j < n; j++) if (-w[i * n + j] < threshold) w[i * n + j] = 0;
  for (let i = 0; i < n; i++) w[i * n + i] = 0;
}

export interface MotorOptions extends SocOptions {
  /** Reach conditions, centre-out directions θ_c = 2πc/C (default 8). */
  conditions?: number;
  /** Sample step in ms (default 2). */
  dt?: number;
  /** Circuit time constant in ms (default 200). */
  tau?: number;
  /** Preparatory period in ms: the state ramps from rest to the condition's initial state (default 100). */
  prepMs?: number;
  /** Movement epoch in ms: autonomous relaxation (default 500). */
  moveMs?: number;
  /** Muscle-like output channels (default 4). */
  muscles?: number;
  /** Largest |x0_i| of the preparatory states, in Hz (default 20). */
  amplitude?: number;
  /** Rate function baseline and maximum, Hz (defaults 20 and 100). */
  r0?: number;
  rmax?: number;
  /** An already optimised circuit to use (e.g. from ./circuit-cache.ts) instead of optimising one from the options. */
  soc?: Soc;
}

export interface MotorData {
  soc: Soc;
  conditions: number;
  /** Samples per trial (prep + movement). */
  time: number;
  prepSamples: number;
  dt: number;
  tau: number;
  muscles: number;
  angles: number[];
  /** conditions × time × n rates relative to baseline (Hz). */
  rates: Float64Array;
  /** conditions × time × muscles outputs. */
  outputs: Float64Array;
  /** conditions × time × 2 learner inputs: (cos θ, sin θ) during preparation, 0 during movement. */
  inputs: Float64Array;
  /** conditions × n preparatory states. */
  initialStates: Float64Array;
  /** muscles × ne readout weights on the excitatory rates. */
  readout: Float64Array;
  /** The rate function's baseline and maximum (Hz) that made `rates`. */
  rate: RateShape;
}

/**
 * Asymmetric tanh rate (relative to baseline r0, saturating at rmax): r0 tanh(x/r0) below 0,
 * (rmax − r0) tanh(x/(rmax − r0)) above. tanh itself is r0 = 1, rmax = 2; c f(x/c) is f with r0, rmax × c.
 */
export function rateFunction(x: number, r0: number, rmax: number): number {
  return x < 0 ? r0 * Math.tanh(x / r0) : (rmax - r0) * Math.tanh(x / (rmax - r0));
}

/** The saturation levels of a rate function (rateFunction): −r0 below baseline, rmax − r0 above. */
export interface RateShape {
  r0: number;
  rmax: number;
}

/** tanh as a rate function: saturating at ±1. */
export const TANH_RATE: RateShape = { r0: 1, rmax: 2 };

/** Inverse of rateFunction: the x with f(x) = r, for −r0 < r < rmax − r0. */
export function rateFunctionInverse(r: number, r0: number, rmax: number): number {
  const s = r < 0 ? r0 : rmax - r0;
  if (!(Math.abs(r) < s)) throw new Error(`rate function inverse: rate ${r} is outside the open range (${-r0}, ${rmax - r0})`);
  return s * Math.atanh(r / s);
}

/** Slope f′(x) of rateFunction at the x where f(x) = r, written in the rate as tanh′ = 1 − tanh². */
export function rateFunctionSlope(r: number, r0: number, rmax: number): number {
  const s = r < 0 ? r0 : rmax - r0;
  return 1 - (r / s) ** 2;
}

/**
 * Simulate the motor circuit: each condition's preparatory state lies in the plane of the two most
 * amplified directions (top eigenvectors of the observability Gramian of W − I) at angle θ_c; the
 * state ramps to it during preparation, then relaxes autonomously (τ ẋ = −x + W f(x)).
 */
export function simulateMotor(options: MotorOptions = {}): MotorData {
  const conditions = options.conditions ?? 8;
  const dt = options.dt ?? 2;
  const tau = options.tau ?? 200;
  const muscles = options.muscles ?? 4;
  const amplitude = options.amplitude ?? 20;
  const r0 = options.r0 ?? 20;
  const rmax = options.rmax ?? 100;
  const prepSamples = Math.round((options.prepMs ?? 100) / dt);
  const moveSamples = Math.round((options.moveMs ?? 500) / dt);
  if (!Number.isInteger(conditions) || conditions < 1) throw new Error(`simulate-motor: conditions must be a positive integer (got ${conditions})`);
  if (!Number.isInteger(muscles) || muscles < 1) throw new Error(`simulate-motor: muscles must be a positive integer (got ${muscles})`);
  if (!(dt > 0 && dt < tau)) throw new Error(`simulate-motor: dt must be positive and below tau (got dt ${dt}, tau ${tau})`);
  if (moveSamples < 2) throw new Error(`simulate-motor: the movement epoch must span at least 2 samples (moveMs ${options.moveMs}, dt ${dt})`);
  const soc = options.soc ?? stabilityOptimisedCircuit(options);
  const { n, ne, w } = soc;
  // Observability Gramian of the linearised dynamics W − I: its top eigenvectors are the initial
  // states that the transient amplification grows most.
  const c2 = new Float64Array(n * n);
  for (let i = 0; i < n; i++) c2[i * n + i] = 2;
  const a = new Float64Array(w);
  for (let i = 0; i < n; i++) a[i * n + i] -= 1;
  const { observability } = solveLyapunovPair(a, n, c2);
  const qe = new EigenvalueDecomposition(toMatrix(observability, n), { assumeSymmetric: true });
  const order = qe.realEigenvalues.map((_, i) => i).sort((i, j) => qe.realEigenvalues[j] - qe.realEigenvalues[i]);
  const dir1 = Float64Array.from({ length: n }, (_, i) => qe.eigenvectorMatrix.get(i, order[0]));
  const dir2 = Float64Array.from({ length: n }, (_, i) => qe.eigenvectorMatrix.get(i, order[1]));
  const time = prepSamples + moveSamples;
  const angles = Array.from({ length: conditions }, (_, c) => (2 * Math.PI * c) / conditions);
  const initialStates = new Float64Array(conditions * n);
  let peak = 0;
  for (let c = 0; c < conditions; c++) {
    for (let i = 0; i < n; i++) {
      const v = Math.cos(angles[c]) * dir1[i] + Math.sin(angles[c]) * dir2[i];
      initialStates[c * n + i] = v;
      peak = Math.max(peak, Math.abs(v));
    }
  }
  for (let i = 0; i < initialStates.length; i++) initialStates[i] *= amplitude / peak;
  const rates = new Float64Array(conditions * time * n);
  const inputs = new Float64Array(conditions * time * 2);
  const x = new Float64Array(n);
  const r = new Float64Array(n);
  for (let c = 0; c < conditions; c++) {
    for (let t = 0; t < time; t++) {
      if (t < prepSamples) {
        // Smooth ramp from rest to the preparatory state (held by an implicit input).
        const ramp = prepSamples > 1 ? 0.5 - 0.5 * Math.cos((Math.PI * t) / (prepSamples - 1)) : 1;
        for (let i = 0; i < n; i++) x[i] = ramp * initialStates[c * n + i];
        inputs[(c * time + t) * 2] = Math.cos(angles[c]);
        inputs[(c * time + t) * 2 + 1] = Math.sin(angles[c]);
      } else if (t > prepSamples) {
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += w[i * n + j] * r[j];
          x[i] += (dt / tau) * (-x[i] + s);
        }
      } else for (let i = 0; i < n; i++) x[i] = initialStates[c * n + i];
      for (let i = 0; i < n; i++) {
        r[i] = rateFunction(x[i], r0, rmax);
        rates[(c * time + t) * n + i] = r[i];
      }
    }
  }
  // Muscle-like outputs: random readout of the excitatory rates, each channel scaled to peak |m| = 1.
  const rng = normalSampler((options.seed ?? 1) + 7919);
  const readout = Float64Array.from({ length: muscles * ne }, () => rng.normal() / Math.sqrt(ne));
  const outputs = new Float64Array(conditions * time * muscles);
  for (let k = 0; k < muscles; k++) {
    let top = 0;
    for (let s2 = 0; s2 < conditions * time; s2++) {
      let m = 0;
      for (let i = 0; i < ne; i++) m += readout[k * ne + i] * rates[s2 * n + i];
      outputs[s2 * muscles + k] = m;
      top = Math.max(top, Math.abs(m));
    }
    if (top > 0) {
      for (let i = 0; i < ne; i++) readout[k * ne + i] /= top;
      for (let s2 = 0; s2 < conditions * time; s2++) outputs[s2 * muscles + k] /= top;
    }
  }
  return { soc, conditions, time, prepSamples, dt, tau, muscles, angles, rates, outputs, inputs, initialStates, readout, rate: { r0, rmax } };
}
