/**
 * Training: maximise the variational SMC bound (mean over the batch of (1/T) log p̂(y_{1:T})) with RAdam
 * or Adam on the GPU. One iteration = minibatch copy (on the GPU) → parameter transforms → fused
 * filter → loss → backward → optimiser step, all encoded without a host sync. Losses are copied into a
 * GPU history buffer and read back every `logEvery` iterations, where NaN/Inf is detected (parameters
 * then roll back to the last good snapshot and training stops with an error).
 */
import { Tape, stopGradient } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { GpuLimitError } from '../gpu/errors.js';
import { rngUniform4, seedToKey } from '../gpu/rng.js';
import type { Dataset } from '../io/dataset.js';
import { add, scale } from '../ops/elementwise.js';
import { reshape, sum } from '../ops/linalg.js';
import { lowpass } from '../ops/lowpass.js';
import { clipGradNorm, exponentialDecay, Optimizer, type OptimizerKind, type OptimizerState } from '../ops/optim.js';
import { hostNoiseFactor, readoutReadsInputs, type HostParams, type LowRankRNN } from '../models/lowrank-rnn.js';
import type { HistoryEntry } from '../models/model-file.js';
import { resampleThreshold, type Resampling } from './smc-layout.js';
import { type Proposal } from '../models/theta-layout.js';
import { fusedFits, fusedLimitMessage, smcFilter, type SmcConfig } from './smc-op.js';
import { smcFilterSteps } from './smc-step.js';

/**
 * The defaults of `lowrank-smc fit` (and of the web app): Adam, lr 1e-3 decaying to 1e-5, and the
 * data-driven start (models/data-init.ts); README "Fit defaults" says why.
 */
export const FIT_DEFAULTS = { iterations: 1000, particles: 10, batch: 10, window: 50, lr: 1e-3, lrEnd: 1e-5, optimizer: 'adam', seed: 0 } as const;

export interface FitOptions {
  iterations: number;
  particles: number;
  batch: number;
  /** Window length T; default: whole trials. */
  window?: number;
  proposal: Proposal;
  resampling?: Resampling;
  /** Resample only when ESS < this fraction of K (default 1: every step, as the published method). */
  resampleThreshold?: number;
  optimizer?: OptimizerKind;
  /** Clip the gradient to this L2 norm before each step (default: no clipping, as the reference). */
  clipGradNorm?: number;
  lr?: number;
  lrEnd?: number;
  seed: number;
  logEvery?: number;
  /** Resume state (from a checkpoint). */
  resume?: { iteration: number; optimizerState: OptimizerState; history: HistoryEntry[] };
  /** Called every `logEvery` iterations (after the readback). */
  onProgress?: (p: FitProgress) => void | Promise<void>;
  /** Called every `checkpointEvery` iterations with what a checkpoint needs. */
  checkpointEvery?: number;
  onCheckpoint?: (c: { iteration: number; optimizerState: OptimizerState; history: HistoryEntry[] }) => Promise<void>;
  /**
   * Added to the reported log-likelihood per step: the data normalisation's log-Jacobian
   * (io/dataset.ts normalisationLogJacobian), so progress is in the units of the data as recorded.
   */
  llOffsetPerStep?: number;
  /** Stop early (e.g. a UI's stop button); checked at each readback. */
  shouldStop?: () => boolean;
}

export interface FitProgress {
  iteration: number;
  iterations: number;
  loss: number;
  llPerStep: number;
  lr: number;
  gradNorm: number;
  ess: number;
  latentNoise: number;
  obsNoise: number | null;
  particleStepsPerSecond: number;
  secondsElapsed: number;
  etaSeconds: number;
}

export interface FitResult {
  history: HistoryEntry[];
  iterations: number;
  seconds: number;
  optimizerState: OptimizerState;
}

