/**
 * Data-driven start of the observation model (the default of `fit`): the readout and the observation
 * noise are set from the data's own second moments instead of the reference's data-blind draws
 * (B ~ N(0, 2/R), σ_x = 0.1), which only suit data whose channels happen to have a standard deviation
 * near 0.3. On z-scored data the blind start claims an observation noise ten times smaller than the
 * residuals, scores hundreds of nats per step below a good model, and the log-variance then needs
 * thousands of small optimiser steps to recover (README, "Why the fit starts from the data").
 *
 * Gaussian, identity link: the readout's columns (for the one-to-one readout, m) are the data's top R
 * principal directions scaled by √λ (latents of unit variance, the scale of the initial-state prior),
 * the bias the channel means, and σ_x² the variance the R components leave per channel (floored at 1 %
 * of the channel's variance).
 * Other links: the bias ψ⁻¹(channel mean), so the initial rates match the data's mean counts; the
 * readout keeps its random draw.
 *
 * The rest of the dynamics (n, h, a; m of affine models) and the latent noise keep the reference's
 * initialisation.
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { rowMoments, topEigen } from '../util/dense.js';
import type { Dataset } from '../io/dataset.js';
import { isOneToOne, isTrained, type HostParams, type ModelConfig } from './lowrank-rnn.js';

export type InitKind = 'data' | 'reference';
export const INIT_KINDS: readonly InitKind[] = ['data', 'reference'];

/** Fraction of a channel's variance below which the initial observation noise is not set. */
const MIN_NOISE_FRACTION = 0.01;
/** Smallest mean count used to invert a Poisson link (channels that never fire). */
const MIN_MEAN_COUNT = 1e-3;

/** Per-channel means and the covariance over every (trial, time) sample, in float64. */
export function channelMoments(ds: Dataset): { mean: Float64Array; cov: Float64Array } {
  return rowMoments(ds.data, ds.trials * ds.time, ds.channels);
}

/** Inverse of the observation link at a mean count μ > 0. */
function inverseLink(link: ModelConfig['obsNonlinearity'], mu: number): number {
  const m = Math.max(mu, MIN_MEAN_COUNT);
  if (link === 'softplus') return m > 20 ? m : Math.log(Math.expm1(m));
  if (link === 'exp') return Math.log(m);
  return m; // identity, relu
}

/** The data's top-R principal readout: loadings [D,R] (directions × √λ), channel means, residual log-variances. */
export interface PrincipalReadout {
  loadings: Float64Array;
  mean: Float64Array;
  logVar: Float64Array;
}

/**
 * Principal directions scaled by √λ (latents of unit variance), with the sign of each fixed (largest
 * loading positive) so the start does not depend on the eigen-solver; columns beyond D stay zero.
 */
export function principalReadout(ds: Dataset, R: number): PrincipalReadout {
  const D = ds.channels;
  const { mean, cov } = channelMoments(ds);
  const k = Math.min(R, D);
  const { values, vectors } = topEigen(cov, D, k);
  const loadings = new Float64Array(D * R);
  for (let j = 0; j < k; j++) {
    let big = 0;
    for (let d = 1; d < D; d++) if (Math.abs(vectors[d * k + j]) > Math.abs(vectors[big * k + j])) big = d;
    const s = (vectors[big * k + j] < 0 ? -1 : 1) * Math.sqrt(Math.max(values[j], 0));
    for (let d = 0; d < D; d++) loadings[d * R + j] = vectors[d * k + j] * s;
  }
  const logVar = new Float64Array(D);
  for (let d = 0; d < D; d++) {
    let explained = 0;
    for (let j = 0; j < k; j++) explained += loadings[d * R + j] ** 2;
    const total = cov[d * D + d];
    logVar[d] = Math.log(Math.max(total - explained, MIN_NOISE_FRACTION * total, 1e-8));
  }
  return { loadings, mean, logVar };
}

