// The data-driven start, the static baseline and the fit warnings (CPU only).
import { describe, expect, test } from 'vitest';
import { fitWarnings, finalLogLikelihood } from '../src/analysis/fit-warnings.js';
import type { Dataset } from '../src/io/dataset.js';
import { channelMoments, initialiseFromData, staticBaselineLogLikelihood } from '../src/models/data-init.js';
import { DEFAULT_CONFIG, initialParams, type ModelConfig } from '../src/models/lowrank-rnn.js';
import type { HistoryEntry } from '../src/models/model-file.js';
import { trainingCurves } from '../src/plot/charts.js';
import { mulberry32 } from '../src/util/random.js';

/** y = W z + c + σ ξ with z ~ N(0, I_R), known loadings W [D,R], offsets c and noise stds σ. */
function factorData(W: number[][], c: number[], sigma: number[], n: number, seed: number): Dataset {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const D = W.length;
  const R = W[0].length;
  const data = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: R }, gauss);
    for (let d = 0; d < D; d++) data[i * D + d] = W[d].reduce((a, w, r) => a + w * z[r], c[d]) + sigma[d] * gauss();
  }
  return { data, trials: 1, time: n, channels: D };
}

const W = [
  [2, 0],
  [1.5, 1],
  [0, 1.2],
  [-1, 0.5],
  [0.5, -1],
  [0, 0],
];
const C = [1, -2, 0.5, 0, 3, -1];
const SIGMA = [0.3, 0.2, 0.4, 0.1, 0.3, 0.5];
const config = (D: number, extra: Partial<ModelConfig> = {}): ModelConfig => ({ ...DEFAULT_CONFIG, rank: 2, units: 16, obsDim: D, ...extra });

