/**
 * What the sparse-neuron trainers (full-FORCE in ./fullforce.ts, BPTT in ./bptt.ts) share: the task
 * they learn, the learner they return, the option defaults and checks, the sampled neurons and their
 * hint signals, and the time-major packing of signals for the GPU kernels.
 */
import { normalSampler } from '../util/random.js';
import type { RateShape } from './circuit.js';

/** A task as conditions × time arrays (row-major, last axis channels). */
export interface SparseTask {
  conditions: number;
  time: number;
  /** conditions × time × inputs */
  inputs: ArrayLike<number>;
  nInputs: number;
  /** conditions × time × outputs */
  outputs: ArrayLike<number>;
  nOutputs: number;
  /** conditions × time × neurons: the circuit's activity (hint source). */
  rates: ArrayLike<number>;
  nNeurons: number;
  /** The circuit's rate function that made `rates` (./circuit.ts rateFunction), when known. */
  rateFunction?: RateShape;
}

/** Options every sparse-neuron trainer shares. */
export interface SparseCommonOptions {
  /** Learner (and embedder) units (default 300). */
  n?: number;
  /** Time constant and step, same units (defaults 10 and 2: dt/τ = 0.2). */
  tau?: number;
  dt?: number;
  seed?: number;
  /** Sampled neurons: a count drawn at random (seeded) or explicit indices (default 0: outputs only). */
  sampled?: number | number[];
  /** Training conditions (default: all not held out) and held-out conditions (default none). */
  trainConditions?: number[];
  heldOut?: number[];
}

/** A trained learner RNN: τ dx/dt = −x + J r + Uin u, r = tanh x (or `rate`), outputs W r. */
export interface SparseRnn {
  n: number;
  tau: number;
  dt: number;
  nInputs: number;
  nOutputs: number;
  /** n × n recurrent weights. */
  J: Float32Array;
  /** nOutputs × n readout. */
  W: Float32Array;
  /** n × nInputs input weights. */
  Uin: Float32Array;
  /** Initial state of every trial. */
  xInit: Float32Array;
  /** The units' rate function r = rateFunction(x, rate.r0, rate.rmax) (./circuit.ts) when not tanh: the CURBD learner's. */
  rate?: RateShape;
  sampled: number[];
  trainConditions: number[];
  heldOut: number[];
  history: { trial: number; condition: number; outputMse: number; recurrentMse: number }[];
  /** Embedder convergence check: distance ratio of two copies (NaN when skipped). */
  chaosRatio: number;
  /** Teacher-forced embedder rates, training conditions × time × n (RLS fused path and ridge). */
  embedderRates?: Float32Array;
}

/**
 * Defaults and checks shared by the trainers: network size, time constants, the task's array sizes,
 * training and held-out conditions, and the sampled neurons (a seeded draw when given as a count).
 */
export function resolveSparseSetup(task: SparseTask, options: SparseCommonOptions) {
  const n = options.n ?? 300;
  const tau = options.tau ?? 10;
  const dt = options.dt ?? 2;
  const seed = options.seed ?? 1;
  const { conditions: C, time: T, nInputs: nin, nOutputs: m } = task;
  if (!Number.isInteger(n) || n < 2) throw new Error(`sparse training: network size n must be an integer ≥ 2 (got ${n})`);
  if (!(dt > 0 && tau > 0)) throw new Error(`sparse training: dt and tau must be positive (got dt ${dt}, tau ${tau})`);
  for (const [name, arr, ch] of [
    ['inputs', task.inputs, nin],
    ['outputs', task.outputs, m],
    ['rates', task.rates, task.nNeurons],
  ] as const) {
    if (arr.length !== C * T * ch) {
      throw new Error(`sparse training: task ${name} has ${arr.length} values, expected conditions × time × channels = ${C} × ${T} × ${ch}`);
    }
  }
  const heldOut = options.heldOut ?? [];
  const trainConds = options.trainConditions ?? Array.from({ length: C }, (_, c) => c).filter((c) => !heldOut.includes(c));
  for (const c of [...heldOut, ...trainConds]) {
    if (!Number.isInteger(c) || c < 0 || c >= C) throw new Error(`sparse training: condition ${c} out of range [0, ${C})`);
  }
  if (trainConds.length === 0) throw new Error('sparse training: no training conditions');
  const sampled =
    typeof options.sampled === 'number' || options.sampled === undefined
      ? sampleNeurons(task.nNeurons, options.sampled ?? 0, seed + 101)
      : [...options.sampled];
  for (const s of sampled) {
    if (!Number.isInteger(s) || s < 0 || s >= task.nNeurons) throw new Error(`sparse training: sampled neuron ${s} out of range [0, ${task.nNeurons})`);
  }
  return { n, tau, dt, seed, heldOut, trainConds, sampled };
}

