/**
 * Training: maximise the variational SMC bound (mean over the batch of (1/T) log p̂(y_{1:T})) with RAdam
 * or Adam on the GPU. One iteration = minibatch copy (on the GPU) → parameter transforms → fused
 * filter → loss → backward → optimiser step, all encoded without a host sync. Losses are copied into a
 * GPU history buffer and read back every `logEvery` iterations, where NaN/Inf is detected (parameters
 * then roll back to the last good snapshot and training stops with an error).
 */
import { Tape } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { seedToKey } from '../gpu/rng.js';
import type { Dataset } from '../io/dataset.js';
import { exponentialDecay, Optimizer, type OptimizerKind, type OptimizerState } from '../ops/optim.js';
import { hostNoiseFactor, type HostParams, type LowRankRNN, type ModelConfig } from '../models/lowrank-rnn.js';
import { checkEncoderWindow, encoderAlpha, type CnnEncoder } from '../models/encoder.js';
import { priorStart } from './smc-host.js';
import type { HistoryEntry } from '../models/model-file.js';
import { resampleThreshold, type Resampling } from './smc-layout.js';
import { type Proposal } from '../models/theta-layout.js';
import { BatchLoader, objective, sampleWindows } from './objective.js';
import { fusedFits } from './smc-op.js';
import { checkStepTrainingPaths } from './smc-step-grad.js';

/**
 * The defaults of `lowrank-smc fit` (and of the web app): Adam, lr 1e-3 decaying to 1e-5, and the
 * data-driven start (models/data-init.ts); README "Fit defaults" says why.
 */
export const FIT_DEFAULTS = { iterations: 1000, particles: 10, batch: 10, window: 50, lr: 1e-3, lrEnd: 1e-5, optimizer: 'adam', seed: 0 } as const;

/**
 * The lr warm-up of an encoder-proposal fit unless one is given. Adam's first steps move every weight by the full lr,
 * whatever its gradient: at lr 1e-2 that sends a variance-head encoder's variances to the clamp's upper bound within
 * ~8 iterations (α → 0.001), where no gradient passes and the proposal stays off. A 20-iteration ramp kept α at
 * 0.54/0.41/0.25 at iterations 10/20/30 on the Poisson oscillator (bench/RESULTS.md). Capped at half the iterations,
 * so a short fit still reaches its lr. The other proposals have no such head: 0, their schedules unchanged.
 */
export const ENCODER_LR_WARMUP = 20;

export function defaultLrWarmup(proposal: Proposal, iterations: number): number {
  return proposal === 'encoder' ? Math.min(ENCODER_LR_WARMUP, Math.floor(iterations / 2)) : 0;
}

/** A mean α below this means the encoder proposal has switched itself off (the reference stops training there). */
export const ALPHA_SWITCHED_OFF = 5e-3;

/** What to say when the logged α fell below ALPHA_SWITCHED_OFF (its first time in the history), or null. */
export function encoderSwitchedOff(history: readonly HistoryEntry[]): string | null {
  const h = history.find((e) => e.alpha !== undefined && e.alpha < ALPHA_SWITCHED_OFF);
  if (!h) return null;
  return (
    `the encoder proposal switched itself off: its mean weight α fell to ${h.alpha!.toPrecision(2)} at iteration ${h.iteration} ` +
    `(below ${ALPHA_SWITCHED_OFF}), so the particles follow the transition alone, as the bootstrap proposal's, and no gradient reaches ` +
    'the encoder. Refit with a lower learning rate (--lr), a longer lr warm-up (--lr-warmup) or one trained constant variance ' +
    '(--encoder-constant-var).'
  );
}

