/**
 * The CNN encoder of the encoder ("smc") proposal (lowrank-smc-model.md §2.4): from a window of
 * observations it gives, per step and independently of the particles, a diagonal Gaussian over the
 * latents, N(mean_t, diag exp(logVar_t)).
 *
 * Kernel lengths [k_1 … k_L] (L ≥ 2) and hidden channels [c_1 … c_{L−1}]: hidden layer i pads the time
 * axis for k_i (placement and mode as src/ops/conv.ts), convolves c_{i−1} → c_i channels and applies the
 * activation (GELU, erf form, or leaky ReLU 0.1); the last stage pads for k_L and applies two heads
 * c_{L−1} → R, the mean and the log-variance (or, with constantVar, one trained log-variance per latent).
 * The log-variance is clamped to [log 1e-8, log 100], the reference's variance bounds for this proposal
 * (ENCODER_LOG_VAR_BOUNDS: without them an encoder that the fit switches off drives its log-variance past
 * float32's exp range and the filter's gradient becomes 0 · ∞ = NaN).
 * The first layer reads the first `inChannels` channels of the data (the held-in channels).
 *
 * Initialisation as PyTorch's Conv1d default (kaiming-uniform with a = √5): weights and biases
 * U(±1/√fan_in), fan_in = in channels × kernel length; the log-variance bias (or the constant
 * log-variance) is shifted by 2 log(initScale), so the encoder starts with a std of about initScale.
 */
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { rngUniform4, seedToKey } from '../gpu/rng.js';
import {
  CONV_ACTIVATIONS,
  conv1d,
  conv1dRef,
  convOutputLength,
  PAD_MODES,
  PAD_PLACEMENTS,
  type ConvActivation,
  type PadMode,
  type PadPlacement,
} from '../ops/conv.js';
import { add, clamp, unaryRef } from '../ops/elementwise.js';

export const ENCODER_ACTIVATIONS = CONV_ACTIVATIONS;
export type EncoderActivation = ConvActivation;
/** Slope of the leaky ReLU activation (the reference's LeakyReLU(0.1)). */
export const LEAKY_SLOPE = 0.1;
/**
 * Bounds of the encoder's log-variance: the reference clamps the proposal's variance to [1e-8, 100]. The upper
 * one matters in practice: Adam keeps stepping a log-variance whose gradient vanishes (α → 0) at the same rate,
 * so an unbounded one reaches exp's float32 overflow (≈ 88.7) within tens of iterations.
 */
export const ENCODER_LOG_VAR_BOUNDS = [Math.log(1e-8), Math.log(100)] as const;

export interface EncoderConfig {
  /** Kernel lengths [k_1 … k_L], L ≥ 2: L − 1 hidden layers, then the heads. */
  kernels: number[];
  /** Channels of the hidden layers [c_1 … c_{L−1}]. */
  channels: number[];
  /** Channels of the data the encoder reads (the first ones; the model's obsDim unless some are held out). */
  inChannels: number;
  placement: PadPlacement;
  padMode: PadMode;
  activation: EncoderActivation;
  /** One trained log-variance per latent instead of the log-variance head. */
  constantVar: boolean;
  /** Initial std of the encoder's Gaussian: the log-variance bias is shifted by 2 log(initScale). */
  initScale: number;
}

/** Defaults of the reference's spike-data runs (causal GELU encoder, zero padding, init_scale 0.1). */
export const DEFAULT_ENCODER: Omit<EncoderConfig, 'kernels' | 'channels' | 'inChannels'> = {
  placement: 'causal',
  padMode: 'zeros',
  activation: 'gelu',
  constantVar: false,
  initScale: 0.1,
};

const MAX_CHANNELS = 256;
const MAX_KERNEL = 1024;

