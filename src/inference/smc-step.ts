/**
 * The particle filter for very large K: one set of dispatches per time step
 * (shaders/smc_step.wgsl), so K is bounded only by memory, not by the workgroup size; at least 2^20
 * particles per trial work on any WebGPU device.
 *
 * Forward only: no tape node is recorded and calling it while a tape records a parameter that requires
 * a gradient throws. Its gradient op, for training at any K, is smcFilterStepsGrad (smc-step-grad.ts).
 *
 * Same inputs, configuration, formulas and random-number counters as `smcFilter`; with one block of
 * particles per trial (K ≤ 256) the block reductions and running sum follow the fused kernel's serial
 * order, so ancestors and log-likelihood come out the same (tested to rel 1e-5 and exactly). Resampling: systematic and stratified (multinomial needs a
 * sorted set of uniforms, i.e. another device-wide scan, and is not implemented here).
 *
 * One dispatch per step: each step's `propagate` also combines the previous step (logsumexp, ESS decision,
 * normalised weights, block offsets) from its block partials, every workgroup for its own trials.
 * ESS-threshold resampling (cfg.resampleThreshold) as the fused kernel: the decision comes from the block
 * sums of squared weights; the step either resamples or carries the weights.
 *
 * Memory: two state buffers of O(B·K·R) (ping-pong between steps), plus the optional paths
 * (z, μ, weights, resampling decisions, as smcFilter: O(B·T·K·R)) and ancestors (O(B·T·K)), which are off by default when
 * they would exceed `AUTO_PATH_BYTES`. Trials are filtered in chunks so that no binding exceeds
 * maxStorageBufferBindingSize; every grid is folded with engine.grid.
 */
import { Tape } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { GpuLimitError } from '../gpu/errors.js';
import { STEP_FLAG_ANC, STEP_FLAG_PATHS } from '../gpu/shared-constants.js';
import { commonParams, modelVariant, packData, validateCall, type SmcInputs } from './smc-host.js';
import { pathFloats, type SmcConfig } from './smc-layout.js';
import { fusedFits, unitParallelFor, type SmcOutputs } from './smc-op.js';

/** Largest block of particles per workgroup. */
const MAX_BLOCK = 256;
/** Paths and ancestors are stored by default only up to this many bytes together. */
export const AUTO_PATH_BYTES = 64 << 20;

export interface SmcStepOptions {
  /** Store z, μ and the normalised weights of every step (default: when they fit AUTO_PATH_BYTES). */
  paths?: boolean;
  /** Store the (sorted) ancestor indices of every step (default: as `paths`). */
  ancestors?: boolean;
  /** At most this many trials are filtered at a time (default: as many as the binding limit allows). */
  trialsPerChunk?: number;
  /** Blocks per workgroup (default: stepPlan's choice; a power of two ≤ the block's lanes). */
  pack?: number;
}

/** As SmcOutputs, except that paths and ancestors are null unless stored. */
export interface SmcStepOutputs {
  ll: SmcOutputs['ll'];
  paths: Tensor | null;
  anc: Tensor | null;
}

/** Particles per workgroup: a power of two ≥ K up to 256 (so one block matches the fused kernel). */
export function stepBlockSize(K: number): number {
  let wg = 32;
  while (wg < K && wg < MAX_BLOCK) wg *= 2;
  return wg;
}

/** A software adapter's forward block once a trial has at least SOFTWARE_BIG_BLOCK_MIN of them (64 particles per invocation). */
const SOFTWARE_BIG_BLOCK = 512;
const SOFTWARE_BIG_BLOCK_MIN = 8;

/**
 * The block size and blocks per trial of the forward (`propagate`) or backward kernels. On software adapters the forward
 * takes blocks of 512 from K = 4096 on: each unit's parameter loads in the unit loop then serve 64 particles per
 * invocation instead of 32, and every workgroup's combine walks half as many block partials (there are half as many
 * workgroups too); at least 8 blocks per trial keep the adapter's threads busy at B = 1. The backward keeps blocks of
 * up to 256 (it reads the forward's paths and ancestors, not its blocks).
 */
