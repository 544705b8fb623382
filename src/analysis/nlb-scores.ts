/**
 * Neural Latents Benchmark scores (float64, CPU), as its evaluation code defines them:
 *
 * - bits per spike (co-bps on held-out units, fp-bps on forward-predicted bins): the Poisson
 *   log-likelihood of the predicted rates minus that of a per-unit mean-rate model (the unit's mean
 *   count over the scored bins), in bits, divided by the number of spikes. Rates are expected counts
 *   per bin; a zero rate counts as 1e-9, as there.
 * - velocity R²: ridge regression (intercept unpenalised) from rates or latents to behaviour, its
 *   penalty picked from 10^-4…10^0 (9 values) by 5-fold contiguous cross-validation on the training
 *   trials, scored by R² averaged uniformly over behaviour dimensions on the evaluation trials.
 *   Rows whose behaviour is not finite are left out.
 * - PSTH R²: predicted rates of each evaluation trial against the true PSTH of its condition, R²
 *   per unit over trials × time, averaged uniformly over units.
 *
 * R² follows the usual convention for constant targets: 1 if predicted exactly, else 0.
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';

/** (trial, time, channel) values in C order (the layout of io's Dataset). */
export interface Trials3D {
  data: ArrayLike<number>;
  trials: number;
  time: number;
  channels: number;
}

const ZERO_RATE = 1e-9;

function sameShape(a: Trials3D, b: Trials3D, what: string): void {
  if (a.trials !== b.trials || a.time !== b.time || a.channels !== b.channels) {
    throw new Error(`${what}: shapes differ, (${a.trials}, ${a.time}, ${a.channels}) vs (${b.trials}, ${b.time}, ${b.channels})`);
  }
}

const logFactorialCache: number[] = [0];
function logFactorial(n: number): number {
  for (let k = logFactorialCache.length; k <= n; k++) logFactorialCache.push(logFactorialCache[k - 1] + Math.log(k));
  return logFactorialCache[n];
}

/** Poisson negative log-likelihood Σ λ − y log λ + log y! over entries whose count is not NaN. */
export function poissonNll(rates: Trials3D, counts: Trials3D): number {
  sameShape(rates, counts, 'poisson NLL');
  let nll = 0;
  for (let i = 0; i < counts.data.length; i++) {
    const y = counts.data[i];
    if (Number.isNaN(y)) continue;
    let r = rates.data[i];
    if (!(r >= 0) || !Number.isFinite(r)) throw new Error(`rate ${r} at flat index ${i}: rates must be finite and non-negative`);
    if (r === 0) r = ZERO_RATE;
    if (y < 0 || !Number.isInteger(y)) throw new Error(`count ${y} at flat index ${i}: counts must be non-negative integers`);
    nll += r - y * Math.log(r) + logFactorial(y);
  }
  return nll;
}

/** Bits per spike of `rates` against the per-unit mean-rate model of `counts` (co-bps, fp-bps). */
export function bitsPerSpike(rates: Trials3D, counts: Trials3D): number {
  sameShape(rates, counts, 'bits per spike');
  const { channels } = counts;
  const sum = new Float64Array(channels);
  const n = new Float64Array(channels);
  let spikes = 0;
  for (let i = 0; i < counts.data.length; i++) {
    const y = counts.data[i];
    if (Number.isNaN(y)) continue;
    sum[i % channels] += y;
    n[i % channels]++;
    spikes += y;
  }
  if (!(spikes > 0)) throw new Error('bits per spike: the scored bins hold no spikes');
  const mean = Array.from(sum, (s, c) => s / n[c]);
  const nullRates = { ...counts, data: Float64Array.from({ length: counts.data.length }, (_, i) => mean[i % channels]) };
  return (poissonNll(nullRates, counts) - poissonNll(rates, counts)) / spikes / Math.LN2;
}

/** R² of each column of `pred` against `truth` (rows × cols, row-major), with the constant-target convention. */
export function r2PerColumn(truth: ArrayLike<number>, pred: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let c = 0; c < cols; c++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += truth[r * cols + c];
    mean /= rows;
    let sse = 0;
    let sst = 0;
    for (let r = 0; r < rows; r++) {
      const t = truth[r * cols + c];
      sse += (t - pred[r * cols + c]) ** 2;
      sst += (t - mean) ** 2;
    }
    out[c] = sst > 0 ? 1 - sse / sst : sse === 0 ? 1 : 0;
  }
  return out;
}

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

export interface Ridge {
  weights: Float64Array; // features × outputs
  intercept: Float64Array; // outputs
  features: number;
  outputs: number;
}

