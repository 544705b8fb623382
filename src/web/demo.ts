/**
 * Demo models and data for the web app, built with the public API only (no DOM or Node APIs, so the
 * Node benchmark and tests use the same code): a simulated rank-2 oscillator "teacher", a teacher
 * file (e.g. teacher_reach_rank2.json) as a LowRankRNN for drawing its latent flow, and the small
 * fit configuration the browser test and the browser-vs-Node benchmark share.
 */
import {
  DEFAULT_CONFIG,
  LowRankRNN,
  generate,
  initialParams,
  type Dataset,
  type Engine,
  type FitProgress,
  type FitSessionOptions,
  type HostParams,
  type ModelConfig,
  type TeacherFile,
} from '../index.js';

export interface OscillatorOptions {
  units?: number;
  obsDim?: number;
  /** Steps per cycle of the linearised rotation. */
  period?: number;
  /** Spectral radius of the linearisation at the origin (> 1: tanh saturation gives a limit cycle). */
  growth?: number;
  /** Transition noise standard deviation. */
  noiseStd?: number;
  /** Observation noise standard deviation. */
  obsNoiseStd?: number;
  seed?: number;
}

/**
 * A rank-2 tanh network whose latent map linearises to growth·rotation(2π/period) at the origin:
 * with a = decay, the recurrent part needs Σ_i n_i m_iᵀ = K = growth·Rot − a·I, solved by
 * nᵀ = M (MᵀM)⁻¹ Kᵀ for random unit loadings M. Saturation of tanh bounds the orbit.
 */
export function oscillatorModel(engine: Engine, opts: OscillatorOptions = {}): LowRankRNN {
  const N = opts.units ?? 16;
  const D = opts.obsDim ?? 8;
  const period = opts.period ?? 25;
  const growth = opts.growth ?? 1.04;
  const config: ModelConfig = { ...DEFAULT_CONFIG, rank: 2, units: N, obsDim: D, nonlinearity: 'tanh', noise: 'diag' };
  const p = initialParams(config, opts.seed ?? 7);
  const a = config.initDecay;
  const th = (2 * Math.PI) / period;
  const K = [growth * Math.cos(th) - a, -growth * Math.sin(th), growth * Math.sin(th), growth * Math.cos(th) - a];
  // M = p.m [N,2] (uniform init); G = MᵀM, P = G⁻¹Kᵀ, nᵀ = M P.
  let g00 = 0,
    g01 = 0,
    g11 = 0;
  for (let i = 0; i < N; i++) {
    const m0 = p.m[2 * i],
      m1 = p.m[2 * i + 1];
    g00 += m0 * m0;
    g01 += m0 * m1;
    g11 += m1 * m1;
  }
  const det = g00 * g11 - g01 * g01;
  const gi = [g11 / det, -g01 / det, -g01 / det, g00 / det];
  const Kt = [K[0], K[2], K[1], K[3]];
  const P = [gi[0] * Kt[0] + gi[1] * Kt[2], gi[0] * Kt[1] + gi[1] * Kt[3], gi[2] * Kt[0] + gi[3] * Kt[2], gi[2] * Kt[1] + gi[3] * Kt[3]];
  for (let i = 0; i < N; i++) {
    const m0 = p.m[2 * i],
      m1 = p.m[2 * i + 1];
    p.n[2 * i] = m0 * P[0] + m1 * P[2];
    p.n[2 * i + 1] = m0 * P[1] + m1 * P[3];
  }
  p.h.fill(0);
  p.mu0.set([1, 0]);
  p.noiseZ.fill(2 * Math.log(opts.noiseStd ?? 0.05));
  p.noiseZ0.fill(2 * Math.log(0.3));
  p.logVarX.fill(2 * Math.log(opts.obsNoiseStd ?? 0.1));
  return new LowRankRNN(engine, config, p);
}

