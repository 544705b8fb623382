// The fused particle filter against its float64 reference fed the same random numbers: log-likelihood,
// ancestors and the packed-parameter gradient (finite differences with the ancestors held fixed).
import { closeness } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { seedToKey } from '../../src/gpu/rng.js';
import { ancestorViolation, referenceFilter, type FilterData, type FilterSpec } from '../../src/inference/reference-filter.js';
import { shouldResample, type Resampling } from '../../src/inference/smc-layout.js';
import { thetaLayout, type ObsLikelihood, type ObsNonlinearity, type Proposal } from '../../src/models/theta-layout.js';
import { smcFilter, splitPaths, unitParallelFor, type SmcConfig } from '../../src/inference/smc-op.js';
import type { Nonlinearity } from '../../src/ops/nonlin.js';
import type { GpuCase } from './types.js';

export interface Problem {
  spec: FilterSpec;
  theta: Float64Array;
  data: FilterData;
}

export function makeProblem(opts: {
  R: number;
  N: number;
  D: number;
  DU: number;
  B: number;
  T: number;
  K: number;
  proposal: Proposal;
  obs: ObsLikelihood;
  obsNonlinearity: ObsNonlinearity;
  nonlinearity: Nonlinearity;
  resampling: Resampling;
  seed: number;
  resampleThreshold?: number;
  /** Forward-prediction steps at the end (encoder proposal). */
  tForward?: number;
  readoutFromInputs?: boolean;
  /** One-to-one readout from the rates (needs D = N): gains block Bo, the kernels' RATES variant. */
  rates?: boolean;
}): Problem {
  const { R, N, D, DU, B, T, K } = opts;
  const layout = thetaLayout({ R, N, D, DU }, opts.proposal, opts.rates);
  const rand = mulberry32(opts.seed);
  const u = (s: number) => (rand() * 2 - 1) * s;
  const th = new Float64Array(layout.P);
  const o = layout.offsets;
  const fill = (off: number, n: number, s: number) => {
    for (let i = 0; i < n; i++) th[off + i] = u(s);
  };
  fill(o.m, N * R, 1);
  fill(o.n, N * R, 1 / Math.sqrt(N));
  fill(o.h, N, 0.5);
  th[o.a] = Math.log(-Math.log(0.85));
  fill(o.wu, N * DU, 0.5);
  fill(o.mu0, R, 0.3);
  const lower = (off: number, diag: number) => {
    for (let r = 0; r < R; r++) for (let c = 0; c <= r; c++) th[off + r * R + c] = r === c ? diag * (1 + 0.2 * rand()) : u(0.05);
  };
  const sym = (off: number, diag: number) => {
    for (let r = 0; r < R; r++)
      for (let c = 0; c <= r; c++) {
        const v = r === c ? diag * (1 + 0.2 * rand()) : u(0.05);
        th[off + r * R + c] = v;
        th[off + c * R + r] = v;
      }
  };
  lower(o.L, 0.3);
  lower(o.L0, 0.6);
  // the encoder proposal reads diagonal noise (only the diagonals of L, L0)
  if (opts.proposal === 'encoder') for (let r = 0; r < R; r++) for (let c = 0; c < r; c++) th[o.L + r * R + c] = th[o.L0 + r * R + c] = 0;
  sym(o.Sq, 0.05);
  lower(o.Lq, 0.2);
  sym(o.Sq0, 0.1);
  lower(o.Lq0, 0.3);
  sym(o.G, 2);
  fill(o.B, D * R, 1);
  fill(o.b, D, opts.obs === 'poisson' ? 0.5 : 0.2);
  for (let d = 0; d < D; d++) th[o.lv + d] = Math.log(0.3 + 0.2 * rand());
  const y = new Float64Array(B * T * D);
  for (let i = 0; i < y.length; i++) y[i] = opts.obs === 'poisson' ? Math.floor(rand() * 3) : u(1);
  const v = new Float64Array(B * T * DU).map(() => u(1));
  const qs = new Float64Array(B * T * (R + 1));
  for (let i = 0; i < B * T; i++) {
    for (let r = 0; r < R; r++) qs[i * R + r] = u(1);
    qs[B * T * R + i] = 1 + rand();
  }
  if (opts.readoutFromInputs) fill(o.Bv, D * DU, 1);
  if (opts.rates) for (let d = 0; d < D; d++) th[o.Bo + d] = 0.6 + 0.8 * rand();
  // encoder proposal: per-step means and log-variances (variances 0.05–0.55, near the transition's); drawn
  // last so the other proposals' problems stay as they were
  const enc =
    opts.proposal === 'encoder' ? Float64Array.from({ length: 2 * B * T * R }, (_, i) => (i < B * T * R ? u(1) : Math.log(0.05 + 0.5 * rand()))) : undefined;
  const spec: FilterSpec = {
    layout,
    proposal: opts.proposal,
    obs: opts.obs,
    obsNonlinearity: opts.obsNonlinearity,
    nonlinearity: opts.nonlinearity,
    resampling: opts.resampling,
    resampleThreshold: opts.resampleThreshold,
    tForward: opts.tForward,
    readoutFromInputs: opts.readoutFromInputs,
    B,
    T,
    K,
    key: seedToKey(opts.seed * 7919),
    iter: 3,
  };
  return { spec, theta: th, data: { y, v, qs: opts.proposal === 'optimal' ? qs : enc } };
}

