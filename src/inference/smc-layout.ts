/**
 * Packed parameter layout shared by the fused particle-filter kernel (shaders/smc_sequence.wgsl), its
 * float64 reference (reference-filter.ts) and the model (which packs its transformed parameters).
 *
 * theta = [ m (N×R) | nᵀ (N×R) | h (N) | θ_a (1) | Wu (N×DU) | μ0 (R) | L (R×R) | L0 (R×R) |
 *           Σq (R×R) | Lq (R×R) | Σq0 (R×R) | Lq0 (R×R) | G (R×R) | Bᵀ (D×R) | b (D) | log σ² (D) |
 *           Bvᵀ (D×DU, the readout of the inputs when SmcConfig.readoutFromInputs) | B_o (D, the one-to-one gains of a
 *           readout from the rates, ThetaLayout.rates; empty otherwise) ]
 * Matrices are row-major. Blocks a configuration does not use are still present (zeros): one layout.
 * With `rates` (one-to-one readout from the rates, D = N) the observations read η_i = B_o,i φ(x_i; h_i) + b_i,
 * x = m z + Wu v_t (the transition's currents and nonlinearity): B and Bv are unused (zeros).
 */
import type { Nonlinearity } from '../ops/nonlin.js';
export type Proposal = 'bootstrap' | 'optimal';
export type ObsLikelihood = 'gauss' | 'poisson';
export type ObsNonlinearity = 'identity' | 'softplus' | 'exp' | 'relu';
export type Resampling = 'systematic' | 'stratified' | 'multinomial';

export const OBS_NONLIN_IDS: Record<ObsNonlinearity, number> = { identity: 0, softplus: 1, exp: 2, relu: 3 };
export const RESAMPLING_IDS: Record<Resampling, number> = { systematic: 0, stratified: 1, multinomial: 2 };

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
  /** Observations read Bᵀz + Bvᵀv_t + b (the model's readout from [v; z]); needs inputs. */
  readoutFromInputs?: boolean;
  B: number;
  T: number;
  K: number;
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

export interface SmcDims {
  R: number;
  N: number;
  D: number;
  DU: number;
}

export const THETA_BLOCKS = ['m', 'n', 'h', 'a', 'wu', 'mu0', 'L', 'L0', 'Sq', 'Lq', 'Sq0', 'Lq0', 'G', 'B', 'b', 'lv', 'Bv', 'Bo'] as const;
export type ThetaBlock = (typeof THETA_BLOCKS)[number];

export interface ThetaLayout {
  dims: SmcDims;
  offsets: Record<ThetaBlock, number>;
  sizes: Record<ThetaBlock, number>;
  /** Total length of theta. */
  P: number;
  /** Small per-invocation accumulators in the backward kernel. */
  nSmall: number;
  /** theta offset of each small accumulator (0xffffffff = unused for this proposal). */
  smallMap: Uint32Array;
  /** One-to-one readout from the rates (block Bo holds the gains; the kernels' RATES variant). */
  rates: boolean;
}

/** `rates`: the one-to-one readout from the rates (needs D = N); Bo is the last block, so other offsets do not move. */
export function thetaLayout(dims: SmcDims, proposal: Proposal, rates = false): ThetaLayout {
  const { R, N, D, DU } = dims;
  if (rates && D !== N) throw new Error(`thetaLayout: the readout from the rates reads channel i from unit i, so D must equal N, got D = ${D}, N = ${N}`);
  const RR = R * R;
  const sizes: Record<ThetaBlock, number> = {
    m: N * R, n: N * R, h: N, a: 1, wu: N * DU, mu0: R,
    L: RR, L0: RR, Sq: RR, Lq: RR, Sq0: RR, Lq0: RR, G: RR,
    B: D * R, b: D, lv: D, Bv: D * DU, Bo: rates ? D : 0,
  };
  const offsets = {} as Record<ThetaBlock, number>;
  let off = 0;
  for (const k of THETA_BLOCKS) {
    offsets[k] = off;
    off += sizes[k];
  }
  // Accumulator slots: θ_a, μ0, then five R×R matrices whose meaning depends on the proposal.
  const nSmall = 1 + R + 5 * RR;
  const smallMap = new Uint32Array(nSmall).fill(0xffffffff);
  smallMap[0] = offsets.a;
  for (let r = 0; r < R; r++) smallMap[1 + r] = offsets.mu0 + r;
  const mats: (ThetaBlock | null)[] = proposal === 'optimal' ? ['Sq', 'Sq0', 'Lq', 'Lq0', 'G'] : ['L', 'L0', null, null, null];
  mats.forEach((blk, j) => {
    if (!blk) return;
    for (let e = 0; e < RR; e++) smallMap[1 + R + j * RR + e] = offsets[blk] + e;
  });
  return { dims, offsets, sizes, P: off, nSmall, smallMap, rates };
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
  return { use: KR <= maxKR && chunk >= Math.min(KR, UNITPAR_MIN_CHUNK), chunk };
}

/** Bytes of workgroup memory the fused kernels use without the unit-parallel buffers. */
export function fusedWorkgroupBytes(R: number, wg: number): number {
  return 4 * wg * (3 * R + 4) + 4 * wg * (R + 1) + 8; // sz, sgmu, sgzh (R each), sw, scum, sred, sanc, sgq (R+1), slse, sresample
}