/** Sample a dataset (trials × time × channels) from a model, after a burn-in onto its attractor. */
export async function simulateDataset(model: LowRankRNN, trials: number, time: number, seed = 1): Promise<Dataset> {
  const g = await generate(model, { steps: time, sequences: trials, burnIn: 50, seed });
  return { data: g.sample, trials, time, channels: model.config.obsDim };
}

/**
 * A teacher file's latent map z' = (1−α) z + (α/N) n relu(m z + b_rec) as an autonomous LowRankRNN
 * (a = 1−α, nᵀ scaled by α/N, relu threshold h = −b_rec), with a dummy one-channel readout, so that
 * `generate` can draw its flow.
 */
export function teacherModel(engine: Engine, t: TeacherFile): LowRankRNN {
  const { N, R, alpha } = t;
  const config: ModelConfig = { ...DEFAULT_CONFIG, rank: R, units: N, obsDim: 1, nonlinearity: 'relu', noise: 'diag' };
  const p: HostParams = initialParams(config, 0);
  for (let i = 0; i < N; i++) {
    for (let r = 0; r < R; r++) {
      p.m[i * R + r] = t.m[i][r];
      p.n[i * R + r] = (t.n[r][i] * alpha) / N;
    }
    p.h[i] = -t.b_rec[i];
  }
  p.thetaA[0] = Math.log(-Math.log(1 - alpha));
  p.mu0.fill(0);
  return new LowRankRNN(engine, config, p);
}

/** Noise-free trajectories of a model's latent map from a ring of starting points. */
export async function latentFlow(model: LowRankRNN, starts: number, radius: number, steps: number): Promise<{ z: Float32Array; S: number; T: number }> {
  const R = model.config.rank;
  const states = new Float32Array(starts * R);
  for (let s = 0; s < starts; s++) {
    const phi = (2 * Math.PI * s) / starts;
    states[s * R] = radius * Math.cos(phi);
    if (R > 1) states[s * R + 1] = radius * Math.sin(phi);
    if (R > 2) states[s * R + 2] = radius * 0.5 * Math.sin(3 * phi);
  }
  const g = await generate(model, { steps, sequences: starts, initial: { states }, noiseScale: 0 });
  return { z: g.z, S: starts, T: steps };
}

/** Rows [start, start + length) of a (time, channel) array: the bundled EEG demo slice. */
export function sliceRows(data: ArrayLike<number>, channels: number, start: number, length: number): Float32Array {
  const out = new Float32Array(length * channels);
  for (let i = 0; i < out.length; i++) out[i] = data[start * channels + i];
  return out;
}

/** Time steps of the bundled EEG slice (160 Hz: 5 s) and its source rows. */
export const EEG_DEMO = { file: 'eeg-demo.npy', start: 0, steps: 800, channels: 64 } as const;

/**
 * The small configuration the browser test fits and the browser-vs-Node benchmark times
 * (SwiftShader and lavapipe are software adapters: keep it tiny).
 */
export const SMALL_FIT = {
  model: { rank: 2, units: 16 },
  fit: { iterations: 12, particles: 8, batch: 4, window: 50, proposal: 'optimal', seed: 1, lr: 0.01, lrEnd: 0.005, logEvery: 1 } satisfies FitSessionOptions,
} as const;

/**
 * Fit speed from progress events: iterations per second from the median interval between events
 * after the first (which includes kernel compilation; a pause inflates one interval only), and
 * particle steps per second (iterations × batch × particles × window).
 */
export function fitSpeed(
  progress: readonly FitProgress[],
  shape: { batch: number; particles: number; window: number },
): { iterationsPerSecond: number; particleStepsPerSecond: number } | null {
  if (progress.length < 2) return null;
  const perIteration = progress
    .slice(1)
    .map((p, i) => (p.secondsElapsed - progress[i].secondsElapsed) / Math.max(1, p.iteration - progress[i].iteration))
    .sort((a, b) => a - b);
  const iterationsPerSecond = 1 / Math.max(1e-9, perIteration[perIteration.length >> 1]);
  return { iterationsPerSecond, particleStepsPerSecond: iterationsPerSecond * shape.batch * shape.particles * shape.window };
}