export function gpuInputs(engine: Engine, pr: Problem) {
  const { B, T } = pr.spec;
  const { D, DU } = pr.spec.layout.dims;
  const theta = Tensor.fromArray(engine, pr.theta, [pr.theta.length], 'f32', 'theta');
  const y = Tensor.fromArray(engine, pr.data.y, [B, T, D], 'f32', 'y');
  const v = DU > 0 ? Tensor.fromArray(engine, pr.data.v, [B, T, DU], 'f32', 'v') : null;
  const qs = pr.data.qs ? Tensor.fromArray(engine, pr.data.qs, [pr.data.qs.length], 'f32', 'qs') : null;
  return { theta, y, v, qs };
}

function config(pr: Problem): SmcConfig {
  return { ...pr.spec };
}

/**
 * With an ESS threshold, the GPU's decisions [B,T] must be the float64 filter's (fed the GPU's ancestors)
 * except within f32 rounding of the threshold, and both kinds of step must occur (else the case tests
 * nothing about the carried weights). With forward prediction (tForward) the step before it must
 * resample and the forward-prediction steps must not.
 */
function checkDecisions(pr: Problem, flags: ArrayLike<number>, w: ArrayLike<number>): void {
  const { B, T, K } = pr.spec;
  const f = pr.spec.resampleThreshold ?? 1;
  const tIn = T - (pr.spec.tForward ?? 0);
  let resampled = 0;
  for (let bt = 0; bt < B * T; bt++) {
    let sumSq = 0;
    for (let k = 0; k < K; k++) sumSq += w[bt * K + k] ** 2;
    const mine = flags[bt] !== 0;
    const t = bt % T;
    if (tIn < T && t >= tIn - 1) {
      if (mine !== (t === tIn - 1)) throw new Error(`step ${t} of ${T} (forward prediction from ${tIn}): the GPU ${mine ? 'resampled' : 'did not resample'}`);
      continue;
    }
    if (mine !== shouldResample(f, sumSq, K) && Math.abs(1 / sumSq - f * K) > 1e-3 * K) {
      throw new Error(`step ${bt}: ESS ${1 / sumSq} against threshold ${f * K}, but the GPU ${mine ? 'resampled' : 'did not resample'}`);
    }
    if (mine) resampled++;
  }
  const steps = tIn < T ? B * (tIn - 1) : B * T;
  if (f < 1 && (resampled === 0 || resampled === steps)) throw new Error(`the filter resampled at ${resampled} of ${steps} steps; the case needs both kinds`);
  if (f >= 1 && resampled !== steps) throw new Error(`threshold 1 must resample every step, did at ${resampled} of ${steps}`);
}

