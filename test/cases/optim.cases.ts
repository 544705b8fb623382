import { assertClose } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { square, sub } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/linalg.js';
import {
  Adam,
  clipGradNorm,
  clipGradNormRef,
  exponentialDecay,
  Optimizer,
  optimizerStepRef,
  RAdam,
  stepFactors,
  type OptimizerKind,
  type OptimizerOptions,
} from '../../src/ops/optim.js';
import type { GpuCase } from './types.js';

const SHAPES = [[7], [3, 4]];

function randomArrays(seed: number, scale = 1): number[][] {
  const rand = mulberry32(seed);
  return SHAPES.map((s) => Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => (rand() * 2 - 1) * scale));
}

function makeOptimizer(kind: OptimizerKind, params: Tensor[], options: OptimizerOptions): Optimizer {
  return kind === 'adam' ? new Adam(params, options) : new RAdam(params, options);
}

/**
 * `steps` updates with fixed-seed gradients on the GPU and in float64, compared after every step;
 * the learning rate follows an exponential decay set between steps (a uniform, no recompile).
 */
async function compareWithReference(engine: Engine, kind: OptimizerKind, options: OptimizerOptions, steps: number): Promise<void> {
  const init = randomArrays(1);
  const params = init.map((d, i) => Tensor.param(engine, d, SHAPES[i], `p${i}`));
  const opt = makeOptimizer(kind, params, options);
  const ref = init.map((d) => ({ p: Float64Array.from(d), m: new Float64Array(d.length), v: new Float64Array(d.length) }));
  const schedule = exponentialDecay(options.lr ?? 1e-3, (options.lr ?? 1e-3) / 10, steps);
  for (let t = 1; t <= steps; t++) {
    opt.lr = schedule(t - 1);
    // Gradients of mixed magnitudes (and a sign flip now and then) exercise both moments.
    const grads = randomArrays(100 + t, t % 5 === 0 ? 3 : 0.5);
    params.forEach((p, i) => {
      p.grad = Tensor.fromArray(engine, grads[i], p.shape);
    });
    opt.step();
    opt.zeroGrad();
    for (let i = 0; i < params.length; i++) {
      optimizerStepRef(kind, ref[i].p, grads[i], ref[i].m, ref[i].v, t, { ...options, lr: schedule(t - 1) });
      const what = `${kind} step ${t} (${stepFactors(kind, t, 0.9, 0.999).rectified ? 'rectified' : 'unrectified'}) param ${i}`;
      assertClose(await params[i].readF32(), ref[i].p, { atol: 1e-6, rtol: 1e-5, what });
    }
  }
  const state = await opt.exportState();
  if (state.steps.join() !== `${steps},${steps}`) throw new Error(`exported steps ${state.steps}`);
  for (let i = 0; i < params.length; i++) {
    assertClose(state.m[i], ref[i].m, { atol: 1e-7, rtol: 1e-5, what: `${kind} exported m[${i}]` });
    assertClose(state.v[i], ref[i].v, { atol: 1e-9, rtol: 1e-5, what: `${kind} exported v[${i}]` });
  }
  opt.dispose();
  for (const p of params) p.dispose();
}

