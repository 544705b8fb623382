// The step path's gradient op (src/inference/smc-step-grad.ts): the same gradient as the fused filter
// where both run, and finite differences of the float64 reference filter with the GPU's ancestors
// (and resampling decisions) held fixed, up to K = 4096 particles in one trial.
import { closeness } from '../../src/autodiff/gradcheck.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { fusedFits, largestFusedK, smcFilter, type SmcOutputs } from '../../src/inference/smc-op.js';
import { smcFilterStepsGrad, trainingPath } from '../../src/inference/smc-step-grad.js';
import { stepBlockSize } from '../../src/inference/smc-step.js';
import { objectiveGradientMatches, tiny } from './fit.cases.js';
import { forwardMatches, gpuInputs, gradientMatches, makeProblem, type Problem } from './smc.cases.js';
import type { GpuCase } from './types.js';

type Filter = typeof smcFilter;
/** The other variant of the unit gradients than this adapter's default (see StepGradOptions.laneGrads). */
const otherUnitGrads =
  (software: boolean): Filter =>
  (e, inp, cfg) =>
    smcFilterStepsGrad(e, inp, cfg, { laneGrads: !software });

/** ll, ancestors and gradients (theta, then qs for the optimal proposal) of one filter op. */
async function gradientsOf(engine: Engine, pr: Problem, filter: Filter, cot: Float32Array) {
  const inp = gpuInputs(engine, pr);
  inp.theta.requiresGrad = true;
  if (inp.qs) inp.qs.requiresGrad = true;
  const tape = Tape.begin(engine);
  let out: SmcOutputs;
  try {
    out = filter(engine, inp, { ...pr.spec });
  } finally {
    tape.end();
  }
  const seed = Tensor.fromArray(engine, cot, [cot.length]);
  const grads = tape.gradients(out.ll, inp.qs ? [inp.theta, inp.qs] : [inp.theta], { seed });
  const res = {
    ll: await out.ll.readF32(),
    anc: (await out.anc.read()) as Uint32Array,
    gTheta: await grads[0]!.readF32(),
    gQs: inp.qs ? await grads[1]!.readF32() : null,
  };
  tape.dispose(); // also disposes the op's outputs
  for (const t of [inp.theta, inp.y, inp.v, inp.qs, seed, ...grads]) t?.dispose();
  return res;
}

/** Both filters on one problem: same ancestors, log-likelihood (rel 1e-5) and gradients (float32 rounding). */
async function sameAsFused(engine: Engine, pr: Problem, minBlocks = 1, stepFilter: Filter = smcFilterStepsGrad): Promise<void> {
  const { B, K } = pr.spec;
  const where = `K=${K} ${pr.spec.proposal} ${pr.spec.obs}`;
  if (!fusedFits(engine, K, pr.spec.layout.dims.R)) throw new Error(`${where}: does not fit the fused kernel on this device`);
  if (Math.ceil(K / stepBlockSize(K)) < minBlocks) throw new Error(`${where}: the case must cover ${minBlocks} blocks of particles`);
  const cot = Float32Array.from({ length: B }, (_, b) => 0.7 + 0.3 * b);
  const fused = await gradientsOf(engine, pr, smcFilter, cot);
  const step = await gradientsOf(engine, pr, stepFilter, cot);
  let bad = 0;
  for (let i = 0; i < fused.anc.length; i++) if (fused.anc[i] !== step.anc[i]) bad++;
  if (bad > 0) throw new Error(`${where}: ${bad} ancestors differ between the paths`);
  const cl = closeness(step.ll, fused.ll, 0, 1e-5);
  if (cl.ratio > 1) throw new Error(`${where}: log-likelihood of trial ${cl.index}: step ${step.ll[cl.index]}, fused ${fused.ll[cl.index]}`);
  const pairs: [string, Float32Array, Float32Array][] = [['theta', step.gTheta, fused.gTheta]];
  if (step.gQs && fused.gQs) pairs.push(['qs', step.gQs, fused.gQs]);
  for (const [what, s, f] of pairs) {
    const scale = Math.max(...Array.from(f, Math.abs));
    const c = closeness(s, f, 1e-5 * scale, 1e-3);
    if (c.ratio > 1) throw new Error(`${where}: ${what} gradient at ${c.index}: step ${s[c.index]}, fused ${f[c.index]} (scale ${scale})`);
  }
}

