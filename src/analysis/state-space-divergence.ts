/**
 * D_stsp, the state-space divergence of the reference evaluation (mackelab/smc_rnns, Pals et al. 2024,
 * `evaluation/kl_Gauss.py`): the Monte-Carlo KL between Gaussian-mixture (σ-kernel density) estimates
 * of the true and generated state distributions, on the CPU in float64 or with the density sums on the GPU.
 *
 * Fidelity: the reference evaluates the mixture densities in float32 as (1/T) Σ_t exp(−½‖s−μ_t‖²)
 * and silently drops Monte-Carlo samples whose density underflowed to 0 in either mixture. We evaluate
 * log densities with log-sum-exp (float64 on the CPU, float32 on the GPU), so nothing underflows; the
 * result differs from the reference only when it would have dropped samples. `underflowFraction`
 * always reports how many samples the reference would have dropped, and
 * `mimicFloat32Underflow: true` drops them too. The dropped samples are the ones far from every
 * generated point, the largest terms of the KL, so dropping 0.5 % of them lowers EEG figures by about
 * 0.3: compare with published numbers only under the same rule. `evaluateGenerated` (./evaluation.ts,
 * the protocol) drops them by default and reports the all-sample value beside it.
 */
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { mulberry32, normalSampler } from '../util/random.js';
import { firstRows, toRows, type NdArray, type Rows } from './series.js';

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
  const normal = normalSampler((opts.seed ?? 0) ^ 0x9e3779b9, { radius: 'direct' });
  const d = t.cols;
  const samples = new Float64Array(n * d);
  for (let j = 0; j < n; j++) {
    const row = Math.min(rows - 1, Math.floor(draw() * rows));
    for (let k = 0; k < d; k++) samples[j * d + k] = trueRows.data[row * d + k] + sigma * normal.normal();
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
        pp: {
          n_samples: samples.rows,
          n_comps: comps.rows,
          dims: d,
          tiles_per_chunk: DSTSP_TILES_PER_CHUNK,
          n_chunks: nChunks,
          neg_half_inv_var: -0.5 / (sigma * sigma),
        },
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