export function stepBlocks(engine: Engine, K: number, kernels: 'forward' | 'backward' = 'forward'): { block: number; nb: number } {
  const big = engine.softwareTuning && kernels === 'forward' && K >= SOFTWARE_BIG_BLOCK_MIN * SOFTWARE_BIG_BLOCK;
  const block = big ? SOFTWARE_BIG_BLOCK : stepBlockSize(K);
  return { block, nb: Math.ceil(K / block) };
}

/**
 * Invocations per block. A GPU runs one particle per invocation. A software adapter is bound by the
 * unit loop's parameter loads (gathered per lane even at uniform addresses), so a block runs on 8
 * invocations (its SIMD width) that carry block/8 particles each (up to 32; 64 in the forward from K = 4096, see stepBlocks), and every load serves
 * all of them: on lavapipe ≈ 5× the forward throughput of one particle per invocation.
 */
export function stepLanes(engine: Engine, block: number): number {
  return engine.softwareTuning ? Math.min(8, block) : block;
}

/** Blocks per trial up to which a software adapter's step kernels combine a step serially (see stepPlan). */
const SERIAL_COMBINE_MAX_BLOCKS = 16;

/** Particles per invocation a software adapter's step kernels aim at (K = 256: 8 lanes × 32 particles). */
const SOFTWARE_STEP_PB = 32;

/**
 * How the step kernels lay out a batch: blocks of `block` particles (`nb` per trial) on `lanes` invocations, `pack`
 * blocks per workgroup, `pb` = pack·block/lanes particles per invocation; `name` tells kernel variants apart.
 */
export interface StepPlan {
  block: number;
  nb: number;
  lanes: number;
  pack: number;
  pb: number;
  name: string;
  /** The plan as the step kernels' defines (WG lanes, BS block, PB particles per invocation, TP blocks per workgroup, the combine's mode). */
  defines: { WG: number; BS: number; PB: number; TP: number; SERIAL_COMBINE: boolean; LANE_COMBINE: boolean };
}

/**
 * The step kernels' plan for B trials of K particles. Blocks per workgroup (`pack`, default): a software adapter's
 * block of one trial's K < 256 particles leaves fewer than 32 to each of its 8 invocations (8 at K = 64), so several
 * trials' blocks share a workgroup: the unit loop's parameter loads, which bound it, then serve up to 32 particles
 * (per-trial parts — weights, block statistics, resampling, data rows — stay per block). At most half the blocks, so
 * that at least two workgroups keep the adapter's threads busy. GPUs: 1. A given `pack` must be a power of two no
 * larger than the lanes (invocation s serves block s's statistics).
 */
export function stepPlan(engine: Engine, K: number, B: number, pack?: number, kernels: 'forward' | 'backward' = 'forward'): StepPlan {
  const { block, nb } = stepBlocks(engine, K, kernels);
  const lanes = stepLanes(engine, block);
  let tp = 1;
  if (pack !== undefined) tp = pack;
  else if (engine.softwareTuning) while ((2 * tp * block) / lanes <= SOFTWARE_STEP_PB && 4 * tp <= B * nb && 2 * tp <= lanes) tp *= 2;
  if (!Number.isInteger(tp) || tp < 1 || tp > lanes || (tp & (tp - 1)) !== 0) {
    throw new Error(`step path: pack must be a power of two from 1 to the block's ${lanes} invocations, got ${tp}`);
  }
  // (each workgroup scans the block offsets of one trial when resampling)
  if (tp > 1 && nb > 1) throw new Error(`step path: pack ${tp} needs one block per trial (K ≤ ${MAX_BLOCK}), got K = ${K}`);
  const pb = (tp * block) / lanes;
  // every workgroup combines its trial's previous step from all nb block partials: on software adapters serially by one
  // invocation while nb is small (barriers cost more there), beyond that each invocation a run of consecutive blocks with
  // one exchange per reduction; GPUs in parallel with tree reductions
  const serial = lanes <= 8 && nb <= SERIAL_COMBINE_MAX_BLOCKS;
  const laneCombine = lanes <= 8 && !serial;
  const name = `BS${block}PB${pb}TP${tp}${laneCombine ? 'PC' : ''}`;
  return {
    block,
    nb,
    lanes,
    pack: tp,
    pb,
    name,
    defines: { WG: lanes, BS: block, PB: pb, TP: tp, SERIAL_COMBINE: serial, LANE_COMBINE: laneCombine },
  };
}