/** Ridge regression with an unpenalised intercept: min ‖Y − XW − 1b‖² + α‖W‖². */
export function ridgeFit(x: ArrayLike<number>, y: ArrayLike<number>, rows: number, features: number, outputs: number, alpha: number): Ridge {
  const xm = new Float64Array(features);
  const ym = new Float64Array(outputs);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < features; f++) xm[f] += x[r * features + f];
    for (let o = 0; o < outputs; o++) ym[o] += y[r * outputs + o];
  }
  xm.forEach((_, f) => (xm[f] /= rows));
  ym.forEach((_, o) => (ym[o] /= rows));
  const g = Matrix.zeros(features, features);
  const xty = Matrix.zeros(features, outputs);
  const xc = new Float64Array(features);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < features; f++) xc[f] = x[r * features + f] - xm[f];
    for (let i = 0; i < features; i++) {
      for (let j = 0; j <= i; j++) g.set(i, j, g.get(i, j) + xc[i] * xc[j]);
      for (let o = 0; o < outputs; o++) xty.set(i, o, xty.get(i, o) + xc[i] * (y[r * outputs + o] - ym[o]));
    }
  }
  for (let i = 0; i < features; i++) {
    for (let j = 0; j < i; j++) g.set(j, i, g.get(i, j));
    g.set(i, i, g.get(i, i) + alpha);
  }
  const chol = new CholeskyDecomposition(g);
  if (!chol.isPositiveDefinite()) throw new Error(`ridge: the regularised Gram matrix is not positive definite (α = ${alpha}); the features are degenerate`);
  const w = chol.solve(xty);
  const weights = Float64Array.from(w.to1DArray());
  const intercept = Float64Array.from(ym, (m, o) => m - xm.reduce((a, v, f) => a + v * weights[f * outputs + o], 0));
  return { weights, intercept, features, outputs };
}

export function ridgePredict(model: Ridge, x: ArrayLike<number>, rows: number): Float64Array {
  const { features, outputs, weights, intercept } = model;
  const out = new Float64Array(rows * outputs);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outputs; o++) {
      let s = intercept[o];
      for (let f = 0; f < features; f++) s += x[r * features + f] * weights[f * outputs + o];
      out[r * outputs + o] = s;
    }
  }
  return out;
}

export interface DecoderOptions {
  /** Ridge penalties tried (default 10^-4 … 10^0, 9 values). */
  alphas?: number[];
  folds?: number;
  /** Behaviour at bin t + lag is decoded from features at bin t. */
  lagBins?: number;
}

export interface DecoderResult {
  r2: number;
  r2PerDim: number[];
  alpha: number;
  /** Predicted behaviour of the evaluation rows kept (rows × dims). */
  predicted: Float64Array;
  rows: number;
  /** The decoder refitted on all training rows with the chosen penalty. */
  model: Ridge;
}

/** Rows (trial, t) of features with behaviour at t + lag, leaving out rows whose behaviour is not finite. */
function pairRows(x: Trials3D, y: Trials3D, lag: number): { x: Float64Array; y: Float64Array; rows: number } {
  if (x.trials !== y.trials || x.time !== y.time)
    throw new Error(`decoder: features (${x.trials} trials × ${x.time} bins) and behaviour (${y.trials} × ${y.time}) do not match`);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let k = 0; k < x.trials; k++) {
    for (let t = 0; t + lag < x.time; t++) {
      const yo = (k * y.time + t + lag) * y.channels;
      let ok = true;
      for (let c = 0; c < y.channels; c++) ok &&= Number.isFinite(y.data[yo + c]);
      if (!ok) continue;
      const xo = (k * x.time + t) * x.channels;
      for (let c = 0; c < x.channels; c++) {
        const v = x.data[xo + c];
        if (!Number.isFinite(v)) throw new Error(`decoder: feature ${c} of trial ${k}, bin ${t} is ${v}`);
        xs.push(v);
      }
      for (let c = 0; c < y.channels; c++) ys.push(y.data[yo + c]);
    }
  }
  return { x: Float64Array.from(xs), y: Float64Array.from(ys), rows: ys.length / y.channels };
}

