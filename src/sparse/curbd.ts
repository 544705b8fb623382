/**
 * CURBD-style data-constrained learner (Perich et al. 2020): one learner unit per sampled circuit
 * neuron, whose rate is trained to be that neuron's rate. It is the upper bound for the sparse-neuron
 * learners when every neuron is sampled, at the circuit's own time constant.
 *
 * The targets are y = a · r / max|r| (one scale for all neurons, so the population's principal
 * directions are kept), x = atanh y. The learner's Euler step x(t+1) = x(t) + dt/τ (−x(t) + J y(t) + U u(t))
 * holds exactly on the targets when [J | U] y-and-u regress the current s(t) = x(t) + τ/dt (x(t+1) − x(t));
 * that ridge regression (float64, teacher-forced: the regressors are the targets themselves) gives J, U
 * and, on the outputs, the readout W. (Adding the learner's own free-running rates as regressors, as
 * online RLS does, made the free-running fit worse on the motor circuit, so the fit is teacher-forced.)
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { resolveSparseSetup, type SparseCommonOptions, type SparseRnn, type SparseTask } from './task.js';

export interface CurbdOptions extends SparseCommonOptions {
  /** Ridge penalty on [J | U] and W per sample (default 1e-4). */
  lambda?: number;
  /** Largest target rate a in (0, 1) (default 0.5: tanh stays near its linear range). */
  targetScale?: number;
}

/** Normalised rates of the sampled neurons, conditions × time × k, scaled together to peak |y| = a. */
export function curbdTargets(task: SparseTask, sampled: number[], conds: number[], a: number): Float64Array {
  const { time: T, nNeurons } = task;
  const k = sampled.length;
  let peak = 0;
  for (const c of conds) for (let t = 0; t < T; t++) for (const s of sampled) peak = Math.max(peak, Math.abs(task.rates[(c * T + t) * nNeurons + s]));
  if (!(peak > 0)) throw new Error('CURBD learner: the sampled neurons are silent on the training conditions');
  const y = new Float64Array(conds.length * T * k);
  conds.forEach((c, ci) => {
    for (let t = 0; t < T; t++) sampled.forEach((s, h) => (y[(ci * T + t) * k + h] = (a * task.rates[(c * T + t) * nNeurons + s]) / peak));
  });
  return y;
}

/** Normal equations of a ridge regression min ‖A X − B‖² + λ‖X‖², accumulated one sample (row of A and B) at a time. */
class NormalEquations {
  readonly g: Float64Array;
  readonly h: Float64Array;
  samples = 0;
  constructor(
    readonly p: number,
    readonly q: number,
  ) {
    this.g = new Float64Array(p * p);
    this.h = new Float64Array(p * q);
  }
  add(a: ArrayLike<number>, b: ArrayLike<number>): void {
    const { p, q, g, h } = this;
    for (let i = 0; i < p; i++) {
      const ai = a[i];
      if (ai === 0) continue;
      for (let j = i; j < p; j++) g[i * p + j] += ai * a[j];
      for (let j = 0; j < q; j++) h[i * q + j] += ai * b[j];
    }
    this.samples++;
  }
  /** X (p × q, row-major) with λ = lambdaPerSample × the number of samples. */
  solve(lambdaPerSample: number): Float64Array {
    const { p, q, g, h } = this;
    const lambda = lambdaPerSample * this.samples;
    const gm = new Matrix(p, p);
    for (let i = 0; i < p; i++)
      for (let j = i; j < p; j++) gm.set(i, j, g[i * p + j] + (i === j ? lambda : 0)).set(j, i, g[i * p + j] + (i === j ? lambda : 0));
    const chol = new CholeskyDecomposition(gm);
    if (!chol.isPositiveDefinite()) throw new Error('CURBD learner: the normal matrix is not positive definite (raise lambda)');
    const hm = new Matrix(p, q);
    for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) hm.set(i, j, h[i * q + j]);
    const x = chol.solve(hm);
    return Float64Array.from({ length: p * q }, (_, i) => x.get(Math.floor(i / q), i % q));
  }
}

/** Fit the CURBD-style learner (one unit per sampled neuron; `n` is ignored) on the CPU in float64. */
export function trainCurbd(task: SparseTask, options: CurbdOptions = {}): SparseRnn {
  const { tau, dt, heldOut, trainConds, sampled } = resolveSparseSetup(task, { ...options, n: 2 });
  const a = options.targetScale ?? 0.5;
  const lambdaRel = options.lambda ?? 1e-4;
  if (!(a > 0 && a < 1)) throw new Error(`CURBD learner: targetScale must be in (0, 1) (got ${a})`);
  if (!(lambdaRel > 0)) throw new Error(`CURBD learner: lambda must be positive (got ${lambdaRel})`);
  const k = sampled.length;
  if (k < 1) throw new Error('CURBD learner: needs at least one sampled neuron (it has one unit per neuron)');
  const { time: T, nInputs: nin, nOutputs: m } = task;
  const y = curbdTargets(task, sampled, trainConds, a);
  const p = k + nin;
  const ctr = trainConds.length;
  const xT = y.map(Math.atanh);
  const recurrent = new NormalEquations(p, k);
  const a1 = new Float64Array(p);
  const b1 = new Float64Array(k);
  trainConds.forEach((c, ci) => {
    for (let t = 0; t < T - 1; t++) {
      for (let i = 0; i < k; i++) {
        const x0 = xT[(ci * T + t) * k + i];
        a1[i] = y[(ci * T + t) * k + i];
        b1[i] = x0 + ((xT[(ci * T + t + 1) * k + i] - x0) * tau) / dt;
      }
      for (let q = 0; q < nin; q++) a1[k + q] = task.inputs[(c * T + t) * nin + q];
      recurrent.add(a1, b1);
    }
  });
  const ju = recurrent.solve(lambdaRel); // [J | U]ᵀ: p × k
  // Every trial starts from the training conditions' mean initial target state.
  const xInit = new Float32Array(k);
  for (let ci = 0; ci < ctr; ci++) for (let i = 0; i < k; i++) xInit[i] += xT[ci * T * k + i] / ctr;
  const readout = new NormalEquations(k, m);
  trainConds.forEach((c, ci) => {
    for (let t = 0; t < T; t++)
      readout.add(
        y.subarray((ci * T + t) * k, (ci * T + t + 1) * k),
        Array.from({ length: m }, (_, q) => task.outputs[(c * T + t) * m + q]),
      );
  });
  const wt = readout.solve(lambdaRel); // Wᵀ: k × m
  const J = new Float32Array(k * k);
  const Uin = new Float32Array(k * nin);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) J[i * k + j] = ju[j * k + i];
    for (let q = 0; q < nin; q++) Uin[i * nin + q] = ju[(k + q) * k + i];
  }
  const W = new Float32Array(m * k);
  for (let q = 0; q < m; q++) for (let j = 0; j < k; j++) W[q * k + j] = wt[j * m + q];
  return { n: k, tau, dt, nInputs: nin, nOutputs: m, J, W, Uin, xInit, sampled, trainConditions: trainConds, heldOut, history: [], chaosRatio: NaN };
}
