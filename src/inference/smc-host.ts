/**
 * What the two GPU particle-filter paths (the fused kernel, smc-op.ts, and the large-K step path,
 * smc-step.ts) share on the host: validation of a call, the read-only data buffer, the uniform fields
 * both kernels read and the kernel options of the model variant. Their shaders share smc_common.wgsl.
 */
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { nonlinearityId } from '../ops/nonlin.js';
import { OBS_NONLIN_IDS, RESAMPLING_IDS, resampleThreshold, type SmcConfig } from './smc-layout.js';

export interface SmcInputs {
  theta: Tensor;
  /** [B,T,D] observations. */
  y: Tensor;
  /** [B,T,DU] inputs, or null when DU = 0. */
  v: Tensor | null;
  /**
   * Per-step proposal data: optimal, projections [q (B,T,R) | s (B,T)]; encoder, the encoder's Gaussian
   * [mean (B,T,R) | log-variance (B,T,R)]; null for the bootstrap proposal. See qsFloats.
   */
  qs: Tensor | null;
}

/** Floats of the per-step proposal data `qs` (0: the proposal reads none). */
export function qsFloats(cfg: Pick<SmcConfig, 'proposal' | 'B' | 'T' | 'layout'>): number {
  const { B, T } = cfg;
  const R = cfg.layout.dims.R;
  return cfg.proposal === 'optimal' ? B * T * (R + 1) : cfg.proposal === 'encoder' ? 2 * B * T * R : 0;
}

/** Throws a clear error (prefixed with `who`) for a configuration or inputs the kernels cannot take. */
export function validateCall(who: string, cfg: SmcConfig, inp: SmcInputs): void {
  const { D, DU } = cfg.layout.dims;
  const { B, T, K } = cfg;
  if (!Number.isInteger(K) || K < 1) throw new Error(`${who}: particles K must be a positive integer, got ${K}`);
  if (!Number.isInteger(B) || !Number.isInteger(T) || T < 1 || B < 1) throw new Error(`${who}: empty or invalid batch (B=${B}, T=${T})`);
  const trial0 = cfg.trial0 ?? 0;
  if (!Number.isInteger(trial0) || trial0 < 0) throw new Error(`${who}: trial0 must be a non-negative integer, got ${trial0}`);
  // the random-number counters hold (trial0 + b)·(K + 1) + k in 32 bits
  if ((trial0 + B) * (K + 1) > 0xffffffff) throw new Error(`${who}: (trial0 + B)·(K + 1) = ${(trial0 + B) * (K + 1)} exceeds the 32-bit random-number counter`);
  const need = (t: Tensor | null, n: number, what: string) => {
    if (!t) throw new Error(`${who}: ${what} is required`);
    if (t.size !== n) throw new Error(`${who}: ${what} has ${t.size} values, expected ${n}`);
  };
  need(inp.theta, cfg.layout.P, 'theta');
  need(inp.y, B * T * D, 'observations [B,T,D]');
  if (DU > 0) need(inp.v, B * T * DU, 'inputs [B,T,DU]');
  if (cfg.readoutFromInputs && DU === 0) throw new Error(`${who}: readoutFromInputs (readout from [v; z]) needs inputs (DU > 0)`);
  if (cfg.layout.rates && cfg.readoutFromInputs) {
    throw new Error(`${who}: the readout from the rates (layout.rates) takes no affine readout of the inputs (readoutFromInputs)`);
  }
  if (cfg.layout.rates && cfg.proposal === 'optimal') {
    const why = "the one-to-one readout from the rates (readoutFrom 'rates') is not";
    throw new Error(`${who}: the optimal proposal needs observations linear in z; ${why}: use the bootstrap proposal`);
  }
  if (cfg.proposal === 'optimal') {
    if (cfg.obs !== 'gauss' || cfg.obsNonlinearity !== 'identity') {
      throw new Error(`${who}: the optimal proposal needs Gaussian observations with the identity nonlinearity; use the bootstrap proposal`);
    }
    need(inp.qs, qsFloats(cfg), 'optimal-proposal projections qs [q (B,T,R) | s (B,T)]');
  }
  if (cfg.proposal === 'encoder') need(inp.qs, qsFloats(cfg), 'encoder outputs qs [mean (B,T,R) | log-variance (B,T,R)]');
  resampleThreshold(cfg);
  priorStart(cfg, who);
}