export function validateEncoderConfig(e: EncoderConfig, obsDim?: number): void {
  const where = 'model config: encoder';
  const posInts = (v: unknown, name: string, max: number) => {
    if (!Array.isArray(v) || v.some((k) => !Number.isInteger(k) || k < 1 || k > max)) {
      throw new Error(`${where}.${name} must be a list of integers in [1, ${max}], got ${JSON.stringify(v)}`);
    }
  };
  posInts(e.kernels, 'kernels', MAX_KERNEL);
  posInts(e.channels, 'channels', MAX_CHANNELS);
  if (e.kernels.length < 2) throw new Error(`${where}.kernels needs at least two kernel lengths (hidden layers, then the heads), got [${e.kernels}]`);
  if (e.channels.length !== e.kernels.length - 1) {
    throw new Error(`${where}: ${e.kernels.length} kernels need ${e.kernels.length - 1} hidden channel counts (one per hidden layer), got [${e.channels}]`);
  }
  if (!Number.isInteger(e.inChannels) || e.inChannels < 1) throw new Error(`${where}.inChannels must be a positive integer, got ${e.inChannels}`);
  if (obsDim !== undefined && e.inChannels > obsDim)
    throw new Error(`${where}.inChannels (${e.inChannels}) is larger than the model's ${obsDim} observed channels`);
  if (!PAD_PLACEMENTS.includes(e.placement)) throw new Error(`${where}.placement "${e.placement}" is not one of ${PAD_PLACEMENTS.join(', ')}`);
  if (!Object.prototype.hasOwnProperty.call(PAD_MODES, e.padMode))
    throw new Error(`${where}.padMode "${e.padMode}" is not one of ${Object.keys(PAD_MODES).join(', ')}`);
  if (!ENCODER_ACTIVATIONS.includes(e.activation)) throw new Error(`${where}.activation "${e.activation}" is not one of ${ENCODER_ACTIVATIONS.join(', ')}`);
  if (typeof e.constantVar !== 'boolean') throw new Error(`${where}.constantVar must be true or false, got ${JSON.stringify(e.constantVar)}`);
  if (!(e.initScale > 0 && Number.isFinite(e.initScale))) throw new Error(`${where}.initScale must be a positive number, got ${e.initScale}`);
}

/** Receptive field Σ(k_i − 1) + 1: how many steps of data one output step depends on. */
export function encoderReceptiveField(e: Pick<EncoderConfig, 'kernels'>): number {
  return e.kernels.reduce((s, k) => s + k - 1, 1);
}

/** Output steps for a window of `steps` (fewer than `steps` only for windowed odd kernels: one per layer). */
export function encoderOutputSteps(e: Pick<EncoderConfig, 'kernels' | 'placement'>, steps: number): number {
  return e.kernels.reduce((t, k) => convOutputLength(t, k, e.placement), steps);
}

/**
 * Throws a clear error when the encoder cannot serve windows of `window` steps whose last `tForward` are
 * forward prediction (the encoder reads the first window − tForward): a receptive field longer than that,
 * or windowed padding with odd kernels, which gives fewer outputs than steps.
 */
export function checkEncoderWindow(e: Pick<EncoderConfig, 'kernels' | 'placement'>, window: number, tForward: number, who: string): void {
  const steps = window - tForward;
  const what = tForward > 0 ? `the window's first ${steps} steps (${window} less ${tForward} of forward prediction)` : `the window (${window} steps)`;
  const rf = encoderReceptiveField(e);
  if (rf > steps) throw new Error(`${who}: the encoder's receptive field (${rf} steps) is longer than ${what}`);
  const out = encoderOutputSteps(e, steps);
  if (out !== steps) {
    throw new Error(
      `${who}: ${e.placement} padding gives ${out} encoder outputs for ${what} (odd kernels lose one step per layer); use causal or acausal padding, or even kernels`,
    );
  }
}

/**
 * The encoder proposal's mean mixing weight α = v_z/(v_z + v_e) (the encoder's share of the proposal mean), over
 * trials, steps and latents of encoder log-variances `logVar` [B, steps, R], as the reference logs it: step 0
 * against the initial-state variances `vz0`, later steps against the transition's `vz` (per latent). With diagonal
 * noise α does not depend on the particle, so this is also the mean over particles.
 */
export function encoderAlpha(logVar: ArrayLike<number>, steps: number, vz0: ArrayLike<number>, vz: ArrayLike<number>): number {
  const R = vz.length;
  let s = 0;
  for (let i = 0; i < logVar.length; i++) {
    const r = i % R;
    const v = Math.floor(i / R) % steps === 0 ? vz0[r] : vz[r];
    s += v / (v + Math.exp(logVar[i]));
  }
  return s / logVar.length;
}

