/**
 * Batched 1-D convolution on the tape (kernels: shaders/conv1d.wgsl), as the encoder of the reference
 * uses it (lowrank-smc-model.md §2.4): the time axis is padded, then PyTorch's Conv1d with 'valid'
 * padding (a cross-correlation) is applied, y[b,o,t] = bias[o] + Σ_i Σ_k w[o,i,k] xpad[b,i,t+k].
 * Two algorithms, chosen by cost (`convAlgorithm`) unless the options name one: the direct correlation
 * and, for long kernels, FFTs of the padded series (shaders/conv_fft.wgsl), forward and backward.
 *
 * Padding placements for a kernel of length k: causal (k−1, 0), acausal (0, k−1) and windowed
 * (⌊k/2⌋, ⌊k/2⌋ − 1), which for odd k loses one step per layer (and for k = 1 crops the last step, as a
 * negative pad does in torch). Modes: zeros, reflect (mirror without repeating the edge), replicate
 * (repeat the edge) and circular (wrap: causal + circular lets the first steps see the window's end).
 * Like torch, reflect needs each pad < the series length and circular ≤ it.
 *
 * Inputs are [trials, channels, time] ('bct', contiguous) or [trials, time, channels] ('btc', the
 * layout of data windows), of which the first `channels` channels and `steps` steps may be read (the
 * encoder sees the held-in channels of the steps before any forward-prediction tail). Gradients flow to
 * the input, the weights [out, in, k] and the bias [out].
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { gelu, leakyRelu } from './elementwise.js';

export const PAD_PLACEMENTS = ['causal', 'acausal', 'windowed'] as const;
export type PadPlacement = (typeof PAD_PLACEMENTS)[number];
/** Ids shared with shaders/conv1d.wgsl (its MODE override). */
export const PAD_MODES = { zeros: 0, reflect: 1, replicate: 2, circular: 3 } as const;
export type PadMode = keyof typeof PAD_MODES;
export type SeriesLayout = 'bct' | 'btc';

export interface Conv1dOptions {
  placement: PadPlacement;
  mode: PadMode;
  /** Layout of the input: 'bct' [trials, channels, time] (default) or 'btc' [trials, time, channels]. */
  layout?: SeriesLayout;
  /** Read only the first `channels` channels of the input (default all). */
  channels?: number;
  /** Read only the first `steps` time steps of the input (default all). */
  steps?: number;
  /** Layout of the output (default: the input's). */
  outLayout?: SeriesLayout;
  /** Direct or FFT convolution; 'auto' (default) picks by cost (`convAlgorithm`). */
  algorithm?: 'auto' | ConvAlgorithm;
  /**
   * An activation applied to the output: GELU (erf form) or leaky ReLU of slope `slope` (default 0.1). The FFT path
   * fuses it into its output write and output-gradient read; after the direct kernel it is the elementwise op.
   */
  activation?: ConvActivation;
  slope?: number;
}

export const CONV_ACTIVATIONS = ['gelu', 'leaky_relu'] as const;
export type ConvActivation = (typeof CONV_ACTIVATIONS)[number];

export const CONV_ALGORITHMS = ['direct', 'fft'] as const;
export type ConvAlgorithm = (typeof CONV_ALGORITHMS)[number];

/** (left, right) padding of a kernel of length k; a negative right pad crops (windowed, k = 1). */
export function padAmounts(placement: PadPlacement, k: number): [number, number] {
  switch (placement) {
    case 'causal':
      return [k - 1, 0];
    case 'acausal':
      return [0, k - 1];
    case 'windowed':
      return [Math.floor(k / 2), Math.floor(k / 2) - 1];
    default:
      throw new Error(`conv1d: padding placement "${placement as string}" is not one of ${PAD_PLACEMENTS.join(', ')}`);
  }
}

/** Output length of a layer of kernel length k over `steps` steps: steps − 1 for windowed odd k, else steps. */
export function convOutputLength(steps: number, k: number, placement: PadPlacement): number {
  const [l, r] = padAmounts(placement, k);
  return steps + l + r - k + 1;
}