/**
 * The first forward-prediction step, T − tForward (T without forward prediction), validated: tForward is an
 * integer in [0, T) and needs the encoder proposal (as the reference, whose bootstrap ignores it).
 */
export function priorStart(cfg: Pick<SmcConfig, 'tForward' | 'T' | 'proposal'>, who = 'particle filter'): number {
  const f = cfg.tForward ?? 0;
  if (!Number.isInteger(f) || f < 0 || f >= cfg.T)
    throw new Error(`${who}: tForward (forward-prediction steps) must be an integer in [0, ${cfg.T}) (the window's steps), got ${f}`);
  if (f > 0 && cfg.proposal !== 'encoder')
    throw new Error(`${who}: forward prediction (tForward ${f}) needs the encoder proposal, not the ${cfg.proposal} one`);
  return cfg.T - f;
}

/**
 * The layout's small-gradient slot map (reduce_small's destinations) as a device constant: made once per
 * layout, so the backward encodes no upload (which would split the training iteration's submit).
 */
export function smallMapBuffer(engine: Engine, cfg: Pick<SmcConfig, 'layout'>): GPUBuffer {
  const map = cfg.layout.smallMap;
  return engine.constant(`smc.smallmap.${map.join(',')}`, () => map);
}

/** y | v | qs in one read-only buffer (keeps the kernels under 8 storage bindings), with their offsets in floats. */
export function packData(engine: Engine, inp: SmcInputs, label: string): { buf: Tensor; offY: number; offV: number; offQs: number } {
  const ny = inp.y.size;
  const nv = inp.v?.size ?? 0;
  const nq = inp.qs?.size ?? 0;
  const buf = Tensor.empty(engine, [Math.max(1, ny + nv + nq)], 'f32', label);
  engine.copy(inp.y, buf, 4 * ny, 0, 0);
  if (inp.v && nv) engine.copy(inp.v, buf, 4 * nv, 0, 4 * ny);
  if (inp.qs && nq) engine.copy(inp.qs, buf, 4 * nq, 0, 4 * (ny + nv));
  return { buf, offY: 0, offV: ny, offQs: ny + nv };
}

/**
 * The uniform fields both kernels' Params read under the same names: B is the whole batch (the paths
 * and data buffers' trial count), then sizes, resampling, the random-number key and iteration, and
 * the theta and data offsets.
 */
export function commonParams(cfg: SmcConfig, data: { offY: number; offV: number; offQs: number }) {
  const o = cfg.layout.offsets;
  const d = cfg.layout.dims;
  return {
    B: cfg.B,
    T: cfg.T,
    K: cfg.K,
    N: d.N,
    D: d.D,
    DU: d.DU,
    iter: cfg.iter >>> 0,
    seed_lo: cfg.key[0],
    seed_hi: cfg.key[1],
    resample: RESAMPLING_IDS[cfg.resampling],
    ess_frac: resampleThreshold(cfg),
    off_m: o.m,
    off_n: o.n,
    off_h: o.h,
    off_a: o.a,
    off_wu: o.wu,
    off_mu0: o.mu0,
    off_L: o.L,
    off_L0: o.L0,
    off_Sq: o.Sq,
    off_Lq: o.Lq,
    off_Sq0: o.Sq0,
    off_Lq0: o.Lq0,
    off_G: o.G,
    off_B: o.B,
    off_b: o.b,
    off_lv: o.lv,
    off_Bv: o.Bv,
    off_Bo: o.Bo,
    off_y: data.offY,
    off_v: data.offV,
    off_qs: data.offQs,
    trial0: cfg.trial0 ?? 0,
    t_in: priorStart(cfg),
  };
}

/** Defines, overrides and variant-name part for the model variant (proposal, observations, readout). */
export function modelVariant(cfg: SmcConfig) {
  return {
    defines: {
      R: cfg.layout.dims.R,
      OPTIMAL: cfg.proposal === 'optimal',
      ENCODER: cfg.proposal === 'encoder',
      POISSON: cfg.obs === 'poisson',
      READOUT_V: !!cfg.readoutFromInputs,
      RATES: cfg.layout.rates,
    },
    overrides: { NONLIN: nonlinearityId(cfg.nonlinearity), OBS_NL: OBS_NONLIN_IDS[cfg.obsNonlinearity] },
    variant: `${cfg.proposal}${cfg.obs}${cfg.readoutFromInputs ? 'rv' : ''}${cfg.layout.rates ? 'rates' : ''}`,
  };
}