/** Velocity (behaviour) R² of a ridge decoder: penalty by cross-validation on the training trials, R² on the evaluation trials. */
export function decoderR2(trainX: Trials3D, trainY: Trials3D, evalX: Trials3D, evalY: Trials3D, opts: DecoderOptions = {}): DecoderResult {
  const alphas = opts.alphas ?? Array.from({ length: 9 }, (_, i) => 10 ** (-4 + i / 2));
  const folds = opts.folds ?? 5;
  const lag = opts.lagBins ?? 0;
  if (trainX.channels !== evalX.channels || trainY.channels !== evalY.channels) throw new Error('decoder: training and evaluation data have different widths');
  const tr = pairRows(trainX, trainY, lag);
  const ev = pairRows(evalX, evalY, lag);
  const F = trainX.channels;
  const D = trainY.channels;
  if (tr.rows < folds || ev.rows === 0) throw new Error(`decoder: too few rows with finite behaviour (${tr.rows} training, ${ev.rows} evaluation)`);
  let best = alphas[0];
  let bestScore = -Infinity;
  for (const alpha of alphas) {
    let score = 0;
    for (let f = 0; f < folds; f++) {
      // contiguous folds, as k-fold without shuffling
      const lo = Math.floor((f * tr.rows) / folds);
      const hi = Math.floor(((f + 1) * tr.rows) / folds);
      const keep = tr.rows - (hi - lo);
      const xk = new Float64Array(keep * F);
      const yk = new Float64Array(keep * D);
      xk.set(tr.x.subarray(0, lo * F));
      xk.set(tr.x.subarray(hi * F), lo * F);
      yk.set(tr.y.subarray(0, lo * D));
      yk.set(tr.y.subarray(hi * D), lo * D);
      const m = ridgeFit(xk, yk, keep, F, D, alpha);
      const pred = ridgePredict(m, tr.x.subarray(lo * F, hi * F), hi - lo);
      score += mean(r2PerColumn(tr.y.subarray(lo * D, hi * D), pred, hi - lo, D)) / folds;
    }
    if (score > bestScore) {
      bestScore = score;
      best = alpha;
    }
  }
  const model = ridgeFit(tr.x, tr.y, tr.rows, F, D, best);
  const predicted = ridgePredict(model, ev.x, ev.rows);
  const perDim = r2PerColumn(ev.y, predicted, ev.rows, D);
  return { r2: mean(perDim), r2PerDim: Array.from(perDim), alpha: best, predicted, rows: ev.rows, model };
}

/** Per-condition mean over trials (time × channels each), optionally Gaussian-smoothed along time first (sd in bins). */
export function conditionPsths(counts: Trials3D, conditions: readonly string[], smoothSdBins = 0): Map<string, Float64Array> {
  if (conditions.length !== counts.trials) throw new Error(`PSTH: ${conditions.length} condition labels for ${counts.trials} trials`);
  const { time, channels } = counts;
  const stride = time * channels;
  const sums = new Map<string, { sum: Float64Array; n: number }>();
  const kernel = gaussianKernel(smoothSdBins);
  const row = new Float64Array(stride);
  for (let k = 0; k < counts.trials; k++) {
    smoothTrial(counts.data, k * stride, time, channels, kernel, row);
    const e = sums.get(conditions[k]) ?? { sum: new Float64Array(stride), n: 0 };
    for (let i = 0; i < stride; i++) e.sum[i] += row[i];
    e.n++;
    sums.set(conditions[k], e);
  }
  return new Map([...sums].map(([c, e]) => [c, e.sum.map((s) => s / e.n)]));
}

function gaussianKernel(sd: number): Float64Array {
  if (!(sd > 0)) return Float64Array.of(1);
  const half = Math.ceil(3 * sd);
  const k = Float64Array.from({ length: 2 * half + 1 }, (_, i) => Math.exp(-0.5 * ((i - half) / sd) ** 2));
  const s = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / s);
}

/** Convolve one trial along time with a normalised kernel, renormalised at the edges. */
function smoothTrial(src: ArrayLike<number>, offset: number, time: number, channels: number, kernel: Float64Array, out: Float64Array): void {
  const half = (kernel.length - 1) / 2;
  for (let t = 0; t < time; t++) {
    for (let c = 0; c < channels; c++) {
      let s = 0;
      let w = 0;
      for (let j = -half; j <= half; j++) {
        const u = t + j;
        if (u < 0 || u >= time) continue;
        s += kernel[j + half] * src[offset + u * channels + c];
        w += kernel[j + half];
      }
      out[t * channels + c] = s / w;
    }
  }
}

/** PSTH R²: each trial's predicted rates against its condition's PSTH, R² per unit over trials × time, mean over units. */
export function psthR2(rates: Trials3D, conditions: readonly string[], psths: Map<string, Float64Array>): number {
  if (conditions.length !== rates.trials) throw new Error(`PSTH R²: ${conditions.length} condition labels for ${rates.trials} trials`);
  const stride = rates.time * rates.channels;
  const truth = new Float64Array(rates.trials * stride);
  conditions.forEach((c, k) => {
    const p = psths.get(c);
    if (!p) throw new Error(`PSTH R²: no PSTH for condition '${c}'`);
    if (p.length !== stride) throw new Error(`PSTH R²: the PSTH of '${c}' has ${p.length} values, the rates ${stride} per trial`);
    truth.set(p, k * stride);
  });
  return mean(r2PerColumn(truth, rates.data, rates.trials * rates.time, rates.channels));
}

