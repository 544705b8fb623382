// Reductions (src/ops/reduce.ts; the sum op is linalg.ts's) against float64 references, with and
// without subgroups, single- and multi-pass, plus gradient checks.
import { assertClose, gradCheck } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { sum, sumRef as sumReference } from '../../src/ops/linalg.js';
import { logsumexp, logsumexpReference, max, maxReference, maxWithArgmax, type ReduceAxis, type ReduceOptions } from '../../src/ops/reduce.js';
import type { GpuCase } from './types.js';

const EPS32 = 2 ** -24;

function randomData(n: number, seed: number, kind: 'uniform' | 'ties' | 'wide'): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (kind === 'ties')
      out[i] = Math.floor(rand() * 7) - 3; // many equal maxima: tests the first-argmax rule
    else if (kind === 'wide')
      out[i] = (rand() - 0.5) * 60; // logsumexp needs the max shift
    else out[i] = rand() * 2 - 1;
  }
  return out;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Per-output bound for an f32 sum: 64 eps Σ|x| covers the serial, tree and multi-pass stages. */
function sumTolerance(x: Float32Array, shape: number[], axis: number): Float64Array {
  const abs = Float64Array.from(x, Math.abs);
  return sumReference(abs, shape, axis).map((s) => 64 * EPS32 * s + 1e-30);
}

async function checkAllKinds(engine: Engine, shape: number[], axis: ReduceAxis, options: ReduceOptions, seed: number, label: string): Promise<void> {
  const n = size(shape);
  for (const kind of ['uniform', 'ties', 'wide'] as const) {
    const data = randomData(n, seed, kind);
    const what = `${label} shape [${shape}] axis ${axis} ${kind}`;
    const x = Tensor.fromArray(engine, data, shape);

    const s = sum(x, axis, options);
    const gotSum = await s.readF32();
    const wantSum = sumReference(data, shape, axis);
    const tol = sumTolerance(data, shape, axis);
    for (let i = 0; i < wantSum.length; i++) {
      if (!(Math.abs(gotSum[i] - wantSum[i]) <= tol[i]))
        throw new Error(`sum ${what}: output ${i} is ${gotSum[i]}, float64 ${wantSum[i]} (tolerance ${tol[i]})`);
    }

    const { values, indices } = maxWithArgmax(x, axis, options);
    const want = maxReference(data, shape, axis);
    assertClose(await values.readF32(), want.values, { atol: 0, rtol: 0, what: `max ${what}` });
    const gotIdx = (await indices.read()) as Uint32Array;
    for (let i = 0; i < want.indices.length; i++) {
      if (gotIdx[i] !== want.indices[i]) throw new Error(`argmax ${what}: output ${i} is ${gotIdx[i]}, expected first argmax ${want.indices[i]}`);
    }

    const l = logsumexp(x, axis, options);
    assertClose(await l.readF32(), logsumexpReference(data, shape, axis), { atol: 1e-5, rtol: 2e-6, what: `logsumexp ${what}` });
    for (const t of [x, s, values, indices, l]) t.dispose();
  }
}

const SHAPES_LAST: number[][] = [[1], [257], [7, 1], [5, 64], [3, 300], [2, 1000], [2, 10_000]];
const SHAPES_FIRST: number[][] = [
  [1, 5],
  [9, 1],
  [1000, 3],
  [64, 100],
  [300, 17],
  [5000, 1],
  [2, 3, 4],
];

