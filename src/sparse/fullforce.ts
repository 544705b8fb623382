/**
 * Sparse-neuron RNN training (Salatiello & Giese 2020, reconstructed): full-FORCE with an embedder
 * (target-generating) network driven by the task inputs, the circuit's outputs and hint signals made
 * from a few sampled neurons. The learner's recurrent currents J r are trained to match the
 * embedder's teaching current s = J_D r_D + U_out f_out + U_hint f_hint and its readout W r to match
 * f_out, either online by recursive least squares (shared P, P₀ = I/α) or in one batch ridge solve
 * on teacher-forced embedder rates. Simulation and RLS run on the GPU; see shaders/sparse_*.wgsl.
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import type { Engine } from '../gpu/engine.js';
import { normalSampler } from '../util/random.js';
import { FUSED_TRIAL_MAX_ROWS, fusedTrialBytes, gemmTN, netStep, rlsStep, rlsTrial } from './kernels.js';

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
}

export interface FullForceOptions {
  /** Learner (and embedder) units (default 300). */
  n?: number;
  /** Time constant and step, same units (defaults 10 and 2: dt/τ = 0.2). */
  tau?: number;
  dt?: number;
  /** 'rls' (online, default) or 'ridge' (batch on teacher-forced embedder rates). */
  method?: 'rls' | 'ridge';
  /** P₀ = I/α for RLS; also the ridge penalty λ (default 1). */
  alpha?: number;
  /** Embedder recurrent gain g: J_D ~ N(0, g²/n) (default 1.5). */
  g?: number;
  /**
   * Scales of the uniform(−1, 1) input, output and hint drive matrices (defaults 1, 2, 1: strong enough
   * to suppress the embedder's chaos on the tasks tested). The hint matrix is further divided by √k.
   */
  gainIn?: number;
  gainOut?: number;
  gainHint?: number;
  /** Sampled neurons: a count drawn at random (seeded) or explicit indices (default 0: outputs only). */
  sampled?: number | number[];
  /** Hint scale (default 5) and length of the smooth decay to 0 at the end of each trial (default 110 samples). */
  hintScale?: number;
  hintTail?: number;
  /** Training conditions (default: all not held out) and held-out conditions (default none). */
  trainConditions?: number[];
  heldOut?: number[];
  /** RLS: training trials (default 100), update probability 1/updateEvery per step (default 2). */
  trials?: number;
  updateEvery?: number;
  /** RLS: one fused dispatch per trial (default when the network fits one workgroup's memory) or per-step dispatches. */
  fused?: boolean;
  /** Standard deviation of the shared initial state of every trial (default 0.5). */
  initScale?: number;
  seed?: number;
  /** Check that the driven embedder is not chaotic (default true); tolerance of the distance ratio (default 0.01). */
  chaosCheck?: boolean;
  chaosTolerance?: number;
  /** Called after every RLS trial with the a-priori output and recurrent mean squared errors. */
  onTrial?: (info: { trial: number; condition: number; outputMse: number; recurrentMse: number }) => void;
}

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
  sampled: number[];
  trainConditions: number[];
  heldOut: number[];
  history: { trial: number; condition: number; outputMse: number; recurrentMse: number }[];
  /** Embedder convergence check: distance ratio of two copies (NaN when skipped). */
  chaosRatio: number;
  /** Teacher-forced embedder rates, training conditions × time × n (RLS fused path and ridge). */
  embedderRates?: Float32Array;
}

export class ChaoticEmbedderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChaoticEmbedderError';
  }
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

/** Signals laid out time-major (time × conds × channels), from blocks of conditions × time × channels. */
function timeMajor(blocks: { data: ArrayLike<number>; channels: number; conds: number[] | null }[], conds: number[], time: number): Float32Array {
  const d = blocks.reduce((s, b) => s + b.channels, 0);
  const out = new Float32Array(Math.max(1, time * conds.length * d));
  conds.forEach((c, ci) => {
    for (let t = 0; t < time; t++) {
      let o = (t * conds.length + ci) * d;
      for (const b of blocks) {
        // Blocks with conds === null are indexed by position in `conds` (already subset).
        const src = ((b.conds === null ? ci : c) * time + t) * b.channels;
        for (let q = 0; q < b.channels; q++) out[o++] = b.data[src + q];
      }
    }
  });
  return out;
}