describe('data-driven start', () => {
  const ds = factorData(W, C, SIGMA, 40_000, 3);

  test('Gaussian: readout spans the loading space (B Bᵀ = W Wᵀ), bias = means, noise = residual variance', () => {
    const cfg = config(W.length);
    const p = initialiseFromData(cfg, initialParams(cfg, 1), ds);
    const D = W.length;
    for (let d = 0; d < D; d++) {
      expect(p.b[d]).toBeCloseTo(C[d], 1);
      for (let e = 0; e < D; e++) {
        const fitted = p.B[d * 2] * p.B[e * 2] + p.B[d * 2 + 1] * p.B[e * 2 + 1];
        const truth = W[d][0] * W[e][0] + W[d][1] * W[e][1];
        // the top-2 principal subspace absorbs part of the noise, so compare loosely
        expect(Math.abs(fitted - truth)).toBeLessThan(0.15);
      }
      // the last channel has no loading: its noise is all its variance
      if (d === D - 1) expect(Math.exp(p.logVarX[d] / 2)).toBeCloseTo(SIGMA[d], 1);
    }
    // the reference start (B ~ N(0, 2/R)) would not know the loadings: the relation above fails for it
    const ref = initialParams(cfg, 1);
    expect(Math.abs(ref.B[0] ** 2 + ref.B[1] ** 2 - 4)).toBeGreaterThan(0.15);
  });

  test('Gaussian: the start does not depend on the eigen-solver sign (largest loading positive) and leaves the dynamics alone', () => {
    const cfg = config(W.length);
    const ref = initialParams(cfg, 5);
    const p = initialiseFromData(cfg, initialParams(cfg, 5), ds);
    for (const j of [0, 1]) {
      const col = Array.from({ length: W.length }, (_, d) => p.B[d * 2 + j]);
      const big = col.reduce((bi, v, i) => (Math.abs(v) > Math.abs(col[bi]) ? i : bi), 0);
      expect(col[big]).toBeGreaterThan(0);
    }
    for (const k of ['m', 'n', 'h', 'thetaA', 'noiseZ', 'noiseZ0'] as const) expect(Array.from(p[k])).toEqual(Array.from(ref[k]));
  });

  test('one-to-one: the loadings go into m (the readout is B_o ⊙ m z with B_o = 1), bias and noise as for affine', () => {
    const cfg = config(W.length, { observation: 'one-to-one', units: W.length });
    const p = initialiseFromData(cfg, initialParams(cfg, 1), ds);
    const affine = initialiseFromData(config(W.length), initialParams(config(W.length), 1), ds);
    expect(p.B.length).toBe(0);
    expect(Array.from(p.Bo)).toEqual(new Array(W.length).fill(1));
    expect(Array.from(p.m)).toEqual(Array.from(affine.B));
    expect(Array.from(p.logVarX)).toEqual(Array.from(affine.logVarX));
    expect(Array.from(p.b)).toEqual(Array.from(affine.b));
  });

  test("one-to-one from rates: m keeps its draw, the bias takes the means and the noise all of each channel's variance", () => {
    const cfg = config(W.length, { observation: 'one-to-one', readoutFrom: 'rates', units: W.length });
    const ref = initialParams(cfg, 1);
    const p = initialiseFromData(cfg, initialParams(cfg, 1), ds);
    const { mean, cov } = channelMoments(ds);
    expect(Array.from(p.m)).toEqual(Array.from(ref.m));
    for (let d = 0; d < W.length; d++) {
      expect(p.b[d]).toBeCloseTo(mean[d], 5);
      expect(Math.exp(p.logVarX[d])).toBeCloseTo(cov[d * W.length + d], 3);
    }
  });

  test('Poisson: the bias inverts the link at each channel mean count', () => {
    const counts: Dataset = { data: new Float32Array(3000 * 3), trials: 1, time: 3000, channels: 3 };
    const rand = mulberry32(9);
    const rates = [0.3, 2, 0];
    for (let i = 0; i < 3000; i++) for (let d = 0; d < 3; d++) counts.data[i * 3 + d] = rand() < rates[d] / 3 ? 3 : 0;
    const { mean } = channelMoments(counts);
    const soft = config(3, { obs: 'poisson', obsNonlinearity: 'softplus' });
    const p = initialiseFromData(soft, initialParams(soft, 1), counts);
    for (let d = 0; d < 2; d++) expect(Math.log1p(Math.exp(p.b[d]))).toBeCloseTo(mean[d], 5);
    expect(Number.isFinite(p.b[2])).toBe(true); // a silent channel gets a small rate, not -Inf
    const ex = config(3, { obs: 'poisson', obsNonlinearity: 'exp' });
    expect(initialiseFromData(ex, initialParams(ex, 1), counts).b[1]).toBeCloseTo(Math.log(mean[1]), 5);
  });

  test('static baseline: equals the exact Gaussian log-density of the data under N(mean, B Bᵀ + diag σ²)', () => {
    const small = factorData(W.slice(0, 3), C.slice(0, 3), SIGMA.slice(0, 3), 500, 4);
    const cfg = config(3);
    const p = initialiseFromData(cfg, initialParams(cfg, 1), small);
    const { mean } = channelMoments(small);
    // direct evaluation of the average log-density with an explicit 3×3 inverse
    const S = [0, 1, 2].map((d) => [0, 1, 2].map((e) => (d === e ? Math.exp(p.logVarX[d]) : 0) + p.B[d * 2] * p.B[e * 2] + p.B[d * 2 + 1] * p.B[e * 2 + 1]));
    const det =
      S[0][0] * (S[1][1] * S[2][2] - S[1][2] * S[2][1]) - S[0][1] * (S[1][0] * S[2][2] - S[1][2] * S[2][0]) + S[0][2] * (S[1][0] * S[2][1] - S[1][1] * S[2][0]);
    const inv = [0, 1, 2].map((i) =>
      [0, 1, 2].map((j) => {
        const r = [0, 1, 2].filter((k) => k !== j);
        const c = [0, 1, 2].filter((k) => k !== i);
        return ((-1) ** (i + j) * (S[r[0]][c[0]] * S[r[1]][c[1]] - S[r[0]][c[1]] * S[r[1]][c[0]])) / det;
      }),
    );
    let total = 0;
    for (let t = 0; t < 500; t++) {
      const x = [0, 1, 2].map((d) => small.data[t * 3 + d] - mean[d]);
      let q = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) q += x[i] * inv[i][j] * x[j];
      total += -0.5 * (3 * Math.log(2 * Math.PI) + Math.log(det) + q);
    }
    // the baseline uses the unbiased covariance (n − 1), hence the loose tolerance
    expect(staticBaselineLogLikelihood(cfg, small)).toBeCloseTo(total / 500, 2);
    expect(staticBaselineLogLikelihood(config(3, { obs: 'poisson', obsNonlinearity: 'softplus' }), small)).toBeNull();
  });
});

