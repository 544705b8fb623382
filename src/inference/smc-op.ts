/**
 * The fused particle filter as one tape op: forward = one dispatch for the whole batch and sequence;
 * backward = one dispatch (reverse time loop per trial) plus two small reductions into the packed
 * parameter gradient. Inputs: packed parameters `theta` (layout: models/theta-layout.ts), observations, inputs and,
 * for the optimal and encoder proposals, the per-step data `qs` (smc-host.ts).
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { GpuLimitError } from '../gpu/errors.js';
import { SMC_REDUCE_WG } from '../gpu/shared-constants.js';
import { commonParams, modelVariant, packData, qsFloats, smallMapBuffer, validateCall, type SmcInputs } from './smc-host.js';
import { fusedWorkgroupBytes, fusedWorkgroupSize, pathFloats, unitParallelPlan, type SmcConfig } from './smc-layout.js';

export type { SmcConfig, SmcInputs };

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
  return (
    wg <= engine.limits.maxComputeInvocationsPerWorkgroup &&
    wg <= engine.limits.maxComputeWorkgroupSizeX &&
    fusedWorkgroupBytes(R, wg) <= engine.limits.maxComputeWorkgroupStorageSize
  );
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
  return (
    `K = ${K} particles at rank ${R} do not fit one workgroup on this device (needs ${wg} invocations and ${fusedWorkgroupBytes(R, wg)} bytes of workgroup memory; ` +
    `the device allows ${lim.maxComputeInvocationsPerWorkgroup} and ${lim.maxComputeWorkgroupStorageSize}): ` +
    (most > 0 ? `at rank ${R} at most K = ${most} fits` : `no K fits at rank ${R}`)
  );
}

/** Whether the fused kernels run unit-parallel for this K and R here, and their reduction chunk. */
export function unitParallelFor(engine: Engine, K: number, R: number): { use: boolean; chunk: number } {
  return unitParallelPlan(K, R, workgroupSizeFor(engine, K), engine.limits.maxComputeWorkgroupStorageSize, engine.softwareTuning);
}

function kernelOptions(engine: Engine, cfg: SmcConfig, inputGrad: boolean) {
  const R = cfg.layout.dims.R;
  const WG = workgroupSizeFor(engine, cfg.K);
  const unitPar = unitParallelFor(engine, cfg.K, R);
  const model = modelVariant(cfg);
  return {
    defines: {
      ...model.defines,
      WG,
      NSMALL: cfg.layout.nSmall,
      UNITPAR: unitPar.use,
      KR: cfg.K * R,
      KC: cfg.K,
      KCH: Math.max(1, unitPar.chunk),
      UPT: Math.ceil(cfg.layout.dims.N / WG),
      INPUT_GRAD: inputGrad,
    },
    overrides: model.overrides,
    variant: `R${R}K${cfg.K}${model.variant}${inputGrad ? 'gv' : ''}`,
  };
}

export function smcFilter(engine: Engine, inp: SmcInputs, cfg: SmcConfig): SmcOutputs {
  validateCall('smcFilter', cfg, inp);
  const { R } = cfg.layout.dims;
  if (!fusedFits(engine, cfg.K, R)) {
    throw new GpuLimitError('smc_sequence.forward', fusedLimitMessage(engine, cfg.K, R));
  }
  const { B, T, K } = cfg;
  // inputs that carry a gradient (e.g. low-pass filtered with the trained decay) get one back
  const inputGrad = !!inp.v?.requiresGrad;
  const opts = kernelOptions(engine, cfg, inputGrad);
  const data = packData(engine, inp, 'smc.data');
  const paths = Tensor.empty(engine, [pathFloats(B, T, K, R)], 'f32', 'smc.paths');
  const anc = Tensor.empty(engine, [B, T, K], 'u32', 'smc.anc');
  const ll = Tensor.empty(engine, [B], 'f32', 'smc.ll');
  const p = { ...commonParams(cfg, data), P: cfg.layout.P };
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
      const gqs = inp.qs ? Tensor.zeros(engine, [qsFloats(cfg)], 'f32', 'smc.gqs') : null;
      const gqsBuf = gqs ? gqs.buffer : engine.alloc(4, 'smc.gqs.unused');
      const gtheta = Tensor.empty(engine, [P], 'f32', 'smc.gtheta');
      const smallmap = smallMapBuffer(engine, cfg);
      const bw = engine.kernel('smc_sequence', 'backward', opts);
      const { N, D, DU } = cfg.layout.dims;
      const gxs = inputGrad ? engine.alloc(4 * B * T * (N + D), 'smc.gxs') : null;
      if (gxs) engine.clear(gxs);
      const bind: Record<string, unknown> = { p, theta: savedTheta, data: dataBuf, paths: savedPaths, anc: savedAnc, gll: gll!, gpart, gqs: gqsBuf, gxs };
      // `gqs` is only bound when the kernel variant uses it (optimal and encoder proposals).
      for (const k of Object.keys(bind)) if (!bw.reflection.bindings.some((b) => b.name === k)) delete bind[k];
      engine.dispatch(bw, bind as never, B);
      engine.dispatch(engine.kernel('smc_sequence', 'reduce_rows', opts), { p, gpart, gtheta }, Math.ceil(P / SMC_REDUCE_WG));
      engine.dispatch(engine.kernel('smc_sequence', 'reduce_small', opts), { p, gpart, gtheta, smallmap }, Math.ceil(cfg.layout.nSmall / SMC_REDUCE_WG));
      let gv: Tensor | null = null;
      if (gxs) {
        gv = Tensor.empty(engine, [B, T, DU], 'f32', 'smc.gv');
        engine.dispatch(engine.kernel('smc_sequence', 'input_grad', opts), { p, theta: savedTheta, gxs, gv }, Math.ceil((B * T * DU) / SMC_REDUCE_WG));
        engine.release(gxs);
      }
      engine.release(gpart);
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
  return {
    z: paths.subarray(0, n),
    mu: paths.subarray(n, 2 * n),
    w: paths.subarray(2 * n, 2 * n + nw),
    resampled: paths.subarray(2 * n + nw, 2 * n + nw + B * T),
  };
}