/** Element strides [trial, channel, time] of a layout. */
function layoutStrides(layout: SeriesLayout, channels: number, steps: number): [number, number, number] {
  return layout === 'bct' ? [channels * steps, steps, 1] : [channels * steps, 1, channels];
}

interface Geometry {
  B: number;
  Cin: number;
  T: number;
  Cout: number;
  K: number;
  padL: number;
  tp: number;
  Tout: number;
  xStrides: [number, number, number];
  outLayout: SeriesLayout;
  outShape: number[];
}

function geometry(xShape: readonly number[], wShape: readonly number[], biasShape: readonly number[] | null, o: Conv1dOptions): Geometry {
  if (!PAD_PLACEMENTS.includes(o.placement)) throw new Error(`conv1d: padding placement "${o.placement}" is not one of ${PAD_PLACEMENTS.join(', ')}`);
  if (!Object.prototype.hasOwnProperty.call(PAD_MODES, o.mode))
    throw new Error(`conv1d: padding mode "${o.mode}" is not one of ${Object.keys(PAD_MODES).join(', ')}`);
  const layout = o.layout ?? 'bct';
  if (layout !== 'bct' && layout !== 'btc') throw new Error(`conv1d: layout "${layout as string}" is not bct or btc`);
  if (xShape.length !== 3) throw new Error(`conv1d: input must be [trials, ${layout === 'bct' ? 'channels, time' : 'time, channels'}], got shape [${xShape}]`);
  if (wShape.length !== 3) throw new Error(`conv1d: weights must be [out channels, in channels, kernel length], got shape [${wShape}]`);
  const B = xShape[0];
  const [physC, physT] = layout === 'bct' ? [xShape[1], xShape[2]] : [xShape[2], xShape[1]];
  const Cin = o.channels ?? physC;
  const T = o.steps ?? physT;
  if (!Number.isInteger(Cin) || Cin < 1 || Cin > physC) throw new Error(`conv1d: channels ${Cin} must be an integer in [1, ${physC}] (the input's channels)`);
  if (!Number.isInteger(T) || T < 1 || T > physT) throw new Error(`conv1d: steps ${T} must be an integer in [1, ${physT}] (the input's time steps)`);
  const [Cout, wIn, K] = wShape;
  if (wIn !== Cin) throw new Error(`conv1d: weights [${wShape}] take ${wIn} input channels, the input has ${Cin}`);
  if (Cout < 1 || K < 1) throw new Error(`conv1d: weights [${wShape}] need at least one output channel and one tap`);
  if (biasShape && (biasShape.length !== 1 || biasShape[0] !== Cout))
    throw new Error(`conv1d: bias must be [${Cout}] (one per output channel), got [${biasShape}]`);
  const [padL, padR] = padAmounts(o.placement, K);
  if (o.mode === 'reflect' && (padL >= T || padR >= T)) {
    throw new Error(
      `conv1d: reflect padding of ${Math.max(padL, padR)} steps (${o.placement}, kernel ${K}) needs more than ${Math.max(padL, padR)} steps, the input has ${T}`,
    );
  }
  if (o.mode === 'circular' && (padL > T || padR > T)) {
    throw new Error(`conv1d: circular padding of ${Math.max(padL, padR)} steps (${o.placement}, kernel ${K}) wraps more than once over ${T} steps`);
  }
  const tp = T + padL + padR;
  const Tout = tp - K + 1;
  if (Tout < 1) throw new Error(`conv1d: kernel length ${K} with ${o.placement} padding leaves no output over ${T} steps`);
  if (o.algorithm !== undefined && o.algorithm !== 'auto' && !CONV_ALGORITHMS.includes(o.algorithm))
    throw new Error(`conv1d: algorithm "${o.algorithm as string}" is not one of auto, ${CONV_ALGORITHMS.join(', ')}`);
  if (o.activation !== undefined && !CONV_ACTIVATIONS.includes(o.activation))
    throw new Error(`conv1d: activation "${o.activation as string}" is not one of ${CONV_ACTIVATIONS.join(', ')}`);
  if (o.slope !== undefined && !Number.isFinite(o.slope)) throw new Error(`conv1d: leaky ReLU slope ${o.slope} must be a finite number`);
  const outLayout = o.outLayout ?? layout;
  const outShape = outLayout === 'bct' ? [B, Cout, Tout] : [B, Tout, Cout];
  const xStrides = layoutStrides(layout, physC, physT);
  return { B, Cin, T, Cout, K, padL, tp, Tout, xStrides, outLayout, outShape };
}