/** log Γ(x) (Lanczos), for the Poisson likelihood's data constant Σ log y!. */
export function lgamma(x: number): number {
  const g = 7;
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Deterministic minibatch: (trial, start) per batch element for iteration `iter`. */
export function sampleWindows(ds: Dataset, B: number, T: number, iter: number, key: [number, number]): { trial: number; start: number }[] {
  const out: { trial: number; start: number }[] = [];
  for (let b = 0; b < B; b++) {
    const u = rngUniform4(key, [iter, b, 5, 0]);
    const trial = Math.min(ds.trials - 1, Math.floor(u[0] * ds.trials));
    const starts = ds.time - T + 1;
    out.push({ trial, start: Math.min(starts - 1, Math.floor(u[1] * starts)) });
  }
  return out;
}

export class BatchLoader {
  private y: Tensor;
  private v: Tensor | null;
  /** Prefix sums over (trial, time) of Σ_d log y!, for Poisson reporting. */
  private lgammaPrefix: Float64Array | null = null;

  constructor(
    private engine: Engine,
    private ds: Dataset,
    private inputs: Dataset | null,
    poisson: boolean,
  ) {
    this.y = Tensor.fromArray(engine, ds.data, [ds.data.length], 'f32', 'dataset.y');
    this.v = inputs ? Tensor.fromArray(engine, inputs.data, [inputs.data.length], 'f32', 'dataset.v') : null;
    if (poisson) {
      const n = ds.trials * ds.time;
      this.lgammaPrefix = new Float64Array(n + 1);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let d = 0; d < ds.channels; d++) s += lgamma(ds.data[i * ds.channels + d] + 1);
        this.lgammaPrefix[i + 1] = this.lgammaPrefix[i] + s;
      }
    }
  }

  /** Copy the windows into batch tensors (GPU copies only). */
  batch(windows: { trial: number; start: number }[], T: number): { y: Tensor; v: Tensor | null; dataConstant: number } {
    const D = this.ds.channels;
    const B = windows.length;
    const y = Tensor.empty(this.engine, [B, T, D], 'f32', 'batch.y');
    const DU = this.inputs?.channels ?? 0;
    const v = this.v ? Tensor.empty(this.engine, [B, T, DU], 'f32', 'batch.v') : null;
    let dataConstant = 0;
    windows.forEach((w, b) => {
      const row = w.trial * this.ds.time + w.start;
      this.engine.copy(this.y, y, 4 * T * D, 4 * row * D, 4 * b * T * D);
      if (v && this.v) this.engine.copy(this.v, v, 4 * T * DU, 4 * row * DU, 4 * b * T * DU);
      if (this.lgammaPrefix) dataConstant -= this.lgammaPrefix[row + T] - this.lgammaPrefix[row];
    });
    return { y, v, dataConstant };
  }

  dispose(): void {
    this.y.dispose();
    this.v?.dispose();
  }
}

/**
 * Record one evaluation of the objective on the tape (or without one): the loss
 * −(1/(B·T)) Σ_b (Σ_t L_t + const) and the filter outputs. Σ_t L_t comes from the filter: `path`
 * 'fused' (default) the fused kernel, 'step' the forward-only large-K step path (no gradient; see
 * forwardPath). The optimal proposal's parameter-dependent constant (log-determinants, log σ²) is added
 * here. Inputs u [B,T,DU] are low-pass filtered here when the model says so (from zero at each
 * window's start).
 */
export function objective(model: LowRankRNN, y: Tensor, u: Tensor | null, cfg: Omit<SmcConfig, 'layout' | 'nonlinearity' | 'obs' | 'obsNonlinearity' | 'readoutFromInputs'>, path: 'fused' | 'step' = 'fused') {
  const c = model.config;
  const { B, T } = cfg;
  const v = u && c.inputFilter === 'lowpass' ? lowpass(u, model.params.thetaA) : u;
  const th = model.theta(cfg.proposal, y, B, T, v);
  const full: SmcConfig = {
    ...cfg, layout: model.layoutFor(cfg.proposal), nonlinearity: c.nonlinearity, obs: c.obs, obsNonlinearity: c.obsNonlinearity,
    readoutFromInputs: readoutReadsInputs(c),
  };
  let out: { ll: Tensor; paths: Tensor; anc: Tensor };
  if (path === 'step') {
    const nograd = (t: Tensor | null) => (t ? stopGradient(t) : null);
    const s = smcFilterSteps(model.engine, { theta: stopGradient(th.theta), y, v: nograd(v), qs: nograd(th.qs) }, full, { paths: true, ancestors: true });
    out = { ll: s.ll, paths: s.paths!, anc: s.anc! };
  } else out = smcFilter(model.engine, { theta: th.theta, y, v, qs: th.qs }, full);
  let llSum = sum(out.ll);
  if (th.constant) llSum = add(llSum, scale(reshape(th.constant, []), B));
  const loss = scale(llSum, -1 / (B * T));
  return { loss, out };
}