export async function forwardMatches(engine: Engine, pr: Problem, filter: typeof smcFilter = smcFilter): Promise<void> {
  const inp = gpuInputs(engine, pr);
  // The reference sees the f32-rounded parameters and data the GPU sees.
  const f32 = (a: ArrayLike<number>) => Float64Array.from(Float32Array.from(a));
  const data = { y: f32(pr.data.y), v: f32(pr.data.v), qs: pr.data.qs ? f32(pr.data.qs) : undefined };
  const out = filter(engine, inp, config(pr));
  const ll = await out.ll.readF32();
  const anc = (await out.anc.read()) as Uint32Array;
  const { B, T, K, key, iter } = pr.spec;
  const flags = splitPaths(await out.paths.readF32(), B, T, K, pr.spec.layout.dims.R).resampled;
  // Replay the GPU's ancestors (and ESS decisions) in the float64 filter: the log-likelihoods must
  // agree, and every ancestor must be the reference's choice up to float32 rounding of the cumulative
  // weights (a near-tie can flip in float32; an independent float64 run would then follow another path).
  const ref = referenceFilter(pr.spec, f32(pr.theta), data, anc, flags);
  checkDecisions(pr, flags, ref.w);
  const c = closeness(ll, ref.ll, 0, 1e-4);
  if (c.ratio > 1) throw new Error(`log-likelihood differs from the float64 reference: trial ${c.index} gpu ${ll[c.index]} ref ${ref.ll[c.index]}`);
  const violation = ancestorViolation(pr.spec.resampling, ref.w, anc, B, T, K, key, iter, flags);
  // 2e-4: WGSL lets cos/sin/exp/log be a few ulp to ~1e-3 off (SwiftShader's normals differ from the
  // float64 ones by up to ~8e-4), which moves weights by ~1e-4; a wrong ancestor is off by ~1/K.
  if (violation > 2e-4) throw new Error(`an ancestor is not the float64 resampler's choice (cumulative weight off by ${violation})`);
  // and without replay, the reference's own resampler agrees except after such near-ties (not checked
  // with an ESS threshold: one decision flipped by rounding changes every later step's particle set)
  if ((pr.spec.resampleThreshold ?? 1) >= 1) {
    const free = referenceFilter(pr.spec, f32(pr.theta), data);
    let same = 0;
    for (let i = 0; i < anc.length; i++) if (anc[i] === free.anc[i]) same++;
    if (same < 0.9 * anc.length) throw new Error(`only ${same} of ${anc.length} ancestors agree with an independent float64 run`);
  }
  for (const t of [inp.theta, inp.y, inp.v, inp.qs, out.ll, out.paths, out.anc]) t?.dispose();
}

/**
 * `inputGrad`: the inputs v carry a gradient too (as when they are computed, e.g. low-pass filtered).
 * `filter`: the filter op under test (the step path's gradient op reuses this check). `stride`: finite
 * differences of every stride-th coordinate only (large K, where each float64 run is slow); the
 * coordinates skipped take the GPU's value, so they compare equal.
 */