/** Parameter names in order: per hidden layer its weight [out,in,k] and bias, then the heads. */
export function encoderParamShapes(e: EncoderConfig, rank: number): Map<string, number[]> {
  const L = e.kernels.length;
  const shapes = new Map<string, number[]>();
  let cin = e.inChannels;
  for (let i = 0; i < L - 1; i++) {
    shapes.set(`hidden${i}.weight`, [e.channels[i], cin, e.kernels[i]]);
    shapes.set(`hidden${i}.bias`, [e.channels[i]]);
    cin = e.channels[i];
  }
  shapes.set('mean.weight', [rank, cin, e.kernels[L - 1]]);
  shapes.set('mean.bias', [rank]);
  if (e.constantVar) shapes.set('logVar', [rank]);
  else {
    shapes.set('logVar.weight', [rank, cin, e.kernels[L - 1]]);
    shapes.set('logVar.bias', [rank]);
  }
  return shapes;
}

export function encoderParameterCount(e: EncoderConfig, rank: number): number {
  let n = 0;
  for (const s of encoderParamShapes(e, rank).values()) n += s.reduce((a, b) => a * b, 1);
  return n;
}

export type EncoderHostParams = Record<string, Float32Array>;

/** PyTorch Conv1d default initialisation (U(±1/√fan_in)), log-variance shifted by 2 log(initScale). */
export function initialEncoderParams(e: EncoderConfig, rank: number, seed: number): EncoderHostParams {
  validateEncoderConfig(e);
  const key = seedToKey(seed);
  let counter = 0;
  const uniform = () => rngUniform4(key, [counter++, 0, 5, 0])[0];
  const out: EncoderHostParams = {};
  const shapes = encoderParamShapes(e, rank);
  const shift = 2 * Math.log(e.initScale);
  for (const [name, shape] of shapes) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    if (name === 'logVar') a.fill(shift);
    else {
      // a bias has the fan-in of its layer's weight
      const w = shapes.get(name.replace(/bias$/, 'weight'))!;
      const bound = 1 / Math.sqrt(w[1] * w[2]);
      for (let i = 0; i < a.length; i++) a[i] = (2 * uniform() - 1) * bound + (name === 'logVar.bias' ? shift : 0);
    }
    out[name] = a;
  }
  return out;
}

/** Per-step Gaussian of the encoder: mean and log-variance [trials, steps', R] (variance exp(logVar)). */
export interface EncoderGaussian {
  mean: Tensor;
  logVar: Tensor;
}

export interface EncodeOptions {
  /** Encode only the first `steps` steps of the window (default all; the rest is forward prediction). */
  steps?: number;
}

/**
 * The encoder forward on the tape: y [trials, T, D] (data windows, D ≥ inChannels) → per-step mean and
 * log-variance [trials, steps', R]. Gradients reach every parameter in `params`.
 */
export function encode(e: EncoderConfig, params: Record<string, Tensor>, y: Tensor, options: EncodeOptions = {}): EncoderGaussian {
  const L = e.kernels.length;
  const conv = { placement: e.placement, mode: e.padMode };
  // hidden layers: the activation fused into the convolution
  const hidden = { ...conv, activation: e.activation, slope: LEAKY_SLOPE };
  // outside a tape (or with frozen parameters) nothing owns the intermediates: free them as we go
  const done = (t: Tensor) => {
    if (!t.requiresGrad) t.dispose();
  };
  let h = y;
  for (let i = 0; i < L - 1; i++) {
    const first = i === 0;
    const a = conv1d(
      h,
      params[`hidden${i}.weight`],
      params[`hidden${i}.bias`],
      first ? { ...hidden, layout: 'btc', channels: e.inChannels, steps: options.steps, outLayout: 'bct' } : hidden,
    );
    if (!first) done(h);
    h = a;
  }
  const mean = conv1d(h, params['mean.weight'], params['mean.bias'], { ...conv, outLayout: 'btc' });
  let raw: Tensor;
  if (e.constantVar) {
    const zeros = Tensor.zeros(y.engine, mean.shape, 'f32', 'encoder.zeros');
    raw = add(zeros, params.logVar);
    zeros.dispose();
  } else raw = conv1d(h, params['logVar.weight'], params['logVar.bias'], { ...conv, outLayout: 'btc' });
  done(h);
  const logVar = clamp(raw, ...ENCODER_LOG_VAR_BOUNDS);
  done(raw);
  return { mean, logVar };
}