export interface FitOptions {
  iterations: number;
  particles: number;
  batch: number;
  /** Window length T; default: whole trials. */
  window?: number;
  proposal: Proposal;
  /** The model's CNN encoder (proposal 'encoder'): run on each window and trained with the model. */
  encoder?: CnnEncoder;
  /**
   * Forward prediction (encoder proposal): the last tForward steps of each window draw from the transition
   * alone, without resampling, and the encoder reads only the steps before them (default 0; see SmcConfig).
   */
  tForward?: number;
  resampling?: Resampling;
  /** Resample only when ESS < this fraction of K (default 1: every step, as the published method). */
  resampleThreshold?: number;
  optimizer?: OptimizerKind;
  /** Clip the gradient to this L2 norm before each step (default: no clipping, as the reference). */
  clipGradNorm?: number;
  lr?: number;
  lrEnd?: number;
  /**
   * Iterations at the starting lr before the exponential decay to lrEnd begins (default 0: decay from the
   * first iteration). Holding lr, then decaying over the last iterations, lets a fit travel at full speed and
   * still end at a small lr, so it does not stop anywhere within the gradient noise's reach.
   */
  lrHold?: number;
  /** Iterations of a linear ramp up to lr at the start (default: defaultLrWarmup, 0 except for the encoder proposal; see exponentialDecay). */
  lrWarmup?: number;
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
  /** Encoder proposal: the mean mixing weight α of the last iteration (see encoderAlpha). */
  alpha?: number;
  /** Set once, at the report where something went wrong that the user should act on (e.g. encoderSwitchedOff). */
  warning?: string;
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

/** Mean ESS of normalised weights [B·T, K], and the model's current noise levels (small readbacks). */
/** Per-latent variances diag(L Lᵀ) of a noise parameter. */
function noiseVariances(c: ModelConfig, raw: ArrayLike<number>): Float64Array {
  const R = c.rank;
  const L = hostNoiseFactor(c, raw);
  return Float64Array.from({ length: R }, (_, r) => {
    let v = 0;
    for (let j = 0; j < R; j++) v += L[r * R + j] ** 2;
    return v;
  });
}

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
  const logStd = noiseVariances(c, host.noiseZ).reduce((a, v) => a + Math.log(v) / 2, 0);
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
  const threshold = resampleThreshold(opts);
  const iterations = opts.iterations;
  const logEvery = Math.max(1, opts.logEvery ?? 10);
  const lr0 = opts.lr ?? FIT_DEFAULTS.lr;
  const lrEnd = opts.lrEnd ?? FIT_DEFAULTS.lrEnd;
  if (!(lr0 > 0 && lrEnd > 0)) throw new Error(`learning rates must be positive (an exponential decay from lr to lrEnd), got lr ${lr0} and lrEnd ${lrEnd}`);
  // the schedule checks hold and warm-up against the iterations before any GPU work
  const lrAt = exponentialDecay(lr0, lrEnd, Math.max(1, iterations), opts.lrHold ?? 0, opts.lrWarmup ?? defaultLrWarmup(opts.proposal, iterations));
  const llOffset = opts.llOffsetPerStep ?? 0;
  // beyond one workgroup the step path stores every particle's path: too many is an error before any work
  if (!fusedFits(engine, K, c.rank)) checkStepTrainingPaths(engine, B, T, K, c.rank);
  const key = seedToKey(opts.seed);
  // RAdam without its momentum-only first steps: their size scales with the gradient, and far from a
  // fit (large gradients) they throw parameters where the normalised steps cannot bring them back.
  if (opts.proposal === 'encoder' && !opts.encoder) throw new Error("fit: the encoder proposal needs the model's CNN encoder (FitOptions.encoder)");
  priorStart({ tForward: opts.tForward, T, proposal: opts.proposal }, 'fit');
  if (opts.proposal === 'encoder' && opts.encoder) checkEncoderWindow(opts.encoder.config, T, opts.tForward ?? 0, 'fit');
  // the model's parameters, then the encoder's: one optimiser, one gradient norm, one snapshot
  const trainable = () => [...model.trainable(), ...(opts.encoder?.trainable() ?? [])];
  const optimizer = new Optimizer(opts.optimizer ?? FIT_DEFAULTS.optimizer, trainable(), { lr: lr0, unrectified: 'skip' });
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
  // encoder proposal: the encoder's log-variances of that iteration [B, T − tForward, R] (for the logged α)
  const tIn = T - (opts.tForward ?? 0);
  const lastLogVar = opts.proposal === 'encoder' ? Tensor.zeros(engine, [B * tIn * c.rank], 'f32', 'alpha.logvar') : null;
  const maxNorm = opts.clipGradNorm ?? Infinity; // Infinity: the norm is measured, nothing is scaled
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm must be a positive number, got ${opts.clipGradNorm}`);
  const snapshot = trainable().map((p) => Tensor.empty(engine, p.shape, 'f32', 'snapshot'));
  const takeSnapshot = () => trainable().forEach((p, i) => engine.copy(p, snapshot[i], 4 * p.size));
  takeSnapshot();
  const t0 = performance.now();
  let pendingConstants: number[] = [];
  let pendingLr: number[] = [];
  let warnedOff = false;
  try {
    for (let iter = start; iter < iterations; iter++) {
      const windows = sampleWindows(ds, B, T, iter, key);
      const batch = loader.batch(windows, T);
      const tape = Tape.begin(engine);
      const { loss, out, encoderLogVar } = objective(
        model,
        batch.y,
        batch.v,
        { proposal: opts.proposal, resampling: opts.resampling ?? 'systematic', resampleThreshold: threshold, tForward: opts.tForward, B, T, K, key, iter },
        'train',
        opts.encoder,
      );
      tape.end();
      engine.copy(loss, lossHistory, 4, 0, 4 * (iter % logEvery));
      const readsBack = (iter + 1) % logEvery === 0 || iter + 1 === iterations;
      if (readsBack) engine.copy(out.paths, lastWeights, 4 * B * T * K, 4 * 2 * B * T * K * c.rank);
      if (readsBack && lastLogVar && encoderLogVar) engine.copy(encoderLogVar, lastLogVar, 4 * lastLogVar.size);
      tape.backward(loss);
      optimizer.lr = lrAt(iter);
      const norm = optimizer.step({ clipGradNorm: maxNorm })!;
      engine.copy(norm, gradHistory, 4, 0, 4 * (iter % logEvery));
      norm.dispose();
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
          trainable().forEach((p, i) => engine.copy(snapshot[i], p, 4 * p.size));
          await engine.sync();
          throw new Error(`training diverged: ${what}; parameters were restored to iteration ${done - n} (try a lower learning rate (lr) or more particles)`);
        };
        for (let j = 0; j < n; j++) {
          const it = done - n + j;
          const l = losses[it % logEvery];
          if (!Number.isFinite(l)) await rollBack(`loss is ${l} at iteration ${it + 1}`);
          const entry: HistoryEntry = {
            iteration: it + 1,
            loss: l,
            llPerStep: -l + pendingConstants[j] + llOffset,
            lr: pendingLr[j],
            seconds: elapsed,
            gradNorm: gradNorms[it % logEvery],
          };
          history.push(entry);
        }
        // the losses checked above were computed before each step: the last step of the window can
        // still have produced non-finite parameters, which must not become the "last good" snapshot
        for (const values of Object.values(host)) {
          const bad = values.findIndex((x) => !Number.isFinite(x));
          if (bad >= 0) await rollBack(`a parameter is ${values[bad]} after iteration ${done}`);
        }
        const diag = diagnostics(model, host, await lastWeights.readF32(), K);
        const alpha = lastLogVar ? encoderAlpha(await lastLogVar.readF32(), tIn, noiseVariances(c, host.noiseZ0), noiseVariances(c, host.noiseZ)) : undefined;
        Object.assign(
          history[history.length - 1],
          { ess: diag.ess, latentNoise: diag.latentNoise },
          diag.obsNoise === null ? {} : { obsNoise: diag.obsNoise },
          alpha === undefined ? {} : { alpha },
        );
        pendingConstants = [];
        pendingLr = [];
        takeSnapshot();
        const last = history[history.length - 1];
        const itersDone = done - start;
        const warning: string | null = !warnedOff && alpha !== undefined && alpha < ALPHA_SWITCHED_OFF ? encoderSwitchedOff(history) : null;
        warnedOff ||= warning !== null;
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
            alpha,
            ...(warning ? { warning } : {}),
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
    return {
      history,
      iterations: history.length ? history[history.length - 1].iteration : start,
      seconds: (performance.now() - t0) / 1000,
      optimizerState: await optimizer.exportState(),
    };
  } finally {
    loader.dispose();
    lossHistory.dispose();
    gradHistory.dispose();
    lastWeights.dispose();
    lastLogVar?.dispose();
    snapshot.forEach((s) => s.dispose());
    optimizer.dispose();
  }
}