function uniformMatrix(rows: number, cols: number, scale: number, rng: { uniform(): number }): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => scale * (2 * rng.uniform() - 1));
}

/** Rates from a time-major record (time × conds × stride, rates first) as conds × time × n. */
function unpackRates(rec: Float32Array, time: number, conds: number, n: number, stride: number): Float32Array {
  const out = new Float32Array(conds * time * n);
  for (let t = 0; t < time; t++) for (let c = 0; c < conds; c++) out.set(rec.subarray((t * conds + c) * stride, (t * conds + c) * stride + n), (c * time + t) * n);
  return out;
}

/** Options every sparse-neuron trainer shares. */
export type SparseCommonOptions = Pick<FullForceOptions, 'n' | 'tau' | 'dt' | 'seed' | 'sampled' | 'trainConditions' | 'heldOut'>;

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
  if (!Number.isInteger(n) || n < 2) throw new Error(`fit-sparse: network size n must be an integer ≥ 2 (got ${n})`);
  if (!(dt > 0 && tau > 0)) throw new Error(`fit-sparse: dt and tau must be positive (got dt ${dt}, tau ${tau})`);
  for (const [name, arr, ch] of [['inputs', task.inputs, nin], ['outputs', task.outputs, m], ['rates', task.rates, task.nNeurons]] as const) {
    if (arr.length !== C * T * ch) throw new Error(`fit-sparse: ${name} has ${arr.length} values, expected conditions × time × channels = ${C} × ${T} × ${ch}`);
  }
  const heldOut = options.heldOut ?? [];
  const trainConds = options.trainConditions ?? Array.from({ length: C }, (_, c) => c).filter((c) => !heldOut.includes(c));
  for (const c of [...heldOut, ...trainConds]) if (!Number.isInteger(c) || c < 0 || c >= C) throw new Error(`fit-sparse: condition ${c} out of range [0, ${C})`);
  if (trainConds.length === 0) throw new Error('fit-sparse: no training conditions');
  const sampled = typeof options.sampled === 'number' || options.sampled === undefined ? sampleNeurons(task.nNeurons, options.sampled ?? 0, seed + 101) : [...options.sampled];
  for (const s of sampled) if (!Number.isInteger(s) || s < 0 || s >= task.nNeurons) throw new Error(`fit-sparse: sampled neuron ${s} out of range [0, ${task.nNeurons})`);
  return { n, tau, dt, seed, heldOut, trainConds, sampled };
}