const pow2ceil = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * Register and workgroup tiles for an output of `cout` channels × `tout` steps with `klen` taps: up to
 * 8 steps × 4 channels per invocation and 16 × 8 invocations, shrunk for small outputs (the heads, the
 * weight gradient of short kernels); chunks of up to 16 taps × 64 / 16 input channels.
 */
function tiles(cout: number, tout: number, klen: number): Record<string, number> {
  const TPT = tout >= 64 ? 8 : tout >= 8 ? 4 : 1;
  const TX = Math.min(16, pow2ceil(Math.ceil(tout / TPT)));
  const CPT = Math.min(4, pow2ceil(cout));
  const TY = Math.min(8, pow2ceil(Math.ceil(cout / CPT)));
  const KC = Math.min(16, klen);
  const CI_C = Math.max(1, Math.min(8, Math.floor(64 / KC)));
  return { TX, TY, CPT, TPT, TPT1: TPT - 1, KC, CI_C };
}

/** Below this kernel length the weight gradient is summed one weight per workgroup (`grad_sum`), not tiled. */
const SHORT_KERNEL = 4;

function gradSumKernel(engine: Engine, weighted: boolean, mode: number) {
  return engine.kernel('conv1d', 'grad_sum', { defines: tiles(1, 1, 1), overrides: { WEIGHTED: weighted ? 1 : 0, MODE: mode } });
}

interface ConvCall {
  x: Tensor;
  w: Tensor;
  bias: Tensor | null;
  y: Tensor;
  mode: number;
  flip: boolean;
  trials: number;
  cin: number;
  cout: number;
  tin: number;
  tout: number;
  klen: number;
  padL: number;
  tp: number;
  xOff: number;
  xs: readonly number[];
  ws: readonly number[];
  ys: readonly number[];
}

/** The kernels' ConvParams uniform (`fold` reads the input-side fields only). */
function convParams(
  trials: number,
  cin: number,
  cout: number,
  tin: number,
  tout: number,
  klen: number,
  padL: number,
  tp: number,
  xOff: number,
  xs: readonly number[],
  ws: readonly number[],
  ys: readonly number[],
) {
  return {
    trials,
    cin,
    cout,
    tin,
    tout,
    klen,
    padL,
    tp,
    xOff,
    xsB: xs[0],
    xsC: xs[1],
    xsT: xs[2],
    wsO: ws[0],
    wsI: ws[1],
    wsK: ws[2],
    ysB: ys[0],
    ysC: ys[1],
    ysT: ys[2],
  };
}

function dispatchConv(engine: Engine, c: ConvCall): void {
  const defines = tiles(c.cout, c.tout, c.klen);
  const kernel = engine.kernel('conv1d', 'conv', {
    defines,
    overrides: { MODE: c.mode, HAS_BIAS: c.bias ? 1 : 0, FLIP: c.flip ? 1 : 0 },
    variant: Object.entries(defines)
      .map(([k, v]) => `${k}${v}`)
      .join(','),
  });
  const p = convParams(c.trials, c.cin, c.cout, c.tin, c.tout, c.klen, c.padL, c.tp, c.xOff, c.xs, c.ws, c.ys);
  const groups: [number, number, number] = [Math.ceil(c.tout / (defines.TX * defines.TPT)), Math.ceil(c.cout / (defines.TY * defines.CPT)), c.trials];
  engine.dispatch(kernel, { p, x: c.x, w: c.w, bias: c.bias ?? c.w, y: c.y }, groups);
}

// ------------------------------------------------------------------ FFT convolution (shaders/conv_fft.wgsl)

/** Invocations per FFT workgroup and the (p, q) block of one `mac` invocation. */
const FFT_WG = 64;
const MAC_BLOCK = 4;
/**
 * 'auto' takes the FFT when the direct correlation's multiply-adds exceed this many times the FFT path's
 * estimated work. Below 1: on the software adapter the FFT path ran forward + weight gradient 2× faster than
 * the direct kernels even at kernel 4 (128 → 64 channels, 35 steps, 16 trials), whose weight gradient (an
 * output of only K taps) tiles poorly; both kernels are bound by loads there, not by multiply-adds.
 */
