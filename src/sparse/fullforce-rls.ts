/**
 * The online half of full-FORCE: recursive least squares with one shared P (P₀ = I/α) over shuffled
 * training trials, updating at random steps. Two GPU paths give the same updates: one fused dispatch
 * per trial (the network fits one workgroup's memory), or per-step dispatches of any size.
 */
import type { Engine } from '../gpu/engine.js';
import { normalSampler } from '../util/random.js';
import type { Embedder } from './embedder.js';
import { FUSED_TRIAL_MAX_ROWS, fusedTrialBytes, netStep, rlsStep, rlsTrial, type OwnedBuffers } from './kernels.js';
import { timeMajor, type SparseRnn, type SparseTask } from './task.js';

export type TrialReport = SparseRnn['history'][number];

export interface RlsOptions {
  alpha: number;
  trials: number;
  updateEvery: number;
  /** Whether to use the fused per-trial kernel (default: when the network fits). */
  fused?: boolean;
  seed: number;
  trainConds: number[];
  /** Called after every trial; chunks fused trials by 10 so reports arrive while training. */
  onTrial?: (info: TrialReport) => void;
}

/**
 * The seeded schedule: training conditions (positions in trainConds) in shuffled rounds, and per
 * (trial, step) whether to update, with probability 1/updateEvery.
 */
