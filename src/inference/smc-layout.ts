/**
 * Workgroup planning and per-call configuration of the particle filters (fused kernel
 * shaders/smc_sequence.wgsl, step path shaders/smc_step.wgsl, float64 reference): kernel ids, the
 * paths buffer, resampling decisions, workgroup sizes and the unit-parallel plan. The packed parameter
 * layout the kernels read is the model's (src/models/theta-layout.ts).
 */
import {
  OBS_NL_EXP,
  OBS_NL_IDENTITY,
  OBS_NL_RELU,
  OBS_NL_SOFTPLUS,
  RESAMPLE_MULTINOMIAL,
  RESAMPLE_STRATIFIED,
  RESAMPLE_SYSTEMATIC,
} from '../gpu/shared-constants.js';
import type { Nonlinearity } from '../ops/nonlin.js';
import type { ObsLikelihood, ObsNonlinearity, Proposal, ThetaLayout } from '../models/theta-layout.js';
export type Resampling = 'systematic' | 'stratified' | 'multinomial';

export const OBS_NONLIN_IDS: Record<ObsNonlinearity, number> = { identity: OBS_NL_IDENTITY, softplus: OBS_NL_SOFTPLUS, exp: OBS_NL_EXP, relu: OBS_NL_RELU };
export const RESAMPLING_IDS: Record<Resampling, number> = {
  systematic: RESAMPLE_SYSTEMATIC,
  stratified: RESAMPLE_STRATIFIED,
  multinomial: RESAMPLE_MULTINOMIAL,
};

/** One filter call: what the GPU kernels and the float64 reference filter both take. */
export interface SmcConfig {
  layout: ThetaLayout;
  proposal: Proposal;
  obs: ObsLikelihood;
  obsNonlinearity: ObsNonlinearity;
  nonlinearity: Nonlinearity;
  resampling: Resampling;
  /**
   * Resample only when the effective sample size falls below this fraction of K (default 1: every
   * step, as the published method). Between resamplings particles keep their own ancestors and their
   * normalised weights carry into the next step's weights. See `resampleThreshold`.
   */
  resampleThreshold?: number;
  /**
   * Forward prediction (the reference's t_forward; encoder proposal only): the last tForward steps draw from
   * the transition alone, are weighted by the likelihood of all channels, never resample and carry no
   * weights; the step before them always resamples (default 0).
   */
  tForward?: number;
  /** Observations read Bᵀz + Bvᵀv_t + b (the model's readout from [v; z]); needs inputs. */
  readoutFromInputs?: boolean;
  B: number;
  T: number;
  K: number;
  /**
   * Index of the batch's first trial in the random-number streams (default 0): trial b draws trial0 + b's
   * numbers, so a dataset filtered in chunks of trials gets the particles of one call over all of them.
   */
  trial0?: number;
  /** Philox key (see seedToKey) and the iteration word, so every iteration draws fresh noise. */
  key: [number, number];
  iter: number;
}

/**
 * The ESS threshold of a configuration, validated: a fraction in [0, 1] (0 never resamples; 1 always
 * does, whatever the ESS). With L_t = logsumexp_k(log W_{t−1,k} + ℓ_tk) the increments still sum to
 * log p̂(y_{1:T}); the gradient treats each resampling decision as a constant, and the adjoint of the
 * weights of a step that did not resample is the next step's (the carried weights telescope).
 */
export function resampleThreshold(cfg: Pick<SmcConfig, 'resampleThreshold'>): number {
  const f = cfg.resampleThreshold ?? 1;
  if (!(f >= 0 && f <= 1)) throw new Error(`resample threshold must be a fraction of the particle count in [0, 1], got ${f}`);
  return f;
}

/** Whether a step with normalised weights of squared sum `sumSq` resamples (ESS = 1/Σw² < f·K). */
export function shouldResample(threshold: number, sumSq: number, K: number): boolean {
  return threshold >= 1 || 1 / sumSq < threshold * K;
}

/**
 * Floats of a filter's paths buffer (both GPU paths and the reference share it): z (pre-resampling)
 * [B,T,K,R] | μ [B,T,K,R] | normalised weights [B,T,K] | whether the filter resampled after step t [B,T] (1/0).
 */
export function pathFloats(B: number, T: number, K: number, R: number): number {
  return B * T * K * (2 * R + 1) + B * T;
}

/**
 * Workgroup size for the fused kernel: a power of two > K (multinomial draws K+1 values), at least
 * `minSize`. A GPU wants ≥ 64 invocations per trial; a software adapter runs a workgroup on one
 * thread, where every extra invocation only adds barrier and reduction work (see smc-op.ts).
 */
export function fusedWorkgroupSize(K: number, minSize = 64): number {
  let wg = minSize;
  while (wg <= K) wg *= 2;
  return wg;
}

const UNITPAR_MAX_KR_GPU = 64;
const UNITPAR_MAX_KR_SOFTWARE = 256;
const UNITPAR_MIN_CHUNK = 16;
// Software adapters: beyond rank 8 the unrolled per-particle rank loops of the unit-parallel kernel
// outgrow what lavapipe compiles into fast code (R = 16, K = 16, N = 128, Poisson: ~150 s per
// training iteration unit-parallel), so larger ranks run particle-parallel.
const UNITPAR_MAX_R_SOFTWARE = 8;

/**
 * Few particles: the fused kernels loop over units in parallel and keep per-invocation partial sums for
 * all K·R outputs (see UNITPAR in smc_sequence.wgsl), so each unit's parameters are loaded once per step
 * for all particles. GPUs: bounded (K·R ≤ 64) so the private sums stay in registers. Software adapters
 * gather every parameter load per SIMD lane, and reusing each load for all particles wins well beyond
 * that: measured on lavapipe, K = 32 / R = 3 trains 3–5× faster unit-parallel than particle-parallel.
 * The partial sums are reduced `chunk` entries at a time in the workgroup memory the base kernel leaves
 * free (two barriers per pass); at least 16 per pass are required, a guard for devices with little
 * workgroup memory (not tuned; with lavapipe's 32 KiB it never binds below K·R = 256).
 */
export function unitParallelPlan(K: number, R: number, wg: number, maxWorkgroupBytes: number, software: boolean): { use: boolean; chunk: number } {
  const KR = K * R;
  const free = maxWorkgroupBytes - fusedWorkgroupBytes(R, wg) - 4 * KR; // ssum takes K·R floats
  const chunk = Math.max(0, Math.min(KR, Math.floor(free / (4 * wg))));
  const maxKR = software ? UNITPAR_MAX_KR_SOFTWARE : UNITPAR_MAX_KR_GPU;
  const rankFits = !software || R <= UNITPAR_MAX_R_SOFTWARE;
  return { use: KR <= maxKR && rankFits && chunk >= Math.min(KR, UNITPAR_MIN_CHUNK), chunk };
}

/** Bytes of workgroup memory the fused kernels use without the unit-parallel buffers. */
export function fusedWorkgroupBytes(R: number, wg: number): number {
  return 4 * wg * (3 * R + 4) + 4 * wg * (R + 1) + 8; // sz, sgmu, sgzh (R each), sw, scum, sred, sanc, sgq (R+1), slse, sresample
}
