// Neural Latents Benchmark scores (src/analysis/nlb-scores.ts) on hand-computed cases and fixed-seed
// simulations: bits per spike, the ridge velocity decoder, PSTH R², the Poisson readout.
import { describe, expect, test } from 'vitest';
import {
  bitsPerSpike,
  conditionPsths,
  decoderR2,
  fitPoissonReadout,
  poissonNll,
  predictPoissonReadout,
  psthR2,
  r2PerColumn,
  ridgeFit,
} from '../src/analysis/nlb-scores.js';
import { mulberry32, normalSampler } from '../src/util/random.js';

const arr = (data: number[] | Float64Array | Float32Array, trials: number, time: number, channels: number) => ({
  data: Float64Array.from(data),
  trials,
  time,
  channels,
});

/** Knuth's Poisson sampler (small rates). */
function poisson(rate: number, u: () => number): number {
  const l = Math.exp(-rate);
  let k = 0;
  for (let p = u(); p > l; p *= u()) k++;
  return k;
}

/** An inhomogeneous Poisson population: log-rates follow a few sinusoids of time, per trial phase. */
function population(seed: number, trials: number, time: number, units: number) {
  const u = mulberry32(seed);
  const gain = Array.from({ length: units }, () => [u() * 2 - 1, u() * 2 - 1]);
  const base = Array.from({ length: units }, () => Math.log(0.05 + 0.3 * u()));
  const rates = new Float64Array(trials * time * units);
  const counts = new Float64Array(trials * time * units);
  const latents = new Float64Array(trials * time * 2);
  for (let k = 0; k < trials; k++) {
    const phase = 2 * Math.PI * u();
    for (let t = 0; t < time; t++) {
      const z = [Math.sin((2 * Math.PI * t) / time + phase), Math.cos((4 * Math.PI * t) / time + phase)];
      latents.set(z, (k * time + t) * 2);
      for (let n = 0; n < units; n++) {
        const i = (k * time + t) * units + n;
        rates[i] = Math.exp(base[n] + gain[n][0] * z[0] + gain[n][1] * z[1]);
        counts[i] = poisson(rates[i], u);
      }
    }
  }
  return { rates: arr(rates, trials, time, units), counts: arr(counts, trials, time, units), latents: arr(latents, trials, time, 2) };
}

describe('bits per spike', () => {
  test('hand-computed case: one unit, counts 1 and 3, rates 1 and 3', () => {
    const counts = arr([1, 3], 1, 2, 1);
    const rates = arr([1, 3], 1, 2, 1);
    expect(poissonNll(rates, counts)).toBeCloseTo(1 + 3 - 3 * Math.log(3) + Math.log(6), 12);
    expect(bitsPerSpike(rates, counts)).toBeCloseTo((3 * Math.log(3) - 4 * Math.log(2)) / 4 / Math.LN2, 12);
  });

  test('the mean-rate model scores 0; true rates of an inhomogeneous Poisson population score > 0; a wrong model < 0', () => {
    const p = population(3, 40, 50, 8);
    const { counts } = p;
    const means = new Float64Array(8);
    for (let i = 0; i < counts.data.length; i++) means[i % 8] += counts.data[i] / (40 * 50);
    const meanModel = arr(
      Float64Array.from({ length: counts.data.length }, (_, i) => means[i % 8]),
      40,
      50,
      8,
    );
    expect(Math.abs(bitsPerSpike(meanModel, counts))).toBeLessThan(1e-12);
    const truth = bitsPerSpike(p.rates, counts);
    expect(truth).toBeGreaterThan(0.1);
    const scrambled = arr(Float64Array.from(p.rates.data).reverse(), 40, 50, 8);
    expect(bitsPerSpike(scrambled, counts)).toBeLessThan(0);
  });

  test('NaN counts are left out, zero rates count as 1e-9, negative rates and empty data are refused', () => {
    const counts = arr([1, NaN, 0, 2], 1, 2, 2);
    const rates = arr([1, 5, 0, 2], 1, 2, 2);
    expect(poissonNll(rates, counts)).toBeCloseTo(1 + 1e-9 + 2 - 2 * Math.log(2) + Math.log(2), 9);
    expect(() => poissonNll(arr([-1, 1, 1, 1], 1, 2, 2), counts)).toThrow(/rate -1 at flat index 0/);
    expect(() => bitsPerSpike(arr([1, 1], 1, 2, 1), arr([0, 0], 1, 2, 1))).toThrow(/no spikes/);
    expect(() => bitsPerSpike(arr([1, 1], 1, 2, 1), arr([0, 0, 1], 1, 3, 1))).toThrow(/shapes differ/);
  });
});

