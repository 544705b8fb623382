/**
 * Float64 CPU reference of the whole training objective: raw parameters → noise factors → (optimal
 * proposal) Kalman quantities and per-step projections → packed theta → particle filter → loss. With
 * the GPU run's ancestors held fixed and the same counter-based noise, finite differences of this
 * function are the oracle for the gradient of `objective` (src/inference/trainer.ts).
 */
import { kalmanPackedRef } from '../../src/ops/kalman.js';
import { lowpassReference } from '../../src/ops/lowpass.js';
import { referenceFilter, type FilterSpec } from '../../src/inference/reference-filter.js';
import type { Resampling } from '../../src/inference/smc-layout.js';
import type { Proposal } from '../../src/models/theta-layout.js';
import {
  effectiveReadout,
  hostNoiseFactor,
  paramShapes,
  readoutReadsInputs,
  readsRates,
  type ModelConfig,
  type ParamName,
} from '../../src/models/lowrank-rnn.js';
import { thetaLayout } from '../../src/models/theta-layout.js';

export type HostParams64 = Record<ParamName, Float64Array>;

export interface ObjectiveRefSpec {
  config: ModelConfig;
  proposal: Proposal;
  resampling: Resampling;
  /** ESS threshold as a fraction of K (default 1: every step). */
  resampleThreshold?: number;
  B: number;
  T: number;
  K: number;
  key: [number, number];
  iter: number;
}

/** loss = −(1/(B·T)) Σ_b (Σ_t L_t + const), y [B,T,D], inputs u [B,T,DU] (filtered as the model says). */
export function objectiveRef(
  spec: ObjectiveRefSpec,
  p: HostParams64,
  y: ArrayLike<number>,
  u: ArrayLike<number>,
  fixedAncestors?: ArrayLike<number>,
  fixedResampled?: ArrayLike<number>,
): number {
  const c = spec.config;
  const { rank: R, units: N, obsDim: D, inputDim: DU } = c;
  const { B, T } = spec;
  const rates = readsRates(c);
  if (rates && spec.proposal !== 'bootstrap') throw new Error("objectiveRef: readoutFrom 'rates' needs the bootstrap proposal");
  const layout = thetaLayout({ R, N, D, DU }, spec.proposal, rates);
  const v = c.inputFilter === 'lowpass' ? lowpassReference(u, [B, T, DU], p.thetaA[0]) : u;
  const o = layout.offsets;
  const th = new Float64Array(layout.P);
  th.set(p.m, o.m);
  th.set(p.n, o.n);
  th.set(p.h, o.h);
  th[o.a] = p.thetaA[0];
  if (DU > 0) th.set(p.wu, o.wu);
  th.set(p.mu0, o.mu0);
  // the readout the kernels see (one-to-one: diag(B_o) m and diag(B_o) Wu, so differences reach m, Wu and B_o)
  const ro = effectiveReadout(c, p);
  const readsV = readoutReadsInputs(c);
  // the readout from the rates packs the gains; the filter forms B_o φ(m z + Wu v; h) + b
  if (rates) th.set(p.Bo, o.Bo);
  else th.set(ro.B, o.B);
  th.set(p.b, o.b);
  if (c.obs === 'gauss') th.set(p.logVarX, o.lv);
  if (readsV) th.set(ro.Bv, o.Bv);
  const Lz = hostNoiseFactor(c, p.noiseZ);
  const Lz0 = hostNoiseFactor(c, p.noiseZ0);
  let qs: Float64Array | undefined;
  let constant = 0;
  if (spec.proposal === 'bootstrap') {
    th.set(Lz, o.L);
    th.set(Lz0, o.L0);
  } else {
    const invStd = Float64Array.from(p.logVarX, (lv) => Math.exp(-0.5 * lv));
    const Ct = new Float64Array(D * R);
    for (let d = 0; d < D; d++) for (let r = 0; r < R; r++) Ct[d * R + r] = ro.B[d * R + r] * invStd[d];
    const G = new Float64Array(R * R);
    for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) for (let d = 0; d < D; d++) G[i * R + j] += Ct[d * R + i] * Ct[d * R + j];
    qs = new Float64Array(B * T * (R + 1));
    for (let bt = 0; bt < B * T; bt++) {
      let s = 0;
      for (let d = 0; d < D; d++) {
        let offset = p.b[d];
        if (readsV) for (let j = 0; j < DU; j++) offset += ro.Bv[d * DU + j] * v[bt * DU + j];
        const yt = (y[bt * D + d] - offset) * invStd[d];
        s += yt * yt;
        for (let r = 0; r < R; r++) qs[bt * R + r] += yt * Ct[d * R + r];
      }
      qs[B * T * R + bt] = s;
    }
    const RR = R * R;
    const k1 = kalmanPackedRef(Lz, G, R);
    const k0 = kalmanPackedRef(Lz0, G, R);
    th.set(k1.subarray(0, RR), o.Sq);
    th.set(k1.subarray(RR, 2 * RR), o.Lq);
    th.set(k0.subarray(0, RR), o.Sq0);
    th.set(k0.subarray(RR, 2 * RR), o.Lq0);
    th.set(G, o.G);
    let lvSum = 0;
    for (const lv of p.logVarX) lvSum += lv;
    constant = -0.5 * (k0[2 * RR] + (T - 1) * k1[2 * RR]) - 0.5 * T * lvSum - 0.5 * T * D * Math.log(2 * Math.PI);
  }
  const fspec: FilterSpec = {
    layout,
    proposal: spec.proposal,
    obs: c.obs,
    obsNonlinearity: c.obsNonlinearity,
    nonlinearity: c.nonlinearity,
    resampling: spec.resampling,
    resampleThreshold: spec.resampleThreshold,
    readoutFromInputs: readsV,
    B,
    T,
    K: spec.K,
    key: spec.key,
    iter: spec.iter,
  };
  const r = referenceFilter(fspec, th, { y, v, qs }, fixedAncestors, fixedResampled);
  let total = 0;
  for (let b = 0; b < B; b++) total += r.ll[b] + constant;
  return -total / (B * T);
}

export function toHost64(config: ModelConfig, p: Record<ParamName, ArrayLike<number>>): HostParams64 {
  const shapes = paramShapes(config);
  const out = {} as HostParams64;
  for (const k of Object.keys(shapes) as ParamName[]) out[k] = Float64Array.from(p[k]);
  return out;
}
