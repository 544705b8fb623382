/**
 * CURBD-style data-constrained learner (Perich et al. 2020): one learner unit per sampled circuit
 * neuron, whose rate is trained to be that neuron's rate. It is the upper bound for the sparse-neuron
 * learners when every neuron is sampled, at the circuit's own time constant.
 *
 * The targets are y = a · r / max|r| (one scale c = a / max|r| for all neurons, so the population's principal
 * directions are kept), x = f⁻¹(y) for the learner's rate function f. With `rate: 'circuit'` (the default when
 * the task knows its rate function) f is the circuit's own asymmetric function scaled by c, c f_circuit(x / c), so the
 * learner's state is c times the circuit's current and the circuit's own dynamics are in the learner's family;
 * with `rate: 'tanh'` f = tanh, which cannot carry the circuit's gain asymmetry (−20 … +80 Hz) through the
 * coupled dynamics of a circuit driven far from baseline. The learner's Euler step x(t+1) = x(t) + dt/τ (−x(t) + J y(t) + U u(t))
 * holds exactly on the targets when [J | U] y-and-u regress the current s(t) = x(t) + τ/dt (x(t+1) − x(t));
 * that ridge regression (float64, teacher-forced: the regressors are the targets themselves) gives J, U.
 * (Adding the learner's own free-running rates as regressors, as online RLS does, made the free-running
 * fit worse on the motor circuit, so the fit is teacher-forced.)
 *
 * The teacher-forced fit only makes each step right from the targets; run freely, the learner's small
 * errors grow along the circuit's amplified directions and it drifts late in the movement. So J, U and
 * the initial state are then refined on the free-running error itself, mean (r − y)² over the training
 * conditions, by backpropagation through the Euler steps and Adam (float64, CPU), and the readout W is
 * fitted by ridge on the learner's own free-running rates.
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { optimizerStepRef } from '../ops/optim.js';
import { rateRnnTrialsRef } from './bptt-op.js';
import { rateFunctionInverse, rateFunctionSlope, TANH_RATE, type RateShape } from './circuit.js';
import { resolveSparseSetup, type SparseCommonOptions, type SparseRnn, type SparseTask } from './task.js';

export interface CurbdOptions extends SparseCommonOptions {
  /** Ridge penalty on [J | U] and W per sample (default 1e-4). */
  lambda?: number;
  /** Largest target rate a in (0, 1) (default 0.5: tanh stays near its linear range). */
  targetScale?: number;
  /**
   * The units' rate function: the circuit's own (task.rateFunction) scaled to the targets, or tanh. Default:
   * 'circuit' when the task records its rate function, else 'tanh'.
   */
  rate?: 'tanh' | 'circuit';
  /** Adam iterations refining J, U and the initial state on the free-running error (default 100; 0: teacher-forced fit only). */
  refineIterations?: number;
  /** Adam step size of the refinement (default 1e-3). */
  refineLr?: number;
}

/** Normalised rates y = c r of the sampled neurons, conditions × time × k, scaled together (c = a / max|r|) to peak |y| = a. */
export function curbdTargets(task: SparseTask, sampled: number[], conds: number[], a: number): { y: Float64Array; scale: number } {
  const { time: T, nNeurons } = task;
  const k = sampled.length;
  let peak = 0;
  for (const c of conds) for (let t = 0; t < T; t++) for (const s of sampled) peak = Math.max(peak, Math.abs(task.rates[(c * T + t) * nNeurons + s]));
  if (!(peak > 0)) throw new Error('CURBD learner: the sampled neurons are silent on the training conditions');
  const y = new Float64Array(conds.length * T * k);
  conds.forEach((c, ci) => {
    for (let t = 0; t < T; t++) sampled.forEach((s, h) => (y[(ci * T + t) * k + h] = (a * task.rates[(c * T + t) * nNeurons + s]) / peak));
  });
  return { y, scale: a / peak };
}

/**
 * R² of each learner unit's rate against its neuron's target rate (curbdTargets with scale a) over the
 * training conditions, time points of all of them pooled: 1 − Σ(r − y)² / Σ(y − ȳ)². A noiseless learner
 * run once per condition, so single-trial and trial-averaged are the same. `rates` is conditions × time × n
 * over every condition of the task (as runSparseRnn returns them).
 */
