/**
 * The fused particle filter as one tape op: forward = one dispatch for the whole batch and sequence;
 * backward = one dispatch (reverse time loop per trial) plus two small reductions into the packed
 * parameter gradient. Inputs: packed parameters `theta` (see smc-layout.ts), observations, inputs and,
 * for the optimal proposal, the per-step projections `qs`.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { GpuLimitError } from '../gpu/errors.js';
import { nonlinearityId } from '../ops/nonlin.js';
import {
  OBS_NONLIN_IDS,
  RESAMPLING_IDS,
  fusedWorkgroupBytes,
  fusedWorkgroupSize,
  pathFloats,
  resampleThreshold,
  unitParallelPlan,
  type SmcConfig,
} from './smc-layout.js';

export type { SmcConfig };

export interface SmcInputs {
  theta: Tensor;
  /** [B,T,D] observations. */
  y: Tensor;
  /** [B,T,DU] inputs, or null when DU = 0. */
  v: Tensor | null;
  /** optimal-proposal projections packed as [q (B,T,R) | s (B,T)], or null for the bootstrap proposal. */
  qs: Tensor | null;
}

export interface SmcOutputs {
  /** Per-trial Σ_t (logsumexp_k ℓ_tk − log K) [B] (differentiable). */
  ll: Tensor;
  /** z (pre-resampling) [B,T,K,R] | μ [B,T,K,R] | normalised weights [B,T,K] | resampled [B,T], packed (see pathFloats). */
  paths: Tensor;
  /** Ancestor indices [B,T,K] (sorted per step where it resampled, else the identity). */
  anc: Tensor;
}

/**
 * Invocations per trial on this engine. Software adapters (one thread per workgroup, 8-wide SIMD)
 * measured fastest with the smallest group: the EEG configuration (K = 10) trains about 1.5× faster at
 * 16 than at 64 on lavapipe; GPUs keep ≥ 64 for parallelism inside a trial.
 */
export function workgroupSizeFor(engine: Engine, K: number): number {
  return fusedWorkgroupSize(K, engine.softwareTuning ? 16 : 64);
}

/** Whether the fused one-workgroup-per-trial kernel can run this K and R on this device. */
export function fusedFits(engine: Engine, K: number, R: number): boolean {
  const wg = workgroupSizeFor(engine, K);
  return wg <= engine.limits.maxComputeInvocationsPerWorkgroup && wg <= engine.limits.maxComputeWorkgroupSizeX && fusedWorkgroupBytes(R, wg) <= engine.limits.maxComputeWorkgroupStorageSize;
}

/** The largest K the fused kernel runs at rank R on this device (0: none; the workgroup is a power of two > K). */
export function largestFusedK(engine: Engine, R: number): number {
  let K = 0;
  for (let wg = workgroupSizeFor(engine, 1); fusedFits(engine, wg - 1, R); wg *= 2) K = wg - 1;
  return K;
}

/** Why K particles at rank R do not fit the fused kernel here, naming the limits and the largest K that does. */
export function fusedLimitMessage(engine: Engine, K: number, R: number): string {
  const wg = workgroupSizeFor(engine, K);
  const lim = engine.limits;
  const most = largestFusedK(engine, R);
  return `K = ${K} particles at rank ${R} do not fit one workgroup on this device (needs ${wg} invocations and ${fusedWorkgroupBytes(R, wg)} bytes of workgroup memory; `
    + `the device allows ${lim.maxComputeInvocationsPerWorkgroup} and ${lim.maxComputeWorkgroupStorageSize}): `
    + (most > 0 ? `at rank ${R} at most K = ${most} fits` : `no K fits at rank ${R}`);
}

/** Whether the fused kernels run unit-parallel for this K and R here, and their reduction chunk. */
export function unitParallelFor(engine: Engine, K: number, R: number): { use: boolean; chunk: number } {
  return unitParallelPlan(K, R, workgroupSizeFor(engine, K), engine.limits.maxComputeWorkgroupStorageSize, engine.softwareTuning);
}