export async function gradientMatches(engine: Engine, pr: Problem, inputGrad = false, filter: typeof smcFilter = smcFilter, stride = 1): Promise<void> {
  const inp = gpuInputs(engine, pr);
  inp.theta.requiresGrad = true;
  if (inp.qs) inp.qs.requiresGrad = true;
  if (inputGrad) inp.v!.requiresGrad = true;
  const { B } = pr.spec;
  const rand = mulberry32(99);
  const cot = Float64Array.from({ length: B }, () => 0.5 + rand());
  const tape = Tape.begin(engine);
  const out = filter(engine, inp, config(pr));
  tape.end();
  const anc = (await out.anc.read()) as Uint32Array;
  const flags = splitPaths(await out.paths.readF32(), B, pr.spec.T, pr.spec.K, pr.spec.layout.dims.R).resampled;
  checkDecisions(
    pr,
    flags,
    referenceFilter(
      pr.spec,
      Float64Array.from(Float32Array.from(pr.theta)),
      { y: Float64Array.from(Float32Array.from(pr.data.y)), v: Float64Array.from(Float32Array.from(pr.data.v)), qs: pr.data.qs },
      anc,
      flags,
    ).w,
  );
  if (typeof process !== 'undefined' && process.env.SMC_DEBUG) {
    const pth = await out.paths.readF32();
    const r0 = referenceFilter(
      pr.spec,
      Float64Array.from(Float32Array.from(pr.theta)),
      { y: Float64Array.from(Float32Array.from(pr.data.y)), v: Float64Array.from(Float32Array.from(pr.data.v)), qs: pr.data.qs },
      anc,
    );
    console.log(
      'paths gpu',
      Array.from(pth)
        .map((v) => v.toFixed(4))
        .join(' '),
    );
    console.log(
      'z ref',
      Array.from(r0.z)
        .map((v) => v.toFixed(4))
        .join(' '),
      'mu ref',
      Array.from(r0.mu)
        .map((v) => v.toFixed(4))
        .join(' '),
      'w',
      Array.from(r0.w).join(' '),
    );
  }
  const seed = Tensor.fromArray(engine, cot, [B]);
  const wrt = [inp.theta, ...(inp.qs ? [inp.qs] : []), ...(inputGrad ? [inp.v!] : [])];
  const grads = tape.gradients(out.ll, wrt, { seed });
  tape.dispose();
  const gTheta = await grads[0]!.readF32();
  const gQs = inp.qs ? await grads[1]!.readF32() : null;
  const gV = inputGrad ? await grads[grads.length - 1]!.readF32() : null;
  const theta = Float64Array.from(Float32Array.from(pr.theta));
  const data: FilterData = {
    y: Float64Array.from(Float32Array.from(pr.data.y)),
    v: Float64Array.from(Float32Array.from(pr.data.v)),
    qs: pr.data.qs ? Float64Array.from(Float32Array.from(pr.data.qs)) : undefined,
  };
  const objective = () => {
    const r = referenceFilter(pr.spec, theta, data, anc, flags);
    let s = 0;
    for (let b = 0; b < B; b++) s += cot[b] * r.ll[b];
    return s;
  };
  const fd = (arr: Float64Array, i: number) => {
    const h = 1e-5 * Math.max(1, Math.abs(arr[i]));
    const x = arr[i];
    arr[i] = x + h;
    const fp = objective();
    arr[i] = x - h;
    const fm = objective();
    arr[i] = x;
    return (fp - fm) / (2 * h);
  };
  // Only the blocks this configuration uses carry gradient; the others must be exactly zero.
  const L = pr.spec.layout;
  const obsBlocks = [L.rates ? 'Bo' : 'B', 'b', ...(pr.spec.obs === 'gauss' ? ['lv'] : []), ...(pr.spec.readoutFromInputs ? ['Bv'] : [])];
  const used = new Set(['m', 'n', 'h', 'a', 'wu', 'mu0', ...(pr.spec.proposal === 'optimal' ? ['Sq', 'Lq', 'Sq0', 'Lq0', 'G'] : ['L', 'L0', ...obsBlocks])]);
  const fdTheta = new Float64Array(theta.length);
  for (const [blk, off] of Object.entries(L.offsets)) {
    const size = L.sizes[blk as keyof typeof L.sizes];
    for (let i = off; i < off + size; i++) {
      // Cholesky factors are lower triangular: the upper entries are not parameters.
      const isUpper = ['L', 'L0', 'Lq', 'Lq0'].includes(blk) && (i - off) % L.dims.R > Math.floor((i - off) / L.dims.R);
      fdTheta[i] = !used.has(blk) || isUpper ? 0 : i % stride === 0 ? fd(theta, i) : gTheta[i];
    }
  }
  const scale = Math.max(...Array.from(fdTheta, Math.abs));
  const c = closeness(gTheta, fdTheta, 2e-3 * scale, 5e-3);
  if (c.ratio > 1) {
    const blk = Object.entries(L.offsets)
      .filter(([, o]) => o <= c.index)
      .sort((a, b) => b[1] - a[1])[0][0];
    if (typeof process !== 'undefined' && process.env.SMC_DEBUG) {
      for (const [name, off] of Object.entries(L.offsets)) {
        const n = L.sizes[name as keyof typeof L.sizes];
        if (n)
          console.log(
            name,
            Array.from(gTheta.subarray(off, off + n))
              .map((v) => v.toFixed(4))
              .join(' '),
            '|',
            Array.from(fdTheta.subarray(off, off + n))
              .map((v) => v.toFixed(4))
              .join(' '),
          );
      }
    }
    throw new Error(`theta gradient differs from finite differences at ${c.index} (${blk}): gpu ${gTheta[c.index]}, fd ${fdTheta[c.index]}`);
  }
  if (gQs && data.qs) {
    const qs = data.qs as Float64Array;
    const fdQ = Float64Array.from({ length: qs.length }, (_, i) => (i % stride === 0 ? fd(qs, i) : gQs[i]));
    const cq = closeness(gQs, fdQ, 2e-3 * scale, 5e-3);
    if (cq.ratio > 1) throw new Error(`qs gradient differs at ${cq.index}: gpu ${gQs[cq.index]}, fd ${fdQ[cq.index]}`);
  }
  if (gV) {
    const v = data.v as Float64Array;
    const fdV = Float64Array.from({ length: v.length }, (_, i) => fd(v, i));
    const cv = closeness(gV, fdV, 2e-3 * scale, 5e-3);
    if (cv.ratio > 1) throw new Error(`input gradient differs at ${cv.index}: gpu ${gV[cv.index]}, fd ${fdV[cv.index]}`);
  }
  for (const t of [inp.theta, inp.y, inp.v, inp.qs, out.ll, out.paths, out.anc, seed, ...grads]) t?.dispose();
}