export const cases: GpuCase[] = [
  {
    name: 'Adam matches a float64 implementation over 20 steps (with weight decay and an lr schedule)',
    async run(engine) {
      await compareWithReference(engine, 'adam', { lr: 1e-2 }, 20);
      await compareWithReference(engine, 'adam', { lr: 5e-3, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }, 8);
    },
  },
  {
    name: 'RAdam matches a float64 implementation over 20 steps, before and after ρ_t > 5',
    async run(engine) {
      // With β2 = 0.999, ρ_t first exceeds 5 at step 6: steps 1–5 are plain momentum steps.
      const rectified = Array.from({ length: 20 }, (_, i) => stepFactors('radam', i + 1, 0.9, 0.999).rectified);
      if (rectified.indexOf(true) !== 5 || rectified.slice(5).some((r) => !r)) throw new Error(`unexpected rectification pattern ${rectified}`);
      await compareWithReference(engine, 'radam', { lr: 1e-2 }, 20);
      await compareWithReference(engine, 'radam', { lr: 1e-2, weightDecay: 0.05 }, 10);
    },
  },
  {
    name: "RAdam with unrectified 'skip' matches float64, leaves parameters untouched for the first five steps and then moves them",
    async run(engine) {
      await compareWithReference(engine, 'radam', { lr: 1e-2, unrectified: 'skip' }, 12);
      const init = Float32Array.from([0.5, -1, 2]);
      const p = Tensor.param(engine, init, [3], 'p');
      const opt = new RAdam([p], { lr: 0.1, unrectified: 'skip' });
      for (let t = 1; t <= 6; t++) {
        p.grad = Tensor.fromArray(engine, [100, -50, 1e3], [3]);
        opt.step();
        opt.zeroGrad();
        const now = await p.readF32();
        const moved = now.some((v, i) => v !== init[i]);
        if (t <= 5 && moved) throw new Error(`step ${t}: parameters moved to ${Array.from(now)} before RAdam's variance estimate is trusted`);
        if (t === 6 && !moved) throw new Error('step 6: the first rectified step did not move the parameters');
      }
      opt.dispose();
      p.dispose();
    },
  },
  {
    name: 'optimiser state export/import resumes a run exactly; bad state is rejected with clear errors',
    async run(engine) {
      for (const kind of ['adam', 'radam'] as const) {
        const init = randomArrays(2);
        const grads = (t: number) => randomArrays(500 + t);
        const run = async (opt: Optimizer, params: Tensor[], from: number, to: number) => {
          for (let t = from; t < to; t++) {
            params.forEach((p, i) => {
              p.grad = Tensor.fromArray(engine, grads(t)[i], p.shape);
            });
            opt.step();
            opt.zeroGrad();
          }
        };
        const straight = init.map((d, i) => Tensor.param(engine, d, SHAPES[i]));
        const o1 = makeOptimizer(kind, straight, { lr: 1e-2 });
        await run(o1, straight, 0, 12);
        const first = init.map((d, i) => Tensor.param(engine, d, SHAPES[i]));
        const o2 = makeOptimizer(kind, first, { lr: 1e-2 });
        await run(o2, first, 0, 7);
        // JSON round trip: the checkpoint is plain data.
        const saved = JSON.parse(JSON.stringify(await o2.exportState()));
        const resumed = await Promise.all(first.map(async (p) => Tensor.param(engine, await p.readF32(), p.shape)));
        const o3 = makeOptimizer(kind, resumed, { lr: 1e-2 });
        o3.importState(saved);
        await run(o3, resumed, 7, 12);
        for (let i = 0; i < init.length; i++) {
          assertClose(await resumed[i].readF32(), await straight[i].readF32(), { atol: 0, rtol: 0, what: `${kind} resumed param ${i}` });
        }
        const expectError = (f: () => unknown, text: string) => {
          try {
            f();
          } catch (e) {
            if (!(e as Error).message.includes(text)) throw new Error(`wrong error: ${(e as Error).message}`);
            return;
          }
          throw new Error(`expected an error mentioning "${text}"`);
        };
        expectError(() => o3.importState({ ...saved, m: [saved.m[0]] }), '"m" must list 2 parameters');
        expectError(() => o3.importState({ ...saved, v: [saved.v[0], [1, 2]] }), 'v[1] has 2 values');
        expectError(() => o3.importState({ ...saved, kind: kind === 'adam' ? 'radam' : 'adam' }), 'cannot import');
        for (const o of [o1, o2, o3]) o.dispose();
        for (const p of [...straight, ...first, ...resumed]) p.dispose();
      }
      const p = Tensor.param(engine, [1, 2, 3]);
      try {
        new Adam([p], { betas: [0.9, 1] });
        throw new Error('β2 = 1 accepted');
      } catch (e) {
        if (!(e as Error).message.includes('betas[1] must be in [0, 1)')) throw e;
      }
      p.dispose();
    },
  },
  {
    name: 'Adam fits a quadratic through the tape: backward, step, zeroGrad',
    async run(engine) {
      const target = Tensor.fromArray(engine, [1, -2, 0.5, 3], [4]);
      const x = Tensor.param(engine, [0, 0, 0, 0], [4], 'x');
      const opt = new Adam([x], { lr: 0.1 });
      const ref = { p: new Float64Array(4), m: new Float64Array(4), v: new Float64Array(4) };
      const tgt = [1, -2, 0.5, 3];
      let first = 0;
      let last = 0;
      for (let t = 1; t <= 30; t++) {
        const tape = Tape.begin(engine);
        const loss = sum(square(sub(x, target)));
        tape.end();
        last = await loss.item();
        if (t === 1) first = last;
        tape.backward(loss);
        loss.dispose();
        opt.step();
        opt.zeroGrad();
        if (x.grad !== null) throw new Error('zeroGrad left a gradient');
        optimizerStepRef(
          'adam',
          ref.p,
          Array.from(ref.p, (v, i) => 2 * (v - tgt[i])),
          ref.m,
          ref.v,
          t,
          { lr: 0.1 },
        );
      }
      assertClose(await x.readF32(), ref.p, { atol: 1e-5, rtol: 1e-4, what: 'tape-driven Adam vs float64' });
      if (!(last < first / 10)) throw new Error(`loss did not fall: ${first} → ${last}`);
      opt.dispose();
      x.dispose();
      target.dispose();
    },
  },
];