const SOFTWARE_FUSED_MAX_KR = 128;

/**
 * Which filter a run should use, forward-only or training (the step path with its gradient op,
 * smc-step-grad.ts): the fused kernel when it fits and is the fast one, else the step path — always
 * when K does not fit one workgroup; on software adapters also beyond K·R = 128 or where the fused
 * kernel runs particle-parallel, where the step path's blocked loops beat it. Lavapipe, R = 3, forward:
 * fused 1.9e5 vs step 0.5e5 particle-steps/s at K = 32, but 1.5e5 vs 2.0e5 at K = 64 and 0.6e5 vs
 * 3.5e5 at K = 128, B = 1; training (loaded machine, CPU time per iteration): K = 64 EEG 0.50 s fused
 * vs 0.17 s step, hc2 5.1 vs 1.8 s, maze (R = 5, K = 128) 5.7 vs 1.1 s. Multinomial resampling exists
 * only in the fused kernel.
 */
export function forwardPath(engine: Engine, K: number, R: number, resampling: SmcConfig['resampling']): 'fused' | 'step' {
  if (resampling === 'multinomial') return 'fused';
  if (!fusedFits(engine, K, R)) return 'step';
  return engine.softwareTuning && !(K * R <= SOFTWARE_FUSED_MAX_KR && unitParallelFor(engine, K, R).use) ? 'step' : 'fused';
}

/**
 * Whether the step kernels evaluate the observation model for all of an invocation's particles in one
 * pass over the channels (bootstrap or encoder proposal, affine readout: see BLOCKED_OBS in smc_step.wgsl),
 * so each channel's parameter loads serve PB particles instead of one. The encoder proposal's per-particle
 * Gaussian terms do not depend on the channels: they are drawn and differentiated per particle around that pass.
 */
export function blockedObservations(cfg: SmcConfig): boolean {
  return (cfg.proposal === 'bootstrap' || cfg.proposal === 'encoder') && !cfg.layout.rates;
}

/** Floats of one chunk's state buffer for `trials` trials (z | lcum | block stats | ℓ | block Σw²). */
function stateFloats(trials: number, K: number, R: number, nb: number): number {
  return trials * K * (R + 2) + trials * nb * 5;
}

/** Bytes the optional paths and ancestors take. */
export function stepPathBytes(B: number, T: number, K: number, R: number): { paths: number; anc: number } {
  return { paths: 4 * pathFloats(B, T, K, R), anc: 4 * B * T * K };
}

/** The step path's own limits, after the checks both paths share. */
function validate(cfg: SmcConfig, inp: SmcInputs): void {
  validateCall('smcFilterSteps', cfg, inp);
  const { R } = cfg.layout.dims;
  const { B, K } = cfg;
  if (cfg.resampling === 'multinomial') {
    throw new Error(
      "smcFilterSteps: multinomial resampling is not supported by the step path (use 'systematic' or 'stratified', or smcFilter for K that fits one workgroup)",
    );
  }
  if (B * K * Math.ceil(R / 4) > 0xffffffff || (B + 1) * (K + 1) > 0xffffffff) {
    throw new Error(`smcFilterSteps: B·K = ${B * K} exceeds the 32-bit random-number stream counter`);
  }
}

/**
 * Filter a batch with the multi-workgroup step path. Returns the per-trial log-likelihood estimate
 * Σ_t (logsumexp_k ℓ_tk − log K) [B] and, when stored, the paths and ancestors in smcFilter's layout.
 */
export function smcFilterSteps(engine: Engine, inp: SmcInputs, cfg: SmcConfig, options: SmcStepOptions = {}): SmcStepOutputs {
  const tape = Tape.active(engine);
  if (tape && (inp.theta.requiresGrad || inp.qs?.requiresGrad || inp.v?.requiresGrad)) {
    throw new Error(
      'smcFilterSteps is forward-only (no gradient); use smcFilterStepsGrad (smc-step-grad.ts) or smcFilter for training, or stop the tape / gradient first',
    );
  }
  return runSteps(engine, inp, cfg, options);
}