export function curbdUnitR2(task: SparseTask, model: Pick<SparseRnn, 'n' | 'sampled' | 'trainConditions'>, rates: ArrayLike<number>, a = 0.5): number[] {
  const { time: T } = task;
  const { n: k, sampled, trainConditions: conds } = model;
  if (sampled.length !== k) throw new Error(`unit R²: ${k} units but ${sampled.length} sampled neurons (a CURBD learner has one unit per neuron)`);
  if (rates.length !== task.conditions * T * k) throw new Error(`unit R²: rates have ${rates.length} values, expected ${task.conditions} × ${T} × ${k}`);
  const { y } = curbdTargets(task, sampled, conds, a);
  return sampled.map((_, i) => {
    let mean = 0;
    for (let s = 0; s < conds.length * T; s++) mean += y[s * k + i] / (conds.length * T);
    let ss = 0;
    let st = 0;
    conds.forEach((c, ci) => {
      for (let t = 0; t < T; t++) {
        const target = y[(ci * T + t) * k + i];
        ss += (rates[(c * T + t) * k + i] - target) ** 2;
        st += (target - mean) ** 2;
      }
    });
    return 1 - ss / st;
  });
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

/** Sizes of a batch of free-running trials: trials × time steps, n units, nin inputs. */
export interface CurbdDims {
  trials: number;
  time: number;
  n: number;
  nin: number;
}

/**
 * Free-running loss mean (r − y)² over trials × time × units of the learner τ dx/dt = −x + J f(x) + U u
 * (Euler, step dtTau = dt/τ, every trial from x0; f = rateFunction with `rate`, default tanh) and its
 * gradient with respect to J, U and x0 (the adjoint of the Euler steps; float64).
 */
export function curbdFreeRunLoss(
  J: Float64Array,
  U: Float64Array,
  x0: Float64Array,
  inputs: ArrayLike<number>,
  targets: ArrayLike<number>,
  d: CurbdDims,
  dtTau: number,
  rate: RateShape = TANH_RATE,
): { loss: number; gJ: Float64Array; gU: Float64Array; gx0: Float64Array } {
  const { trials, time: T, n, nin } = d;
  const { r0, rmax } = rate;
  const { rates } = rateRnnTrialsRef(J, U, [], x0, inputs, { ...d, m: 0 }, dtTau, rate);
  // f′ at every state, from the rates (as tanh′ = 1 − r²).
  const slope = rates.map((r) => rateFunctionSlope(r, r0, rmax));
  const count = trials * T * n;
  const gJ = new Float64Array(n * n);
  const gU = new Float64Array(n * nin);
  const gx0 = new Float64Array(n);
  let loss = 0;
  let lam = new Float64Array(n); // ∂loss/∂x(t + 1)
  let next = new Float64Array(n);
  const back = new Float64Array(n);
  for (let c = 0; c < trials; c++) {
    lam.fill(0);
    for (let t = T - 1; t >= 0; t--) {
      const s = c * T + t;
      next.fill(0);
      if (t < T - 1) {
        // x(t + 1) = (1 − h) x(t) + h (J r(t) + U u(t)), r = f(x)
        back.fill(0);
        for (let i = 0; i < n; i++) {
          const li = dtTau * lam[i];
          if (li === 0) continue;
          const row = i * n;
          for (let j = 0; j < n; j++) {
            gJ[row + j] += li * rates[s * n + j];
            back[j] += J[row + j] * li;
          }
          for (let q = 0; q < nin; q++) gU[i * nin + q] += li * inputs[s * nin + q];
        }
        for (let j = 0; j < n; j++) next[j] = (1 - dtTau) * lam[j] + slope[s * n + j] * back[j];
      }
      for (let i = 0; i < n; i++) {
        const r = rates[s * n + i];
        const e = r - targets[s * n + i];
        loss += (e * e) / count;
        next[i] += ((2 * e) / count) * slope[s * n + i];
      }
      [lam, next] = [next, lam];
    }
    for (let i = 0; i < n; i++) gx0[i] += lam[i];
  }
  return { loss, gJ, gU, gx0 };
}

/** Adam on float64 parameter arrays in place, by the optimiser's float64 reference step (β 0.9 / 0.999). */
function adamRefine(params: Float64Array[], lossGrad: () => Float64Array[], iterations: number, lr: number): void {
  const m1 = params.map((p) => new Float64Array(p.length));
  const m2 = params.map((p) => new Float64Array(p.length));
  for (let it = 1; it <= iterations; it++) {
    const grads = lossGrad();
    params.forEach((p, k) => optimizerStepRef('adam', p, grads[k], m1[k], m2[k], it, { lr, eps: 1e-12 }));
  }
}

/** Fit the CURBD-style learner (one unit per sampled neuron; `n` is ignored) on the CPU in float64. */
export function trainCurbd(task: SparseTask, options: CurbdOptions = {}): SparseRnn {
  const { tau, dt, heldOut, trainConds, sampled } = resolveSparseSetup(task, { ...options, n: 2 });
  const a = options.targetScale ?? 0.5;
  const lambdaRel = options.lambda ?? 1e-4;
  if (!(a > 0 && a < 1)) throw new Error(`CURBD learner: targetScale must be in (0, 1) (got ${a})`);
  if (!(lambdaRel > 0)) throw new Error(`CURBD learner: lambda must be positive (got ${lambdaRel})`);
  const iterations = options.refineIterations ?? 100;
  const lr = options.refineLr ?? 1e-3;
  if (!Number.isInteger(iterations) || iterations < 0) throw new Error(`CURBD learner: refineIterations must be an integer ≥ 0 (got ${iterations})`);
  if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`CURBD learner: refineLr must be a positive number (got ${lr})`);
  const rateKind = options.rate ?? (task.rateFunction ? 'circuit' : 'tanh');
  if (rateKind !== 'tanh' && rateKind !== 'circuit') throw new Error(`CURBD learner: rate must be 'tanh' or 'circuit' (got "${rateKind}")`);
  const circuitRate = task.rateFunction;
  if (rateKind === 'circuit' && !(circuitRate && circuitRate.r0 > 0 && circuitRate.rmax > circuitRate.r0)) {
    throw new Error(`CURBD learner: rate 'circuit' needs the task's rate function with 0 < r0 < rmax (task.rateFunction is ${JSON.stringify(circuitRate)})`);
  }
  const k = sampled.length;
  if (k < 1) throw new Error('CURBD learner: needs at least one sampled neuron (it has one unit per neuron)');
  const { time: T, nInputs: nin, nOutputs: m } = task;
  const { y, scale } = curbdTargets(task, sampled, trainConds, a);
  // The circuit's function scaled by c maps the learner's state c x onto the targets c f(x).
  const rate = rateKind === 'circuit' ? { r0: scale * circuitRate!.r0, rmax: scale * circuitRate!.rmax } : TANH_RATE;
  const p = k + nin;
  const ctr = trainConds.length;
  const xT = y.map((v) => rateFunctionInverse(v, rate.r0, rate.rmax));
  const recurrent = new NormalEquations(p, k);
  const a1 = new Float64Array(p);
  const b1 = new Float64Array(k);
  trainConds.forEach((c, ci) => {
    for (let t = 0; t < T - 1; t++) {
      for (let i = 0; i < k; i++) {
        const xt = xT[(ci * T + t) * k + i];
        a1[i] = y[(ci * T + t) * k + i];
        b1[i] = xt + ((xT[(ci * T + t + 1) * k + i] - xt) * tau) / dt;
      }
      for (let q = 0; q < nin; q++) a1[k + q] = task.inputs[(c * T + t) * nin + q];
      recurrent.add(a1, b1);
    }
  });
  const ju = recurrent.solve(lambdaRel); // [J | U]ᵀ: p × k
  const J = new Float64Array(k * k);
  const U = new Float64Array(k * nin);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) J[i * k + j] = ju[j * k + i];
    for (let q = 0; q < nin; q++) U[i * nin + q] = ju[(k + q) * k + i];
  }
  // Every trial starts from the training conditions' mean initial target state.
  const x0 = new Float64Array(k);
  for (let ci = 0; ci < ctr; ci++) for (let i = 0; i < k; i++) x0[i] += xT[ci * T * k + i] / ctr;
  const inputs = new Float64Array(ctr * T * nin);
  trainConds.forEach((c, ci) => inputs.set(Array.prototype.slice.call(task.inputs, c * T * nin, (c + 1) * T * nin), ci * T * nin));
  const d = { trials: ctr, time: T, n: k, nin };
  adamRefine(
    [J, U, x0],
    () => {
      const { gJ, gU, gx0 } = curbdFreeRunLoss(J, U, x0, inputs, y, d, dt / tau, rate);
      return [gJ, gU, gx0];
    },
    iterations,
    lr,
  );
  // The readout reads the learner's own free-running rates.
  const { rates } = rateRnnTrialsRef(J, U, [], x0, inputs, { ...d, m: 0 }, dt / tau, rate);
  const readout = new NormalEquations(k, m);
  trainConds.forEach((c, ci) => {
    for (let t = 0; t < T; t++)
      readout.add(
        rates.subarray((ci * T + t) * k, (ci * T + t + 1) * k),
        Array.from({ length: m }, (_, q) => task.outputs[(c * T + t) * m + q]),
      );
  });
  const wt = readout.solve(lambdaRel); // Wᵀ: k × m
  const W = new Float32Array(m * k);
  for (let q = 0; q < m; q++) for (let j = 0; j < k; j++) W[q * k + j] = wt[j * m + q];
  const [Jf, Uin, xInit] = [J, U, x0].map((v) => Float32Array.from(v));
  return {
    n: k,
    tau,
    dt,
    nInputs: nin,
    nOutputs: m,
    J: Jf,
    W,
    Uin,
    xInit,
    ...(rateKind === 'circuit' ? { rate } : {}),
    sampled,
    trainConditions: trainConds,
    heldOut,
    history: [],
    chaosRatio: NaN,
  };
}
