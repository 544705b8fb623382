import { assertClose, gradCheck } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { cholFactor, cholFactorRef, diagExp, diagExpRef, matmul, matmulRef, mean, reshape, sum, sumRef, weightedSum } from '../../src/ops/linalg.js';
import type { GpuCase } from './types.js';

const uniform = (seed: number, n: number, lo = -1, hi = 1) => {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * rand());
};

const MATMUL_SIZES: { M: number; K: number; N: number; transA: boolean; transB: boolean }[] = [
  { M: 5, K: 7, N: 3, transA: false, transB: false },
  { M: 4, K: 6, N: 5, transA: true, transB: false },
  { M: 3, K: 5, N: 4, transA: false, transB: true },
  { M: 6, K: 2, N: 7, transA: true, transB: true },
  // Several 16×16 tiles with ragged edges.
  { M: 20, K: 17, N: 18, transA: false, transB: true },
];

const matmulCases: GpuCase[] = MATMUL_SIZES.map(({ M, K, N, transA, transB }, i) => {
  const aShape = transA ? [K, M] : [M, K];
  const bShape = transB ? [N, K] : [K, N];
  return {
    name: `matmul ${transA ? 'aᵀ' : 'a'}·${transB ? 'bᵀ' : 'b'} (${M}×${K}·${K}×${N}): forward and gradient check`,
    async run(engine) {
      await gradCheck(engine, {
        name: `matmul${i}`,
        inputs: [
          { data: uniform(20 + i, M * K), shape: aShape },
          { data: uniform(40 + i, K * N), shape: bShape },
        ],
        gpu: (_e, [a, b]) => matmul(a, b, { transA, transB }),
        reference: ([a, b]) => matmulRef(a, aShape, b, bShape, transA, transB),
      });
    },
  };
});