const base = { R: 2, N: 12, D: 4, DU: 0, B: 3, K: 16, seed: 11 } as const;

export const cases: GpuCase[] = [
  // Any rank up to 64: the fused kernel's private arrays (array<f32, R>, the optimal proposal's R×R
  // factors) at R = 36 compile and run; small N, T, K keep the float64 finite differences quick.
  ...[1, 3, 8, 16, 36].map((R): GpuCase => ({
    name: `fused filter at R = ${R} (bootstrap, Gaussian) matches the float64 reference and finite differences`,
    timeoutMs: 300_000,
    onceOnly: R > 16,
    // R = 36 passes on SwiftShader (run under Node); left out of the Chromium run for the suite's time
    browser: R <= 16,
    async run(e) {
      const common = {
        R,
        N: 6,
        D: 3,
        DU: 0,
        B: 2,
        proposal: 'bootstrap',
        obs: 'gauss',
        obsNonlinearity: 'identity',
        nonlinearity: 'tanh',
        resampling: 'systematic',
      } as const;
      // The forward check at the gradient check's K where that takes the path K = 16 takes on this engine
      // (unit- or particle-parallel): it then reuses that check's forward kernel. Compiles dominate here
      // (lavapipe with a cold shader cache, SwiftShader always), and every K is a kernel of its own. Not
      // in Chromium from R = 8: SwiftShader's cos/sin (above) move a 4-particle estimate by more than 1e-4.
      const samePath = unitParallelFor(e, 4, R).use === unitParallelFor(e, 16, R).use;
      const kForward = samePath && (R < 8 || e.info.backend !== 'browser') ? 4 : 16;
      await forwardMatches(e, makeProblem({ ...common, K: kForward, T: 20, seed: 20 + R }));
      await gradientMatches(e, makeProblem({ ...common, K: 4, T: 3, seed: 40 + R }));
    },
  })),
  // R = 16 and 36 with the optimal proposal: lavapipe did not finish compiling and running them within
  // 15 minutes on a loaded machine; to be added once that is fast.
  ...[8].map((R): GpuCase => ({
    name: `fused filter at R = ${R} (optimal proposal) matches the float64 reference${R <= 16 ? ' and finite differences' : ''}`,
    // lavapipe compiles the optimal proposal's R×R algebra slowly: ~4 min at R = 8 on a loaded machine
    timeoutMs: 900_000,
    onceOnly: true,
    // passes on SwiftShader (run under Node); left out of the Chromium run for the suite's time
    browser: false,
    async run(e) {
      const common = {
        R,
        N: 6,
        D: 3,
        DU: 1,
        B: 2,
        proposal: 'optimal',
        obs: 'gauss',
        obsNonlinearity: 'identity',
        nonlinearity: 'relu',
        resampling: 'systematic',
      } as const;
      await forwardMatches(e, makeProblem({ ...common, K: 16, T: 20, seed: 60 + R }));
      if (R <= 16) await gradientMatches(e, makeProblem({ ...common, K: 4, T: 3, seed: 80 + R }));
    },
  })),
  {
    name: 'fused filter (bootstrap, Gaussian, clipped relu) matches the float64 reference at T = 100',
    run: (e) =>
      forwardMatches(
        e,
        makeProblem({
          ...base,
          T: 100,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'clipped_relu',
          resampling: 'systematic',
        }),
      ),
  },
  {
    name: 'fused filter (optimal proposal, inputs, R = 3) matches the float64 reference at T = 100',
    run: (e) =>
      forwardMatches(
        e,
        makeProblem({
          ...base,
          R: 3,
          DU: 2,
          T: 100,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'relu',
          resampling: 'systematic',
        }),
      ),
  },
  {
    // K·R = 200: unit-parallel on software adapters with the partial sums reduced in several chunks
    // (particle-parallel on GPUs)
    name: 'fused filter at K = 100 (software: unit-parallel, chunked reduction), optimal, matches the float64 reference',
    async run(e) {
      const chunked = unitParallelFor(e, 100, 2);
      if (e.softwareTuning && !(chunked.use && chunked.chunk < 200))
        throw new Error(`K = 100, R = 2 should run unit-parallel in chunks on a software adapter (chunk ${chunked.chunk})`);
      await forwardMatches(
        e,
        makeProblem({
          ...base,
          R: 2,
          K: 100,
          T: 40,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'clipped_relu',
          resampling: 'systematic',
        }),
      );
    },
  },
  {
    // K·R = 300: particle-parallel everywhere. Node only: under SwiftShader's coarser transcendentals
    // near-ties among 150 particles flip often enough that an independent float64 run agrees on only
    // 88 % of the ancestors (the replayed comparison above it still holds).
    name: 'fused filter at K = 150 (particle-parallel), optimal, matches the float64 reference',
    onceOnly: true, // compiles and dispatches the same kernels under GPU tuning
    browser: false,
    async run(e) {
      if (unitParallelFor(e, 150, 2).use) throw new Error('K = 150, R = 2 should run particle-parallel');
      await forwardMatches(
        e,
        makeProblem({
          ...base,
          R: 2,
          K: 150,
          T: 40,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'clipped_relu',
          resampling: 'systematic',
        }),
      );
    },
  },
  {
    name: 'fused filter (Poisson softplus, stratified and multinomial) matches the reference',
    async run(e) {
      for (const resampling of ['stratified', 'multinomial'] as const) {
        await forwardMatches(
          e,
          makeProblem({ ...base, T: 60, proposal: 'bootstrap', obs: 'poisson', obsNonlinearity: 'softplus', nonlinearity: 'tanh', resampling }),
        );
      }
    },
  },
  {
    name: 'fused filter gradient (bootstrap, Gaussian, inputs) matches finite differences',
    run: (e) =>
      gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 6,
          D: 3,
          DU: 1,
          B: 2,
          K: 8,
          T: 6,
          seed: 5,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'softplus',
          nonlinearity: 'tanh',
          resampling: 'systematic',
        }),
      ),
  },
  {
    name: 'fused filter gradient (optimal proposal) matches finite differences',
    run: (e) =>
      gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 6,
          D: 3,
          DU: 1,
          B: 2,
          K: 8,
          T: 6,
          seed: 6,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'softplus',
          resampling: 'systematic',
        }),
      ),
  },
  {
    name: 'fused filter gradient with respect to the inputs (optimal proposal unit-parallel, bootstrap particle-parallel K = 150) matches finite differences',
    async run(e) {
      await gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 6,
          D: 3,
          DU: 2,
          B: 2,
          K: 8,
          T: 6,
          seed: 6,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'softplus',
          resampling: 'systematic',
        }),
        true,
      );
      await gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 5,
          D: 2,
          DU: 1,
          B: 2,
          K: 150,
          T: 4,
          seed: 8,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'softplus',
          resampling: 'systematic',
        }),
        true,
      );
    },
  },
  {
    // K·R = 300 > 256: the particle-parallel loops everywhere
    name: 'fused filter gradient (particle-parallel path, K = 150, inputs) matches finite differences',
    onceOnly: true, // compiles and dispatches the same kernels under GPU tuning
    run: (e) =>
      gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 5,
          D: 2,
          DU: 1,
          B: 2,
          K: 150,
          T: 4,
          seed: 8,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'softplus',
          resampling: 'systematic',
        }),
      ),
  },
  {
    // the readout from the rates (RATES): η = B_o φ(m z + Wu v_t; h) + b, gradients to z, m, h, Wu, B_o, b, log σ² and v
    name: 'fused filter gradient with the readout from the rates (unit-parallel Poisson K = 8; particle-parallel K = 150, inputs) matches finite differences',
    async run(e) {
      const common = { R: 2, N: 4, D: 4, B: 2, T: 4, resampling: 'systematic', proposal: 'bootstrap', rates: true } as const;
      await gradientMatches(e, makeProblem({ ...common, DU: 0, K: 8, seed: 12, obs: 'poisson', obsNonlinearity: 'softplus', nonlinearity: 'tanh' }));
      if (unitParallelFor(e, 150, 2).use) throw new Error('K = 150, R = 2 should run particle-parallel');
      await gradientMatches(e, makeProblem({ ...common, DU: 1, K: 150, seed: 13, obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'softplus' }), true);
    },
  },
  {
    // K·R = 192 with 128 invocations: on software adapters unit-parallel, the partial sums reduced in 5 chunks
    name: 'fused filter gradient at K = 64, R = 3 (software: unit-parallel, chunked reduction; inputs) matches finite differences',
    run: (e) =>
      gradientMatches(
        e,
        makeProblem({
          R: 3,
          N: 5,
          D: 2,
          DU: 1,
          B: 2,
          K: 64,
          T: 4,
          seed: 9,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'relu',
          resampling: 'systematic',
        }),
        true,
      ),
  },
  {
    name: 'fused filter gradient (Poisson, exp link) matches finite differences',
    run: (e) =>
      gradientMatches(
        e,
        makeProblem({
          R: 3,
          N: 5,
          D: 3,
          DU: 0,
          B: 2,
          K: 8,
          T: 5,
          seed: 7,
          proposal: 'bootstrap',
          obs: 'poisson',
          obsNonlinearity: 'exp',
          nonlinearity: 'tanh',
          resampling: 'systematic',
        }),
      ),
  },
  {
    name: 'fused filter with an ESS threshold (0.5: carried weights, identity ancestors) matches the float64 reference at T = 100',
    async run(e) {
      await forwardMatches(
        e,
        makeProblem({
          ...base,
          T: 100,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'clipped_relu',
          resampling: 'systematic',
          resampleThreshold: 0.5,
        }),
      );
      await forwardMatches(
        e,
        makeProblem({
          ...base,
          R: 3,
          DU: 2,
          T: 60,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'relu',
          resampling: 'multinomial',
          resampleThreshold: 0.5,
        }),
      );
    },
  },
  {
    name: 'fused filter with the readout from [v; z] (bootstrap Gaussian, Poisson) matches the float64 reference',
    async run(e) {
      await forwardMatches(
        e,
        makeProblem({
          ...base,
          DU: 2,
          T: 100,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'clipped_relu',
          resampling: 'systematic',
          readoutFromInputs: true,
        }),
      );
      await forwardMatches(
        e,
        makeProblem({
          ...base,
          DU: 1,
          T: 40,
          proposal: 'bootstrap',
          obs: 'poisson',
          obsNonlinearity: 'softplus',
          nonlinearity: 'tanh',
          resampling: 'stratified',
          readoutFromInputs: true,
        }),
      );
    },
  },
  {
    name: 'fused filter gradient with the readout from [v; z] matches finite differences (Gaussian softplus, Poisson exp; also with respect to the inputs)',
    async run(e) {
      await gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 6,
          D: 3,
          DU: 2,
          B: 2,
          K: 8,
          T: 6,
          seed: 9,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'softplus',
          nonlinearity: 'tanh',
          resampling: 'systematic',
          readoutFromInputs: true,
        }),
        true,
      );
      // without the input gradient (the kernels' other variant) with the Poisson link: the same readout
      // with a Gaussian link again would only repeat the case above
      await gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 5,
          D: 3,
          DU: 1,
          B: 2,
          K: 8,
          T: 5,
          seed: 7,
          proposal: 'bootstrap',
          obs: 'poisson',
          obsNonlinearity: 'exp',
          nonlinearity: 'tanh',
          resampling: 'systematic',
          readoutFromInputs: true,
        }),
      );
    },
  },
  {
    // thresholds at which these small problems resample at some steps and not at others
    name: 'fused filter gradient with an ESS threshold (0.7, 0.9) matches finite differences (bootstrap and optimal)',
    async run(e) {
      await gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 6,
          D: 3,
          DU: 1,
          B: 2,
          K: 8,
          T: 6,
          seed: 5,
          proposal: 'bootstrap',
          obs: 'gauss',
          obsNonlinearity: 'softplus',
          nonlinearity: 'tanh',
          resampling: 'systematic',
          resampleThreshold: 0.7,
        }),
      );
      await gradientMatches(
        e,
        makeProblem({
          R: 2,
          N: 6,
          D: 3,
          DU: 1,
          B: 2,
          K: 8,
          T: 6,
          seed: 6,
          proposal: 'optimal',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'softplus',
          resampling: 'systematic',
          resampleThreshold: 0.9,
        }),
      );
    },
  },
];
