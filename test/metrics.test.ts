// CPU tests of the evaluation metrics (src/analysis/state-space-divergence.ts, spectral-distance.ts,
// eeg-smoothing.ts, evaluation.ts, spectrum.ts, spikes.ts): known answers,
// float64 definitions, and fixed-seed Monte-Carlo statistics.
import { describe, expect, test } from 'vitest';
import { mulberry32, normalSampler } from '../src/util/random.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as deconvolveCli } from '../src/cli/deconvolve.js';
import { encodeNpy } from '../src/io/npy.js';
import { dStsp, gmmLogDensity } from '../src/analysis/state-space-divergence.js';
import { dH, hellinger, smoothedSpectrum } from '../src/analysis/spectral-distance.js';
import { hannDeconvolveZscore, hannSmoothZscore } from '../src/analysis/eeg-smoothing.js';
import { evaluateGenerated, meanRateError } from '../src/analysis/evaluation.js';
import { parseNpy } from '../src/io/npy.js';
import { convolve1dReflect, deconvolve1dReflect, fft, powerSpectrum, gaussianFilter1d, hannWindow, naiveDft, rfft, zscore } from '../src/analysis/spectrum.js';
import { compareSpikeStats, isiStats, meanRates, pairwiseCorrelations, pearson } from '../src/analysis/spikes.js';
import { sharedData } from './shared-data.js';

function randomSignal(n: number, seed: number): Float64Array {
  const r = mulberry32(seed);
  return Float64Array.from({ length: n }, () => r() * 2 - 1);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Gaussian cloud of `rows` points in `dims` dimensions with SD `sd`, first coordinate shifted by `shift`. */
function cloud(rows: number, dims: number, sd: number, shift: number, seed: number): { data: Float64Array; shape: number[] } {
  const g = normalSampler(seed, { radius: 'direct' });
  const data = new Float64Array(rows * dims);
  for (let i = 0; i < rows; i++) for (let k = 0; k < dims; k++) data[i * dims + k] = sd * g.normal() + (k === 0 ? shift : 0);
  return { data, shape: [rows, dims] };
}

describe('FFT', () => {
  test('complex FFT equals the naive DFT for power-of-two and other lengths', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 12, 16, 31, 64, 97, 100, 240, 256, 1000]) {
      const re = randomSignal(n, n);
      const im = randomSignal(n, n + 1000);
      const got = fft(re, im);
      const want = naiveDft(re, im);
      // Errors grow like log n · ε · ‖x‖; the naive sum's own error dominates at n = 1000.
      const tol = 1e-12 * n * Math.sqrt(n) + 1e-13;
      expect(maxAbsDiff(got.re, want.re), `re n=${n}`).toBeLessThan(tol);
      expect(maxAbsDiff(got.im, want.im), `im n=${n}`).toBeLessThan(tol);
    }
  });

  test('rfft (ortho) of lengths 9640 and 2400 matches the DFT definition at sampled bins', () => {
    for (const n of [9640, 2400, 4096]) {
      const x = randomSignal(n, 7 * n);
      const X = rfft(x, 'ortho');
      expect(X.re.length).toBe(n / 2 + 1);
      const pick = mulberry32(n);
      const bins = [0, 1, n / 2, n / 2 - 1, ...Array.from({ length: 12 }, () => Math.floor(pick() * (n / 2 + 1)))];
      for (const k of bins) {
        let sr = 0;
        let si = 0;
        for (let j = 0; j < n; j++) {
          const ang = (-2 * Math.PI * ((j * k) % n)) / n;
          sr += x[j] * Math.cos(ang);
          si += x[j] * Math.sin(ang);
        }
        expect(Math.abs(X.re[k] - sr / Math.sqrt(n)), `re bin ${k} of ${n}`).toBeLessThan(1e-9);
        expect(Math.abs(X.im[k] - si / Math.sqrt(n)), `im bin ${k} of ${n}`).toBeLessThan(1e-9);
      }
    }
  });

  test('a cosine at integer frequency puts all its power in one bin (Parseval holds)', () => {
    const n = 9640;
    const f = 123;
    const x = Float64Array.from({ length: n }, (_, t) => Math.cos((2 * Math.PI * f * t) / n));
    const X = rfft(x);
    for (let k = 0; k < X.re.length; k++) {
      const mag = Math.hypot(X.re[k], X.im[k]);
      if (k === f) expect(mag).toBeCloseTo(n / 2, 6);
      else expect(mag).toBeLessThan(1e-8);
    }
    const Xo = rfft(x, 'ortho');
    let energy = 0;
    for (let k = 0; k < Xo.re.length; k++) energy += (k === 0 || k === n / 2 ? 1 : 2) * (Xo.re[k] ** 2 + Xo.im[k] ** 2);
    expect(energy).toBeCloseTo(n / 2, 6); // Σ cos² = n/2
  });
});

