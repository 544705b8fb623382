/**
 * Data from a teacher (./teachers.ts) with the GPU generator the students use, and the description of
 * the teacher a data set's sidecar records (configuration, true noise, frequency).
 */
import type { Engine } from '../gpu/engine.js';
import { LowRankRNN } from '../models/lowrank-rnn.js';
import { generate, type Generated } from './generate.js';
import { limitCycle, observedTransitionNoise, transitionCovariance, type LimitCycle } from './latent-dynamics.js';
import { spectralPeak } from './oscillation.js';
import type { Teacher } from './teachers.js';

export interface SimulateOptions {
  trials: number;
  steps: number;
  seed?: number;
  /** Inputs [trials, steps, DU]; default: the teacher's own stimuli (reach), else none. */
  inputs?: Float32Array;
}

export interface Simulation extends Generated {
  /** Inputs used, [trials, steps, DU] (null for autonomous runs). */
  inputs: Float32Array | null;
}

/**
 * Sample data from a teacher with the GPU generator: z_0 from the teacher's prior, latent noise
 * and sampled observations (Gaussian or Poisson). Data of a fitted model file are mapped back
 * through its normalisation.
 */
export async function simulateTeacher(engine: Engine, teacher: Teacher, opts: SimulateOptions): Promise<Simulation> {
  const { trials, steps } = opts;
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`simulate: trials must be a positive integer, got ${trials}`);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`simulate: steps must be a positive integer, got ${steps}`);
  const DU = teacher.config.inputDim;
  let inputs = opts.inputs ?? (DU > 0 && teacher.defaultInputs ? teacher.defaultInputs(trials, steps) : null);
  if (inputs && DU === 0) throw new Error(`simulate: teacher ${teacher.name} takes no inputs`);
  if (inputs && inputs.length !== trials * steps * DU) {
    throw new Error(`simulate: inputs have ${inputs.length} values, expected trials × steps × inputs = ${trials} × ${steps} × ${DU}`);
  }
  const model = new LowRankRNN(engine, teacher.config, teacher.params);
  try {
    const g = await generate(model, { steps, sequences: trials, inputs: inputs ?? undefined, seed: opts.seed ?? 0, initial: 'prior' });
    const norm = teacher.normalisation;
    if (norm) {
      const D = teacher.config.obsDim;
      for (const arr of [g.mean, g.sample]) for (let i = 0; i < arr.length; i++) arr[i] = arr[i] * norm.std[i % D] + norm.mean[i % D];
    }
    inputs ??= null;
    return { ...g, inputs };
  } finally {
    model.dispose();
  }
}

/** What a data set's sidecar says about its teacher: configuration, true noise, frequency. */
export function describeTeacher(teacher: Teacher, sim?: Simulation): Record<string, unknown> {
  const c = teacher.config;
  const p = teacher.params;
  const R = c.rank;
  const S = transitionCovariance(c, p);
  let cycle: LimitCycle | null;
  try {
    cycle = limitCycle(c, p);
  } catch {
    cycle = null; // no autonomous oscillation (fixed points, e.g. the reach teacher)
  }
  let dataPeak: number | null = null;
  if (sim && !sim.inputs && sim.T >= 32) {
    try {
      dataPeak = spectralPeak({ data: sim.sample, sequences: sim.S, time: sim.T, channels: c.obsDim }).frequency;
    } catch {
      dataPeak = null;
    }
  }
  return {
    teacher: teacher.name,
    kind: teacher.kind,
    config: { rank: R, units: c.units, obsDim: c.obsDim, inputDim: c.inputDim, nonlinearity: c.nonlinearity, obs: c.obs, obsNonlinearity: c.obsNonlinearity },
    decay: Math.exp(-Math.exp(p.thetaA[0])),
    noise: {
      latentCovariance: Array.from({ length: R }, (_, i) => Array.from(S.subarray(i * R, (i + 1) * R))),
      latentStd: Array.from({ length: R }, (_, i) => Math.sqrt(S[i * R + i])),
      observedTransitionNoise: observedTransitionNoise(c, p),
      obsStd: c.obs === 'gauss' ? Array.from(p.logVarX, (v) => Math.exp(v / 2)) : null,
    },
    frequency: {
      limitCycleFrequency: cycle ? 1 / cycle.period : null,
      limitCyclePeriod: cycle?.period ?? null,
      dataSpectralPeak: dataPeak,
    },
    notes: teacher.notes,
  };
}
