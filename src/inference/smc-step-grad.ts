/**
 * The multi-workgroup step filter (smc-step.ts) as a tape op, so training runs at any particle count:
 * the forward stores z, μ, normalised weights, resampling decisions and the sorted ancestors
 * (O(B·T·K·R) plus ancestors, nothing N-wide); the backward (shaders/smc_step_backward.wgsl) runs per
 * step in reverse over blocks of particles, with the fused backward's mathematics, so where both run
 * they give the same gradient. d ll / d theta, for the optimal and encoder proposals d ll / d qs, and d ll / d v
 * when the inputs carry a gradient.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { GpuLimitError } from '../gpu/errors.js';
import { fusedFits, type SmcConfig, type SmcInputs, type SmcOutputs } from './smc-op.js';
import { modelVariant, packData, priorStart, qsFloats, smallMapBuffer } from './smc-host.js';
import { blockedObservations, forwardPath, runSteps, stepPathBytes, stepPlan, type StepPlan } from './smc-step.js';

export interface StepGradOptions {
  /**
   * Unit gradients per lane inside the `particles` kernel (default on software adapters, where the
   * separate `units` kernel's per-particle gathers dominate) instead of the `units` kernel per block.
   */
  laneGrads?: boolean;
  /**
   * Blocks per workgroup of `particles` and `gather` (default stepPack's choice with unit gradients per lane, else 1:
   * the `units` kernel's per-block slices need one block per workgroup).
   */
  pack?: number;
}

function laneGradsFor(engine: Engine, options: StepGradOptions): boolean {
  return options.laneGrads ?? engine.info.software;
}

/** The backward kernels' plan (stepPlan; one block per workgroup without lane gradients). */
export function stepGradPlan(engine: Engine, cfg: Pick<SmcConfig, 'K' | 'B'>, options: StepGradOptions = {}): StepPlan {
  const laneGrads = laneGradsFor(engine, options);
  if ((options.pack ?? 1) > 1 && !laneGrads) throw new Error(`step path gradient: pack ${options.pack} needs the unit gradients per lane (laneGrads)`);
  return stepPlan(engine, cfg.K, cfg.B, options.pack ?? (laneGrads ? undefined : 1), 'backward');
}

/** Bytes of the backward's gradient slices: parameter rows per workgroup (or lane) and the small accumulators per lane. */
export function stepGradBytes(engine: Engine, cfg: SmcConfig, options: StepGradOptions = {}): number {
  const { nb, lanes, pack } = stepGradPlan(engine, cfg, options);
  const groups = Math.ceil((cfg.B * nb) / pack);
  return 4 * groups * ((laneGradsFor(engine, options) ? lanes : 1) * cfg.layout.P + lanes * cfg.layout.nSmall);
}

/**
 * Which filter training runs: as forwardPath (the fused kernel where it fits and is the faster, else
 * the step path's gradient op), except that K beyond one workgroup always takes the step path, whose
 * error then names what it does not support (multinomial resampling).
 */
export function trainingPath(engine: Engine, K: number, R: number, cfg: Pick<SmcConfig, 'resampling'>): 'fused' | 'step' {
  if (!fusedFits(engine, K, R)) return 'step';
  return forwardPath(engine, K, R, cfg.resampling);
}

/** Throws, naming the largest K that fits, when training's stored paths of B trials × T steps × K particles exceed one binding. */
export function checkStepTrainingPaths(engine: Engine, B: number, T: number, K: number, R: number): void {
  const maxBind = engine.limits.maxStorageBufferBindingSize;
  const pathBytes = stepPathBytes(B, T, K, R).paths;
  if (pathBytes > maxBind) {
    const kMax = Math.floor((maxBind / 4 - B * T) / (B * T * (2 * R + 1)));
    throw new GpuLimitError(
      'smc_step_backward',
      `training stores the paths of B=${B}, T=${T}, K=${K} at rank ${R}: ${pathBytes} bytes, more than maxStorageBufferBindingSize (${maxBind}); at most K = ${kMax} at this batch and window`,
    );
  }
}

