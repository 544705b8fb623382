/**
 * Third sparse-neuron trainer: backpropagation through time on the autodiff tape. The learner is the
 * full-FORCE learner's rate network (src/sparse/bptt-op.ts); every iteration runs all training
 * conditions as one batch and minimises
 *   loss = mean‖z − f_out‖² + λ · mean over designated units of (r_unit − target)²,
 * where the targets are the sampled neurons' activities with full-FORCE's hint normalisation (peak
 * |r| = 1 over the training conditions) times `targetScale`, without the smooth tail (BPTT trials are
 * not concatenated). Designated unit h (default: unit h) is matched to sampled neuron h. Adam with
 * optional gradient-norm clipping, all on the GPU; losses are read back every `logEvery` iterations.
 */
import { Tape } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { add, scale, square, sub } from '../ops/elementwise.js';
import { gather } from '../ops/gather.js';
import { mean, reshape } from '../ops/linalg.js';
import { Adam, clipGradNorm } from '../ops/optim.js';
import { rateRnnTrials } from './bptt-op.js';
import { hintSignals, resolveSparseSetup, type SparseCommonOptions, type SparseRnn, type SparseTask } from './task.js';
import { normalSampler } from '../util/random.js';

export interface BpttOptions extends SparseCommonOptions {
  /** Weight λ of the designated units' error (default 1; 0 trains on the outputs only). */
  lambda?: number;
  /** Learner units matched to the sampled neurons, one per sampled neuron (default: units 0 … k−1). */
  designatedUnits?: number[];
  /** Peak |target| of the normalised sampled activities (default 0.5, inside tanh's range). */
  targetScale?: number;
  /** Initial J ~ N(0, g²/n) as full-FORCE's networks (default 1.5). */
  g?: number;
  /** Initial input weights uniform(−gainIn, gainIn) (default 1); the readout starts at 0. */
  gainIn?: number;
  /** Standard deviation of the initial state shared by every trial (default 0.5). */
  initScale?: number;
  /** Also train the initial state (default true). */
  trainInit?: boolean;
  /** Adam iterations (default 500) and learning rate (default 3e-3). */
  iterations?: number;
  lr?: number;
  /** Clip the joint gradient norm to this value (default 1; 0 turns clipping off). */
  clip?: number;
  /** Read losses back (and call onProgress) every this many iterations (default 10). */
  logEvery?: number;
  onProgress?: (p: BpttProgress) => void;
}

export interface BpttProgress {
  iteration: number;
  loss: number;
  outputMse: number;
  /** Mean squared error of the designated units (NaN when no neuron is sampled). */
  unitMse: number;
  /** Joint gradient norm before clipping (NaN when clipping is off). */
  gradNorm: number;
  seconds: number;
}

export interface BpttRnn extends SparseRnn {
  designatedUnits: number[];
  progress: BpttProgress[];
}

/** Rows of a conditions × time × channels array for the given conditions, as float32. */
function selectConditions(data: ArrayLike<number>, conds: number[], time: number, channels: number): Float32Array {
  const block = time * channels;
  const out = new Float32Array(Math.max(1, conds.length * block));
  conds.forEach((c, ci) => {
    for (let i = 0; i < block; i++) out[ci * block + i] = data[c * block + i];
  });
  return out;
}