cases.push({
  name: 'clipGradNorm matches a float64 reference (clipped, unclipped, and Infinity: measured only) and skips parameters without a gradient',
  async run(engine) {
    for (const maxNorm of [0.5, 100, Infinity]) {
      // Sizes above one workgroup's 256 lanes exercise the strided sums.
      const grads = [Array.from({ length: 700 }, (_, i) => Math.sin(i) * 0.1), Array.from({ length: 12 }, (_, i) => i - 6)];
      const params = grads.map((g, i) => Tensor.param(engine, new Float32Array(g.length), [g.length], `p${i}`));
      params.forEach((p, i) => {
        p.grad = Tensor.fromArray(engine, grads[i], [grads[i].length]);
      });
      const idle = Tensor.param(engine, [1, 2], [2], 'no-grad');
      const norm = clipGradNorm([...params, idle], maxNorm);
      const ref = grads.map((g) => Float64Array.from(g));
      const refNorm = clipGradNormRef(ref, maxNorm);
      assertClose([await norm.item()], [refNorm], { rtol: 1e-5, what: `norm (max ${maxNorm})` });
      for (let i = 0; i < params.length; i++) {
        const got = await params[i].grad!.readF32();
        assertClose(got, ref[i], { atol: 1e-6, rtol: 1e-5, what: `clipped gradient ${i} (max ${maxNorm})` });
        // measuring only must leave the gradient exactly as it was
        if (maxNorm === Infinity && got.some((v, j) => v !== Math.fround(grads[i][j]))) throw new Error(`gradient ${i} changed although maxNorm is Infinity`);
      }
      for (const t of [...params.map((p) => p.grad!), ...params, idle, norm]) t.dispose();
    }
    try {
      clipGradNorm([Tensor.param(engine, [1], [1])], 1);
      throw new Error('expected an error for parameters without gradients');
    } catch (e) {
      if (!/no parameter has a gradient/.test((e as Error).message)) throw e;
    }
  },
});

cases.push({
  name: 'one optimiser step over flat buffers: clipped steps and parameters skipped now and then (own step counts) match float64',
  async run(engine) {
    // three parameters; the middle one has no gradient at steps 2 and 3, so its step count falls behind and
    // the update splits into runs; clipping covers the gradients present (all, or the outer two)
    const sizes = [300, 5, 9];
    const rand = mulberry32(7);
    const init = sizes.map((n) => Array.from({ length: n }, () => rand() * 2 - 1));
    const params = init.map((d, i) => Tensor.param(engine, d, [d.length], `p${i}`));
    const opt = new RAdam(params, { lr: 0.05 });
    const ref = init.map((d) => ({ p: Float64Array.from(d), m: new Float64Array(d.length), v: new Float64Array(d.length), t: 0 }));
    const maxNorm = 0.8;
    for (let step = 1; step <= 8; step++) {
      const skip = step === 2 || step === 3 ? 1 : -1;
      const grads = sizes.map((n) => Array.from({ length: n }, () => (rand() * 2 - 1) * 0.3));
      params.forEach((p, i) => {
        if (i !== skip) p.grad = Tensor.fromArray(engine, grads[i], p.shape);
      });
      const norm = opt.step({ clipGradNorm: maxNorm })!;
      opt.zeroGrad();
      const present = ref.map((_, i) => i).filter((i) => i !== skip);
      const clipped = present.map((i) => Float64Array.from(grads[i]));
      const refNorm = clipGradNormRef(clipped, maxNorm);
      assertClose([await norm.item()], [refNorm], { rtol: 1e-5, what: `norm at step ${step}` });
      norm.dispose();
      present.forEach((i, j) => {
        const r = ref[i];
        optimizerStepRef('radam', r.p, clipped[j], r.m, r.v, ++r.t, { lr: 0.05 });
      });
      for (let i = 0; i < params.length; i++)
        assertClose(await params[i].readF32(), ref[i].p, { atol: 1e-6, rtol: 1e-5, what: `param ${i} after step ${step}` });
    }
    if (opt.stepCounts.join() !== '8,6,8') throw new Error(`step counts ${opt.stepCounts}`);
    opt.dispose();
    for (const p of params) p.dispose();
  },
});
