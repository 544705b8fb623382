/**
 * D_H, the power-spectrum distance of the reference evaluation (mackelab/smc_rnns, Pals et al. 2024,
 * `evaluation/pse.py`): the mean over channels of the Hellinger distance between smoothed power spectra.
 */
import { gaussianFilter1d, powerSpectrum, zscore } from './spectrum.js';
import { asTrials, channelOfTrial, type NdArray } from './series.js';

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