function kernelOptions(engine: Engine, cfg: SmcConfig, inputGrad: boolean) {
  const R = cfg.layout.dims.R;
  const WG = workgroupSizeFor(engine, cfg.K);
  const unitPar = unitParallelFor(engine, cfg.K, R);
  return {
    defines: {
      R, WG, NSMALL: cfg.layout.nSmall, OPTIMAL: cfg.proposal === 'optimal', POISSON: cfg.obs === 'poisson',
      UNITPAR: unitPar.use, KR: cfg.K * R, KC: cfg.K, KCH: Math.max(1, unitPar.chunk),
      UPT: Math.ceil(cfg.layout.dims.N / WG),
      READOUT_V: !!cfg.readoutFromInputs, RATES: cfg.layout.rates, INPUT_GRAD: inputGrad,
    },
    overrides: { NONLIN: nonlinearityId(cfg.nonlinearity), OBS_NL: OBS_NONLIN_IDS[cfg.obsNonlinearity] },
    variant: `R${R}K${cfg.K}${cfg.proposal}${cfg.obs}${cfg.readoutFromInputs ? 'rv' : ''}${cfg.layout.rates ? 'rates' : ''}${inputGrad ? 'gv' : ''}`,
  };
}

function params(cfg: SmcConfig, offY: number, offV: number, offQs: number) {
  const o = cfg.layout.offsets;
  const d = cfg.layout.dims;
  return {
    B: cfg.B, T: cfg.T, K: cfg.K, N: d.N, D: d.D, DU: d.DU,
    iter: cfg.iter >>> 0, seed_lo: cfg.key[0], seed_hi: cfg.key[1], resample: RESAMPLING_IDS[cfg.resampling], ess_frac: resampleThreshold(cfg),
    off_m: o.m, off_n: o.n, off_h: o.h, off_a: o.a, off_wu: o.wu, off_mu0: o.mu0,
    off_L: o.L, off_L0: o.L0, off_Sq: o.Sq, off_Lq: o.Lq, off_Sq0: o.Sq0, off_Lq0: o.Lq0, off_G: o.G,
    off_B: o.B, off_b: o.b, off_lv: o.lv, off_Bv: o.Bv, off_Bo: o.Bo,
    off_y: offY, off_v: offV, off_qs: offQs, P: cfg.layout.P,
  };
}

function validate(cfg: SmcConfig, inp: SmcInputs): void {
  const { R, D, DU } = cfg.layout.dims;
  const { B, T } = cfg;
  const need = (t: Tensor | null, n: number, what: string) => {
    if (!t) throw new Error(`smc: ${what} is required`);
    if (t.size !== n) throw new Error(`smc: ${what} has ${t.size} values, expected ${n}`);
  };
  need(inp.theta, cfg.layout.P, 'theta');
  need(inp.y, B * T * D, 'observations [B,T,D]');
  if (DU > 0) need(inp.v, B * T * DU, 'inputs [B,T,DU]');
  if (cfg.readoutFromInputs && DU === 0) throw new Error('smc: readoutFromInputs (readout from [v; z]) needs inputs (DU > 0)');
  if (cfg.layout.rates && cfg.readoutFromInputs) {
    throw new Error('smc: the readout from the rates (layout.rates) takes no affine readout of the inputs (readoutFromInputs)');
  }
  if (cfg.layout.rates && cfg.proposal === 'optimal') {
    const why = "the one-to-one readout from the rates (readoutFrom 'rates') is not";
    throw new Error(`smc: the optimal proposal needs observations linear in z; ${why}: use the bootstrap proposal`);
  }
  if (cfg.proposal === 'optimal') {
    if (cfg.obs !== 'gauss' || cfg.obsNonlinearity !== 'identity') {
      throw new Error('smc: the optimal proposal needs Gaussian observations with the identity nonlinearity; use the bootstrap proposal');
    }
    need(inp.qs, B * T * (R + 1), 'optimal-proposal projections qs [q (B,T,R) | s (B,T)]');
  }
  if (!Number.isInteger(cfg.K) || cfg.K < 1) throw new Error(`smc: particles K must be a positive integer, got ${cfg.K}`);
  resampleThreshold(cfg);
  if (T < 1 || B < 1) throw new Error(`smc: empty batch (B=${B}, T=${T})`);
}

/** Concatenate the read-only per-call data (y, v, qs) into one buffer (keeps the kernel under 8 bindings). */
function packData(engine: Engine, inp: SmcInputs): { buf: Tensor; offY: number; offV: number; offQs: number } {
  const ny = inp.y.size;
  const nv = inp.v?.size ?? 0;
  const nq = inp.qs?.size ?? 0;
  const buf = Tensor.empty(engine, [Math.max(1, ny + nv + nq)], 'f32', 'smc.data');
  engine.copy(inp.y, buf, 4 * ny, 0, 0);
  if (inp.v && nv) engine.copy(inp.v, buf, 4 * nv, 0, 4 * ny);
  if (inp.qs && nq) engine.copy(inp.qs, buf, 4 * nq, 0, 4 * (ny + nv));
  return { buf, offY: 0, offV: ny, offQs: ny + nv };
}