/** Seeded choice of `count` distinct indices in [0, n). */
export function sampleNeurons(n: number, count: number, seed: number): number[] {
  if (!Number.isInteger(count) || count < 0 || count > n) throw new Error(`sampled neurons: count must be an integer in [0, ${n}] (got ${count})`);
  const rng = normalSampler(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, count).sort((a, b) => a - b);
}

/**
 * Cubic Hermite decay to zero over the last `tail` samples: starts with the signal's value and slope
 * at T − tail, ends at 0 with slope 0 at T − 1. Applied in place to one channel (stride apart).
 */
export function smoothTail(x: Float64Array, time: number, tail: number, offset = 0, stride = 1): void {
  if (tail <= 0) return;
  if (tail + 1 > time) throw new Error(`hint tail of ${tail} samples needs trials longer than ${tail + 1} samples (got ${time})`);
  const t0 = time - tail;
  const at = (t: number) => offset + t * stride;
  const v0 = x[at(t0)];
  const m0 = x[at(t0)] - x[at(t0 - 1)];
  const len = tail - 1;
  for (let t = t0; t < time; t++) {
    const s = len > 0 ? (t - t0) / len : 1;
    const h00 = 2 * s ** 3 - 3 * s ** 2 + 1;
    const h10 = s ** 3 - 2 * s ** 2 + s;
    x[at(t)] = v0 * h00 + m0 * len * h10;
  }
}

/** Hint signals: sampled neurons normalised to peak |r| = 1 over the given conditions, scaled, with the smooth tail. */
export function hintSignals(task: SparseTask, sampled: number[], conds: number[], scale: number, tail: number): Float64Array {
  const { time, nNeurons } = task;
  const k = sampled.length;
  const out = new Float64Array(conds.length * time * k);
  sampled.forEach((neuron, h) => {
    let peak = 0;
    for (const c of conds) for (let t = 0; t < time; t++) peak = Math.max(peak, Math.abs(task.rates[(c * time + t) * nNeurons + neuron]));
    const norm = peak > 0 ? scale / peak : 0;
    conds.forEach((c, ci) => {
      for (let t = 0; t < time; t++) out[(ci * time + t) * k + h] = norm * task.rates[(c * time + t) * nNeurons + neuron];
      smoothTail(out, time, tail, ci * time * k + h, k);
    });
  });
  return out;
}

/**
 * Signals laid out time-major (time × conds × channels), from blocks of conditions × time × channels.
 * A block with `conds: null` is indexed by position in `conds` (already subset).
 */
export function timeMajor(blocks: { data: ArrayLike<number>; channels: number; conds: number[] | null }[], conds: number[], time: number): Float32Array {
  const d = blocks.reduce((s, b) => s + b.channels, 0);
  const out = new Float32Array(Math.max(1, time * conds.length * d));
  conds.forEach((c, ci) => {
    for (let t = 0; t < time; t++) {
      let o = (t * conds.length + ci) * d;
      for (const b of blocks) {
        const src = ((b.conds === null ? ci : c) * time + t) * b.channels;
        for (let q = 0; q < b.channels; q++) out[o++] = b.data[src + q];
      }
    }
  });
  return out;
}