const FFT_ADVANTAGE = 0.5;

/** FFT slots (two real rows each) per workgroup: up to 512 points, so short transforms share a workgroup's setup. */
const fftSlots = (N: number) => Math.max(1, Math.floor(512 / N));

/** The radix-2 sub-transform length of an FFT of N points: N, or N / 3 for N = 3 · 2^m (one radix-3 step after them). */
const fftSubLength = (N: number) => (N % 3 === 0 ? N / 3 : N);

/**
 * FFT length for a padded length tp: the smallest power of two or three times a power of two (≥ 6) that is ≥ tp (at
 * least 4; maze's 48 padded steps take 48 points, not 64, hc2's 368 take 384, not 512), or 0 when its workgroup arrays
 * (8 bytes a point of each slot, 8 a twiddle of the sub-transforms) do not fit.
 */
export function fftLength(tp: number, maxWorkgroupBytes: number): number {
  const p2 = Math.max(4, pow2ceil(tp));
  const p3 = 3 * Math.max(2, pow2ceil(tp / 3));
  const n = Math.min(p2, p3);
  return 8 * n * fftSlots(n) + 4 * fftSubLength(n) <= maxWorkgroupBytes ? n : 0;
}

export type ConvShape = { B: number; Cin: number; Cout: number; K: number; Tout: number; tp: number };
export type FftLimits = Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxStorageBufferBindingSize'>;

/** Why the FFT path cannot run this shape on these limits (its transform or its largest spectrum too large), or null. */
function fftObstacle(s: ConvShape, limits: FftLimits): string | null {
  const N = fftLength(s.tp, limits.maxComputeWorkgroupStorageSize);
  if (!N) return `an FFT over ${s.tp} padded steps needs more workgroup memory than the device's ${limits.maxComputeWorkgroupStorageSize} bytes`;
  const bytes = Math.max(s.B * s.Cin, s.Cout * s.Cin, s.B * s.Cout) * (N / 2 + 1) * 8;
  if (bytes > limits.maxStorageBufferBindingSize)
    return `the FFT's spectra (${bytes} bytes) exceed the device's maxStorageBufferBindingSize (${limits.maxStorageBufferBindingSize})`;
  return null;
}

/**
 * The algorithm 'auto' runs for B trials, Cin → Cout channels, kernel K, Tout output steps of a padded length
 * tp: the FFT when 2·B·Cout·Cin·K·Tout (direct) exceeds FFT_ADVANTAGE × (8·B·Cout·Cin·(N/2 + 1) complex
 * multiply-adds + 2.5·N·log₂N per transformed row), the direct correlation otherwise or when the FFT does not fit.
 */
export function convAlgorithm(s: ConvShape, limits: FftLimits): ConvAlgorithm {
  if (fftObstacle(s, limits)) return 'direct';
  const N = fftLength(s.tp, limits.maxComputeWorkgroupStorageSize);
  const direct = 2 * s.B * s.Cout * s.Cin * s.K * s.Tout;
  // rows transformed: input, weights, output; two real rows per complex FFT of 5 N log₂N flops
  const rows = s.B * s.Cin + s.Cout * s.Cin + s.B * s.Cout;
  const fft = 8 * s.B * s.Cout * s.Cin * (N / 2 + 1) + rows * 2.5 * N * Math.log2(N);
  return direct > FFT_ADVANTAGE * fft ? 'fft' : 'direct';
}

/** Rows of a strided real tensor: row = r1 · n2 + r2 starts at r1 · s1 + r2 · s2, steps sT apart. */
interface FftRows {
  rows: number;
  n2: number;
  s1: number;
  s2: number;
  sT: number;
}

/**
 * The FFT kernels' twiddles as (re, im) pairs computed in float64 (one table per N and device): e^{−2πik/NS}, k < NS/2,
 * for the radix-2 sub-transforms of NS points, then for N = 3·NS e^{−2πik/N}, k < N, for the radix-3 step.
 */
