/**
 * The embedder (target-generating network) of full-FORCE on the GPU: its fixed random parts (seeded),
 * the drive by task inputs, outputs and hints, teacher-forced Euler steps, the record of its rates
 * over every training condition, and the check that the driven embedder is not chaotic.
 */
import type { Engine } from '../gpu/engine.js';
import { normalSampler } from '../util/random.js';
import { netStep, type OwnedBuffers } from './kernels.js';
import { hintSignals, timeMajor, type SparseTask } from './task.js';

export class ChaoticEmbedderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChaoticEmbedderError';
  }
}

export interface EmbedderOptions {
  n: number;
  seed: number;
  dtTau: number;
  trainConds: number[];
  sampled: number[];
  g: number;
  gainIn: number;
  gainOut: number;
  gainHint: number;
  initScale: number;
  hintScale: number;
  hintTail: number;
  /** Drive with h + τ dh/dt instead of h, so the embedder's low-pass (its Euler step) returns h itself. */
  hintLead: boolean;
  /** Hint drive matrix with orthogonal columns of the uniform matrix's expected norm (needs k ≤ n), instead of the uniform matrix itself. */
  hintOrthogonal?: boolean;
}

/**
 * Lead compensation of conds × time × k signals in place: h̃(t) = h(t) + (τ/dt)(h(t+1) − h(t)). A state
 * driven by h̃ through x(t+1) = x(t) + dt/τ (−x(t) + h̃(t)) follows h exactly instead of lagging it.
 */
export function leadCompensate(h: Float64Array, conds: number, time: number, k: number, dtTau: number): void {
  for (let c = 0; c < conds; c++) {
    for (let t = 0; t < time; t++) {
      for (let q = 0; q < k; q++) {
        const i = (c * time + t) * k + q;
        const next = t + 1 < time ? h[i + k] : h[i];
        h[i] += (next - h[i]) / dtTau;
      }
    }
  }
}

/** State buffers of one network: x, the two r buffers steps alternate between, the currents. */
export interface NetState {
  x: GPUBuffer;
  r: GPUBuffer[];
  cur: GPUBuffer;
}

export type Embedder = ReturnType<typeof createEmbedder>;

function uniformMatrix(rows: number, cols: number, scale: number, rng: { uniform(): number }): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => scale * (2 * rng.uniform() - 1));
}

/**
 * Columns of the row-major rows × cols matrix `a` made orthogonal (modified Gram–Schmidt, twice, in
 * float64), each of length `norm`. A random map with orthogonal columns is an isometry up to scale, so
 * the hints' principal directions, which SVCCA compares, reach the embedder's state undistorted.
 */
export function orthogonaliseColumns(a: Float32Array, rows: number, cols: number, norm: number): void {
  if (cols > rows) throw new Error(`orthogonal hint matrix: ${cols} hints need at least as many units (got ${rows})`);
  const q = Array.from({ length: cols }, (_, j) => Float64Array.from({ length: rows }, (_, i) => a[i * cols + j]));
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < cols; j++) {
      for (let l = 0; l < j; l++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += q[j][i] * q[l][i];
        for (let i = 0; i < rows; i++) q[j][i] -= d * q[l][i];
      }
      let len = 0;
      for (let i = 0; i < rows; i++) len += q[j][i] ** 2;
      len = Math.sqrt(len);
      for (let i = 0; i < rows; i++) q[j][i] /= len;
    }
  }
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) a[i * cols + j] = norm * q[j][i];
}

/** Rates from a time-major record (time × conds × stride, rates first) as conds × time × n. */
function unpackRates(rec: Float32Array, time: number, conds: number, n: number, stride: number): Float32Array {
  const out = new Float32Array(conds * time * n);
  for (let t = 0; t < time; t++)
    for (let c = 0; c < conds; c++) out.set(rec.subarray((t * conds + c) * stride, (t * conds + c) * stride + n), (c * time + t) * n);
  return out;
}

/**
 * Draw the embedder (J_D ~ N(0, g²/n), uniform drive matrices, the shared initial state, in that order
 * from one seeded stream) and upload it with its drive signals: inputs, outputs and hints of every
 * training condition.
 */