describe('filters', () => {
  /** 'reflect' by its definition: mirror copies (d c b a | a b c d | d c b a …) laid out explicitly. */
  function reflectPadded(x: ArrayLike<number>, pad: number): number[] {
    const fwd = Array.from(x);
    const rev = [...fwd].reverse();
    let right: number[] = [];
    for (let k = 0; right.length < pad; k++) right = right.concat(k % 2 === 0 ? rev : fwd);
    let left: number[] = [];
    for (let k = 0; left.length < pad; k++) left = (k % 2 === 0 ? rev : fwd).concat(left);
    return [...left.slice(left.length - pad), ...fwd, ...right.slice(0, pad)];
  }

  function directGaussian(x: ArrayLike<number>, sigma: number): Float64Array {
    const radius = Math.floor(4 * sigma + 0.5);
    const w: number[] = [];
    for (let k = -radius; k <= radius; k++) w.push(Math.exp(-(k * k) / (2 * sigma * sigma)));
    const s = w.reduce((a, b) => a + b, 0);
    const padded = reflectPadded(x, radius);
    return Float64Array.from({ length: x.length }, (_, i) => w.reduce((acc, wk, j) => acc + (wk / s) * padded[i + j], 0));
  }

  test('gaussianFilter1d matches scipy documentation examples (σ = 1 and σ = 4 on 5 samples)', () => {
    const x = [1, 2, 3, 4, 5];
    expect(maxAbsDiff(gaussianFilter1d(x, 1), [1.42704095, 2.06782203, 3, 3.93217797, 4.57295905])).toBeLessThan(1e-8);
    // σ = 4 reaches 16 samples past 5-sample edges: repeated reflections.
    expect(maxAbsDiff(gaussianFilter1d(x, 4), [2.91948343, 2.95023502, 3, 3.04976498, 3.08051657])).toBeLessThan(1e-8);
  });

  test('gaussianFilter1d equals the reflect-mode definition for long, short and length-1 signals', () => {
    for (const [n, sigma] of [
      [500, 20],
      [37, 20],
      [120, 2.5],
      [3, 1.3],
      [1, 5],
    ] as const) {
      const x = randomSignal(n, n * 31);
      expect(maxAbsDiff(gaussianFilter1d(x, sigma), directGaussian(x, sigma)), `n=${n} σ=${sigma}`).toBeLessThan(1e-12);
    }
  });

  test('Hann(15) convolution + z-score equals its definition', () => {
    const w = hannWindow(15);
    expect(w[0]).toBe(0);
    expect(w[14]).toBeCloseTo(0, 15);
    expect(w[7]).toBe(1);
    const T = 200;
    const C = 3;
    const data = randomSignal(T * C, 5);
    const out = hannSmoothZscore({ data, shape: [T, C] });
    for (let c = 0; c < C; c++) {
      const col = Array.from({ length: T }, (_, t) => data[t * C + c]);
      const padded = reflectPadded(col, 7);
      const conv = Array.from({ length: T }, (_, i) => w.reduce((acc, wk, j) => acc + wk * padded[i + 14 - j], 0));
      const want = zscore(conv);
      const got = Array.from({ length: T }, (_, t) => out.data[t * C + c]);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-12);
    }
    // convolve1d of a unit impulse lays the kernel down in order (correlation would reverse it); an
    // even-length kernel is anchored one sample to the right of its middle.
    expect(Array.from(convolve1dReflect([0, 0, 1, 0, 0], [1, 2, 3]))).toEqual([0, 1, 2, 3, 0]);
    expect(Array.from(convolve1dReflect([0, 0, 1, 0, 0, 0], [1, 2, 3, 4]))).toEqual([1, 2, 3, 4, 0, 0]);
  });
});