/** Train a learner RNN on `task` with full-FORCE (RLS or ridge) on the GPU. */
export async function trainFullForce(engine: Engine, task: SparseTask, options: FullForceOptions = {}): Promise<SparseRnn> {
  const { n, tau, dt, seed, heldOut, trainConds, sampled } = resolveSparseSetup(task, options);
  const alpha = options.alpha ?? 1;
  const g = options.g ?? 1.5;
  const method = options.method ?? 'rls';
  const { time: T, nInputs: nin, nOutputs: m } = task;
  if (!(alpha > 0)) throw new Error(`fit-sparse: alpha must be positive (got ${alpha})`);
  if (method !== 'rls' && method !== 'ridge') throw new Error(`fit-sparse: unknown method "${method}" (rls or ridge)`);
  const k = sampled.length;
  const tail = options.hintTail ?? 110;
  const hints = hintSignals(task, sampled, trainConds, options.hintScale ?? 5, k > 0 ? tail : 0);

  // Fixed random parts (seeded): embedder J_D, drive matrices, the shared initial state.
  const rng = normalSampler(seed);
  const JD = Float32Array.from({ length: n * n }, () => (g * rng.normal()) / Math.sqrt(n));
  const Uin = uniformMatrix(n, nin, options.gainIn ?? 1, rng);
  const Uout = uniformMatrix(n, m, options.gainOut ?? 2, rng);
  // Divided by √k so the total hint drive keeps its size whatever the number of sampled neurons.
  const Uhint = uniformMatrix(n, k, (options.gainHint ?? 1) / Math.sqrt(Math.max(1, k)), rng);
  const xInit = Float32Array.from({ length: n }, () => (options.initScale ?? 0.5) * rng.normal());
  const dEmb = nin + m + k;
  const driveEmb = new Float32Array(n * dEmb);
  for (let i = 0; i < n; i++) {
    driveEmb.set(Uin.subarray(i * nin, (i + 1) * nin), i * dEmb);
    driveEmb.set(Uout.subarray(i * m, (i + 1) * m), i * dEmb + nin);
    driveEmb.set(Uhint.subarray(i * k, (i + 1) * k), i * dEmb + nin + m);
  }
  const ctr = trainConds.length;
  const sigEmbHost = timeMajor(
    [
      { data: task.inputs, channels: nin, conds: trainConds },
      { data: task.outputs, channels: m, conds: trainConds },
      { data: hints, channels: k, conds: null },
    ],
    trainConds,
    T,
  );
  const rows = n + m;
  const dtTau = dt / tau;
  const owned: GPUBuffer[] = [];
  const up = (a: Float32Array, label: string) => {
    const b = engine.upload(a.length ? a : new Float32Array(1), label);
    owned.push(b);
    return b;
  };
  const alloc = (floats: number, label: string) => {
    const b = engine.alloc(Math.max(4, floats * 4), label);
    owned.push(b);
    return b;
  };
  const batchMax = Math.max(ctr, 2);
  const xInitBatch = new Float32Array(batchMax * n);
  for (let b = 0; b < batchMax; b++) xInitBatch.set(xInit, b * n);
  const xInitBuf = up(xInitBatch, 'sparse.xinit');
  const rInitBuf = up(xInitBatch.map(Math.tanh), 'sparse.rinit');
  const JDBuf = up(JD, 'sparse.JD');
  const driveEmbBuf = up(driveEmb, 'sparse.driveEmb');
  const sigEmb = up(sigEmbHost, 'sparse.sigEmb');
  const dummyRec = alloc(1, 'sparse.norec');
  const emb = { x: alloc(batchMax * n, 'emb.x'), r: [alloc(batchMax * n, 'emb.r0'), alloc(batchMax * n, 'emb.r1')], cur: alloc(batchMax * n, 'emb.cur') };
  const resetState = (net: { x: GPUBuffer; r: GPUBuffer[] }, batch: number, source = xInitBuf, rSource = rInitBuf) => {
    engine.copy(source, net.x, batch * n * 4);
    engine.copy(rSource, net.r[0], batch * n * 4);
  };
  const embStep = (t: number, ci: number, phase: number, record: GPUBuffer | null, batch = 1, net = emb) =>
    netStep(engine, { mat: JDBuf, drive: driveEmbBuf, sig: sigEmb, rIn: net.r[phase], x: net.x, rOut: net.r[1 - phase], cur: net.cur, rec: record ?? dummyRec }, { n, rows: n, d: dEmb, batch, t, sigBatch: ctr, sigB0: ci, teachFrom: nin, record: record !== null, dtTau });

  try {
    // Non-chaos check: two embedder copies from different states under the same drive must converge.
    let chaosRatio = NaN;
    if (options.chaosCheck ?? true) {
      const other = { x: alloc(n, 'emb2.x'), r: [alloc(n, 'emb2.r0'), alloc(n, 'emb2.r1')], cur: alloc(n, 'emb2.cur') };
      const x2 = Float32Array.from({ length: n }, () => (options.initScale ?? 0.5) * 2 * rng.normal());
      const x2Buf = up(x2, 'emb2.xinit');
      const r2Buf = up(x2.map(Math.tanh), 'emb2.rinit');
      const window = k > 0 ? T - tail : T;
      let d0 = 0;
      for (let i = 0; i < n; i++) d0 += (x2[i] - xInit[i]) ** 2;
      for (let ci = 0; ci < ctr; ci++) {
        resetState(emb, 1);
        resetState(other, 1, x2Buf, r2Buf);
        for (let t = 0; t < window; t++) {
          embStep(t, ci, t % 2, null);
          embStep(t, ci, t % 2, null, 1, other);
        }
        const a = await engine.readF32(emb.x, n);
        const b = await engine.readF32(other.x, n);
        let d = 0;
        for (let i = 0; i < n; i++) d += (a[i] - b[i]) ** 2;
        const ratio = Math.sqrt(d / d0);
        chaosRatio = Number.isNaN(chaosRatio) ? ratio : Math.max(chaosRatio, ratio);
      }
      const tol = options.chaosTolerance ?? 0.01;
      if (!(chaosRatio <= tol)) {
        throw new ChaoticEmbedderError(
          `the driven embedder is chaotic: two copies started from different states are still ${chaosRatio.toExponential(2)} of their initial distance apart after ${window} samples (tolerance ${tol}); raise the drive gains (--gain-out, --gain-hint, --gain-in) or lower the embedder gain --g (now ${g})`,
        );
      }
    }

    const Jw = alloc(rows * n, 'sparse.Jw');
    engine.clear(Jw, 0, rows * n * 4);
    const history: SparseRnn['history'] = [];
    // The fused RLS kernel keeps Jw transposed (n × rows); Jw starts at 0 either way.
    let jwTransposed = false;
    let embedderRates: Float32Array | undefined;
    if (method === 'ridge') {
      // Teacher forcing: regress the teaching current and the outputs on the embedder's own rates.
      const recStride = 2 * n;
      const rec = alloc(T * ctr * recStride, 'emb.rec');
      resetState(emb, ctr);
      for (let t = 0; t < T; t++) embStep(t, 0, t % 2, rec, ctr);
      embedderRates = unpackRates(await engine.readF32(rec, T * ctr * recStride), T, ctr, n, recStride);
      const samples = T * ctr;
      const G = alloc(n * n, 'ridge.G');
      const H = alloc(n * n, 'ridge.H');
      const F = alloc(n * Math.max(1, m), 'ridge.F');
      gemmTN(engine, rec, rec, G, { samples, ca: n, cb: n, lda: recStride, ldb: recStride });
      gemmTN(engine, rec, rec, H, { samples, ca: n, cb: n, lda: recStride, ldb: recStride, boff: n });
      gemmTN(engine, rec, sigEmb, F, { samples, ca: n, cb: m, lda: recStride, ldb: dEmb, boff: nin });
      const [g32, h32, f32] = [await engine.readF32(G, n * n), await engine.readF32(H, n * n), await engine.readF32(F, n * m)];
      const gm = new Matrix(n, n);
      const rhs = new Matrix(n, rows);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          gm.set(i, j, 0.5 * (g32[i * n + j] + g32[j * n + i]) + (i === j ? alpha : 0));
          rhs.set(i, j, h32[i * n + j]);
        }
        for (let q = 0; q < m; q++) rhs.set(i, n + q, f32[i * m + q]);
      }
      const chol = new CholeskyDecomposition(gm);
      if (!chol.isPositiveDefinite()) throw new Error('fit-sparse ridge: normal matrix is not positive definite (raise --alpha)');
      const sol = chol.solve(rhs); // n × rows = Jwᵀ
      const jw = new Float32Array(rows * n);
      for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) jw[i * n + j] = sol.get(j, i);
      engine.write(Jw, jw);
    } else {
      const trials = options.trials ?? 100;
      const every = options.updateEvery ?? 2;
      if (!Number.isInteger(trials) || trials < 1) throw new Error(`fit-sparse: trials must be a positive integer (got ${trials})`);
      if (!(every >= 1)) throw new Error(`fit-sparse: updateEvery must be ≥ 1 (got ${every})`);
      const P0 = new Float32Array(n * n);
      for (let i = 0; i < n; i++) P0[i * n + i] = 1 / alpha;
      const P = up(P0, 'rls.P');
      const sigRnnHost = timeMajor([{ data: task.inputs, channels: nin, conds: trainConds }], trainConds, T);
      const sigRnn = up(sigRnnHost, 'rnn.sig');
      // Schedule (seeded): conditions in shuffled rounds, an update at each step with probability 1/every.
      const schedule = normalSampler(seed + 202);
      const conds: number[] = [];
      const mask = new Uint32Array(trials * T);
      let order: number[] = [];
      for (let trial = 0; trial < trials; trial++) {
        if (order.length === 0) {
          order = trainConds.map((_, i) => i);
          for (let i = order.length - 1; i > 0; i--) {
            const j = Math.floor(schedule.uniform() * (i + 1));
            [order[i], order[j]] = [order[j], order[i]];
          }
        }
        conds.push(order.pop()!);
        for (let t = 0; t < T; t++) mask[trial * T + t] = schedule.uniform() < 1 / every ? 1 : 0;
      }
      const report = (trial: number, sumRec: number, sumOut: number, updates: number) => {
        const u = Math.max(1, updates);
        const info = { trial, condition: trainConds[conds[trial]], outputMse: sumOut / (u * Math.max(1, m)), recurrentMse: sumRec / (u * n) };
        if (!Number.isFinite(info.outputMse) || !Number.isFinite(info.recurrentMse)) throw new Error(`fit-sparse: RLS diverged at trial ${trial} (non-finite error); raise --alpha`);
        history.push(info);
        options.onTrial?.(info);
      };
      const fused = options.fused ?? (rows <= FUSED_TRIAL_MAX_ROWS && fusedTrialBytes(n, rows) <= engine.limits.maxComputeWorkgroupStorageSize);
      if (fused && rows > FUSED_TRIAL_MAX_ROWS) throw new Error(`fit-sparse: the fused RLS trial kernel handles at most ${FUSED_TRIAL_MAX_ROWS} rows (n + outputs = ${rows}); use fused: false`);
      if (fused) {
        jwTransposed = true;
        // The embedder does not depend on learning: one teacher-forced pass over all training
        // conditions gives every trial's targets; then one dispatch per trial.
        const rec = alloc(T * ctr * 2 * n, 'emb.rec');
        resetState(emb, ctr);
        for (let t = 0; t < T; t++) embStep(t, 0, t % 2, rec, ctr);
        embedderRates = unpackRates(await engine.readF32(rec, T * ctr * 2 * n), T, ctr, n, 2 * n);
        const fixedHost = new Float32Array(n * nin + n);
        fixedHost.set(Uin);
        fixedHost.set(xInit, n * nin);
        const fixed = up(fixedHost, 'rnn.fixed');
        const maskBuf = engine.upload(mask, 'rls.mask');
        owned.push(maskBuf);
        const stats = alloc(trials * 3, 'rls.stats');
        const chunk = options.onTrial ? 10 : trials;
        for (let t0 = 0; t0 < trials; t0 += chunk) {
          const t1 = Math.min(trials, t0 + chunk);
          for (let trial = t0; trial < t1; trial++) {
            rlsTrial(engine, { JwT: Jw, P, fixed, sigIn: sigRnn, rec, sigEmb, mask: maskBuf, stats }, { n, rows, nin, time: T, conds: ctr, cond: conds[trial], dEmb, outOff: nin, trial, maskOff: trial * T, dtTau });
          }
          const st = await engine.readF32(stats, t1 * 3);
          for (let trial = t0; trial < t1; trial++) report(trial, st[trial * 3], st[trial * 3 + 1], st[trial * 3 + 2]);
        }
      } else {
        // Per-step dispatches (any size): embedder and learner side by side, RLS at flagged steps.
        const Uin1 = up(Uin, 'rnn.Uin');
        const rnn = { x: alloc(n, 'rnn.x'), r: [alloc(n, 'rnn.r0'), alloc(n, 'rnn.r1')], cur: alloc(rows, 'rnn.cur') };
        const kBuf = alloc(n, 'rls.k');
        const eBuf = alloc(rows, 'rls.e');
        const coef = alloc(4, 'rls.coef');
        for (let trial = 0; trial < trials; trial++) {
          const ci = conds[trial];
          engine.clear(coef, 0, 16);
          resetState(emb, 1);
          resetState(rnn, 1);
          for (let t = 0; t < T; t++) {
            const ph = t % 2;
            embStep(t, ci, ph, null);
            netStep(engine, { mat: Jw, drive: Uin1, sig: sigRnn, rIn: rnn.r[ph], x: rnn.x, rOut: rnn.r[1 - ph], cur: rnn.cur, rec: dummyRec }, { n, rows, d: nin, batch: 1, t, sigBatch: ctr, sigB0: ci, teachFrom: nin, record: false, dtTau });
            if (mask[trial * T + t]) {
              rlsStep(engine, { P, Jw, r: rnn.r[ph], cur: rnn.cur, tcur: emb.cur, sig: sigEmb, k: kBuf, e: eBuf, coef }, { n, rows, teachRows: n, t, sigBatch: ctr, sigB0: ci, d: dEmb, sigOff: nin, outFrom: n });
            }
          }
          const st = await engine.readF32(coef, 4);
          report(trial, st[1], st[2], st[3]);
        }
      }
    }
    let jw = await engine.readF32(Jw, rows * n);
    if (jwTransposed) {
      const t = new Float32Array(rows * n);
      for (let j = 0; j < n; j++) for (let i = 0; i < rows; i++) t[i * n + j] = jw[j * rows + i];
      jw = t;
    }
    return {
      n,
      tau,
      dt,
      nInputs: nin,
      nOutputs: m,
      J: jw.slice(0, n * n),
      W: jw.slice(n * n),
      Uin,
      xInit,
      sampled,
      trainConditions: trainConds,
      heldOut,
      history,
      chaosRatio,
      embedderRates,
    };
  } finally {
    for (const b of owned) engine.release(b);
  }
}