function rlsSchedule(seed: number, trials: number, time: number, nConds: number, every: number): { conds: number[]; mask: Uint32Array } {
  const schedule = normalSampler(seed + 202);
  const conds: number[] = [];
  const mask = new Uint32Array(trials * time);
  let order: number[] = [];
  for (let trial = 0; trial < trials; trial++) {
    if (order.length === 0) {
      order = Array.from({ length: nConds }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(schedule.uniform() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    conds.push(order.pop()!);
    for (let t = 0; t < time; t++) mask[trial * time + t] = schedule.uniform() < 1 / every ? 1 : 0;
  }
  return { conds, mask };
}

/**
 * Train the learner's weights `Jw` (rows = n + outputs, starting at 0) by RLS. Returns the history,
 * whether Jw is left transposed (n × rows, the fused kernel's layout) and the embedder's
 * teacher-forced rates when the fused path recorded them.
 */
export async function trainRls(
  engine: Engine,
  buffers: OwnedBuffers,
  task: SparseTask,
  emb: Embedder,
  Jw: GPUBuffer,
  o: RlsOptions,
): Promise<{ history: TrialReport[]; jwTransposed: boolean; embedderRates?: Float32Array }> {
  const { n, m, nin, T, ctr, dEmb, dtTau } = emb;
  const rows = n + m;
  const { trials, updateEvery: every, trainConds } = o;
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`full-FORCE: trials must be a positive integer (got ${trials})`);
  if (!(every >= 1)) throw new Error(`full-FORCE: updateEvery must be ≥ 1 (got ${every})`);
  const P0 = new Float32Array(n * n);
  for (let i = 0; i < n; i++) P0[i * n + i] = 1 / o.alpha;
  const P = buffers.upload(P0, 'rls.P');
  const sigRnn = buffers.upload(timeMajor([{ data: task.inputs, channels: nin, conds: trainConds }], trainConds, T), 'rnn.sig');
  const { conds, mask } = rlsSchedule(o.seed, trials, T, trainConds.length, every);
  const history: TrialReport[] = [];
  const report = (trial: number, sumRec: number, sumOut: number, updates: number) => {
    const u = Math.max(1, updates);
    const info = { trial, condition: trainConds[conds[trial]], outputMse: sumOut / (u * Math.max(1, m)), recurrentMse: sumRec / (u * n) };
    if (!Number.isFinite(info.outputMse) || !Number.isFinite(info.recurrentMse)) {
      throw new Error(`full-FORCE: RLS diverged at trial ${trial} (non-finite error); raise alpha`);
    }
    history.push(info);
    o.onTrial?.(info);
  };
  const fused = o.fused ?? (rows <= FUSED_TRIAL_MAX_ROWS && fusedTrialBytes(n, rows) <= engine.limits.maxComputeWorkgroupStorageSize);
  if (fused && rows > FUSED_TRIAL_MAX_ROWS) {
    throw new Error(`full-FORCE: the fused RLS trial kernel handles at most ${FUSED_TRIAL_MAX_ROWS} rows (n + outputs = ${rows}); use fused: false`);
  }
  if (fused) {
    // The embedder does not depend on learning: one teacher-forced pass over all training
    // conditions gives every trial's targets; then one dispatch per trial.
    const { rec, rates } = await emb.recordTeacherForced();
    const fixedHost = new Float32Array(n * nin + n);
    fixedHost.set(emb.Uin);
    fixedHost.set(emb.xInit, n * nin);
    const fixed = buffers.upload(fixedHost, 'rnn.fixed');
    const maskBuf = buffers.upload(mask, 'rls.mask');
    const stats = buffers.alloc(trials * 3, 'rls.stats');
    const chunk = o.onTrial ? 10 : trials;
    for (let t0 = 0; t0 < trials; t0 += chunk) {
      const t1 = Math.min(trials, t0 + chunk);
      for (let trial = t0; trial < t1; trial++) {
        rlsTrial(
          engine,
          { JwT: Jw, P, fixed, sigIn: sigRnn, rec, sigEmb: emb.sigEmb, mask: maskBuf, stats },
          { n, rows, nin, time: T, conds: ctr, cond: conds[trial], dEmb, outOff: nin, trial, maskOff: trial * T, dtTau },
        );
      }
      const st = await engine.readF32(stats, t1 * 3);
      for (let trial = t0; trial < t1; trial++) report(trial, st[trial * 3], st[trial * 3 + 1], st[trial * 3 + 2]);
    }
    return { history, jwTransposed: true, embedderRates: rates };
  }
  // Per-step dispatches (any size): embedder and learner side by side, RLS at flagged steps.
  const Uin1 = buffers.upload(emb.Uin, 'rnn.Uin');
  const rnn = { x: buffers.alloc(n, 'rnn.x'), r: [buffers.alloc(n, 'rnn.r0'), buffers.alloc(n, 'rnn.r1')], cur: buffers.alloc(rows, 'rnn.cur') };
  const kBuf = buffers.alloc(n, 'rls.k');
  const eBuf = buffers.alloc(rows, 'rls.e');
  const coef = buffers.alloc(4, 'rls.coef');
  for (let trial = 0; trial < trials; trial++) {
    const ci = conds[trial];
    engine.clear(coef, 0, 16);
    emb.resetState(emb.net, 1);
    emb.resetState(rnn, 1);
    for (let t = 0; t < T; t++) {
      const ph = t % 2;
      emb.step(t, ci, ph, null);
      netStep(
        engine,
        { mat: Jw, drive: Uin1, sig: sigRnn, rIn: rnn.r[ph], x: rnn.x, rOut: rnn.r[1 - ph], cur: rnn.cur, rec: emb.dummyRec },
        { n, rows, d: nin, batch: 1, t, sigBatch: ctr, sigB0: ci, teachFrom: nin, record: false, dtTau },
      );
      if (mask[trial * T + t]) {
        rlsStep(
          engine,
          { P, Jw, r: rnn.r[ph], cur: rnn.cur, tcur: emb.net.cur, sig: emb.sigEmb, k: kBuf, e: eBuf, coef },
          { n, rows, teachRows: n, t, sigBatch: ctr, sigB0: ci, d: dEmb, sigOff: nin, outFrom: n },
        );
      }
    }
    const st = await engine.readF32(coef, 4);
    report(trial, st[1], st[2], st[3]);
  }
  return { history, jwTransposed: false };
}