/** Mean ESS of normalised weights [B·T, K], and the model's current noise levels (small readbacks). */
function diagnostics(model: LowRankRNN, host: HostParams, weights: Float32Array, K: number): { ess: number; latentNoise: number; obsNoise: number | null } {
  let ess = 0;
  const rows = weights.length / K;
  for (let i = 0; i < rows; i++) {
    let s2 = 0;
    for (let k = 0; k < K; k++) s2 += weights[i * K + k] ** 2;
    ess += s2 > 0 ? 1 / s2 : 0;
  }
  const c = model.config;
  const R = c.rank;
  const L = hostNoiseFactor(c, host.noiseZ);
  let logStd = 0;
  for (let r = 0; r < R; r++) {
    let v = 0;
    for (let j = 0; j < R; j++) v += L[r * R + j] ** 2;
    logStd += Math.log(v) / 2;
  }
  let obsNoise: number | null = null;
  if (c.obs === 'gauss') {
    const lv = host.logVarX;
    obsNoise = Math.sqrt(lv.reduce((a, v) => a + Math.exp(v), 0) / lv.length);
  }
  return { ess: ess / rows, latentNoise: Math.exp(logStd / R), obsNoise };
}

export async function fit(engine: Engine, model: LowRankRNN, ds: Dataset, inputs: Dataset | null, opts: FitOptions): Promise<FitResult> {
  const c = model.config;
  if (ds.channels !== c.obsDim) throw new Error(`data has ${ds.channels} channels, the model expects ${c.obsDim}`);
  if ((inputs?.channels ?? 0) !== c.inputDim) throw new Error(`inputs have ${inputs?.channels ?? 0} channels, the model expects ${c.inputDim}`);
  const T = opts.window ?? ds.time;
  if (!Number.isInteger(T) || T < 1 || T > ds.time) throw new Error(`window ${T} must be an integer in [1, ${ds.time}] (time steps per trial)`);
  const B = opts.batch;
  const K = opts.particles;
  // Training runs the fused kernel only (one workgroup per trial): refuse sizes it cannot hold up front.
  if (!fusedFits(engine, K, c.rank)) throw new GpuLimitError('fit', `training: ${fusedLimitMessage(engine, K, c.rank)}`);
  const threshold = resampleThreshold(opts);
  const iterations = opts.iterations;
  const logEvery = Math.max(1, opts.logEvery ?? 10);
  const lr0 = opts.lr ?? FIT_DEFAULTS.lr;
  const lrEnd = opts.lrEnd ?? FIT_DEFAULTS.lrEnd;
  if (!(lr0 > 0 && lrEnd > 0)) throw new Error(`learning rates must be positive (an exponential decay from lr to lrEnd), got lr ${lr0} and lrEnd ${lrEnd}`);
  const llOffset = opts.llOffsetPerStep ?? 0;
  const key = seedToKey(opts.seed);
  // RAdam without its momentum-only first steps: their size scales with the gradient, and far from a
  // fit (large gradients) they throw parameters where the normalised steps cannot bring them back.
  const optimizer = new Optimizer(opts.optimizer ?? FIT_DEFAULTS.optimizer, model.trainable(), { lr: lr0, unrectified: 'skip' });
  let start = 0;
  const history: HistoryEntry[] = opts.resume ? [...opts.resume.history] : [];
  if (opts.resume) {
    optimizer.importState(opts.resume.optimizerState);
    start = opts.resume.iteration;
  }
  const loader = new BatchLoader(engine, ds, inputs, c.obs === 'poisson');
  const lossHistory = Tensor.zeros(engine, [logEvery], 'f32', 'loss.history');
  const gradHistory = Tensor.zeros(engine, [logEvery], 'f32', 'gradnorm.history');
  // The normalised particle weights [B,T,K] of the last iteration before each readback (for its ESS).
  const lastWeights = Tensor.zeros(engine, [B * T * K], 'f32', 'ess.weights');
  const maxNorm = opts.clipGradNorm ?? Infinity; // Infinity: the norm is measured, nothing is scaled
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm must be a positive number, got ${opts.clipGradNorm}`);
  const snapshot = model.trainable().map((p) => Tensor.empty(engine, p.shape, 'f32', 'snapshot'));
  const takeSnapshot = () => model.trainable().forEach((p, i) => engine.copy(p, snapshot[i], 4 * p.size));
  takeSnapshot();
  const t0 = performance.now();
  let pendingConstants: number[] = [];
  let pendingLr: number[] = [];
  const lrAt = exponentialDecay(lr0, lrEnd, Math.max(1, iterations));
  try {
    for (let iter = start; iter < iterations; iter++) {
      const windows = sampleWindows(ds, B, T, iter, key);
      const batch = loader.batch(windows, T);
      const tape = Tape.begin(engine);
      const { loss, out } = objective(model, batch.y, batch.v, { proposal: opts.proposal, resampling: opts.resampling ?? 'systematic', resampleThreshold: threshold, B, T, K, key, iter });
      tape.end();
      engine.copy(loss, lossHistory, 4, 0, 4 * (iter % logEvery));
      const readsBack = (iter + 1) % logEvery === 0 || iter + 1 === iterations;
      if (readsBack) engine.copy(out.paths, lastWeights, 4 * B * T * K, 4 * 2 * B * T * K * c.rank);
      tape.backward(loss);
      const norm = clipGradNorm(model.trainable(), maxNorm);
      engine.copy(norm, gradHistory, 4, 0, 4 * (iter % logEvery));
      norm.dispose();
      optimizer.lr = lrAt(iter);
      optimizer.step();
      optimizer.zeroGrad();
      batch.y.dispose();
      batch.v?.dispose();
      pendingConstants.push(batch.dataConstant / (B * T));
      pendingLr.push(optimizer.lr);
      engine.flush();
      const done = iter + 1;
      if (done % logEvery === 0 || done === iterations) {
        const n = pendingConstants.length;
        const losses = await lossHistory.readF32();
        const gradNorms = await gradHistory.readF32();
        // one readback of the parameters serves the finiteness check and the noise diagnostics
        const host = await model.hostParams();
        const elapsed = (performance.now() - t0) / 1000;
        const rollBack = async (what: string): Promise<never> => {
          model.trainable().forEach((p, i) => engine.copy(snapshot[i], p, 4 * p.size));
          await engine.sync();
          throw new Error(`training diverged: ${what}; parameters were restored to iteration ${done - n} (try a lower --lr or more particles)`);
        };
        for (let j = 0; j < n; j++) {
          const it = done - n + j;
          const l = losses[it % logEvery];
          if (!Number.isFinite(l)) await rollBack(`loss is ${l} at iteration ${it + 1}`);
          const entry: HistoryEntry = { iteration: it + 1, loss: l, llPerStep: -l + pendingConstants[j] + llOffset, lr: pendingLr[j], seconds: elapsed, gradNorm: gradNorms[it % logEvery] };
          history.push(entry);
        }
        // the losses checked above were computed before each step: the last step of the window can
        // still have produced non-finite parameters, which must not become the "last good" snapshot
        for (const values of Object.values(host)) {
          const bad = values.findIndex((x) => !Number.isFinite(x));
          if (bad >= 0) await rollBack(`a parameter is ${values[bad]} after iteration ${done}`);
        }
        const diag = diagnostics(model, host, await lastWeights.readF32(), K);
        Object.assign(history[history.length - 1], { ess: diag.ess, latentNoise: diag.latentNoise }, diag.obsNoise === null ? {} : { obsNoise: diag.obsNoise });
        pendingConstants = [];
        pendingLr = [];
        takeSnapshot();
        const last = history[history.length - 1];
        const itersDone = done - start;
        if (opts.onProgress) {
          await opts.onProgress({
            iteration: done,
            iterations,
            loss: last.loss,
            llPerStep: last.llPerStep,
            lr: last.lr,
            gradNorm: last.gradNorm ?? NaN,
            ess: diag.ess,
            latentNoise: diag.latentNoise,
            obsNoise: diag.obsNoise,
            particleStepsPerSecond: (itersDone * B * K * T) / Math.max(elapsed, 1e-9),
            secondsElapsed: elapsed,
            etaSeconds: (elapsed / itersDone) * (iterations - done),
          });
        }
        if (opts.onCheckpoint && opts.checkpointEvery && (done % opts.checkpointEvery === 0 || done === iterations)) {
          await opts.onCheckpoint({ iteration: done, optimizerState: await optimizer.exportState(), history: [...history] });
        }
        if (opts.shouldStop?.()) break;
      }
    }
    await engine.sync();
    return { history, iterations: history.length ? history[history.length - 1].iteration : start, seconds: (performance.now() - t0) / 1000, optimizerState: await optimizer.exportState() };
  } finally {
    loader.dispose();
    lossHistory.dispose();
    gradHistory.dispose();
    lastWeights.dispose();
    snapshot.forEach((s) => s.dispose());
    optimizer.dispose();
  }
}