/**
 * Overwrite the observation parameters of `params` (in place, and returned) from the data, which
 * must already be in the model's normalisation. The affine readout B takes the principal loadings;
 * a one-to-one model reads the units' currents B_o ⊙ m z (B_o = 1 at the start), so there the
 * loadings go into m, which then also carries them into the dynamics.
 */
export function initialiseFromData(config: ModelConfig, params: HostParams, ds: Dataset): HostParams {
  const { rank: R, obsDim: D } = config;
  if (ds.channels !== D) throw new Error(`data-driven initialisation: data have ${ds.channels} channels, the model expects ${D}`);
  if (config.obs !== 'gauss' || config.obsNonlinearity !== 'identity') {
    const { mean } = channelMoments(ds);
    if (isTrained(config, 'b')) for (let d = 0; d < D; d++) params.b[d] = inverseLink(config.obsNonlinearity, mean[d]);
    return params;
  }
  if (isOneToOne(config) && config.readoutFrom === 'rates') {
    // the readout B_o φ(m z; h) is nonlinear and starts near flat: the bias carries the means and the
    // observation noise all of each channel's variance until the fit shapes the rates
    const { mean, cov } = channelMoments(ds);
    for (let d = 0; d < D; d++) {
      if (isTrained(config, 'b')) params.b[d] = mean[d];
      params.logVarX[d] = Math.log(Math.max(cov[d * D + d], 1e-8));
    }
    return params;
  }
  const { loadings, mean, logVar } = principalReadout(ds, R);
  const k = Math.min(R, D);
  const target = isOneToOne(config) ? params.m : params.B;
  for (let d = 0; d < D; d++) for (let j = 0; j < k; j++) target[d * R + j] = loadings[d * R + j];
  for (let d = 0; d < D; d++) {
    if (isTrained(config, 'b')) params.b[d] = mean[d]; // a frozen bias keeps the value the user fixed
    params.logVarX[d] = logVar[d];
  }
  // The inputs' readout starts at zero: the latents carry the data's principal variance.
  params.Bv.fill(0);
  return params;
}

/**
 * Log-likelihood per step of the data under the static model the data-driven start describes: each
 * sample i.i.d. N(mean, B Bᵀ + diag σ²) with the top R principal components (factor-analysis form).
 * A fitted dynamical model of rank R explains at least this much; a fit that ends below it has not
 * found the data's dynamics (`fitWarnings`). Gaussian identity-link models only (null otherwise);
 * in the data's normalised units.
 */
export function staticBaselineLogLikelihood(config: ModelConfig, ds: Dataset): number | null {
  if (config.obs !== 'gauss' || config.obsNonlinearity !== 'identity') return null;
  const D = ds.channels;
  const R = config.rank;
  const { cov } = channelMoments(ds);
  const p = principalReadout(ds, R);
  const C = new Matrix(D, D);
  for (let d = 0; d < D; d++) {
    for (let e = 0; e < D; e++) {
      let v = d === e ? Math.exp(p.logVar[d]) : 0;
      for (let r = 0; r < R; r++) v += p.loadings[d * R + r] * p.loadings[e * R + r];
      C.set(d, e, v);
    }
  }
  const chol = new CholeskyDecomposition(C);
  if (!chol.isPositiveDefinite()) return null;
  const L = chol.lowerTriangularMatrix;
  let logDet = 0;
  for (let d = 0; d < D; d++) logDet += 2 * Math.log(L.get(d, d));
  // tr(C⁻¹ S) with S the sample covariance (the mean term vanishes at the sample mean)
  const S = new Matrix(Array.from({ length: D }, (_, i) => Array.from(cov.subarray(i * D, (i + 1) * D))));
  const X = chol.solve(S);
  let trace = 0;
  for (let d = 0; d < D; d++) trace += X.get(d, d);
  return -0.5 * (D * Math.log(2 * Math.PI) + logDet + trace);
}