export function smcFilter(engine: Engine, inp: SmcInputs, cfg: SmcConfig): SmcOutputs {
  validate(cfg, inp);
  const { R } = cfg.layout.dims;
  if (!fusedFits(engine, cfg.K, R)) {
    throw new GpuLimitError('smc_sequence.forward', fusedLimitMessage(engine, cfg.K, R));
  }
  const { B, T, K } = cfg;
  // inputs that carry a gradient (e.g. low-pass filtered with the trained decay) get one back
  const inputGrad = !!inp.v?.requiresGrad;
  const opts = kernelOptions(engine, cfg, inputGrad);
  const data = packData(engine, inp);
  const paths = Tensor.empty(engine, [pathFloats(B, T, K, R)], 'f32', 'smc.paths');
  const anc = Tensor.empty(engine, [B, T, K], 'u32', 'smc.anc');
  const ll = Tensor.empty(engine, [B], 'f32', 'smc.ll');
  const p = params(cfg, data.offY, data.offV, data.offQs);
  engine.dispatch(engine.kernel('smc_sequence', 'forward', opts), { p, theta: inp.theta, data: data.buf, paths, anc, ll }, B);

  const inputs: Tensor[] = [inp.theta];
  if (inp.qs) inputs.push(inp.qs);
  if (inputGrad) inputs.push(inp.v!);
  const savedPaths = paths.retain();
  const savedAnc = anc.retain();
  const savedTheta = inp.theta.retain();
  const dataBuf = data.buf;
  record(
    'smc_sequence',
    inputs,
    [ll, paths, anc],
    ([gll]) => {
      const P = cfg.layout.P;
      const wg = workgroupSizeFor(engine, K);
      const gpart = engine.alloc(4 * B * (P + wg * cfg.layout.nSmall), 'smc.gpart');
      engine.clear(gpart);
      const gqs = inp.qs ? Tensor.zeros(engine, [B * T * (R + 1)], 'f32', 'smc.gqs') : null;
      const gqsBuf = gqs ? gqs.buffer : engine.alloc(4, 'smc.gqs.unused');
      const gtheta = Tensor.empty(engine, [P], 'f32', 'smc.gtheta');
      const smallmap = engine.upload(cfg.layout.smallMap, 'smc.smallmap');
      const bw = engine.kernel('smc_sequence', 'backward', opts);
      const { N, D, DU } = cfg.layout.dims;
      const gxs = inputGrad ? engine.alloc(4 * B * T * (N + D), 'smc.gxs') : null;
      if (gxs) engine.clear(gxs);
      const bind: Record<string, unknown> = { p, theta: savedTheta, data: dataBuf, paths: savedPaths, anc: savedAnc, gll: gll!, gpart, gqs: gqsBuf, gxs };
      // `gqs` is only bound when the kernel variant uses it (optimal proposal).
      for (const k of Object.keys(bind)) if (!bw.reflection.bindings.some((b) => b.name === k)) delete bind[k];
      engine.dispatch(bw, bind as never, B);
      engine.dispatch(engine.kernel('smc_sequence', 'reduce_rows', opts), { p, gpart, gtheta }, Math.ceil(P / 64));
      engine.dispatch(engine.kernel('smc_sequence', 'reduce_small', opts), { p, gpart, gtheta, smallmap }, Math.ceil(cfg.layout.nSmall / 64));
      let gv: Tensor | null = null;
      if (gxs) {
        gv = Tensor.empty(engine, [B, T, DU], 'f32', 'smc.gv');
        engine.dispatch(engine.kernel('smc_sequence', 'input_grad', opts), { p, theta: savedTheta, gxs, gv }, Math.ceil((B * T * DU) / 64));
        engine.release(gxs);
      }
      engine.release(gpart);
      engine.release(smallmap);
      if (!gqs) engine.release(gqsBuf);
      const grads: Tensor[] = [gtheta];
      if (gqs) grads.push(gqs);
      if (gv) grads.push(gv);
      return grads;
    },
    [savedPaths, savedAnc, savedTheta, dataBuf],
    { nonDifferentiable: [1, 2] },
  );
  return { ll, paths, anc };
}

/** Views into a paths tensor read back to the host. */
export function splitPaths(paths: Float32Array, B: number, T: number, K: number, R: number) {
  const n = B * T * K * R;
  const nw = B * T * K;
  return { z: paths.subarray(0, n), mu: paths.subarray(n, 2 * n), w: paths.subarray(2 * n, 2 * n + nw), resampled: paths.subarray(2 * n + nw, 2 * n + nw + B * T) };
}