function twiddles(engine: Engine, N: number): GPUBuffer {
  return engine.constant(`conv1d.twiddles.${N}`, () => {
    const NS = fftSubLength(N);
    const angles = Array.from({ length: NS / 2 }, (_, k) => (-2 * Math.PI * k) / NS);
    if (NS !== N) for (let k = 0; k < N; k++) angles.push((-2 * Math.PI * k) / N);
    return Float32Array.from(angles.flatMap((a) => [Math.cos(a), Math.sin(a)]));
  });
}

/** A fused activation: its kernels' overrides. */
type FusedAct = { GELU: number; SLOPE: number };

function fftKernel(engine: Engine, entry: string, N: number, overrides: Record<string, number>, act: FusedAct | null = null) {
  const defines = { N, NS: fftSubLength(N), LOGNS: Math.log2(fftSubLength(N)), WG: FFT_WG, S: fftSlots(N), PT: MAC_BLOCK, QT: MAC_BLOCK, ACT: act !== null };
  return engine.kernel('conv_fft', entry, { defines, overrides: { ...overrides, ...act }, variant: `N${N}${act ? 'act' : ''}` });
}

/**
 * Spectra [rows, N/2 + 1, 2] (bins of the real series, as re/im pairs) of the rows of `src`: padded
 * position q < len reads source step source_step(q) of `tin` (padL before them) under `mode`; the rest is zero.
 * With `act`, src is the gradient of act(z) and each value is multiplied by act'(z), z laid out as src.
 */
function spectra(engine: Engine, src: Tensor, r: FftRows, tin: number, padL: number, len: number, mode: number, N: number, act?: Fused): Tensor {
  const out = Tensor.empty(engine, [r.rows, N / 2 + 1, 2], 'f32', 'conv1d.spectra');
  const p = { ...r, off: 0, tin, padL, len };
  const kernel = fftKernel(engine, 'forward', N, { MODE: mode }, act?.op);
  engine.dispatch(kernel, { p, x: src, spec: out, twid: twiddles(engine, N), ...(act ? { zact: act.z } : {}) }, engine.grid(r.rows, 2 * fftSlots(N)));
  return out;
}

/** A fused activation and the pre-activation tensor z it writes (inverse) or reads (forward of ∂act(z)). */
interface Fused {
  op: FusedAct;
  z: Tensor;
}

/**
 * Writes steps from .. from + len − 1 of the real series of each spectrum row into `out` (through r's strides), plus
 * bias[r2]; with `act`, those values go to act.z and their activations to `out`.
 */
function inverseSpectra(engine: Engine, spec: Tensor, r: FftRows, from: number, len: number, bias: Tensor | null, out: Tensor, N: number, act?: Fused): void {
  const p = { ...r, off: 0, tin: 0, padL: from, len };
  const kernel = fftKernel(engine, 'inverse', N, { HAS_BIAS: bias ? 1 : 0 }, act?.op);
  const outputs: Record<string, Tensor> = act ? { y: act.z, ya: out } : { y: out };
  engine.dispatch(kernel, { p, spec_in: spec, bias: bias ?? spec, ...outputs, twid: twiddles(engine, N) }, engine.grid(r.rows, 2 * fftSlots(N)));
}

/**
 * C[p, q] = Σ_r opA(A[p, r]) · opB(B[q, r]) per bin, spectra read through [p or q, r] row strides (in rows),
 * op the conjugate where asked; C is [P · Q, N/2 + 1, 2].
 */
function macSpectra(
  engine: Engine,
  a: Tensor,
  aStrides: [number, number],
  conjA: boolean,
  b: Tensor,
  bStrides: [number, number],
  conjB: boolean,
  P: number,
  Q: number,
  R: number,
  N: number,
): Tensor {
  const F = N / 2 + 1;
  const c = Tensor.empty(engine, [P * Q, F, 2], 'f32', 'conv1d.mac');
  const m = { P, Q, R, aP: aStrides[0] * F, aR: aStrides[1] * F, bQ: bStrides[0] * F, bR: bStrides[1] * F };
  const kernel = fftKernel(engine, 'mac', N, { CONJ_A: conjA ? 1 : 0, CONJ_B: conjB ? 1 : 0 });
  engine.dispatch(kernel, { m, sa: a, sb: b, sc: c }, [Math.ceil((F * Math.ceil(Q / MAC_BLOCK)) / FFT_WG), 1, Math.ceil(P / MAC_BLOCK)]);
  return c;
}