export function smcFilterStepsGrad(engine: Engine, inp: SmcInputs, cfg: SmcConfig, options: StepGradOptions = {}): SmcOutputs {
  const { B, T, K } = cfg;
  const { R, N, D, DU } = cfg.layout.dims;
  const P = cfg.layout.P;
  const nSmall = cfg.layout.nSmall;
  const maxBind = engine.limits.maxStorageBufferBindingSize;
  // the stored paths bound K: say so, with the largest K that fits, before any work
  checkStepTrainingPaths(engine, B, T, K, R);
  const gradBytes = stepGradBytes(engine, cfg, options);
  const laneGrads = laneGradsFor(engine, options);
  // inputs that carry a gradient (e.g. low-pass filtered with the trained decay) get one back
  const inputGrad = !!inp.v?.requiresGrad;
  const workBytes = 4 * B * K * (2 * R + 1);
  for (const [what, bytes] of [
    ['per-block gradient slices', gradBytes],
    ['particle adjoints', workBytes],
  ] as const) {
    if (bytes > maxBind) {
      throw new GpuLimitError(
        'smc_step_backward',
        `the ${what} of B=${B}, K=${K} at rank ${R} take ${bytes} bytes, more than maxStorageBufferBindingSize (${maxBind}); train on fewer trials or particles at a time`,
      );
    }
  }
  const out = runSteps(engine, inp, cfg, { paths: true, ancestors: true, trialsPerChunk: B });
  const paths = out.paths!;
  const anc = out.anc!;
  const ll = out.ll;

  const plan = stepGradPlan(engine, cfg, options);
  const { nb, lanes, pack } = plan;
  // floats of per-step proposal data per step (optimal: q_t, s_t; encoder: mean, log-variance), 0 for none
  const qw = qsFloats(cfg) / (B * T);
  const optimal = cfg.proposal === 'optimal';
  // observation gradients per lane in `gather` (no `channels` kernel): needs the per-lane row slices
  const blockedObs = laneGrads && blockedObservations(cfg);
  const model = modelVariant(cfg);
  const kopts = {
    defines: {
      ...model.defines,
      ...plan.defines,
      NSMALL: nSmall,
      RS: laneGrads ? lanes : 1,
      LANE_GRADS: laneGrads,
      BLOCKED_OBS: blockedObs,
      // `gather` sums the small gradients particle by particle into a private accumulator, except on the blocked
      // bootstrap path (its noise terms are summed row by row straight into the lane's slot)
      SMALL_ACC: !blockedObs || cfg.proposal === 'encoder',
      INPUT_GRAD: inputGrad,
      DUC: Math.max(1, DU),
      QDATA: qw > 0,
      QW: Math.max(1, qw),
    },
    overrides: model.overrides,
    variant: `R${R}${plan.name}${model.variant}${laneGrads ? 'lg' : ''}${inputGrad ? `gv${DU}` : ''}`,
  };
  const data = packData(engine, inp, 'smc_step_grad.data');
  const o = cfg.layout.offsets;
  const base = {
    B,
    T,
    K,
    N,
    D,
    DU,
    nb,
    iter: cfg.iter >>> 0,
    seed_lo: cfg.key[0],
    seed_hi: cfg.key[1],
    P,
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

  const inputs: Tensor[] = [inp.theta];
  if (inp.qs) inputs.push(inp.qs);
  if (inputGrad) inputs.push(inp.v!);
  const savedPaths = paths.retain();
  const savedAnc = anc.retain();
  const savedTheta = inp.theta.retain();
  const dataBuf = data.buf;
  record(
    'smc_step',
    inputs,
    [ll, paths, anc],
    ([gll]) => {
      const kernel = (entry: string) => engine.kernel('smc_step_backward', entry, kopts);
      const work = engine.alloc(workBytes, 'smc_step_bw.work');
      engine.clear(work);
      const gpart = engine.alloc(gradBytes, 'smc_step_bw.gpart');
      engine.clear(gpart);
      const gqpart = engine.alloc(qw > 0 ? 4 * B * T * nb * qw : 4, 'smc_step_bw.gqpart');
      const gtheta = Tensor.empty(engine, [P], 'f32', 'smc_step_bw.gtheta');
      const gqs = qw > 0 ? Tensor.empty(engine, [B * T * qw], 'f32', 'smc_step_bw.gqs') : null;
      const smallmap = smallMapBuffer(engine, cfg);
      const gvpart = inputGrad ? engine.alloc(4 * B * nb * lanes * DU, 'smc_step_bw.gvpart') : null;
      const gv = inputGrad ? Tensor.empty(engine, [B, T, DU], 'f32', 'smc_step_bw.gv') : null;
      const all: Record<string, unknown> = {
        theta: savedTheta,
        data: dataBuf,
        paths: savedPaths,
        anc: savedAnc,
        gll: gll!,
        work,
        gpart,
        gqpart,
        gtheta,
        smallmap,
        gqs: gqs?.buffer,
        gvpart,
        gv: gv?.buffer,
      };
      // each entry point binds only what it uses
      const run = (entry: string, p: Record<string, number>, grid: number | [number, number]) => {
        const k = kernel(entry);
        const bind: Record<string, unknown> = { p };
        for (const b of k.reflection.bindings) if (b.name !== 'p') bind[b.name] = all[b.name];
        engine.dispatch(k, bind as never, grid);
      };
      const blocks = engine.grid(Math.ceil((B * nb) / pack), 1);
      const units = engine.grid(B * nb * Math.ceil(N / 64) * 64, 64);
      const channels = engine.grid(B * nb * Math.ceil(D / 64) * 64, 64);
      for (let t = T - 1; t >= 0; t--) {
        const p = { ...base, t };
        run('particles', p, blocks);
        if (t + 1 < T && !laneGrads) run('units', p, units);
        if (!optimal && !blockedObs) run('channels', p, channels);
        run('gather', p, blocks);
        if (inputGrad) run('reduce_v', p, Math.ceil((B * DU) / 64));
      }
      const p = { ...base, t: 0 };
      run('reduce_rows', p, Math.ceil(P / 64));
      run('reduce_small', p, Math.ceil(nSmall / 64));
      if (gqs) run('reduce_q', p, Math.ceil((B * T * qw) / 64));
      engine.release(work);
      engine.release(gpart);
      engine.release(gqpart);
      if (gvpart) engine.release(gvpart);
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
