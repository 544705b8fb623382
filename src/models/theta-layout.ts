/**
 * The model's packed parameter layout and its vocabulary (proposals, observation likelihoods and links),
 * shared by the fused particle-filter kernel (shaders/smc_sequence.wgsl), its
 * float64 reference (src/inference/reference-filter.ts) and the model (which packs its transformed parameters).
 *
 * theta = [ m (N×R) | nᵀ (N×R) | h (N) | θ_a (1) | Wu (N×DU) | μ0 (R) | L (R×R) | L0 (R×R) |
 *           Σq (R×R) | Lq (R×R) | Σq0 (R×R) | Lq0 (R×R) | G (R×R) | Bᵀ (D×R) | b (D) | log σ² (D) |
 *           Bvᵀ (D×DU, the readout of the inputs when SmcConfig.readoutFromInputs) | B_o (D, the one-to-one gains of a
 *           readout from the rates, ThetaLayout.rates; empty otherwise) ]
 * Matrices are row-major. Blocks a configuration does not use are still present (zeros): one layout.
 * With `rates` (one-to-one readout from the rates, D = N) the observations read η_i = B_o,i φ(x_i; h_i) + b_i,
 * x = m z + Wu v_t (the transition's currents and nonlinearity): B and Bv are unused (zeros).
 */
import { SMALL_SLOT_UNUSED } from '../gpu/shared-constants.js';

export type Proposal = 'bootstrap' | 'optimal';
export type ObsLikelihood = 'gauss' | 'poisson';
export type ObsNonlinearity = 'identity' | 'softplus' | 'exp' | 'relu';

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
  /** theta offset of each small accumulator (SMALL_SLOT_UNUSED for a slot this proposal does not use). */
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
    m: N * R,
    n: N * R,
    h: N,
    a: 1,
    wu: N * DU,
    mu0: R,
    L: RR,
    L0: RR,
    Sq: RR,
    Lq: RR,
    Sq0: RR,
    Lq0: RR,
    G: RR,
    B: D * R,
    b: D,
    lv: D,
    Bv: D * DU,
    Bo: rates ? D : 0,
  };
  const offsets = {} as Record<ThetaBlock, number>;
  let off = 0;
  for (const k of THETA_BLOCKS) {
    offsets[k] = off;
    off += sizes[k];
  }
  // Accumulator slots: θ_a, μ0, then five R×R matrices whose meaning depends on the proposal.
  const nSmall = 1 + R + 5 * RR;
  const smallMap = new Uint32Array(nSmall).fill(SMALL_SLOT_UNUSED);
  smallMap[0] = offsets.a;
  for (let r = 0; r < R; r++) smallMap[1 + r] = offsets.mu0 + r;
  const mats: (ThetaBlock | null)[] = proposal === 'optimal' ? ['Sq', 'Sq0', 'Lq', 'Lq0', 'G'] : ['L', 'L0', null, null, null];
  mats.forEach((blk, j) => {
    if (!blk) return;
    for (let e = 0; e < RR; e++) smallMap[1 + R + j * RR + e] = offsets[blk] + e;
  });
  return { dims, offsets, sizes, P: off, nSmall, smallMap, rates };
}