export function createEmbedder(engine: Engine, buffers: OwnedBuffers, task: SparseTask, o: EmbedderOptions) {
  const { n, dtTau, trainConds, sampled } = o;
  const { time: T, nInputs: nin, nOutputs: m } = task;
  const k = sampled.length;
  const hints = hintSignals(task, sampled, trainConds, o.hintScale, k > 0 ? o.hintTail : 0);
  if (o.hintLead) leadCompensate(hints, trainConds.length, T, k, dtTau);
  const rng = normalSampler(o.seed);
  const JD = Float32Array.from({ length: n * n }, () => (o.g * rng.normal()) / Math.sqrt(n));
  const Uin = uniformMatrix(n, nin, o.gainIn, rng);
  const Uout = uniformMatrix(n, m, o.gainOut, rng);
  // Divided by √k so the total hint drive keeps its size whatever the number of sampled neurons.
  const Uhint = uniformMatrix(n, k, o.gainHint / Math.sqrt(Math.max(1, k)), rng);
  if (o.hintOrthogonal) orthogonaliseColumns(Uhint, n, k, (o.gainHint * Math.sqrt(n / 3)) / Math.sqrt(Math.max(1, k)));
  const xInit = Float32Array.from({ length: n }, () => o.initScale * rng.normal());
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
  const batchMax = Math.max(ctr, 2);
  const xInitBatch = new Float32Array(batchMax * n);
  for (let b = 0; b < batchMax; b++) xInitBatch.set(xInit, b * n);
  const xInitBuf = buffers.upload(xInitBatch, 'sparse.xinit');
  const rInitBuf = buffers.upload(xInitBatch.map(Math.tanh), 'sparse.rinit');
  const JDBuf = buffers.upload(JD, 'sparse.JD');
  const driveEmbBuf = buffers.upload(driveEmb, 'sparse.driveEmb');
  const sigEmb = buffers.upload(sigEmbHost, 'sparse.sigEmb');
  const dummyRec = buffers.alloc(1, 'sparse.norec');
  const net: NetState = {
    x: buffers.alloc(batchMax * n, 'emb.x'),
    r: [buffers.alloc(batchMax * n, 'emb.r0'), buffers.alloc(batchMax * n, 'emb.r1')],
    cur: buffers.alloc(batchMax * n, 'emb.cur'),
  };

  /** Start `batch` trials of a network from the shared initial state (or the given one). */
  const resetState = (state: { x: GPUBuffer; r: GPUBuffer[] }, batch: number, source = xInitBuf, rSource = rInitBuf) => {
    engine.copy(source, state.x, batch * n * 4);
    engine.copy(rSource, state.r[0], batch * n * 4);
  };
  /** One teacher-forced step of training condition `ci` (batch 1) or of conditions 0… (batch > 1); currents land in `state.cur`. */
  const step = (t: number, ci: number, phase: number, record: GPUBuffer | null, batch = 1, state = net) =>
    netStep(
      engine,
      { mat: JDBuf, drive: driveEmbBuf, sig: sigEmb, rIn: state.r[phase], x: state.x, rOut: state.r[1 - phase], cur: state.cur, rec: record ?? dummyRec },
      { n, rows: n, d: dEmb, batch, t, sigBatch: ctr, sigB0: ci, teachFrom: nin, record: record !== null, dtTau },
    );
  /**
   * Teacher-forced pass over every training condition at once: the GPU record (time × conds × [r | cur])
   * and the rates as conds × time × n.
   */
  const recordTeacherForced = async (): Promise<{ rec: GPUBuffer; rates: Float32Array }> => {
    const recStride = 2 * n;
    const rec = buffers.alloc(T * ctr * recStride, 'emb.rec');
    resetState(net, ctr);
    for (let t = 0; t < T; t++) step(t, 0, t % 2, rec, ctr);
    return { rec, rates: unpackRates(await engine.readF32(rec, T * ctr * recStride), T, ctr, n, recStride) };
  };
  return { n, ctr, dEmb, dtTau, nin, m, k, T, Uin, xInit, rng, sigEmb, dummyRec, net, resetState, step, recordTeacherForced };
}

/**
 * Non-chaos check: a second embedder copy started from another state (drawn after the embedder, from
 * its stream) is driven alongside the first over each training condition up to the hint tail; the
 * largest final distance ratio must stay within `tolerance`. Returns that ratio.
 */
export async function checkNotChaotic(
  engine: Engine,
  buffers: OwnedBuffers,
  emb: Embedder,
  o: { window: number; tolerance: number; initScale: number; g: number },
): Promise<number> {
  const { n, ctr } = emb;
  // Every training condition at once (batch ctr): the same per-condition arithmetic as one at a time, in
  // 2 × window dispatches and one read-back instead of 2 × window × ctr dispatches and 2 × ctr read-backs.
  const other: NetState = {
    x: buffers.alloc(ctr * n, 'emb2.x'),
    r: [buffers.alloc(ctr * n, 'emb2.r0'), buffers.alloc(ctr * n, 'emb2.r1')],
    cur: buffers.alloc(ctr * n, 'emb2.cur'),
  };
  const x2 = Float32Array.from({ length: n }, () => o.initScale * 2 * emb.rng.normal());
  const x2Batch = new Float32Array(ctr * n);
  for (let c = 0; c < ctr; c++) x2Batch.set(x2, c * n);
  const x2Buf = buffers.upload(x2Batch, 'emb2.xinit');
  const r2Buf = buffers.upload(x2Batch.map(Math.tanh), 'emb2.rinit');
  let d0 = 0;
  for (let i = 0; i < n; i++) d0 += (x2[i] - emb.xInit[i]) ** 2;
  emb.resetState(emb.net, ctr);
  emb.resetState(other, ctr, x2Buf, r2Buf);
  for (let t = 0; t < o.window; t++) {
    emb.step(t, 0, t % 2, null, ctr);
    emb.step(t, 0, t % 2, null, ctr, other);
  }
  const a = await engine.readF32(emb.net.x, ctr * n);
  const b = await engine.readF32(other.x, ctr * n);
  let chaosRatio = NaN;
  for (let c = 0; c < ctr; c++) {
    let d = 0;
    for (let i = c * n; i < (c + 1) * n; i++) d += (a[i] - b[i]) ** 2;
    const ratio = Math.sqrt(d / d0);
    chaosRatio = Number.isNaN(chaosRatio) ? ratio : Math.max(chaosRatio, ratio);
  }
  if (!(chaosRatio <= o.tolerance)) {
    throw new ChaoticEmbedderError(
      `the driven embedder is chaotic: two copies started from different states are still ${chaosRatio.toExponential(2)} of their initial distance apart ` +
        `after ${o.window} samples (tolerance ${o.tolerance}); raise the drive gains (gainOut, gainHint, gainIn) or lower the embedder gain g (now ${o.g})`,
    );
  }
  return chaosRatio;
}