/** Train a learner RNN on `task` by backpropagation through time with Adam on the GPU. */
export async function trainBptt(engine: Engine, task: SparseTask, options: BpttOptions = {}): Promise<BpttRnn> {
  const { n, tau, dt, seed, heldOut, trainConds, sampled } = resolveSparseSetup(task, options);
  const lambda = options.lambda ?? 1;
  const iterations = options.iterations ?? 500;
  const lr = options.lr ?? 3e-3;
  const clip = options.clip ?? 1;
  const logEvery = options.logEvery ?? 10;
  const g = options.g ?? 1.5;
  const { time: T, nInputs: nin, nOutputs: m } = task;
  const k = sampled.length;
  if (!(lambda >= 0 && Number.isFinite(lambda))) throw new Error(`sparse BPTT: lambda must be a number ≥ 0 (got ${lambda})`);
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error(`sparse BPTT: iterations must be a positive integer (got ${iterations})`);
  if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`sparse BPTT: lr must be a positive number (got ${lr})`);
  if (!(clip >= 0 && Number.isFinite(clip))) throw new Error(`sparse BPTT: clip must be a number ≥ 0 (got ${clip})`);
  if (!Number.isInteger(logEvery) || logEvery < 1) throw new Error(`sparse BPTT: logEvery must be a positive integer (got ${logEvery})`);
  if (m < 1) throw new Error('sparse BPTT: the task has no outputs');
  const designated = options.designatedUnits ? [...options.designatedUnits] : Array.from({ length: k }, (_, h) => h);
  if (designated.length !== k) throw new Error(`sparse BPTT: ${designated.length} designated units for ${k} sampled neurons (need one each)`);
  if (new Set(designated).size !== k || designated.some((u) => !Number.isInteger(u) || u < 0 || u >= n)) {
    throw new Error(`sparse BPTT: designated units must be distinct integers in [0, ${n}) (got ${designated.join(',')})`);
  }

  // Seeded initial weights: J as full-FORCE's networks, input weights as its drive, readout 0.
  const rng = normalSampler(seed);
  const J0 = Float32Array.from({ length: n * n }, () => (g * rng.normal()) / Math.sqrt(n));
  const B0 = Float32Array.from({ length: n * nin }, () => (options.gainIn ?? 1) * (2 * rng.uniform() - 1));
  const x00 = Float32Array.from({ length: n }, () => (options.initScale ?? 0.5) * rng.normal());
  const ctr = trainConds.length;
  const samples = ctr * T;

  // gather needs each index row sorted: order the (unit, neuron) pairs by unit.
  const order = designated.map((_, h) => h).sort((a, b) => designated[a] - designated[b]);
  const hints = hintSignals(task, sampled, trainConds, options.targetScale ?? 0.5, 0);
  const targetHost = new Float32Array(Math.max(1, samples * k));
  const idxHost = new Uint32Array(Math.max(1, samples * k));
  for (let s = 0; s < samples; s++) {
    order.forEach((h, col) => {
      targetHost[s * k + col] = hints[s * k + h];
      idxHost[s * k + col] = designated[h];
    });
  }

  const J = Tensor.param(engine, J0, [n, n], 'bptt.J');
  const B = Tensor.param(engine, B0, [n, nin], 'bptt.B');
  const W = Tensor.param(engine, new Float32Array(m * n), [m, n], 'bptt.W');
  const x0 = Tensor.fromArray(engine, x00, [n], 'f32', 'bptt.x0');
  x0.requiresGrad = options.trainInit ?? true;
  const inputs = Tensor.fromArray(engine, selectConditions(task.inputs, trainConds, T, nin), [ctr, T, nin], 'f32', 'bptt.inputs');
  const targets = Tensor.fromArray(engine, selectConditions(task.outputs, trainConds, T, m), [ctr, T, m], 'f32', 'bptt.targets');
  const unitTargets = k > 0 ? Tensor.fromArray(engine, targetHost, [samples, k], 'f32', 'bptt.unitTargets') : null;
  const unitIdx = k > 0 ? Tensor.fromArray(engine, idxHost, [samples, k], 'u32', 'bptt.unitIdx') : null;
  const params = [J, B, W, ...(x0.requiresGrad ? [x0] : [])];
  const optimizer = new Adam(params, { lr });
  // Per iteration: loss, output MSE, unit MSE, gradient norm.
  const history = Tensor.zeros(engine, [logEvery * 4], 'f32', 'bptt.history');
  const progress: BpttProgress[] = [];
  const t0 = performance.now();
  const dtTau = dt / tau;
  try {
    for (let it = 0; it < iterations; it++) {
      const slot = 16 * (it % logEvery);
      const tape = Tape.begin(engine);
      let loss: Tensor;
      try {
        const { rates, outputs } = rateRnnTrials(J, B, W, x0, inputs, dtTau);
        const outputMse = mean(square(sub(outputs, targets)));
        loss = outputMse;
        engine.copy(outputMse, history, 4, 0, slot + 4);
        if (unitTargets && unitIdx) {
          const unitMse = mean(square(sub(gather(reshape(rates, [samples, n]), unitIdx), unitTargets)));
          engine.copy(unitMse, history, 4, 0, slot + 8);
          if (lambda > 0) loss = add(outputMse, scale(unitMse, lambda));
        }
      } finally {
        tape.end();
      }
      engine.copy(loss, history, 4, 0, slot);
      tape.backward(loss);
      if (clip > 0) {
        const norm = clipGradNorm(params, clip);
        engine.copy(norm, history, 4, 0, slot + 12);
        norm.dispose();
      }
      optimizer.step();
      optimizer.zeroGrad();
      engine.flush();
      const done = it + 1;
      if (done % logEvery === 0 || done === iterations) {
        const h = await history.readF32();
        const seconds = (performance.now() - t0) / 1000;
        for (let j = done - 1 - ((done - 1) % logEvery); j < done; j++) {
          const b = 4 * (j % logEvery);
          const p: BpttProgress = {
            iteration: j + 1,
            loss: h[b],
            outputMse: h[b + 1],
            unitMse: k > 0 ? h[b + 2] : NaN,
            gradNorm: clip > 0 ? h[b + 3] : NaN,
            seconds,
          };
          if (!Number.isFinite(p.loss)) throw new Error(`sparse BPTT: loss became ${p.loss} at iteration ${p.iteration}; lower lr or set clip`);
          progress.push(p);
        }
        options.onProgress?.(progress[progress.length - 1]);
      }
    }
    return {
      n,
      tau,
      dt,
      nInputs: nin,
      nOutputs: m,
      J: await J.readF32(),
      W: await W.readF32(),
      Uin: nin > 0 ? await B.readF32() : new Float32Array(0),
      xInit: await x0.readF32(),
      sampled,
      trainConditions: trainConds,
      heldOut,
      history: [],
      chaosRatio: NaN,
      designatedUnits: designated,
      progress,
    };
  } finally {
    optimizer.dispose();
    for (const t of [J, B, W, x0, inputs, targets, unitTargets, unitIdx, history]) t?.dispose();
  }
}
