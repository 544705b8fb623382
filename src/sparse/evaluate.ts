/**
 * Evaluation of a trained sparse-neuron RNN against the circuit: SVCCA between all circuit neurons
 * and all RNN units (time points of all conditions concatenated), normalised output error on the
 * training and held-out conditions.
 */
import { svcca } from '../analysis/svcca.js';
import { normalisedOutputError, type SparseRnn, type SparseTask } from './fullforce.js';

export interface SparseEvaluation {
  svcca: { mean: number; correlations: number[]; dims: number };
  trainOutputError: number;
  heldOutOutputError: number | null;
}

export function evaluateSparse(task: SparseTask, model: Pick<SparseRnn, 'n' | 'trainConditions' | 'heldOut'>, run: { rates: ArrayLike<number>; outputs: ArrayLike<number> }, dims = 5): SparseEvaluation {
  const rows = task.conditions * task.time;
  const s = svcca({ data: task.rates, rows, cols: task.nNeurons }, { data: run.rates, rows, cols: model.n }, { dims });
  return {
    svcca: { mean: s.mean, correlations: s.correlations, dims: s.dims },
    trainOutputError: normalisedOutputError(run.outputs, task.outputs, model.trainConditions, task.time, task.nOutputs),
    heldOutOutputError: model.heldOut.length ? normalisedOutputError(run.outputs, task.outputs, model.heldOut, task.time, task.nOutputs) : null,
  };
}
