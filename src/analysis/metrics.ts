/**
 * Evaluation metrics of the reference protocol (lowrank-smc-model.md §6): D_stsp, the Monte-Carlo KL
 * between Gaussian-mixture (σ-kernel density) estimates of the true and generated state distributions,
 * and D_H, the mean over channels of the Hellinger distance between smoothed power spectra. Plus the
 * EEG-only preprocessing of generated data (Hann smoothing, z-score) and the monitoring-only
 * "mean rate error".
 *
 * Arrays are {data, shape} with shape [time, channel] or [trial, time, channel] (row-major), the form
 * the .npy reader returns.
 *
 * D_stsp fidelity: the reference evaluates the mixture densities in float32 as (1/T) Σ_t exp(−½‖s−μ_t‖²)
 * and silently drops Monte-Carlo samples whose density underflowed to 0 in either mixture. We evaluate
 * log densities with log-sum-exp (float64 on the CPU, float32 on the GPU), so nothing underflows; the
 * result differs from the reference only when it would have dropped samples. `underflowFraction`
 * always reports how many samples the reference would have dropped, and
 * `mimicFloat32Underflow: true` drops them too. The dropped samples are the ones far from every
 * generated point, the largest terms of the KL, so dropping 0.5 % of them lowers EEG figures by about
 * 0.3: compare with published numbers only under the same rule. `evaluateGenerated` (the protocol)
 * drops them by default and reports the all-sample value beside it.
 */
import { mulberry32 } from '../util/random.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { convolve1dReflect, deconvolve1dReflect, gaussianFilter1d, hannWindow, powerSpectrum, zscore } from './spectrum.js';

export interface NdArray {
  data: ArrayLike<number>;
  shape: readonly number[];
}

/** A (rows, cols) row-major float64 matrix. */
export interface Rows {
  data: Float64Array;
  rows: number;
  cols: number;
}

/** Flatten [time, channel] or [trial, time, channel] to (time, channel) rows by concatenating trials (as the reference does). */
export function toRows(a: NdArray, what: string): Rows {
  const s = a.shape;
  if (s.length !== 2 && s.length !== 3) throw new Error(`${what}: expected shape [time, channel] or [trial, time, channel], got [${s.join(', ')}]`);
  const cols = s[s.length - 1];
  const rows = s.length === 2 ? s[0] : s[0] * s[1];
  if (rows === 0 || cols === 0) throw new Error(`${what}: empty array of shape [${s.join(', ')}]`);
  if (a.data.length !== rows * cols) throw new Error(`${what}: ${a.data.length} values do not fill shape [${s.join(', ')}]`);
  const data = Float64Array.from(a.data);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new Error(`${what}: non-finite value ${data[i]} at time ${Math.floor(i / cols)}, channel ${i % cols}`);
  }
  return { data, rows, cols };
}

function firstRows(r: Rows, n: number): Rows {
  return n >= r.rows ? r : { data: r.data.subarray(0, n * r.cols), rows: n, cols: r.cols };
}