const small = { R: 2, N: 6, D: 3, B: 2, T: 5, resampling: 'systematic' } as const;

export const cases: GpuCase[] = [
  {
    // NLB's rank on the step path: the kernels' rank loops are unrolled in the preprocessor at every R, so this checks the
    // unrolled indices against the reference (K = 8: one block of 32, 4 particles per lane on software adapters; NLB's
    // K = 64 runs 8 per lane, the same code twice as long, and compiles slower)
    name: 'step path at R = 36 (bootstrap, Poisson softplus, K = 8) matches the float64 reference and finite differences',
    onceOnly: true,
    browser: false,
    timeoutMs: 600_000,
    async run(e) {
      const common = {
        R: 36,
        N: 6,
        D: 3,
        DU: 0,
        B: 2,
        K: 40,
        proposal: 'bootstrap',
        obs: 'poisson',
        obsNonlinearity: 'softplus',
        nonlinearity: 'tanh',
      } as const;
      await forwardMatches(e, makeProblem({ ...common, T: 10, seed: 36, resampling: 'systematic' }), smcFilterStepsGrad);
      await gradientMatches(e, makeProblem({ ...common, T: 3, seed: 37, resampling: 'systematic' }), false, smcFilterStepsGrad);
    },
  },
  {
    // the encoder proposal's backward on the step path: the L diagonal, μ and the encoder outputs (qs) through
    // encoder_dim_adjoint, the per-block shares of the qs gradient summed by reduce_q
    name: 'step-path gradient with the encoder proposal = fused gradient (K = 300, two blocks) and matches finite differences (K = 300, Poisson, inputs, forward prediction)',
    browser: false,
    timeoutMs: 240_000,
    async run(e) {
      const enc = { ...small, proposal: 'encoder', obs: 'poisson', obsNonlinearity: 'softplus', nonlinearity: 'tanh' } as const;
      await sameAsFused(e, makeProblem({ ...enc, DU: 0, K: 300, seed: 82, obs: 'gauss', obsNonlinearity: 'identity' }), 2);
      // the kernels it runs: with unit gradients per lane (software adapters) `gather` adds the observation gradients in
      // its blocked channel pass, as for the bootstrap proposal, and the `channels` kernel does not run
      const ran = new Set<string>();
      const dispatch = e.dispatch;
      e.dispatch = (k, b, g) => {
        ran.add(k.label.split('[')[0]);
        dispatch.call(e, k, b, g);
      };
      try {
        await gradientMatches(e, makeProblem({ ...enc, DU: 1, K: 300, T: 6, tForward: 2, seed: 83 }), true, smcFilterStepsGrad);
      } finally {
        e.dispatch = dispatch;
      }
      if (!ran.has('smc_step_backward.gather') || ran.has('smc_step_backward.channels') !== !e.info.software)
        throw new Error(`encoder proposal backward (software adapter: ${e.info.software}) ran ${[...ran].join(', ')}`);
    },
  },
  {
    name: 'step-path gradient = fused gradient (bootstrap Gaussian with inputs K = 64; Poisson softplus stratified K = 200)',
    async run(e) {
      await sameAsFused(
        e,
        makeProblem({ ...small, DU: 2, K: 64, seed: 31, proposal: 'bootstrap', obs: 'gauss', obsNonlinearity: 'softplus', nonlinearity: 'tanh' }),
      );
      await sameAsFused(
        e,
        makeProblem({
          ...small,
          R: 3,
          DU: 0,
          K: 200,
          seed: 32,
          proposal: 'bootstrap',
          obs: 'poisson',
          obsNonlinearity: 'softplus',
          nonlinearity: 'clipped_relu',
          resampling: 'stratified',
        }),
      );
    },
  },
  {
    name: 'step-path gradient = fused gradient (optimal proposal with inputs and an ESS threshold 0.5, K = 200; readout from the rates K = 64)',
    async run(e) {
      await sameAsFused(
        e,
        makeProblem({
          ...small,
          R: 3,
          DU: 2,
          K: 200,
          T: 8,
          seed: 33,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'relu',
          resampleThreshold: 0.5,
        }),
      );
      await sameAsFused(
        e,
        makeProblem({
          ...small,
          N: 4,
          D: 4,
          DU: 1,
          K: 64,
          seed: 34,
          proposal: 'bootstrap',
          obs: 'poisson',
          obsNonlinearity: 'softplus',
          nonlinearity: 'tanh',
          rates: true,
        }),
      );
    },
  },
  {
    // several blocks per trial: children ranges cross block boundaries, gradient slices per block
    name: 'step-path gradient with two blocks per trial (K = 300, bootstrap Gaussian, inputs; unit gradients per lane and per block) = fused gradient, or float64 differences where K = 300 cannot run fused',
    async run(e) {
      const pr = makeProblem({
        ...small,
        DU: 1,
        K: 300,
        seed: 35,
        proposal: 'bootstrap',
        obs: 'gauss',
        obsNonlinearity: 'identity',
        nonlinearity: 'clipped_relu',
      });
      // Two blocks need K > 256, which a device allowing 256 invocations per workgroup (Chromium's
      // SwiftShader) cannot run fused: there the float64 finite differences are the comparison.
      for (const filter of [smcFilterStepsGrad, otherUnitGrads(e.info.software)]) {
        if (fusedFits(e, pr.spec.K, pr.spec.layout.dims.R)) await sameAsFused(e, pr, 2, filter);
        else await gradientMatches(e, pr, false, filter, 5);
      }
    },
  },
  {
    name: 'step-path gradient matches finite differences of the float64 reference (K = 300: bootstrap Gaussian with inputs, Poisson softplus, optimal with inputs)',
    timeoutMs: 240_000,
    async run(e) {
      await gradientMatches(
        e,
        makeProblem({ ...small, DU: 1, K: 300, seed: 41, proposal: 'bootstrap', obs: 'gauss', obsNonlinearity: 'softplus', nonlinearity: 'tanh' }),
        false,
        smcFilterStepsGrad,
      );
      await gradientMatches(
        e,
        makeProblem({
          ...small,
          R: 3,
          DU: 0,
          K: 300,
          seed: 42,
          proposal: 'bootstrap',
          obs: 'poisson',
          obsNonlinearity: 'softplus',
          nonlinearity: 'tanh',
          resampling: 'stratified',
        }),
        false,
        smcFilterStepsGrad,
      );
      await gradientMatches(
        e,
        makeProblem({ ...small, DU: 2, K: 300, seed: 43, proposal: 'optimal', obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'softplus' }),
        false,
        smcFilterStepsGrad,
      );
      // the unit-gradient variant this adapter does not take by default
      await gradientMatches(
        e,
        makeProblem({ ...small, R: 3, DU: 1, K: 300, seed: 48, proposal: 'bootstrap', obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'tanh' }),
        false,
        otherUnitGrads(e.info.software),
      );
    },
  },
  {
    name: 'step-path gradient matches finite differences with an ESS threshold (0.7), the readout from [v; z] and from the rates (K = 300)',
    timeoutMs: 240_000,
    async run(e) {
      await gradientMatches(
        e,
        makeProblem({
          ...small,
          DU: 1,
          K: 300,
          T: 8,
          seed: 44,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'tanh',
          resampleThreshold: 0.7,
        }),
        false,
        smcFilterStepsGrad,
      );
      await gradientMatches(
        e,
        makeProblem({
          ...small,
          DU: 2,
          K: 300,
          seed: 45,
          proposal: 'bootstrap',
          obs: 'poisson',
          obsNonlinearity: 'exp',
          nonlinearity: 'tanh',
          readoutFromInputs: true,
        }),
        false,
        smcFilterStepsGrad,
      );
      await gradientMatches(
        e,
        makeProblem({
          ...small,
          N: 4,
          D: 4,
          DU: 1,
          K: 300,
          seed: 46,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'softplus',
          rates: true,
        }),
        false,
        smcFilterStepsGrad,
      );
    },
  },
  {
    name: 'step-path gradient with respect to the inputs matches finite differences (K = 300: bootstrap Gaussian; readout from [v; z], Poisson; readout from the rates; optimal; per-block unit gradients)',
    timeoutMs: 240_000,
    async run(e) {
      await gradientMatches(
        e,
        makeProblem({ ...small, DU: 2, K: 300, seed: 71, proposal: 'bootstrap', obs: 'gauss', obsNonlinearity: 'softplus', nonlinearity: 'tanh' }),
        true,
        smcFilterStepsGrad,
      );
      await gradientMatches(
        e,
        makeProblem({
          ...small,
          DU: 2,
          K: 300,
          seed: 72,
          proposal: 'bootstrap',
          obs: 'poisson',
          obsNonlinearity: 'exp',
          nonlinearity: 'tanh',
          readoutFromInputs: true,
        }),
        true,
        smcFilterStepsGrad,
      );
      await gradientMatches(
        e,
        makeProblem({
          ...small,
          N: 4,
          D: 4,
          DU: 1,
          K: 300,
          seed: 73,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'softplus',
          rates: true,
        }),
        true,
        smcFilterStepsGrad,
      );
      await gradientMatches(
        e,
        makeProblem({ ...small, DU: 2, K: 300, seed: 74, proposal: 'optimal', obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'relu' }),
        true,
        otherUnitGrads(e.info.software),
      );
    },
  },
  {
    // several trials' blocks per workgroup: per-trial inputs, observations and data gradients inside the shared unit and
    // channel loops, padding blocks (B not a multiple of the pack), gradient slices per workgroup (and per lane of it
    // for the `channels` kernel of the rates readout)
    name: 'step-path gradient with several trials per workgroup matches finite differences (packs of 4 and 2, K = 64 and 100: optimal; readout from [v; z], Poisson; encoder; rates)',
    timeoutMs: 240_000,
    async run(e) {
      const packed =
        (pack: number): Filter =>
        (eng, inp, cfg) =>
          smcFilterStepsGrad(eng, inp, cfg, { pack, laneGrads: true });
      const bs = { ...small, B: 5, proposal: 'bootstrap', nonlinearity: 'tanh' } as const;
      await gradientMatches(
        e,
        makeProblem({ ...small, B: 5, DU: 2, K: 64, seed: 91, proposal: 'optimal', obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'relu' }),
        true,
        packed(4),
      );
      await gradientMatches(
        e,
        makeProblem({ ...bs, DU: 2, K: 100, seed: 92, obs: 'poisson', obsNonlinearity: 'softplus', readoutFromInputs: true }),
        true,
        packed(2),
      );
      await gradientMatches(
        e,
        makeProblem({ ...bs, B: 3, DU: 1, K: 64, seed: 93, proposal: 'encoder', obs: 'poisson', obsNonlinearity: 'softplus' }),
        true,
        packed(4),
      );
      await gradientMatches(
        e,
        makeProblem({ ...bs, N: 4, D: 4, DU: 1, K: 64, seed: 94, obs: 'gauss', obsNonlinearity: 'identity', rates: true }),
        true,
        packed(4),
      );
    },
  },
  {
    name: 'step-path gradient at K = 4096 in one trial matches finite differences (bootstrap Gaussian; optimal with inputs)',
    timeoutMs: 240_000,
    async run(e) {
      const one = { R: 3, N: 6, D: 3, B: 1, T: 3, K: 4096, resampling: 'systematic' } as const;
      // every 5th coordinate: each float64 run at K = 4096 takes about half a second here
      await gradientMatches(
        e,
        makeProblem({ ...one, DU: 0, seed: 51, proposal: 'bootstrap', obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'tanh' }),
        false,
        smcFilterStepsGrad,
        5,
      );
      await gradientMatches(
        e,
        makeProblem({ ...one, DU: 1, seed: 52, proposal: 'optimal', obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'softplus' }),
        false,
        smcFilterStepsGrad,
        5,
      );
    },
  },
  {
    // K = 1100 fits one workgroup on no WebGPU device (≤ 1024 invocations): training takes the step path
    name: 'training objective at K = 1100 (step path) matches finite differences of its float64 reference (optimal with inputs; bootstrap with an ESS threshold; low-pass filtered inputs)',
    timeoutMs: 240_000,
    async run(e) {
      if (fusedFits(e, 1100, tiny.rank)) throw new Error('K = 1100 should not fit the fused kernel');
      await objectiveGradientMatches(e, { ...tiny, inputDim: 1 }, 'optimal', 61, 1, 1100);
      await objectiveGradientMatches(e, { ...tiny, noise: 'diag', nonlinearity: 'clipped_relu' }, 'bootstrap', 62, 0.5, 1100);
      // low-pass filtered inputs: the gradient reaches the shared decay through the inputs
      await objectiveGradientMatches(e, { ...tiny, inputDim: 2, inputFilter: 'lowpass', readoutFromInputs: true }, 'optimal', 63, 1, 1100);
    },
  },
  {
    name: 'step-path gradient op: a clear error, naming the largest K, for paths over the binding limit',
    async run(e) {
      const pr = makeProblem({ ...small, DU: 1, K: 300, seed: 47, proposal: 'bootstrap', obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'tanh' });
      const inp = gpuInputs(e, pr);
      const messageOf = (f: () => unknown) => {
        try {
          f();
        } catch (err) {
          return (err as Error).message;
        }
        return '';
      };
      // the smallest K whose paths (B·T·K·(2R+1) + B·T floats) exceed the binding limit, and the largest that fits
      const { B, T } = pr.spec;
      const perK = 4 * B * T * (2 * small.R + 1);
      const kMax = Math.floor((e.limits.maxStorageBufferBindingSize - 4 * B * T) / perK);
      const big = messageOf(() => smcFilterStepsGrad(e, inp, { ...pr.spec, K: kMax + 1 }));
      if (!new RegExp(`K=${kMax + 1} at rank 2: \\d+ bytes, more than maxStorageBufferBindingSize .*at most K = ${kMax} `).test(big))
        throw new Error(`expected the paths-size error naming K = ${kMax}, got '${big}'`);
      for (const t of [inp.theta, inp.y, inp.v, inp.qs]) t?.dispose();
    },
  },
  {
    name: 'training path choice: the step path beyond one workgroup, and on software adapters beyond K·R = 128 (every proposal)',
    async run(e) {
      const big = largestFusedK(e, 3) + 1;
      const cases: [number, number, Parameters<typeof trainingPath>[3] & { proposal: string }, 'fused' | 'step'][] = [
        [10, 3, { resampling: 'systematic', proposal: 'optimal' }, 'fused'], // the EEG configuration
        [64, 3, { resampling: 'systematic', proposal: 'optimal' }, e.softwareTuning ? 'step' : 'fused'],
        [128, 5, { resampling: 'stratified', proposal: 'bootstrap' }, e.softwareTuning ? 'step' : 'fused'],
        [64, 3, { resampling: 'multinomial', proposal: 'bootstrap' }, 'fused'], // only the fused kernel resamples multinomially
        [64, 3, { resampling: 'systematic', proposal: 'encoder' }, e.softwareTuning ? 'step' : 'fused'], // the step path's backward has the encoder terms
        [big, 3, { resampling: 'systematic', proposal: 'encoder' }, 'step'],
        [big, 3, { resampling: 'multinomial', proposal: 'bootstrap' }, 'step'], // whose error names multinomial
      ];
      for (const [K, R, cfg, want] of cases) {
        const got = trainingPath(e, K, R, cfg);
        if (got !== want) throw new Error(`K = ${K}, R = ${R}, ${cfg.proposal}, ${cfg.resampling}: training path ${got}, expected ${want}`);
      }
    },
  },
];