/** Sum of sinusoids below `maxCycles` cycles per sample with random amplitudes and phases (band-limited). */
function lowPassSignal(n: number, maxCycles: number, seed: number): Float64Array {
  const r = mulberry32(seed);
  const parts = Array.from({ length: 12 }, () => ({ f: r() * maxCycles, a: r() + 0.2, p: r() * 2 * Math.PI }));
  return Float64Array.from({ length: n }, (_, t) => parts.reduce((acc, q) => acc + q.a * Math.cos(2 * Math.PI * q.f * t + q.p), 0.3));
}

describe('Hann deconvolution', () => {
  const w = hannWindow(15);

  test('inverts reflect-mode Hann smoothing exactly in its pass band, boundaries included', () => {
    // the Hann-15 gain is ≥ 0.28 of DC below 0.09 cycles/sample; frequencies are off the FFT grid
    const x = lowPassSignal(997, 0.09, 3);
    const y = convolve1dReflect(x, w);
    const back = deconvolve1dReflect(y, w, 1e-9);
    const scale = Math.max(...Array.from(x, Math.abs));
    expect(maxAbsDiff(back, x) / scale).toBeLessThan(1e-8);
    // a stronger regulariser shrinks the attenuated band: still close below ~0.06 cycles/sample
    const x2 = lowPassSignal(500, 0.05, 4);
    const back2 = deconvolve1dReflect(convolve1dReflect(x2, w), w, 1e-2);
    expect(maxAbsDiff(back2, x2) / Math.max(...Array.from(x2, Math.abs))).toBeLessThan(2e-3);
  });

  test('regularised inverse of broadband smoothed noise re-smooths to its input; zeros of the window stay finite', () => {
    // 1400 = 14·100 puts FFT bins exactly on the Hann-15 zeros (multiples of 1/14 cycles/sample)
    const y = convolve1dReflect(randomSignal(1400, 8), w);
    const resmoothError = (reg: number): number => {
      const again = convolve1dReflect(deconvolve1dReflect(y, w, reg), w);
      let err = 0;
      let norm = 0;
      for (let i = 0; i < y.length; i++) {
        err += (again[i] - y[i]) ** 2;
        norm += y[i] ** 2;
      }
      return Math.sqrt(err / norm);
    };
    const x = deconvolve1dReflect(y, w, 1e-2);
    expect(x.every(Number.isFinite)).toBe(true);
    // white noise keeps real power in the window's side lobes (gain ~0.02), which reg 1e-2 shrinks
    expect(resmoothError(1e-2)).toBeLessThan(2e-2);
    expect(resmoothError(1e-4)).toBeLessThan(1e-3);
    // the recovered signal carries more high-frequency power than the smoothed one (it was white)
    const hi = (s: Float64Array): number => {
      const p = rfft(zscore(s));
      let acc = 0;
      for (let k = Math.floor(p.re.length / 2); k < p.re.length; k++) acc += p.re[k] ** 2 + p.im[k] ** 2;
      return acc;
    };
    expect(hi(x)).toBeGreaterThan(5 * hi(y));
  });

  test('dataset form: each trial separately, z-scored per channel; inverts hannSmoothZscore', () => {
    const T = 400;
    const C = 2;
    const data = new Float64Array(T * C);
    for (let c = 0; c < C; c++) {
      const col = lowPassSignal(T, 0.06, 10 + c);
      for (let t = 0; t < T; t++) data[t * C + c] = col[t] * (c + 1) + c;
    }
    const smooth = hannSmoothZscore({ data, shape: [T, C] });
    const back = hannDeconvolveZscore(smooth, 15, 1e-9);
    expect(back.shape).toEqual([T, C]);
    for (let c = 0; c < C; c++) {
      const want = zscore(Array.from({ length: T }, (_, t) => data[t * C + c]));
      const got = Array.from({ length: T }, (_, t) => back.data[t * C + c]);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
    }
    // two trials: the second is the same signal reversed in time; each is deconvolved on its own
    const two = new Float64Array(2 * T * C);
    two.set(smooth.data);
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) two[T * C + t * C + c] = smooth.data[(T - 1 - t) * C + c];
    const b2 = hannDeconvolveZscore({ data: two, shape: [2, T, C] }, 15, 1e-9);
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) expect(b2.data[T * C + t * C + c]).toBeCloseTo(b2.data[(T - 1 - t) * C + c], 9);
    expect(() => deconvolve1dReflect(data, [1, 2, 3, 4], 0.1)).toThrow(/odd/);
    expect(() => deconvolve1dReflect(data, [1, 2, 3], 0.1)).toThrow(/symmetric/);
    expect(() => deconvolve1dReflect(data, w, -1)).toThrow(/reg/);
    expect(() => hannDeconvolveZscore({ data, shape: [T * C] }, 15)).toThrow(/shape/);
  });

  test('CLI writes the deconvolved, z-scored recording and rejects bad options before writing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deconvolve-'));
    try {
      const T = 300;
      const C = 3;
      const raw = randomSignal(T * C, 21);
      const smooth = hannSmoothZscore({ data: raw, shape: [T, C] });
      writeFileSync(join(dir, 'smooth.npy'), encodeNpy(Float32Array.from(smooth.data), [T, C]));
      const out = join(dir, 'train.npy');
      expect(await deconvolveCli(['--data', join(dir, 'smooth.npy'), '--layout', 'time,channel', '--out', out, '--reg', '0.003'])).toBe(0);
      const got = parseNpy(readFileSync(out));
      expect(got.shape).toEqual([T, C]);
      const want = hannDeconvolveZscore({ data: Float32Array.from(smooth.data), shape: [T, C] }, 15, 0.003);
      expect(maxAbsDiff(got.data as Float32Array, want.data)).toBeLessThan(1e-5);
      const bad = join(dir, 'bad.npy');
      await expect(deconvolveCli(['--data', join(dir, 'smooth.npy'), '--out', bad, '--hann', '14'])).rejects.toThrow(/--hann must be an odd/);
      await expect(deconvolveCli(['--data', join(dir, 'smooth.npy'), '--out', bad, '--reg', '0'])).rejects.toThrow(/--reg must be positive/);
      await expect(deconvolveCli(['--data', join(dir, 'missing.npy'), '--out', bad])).rejects.toThrow(/missing\.npy/);
      expect(existsSync(bad)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('D_H', () => {
  test('identical signals give 0; shapes and options are validated', () => {
    const T = 1200;
    const data = randomSignal(T * 4, 9);
    expect(dH({ data, shape: [T, 4] }, { data, shape: [T, 4] }).value).toBe(0);
    expect(dH({ data, shape: [T, 4] }, { data, shape: [T, 4] }, { freqCutOff: -1, smoothing: 5 }).value).toBe(0);
    expect(() => dH({ data, shape: [T, 4] }, { data: data.subarray(0, 4 * (T - 2)), shape: [T - 2, 4] })).toThrow(/time steps/);
    expect(() => dH({ data, shape: [T, 4] }, { data, shape: [T * 2, 2] })).toThrow(/channels/);
    expect(() => dH({ data, shape: [T, 4] }, { data, shape: [T, 4] }, { freqCutOff: 0 })).toThrow(/freqCutOff/);
  });

  test('pure tones Δ bins apart give the Hellinger distance of the two smoothing kernels', () => {
    const T = 4000; // 2001 bins
    const tone = (f: number) => Float64Array.from({ length: T }, (_, t) => Math.cos((2 * Math.PI * f * t) / T));
    for (const [f1, f2, sigma] of [
      [500, 540, 20],
      [700, 760, 20],
      [300, 310, 8],
    ]) {
      // Each spectrum is the normalised Gaussian kernel (truncated at 4σ) centred on its tone, so
      // D_H = √(1 − BC) with BC = Σ_k √(g(k − f1) g(k − f2)); untruncated, BC = exp(−Δ²/8σ²).
      const radius = Math.floor(4 * sigma + 0.5);
      const g = (k: number) => (Math.abs(k) <= radius ? Math.exp(-(k * k) / (2 * sigma * sigma)) : 0);
      let norm = 0;
      for (let k = -radius; k <= radius; k++) norm += g(k);
      let bc = 0;
      for (let k = 0; k <= T / 2; k++) bc += Math.sqrt(g(k - f1) * g(k - f2)) / norm;
      const got = dH({ data: tone(f1), shape: [T, 1] }, { data: tone(f2), shape: [T, 1] }, { smoothing: sigma }).value;
      expect(Math.abs(got - Math.sqrt(1 - bc)), `tones ${f1}/${f2} σ=${sigma}`).toBeLessThan(1e-7);
      const untruncated = Math.sqrt(1 - Math.exp(-((f2 - f1) ** 2) / (8 * sigma * sigma)));
      expect(Math.abs(got - untruncated)).toBeLessThan(3e-3);
    }
    // Far apart: no overlap at all.
    const far = dH({ data: tone(100), shape: [T, 1] }, { data: tone(900), shape: [T, 1] }).value;
    expect(far).toBeGreaterThan(0.9999);
    expect(far).toBeLessThanOrEqual(1);
  });

  test('per-channel average, odd lengths and the frequency cut-off follow the protocol', () => {
    const T = 1001; // odd: the last sample is dropped
    const a = randomSignal(T * 2, 1);
    const b = randomSignal(T * 2, 2);
    const col = (x: Float64Array, c: number, n: number) => Float64Array.from({ length: n }, (_, t) => x[t * 2 + c]);
    const res = dH({ data: a, shape: [T, 2] }, { data: b, shape: [T, 2] }, { freqCutOff: -1 });
    for (let c = 0; c < 2; c++) {
      // z-scored over all 1001 samples, then the last one dropped: 501 bins; the Nyquist bin is cut and the rest renormalised.
      const p = smoothedSpectrum(col(a, c, T));
      const q = smoothedSpectrum(col(b, c, T));
      expect(p.length).toBe(501);
      const pc = p.slice(0, 500);
      const qc = q.slice(0, 500);
      const sp = pc.reduce((s, v) => s + v, 0);
      const sq = qc.reduce((s, v) => s + v, 0);
      expect(res.perChannel[c]).toBeCloseTo(
        hellinger(
          qc.map((v) => v / sq),
          pc.map((v) => v / sp),
        ),
        14,
      );
    }
    expect(res.value).toBeCloseTo((res.perChannel[0] + res.perChannel[1]) / 2, 15);
    // Keeping everything differs from dropping Nyquist, but only slightly.
    const all = dH({ data: a, shape: [T, 2] }, { data: b, shape: [T, 2] });
    expect(all.value).not.toBe(res.value);
    expect(Math.abs(all.value - res.value)).toBeLessThan(0.01);
  });

  test('smoothed spectrum: non-negative, sums to 1, invariant to offset and scale (z-score)', () => {
    const x = randomSignal(512, 4);
    const s = smoothedSpectrum(x);
    expect(s.length).toBe(257);
    expect(Math.min(...s)).toBeGreaterThanOrEqual(0);
    expect(s.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 7);
    expect(maxAbsDiff(smoothedSpectrum(x.map((v) => 3 * v + 10)), s)).toBeLessThan(1e-12);
  });
});

describe('D_stsp', () => {
  test('identical series give 0 (same seed → same samples in both mixtures)', () => {
    const a = cloud(800, 3, 1, 0, 1);
    const r = dStsp(a, a, { samples: 300, seed: 4 });
    expect(r.value).toBe(0);
    expect(r.kept).toBe(300);
    expect(r.underflowFraction).toBe(0);
  });

  test('two clouds shifted by δ give the analytic KL δ²/(2(s²+σ²)) of the smoothed Gaussians', () => {
    // A cloud from N(μ, s²I) smoothed by the σ-kernel is ≈ N(μ, (s²+σ²)I); the KL of two such Gaussians
    // with means δ apart is δ²/(2(s²+σ²)). MC SD ≈ δ/√((s²+σ²)n) ≈ 0.045 for these settings.
    for (const [delta, s, seed] of [
      [2, 1, 1],
      [1.5, 0.8, 2],
      [3, 1.5, 3],
    ] as const) {
      const want = delta ** 2 / (2 * (s * s + 1));
      const a = cloud(3000, 2, s, 0, 100 + seed);
      const b = cloud(3000, 2, s, delta, 200 + seed);
      const got = dStsp(a, b, { seed }).value;
      const mcSd = delta / Math.sqrt((s * s + 1) * 1000);
      expect(Math.abs(got - want), `δ=${delta} s=${s}: ${got} vs ${want}`).toBeLessThan(4 * mcSd + 0.03);
    }
  });

  test('σ and maxRows options: σ widens the kernels, maxRows cuts both series', () => {
    const a = cloud(3000, 2, 1, 0, 11);
    const b = cloud(3000, 2, 1, 2, 12);
    const wide = dStsp(a, b, { sigma: 2, seed: 1 }).value;
    expect(Math.abs(wide - 4 / (2 * 5))).toBeLessThan(0.06);
    const cut = dStsp(a, b, { maxRows: 500, samples: 50, seed: 1 });
    expect(cut.rowsTrue).toBe(500);
    expect(cut.rowsGen).toBe(500);
    // The generated series is cut to the true series' length.
    const short = dStsp({ data: a.data.subarray(0, 200), shape: [100, 2] }, b, { samples: 10 });
    expect(short.rowsGen).toBe(100);
  });

  test('log-sum-exp keeps far samples; mimicFloat32Underflow drops them as the reference does', () => {
    // True data: half the rows at the origin, half 30 units away; generated data only at the origin.
    // exp(−½·30²) underflows float32, so the reference would drop the far half of the samples.
    const rows = 400;
    const t = cloud(rows, 2, 0.5, 0, 21);
    for (let i = rows / 2; i < rows; i++) t.data[i * 2] += 30;
    const g = cloud(rows, 2, 0.5, 0, 22);
    const exact = dStsp(t, g, { seed: 5 });
    const mimic = dStsp(t, g, { seed: 5, mimicFloat32Underflow: true });
    expect(exact.underflowFraction).toBeGreaterThan(0.4);
    expect(exact.underflowFraction).toBeLessThan(0.6);
    expect(mimic.underflowFraction).toBe(exact.underflowFraction);
    expect(exact.kept).toBe(1000);
    expect(mimic.kept).toBe(Math.round(1000 * (1 - exact.underflowFraction)));
    // Far samples contribute ≈ ½·30²/(1+s²)-scale log ratios; the near ones only log(½) (true mixture has half its mass there).
    expect(exact.value).toBeGreaterThan(100);
    expect(Math.abs(mimic.value - Math.log(0.5))).toBeLessThan(0.1);
    // Both report the all-sample mean too.
    expect(exact.valueAllSamples).toBe(exact.value);
    expect(mimic.valueAllSamples).toBe(exact.value);
  });

  test('the evaluation protocol drops underflowing samples by default, as the published figures do', async () => {
    const rows = 400;
    const t = cloud(rows, 2, 0.5, 0, 21);
    for (let i = rows / 2; i < rows; i++) t.data[i * 2] += 30;
    const g = cloud(rows, 2, 0.5, 0, 22);
    const exact = dStsp(t, g, { seed: 5 });
    const protocol = await evaluateGenerated(t, g, { seed: 5 });
    expect(protocol.dStsp).toBe(dStsp(t, g, { seed: 5, mimicFloat32Underflow: true }).value);
    expect(protocol.dStspAllSamples).toBe(exact.value);
    const kept = await evaluateGenerated(t, g, { seed: 5, mimicFloat32Underflow: false });
    expect(kept.dStsp).toBe(exact.value);
  });

  test('gmmLogDensity is the log of the mixture density computed directly', () => {
    const comps = { data: Float64Array.from([0, 0, 1, 2, -1, 0.5]), rows: 3, cols: 2 };
    const samples = { data: Float64Array.from([0.3, -0.2, 2, 2]), rows: 2, cols: 2 };
    for (const sigma of [1, 0.7]) {
      const got = gmmLogDensity(samples, comps, sigma);
      for (let j = 0; j < 2; j++) {
        let p = 0;
        for (let t = 0; t < 3; t++) {
          const d2 = (samples.data[2 * j] - comps.data[2 * t]) ** 2 + (samples.data[2 * j + 1] - comps.data[2 * t + 1]) ** 2;
          p += Math.exp(-d2 / (2 * sigma * sigma)) / sigma ** 2;
        }
        expect(got[j]).toBeCloseTo(Math.log(p / 3), 13);
      }
    }
  });

  test('bad input names the problem', () => {
    const a = cloud(10, 2, 1, 0, 1);
    expect(() => dStsp(a, cloud(10, 3, 1, 0, 1))).toThrow(/2 channels.*3/);
    expect(() => dStsp(a, a, { sigma: 0 })).toThrow(/sigma/);
    expect(() => dStsp(a, a, { samples: 1.5 })).toThrow(/samples/);
    const bad = { data: a.data.slice(), shape: [10, 2] };
    bad.data[7] = NaN;
    expect(() => dStsp(bad, a)).toThrow(/true series: non-finite value NaN at time 3, channel 1/);
    expect(() => dStsp({ data: a.data, shape: [20] }, a)).toThrow(/shape/);
  });
});

describe('evaluation protocol', () => {
  test('EEG slice: Hann-smoothed generated data, trials flattened, metrics as their parts', async () => {
    const eeg = parseNpy(readFileSync(sharedData('eeg_s001r01_smoothed.npy')), 'eeg');
    const [T, C] = eeg.shape;
    expect(C).toBe(64);
    const rows = 1200;
    const ch = 8;
    const slice = (t0: number) => Float64Array.from({ length: rows * ch }, (_, i) => eeg.data[(t0 + Math.floor(i / ch)) * C + (i % ch)]);
    const truth = slice(0);
    const gen = slice(T - rows);
    const opts = { samples: 200, seed: 2, freqCutOff: -1 };
    // True data as 2 trials of 600 steps: flattened to 1200 rows like the reference.
    const ev = await evaluateGenerated({ data: truth, shape: [2, rows / 2, ch] }, { data: gen, shape: [rows, ch] }, { ...opts, smoothGenerated: true });
    const smoothed = hannSmoothZscore({ data: gen, shape: [rows, ch] });
    expect(ev.dStsp).toBe(dStsp({ data: truth, shape: [rows, ch] }, smoothed, opts).value);
    expect(ev.dH).toBe(dH({ data: truth, shape: [rows, ch] }, smoothed, opts).value);
    expect(ev.meanRateError).toBe(meanRateError({ data: truth, shape: [rows, ch] }, smoothed));
    expect(ev.dHPerChannel.length).toBe(ch);
    // Different stretches of the same recording: similar but not identical statistics.
    expect(ev.dH).toBeGreaterThan(0.01);
    expect(ev.dH).toBeLessThan(0.5);
    const self = await evaluateGenerated({ data: truth, shape: [rows, ch] }, { data: truth, shape: [rows, ch] }, opts);
    expect(self.dStsp).toBe(0);
    expect(self.dH).toBe(0);
  });

  test('the bundled EEG recording carries the Hann-15 notches; deconvolving and re-smoothing reproduces it', () => {
    // The evidence behind training the example on the deconvolved recording (README, "EEG reproduction").
    const eeg = parseNpy(readFileSync(sharedData('eeg_s001r01_smoothed.npy')), 'eeg');
    const [T, C] = eeg.shape;
    const fs = 160;
    const power = new Float64Array(Math.floor(T / 2) + 1);
    for (let c = 0; c < C; c++) {
      const p = powerSpectrum(zscore(Array.from({ length: T }, (_, t) => eeg.data[t * C + c])));
      for (let k = 0; k < p.length; k++) power[k] += p[k];
    }
    const band = (lo: number, hi: number) => {
      let acc = 0;
      for (let k = Math.ceil((lo * T) / fs); k <= Math.floor((hi * T) / fs); k++) acc += power[k];
      return acc;
    };
    // notches of the 15-sample Hann window at 2·160/14 = 22.9 Hz and 3·160/14 = 34.3 Hz, side lobe between
    // (measured: 1 Hz around 22.9 Hz holds 2.9e-5 of the power around 5 Hz)
    expect(band(22.4, 23.4)).toBeLessThan(1e-4 * band(4.5, 5.5));
    expect(band(22.4, 23.4)).toBeLessThan(0.5 * band(25.5, 26.5));
    expect(band(33.8, 34.8)).toBeLessThan(0.5 * band(25.5, 26.5));
    const deconvolved = hannDeconvolveZscore({ data: eeg.data, shape: [T, C] }, 15, 3e-3);
    const again = hannSmoothZscore(deconvolved);
    const original = new Float64Array(T * C);
    for (let c = 0; c < C; c++) {
      const z = zscore(Array.from({ length: T }, (_, t) => eeg.data[t * C + c]));
      for (let t = 0; t < T; t++) original[t * C + c] = z[t];
    }
    let sq = 0;
    for (let i = 0; i < original.length; i++) sq += (again.data[i] - original[i]) ** 2;
    expect(Math.sqrt(sq / original.length)).toBeLessThan(1e-3);
  }, 60_000);
});

describe('mean rate error', () => {
  test('mean over channels of squared differences of channel sums, over T', () => {
    const t = { data: [1, 2, 3, 4], shape: [2, 2] };
    const g = { data: [0, 0, 1, 1], shape: [2, 2] };
    // sums true (4, 6), generated (1, 1): ((3² + 5²)/2)/2
    expect(meanRateError(t, g)).toBe(8.5);
  });
});

describe('spike statistics', () => {
  // 3 trials × 12 bins × 4 neurons with hand-chosen spike times.
  const T = 12;
  const spikeTimes: number[][][] = [
    // neuron 0: ISIs 2,4,2 | 2,4 | none → {2,4,2,2,4}
    [[0, 2, 6, 8], [1, 3, 7], [5]],
    // neuron 1: bursts of two counts in one bin count once: ISIs 3,3 | 3 → sd 0 → NaN
    [[0, 3, 6], [2, 5], []],
    // neuron 2: silent
    [[], [], []],
    // neuron 3: ISIs 1 | 10 → mean 5.5, sd 4.5
    [[4, 5], [0, 10], []],
  ];
  const data = new Float64Array(3 * T * 4);
  spikeTimes.forEach((trials, n) => trials.forEach((times, tr) => times.forEach((t) => (data[(tr * T + t) * 4 + n] = n === 1 ? 2 : 1))));
  const spikes = { data, shape: [3, T, 4] };

  test('mean rates count spikes per bin (× fs)', () => {
    const r = meanRates(spikes, 100);
    expect(r[0]).toBeCloseTo((8 / 36) * 100, 12);
    expect(r[1]).toBeCloseTo(((5 * 2) / 36) * 100, 12);
    expect(r[2]).toBe(0);
  });

  test('ISI mean, SD, CV pooled over trials, NaN where undefined', () => {
    const s = isiStats(spikes, { dt: 0.5 });
    const isi0 = [2, 4, 2, 2, 4].map((v) => v * 0.5);
    const m0 = isi0.reduce((a, b) => a + b) / 5;
    const sd0 = Math.sqrt(isi0.reduce((a, b) => a + (b - m0) ** 2, 0) / 5);
    expect(s.mean[0]).toBeCloseTo(m0, 12);
    expect(s.sd[0]).toBeCloseTo(sd0, 12);
    expect(s.cv[0]).toBeCloseTo(sd0 / m0, 12);
    expect(s.count[0]).toBe(5);
    expect(s.mean[1]).toBeNaN(); // SD 0
    expect(s.count[1]).toBe(3);
    expect(s.mean[2]).toBeNaN(); // no ISIs
    expect(s.mean[3]).toBeCloseTo(5.5 * 0.5, 12);
    expect(s.sd[3]).toBeCloseTo(4.5 * 0.5, 12);
    expect(isiStats(spikes, { minIntervals: 3 }).mean[3]).toBeNaN();
  });

  test('pairwise correlations: upper triangle in row-major order, ±1 for copies and complements', () => {
    const n = 200;
    const r = mulberry32(3);
    const d = new Float64Array(n * 4);
    for (let t = 0; t < n; t++) {
      const a = r() < 0.3 ? 1 : 0;
      d[t * 4] = a;
      d[t * 4 + 1] = r() < 0.5 ? 1 : 0;
      d[t * 4 + 2] = a;
      d[t * 4 + 3] = 1 - a;
    }
    const c = pairwiseCorrelations({ data: d, shape: [n, 4] });
    expect(c.length).toBe(6);
    expect(c[1]).toBeCloseTo(1, 12); // (0,2)
    expect(c[2]).toBeCloseTo(-1, 12); // (0,3)
    expect(c[5]).toBeCloseTo(-1, 12); // (2,3)
    const x = Array.from({ length: n }, (_, t) => d[t * 4]);
    const y = Array.from({ length: n }, (_, t) => d[t * 4 + 1]);
    expect(c[0]).toBeCloseTo(pearson(x, y).r, 12);
    expect(pairwiseCorrelations(spikes)[1]).toBeNaN(); // silent neuron 2
  });

  test('comparison of identical data gives r = 1 for every statistic; neuron counts must match', () => {
    const cmp = compareSpikeStats(spikes, spikes);
    expect(cmp.rates.r).toBeCloseTo(1, 12);
    expect(cmp.isiMean.r).toBeCloseTo(1, 12);
    expect(cmp.isiMean.n).toBe(2); // neurons 0 and 3 have finite ISI stats
    expect(cmp.correlations.r).toBeCloseTo(1, 12);
    expect(() => compareSpikeStats(spikes, { data: data.subarray(0, 3 * T * 2), shape: [3, T, 2] })).toThrow(/4 neurons.*2/);
    expect(pearson([1, 2, 3], [2, 4, 7]).r).toBeCloseTo(0.9933992677987828, 14);
  });
});