// ---- Poisson readout: rates of units from latents (co-smoothing for a model that never saw them)

export interface PoissonReadout {
  /** (features + 1) × units: weights, then the bias row; rate = exp(x·w + b) per bin. */
  weights: Float64Array;
  features: number;
  units: number;
}

/**
 * Fit log-linear Poisson regressions from features to each unit's counts by Newton's method with
 * an L2 penalty `l2` on the weights (not the bias).
 */
export function fitPoissonReadout(x: Trials3D, counts: Trials3D, l2 = 1e-3, iterations = 50): PoissonReadout {
  if (x.trials !== counts.trials || x.time !== counts.time) throw new Error('Poisson readout: features and counts cover different trials or bins');
  const F = x.channels;
  const P = F + 1;
  const U = counts.channels;
  const rows = x.trials * x.time;
  const weights = new Float64Array(P * U);
  for (let u = 0; u < U; u++) {
    let total = 0;
    for (let r = 0; r < rows; r++) total += counts.data[r * U + u];
    const w = new Float64Array(P);
    w[F] = Math.log(Math.max(total / rows, 1e-6)); // start from the mean rate
    let objective = Infinity;
    for (let it = 0; it < iterations; it++) {
      const grad = new Float64Array(P);
      const h = new Float64Array(P * P);
      const xr = new Float64Array(P);
      xr[F] = 1;
      let obj = 0;
      for (let r = 0; r < rows; r++) {
        for (let f = 0; f < F; f++) xr[f] = x.data[r * F + f];
        let eta = 0;
        for (let i = 0; i < P; i++) eta += xr[i] * w[i];
        const mu = Math.exp(eta);
        const y = counts.data[r * U + u];
        obj += mu - y * eta;
        for (let i = 0; i < P; i++) {
          grad[i] += (mu - y) * xr[i];
          for (let j = 0; j <= i; j++) h[i * P + j] += mu * xr[i] * xr[j];
        }
      }
      for (let f = 0; f < F; f++) {
        obj += 0.5 * l2 * w[f] * w[f];
        grad[f] += l2 * w[f];
        h[f * P + f] += l2;
      }
      const hess = new Matrix(P, P);
      for (let i = 0; i < P; i++)
        for (let j = 0; j <= i; j++) {
          hess.set(i, j, h[i * P + j] + (i === j ? 1e-9 : 0));
          hess.set(j, i, h[i * P + j] + (i === j ? 1e-9 : 0));
        }
      if (Math.abs(objective - obj) <= 1e-10 * Math.max(1, Math.abs(obj))) break;
      objective = obj;
      const chol = new CholeskyDecomposition(hess);
      const step = chol.solve(Matrix.columnVector(Array.from(grad))).to1DArray();
      // damped Newton: halve the step while the objective does not decrease
      for (let s = 1, tries = 0; tries < 30; s /= 2, tries++) {
        const cand = w.map((v, i) => v - s * step[i]);
        if (poissonObjective(x, counts, u, cand, l2) <= obj) {
          w.set(cand);
          break;
        }
      }
    }
    for (let i = 0; i < P; i++) weights[i * U + u] = w[i];
  }
  return { weights, features: F, units: U };
}

function poissonObjective(x: Trials3D, counts: Trials3D, u: number, w: Float64Array, l2: number): number {
  const F = x.channels;
  const U = counts.channels;
  let obj = 0;
  for (let r = 0; r < x.trials * x.time; r++) {
    let eta = w[F];
    for (let f = 0; f < F; f++) eta += x.data[r * F + f] * w[f];
    obj += Math.exp(eta) - counts.data[r * U + u] * eta;
  }
  for (let f = 0; f < F; f++) obj += 0.5 * l2 * w[f] * w[f];
  return obj;
}

/** Rates (trial, time, unit) of a fitted Poisson readout. */
export function predictPoissonReadout(m: PoissonReadout, x: Trials3D): Trials3D & { data: Float64Array } {
  const { features: F, units: U, weights } = m;
  if (x.channels !== F) throw new Error(`Poisson readout: fitted on ${F} features, given ${x.channels}`);
  const rows = x.trials * x.time;
  const data = new Float64Array(rows * U);
  for (let r = 0; r < rows; r++) {
    for (let u = 0; u < U; u++) {
      let eta = weights[F * U + u];
      for (let f = 0; f < F; f++) eta += x.data[r * F + f] * weights[f * U + u];
      data[r * U + u] = Math.exp(eta);
    }
  }
  return { data, trials: x.trials, time: x.time, channels: U };
}