/**
 * y = conv1d(pad(x), w) + bias for x in `options.layout`, w [out, in, k], bias [out] (or null). The
 * output is [trials, out, steps'] ('bct') or [trials, steps', out] ('btc'), steps' = convOutputLength.
 */
export function conv1d(x: Tensor, w: Tensor, bias: Tensor | null, options: Conv1dOptions): Tensor {
  for (const [n, t] of [
    ['input', x],
    ['weights', w],
    ['bias', bias],
  ] as const) {
    if (t && t.dtype !== 'f32') throw new Error(`conv1d: ${n} ${t.describe()} must be f32, is ${t.dtype}`);
  }
  const g = geometry(x.shape, w.shape, bias ? bias.shape : null, options);
  const engine = x.engine;
  const maxGroups = engine.limits.maxComputeWorkgroupsPerDimension;
  if (g.B > maxGroups || g.Cin > maxGroups) throw new Error(`conv1d: ${g.B} trials and ${g.Cin} input channels must each be at most ${maxGroups}`);
  const { B, Cin, T, Cout, K, padL, tp, Tout, xStrides } = g;
  const algorithm = options.algorithm && options.algorithm !== 'auto' ? options.algorithm : convAlgorithm(g, engine.limits);
  const obstacle = algorithm === 'fft' ? fftObstacle(g, engine.limits) : null;
  if (obstacle) throw new Error(`conv1d: ${obstacle}; use the direct algorithm`);
  const N = algorithm === 'fft' ? fftLength(tp, engine.limits.maxComputeWorkgroupStorageSize) : 0;
  const slope = options.slope ?? 0.1;
  if (options.activation && !N) {
    // the direct kernel, then the elementwise activation
    const z = conv1d(x, w, bias, { ...options, activation: undefined, algorithm: 'direct' });
    const h = options.activation === 'gelu' ? gelu(z) : leakyRelu(z, slope);
    if (!z.requiresGrad) z.dispose(); // outside a tape nothing else holds it
    return h;
  }
  const yStrides = layoutStrides(g.outLayout, Cout, Tout);
  const wStrides = [Cin * K, K, 1];
  const mode = PAD_MODES[options.mode];
  const y = Tensor.empty(engine, g.outShape, 'f32', 'conv1d');
  // rows of the FFT path: input (trial, channel), weights (out, in), output (trial, out)
  const xRows: FftRows = { rows: B * Cin, n2: Cin, s1: xStrides[0], s2: xStrides[1], sT: xStrides[2] };
  const wRows: FftRows = { rows: Cout * Cin, n2: Cin, s1: Cin * K, s2: K, sT: 1 };
  const yRows: FftRows = { rows: B * Cout, n2: Cout, s1: yStrides[0], s2: yStrides[1], sT: yStrides[2] };
  const saved = [x.retain(), w.retain()];
  // the fused activation's pre-activations, kept for the backward pass
  const act: Fused | null = options.activation
    ? { op: { GELU: options.activation === 'gelu' ? 1 : 0, SLOPE: slope }, z: Tensor.empty(engine, g.outShape, 'f32', 'conv1d.z') }
    : null;
  if (N) {
    // Ŷ[b, o] = Σ_i X̂[b, i] · conj Ŵ[o, i]; the spectra are kept for the backward pass
    const xf = spectra(engine, x, xRows, T, padL, tp, mode, N);
    const wf = spectra(engine, w, wRows, K, 0, K, PAD_MODES.zeros, N);
    const yf = macSpectra(engine, xf, [Cin, 1], false, wf, [Cin, 1], true, B, Cout, Cin, N);
    inverseSpectra(engine, yf, yRows, 0, Tout, bias, y, N, act ?? undefined);
    yf.dispose();
    saved.push(xf, wf);
    if (act) saved.push(act.z);
  } else {
    dispatchConv(engine, {
      x,
      w,
      bias,
      y,
      mode,
      flip: false,
      trials: B,
      cin: Cin,
      cout: Cout,
      tin: T,
      tout: Tout,
      klen: K,
      padL,
      tp,
      xOff: 0,
      xs: xStrides,
      ws: wStrides,
      ys: yStrides,
    });
  }
  record(
    'conv1d',
    bias ? [x, w, bias] : [x, w],
    [y],
    ([gy]) => {
      const none = bias ? [null, null, null] : [null, null];
      if (!gy) return none;
      const [sx, sw, xf, wf] = saved;
      // the FFT path's bias gradient comes from these spectra too (their DC bins)
      const gyf =
        N && (x.requiresGrad || w.requiresGrad || bias?.requiresGrad) ? spectra(engine, gy, yRows, Tout, 0, Tout, PAD_MODES.zeros, N, act ?? undefined) : null;
      let gx: Tensor | null = null;
      if (x.requiresGrad) {
        const covers = Cin * T * B === x.size;
        gx = covers ? Tensor.empty(engine, x.shape, 'f32', 'conv1d.gx') : Tensor.zeros(engine, x.shape, 'f32', 'conv1d.gx');
        // a convolution: ∂X̂pad[b, i] = Σ_o dŶ[b, o] · Ŵ[o, i]
        const gf = gyf ? macSpectra(engine, gyf, [Cout, 1], false, wf, [1, Cin], false, B, Cin, Cout, N) : null;
        // zero padding reads each source step at one padded position: ∂x is ∂xpad from padL on, written
        // straight into ∂x (the FFT only while those positions lie within tp, short of its wrap-around)
        const straight = mode === PAD_MODES.zeros && (!gf || padL + T <= tp);
        const gpad = straight ? null : Tensor.empty(engine, [B, Cin, tp], 'f32', 'conv1d.gpad');
        if (gf) {
          if (gpad) inverseSpectra(engine, gf, { rows: B * Cin, n2: Cin, s1: Cin * tp, s2: tp, sT: 1 }, 0, tp, null, gpad, N);
          else inverseSpectra(engine, gf, xRows, padL, T, null, gx, N);
        } else {
          // the output gradient zero-padded by K − 1 on both sides, convolved with the flipped, transposed weights
          // (only the padded positions from padL on, K − 1 − padL zeros before, when they go straight to ∂x)
          dispatchConv(engine, {
            x: gy,
            w: sw,
            bias: null,
            y: gpad ?? gx,
            mode: PAD_MODES.zeros,
            flip: true,
            trials: B,
            cin: Cout,
            cout: Cin,
            tin: Tout,
            tout: gpad ? tp : T,
            klen: K,
            padL: gpad ? K - 1 : K - 1 - padL,
            tp: gpad ? Tout + 2 * (K - 1) : T + K - 1,
            xOff: 0,
            xs: yStrides,
            ws: [K, Cin * K, 1],
            ys: gpad ? [Cin * tp, tp, 1] : xStrides,
          });
        }
        if (gpad) {
          // ∂/∂xpad [B, Cin, tp] folded onto the source steps through the padding map
          const p = convParams(B, Cin, 0, T, 0, 0, padL, tp, 0, xStrides, [0, 0, 0], [0, 0, 0]);
          engine.dispatch(
            engine.kernel('conv1d', 'fold', { defines: tiles(1, 1, 1), overrides: { MODE: mode } }),
            { p, g: gpad, gx },
            engine.grid(B * Cin * T, 64),
          );
          gpad.dispose();
        }
        gf?.dispose();
      }
      let gw: Tensor | null = null;
      if (w.requiresGrad) {
        // ∂w[o,i,k] = Σ_b Σ_t gy[b,o,t] xpad[b,i,t+k]
        gw = Tensor.empty(engine, w.shape, 'f32', 'conv1d.gw');
        if (gyf) {
          // ∂Ŵ[o, i] = Σ_b conj dŶ[b, o] · X̂[b, i]
          const gf = macSpectra(engine, gyf, [1, Cout], true, xf, [1, Cin], false, Cout, Cin, B, N);
          inverseSpectra(engine, gf, wRows, 0, K, null, gw, N);
          gf.dispose();
        } else if (K < SHORT_KERNEL) {
          const p = convParams(B, Cin, Cout, T, Tout, K, padL, tp, 0, xStrides, [0, 0, 0], yStrides);
          engine.dispatch(gradSumKernel(engine, true, mode), { p, gy, gsum: gw, xsum: sx }, engine.grid(Cout * Cin * K, 1));
        } else {
          // the direct kernel with trials ↔ input channels
          dispatchConv(engine, {
            x: sx,
            w: gy,
            bias: null,
            y: gw,
            mode,
            flip: false,
            trials: Cin,
            cin: B,
            cout: Cout,
            tin: T,
            tout: K,
            klen: Tout,
            padL,
            tp,
            xOff: 0,
            xs: [xStrides[1], xStrides[0], xStrides[2]],
            ws: [yStrides[1], yStrides[0], yStrides[2]],
            ys: [K, Cin * K, 1],
          });
        }
      }
      let gb: Tensor | null = null;
      if (bias?.requiresGrad) {
        gb = Tensor.empty(engine, [Cout], 'f32', 'conv1d.gbias');
        if (gyf) {
          const p = { ...yRows, off: 0, tin: 0, padL: 0, len: 0 };
          engine.dispatch(fftKernel(engine, 'bias_grad', N, {}), { p, spec_in: gyf, y: gb }, Math.ceil(Cout / FFT_WG));
        } else {
          const p = convParams(B, 1, Cout, 0, Tout, 1, 0, 0, 0, [0, 0, 0], [0, 0, 0], yStrides);
          engine.dispatch(gradSumKernel(engine, false, PAD_MODES.zeros), { p, gy, gsum: gb, xsum: gy }, engine.grid(Cout, 1));
        }
      }
      gyf?.dispose();
      return bias ? [gx, gw, gb] : [gx, gw];
    },
    saved,
  );
  return y;
}

