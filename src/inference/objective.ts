/**
 * The training and filtering objective: minibatch windows of a dataset copied into batch tensors
 * (BatchLoader) and one evaluation of the filter's log-likelihood bound on them (objective), shared by
 * the trainer (fit) and dataset filtering (filterDataset).
 */
import { stopGradient } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { rngUniform4 } from '../gpu/rng.js';
import { PURPOSE_WINDOWS } from '../gpu/shared-constants.js';
import type { Dataset } from '../io/dataset.js';
import { weightedSum } from '../ops/linalg.js';
import { lowpass } from '../ops/lowpass.js';
import { readoutReadsInputs, type LowRankRNN } from '../models/lowrank-rnn.js';
import { checkEncoderWindow, type CnnEncoder, type EncoderGaussian } from '../models/encoder.js';
import { pack } from '../ops/pack.js';
import { fusedFits, smcFilter, type SmcConfig } from './smc-op.js';
import { smcFilterSteps } from './smc-step.js';
import { smcFilterStepsGrad, trainingPath } from './smc-step-grad.js';
import { priorStart } from './smc-host.js';

/** log Γ(x) (Lanczos), for the Poisson likelihood's data constant Σ log y!. */
export function lgamma(x: number): number {
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
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
    const u = rngUniform4(key, [iter, b, PURPOSE_WINDOWS, 0]);
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
      dataConstant += this.windowConstant(w, T);
    });
    return { y, v, dataConstant };
  }

  /** The data's own term of one window's log-likelihood: −Σ log y! for Poisson counts, else 0. */
  windowConstant(w: { trial: number; start: number }, T: number): number {
    if (!this.lgammaPrefix) return 0;
    const row = w.trial * this.ds.time + w.start;
    return -(this.lgammaPrefix[row + T] - this.lgammaPrefix[row]);
  }

  dispose(): void {
    this.y.dispose();
    this.v?.dispose();
  }
}

/**
 * The filter's per-step encoder data [mean (B,T,R) | log-variance (B,T,R)] from the encoder's Gaussian over the
 * first tIn steps of each window ([B, tIn, R] each; tIn < T with forward prediction, whose steps stay zero).
 */
export function encoderData(engine: Engine, g: EncoderGaussian, B: number, T: number): Tensor {
  const [, tIn, R] = g.mean.shape;
  const n = B * T * R;
  const parts =
    tIn === T
      ? [
          { src: g.mean, dstOffset: 0 },
          { src: g.logVar, dstOffset: n },
        ]
      : Array.from({ length: B }, (_, b) => [
          { src: g.mean, srcOffset: b * tIn * R, length: tIn * R, dstOffset: b * T * R },
          { src: g.logVar, srcOffset: b * tIn * R, length: tIn * R, dstOffset: n + b * T * R },
        ]).flat();
  return pack(engine, parts, 2 * n, 'encoder.qs');
}

/**
 * Record one evaluation of the objective on the tape (or without one): the loss
 * −(1/(B·T)) Σ_b (Σ_t L_t + const), the filter outputs and the per-trial constant (null: none). Σ_t L_t comes from the filter: `path`
 * 'train' (default) the faster of the fused kernel and the step path's gradient op here (trainingPath),
 * 'fused' the fused kernel (the step path's gradient op where K does not fit one workgroup), 'step-grad'
 * the step path's gradient op, 'step' the forward-only large-K step path (no gradient; see forwardPath).
 * The optimal proposal's parameter-dependent constant (log-determinants, log σ²) is added here. Inputs
 * u [B,T,DU] are low-pass filtered here when the model says so (from zero at each window's start). The
 * encoder proposal needs the model's CNN `encoder`: it runs on the window (on the tape; with forward
 * prediction, cfg.tForward, on its first T − tForward steps) and its mean and log-variance become the
 * filter's per-step proposal data (zeros for the forward-prediction steps, which do not read them).
 */
export function objective(
  model: LowRankRNN,
  y: Tensor,
  u: Tensor | null,
  cfg: Omit<SmcConfig, 'layout' | 'nonlinearity' | 'obs' | 'obsNonlinearity' | 'readoutFromInputs'>,
  path: 'train' | 'fused' | 'step-grad' | 'step' = 'train',
  encoder?: CnnEncoder,
) {
  const c = model.config;
  const { B, T } = cfg;
  const tIn = priorStart(cfg, 'objective');
  if (cfg.proposal === 'encoder') {
    if (!encoder) throw new Error("objective: the encoder proposal needs the model's CNN encoder");
    checkEncoderWindow(encoder.config, T, cfg.tForward ?? 0, 'objective');
  }
  const v = u && c.inputFilter === 'lowpass' ? lowpass(u, model.params.thetaA) : u;
  const th = model.theta(cfg.proposal, y, B, T, v);
  let encoderLogVar: Tensor | undefined;
  if (cfg.proposal === 'encoder') {
    // the filter's qs: mean [B,T,R] | log-variance [B,T,R]
    const g = encoder!.forward(y, { steps: tIn });
    th.qs = encoderData(model.engine, g, B, T);
    for (const t of [g.mean, g.logVar]) if (!t.requiresGrad) t.dispose();
    if (g.logVar.requiresGrad) encoderLogVar = g.logVar; // the tape owns it
  }
  const full: SmcConfig = {
    ...cfg,
    layout: model.layoutFor(cfg.proposal),
    nonlinearity: c.nonlinearity,
    obs: c.obs,
    obsNonlinearity: c.obsNonlinearity,
    readoutFromInputs: readoutReadsInputs(c),
  };
  let out: { ll: Tensor; paths: Tensor; anc: Tensor };
  if (path === 'step') {
    const nograd = (t: Tensor | null) => (t ? stopGradient(t) : null);
    const s = smcFilterSteps(model.engine, { theta: stopGradient(th.theta), y, v: nograd(v), qs: nograd(th.qs) }, full, { paths: true, ancestors: true });
    out = { ll: s.ll, paths: s.paths!, anc: s.anc! };
  } else if (
    path === 'step-grad' ||
    (path === 'train' ? trainingPath(model.engine, cfg.K, full.layout.dims.R, cfg) === 'step' : !fusedFits(model.engine, cfg.K, full.layout.dims.R))
  ) {
    // K (or R) beyond one workgroup, or where it is the faster: the step path's gradient op trains at any K
    out = smcFilterStepsGrad(model.engine, { theta: th.theta, y, v, qs: th.qs }, full);
  } else out = smcFilter(model.engine, { theta: th.theta, y, v, qs: th.qs }, full);
  // −(1/(B·T)) (Σ_b ll_b + B·constant)
  const terms = [{ src: out.ll, weight: -1 / (B * T) }];
  if (th.constant) terms.push({ src: th.constant, weight: -1 / T });
  const loss = weightedSum(model.engine, terms, 0, 'loss');
  // encoderLogVar (encoder proposal, on a tape): the encoder's log-variances [B, T − tForward, R], for the logged α
  return { loss, out, constant: th.constant, encoderLogVar };
}
