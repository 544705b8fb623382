/**
 * Frequency of an oscillation in multichannel time series (float64, CPU), for comparing generated
 * data with a teacher's: the peak of the channel- and sequence-averaged power spectrum, refined by a
 * parabola through the log power of the three bins around the maximum (Hann window, mean removed,
 * zero padding to at least 4× the length so the bins are finer than the peak's width).
 */
import { hannWindow, powerSpectrum } from './spectrum.js';

export interface SeriesND {
  /** [sequences, time, channels] in C order. */
  data: ArrayLike<number>;
  sequences: number;
  time: number;
  channels: number;
}

export interface SpectralPeak {
  /** Peak frequency in cycles per step. */
  frequency: number;
  /** 1 / frequency. */
  period: number;
  /** Mean power spectrum over sequences and channels (bins k/nfft, k = 0 … nfft/2). */
  spectrum: Float64Array;
  nfft: number;
}

function checkSeries(x: SeriesND): void {
  const { sequences: S, time: T, channels: D } = x;
  for (const [k, v] of Object.entries({ sequences: S, time: T, channels: D })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`oscillation: ${k} must be a positive integer, got ${v}`);
  }
  if (x.data.length !== S * T * D) throw new Error(`oscillation: ${x.data.length} values do not fill (${S}, ${T}, ${D})`);
  if (T < 8) throw new Error(`oscillation: need at least 8 time steps, got ${T}`);
}

/**
 * Spectral peak frequency, ignoring frequencies below `minFrequency` (default: 2 cycles per
 * series, so a slow drift or the mean cannot win).
 */
export function spectralPeak(x: SeriesND, opts: { minFrequency?: number } = {}): SpectralPeak {
  checkSeries(x);
  const { sequences: S, time: T, channels: D, data } = x;
  let nfft = 1;
  while (nfft < 4 * T) nfft <<= 1;
  const win = hannWindow(T);
  const spectrum = new Float64Array(nfft / 2 + 1);
  const buf = new Float64Array(nfft);
  for (let s = 0; s < S; s++) {
    for (let d = 0; d < D; d++) {
      let mean = 0;
      for (let t = 0; t < T; t++) mean += data[(s * T + t) * D + d];
      mean /= T;
      buf.fill(0);
      for (let t = 0; t < T; t++) buf[t] = (data[(s * T + t) * D + d] - mean) * win[t];
      const p = powerSpectrum(buf);
      for (let k = 0; k < spectrum.length; k++) spectrum[k] += p[k] / (S * D);
    }
  }
  const kMin = Math.max(1, Math.ceil((opts.minFrequency ?? 2 / T) * nfft));
  let best = -1;
  for (let k = kMin; k < spectrum.length; k++) if (best < 0 || spectrum[k] > spectrum[best]) best = k;
  if (best < 0 || !(spectrum[best] > 0)) throw new Error('oscillation: the series has no power above the minimum frequency');
  let offset = 0;
  if (best > 0 && best < spectrum.length - 1 && spectrum[best - 1] > 0 && spectrum[best + 1] > 0) {
    const [l, c, r] = [Math.log(spectrum[best - 1]), Math.log(spectrum[best]), Math.log(spectrum[best + 1])];
    const den = l - 2 * c + r;
    if (den < 0) offset = (0.5 * (l - r)) / den;
  }
  const frequency = (best + offset) / nfft;
  return { frequency, period: 1 / frequency, spectrum, nfft };
}

/**
 * Period from the autocorrelation (mean over sequences and channels): the lag of its first local
 * maximum after its first zero crossing, refined by a parabola. An independent check of the
 * spectral estimate; returns NaN if the autocorrelation never turns positive again.
 */
export function autocorrelationPeriod(x: SeriesND, maxLag = Math.floor(x.time / 2)): number {
  checkSeries(x);
  const { sequences: S, time: T, channels: D, data } = x;
  const L = Math.min(maxLag, T - 1);
  const ac = new Float64Array(L + 1);
  const centred = new Float64Array(T);
  for (let s = 0; s < S; s++) {
    for (let d = 0; d < D; d++) {
      let mean = 0;
      for (let t = 0; t < T; t++) mean += data[(s * T + t) * D + d];
      mean /= T;
      for (let t = 0; t < T; t++) centred[t] = data[(s * T + t) * D + d] - mean;
      let v = 0;
      for (let t = 0; t < T; t++) v += centred[t] * centred[t];
      if (!(v > 0)) continue;
      for (let lag = 0; lag <= L; lag++) {
        let c = 0;
        for (let t = 0; t + lag < T; t++) c += centred[t] * centred[t + lag];
        ac[lag] += c / v;
      }
    }
  }
  let lag = 1;
  while (lag <= L && ac[lag] > 0) lag++;
  for (; lag < L; lag++) {
    if (ac[lag] > 0 && ac[lag] >= ac[lag - 1] && ac[lag] >= ac[lag + 1]) {
      const den = ac[lag - 1] - 2 * ac[lag] + ac[lag + 1];
      return lag + (den < 0 ? (0.5 * (ac[lag - 1] - ac[lag + 1])) / den : 0);
    }
  }
  return NaN;
}