// ------------------------------------------------------------------ float64 reference

/** The padded series of one channel, built as torch's F.pad does (a negative right pad crops). */
export function padSeriesRef(s: ArrayLike<number>, padL: number, padR: number, mode: PadMode): Float64Array {
  const T = s.length;
  const at = (i: number) => s[i];
  const left: number[] = [];
  const right: number[] = [];
  for (let j = padL; j >= 1; j--) {
    // left[padL − j] is the value j steps before the start
    left.push(mode === 'zeros' ? 0 : mode === 'reflect' ? at(j) : mode === 'replicate' ? at(0) : at(T - j));
  }
  for (let j = 1; j <= padR; j++) {
    right.push(mode === 'zeros' ? 0 : mode === 'reflect' ? at(T - 1 - j) : mode === 'replicate' ? at(T - 1) : at(j - 1));
  }
  const body = Array.from({ length: T + Math.min(0, padR) }, (_, i) => at(i));
  return Float64Array.from([...left, ...body, ...right]);
}

/**
 * float64 reference of `conv1d` (same shapes, layouts and options): pads each channel with
 * `padSeriesRef`, then applies the valid cross-correlation.
 */
export function conv1dRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  bias: ArrayLike<number> | null,
  options: Conv1dOptions,
): Float64Array {
  const g = geometry(xShape, wShape, bias ? [bias.length] : null, options);
  const { B, Cin, T, Cout, K, Tout, xStrides } = g;
  const [padL, padR] = padAmounts(options.placement, K);
  const ys = layoutStrides(g.outLayout, Cout, Tout);
  const y = new Float64Array(B * Cout * Tout);
  for (let b = 0; b < B; b++) {
    const padded = Array.from({ length: Cin }, (_, i) =>
      padSeriesRef(
        Array.from({ length: T }, (_, t) => x[b * xStrides[0] + i * xStrides[1] + t * xStrides[2]]),
        padL,
        padR,
        options.mode,
      ),
    );
    for (let o = 0; o < Cout; o++) {
      for (let t = 0; t < Tout; t++) {
        let s = bias ? bias[o] : 0;
        for (let i = 0; i < Cin; i++) for (let k = 0; k < K; k++) s += w[(o * Cin + i) * K + k] * padded[i][t + k];
        y[b * ys[0] + o * ys[1] + t * ys[2]] = s;
      }
    }
  }
  return y;
}