describe('ridge decoder', () => {
  test('ridge solution matches the normal equations with an unpenalised intercept', () => {
    // x = [0, 1, 2, 3], y = 2x + 1, α = 1: centred Sxx = 5, Sxy = 10 → w = 10/6, b = ȳ − w x̄
    const m = ridgeFit([0, 1, 2, 3], [1, 3, 5, 7], 4, 1, 1, 1);
    expect(m.weights[0]).toBeCloseTo(10 / 6, 12);
    expect(m.intercept[0]).toBeCloseTo(4 - (10 / 6) * 1.5, 12);
  });

  test('R² = 1 for behaviour that is a noiseless linear function of the features; lag is honoured', () => {
    const g = normalSampler(5);
    const trials = 30;
    const time = 20;
    const x = arr(
      Float64Array.from({ length: trials * time * 4 }, () => g.normal()),
      trials,
      time,
      4,
    );
    const y = new Float64Array(trials * time * 2);
    for (let r = 0; r < trials * time; r++) {
      y[2 * r] = 3 * x.data[4 * r] - x.data[4 * r + 2] + 0.5;
      y[2 * r + 1] = x.data[4 * r + 1] + 2 * x.data[4 * r + 3] - 1;
    }
    const yb = arr(y, trials, time, 2);
    const split = (a: ReturnType<typeof arr>, from: number, to: number) =>
      arr(a.data.slice(from * time * a.channels, to * time * a.channels), to - from, time, a.channels);
    const res = decoderR2(split(x, 0, 20), split(yb, 0, 20), split(x, 20, 30), split(yb, 20, 30));
    expect(res.r2).toBeGreaterThan(1 - 1e-6);
    expect(res.alpha).toBeCloseTo(1e-4, 12);
    // behaviour lagging the features by 2 bins: decoded only with lagBins 2
    const lagged = new Float64Array(y.length).fill(NaN);
    for (let k = 0; k < trials; k++)
      for (let t = 0; t + 2 < time; t++) lagged.set(y.subarray((k * time + t) * 2, (k * time + t) * 2 + 2), (k * time + t + 2) * 2);
    const yl = arr(lagged, trials, time, 2);
    expect(decoderR2(split(x, 0, 20), split(yl, 0, 20), split(x, 20, 30), split(yl, 20, 30), { lagBins: 2 }).r2).toBeGreaterThan(1 - 1e-6);
    expect(decoderR2(split(x, 0, 20), split(yl, 0, 20), split(x, 20, 30), split(yl, 20, 30)).r2).toBeLessThan(0.1);
  });

  test('on noise features the cross-validation picks the strongest penalty and R² is near or below 0', () => {
    const g = normalSampler(9);
    const x = arr(
      Float64Array.from({ length: 20 * 10 * 6 }, () => g.normal()),
      20,
      10,
      6,
    );
    const y = arr(
      Float64Array.from({ length: 20 * 10 }, () => g.normal()),
      20,
      10,
      1,
    );
    const half = (a: ReturnType<typeof arr>, k: number) => arr(a.data.slice(k * 100 * a.channels, (k + 1) * 100 * a.channels), 10, 10, a.channels);
    const res = decoderR2(half(x, 0), half(y, 0), half(x, 1), half(y, 1));
    expect(res.r2).toBeLessThan(0.05);
  });

  test('R² per column: hand values and the constant-target convention', () => {
    // truth [1, 2, 3], pred [1, 2, 4]: SSE 1, SST 2 → 0.5
    expect(Array.from(r2PerColumn([1, 2, 3], [1, 2, 4], 3, 1))).toEqual([0.5]);
    expect(Array.from(r2PerColumn([2, 2], [2, 2], 2, 1))).toEqual([1]);
    expect(Array.from(r2PerColumn([2, 2], [2, 3], 2, 1))).toEqual([0]);
  });
});

