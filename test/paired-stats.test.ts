// CPU tests of the paired comparison over seeds (src/analysis/stats.ts): the Wilcoxon signed-rank test
// against hand-computed exact cases and scipy.stats.wilcoxon's normal approximation, and the
// percentile bootstrap interval on known cases and at its nominal coverage (fixed seed).
import { describe, expect, test } from 'vitest';
import { bootstrapInterval, wilcoxonSignedRank } from '../src/analysis/stats.js';
import { normalSampler } from '../src/util/random.js';

const zeros = (n: number) => new Array<number>(n).fill(0);

describe('Wilcoxon signed-rank test', () => {
  test('identical samples give p = 1 and no effect', () => {
    const x = [0.3, 1.2, 0.7, 2.2];
    const r = wilcoxonSignedRank(x, [...x]);
    expect(r).toMatchObject({ n: 0, p: 1, rankBiserial: 0 });
  });

  test('exact null distribution: hand-computed small cases', () => {
    // All five differences positive: W+ = 15, P(W+ ≥ 15) = 1/32, two-sided 2/32.
    const a = wilcoxonSignedRank([1, 2, 3, 4, 5], zeros(5));
    expect(a).toMatchObject({ n: 5, wPlus: 15, wMinus: 0, exact: true, rankBiserial: 1 });
    expect(a.p).toBeCloseTo(0.0625, 12);
    // One negative (rank 2): W+ = 13; sums ≥ 13 are the complements of {}, {1}, {2}: 3/32, two-sided 6/32.
    const b = wilcoxonSignedRank([1, -2, 3, 4, 5], zeros(5));
    expect(b.wPlus).toBe(13);
    expect(b.p).toBeCloseTo(0.1875, 12);
    expect(b.rankBiserial).toBeCloseTo((13 - 2) / 15, 12);
    // Swapping the samples mirrors the statistic and keeps p.
    const c = wilcoxonSignedRank(zeros(5), [1, -2, 3, 4, 5]);
    expect(c.wMinus).toBe(13);
    expect(c.p).toBeCloseTo(b.p, 12);
  });

  test('normal approximation matches scipy (ties, zeros dropped, continuity correction)', () => {
    const d = Array.from({ length: 30 }, (_, i) => (i === 2 || i === 7 || i === 11 ? -1 : 1) * (i + 1));
    const large = wilcoxonSignedRank(d, zeros(30));
    expect(large.exact).toBe(false);
    expect(large.wMinus).toBe(23);
    expect(large.p).toBeCloseTo(1.717385723192225e-5, 12);
    const tied = wilcoxonSignedRank([1, 1, 2, -2, 3, 3, 3, -1, 4, 5, 0.5, -0.5, 0], zeros(13));
    expect(tied).toMatchObject({ n: 12, exact: false, wMinus: 12 });
    expect(tied.p).toBeCloseTo(0.036899619555973234, 12);
  });

  test('a large shift gives a small p; a null sample does not (fixed seed)', () => {
    const rng = normalSampler(5);
    const x = Array.from({ length: 12 }, () => rng.normal());
    const shifted = x.map((v) => v + 3 + 0.1 * rng.normal());
    expect(wilcoxonSignedRank(shifted, x).p).toBeLessThan(0.001);
    const noise = x.map((v) => v + 0.5 * rng.normal());
    expect(wilcoxonSignedRank(noise, x).p).toBeGreaterThan(0.05);
  });

  test('bad input is a clear error', () => {
    expect(() => wilcoxonSignedRank([1, 2], [1])).toThrow(/differ in length/);
    expect(() => wilcoxonSignedRank([1, NaN], [1, 2])).toThrow(/finite/);
  });
});

describe('bootstrap interval', () => {
  test('a constant sample has a zero-width interval at the constant', () => {
    expect(bootstrapInterval([0.4, 0.4, 0.4, 0.4])).toEqual({ estimate: 0.4, lower: 0.4, upper: 0.4 });
  });

  test('the 95 % interval of the mean covers the true mean about 95 % of the time (fixed seed)', () => {
    const rng = normalSampler(11);
    let covered = 0;
    const trials = 200;
    for (let k = 0; k < trials; k++) {
      const xs = Array.from({ length: 30 }, () => 1 + 2 * rng.normal());
      const ci = bootstrapInterval(xs, { resamples: 500, seed: k + 1 });
      expect(ci.lower).toBeLessThan(ci.estimate);
      expect(ci.upper).toBeGreaterThan(ci.estimate);
      if (ci.lower <= 1 && 1 <= ci.upper) covered++;
    }
    // Percentile intervals at n = 30 run slightly narrow; binomial sd at 200 trials is 1.5 %.
    expect(covered / trials).toBeGreaterThan(0.88);
    expect(covered / trials).toBeLessThan(0.99);
  });

  test('bad options are clear errors', () => {
    expect(() => bootstrapInterval([])).toThrow(/no samples/);
    expect(() => bootstrapInterval([1, 2], { level: 1 })).toThrow(/level/);
  });
});