const entry = (iteration: number, llPerStep: number, extra: Partial<HistoryEntry> = {}): HistoryEntry => ({
  iteration,
  loss: -llPerStep,
  llPerStep,
  lr: 1e-3,
  seconds: 0,
  ...extra,
});

describe('fit warnings', () => {
  const healthy = Array.from({ length: 100 }, (_, i) => entry(i + 1, 10 - 5 / (i + 1), i % 10 === 9 ? { latentNoise: 0.1, obsNoise: 0.3, ess: 8 } : {}));

  test('a healthy history gives none; its final level is the median of the last 10 %', () => {
    expect(fitWarnings({ history: healthy, particles: 10, staticBaseline: 5 })).toEqual([]);
    expect(finalLogLikelihood(healthy)).toBeCloseTo(10 - 5 / 95.5, 2);
  });

  test('ending below the static baseline warns with both figures and what to try', () => {
    const w = fitWarnings({ history: healthy, particles: 10, staticBaseline: 12 });
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/ends at 9\.95 nats per step, below the 12\.00 of a static Gaussian model.*learning rate/);
    expect(w[0]).not.toMatch(/data-driven start/);
    expect(fitWarnings({ history: healthy, particles: 10, staticBaseline: 12, start: 'reference' })[0]).toMatch(/Try the data-driven start, more iterations/);
  });

  test('collapsed latent or observation noise and degenerate weights each warn', () => {
    const collapsing = healthy.map((e, i) =>
      e.latentNoise === undefined ? e : { ...e, latentNoise: i > 50 ? 1e-4 : 0.1, obsNoise: i > 50 ? 1e-3 : 0.3, ess: i > 50 ? 1.1 : 8 },
    );
    const w = fitWarnings({ history: collapsing, particles: 64, staticBaseline: null });
    expect(w.some((s) => /latent noise collapsed \(std 0\.100 → 0\.000100\)/.test(s))).toBe(true);
    expect(w.some((s) => /observation noise collapsed/.test(s))).toBe(true);
    expect(w.some((s) => /degenerate \(mean ESS 1\.1 of 64 particles\)/.test(s))).toBe(true);
  });

  test('an encoder proposal whose logged α falls below 5e-3 warns once, naming where and what to try; α just above does not', () => {
    const withAlpha = (low: number) => healthy.map((e) => (e.latentNoise === undefined ? e : { ...e, alpha: e.iteration >= 30 ? low : 0.4 }));
    expect(fitWarnings({ history: withAlpha(0.0051), particles: 10 })).toEqual([]);
    const w = fitWarnings({ history: withAlpha(0.0009), particles: 10 });
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/encoder proposal switched itself off: its mean weight α fell to 0\.00090 at iteration 30 \(below 0\.005\)/);
    expect(w[0]).toMatch(/--lr\b.*--lr-warmup.*--encoder-constant-var/);
  });
});

describe('training curves of a fit', () => {
  test('the y axis of a linear panel shows the converged range, not the first iterations thousands of nats below', async () => {
    const ll = Array.from({ length: 500 }, (_, i) => (i < 5 ? -2500 : 10 + Math.sin(i)));
    const plot = await trainingCurves({ series: { ll } });
    const panel = (plot.spec as { vconcat: { layer: { encoding: { y: { scale: { domain?: number[] }; field: string } } }[] }[] }).vconcat[0];
    const domain = panel.layer[0].encoding.y.scale.domain!;
    expect(domain[0]).toBeGreaterThan(0);
    expect(domain[1]).toBeLessThan(12);
    // a faint raw line and the moving average on top
    expect(panel.layer.map((l) => l.encoding.y.field)).toEqual(['value', 'smooth']);
  });
});
