/**
 * Spike-train statistics of the reference's evaluation (mackelab/smc_rnns `calc_stats.py`): per-neuron
 * mean rates, inter-spike-interval mean / SD / CV, pairwise Pearson correlations, and the
 * model-vs-data summaries (Pearson r between the vectors of each statistic).
 *
 * Spike counts are {data, shape} with shape [time, neuron] or [trial, time, neuron]. A bin with any
 * count > 0 is one spike time (numpy's `where(trace)`), so several spikes in one bin give one ISI
 * endpoint.
 */
import type { NdArray } from './series.js';

interface Counts {
  trials: number;
  time: number;
  neurons: number;
  data: ArrayLike<number>;
}

function asCounts(a: NdArray, what: string): Counts {
  const s = a.shape;
  if (s.length !== 2 && s.length !== 3) throw new Error(`${what}: expected shape [time, neuron] or [trial, time, neuron], got [${s.join(', ')}]`);
  const [trials, time, neurons] = s.length === 2 ? [1, s[0], s[1]] : [s[0], s[1], s[2]];
  if (trials * time * neurons === 0) throw new Error(`${what}: empty array of shape [${s.join(', ')}]`);
  if (a.data.length !== trials * time * neurons) throw new Error(`${what}: ${a.data.length} values do not fill shape [${s.join(', ')}]`);
  for (let i = 0; i < a.data.length; i++) {
    if (!Number.isFinite(a.data[i])) throw new Error(`${what}: non-finite value ${a.data[i]} at flat index ${i}`);
  }
  return { trials, time, neurons, data: a.data };
}

/** Mean count per bin of each neuron over all trials and bins, times `fs` (bins per second) for Hz. */
export function meanRates(a: NdArray, fs = 1): Float64Array {
  const c = asCounts(a, 'mean rates');
  const out = new Float64Array(c.neurons);
  const rows = c.trials * c.time;
  for (let r = 0; r < rows; r++) for (let n = 0; n < c.neurons; n++) out[n] += c.data[r * c.neurons + n];
  for (let n = 0; n < c.neurons; n++) out[n] = (out[n] / rows) * fs;
  return out;
}

export interface IsiStats {
  mean: Float64Array;
  sd: Float64Array;
  cv: Float64Array;
  /** Number of intervals per neuron. */
  count: Float64Array;
}

/**
 * ISIs (differences of spike-bin indices × dt) within each trial, pooled over trials. As the
 * reference's per-trial variant: NaN for a neuron with fewer than `minIntervals` ISIs or SD = 0.
 * SD is the population SD (ddof 0).
 */
export function isiStats(a: NdArray, opts: { dt?: number; minIntervals?: number } = {}): IsiStats {
  const dt = opts.dt ?? 1;
  const minIntervals = Math.max(1, opts.minIntervals ?? 1);
  const c = asCounts(a, 'ISI statistics');
  const mean = new Float64Array(c.neurons);
  const sd = new Float64Array(c.neurons);
  const cv = new Float64Array(c.neurons);
  const count = new Float64Array(c.neurons);
  for (let n = 0; n < c.neurons; n++) {
    const isis: number[] = [];
    for (let tr = 0; tr < c.trials; tr++) {
      let last = -1;
      for (let t = 0; t < c.time; t++) {
        if (c.data[(tr * c.time + t) * c.neurons + n] > 0) {
          if (last >= 0) isis.push((t - last) * dt);
          last = t;
        }
      }
    }
    count[n] = isis.length;
    let m = 0;
    for (const v of isis) m += v;
    m /= isis.length;
    let v2 = 0;
    for (const v of isis) v2 += (v - m) ** 2;
    const s = Math.sqrt(v2 / isis.length);
    if (isis.length < minIntervals || !(s > 0)) {
      mean[n] = sd[n] = cv[n] = NaN;
    } else {
      mean[n] = m;
      sd[n] = s;
      cv[n] = s / m;
    }
  }
  return { mean, sd, cv, count };
}

/**
 * Upper triangle (k = 1, row-major: (0,1), (0,2), …, (1,2), …) of the Pearson correlation matrix
 * between neurons over all bins (trials concatenated), as numpy.corrcoef; NaN for a silent or
 * constant neuron.
 */
export function pairwiseCorrelations(a: NdArray): Float64Array {
  const c = asCounts(a, 'pairwise correlations');
  const rows = c.trials * c.time;
  const N = c.neurons;
  const mean = new Float64Array(N);
  for (let r = 0; r < rows; r++) for (let n = 0; n < N; n++) mean[n] += c.data[r * N + n];
  for (let n = 0; n < N; n++) mean[n] /= rows;
  const cov = new Float64Array(N * N);
  const centred = new Float64Array(N);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < N; n++) centred[n] = c.data[r * N + n] - mean[n];
    for (let i = 0; i < N; i++) {
      const ci = centred[i];
      if (ci === 0) continue;
      for (let j = i; j < N; j++) cov[i * N + j] += ci * centred[j];
    }
  }
  const out = new Float64Array((N * (N - 1)) / 2);
  let k = 0;
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N; j++) {
      const den = Math.sqrt(cov[i * N + i] * cov[j * N + j]);
      out[k++] = den > 0 ? Math.max(-1, Math.min(1, cov[i * N + j] / den)) : NaN;
    }
  }
  return out;
}

/** Pearson r of two vectors over the positions where both are finite; n is the number of pairs used. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): { r: number; n: number } {
  if (x.length !== y.length) throw new Error(`pearson: lengths differ (${x.length} vs ${y.length})`);
  const idx: number[] = [];
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]) && Number.isFinite(y[i])) idx.push(i);
  const n = idx.length;
  if (n < 2) return { r: NaN, n };
  let mx = 0;
  let my = 0;
  for (const i of idx) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const i of idx) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  const den = Math.sqrt(sxx * syy);
  return { r: den > 0 ? sxy / den : NaN, n };
}

export interface SpikeStats {
  rates: Float64Array;
  isi: IsiStats;
  correlations: Float64Array;
}

export function spikeStats(a: NdArray, opts: { fs?: number; dt?: number; minIntervals?: number } = {}): SpikeStats {
  return { rates: meanRates(a, opts.fs), isi: isiStats(a, opts), correlations: pairwiseCorrelations(a) };
}

export interface SpikeComparison {
  rates: { r: number; n: number };
  isiMean: { r: number; n: number };
  isiSd: { r: number; n: number };
  isiCv: { r: number; n: number };
  correlations: { r: number; n: number };
}

/** Model-vs-data summary: Pearson r between each statistic's vector for generated and held-out spikes. */
export function compareSpikeStats(generated: NdArray, heldOut: NdArray, opts: { fs?: number; dt?: number; minIntervals?: number } = {}): SpikeComparison {
  const ng = generated.shape[generated.shape.length - 1];
  const nh = heldOut.shape[heldOut.shape.length - 1];
  if (ng !== nh) throw new Error(`spike comparison: generated data has ${ng} neurons, held-out data ${nh}`);
  const g = spikeStats(generated, opts);
  const h = spikeStats(heldOut, opts);
  return {
    rates: pearson(g.rates, h.rates),
    isiMean: pearson(g.isi.mean, h.isi.mean),
    isiSd: pearson(g.isi.sd, h.isi.sd),
    isiCv: pearson(g.isi.cv, h.isi.cv),
    correlations: pearson(g.correlations, h.correlations),
  };
}
