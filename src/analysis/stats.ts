/**
 * Robust summaries used to report repeated measurements (evaluation repeats, benchmark samples), and
 * paired comparisons over seeds: the Wilcoxon signed-rank test and percentile bootstrap intervals.
 */
import { erfc } from '../ops/elementwise.js';
import { mulberry32 } from '../util/random.js';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no samples');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median absolute deviation from the median, unscaled (scipy's median_abs_deviation, scale 1). */
export function medianAbsDeviation(xs: readonly number[]): number {
  const m = median(xs);
  return median(xs.map((x) => Math.abs(x - m)));
}

export interface SignedRankResult {
  /** Pairs with a non-zero difference (zero differences are dropped, Wilcoxon's convention). */
  n: number;
  /** Sum of the ranks of |x − y| over the pairs with x > y, and over those with x < y. */
  wPlus: number;
  wMinus: number;
  /** Two-sided p-value: exact null distribution when n ≤ 25 without tied |differences|, else the normal approximation (tie-corrected, continuity 0.5). */
  p: number;
  exact: boolean;
  /** Matched-pairs rank-biserial correlation (W+ − W−)/(W+ + W−), in [−1, 1]; 0 when every pair ties. */
  rankBiserial: number;
}

/** Wilcoxon signed-rank test of paired samples x and y (H0: the differences are symmetric about 0). */
export function wilcoxonSignedRank(x: readonly number[], y: readonly number[]): SignedRankResult {
  if (x.length !== y.length) throw new Error(`signed-rank test: paired samples differ in length (${x.length} and ${y.length})`);
  const d = x.map((v, i) => v - y[i]);
  if (d.some((v) => !Number.isFinite(v))) throw new Error('signed-rank test: the samples must be finite');
  const nz = d.filter((v) => v !== 0);
  const n = nz.length;
  if (n === 0) return { n: 0, wPlus: 0, wMinus: 0, p: 1, exact: true, rankBiserial: 0 };
  // Average ranks of |d| (ties share the mean of their positions).
  const order = nz.map((_, i) => i).sort((a, b) => Math.abs(nz[a]) - Math.abs(nz[b]));
  const rank = new Float64Array(n);
  const tieSizes: number[] = [];
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && Math.abs(nz[order[j + 1]]) === Math.abs(nz[order[i]])) j++;
    for (let q = i; q <= j; q++) rank[order[q]] = (i + j) / 2 + 1;
    if (j > i) tieSizes.push(j - i + 1);
    i = j + 1;
  }
  let wPlus = 0;
  for (let i = 0; i < n; i++) if (nz[i] > 0) wPlus += rank[i];
  const total = (n * (n + 1)) / 2;
  const wMinus = total - wPlus;
  const rankBiserial = (wPlus - wMinus) / total;
  const exact = n <= 25 && tieSizes.length === 0;
  let p: number;
  if (exact) {
    // Number of subsets of ranks {1..n} with each sum: the exact null distribution of W+.
    const counts = new Float64Array(total + 1);
    counts[0] = 1;
    for (let r = 1; r <= n; r++) for (let s = total; s >= r; s--) counts[s] += counts[s - r];
    const all = 2 ** n;
    let lower = 0;
    for (let s = 0; s <= wPlus; s++) lower += counts[s];
    let upper = 0;
    for (let s = wPlus; s <= total; s++) upper += counts[s];
    p = Math.min(1, (2 * Math.min(lower, upper)) / all);
  } else {
    const mean = total / 2;
    const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieSizes.reduce((s, t) => s + t ** 3 - t, 0) / 48;
    const z = variance > 0 ? Math.max(0, Math.abs(wPlus - mean) - 0.5) / Math.sqrt(variance) : 0;
    p = Math.min(1, erfc(z / Math.SQRT2));
  }
  return { n, wPlus, wMinus, p, exact, rankBiserial };
}

/**
 * Percentile bootstrap confidence interval of a statistic of one sample (for paired data: of the
 * differences), from `resamples` seeded resamples with replacement.
 */
export function bootstrapInterval(
  xs: readonly number[],
  options: { statistic?: (s: readonly number[]) => number; level?: number; resamples?: number; seed?: number } = {},
): { estimate: number; lower: number; upper: number } {
  const statistic = options.statistic ?? ((s) => s.reduce((a, b) => a + b, 0) / s.length);
  const level = options.level ?? 0.95;
  const resamples = options.resamples ?? 10000;
  if (xs.length === 0) throw new Error('bootstrap interval of no samples');
  if (!(level > 0 && level < 1)) throw new Error(`bootstrap interval: level must be in (0, 1) (got ${level})`);
  if (!Number.isInteger(resamples) || resamples < 10) throw new Error(`bootstrap interval: resamples must be an integer ≥ 10 (got ${resamples})`);
  const rng = mulberry32(options.seed ?? 1);
  const stats = new Float64Array(resamples);
  const sample = new Array<number>(xs.length);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < xs.length; i++) sample[i] = xs[Math.floor(rng() * xs.length)];
    stats[b] = statistic(sample);
  }
  stats.sort();
  const at = (q: number) => stats[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))];
  return { estimate: statistic(xs), lower: at((1 - level) / 2), upper: at((1 + level) / 2) };
}