/** Run a trained learner on every condition of `inputs` (conditions × time × nInputs) on the GPU. */
export async function runSparseRnn(engine: Engine, model: SparseRnn, inputs: ArrayLike<number>, conditions: number, time: number): Promise<{ rates: Float32Array; outputs: Float32Array }> {
  const { n, nInputs: nin, nOutputs: m } = model;
  if (inputs.length !== conditions * time * nin) throw new Error(`run: inputs have ${inputs.length} values, expected ${conditions} × ${time} × ${nin}`);
  const rows = n + m;
  const owned: GPUBuffer[] = [];
  const up = (a: Float32Array) => {
    const b = engine.upload(a.length ? a : new Float32Array(1));
    owned.push(b);
    return b;
  };
  try {
    const conds = Array.from({ length: conditions }, (_, c) => c);
    const jw = new Float32Array(rows * n);
    jw.set(model.J);
    jw.set(model.W, n * n);
    const mat = up(jw);
    const drive = up(model.Uin);
    const sig = up(timeMajor([{ data: inputs, channels: nin, conds }], conds, time));
    const x0 = new Float32Array(conditions * n);
    for (let c = 0; c < conditions; c++) x0.set(model.xInit, c * n);
    const x = up(x0);
    const r = [up(x0.map(Math.tanh)), up(new Float32Array(conditions * n))];
    const cur = up(new Float32Array(conditions * rows));
    const recStride = n + rows;
    const rec = engine.alloc(time * conditions * recStride * 4, 'rnn.rec');
    owned.push(rec);
    for (let t = 0; t < time; t++) {
      netStep(engine, { mat, drive, sig, rIn: r[t % 2], x, rOut: r[1 - (t % 2)], cur, rec }, { n, rows, d: nin, batch: conditions, t, sigBatch: conditions, sigB0: 0, teachFrom: nin, record: true, dtTau: model.dt / model.tau });
    }
    const data = await engine.readF32(rec, time * conditions * recStride);
    const rates = new Float32Array(conditions * time * n);
    const outputs = new Float32Array(conditions * time * m);
    for (let t = 0; t < time; t++) {
      for (let c = 0; c < conditions; c++) {
        const base = (t * conditions + c) * recStride;
        rates.set(data.subarray(base, base + n), (c * time + t) * n);
        outputs.set(data.subarray(base + 2 * n, base + 2 * n + m), (c * time + t) * m);
      }
    }
    return { rates, outputs };
  } finally {
    for (const b of owned) engine.release(b);
  }
}

/** Normalised output error Σ‖z − f‖² / Σ‖f‖² over the given conditions. */
export function normalisedOutputError(z: ArrayLike<number>, f: ArrayLike<number>, conds: number[], time: number, m: number): number {
  let num = 0;
  let den = 0;
  for (const c of conds) {
    for (let i = c * time * m; i < (c + 1) * time * m; i++) {
      num += (z[i] - f[i]) ** 2;
      den += f[i] ** 2;
    }
  }
  return num / den;
}