/** float64 reference of `encode` on host values: y [trials, T, D] flat. */
export function encodeRef(
  e: EncoderConfig,
  params: Record<string, ArrayLike<number>>,
  rank: number,
  y: ArrayLike<number>,
  yShape: readonly number[],
  options: EncodeOptions = {},
): { mean: Float64Array; logVar: Float64Array } {
  const shapes = encoderParamShapes(e, rank);
  const conv = { placement: e.placement, mode: e.padMode };
  const act = (v: Float64Array) => (e.activation === 'gelu' ? unaryRef('gelu', v) : unaryRef('leaky_relu', v, LEAKY_SLOPE));
  const B = yShape[0];
  let h: Float64Array = Float64Array.from(y);
  let hShape = [...yShape];
  for (let i = 0; i < e.kernels.length - 1; i++) {
    const first = i === 0;
    const w = `hidden${i}.weight`;
    const opts = first ? { ...conv, layout: 'btc' as const, channels: e.inChannels, steps: options.steps, outLayout: 'bct' as const } : conv;
    const z = conv1dRef(h, hShape, params[w], shapes.get(w)!, params[`hidden${i}.bias`], opts);
    hShape = [B, e.channels[i], z.length / (B * e.channels[i])];
    h = act(z);
  }
  const mean = conv1dRef(h, hShape, params['mean.weight'], shapes.get('mean.weight')!, params['mean.bias'], { ...conv, outLayout: 'btc' });
  const raw = e.constantVar
    ? Float64Array.from(mean, (_, i) => params.logVar[i % rank])
    : conv1dRef(h, hShape, params['logVar.weight'], shapes.get('logVar.weight')!, params['logVar.bias'], { ...conv, outLayout: 'btc' });
  return { mean, logVar: unaryRef('clamp', raw, ...ENCODER_LOG_VAR_BOUNDS) };
}

/** The encoder's parameters on the GPU (trainable tensors) and its forward. */
export class CnnEncoder {
  readonly params: Record<string, Tensor> = {};

  constructor(
    readonly engine: Engine,
    readonly config: EncoderConfig,
    readonly rank: number,
    host: EncoderHostParams,
  ) {
    validateEncoderConfig(config);
    for (const [name, shape] of encoderParamShapes(config, rank)) {
      const v = host[name];
      const size = shape.reduce((a, b) => a * b, 1);
      if (!v || v.length !== size) throw new Error(`encoder parameters: ${name} has ${v ? v.length : 'no'} values, expected ${size} ([${shape.join(', ')}])`);
      this.params[name] = Tensor.param(engine, v, shape, `encoder.${name}`);
    }
  }

  static create(engine: Engine, config: EncoderConfig, rank: number, seed: number): CnnEncoder {
    return new CnnEncoder(engine, config, rank, initialEncoderParams(config, rank, seed));
  }

  /**
   * The encoder a fit trains: the checkpoint's (`saved`) when it resumes one, else a new one from `seed`; null for a
   * model without an encoder (which a fit keeps and saves whichever proposal it trains with).
   */
  static forFit(engine: Engine, config: EncoderConfig | undefined, rank: number, saved: EncoderHostParams | null | undefined, seed: number): CnnEncoder | null {
    if (!config) return null;
    return saved ? new CnnEncoder(engine, config, rank, saved) : CnnEncoder.create(engine, config, rank, seed);
  }

  /** Tensors the optimiser updates, in the order of encoderParamShapes. */
  trainable(): Tensor[] {
    return Object.values(this.params);
  }

  forward(y: Tensor, options: EncodeOptions = {}): EncoderGaussian {
    return encode(this.config, this.params, y, options);
  }

  async hostParams(): Promise<EncoderHostParams> {
    const out: EncoderHostParams = {};
    for (const [name, t] of Object.entries(this.params)) out[name] = await t.readF32();
    return out;
  }

  setHostParams(host: EncoderHostParams): void {
    for (const [name, t] of Object.entries(this.params)) this.engine.write(t.buffer, host[name]);
  }

  dispose(): void {
    for (const t of Object.values(this.params)) t.dispose();
  }
}