export const cases: GpuCase[] = [
  {
    name: 'reduce: sum/max/logsumexp over the last axis match float64 (subgroup and fallback kernels)',
    async run(engine) {
      for (const subgroups of [true, false]) {
        const options = subgroups && engine.hasSubgroups ? {} : { subgroups: false };
        for (const [i, shape] of SHAPES_LAST.entries()) await checkAllKinds(engine, shape, -1, options, 10 + i, subgroups ? 'subgroups' : 'fallback');
      }
    },
  },
  {
    name: 'reduce: sum/max/logsumexp over the first axis match float64',
    async run(engine) {
      for (const [i, shape] of SHAPES_FIRST.entries()) await checkAllKinds(engine, shape, 0, {}, 30 + i, 'first');
    },
  },
  {
    name: 'reduce: multi-pass path (forced small chunks, three passes) matches float64 on both axes',
    async run(engine) {
      for (const subgroups of [true, false]) {
        const label = subgroups ? 'multi-pass subgroups' : 'multi-pass fallback';
        const options: ReduceOptions = { chunk: 7, ...(subgroups ? {} : { subgroups: false }) };
        // 3 x 400 with chunks of 7: 58 partials, then 9, then 2, then 1.
        await checkAllKinds(engine, [3, 400], -1, options, 50, label);
      }
      await checkAllKinds(engine, [400, 3], 0, { chunk: 7 }, 51, 'multi-pass first');
      await checkAllKinds(engine, [333, 70], 0, { chunk: 5 }, 52, 'multi-pass first wide');
    },
  },
  {
    name: 'reduce: sum over a middle axis ([outer, len, inner] with both outer, inner > 1) matches float64, single- and multi-pass',
    async run(engine) {
      for (const [shape, axis, chunk] of [
        [[3, 50, 7], 1, undefined],
        [[3, 50, 7], 1, 4],
        [[5, 2, 3, 33], 2, 2],
        [[2, 700, 40], 1, undefined],
      ] as const) {
        const data = randomData(size([...shape]), 70 + chunk!, 'uniform');
        const x = Tensor.fromArray(engine, data, shape);
        const s = sum(x, axis, { chunk });
        const got = await s.readF32();
        const want = sumReference(data, shape, axis);
        const tol = sumTolerance(data, [...shape], axis);
        if (got.length !== want.length) throw new Error(`sum [${shape}] axis ${axis}: ${got.length} outputs, expected ${want.length}`);
        for (let i = 0; i < want.length; i++) {
          if (!(Math.abs(got[i] - want[i]) <= tol[i]))
            throw new Error(`sum [${shape}] axis ${axis} chunk ${chunk}: output ${i} is ${got[i]}, float64 ${want[i]} (tolerance ${tol[i]})`);
        }
        x.dispose();
        s.dispose();
      }
    },
  },
  {
    name: 'reduce: 2^20-element rows and columns (default multi-pass) match float64',
    timeoutMs: 120_000,
    async run(engine) {
      const n = 1 << 20;
      await checkAllKinds(engine, [1, n], -1, {}, 60, 'large');
      await checkAllKinds(engine, [4, n / 4 + 3], -1, { subgroups: false }, 61, 'large fallback');
      await checkAllKinds(engine, [n, 1], 0, {}, 62, 'large');
      await checkAllKinds(engine, [n / 64, 64], 0, {}, 63, 'large');
    },
  },
  {
    name: 'reduce: -inf entries: logsumexp of an all -inf row is -inf, gradients stay finite',
    async run(engine) {
      const ninf = -Infinity;
      const data = [ninf, ninf, ninf, ninf, 0.5, ninf, 2, ninf, 1, 1, 1, 1];
      const shape = [3, 4];
      for (const options of [{}, { subgroups: false }]) {
        const x = Tensor.param(engine, data, shape);
        const tape = Tape.begin(engine);
        const l = logsumexp(x, -1, options);
        const m = max(x, -1, options);
        tape.end();
        const got = await l.readF32();
        const want = logsumexpReference(data, shape);
        if (got[0] !== -Infinity) throw new Error(`logsumexp of an all -inf row is ${got[0]}, expected -inf`);
        assertClose(got.subarray(1), want.subarray(1), { atol: 1e-6, rtol: 1e-6, what: 'logsumexp with -inf' });
        const gotMax = [...(await m.readF32())];
        if (gotMax.join() !== [ninf, 2, 1].join()) throw new Error(`max with -inf: got [${gotMax}], expected [-Infinity, 2, 1]`);
        const seed = Tensor.fromArray(engine, [0, 1, 1]);
        const [gx] = tape.gradients(l, [x], { seed });
        const grad = await gx!.readF32();
        const w = Math.exp(0.5 - want[1]);
        assertClose(grad, [0, 0, 0, 0, w, 0, 1 - w, 0, 0.25, 0.25, 0.25, 0.25], { atol: 1e-6, rtol: 1e-5, what: 'logsumexp gradient with -inf' });
        tape.dispose();
        for (const t of [x, l, m, seed, gx!]) t.dispose();
      }
    },
  },
  {
    name: 'reduce: gradients of sum, max and logsumexp match finite differences (both axes)',
    async run(engine) {
      const rand = mulberry32(77);
      for (const axis of [-1, 0] as const) {
        for (const shape of [
          [3, 5],
          [4, 130],
        ]) {
          const n = size(shape);
          const data = Array.from({ length: n }, () => rand() * 4 - 2);
          // Multi-pass forward too: the backward kernels only see the final outputs.
          for (const options of [{}, { chunk: 3 }]) {
            const tag = `shape [${shape}] axis ${axis} chunk ${options.chunk ?? 'default'}`;
            await gradCheck(engine, {
              name: `sum ${tag}`,
              inputs: [{ data, shape }],
              gpu: (_e, [x]) => sum(x, axis, options),
              reference: ([x]) => sumReference(x, shape, axis),
            });
            await gradCheck(engine, {
              name: `logsumexp ${tag}`,
              inputs: [{ data, shape }],
              gpu: (_e, [x]) => logsumexp(x, axis, options),
              reference: ([x]) => logsumexpReference(x, shape, axis),
            });
            await gradCheck(engine, {
              name: `max ${tag}`,
              inputs: [{ data, shape }],
              gpu: (_e, [x]) => max(x, axis, options),
              reference: ([x]) => maxReference(x, shape, axis).values,
            });
          }
        }
      }
    },
  },
  {
    name: 'reduce: bad input gets an error naming the problem',
    async run(engine) {
      const x = Tensor.zeros(engine, [2, 3]);
      const u = Tensor.zeros(engine, [4], 'u32');
      const empty = Tensor.zeros(engine, [2, 0]);
      const expect = (what: string, f: () => unknown, pattern: RegExp) => {
        try {
          f();
        } catch (e) {
          if (!pattern.test((e as Error).message)) throw new Error(`${what}: wrong message: ${(e as Error).message}`);
          return;
        }
        throw new Error(`${what}: no error`);
      };
      expect('axis 1', () => max(x, 1 as ReduceAxis), /axis 1 is not supported/);
      expect('u32 input', () => logsumexp(u), /is u32, expected f32/);
      expect('empty axis', () => max(empty), /empty last axis/);
      expect('bad chunk', () => sum(x, -1, { chunk: 1 }), /chunk 1 must be an integer ≥ 2/);
      if (!engine.hasSubgroups) expect('subgroups', () => sum(x, -1, { subgroups: true }), /no 'subgroups' feature/);
      for (const t of [x, u, empty]) t.dispose();
    },
  },
];