describe('PSTH R²', () => {
  test('known PSTHs: exact prediction 1, grand mean 0, hand-computed partial fit', () => {
    // 2 conditions, 2 bins, 1 unit: PSTH a = [1, 3], b = [5, 7]; trials a, b, a
    const psths = new Map([
      ['a', Float64Array.of(1, 3)],
      ['b', Float64Array.of(5, 7)],
    ]);
    const conds = ['a', 'b', 'a'];
    expect(psthR2(arr([1, 3, 5, 7, 1, 3], 3, 2, 1), conds, psths)).toBe(1);
    const m = (1 + 3 + 5 + 7 + 1 + 3) / 6;
    expect(Math.abs(psthR2(arr(new Array(6).fill(m), 3, 2, 1), conds, psths))).toBeLessThan(1e-12);
    // predict b's first bin as 6: SSE 1; SST = Σ (v − 10/3)²
    const sst = [1, 3, 5, 7, 1, 3].reduce((a, v) => a + (v - m) ** 2, 0);
    expect(psthR2(arr([1, 3, 6, 7, 1, 3], 3, 2, 1), conds, psths)).toBeCloseTo(1 - 1 / sst, 12);
    expect(() => psthR2(arr([1, 3], 1, 2, 1), ['c'], psths)).toThrow(/no PSTH for condition 'c'/);
  });

  test('condition PSTHs average the trials of each condition; smoothing keeps a constant', () => {
    const counts = arr([0, 2, 4, 6, 2, 2, 8, 0], 4, 2, 1);
    const p = conditionPsths(counts, ['x', 'y', 'x', 'y']);
    expect(Array.from(p.get('x')!)).toEqual([1, 2]);
    expect(Array.from(p.get('y')!)).toEqual([6, 3]);
    const flat = conditionPsths(arr(new Array(10).fill(3), 1, 10, 1), ['c'], 2);
    for (const v of flat.get('c')!) expect(v).toBeCloseTo(3, 12);
  });
});

describe('Poisson readout (co-smoothing from latents)', () => {
  test('recovers rates of held-out units from the latents that drive them: co-bps near that of the true rates', () => {
    const p = population(11, 240, 40, 5);
    const take = (a: ReturnType<typeof arr>, k0: number, k1: number) => arr(a.data.slice(k0 * 40 * a.channels, k1 * 40 * a.channels), k1 - k0, 40, a.channels);
    const readout = fitPoissonReadout(take(p.latents, 0, 200), take(p.counts, 0, 200));
    const pred = predictPoissonReadout(readout, take(p.latents, 200, 240));
    const evalCounts = take(p.counts, 200, 240);
    const truth = bitsPerSpike(take(p.rates, 200, 240), evalCounts);
    const fitted = bitsPerSpike(pred, evalCounts);
    console.log(`co-bps: true rates ${truth.toFixed(4)}, readout from latents ${fitted.toFixed(4)}`);
    expect(truth).toBeGreaterThan(0.05);
    expect(fitted).toBeGreaterThan(truth - 0.005);
    expect(fitted).toBeLessThanOrEqual(truth + 0.02);
  });
});