/** Standard normal draws from a seeded uniform generator (Box–Muller). */
export function gaussianSampler(seed: number): () => number {
  const uniform = mulberry32(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

// ------------------------------------------------------------------------------------------ D_stsp

export interface DStspOptions {
  /** Kernel width of the mixture components (reference: 1; the data must be z-scored). */
  sigma?: number;
  /** Monte-Carlo samples drawn from the true mixture (reference: 1000). */
  samples?: number;
  /** Rows of each series used (reference: 10000). The generated series is cut to the true series' row count. */
  maxRows?: number;
  /** Seed of the sample draw. */
  seed?: number;
  /** Drop samples whose float32 density would underflow to 0, as the reference does. */
  mimicFloat32Underflow?: boolean;
}

export interface DStspResult {
  /** KL(true ‖ generated) estimate: mean over kept samples of log p_true(s) − log p_gen(s). */
  value: number;
  /** The same mean over every sample, underflowing or not (equals `value` without mimicFloat32Underflow). */
  valueAllSamples: number;
  /** Samples drawn, and samples averaged (fewer only with mimicFloat32Underflow). */
  samples: number;
  kept: number;
  /** Fraction of samples whose density the reference's float32 evaluation would flush to 0. */
  underflowFraction: number;
  rowsTrue: number;
  rowsGen: number;
  /** Per-sample log densities (without the (2πσ²)^{−d/2} constant, which cancels). */
  logTrue: Float64Array;
  logGen: Float64Array;
}

interface DStspSetup {
  trueRows: Rows;
  genRows: Rows;
  samples: Rows;
  sigma: number;
  mimic: boolean;
}

function setupDStsp(trueSeries: NdArray, genSeries: NdArray, opts: DStspOptions): DStspSetup {
  const sigma = opts.sigma ?? 1;
  const n = opts.samples ?? 1000;
  const maxRows = opts.maxRows ?? 10000;
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`D_stsp: sigma must be a positive number, got ${sigma}`);
  if (!Number.isInteger(n) || n < 1) throw new Error(`D_stsp: samples must be a positive integer, got ${n}`);
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new Error(`D_stsp: maxRows must be a positive integer, got ${maxRows}`);
  const t = toRows(trueSeries, 'D_stsp true series');
  const g = toRows(genSeries, 'D_stsp generated series');
  if (t.cols !== g.cols) throw new Error(`D_stsp: true series has ${t.cols} channels, generated series ${g.cols}`);
  const rows = Math.min(t.rows, maxRows);
  const trueRows = firstRows(t, rows);
  const genRows = firstRows(g, rows);
  const draw = mulberry32(opts.seed ?? 0);
  const normal = gaussianSampler((opts.seed ?? 0) ^ 0x9e3779b9);
  const d = t.cols;
  const samples = new Float64Array(n * d);
  for (let j = 0; j < n; j++) {
    const row = Math.min(rows - 1, Math.floor(draw() * rows));
    for (let k = 0; k < d; k++) samples[j * d + k] = trueRows.data[row * d + k] + sigma * normal();
  }
  return { trueRows, genRows, samples: { data: samples, rows: n, cols: d }, sigma, mimic: opts.mimicFloat32Underflow ?? false };
}

/**
 * log( (1/T) Σ_t exp(−½‖s_j − μ_t‖²/σ²) / σ^d ) for each sample row s_j, in float64 with log-sum-exp.
 * The σ^−d factor is the reference's; the (2π)^{−d/2} constant is left out (it cancels in D_stsp).
 */
export function gmmLogDensity(samples: Rows, comps: Rows, sigma: number): Float64Array {
  if (samples.cols !== comps.cols) throw new Error(`gmmLogDensity: samples have ${samples.cols} dims, components ${comps.cols}`);
  const d = samples.cols;
  const out = new Float64Array(samples.rows);
  const v = new Float64Array(comps.rows);
  const scale = -0.5 / (sigma * sigma);
  const offset = -Math.log(comps.rows) - d * Math.log(sigma);
  for (let j = 0; j < samples.rows; j++) {
    let m = -Infinity;
    for (let t = 0; t < comps.rows; t++) {
      let acc = 0;
      for (let k = 0; k < d; k++) {
        const diff = samples.data[j * d + k] - comps.data[t * d + k];
        acc += diff * diff;
      }
      v[t] = acc * scale;
      if (v[t] > m) m = v[t];
    }
    let sum = 0;
    for (let t = 0; t < comps.rows; t++) sum += Math.exp(v[t] - m);
    out[j] = m + Math.log(sum) + offset;
  }
  return out;
}

/** Whether the reference's float32 density exp(logp) would be exactly 0. */
function underflowsFloat32(logp: number): boolean {
  return Math.fround(Math.exp(logp)) === 0;
}

function summarise(setup: DStspSetup, logTrue: Float64Array, logGen: Float64Array): DStspResult {
  const n = logTrue.length;
  let sum = 0;
  let sumAll = 0;
  let kept = 0;
  let underflow = 0;
  for (let j = 0; j < n; j++) {
    const lost = underflowsFloat32(logTrue[j]) || underflowsFloat32(logGen[j]);
    if (lost) underflow++;
    sumAll += logTrue[j] - logGen[j];
    if (lost && setup.mimic) continue;
    sum += logTrue[j] - logGen[j];
    kept++;
  }
  return {
    value: kept > 0 ? sum / kept : NaN,
    valueAllSamples: sumAll / n,
    samples: n,
    kept,
    underflowFraction: underflow / n,
    rowsTrue: setup.trueRows.rows,
    rowsGen: setup.genRows.rows,
    logTrue,
    logGen,
  };
}

/** D_stsp on the CPU in float64 (the reference implementation for the GPU path). */
export function dStsp(trueSeries: NdArray, genSeries: NdArray, opts: DStspOptions = {}): DStspResult {
  const s = setupDStsp(trueSeries, genSeries, opts);
  return summarise(s, gmmLogDensity(s.samples, s.trueRows, s.sigma), gmmLogDensity(s.samples, s.genRows, s.sigma));
}

/** Samples per workgroup and components per tile of shaders/dstsp.wgsl. */
const DSTSP_SAMPLE_TILE = 16;
const DSTSP_COMP_TILE = 64;
/** Components per workgroup: 4 tiles of 64 gives ~40 chunks × 63 sample blocks of work at T = 10⁴, n = 10³. */
const DSTSP_TILES_PER_CHUNK = 4;

/** gmmLogDensity on the GPU (float32, tiled, log-sum-exp across tiles). */
export async function gmmLogDensityGpu(engine: Engine, samples: Rows, comps: Rows, sigma: number): Promise<Float32Array> {
  if (samples.cols !== comps.cols) throw new Error(`gmmLogDensityGpu: samples have ${samples.cols} dims, components ${comps.cols}`);
  const d = samples.cols;
  const nChunks = Math.ceil(comps.rows / (DSTSP_COMP_TILE * DSTSP_TILES_PER_CHUNK));
  const sampleBlocks = Math.ceil(samples.rows / DSTSP_SAMPLE_TILE);
  const sampleT = Tensor.fromArray(engine, samples.data, [samples.rows, d], 'f32', 'dstsp.samples');
  const compT = Tensor.fromArray(engine, comps.data, [comps.rows, d], 'f32', 'dstsp.comps');
  const partial = Tensor.empty(engine, [samples.rows, nChunks, 2], 'f32', 'dstsp.partial');
  const logp = Tensor.empty(engine, [samples.rows], 'f32', 'dstsp.logp');
  try {
    engine.dispatch(
      engine.kernel('dstsp', 'partial_lse'),
      {
        samples: sampleT,
        comps: compT,
        partial,
        pp: { n_samples: samples.rows, n_comps: comps.rows, dims: d, tiles_per_chunk: DSTSP_TILES_PER_CHUNK, n_chunks: nChunks, neg_half_inv_var: -0.5 / (sigma * sigma) },
      },
      [sampleBlocks, nChunks],
    );
    engine.dispatch(
      engine.kernel('dstsp', 'combine'),
      { partial_in: partial, log_density: logp, cp: { n_samples: samples.rows, n_chunks: nChunks, log_offset: -Math.log(comps.rows) - d * Math.log(sigma) } },
      engine.grid(samples.rows, 256),
    );
    return await logp.readF32();
  } finally {
    for (const t of [sampleT, compT, partial, logp]) t.dispose();
  }
}

/** D_stsp with the density sums on the GPU; same samples (same seed) as `dStsp`. */
export async function dStspGpu(engine: Engine, trueSeries: NdArray, genSeries: NdArray, opts: DStspOptions = {}): Promise<DStspResult> {
  const s = setupDStsp(trueSeries, genSeries, opts);
  const logTrue = Float64Array.from(await gmmLogDensityGpu(engine, s.samples, s.trueRows, s.sigma));
  const logGen = Float64Array.from(await gmmLogDensityGpu(engine, s.samples, s.genRows, s.sigma));
  return summarise(s, logTrue, logGen);
}

// ------------------------------------------------------------------------------------------ D_H

export interface DHOptions {
  /** σ of the Gaussian smoothing over frequency bins (reference: 20). */
  smoothing?: number;
  /** Keep bins [:freqCutOff] with Python slice semantics: −1 drops the last (Nyquist) bin; a large value keeps all. Reference: 10000 (EEG: −1). */
  freqCutOff?: number;
}

export interface DHResult {
  /** Mean over channels of the per-channel Hellinger distances. */
  value: number;
  perChannel: Float64Array;
}

/** [time, channel] → one trial; [trial, time, channel] as is. */
function asTrials(a: NdArray, what: string): { trials: number; time: number; channels: number; data: ArrayLike<number> } {
  const s = a.shape;
  if (s.length !== 2 && s.length !== 3) throw new Error(`${what}: expected shape [time, channel] or [trial, time, channel], got [${s.join(', ')}]`);
  const [trials, time, channels] = s.length === 2 ? [1, s[0], s[1]] : [s[0], s[1], s[2]];
  if (trials * time * channels === 0) throw new Error(`${what}: empty array of shape [${s.join(', ')}]`);
  if (a.data.length !== trials * time * channels) throw new Error(`${what}: ${a.data.length} values do not fill shape [${s.join(', ')}]`);
  return { trials, time, channels, data: a.data };
}

function channelOfTrial(a: ReturnType<typeof asTrials>, trial: number, channel: number): Float64Array {
  const x = new Float64Array(a.time);
  const base = trial * a.time * a.channels + channel;
  for (let t = 0; t < a.time; t++) x[t] = a.data[base + t * a.channels];
  return x;
}

/**
 * The reference's smoothed spectrum of one 1-D signal: z-score (ddof 0), drop the last sample if the
 * length is odd, |rfft(x, ortho)|² (×2 as the reference, irrelevant after normalising), Gaussian filter
 * over bins, clip negatives, divide by (sum + 1e-8).
 */
export function smoothedSpectrum(x: ArrayLike<number>, smoothing = 20): Float64Array {
  const z = zscore(x);
  const even = z.length % 2 === 1 ? z.subarray(0, z.length - 1) : z;
  if (even.length === 0) throw new Error('smoothed spectrum: need at least 2 samples');
  const p = powerSpectrum(even);
  for (let k = 0; k < p.length; k++) p[k] *= 2;
  const sm = gaussianFilter1d(p, smoothing);
  let sum = 0;
  for (let k = 0; k < sm.length; k++) {
    if (sm[k] < 0) sm[k] = 0;
    sum += sm[k];
  }
  for (let k = 0; k < sm.length; k++) sm[k] /= sum + 1e-8;
  return sm;
}

/** Python's a[:stop] length for a sequence of length n. */
function sliceStop(n: number, stop: number): number {
  if (!Number.isInteger(stop)) throw new Error(`D_H: freqCutOff must be an integer, got ${stop}`);
  return stop < 0 ? Math.max(0, n + stop) : Math.min(n, stop);
}

/**
 * Per-channel spectra as D_H compares them: the smoothed spectrum of each trial (NaN trials, i.e.
 * constant signals, skipped as numpy's nanmean does), averaged, cut to [:freqCutOff] and renormalised.
 */
export function channelSpectra(a: NdArray, opts: DHOptions = {}, what = 'spectra'): Float64Array[] {
  const smoothing = opts.smoothing ?? 20;
  const cut = opts.freqCutOff ?? 10000;
  if (!(smoothing > 0)) throw new Error(`${what}: smoothing must be positive, got ${smoothing}`);
  const arr = asTrials(a, what);
  const out: Float64Array[] = [];
  for (let c = 0; c < arr.channels; c++) {
    let mean: Float64Array | null = null;
    let count: Float64Array | null = null;
    for (let tr = 0; tr < arr.trials; tr++) {
      const sp = smoothedSpectrum(channelOfTrial(arr, tr, c), smoothing);
      mean ??= new Float64Array(sp.length);
      count ??= new Float64Array(sp.length);
      for (let k = 0; k < sp.length; k++) {
        if (Number.isNaN(sp[k])) continue;
        mean[k] += sp[k];
        count[k]++;
      }
    }
    const m = mean!;
    for (let k = 0; k < m.length; k++) m[k] = count![k] > 0 ? m[k] / count![k] : NaN;
    const stop = sliceStop(m.length, cut);
    if (stop === 0) throw new Error(`${what}: freqCutOff ${cut} leaves no frequency bins of ${m.length}`);
    const kept = m.slice(0, stop);
    let sum = 0;
    for (const v of kept) sum += v;
    for (let k = 0; k < kept.length; k++) kept[k] /= sum;
    out.push(kept);
  }
  return out;
}

/** (1/√2)‖√p − √q‖₂ */
export function hellinger(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new Error(`hellinger: lengths differ (${p.length} vs ${q.length})`);
  let s = 0;
  for (let k = 0; k < p.length; k++) s += (Math.sqrt(p[k]) - Math.sqrt(q[k])) ** 2;
  return Math.sqrt(s) / Math.SQRT2;
}

/** D_H between generated and true series (same time length and channels; trial counts may differ). */
export function dH(trueSeries: NdArray, genSeries: NdArray, opts: DHOptions = {}): DHResult {
  const t = asTrials(trueSeries, 'D_H true series');
  const g = asTrials(genSeries, 'D_H generated series');
  if (t.channels !== g.channels) throw new Error(`D_H: true series has ${t.channels} channels, generated series ${g.channels}`);
  if (t.time !== g.time) throw new Error(`D_H: true series has ${t.time} time steps, generated series ${g.time}; spectra need equal lengths`);
  const st = channelSpectra(trueSeries, opts, 'D_H true series');
  const sg = channelSpectra(genSeries, opts, 'D_H generated series');
  const perChannel = new Float64Array(st.length);
  let sum = 0;
  for (let c = 0; c < st.length; c++) {
    perChannel[c] = hellinger(sg[c], st[c]);
    sum += perChannel[c];
  }
  return { value: sum / st.length, perChannel };
}

// ------------------------------------------------------------------------------------------ preprocessing

/**
 * EEG evaluation preprocessing of generated data: convolve each channel along time with an
 * unnormalised Hann window (scipy.ndimage.convolve1d, mode 'reflect'), then z-score each channel.
 * Trials are concatenated along time first, as the reference does. Returns shape [time, channel].
 */
export function hannSmoothZscore(a: NdArray, windowLength = 15): { data: Float64Array; shape: [number, number] } {
  const r = toRows(a, 'Hann smoothing input');
  const w = hannWindow(windowLength);
  const out = new Float64Array(r.rows * r.cols);
  const col = new Float64Array(r.rows);
  for (let c = 0; c < r.cols; c++) {
    for (let t = 0; t < r.rows; t++) col[t] = r.data[t * r.cols + c];
    const z = zscore(convolve1dReflect(col, w));
    for (let t = 0; t < r.rows; t++) out[t * r.cols + c] = z[t];
  }
  return { data: out, shape: [r.rows, r.cols] };
}

/**
 * Approximate inverse of hannSmoothZscore for training data that were distributed only after smoothing
 * (the EEG recording): each trial's channels are deconvolved with the Hann window (regularised, see
 * deconvolve1dReflect; `reg` is relative to the window's DC gain), then each channel is z-scored over all
 * trials. Frequencies the window removed are not recovered; everything it passed (|H| ≫ reg) is.
 * Returns the input's shape.
 */
/** Default regulariser of the Hann deconvolution (README "EEG reproduction": re-smoothing reproduces the recording to 0.03 %). */
export const DEFAULT_DECONV_REG = 3e-3;

export function hannDeconvolveZscore(a: NdArray, windowLength = 15, reg = DEFAULT_DECONV_REG): { data: Float64Array; shape: number[] } {
  const arr = asTrials(a, 'Hann deconvolution input');
  const w = hannWindow(windowLength);
  const out = new Float64Array(arr.trials * arr.time * arr.channels);
  for (let c = 0; c < arr.channels; c++) {
    const col = new Float64Array(arr.trials * arr.time);
    for (let tr = 0; tr < arr.trials; tr++) col.set(deconvolve1dReflect(channelOfTrial(arr, tr, c), w, reg), tr * arr.time);
    const z = zscore(col);
    for (let i = 0; i < col.length; i++) out[i * arr.channels + c] = z[i];
  }
  return { data: out, shape: [...a.shape] };
}

/** The reference's monitoring number: mean over channels of (Σ_t y_true − Σ_t y_gen)², divided by T (of the generated series). */
export function meanRateError(trueSeries: NdArray, genSeries: NdArray): number {
  const t = toRows(trueSeries, 'mean rate error true series');
  const g = toRows(genSeries, 'mean rate error generated series');
  if (t.cols !== g.cols) throw new Error(`mean rate error: true series has ${t.cols} channels, generated series ${g.cols}`);
  let acc = 0;
  for (let c = 0; c < t.cols; c++) {
    let st = 0;
    let sg = 0;
    for (let i = 0; i < t.rows; i++) st += t.data[i * t.cols + c];
    for (let i = 0; i < g.rows; i++) sg += g.data[i * g.cols + c];
    acc += (st - sg) ** 2;
  }
  return acc / t.cols / g.rows;
}

// ------------------------------------------------------------------------------------------ protocol

export interface EvaluationOptions extends DStspOptions, DHOptions {
  /** EEG protocol: Hann-smooth (length 15) and re-z-score the generated data only. */
  smoothGenerated?: boolean;
  /** Evaluate the D_stsp densities on this engine (float32 GPU kernel); CPU float64 when absent. */
  engine?: Engine;
}

export interface Evaluation {
  /** D_stsp under the reference's rule (underflowing samples dropped) unless mimicFloat32Underflow is false. */
  dStsp: number;
  /** D_stsp averaged over every sample (log-sum-exp, nothing dropped): the stricter estimate. */
  dStspAllSamples: number;
  dH: number;
  meanRateError: number;
  /** Fraction of D_stsp samples the reference's float32 evaluation would have dropped. */
  dStspUnderflowFraction: number;
  dHPerChannel: number[];
}

/**
 * The reference's evaluation of generated data against held-out data (eval_kl_pse): optional Hann
 * smoothing of the generated series, D_stsp, D_H and the mean rate error. Both series are used as
 * given (the caller generates min(T, 10000) steps, as the reference does). Unlike `dStsp`, it drops
 * the samples whose float32 density underflows unless `mimicFloat32Underflow` is false.
 */
export async function evaluateGenerated(trueSeries: NdArray, genSeries: NdArray, opts: EvaluationOptions = {}): Promise<Evaluation> {
  const gen: NdArray = opts.smoothGenerated ? hannSmoothZscore(genSeries) : genSeries;
  const trueFlat: NdArray = trueSeries.shape.length === 3 ? { data: trueSeries.data, shape: [trueSeries.shape[0] * trueSeries.shape[1], trueSeries.shape[2]] } : trueSeries;
  const genFlat: NdArray = gen.shape.length === 3 ? { data: gen.data, shape: [gen.shape[0] * gen.shape[1], gen.shape[2]] } : gen;
  const klOpts = { ...opts, mimicFloat32Underflow: opts.mimicFloat32Underflow ?? true };
  const kl = opts.engine ? await dStspGpu(opts.engine, trueFlat, genFlat, klOpts) : dStsp(trueFlat, genFlat, klOpts);
  // D_H on the trial-concatenated series, as the reference does after flattening.
  const h = dH(trueFlat, genFlat, opts);
  return {
    dStsp: kl.value,
    dStspAllSamples: kl.valueAllSamples,
    dH: h.value,
    meanRateError: meanRateError(trueFlat, genFlat),
    dStspUnderflowFraction: kl.underflowFraction,
    dHPerChannel: Array.from(h.perChannel),
  };
}