export const cases: GpuCase[] = [
  {
    name: 'reshape shares storage and passes gradients through',
    async run(engine) {
      const x = Tensor.fromArray(engine, [1, 2, 3, 4, 5, 6], [2, 3]);
      const y = reshape(x, [3, -1]);
      if (y.buffer !== x.buffer || y.shape.join() !== '3,2') throw new Error(`reshape made [${y.shape}] with a new buffer`);
      x.dispose();
      y.dispose();
      await gradCheck(engine, {
        name: 'reshape then sum',
        inputs: [{ data: uniform(1, 12), shape: [3, 4] }],
        // reshape then a broadcast-shaped sum so that the gradient's layout matters.
        gpu: (_e, [a]) => sum(reshape(a, [2, 6]), 1),
        reference: ([a]) => sumRef(a, [2, 6], 1),
      });
    },
  },
  {
    name: 'weightedSum: c + Σ weight · Σ slice over parts (one source twice, a slice, a whole tensor) matches float64, with its gradient',
    async run(engine) {
      await gradCheck(engine, {
        name: 'weightedSum',
        inputs: [
          { data: uniform(3, 10), shape: [10] },
          { data: uniform(4, 6), shape: [2, 3] },
        ],
        gpu: (e, [a, b]) =>
          weightedSum(
            e,
            [
              { src: a, srcOffset: 2, length: 3, weight: -0.5 },
              { src: a, srcOffset: 7, length: 1, weight: 4 },
              { src: b, weight: 1.5 },
            ],
            2.25,
          ),
        reference: ([a, b]) => Float64Array.of(2.25 - 0.5 * (a[2] + a[3] + a[4]) + 4 * a[7] + 1.5 * b.reduce((x, y) => x + y, 0)),
      });
    },
  },
  ...[undefined, 0, 1, -1].map((axis) => ({
    name: `sum over ${axis === undefined ? 'all elements' : `axis ${axis}`} of [3,4,5]: forward and gradient check`,
    async run(engine: Parameters<GpuCase['run']>[0]) {
      await gradCheck(engine, {
        name: `sum${axis}`,
        inputs: [{ data: uniform(7, 60), shape: [3, 4, 5] }],
        gpu: (_e, [a]) => sum(a, axis),
        reference: ([a]) => sumRef(a, [3, 4, 5], axis),
      });
    },
  })),
  {
    name: 'mean (all and over an axis, keepDims): forward and gradient check',
    async run(engine) {
      await gradCheck(engine, {
        name: 'mean',
        inputs: [{ data: uniform(8, 12), shape: [4, 3] }],
        gpu: (_e, [a]) => mean(a),
        reference: ([a]) => Float64Array.of(sumRef(a, [4, 3])[0] / 12),
      });
      await gradCheck(engine, {
        name: 'mean axis 0 keepDims',
        inputs: [{ data: uniform(9, 12), shape: [4, 3] }],
        gpu: (_e, [a]) => {
          const m = mean(a, 0, { keepDims: true });
          if (m.shape.join() !== '1,3') throw new Error(`keepDims shape [${m.shape}]`);
          return m;
        },
        reference: ([a]) => sumRef(a, [4, 3], 0).map((v) => v / 4),
      });
    },
  },
  {
    name: 'long sums (multi-pass workgroup reduction) match float64 and expand gradients',
    async run(engine) {
      // 100 000 elements: 25 segments, then a second pass; and a strided axis reduction of length 5000.
      const n = 100_000;
      const data = uniform(11, n, 0, 1);
      const x = Tensor.param(engine, data, [n]);
      const tape = Tape.begin(engine);
      const s = sum(x);
      tape.end();
      assertClose(await s.readF32(), sumRef(data, [n]), { atol: 0, rtol: 2e-6, what: 'sum of 1e5' });
      const [g] = tape.gradients(s, [x], { seed: Tensor.fromArray(engine, [2.5], []) });
      tape.dispose();
      assertClose(await g!.readF32(), new Float64Array(n).fill(2.5), { atol: 0, rtol: 0, what: 'sum gradient' });
      const shape = [3, 5000, 2];
      const y = Tensor.fromArray(engine, uniform(12, 30_000), shape);
      const ys = sum(y, 1);
      assertClose(await ys.readF32(), sumRef(await y.readF32(), shape, 1), { atol: 1e-4, rtol: 1e-5, what: 'axis-1 sum of [3,5000,2]' });
      for (const t of [x, s, g!, y, ys]) t.dispose();
    },
  },
  ...matmulCases,
  {
    name: 'cholFactor (batched d×d) and diagExp: forward and gradient check',
    async run(engine) {
      const d = 3;
      await gradCheck(engine, {
        name: 'cholFactor',
        inputs: [{ data: uniform(30, 2 * d * d), shape: [2, d, d] }],
        gpu: (_e, [P]) => cholFactor(P),
        reference: ([P]) => cholFactorRef(P, d),
      });
      await gradCheck(engine, {
        name: 'diagExp',
        inputs: [{ data: uniform(31, 2 * 4), shape: [2, 4] }],
        gpu: (_e, [p]) => diagExp(p),
        reference: ([p]) => diagExpRef(p, 4),
      });
    },
  },
  {
    name: 'covariance Σ = L Lᵀ from cholFactor composes with matmul (gradient check)',
    async run(engine) {
      const d = 4;
      await gradCheck(engine, {
        name: 'LLt',
        inputs: [{ data: uniform(32, d * d), shape: [d, d] }],
        gpu: (_e, [P]) => {
          const L = cholFactor(P);
          return matmul(L, L, { transB: true });
        },
        reference: ([P]) => {
          const L = cholFactorRef(P, d);
          return matmulRef(L, [d, d], L, [d, d], false, true);
        },
      });
    },
  },
  {
    name: 'linalg ops reject bad shapes with clear errors',
    async run(engine) {
      const a = Tensor.zeros(engine, [2, 3]);
      const b = Tensor.zeros(engine, [2, 3]);
      const check = (f: () => unknown, text: string) => {
        try {
          f();
        } catch (e) {
          if (!(e as Error).message.includes(text)) throw new Error(`wrong error: ${(e as Error).message}`);
          return;
        }
        throw new Error(`expected an error mentioning "${text}"`);
      };
      check(() => matmul(a, b), 'inner dimensions differ');
      check(() => cholFactor(a), 'expects [..., d, d]');
      check(() => sum(a, 2), 'axis 2 out of range');
      check(() => reshape(a, [4, -1]), 'cannot reshape');
      a.dispose();
      b.dispose();
    },
  },
];
