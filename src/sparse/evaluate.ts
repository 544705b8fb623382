/**
 * Running and evaluating a trained sparse-neuron RNN: its rates and outputs on every condition (GPU),
 * SVCCA between all circuit neurons and all RNN units (time points of all conditions concatenated),
 * normalised output error on the training and held-out conditions.
 */
import { svcca } from '../analysis/svcca.js';
import type { Engine } from '../gpu/engine.js';
import { netStep, OwnedBuffers } from './kernels.js';
import { timeMajor, type SparseRnn, type SparseTask } from './task.js';
import { rateFunction, TANH_RATE } from './circuit.js';

/** Run a trained learner on every condition of `inputs` (conditions × time × nInputs) on the GPU, with its rate function. */
export async function runSparseRnn(
  engine: Engine,
  model: SparseRnn,
  inputs: ArrayLike<number>,
  conditions: number,
  time: number,
): Promise<{ rates: Float32Array; outputs: Float32Array }> {
  const { n, nInputs: nin, nOutputs: m } = model;
  if (inputs.length !== conditions * time * nin) throw new Error(`run: inputs have ${inputs.length} values, expected ${conditions} × ${time} × ${nin}`);
  const rows = n + m;
  const buffers = new OwnedBuffers(engine);
  try {
    const conds = Array.from({ length: conditions }, (_, c) => c);
    const jw = new Float32Array(rows * n);
    jw.set(model.J);
    jw.set(model.W, n * n);
    const mat = buffers.upload(jw);
    const drive = buffers.upload(model.Uin);
    const sig = buffers.upload(timeMajor([{ data: inputs, channels: nin, conds }], conds, time));
    const x0 = new Float32Array(conditions * n);
    for (let c = 0; c < conditions; c++) x0.set(model.xInit, c * n);
    const x = buffers.upload(x0);
    const rate = model.rate ?? TANH_RATE;
    const r = [buffers.upload(x0.map((v) => rateFunction(v, rate.r0, rate.rmax))), buffers.upload(new Float32Array(conditions * n))];
    const cur = buffers.upload(new Float32Array(conditions * rows));
    const recStride = n + rows;
    const rec = buffers.alloc(time * conditions * recStride, 'rnn.rec');
    for (let t = 0; t < time; t++) {
      netStep(
        engine,
        { mat, drive, sig, rIn: r[t % 2], x, rOut: r[1 - (t % 2)], cur, rec },
        { n, rows, d: nin, batch: conditions, t, sigBatch: conditions, sigB0: 0, teachFrom: nin, record: true, dtTau: model.dt / model.tau, rate },
      );
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
    buffers.releaseAll();
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

export interface SparseEvaluation {
  /** SVCCA over every condition, the training conditions only and the held-out ones only (null when none). */
  svcca: { mean: number; correlations: number[]; dims: number };
  svccaTrain: number;
  svccaHeldOut: number | null;
  trainOutputError: number;
  heldOutOutputError: number | null;
}

/** Rows (time points) of the given conditions from conditions × time × cols activity. */
function conditionRows(data: ArrayLike<number>, conds: number[], time: number, cols: number): Float64Array {
  const out = new Float64Array(conds.length * time * cols);
  conds.forEach((c, ci) => {
    for (let i = 0; i < time * cols; i++) out[ci * time * cols + i] = data[c * time * cols + i];
  });
  return out;
}

export function evaluateSparse(
  task: SparseTask,
  model: Pick<SparseRnn, 'n' | 'trainConditions' | 'heldOut'>,
  run: { rates: ArrayLike<number>; outputs: ArrayLike<number> },
  dims = 5,
): SparseEvaluation {
  const svccaOn = (conds: number[]) => {
    const rows = conds.length * task.time;
    return svcca(
      { data: conditionRows(task.rates, conds, task.time, task.nNeurons), rows, cols: task.nNeurons },
      { data: conditionRows(run.rates, conds, task.time, model.n), rows, cols: model.n },
      { dims },
    );
  };
  const s = svccaOn(Array.from({ length: task.conditions }, (_, c) => c));
  return {
    svcca: { mean: s.mean, correlations: s.correlations, dims: s.dims },
    svccaTrain: svccaOn(model.trainConditions).mean,
    svccaHeldOut: model.heldOut.length ? svccaOn(model.heldOut).mean : null,
    trainOutputError: normalisedOutputError(run.outputs, task.outputs, model.trainConditions, task.time, task.nOutputs),
    heldOutOutputError: model.heldOut.length ? normalisedOutputError(run.outputs, task.outputs, model.heldOut, task.time, task.nOutputs) : null,
  };
}