/** smcFilterSteps without the forward-only guard: the gradient op (smc-step-grad.ts) records its own tape node. */
export function runSteps(engine: Engine, inp: SmcInputs, cfg: SmcConfig, options: SmcStepOptions = {}): SmcStepOutputs {
  validate(cfg, inp);
  const { B, T, K } = cfg;
  const { R } = cfg.layout.dims;
  const { nb } = stepBlocks(engine, K);
  const maxBind = engine.limits.maxStorageBufferBindingSize;
  const perTrialBytes = 4 * stateFloats(1, K, R, nb);
  const tpc = options.trialsPerChunk ?? B;
  if (!Number.isInteger(tpc) || tpc < 1) throw new Error(`smcFilterSteps: trialsPerChunk must be a positive integer, got ${tpc}`);
  const chunk = Math.min(B, tpc, Math.floor(maxBind / perTrialBytes));
  if (chunk < 1) {
    throw new GpuLimitError(
      'smc_step.propagate',
      `K = ${K} particles at rank ${R} need ${perTrialBytes} bytes of state per trial, more than maxStorageBufferBindingSize (${maxBind})`,
    );
  }
  const sizes = stepPathBytes(B, T, K, R);
  const storePaths = options.paths ?? sizes.paths + sizes.anc <= AUTO_PATH_BYTES;
  const storeAnc = options.ancestors ?? storePaths;
  for (const [what, on, bytes] of [
    ['paths', storePaths, sizes.paths],
    ['ancestors', storeAnc, sizes.anc],
  ] as const) {
    if (on && bytes > maxBind) {
      throw new GpuLimitError(
        'smc_step.propagate',
        `storing the ${what} of B=${B}, T=${T}, K=${K} takes ${bytes} bytes, more than maxStorageBufferBindingSize (${maxBind}); pass { ${what}: false } or filter fewer trials at a time`,
      );
    }
  }

  const plan = stepPlan(engine, K, chunk, options.pack);
  const { pack } = plan;
  const model = modelVariant(cfg);
  const kopts = {
    defines: {
      ...model.defines,
      ...plan.defines,
      BLOCKED_OBS: blockedObservations(cfg),
    },
    overrides: model.overrides,
    variant: `R${R}${plan.name}${model.variant}`,
  };
  const propagate = engine.kernel('smc_step', 'propagate', kopts);

  const data = packData(engine, inp, 'smc_step.data');
  const paths = storePaths ? Tensor.empty(engine, [pathFloats(B, T, K, R)], 'f32', 'smc_step.paths') : null;
  const anc = storeAnc ? Tensor.empty(engine, [B, T, K], 'u32', 'smc_step.anc') : null;
  const pathsBuf = paths?.buffer ?? engine.alloc(4, 'smc_step.paths.unused');
  const ancBuf = anc?.buffer ?? engine.alloc(4, 'smc_step.anc.unused');
  const acc = engine.alloc(4 * B, 'smc_step.acc');
  engine.clear(acc, 0, 4 * B);
  const flags = (storePaths ? STEP_FLAG_PATHS : 0) | (storeAnc ? STEP_FLAG_ANC : 0);
  const base = { ...commonParams(cfg, data), nb, flags };

  const states = [0, 1].map((i) => engine.alloc(4 * stateFloats(chunk, K, R, nb), `smc_step.state${i}`));
  for (let b0 = 0; b0 < B; b0 += chunk) {
    const Bc = Math.min(chunk, B - b0);
    const blocks = engine.grid(Math.ceil((Bc * nb) / pack), 1);
    // t = T: the last step's combine (and resampling)
    for (let t = 0; t <= T; t++) {
      const p = { ...base, Bc, b0, t };
      const prev = states[(t + 1) % 2];
      const next = states[t % 2];
      engine.dispatch(propagate, { p, theta: inp.theta, data: data.buf, prev, next, paths: pathsBuf, anc: ancBuf, acc }, blocks);
    }
  }
  const ll = Tensor.empty(engine, [B], 'f32', 'smc_step.ll');
  engine.copy(acc, ll, 4 * B);
  for (const s of states) engine.release(s);
  engine.release(acc);
  data.buf.dispose();
  if (!paths) engine.release(pathsBuf);
  if (!anc) engine.release(ancBuf);
  return { ll, paths, anc };
}
