import { gradCheck } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import {
  add,
  addScalar,
  affine,
  binaryRef,
  div,
  erfc,
  exp,
  gelu,
  leakyRelu,
  clamp,
  log,
  mul,
  neg,
  scale,
  sigmoid,
  softplus,
  square,
  sub,
  tanh,
  unaryRef,
  type BinaryOp,
} from '../../src/ops/elementwise.js';
import type { Tensor as T } from '../../src/autodiff/tensor.js';
import type { GpuCase } from './types.js';

const uniform = (seed: number, n: number, lo: number, hi: number) => {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * rand());
};
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

const BINARY_FNS: Record<BinaryOp, (a: T, b: T) => T> = { add, sub, mul, div };

// Shape pairs: equal shapes, trailing-dim broadcast, both sides broadcast, rank 4, scalar.
const BINARY_CASES: { op: BinaryOp; a: number[]; b: number[] }[] = [
  { op: 'add', a: [3, 4], b: [4] },
  { op: 'add', a: [], b: [2, 3] },
  { op: 'sub', a: [2, 1, 3], b: [4, 1] },
  { op: 'sub', a: [5], b: [5] },
  { op: 'mul', a: [2, 3, 1, 2], b: [3, 5, 1] },
  { op: 'mul', a: [4, 1], b: [1] },
  { op: 'div', a: [3, 1], b: [1, 4] },
  { op: 'div', a: [2, 3], b: [2, 3] },
];

const binaryCases: GpuCase[] = BINARY_CASES.map(({ op, a, b }, i) => ({
  name: `${op} [${a}] with [${b}]: broadcast forward and gradient check`,
  async run(engine) {
    await gradCheck(engine, {
      name: `${op}[${a}][${b}]`,
      inputs: [
        { data: uniform(10 + i, size(a), -1, 1), shape: a },
        // Divisors kept away from 0.
        { data: uniform(50 + i, size(b), op === 'div' ? 0.5 : -1, op === 'div' ? 1.5 : 1), shape: b },
      ],
      gpu: (_e, [x, y]) => BINARY_FNS[op](x, y),
      reference: ([x, y]) => binaryRef(op, x, a, y, b),
    });
  },
}));

const UNARY_CASES: { name: string; f: (x: T) => T; ref: (x: Float64Array) => Float64Array; lo: number; hi: number }[] = [
  { name: 'scale', f: (x) => scale(x, 2.5), ref: (x) => unaryRef('affine', x, 2.5, 0), lo: -2, hi: 2 },
  { name: 'addScalar', f: (x) => addScalar(x, -0.75), ref: (x) => unaryRef('affine', x, 1, -0.75), lo: -2, hi: 2 },
  { name: 'affine', f: (x) => affine(x, -3, 0.5), ref: (x) => unaryRef('affine', x, -3, 0.5), lo: -2, hi: 2 },
  { name: 'neg', f: neg, ref: (x) => unaryRef('affine', x, -1, 0), lo: -2, hi: 2 },
  { name: 'exp', f: exp, ref: (x) => unaryRef('exp', x), lo: -3, hi: 2 },
  { name: 'log', f: log, ref: (x) => unaryRef('log', x), lo: 0.2, hi: 5 },
  // Wide range: softplus must neither overflow for large x nor lose small values for very negative x.
  { name: 'softplus', f: softplus, ref: (x) => unaryRef('softplus', x), lo: -30, hi: 30 },
  { name: 'sigmoid', f: sigmoid, ref: (x) => unaryRef('sigmoid', x), lo: -8, hi: 8 },
  { name: 'tanh', f: tanh, ref: (x) => unaryRef('tanh', x), lo: -4, hi: 4 },
  { name: 'square', f: square, ref: (x) => unaryRef('square', x), lo: -2, hi: 2 },
  // wide range: the negative tail x Φ(x) is tiny but must not round to 0 or go positive
  { name: 'gelu', f: gelu, ref: (x) => unaryRef('gelu', x), lo: -7, hi: 7 },
  { name: 'leakyRelu', f: (x) => leakyRelu(x), ref: (x) => unaryRef('leaky_relu', x, 0.1), lo: -2, hi: 2 },
  { name: 'leakyRelu slope 0.3', f: (x) => leakyRelu(x, 0.3), ref: (x) => unaryRef('leaky_relu', x, 0.3), lo: -2, hi: 2 },
  // points on both sides of both bounds (none within the finite-difference step of a kink)
  { name: 'clamp', f: (x) => clamp(x, -1, 0.5), ref: (x) => unaryRef('clamp', x, -1, 0.5), lo: -2, hi: 2 },
];

const unaryCases: GpuCase[] = UNARY_CASES.map(({ name, f, ref, lo, hi }, i) => ({
  name: `${name}: forward and gradient check`,
  async run(engine) {
    await gradCheck(engine, {
      name,
      inputs: [{ data: uniform(100 + i, 24, lo, hi), shape: [4, 6] }],
      gpu: (_e, [x]) => f(x),
      reference: ([x]) => ref(x),
    });
  },
}));

async function expectError(what: string, f: () => unknown, text: string): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e as Error).message.includes(text)) throw new Error(`${what}: wrong error: ${(e as Error).message}`);
    return;
  }
  throw new Error(`${what}: expected an error mentioning "${text}"`);
}

export const cases: GpuCase[] = [
  ...binaryCases,
  ...unaryCases,
  {
    name: 'erfc (float64, behind the GELU reference) matches known values to 1e-14; GELU tail and leaky ReLU at 0 on the GPU',
    async run(engine) {
      // erfc at points on both sides of the series / continued-fraction switch (values from the C library)
      const known: [number, number][] = [
        [-1, 1.8427007929497148],
        [0.01, 0.9887165844441503],
        [0.5, 0.4795001221869535],
        [1, 0.15729920705028513],
        [1.5, 0.033894853524689274],
        [2.9, 4.109787809945886e-5],
        [3.5, 7.430983723414128e-7],
        [5, 1.5374597944280349e-12],
        [10, 2.088487583762545e-45],
      ];
      for (const [z, v] of known) if (!(Math.abs(erfc(z) - v) <= 1e-14 * v)) throw new Error(`erfc(${z}) = ${erfc(z)}, expected ${v}`);
      // GELU(−10) = −10 Φ(−10) ≈ −7.6e-23: relative accuracy in the tail (float32 exp of an argument near −50
      // carries ~3e-6 relative error); leaky ReLU'(0) = slope (as torch)
      const x = Tensor.fromArray(engine, [-10, -5, 0, 3], [4]);
      const g = await gelu(x).readF32();
      const want = unaryRef('gelu', [-10, -5, 0, 3]);
      for (let i = 0; i < 4; i++)
        if (!(Math.abs(g[i] - want[i]) <= 1e-5 * Math.abs(want[i]))) throw new Error(`gelu(${[-10, -5, 0, 3][i]}) = ${g[i]}, expected ${want[i]}`);
      x.dispose();
      await gradCheck(engine, {
        name: 'leakyRelu at 0',
        inputs: [{ data: [0, 0.5, -0.5], shape: [3] }],
        gpu: (_e, [v]) => leakyRelu(v),
        // one-sided at 0: the left derivative (slope), what torch's backward gives there
        reference: ([v]) => Float64Array.from(v, (u, i) => (i === 0 ? 0.1 * u : u > 0 ? u : 0.1 * u)),
      });
    },
  },
  {
    name: 'broadcast gradient sums over many elements (scalar times a 1500-vector)',
    async run(engine) {
      const n = 1500;
      await gradCheck(engine, {
        name: 'mul[1][1500]',
        inputs: [
          { data: [0.7], shape: [1] },
          { data: uniform(3, n, -1, 1), shape: [n] },
        ],
        gpu: (_e, [x, y]) => mul(x, y),
        reference: ([x, y]) => binaryRef('mul', x, [1], y, [n]),
        atol: 1e-3,
      });
    },
  },
  {
    name: 'binary ops reject shapes that do not broadcast, and rank above 4',
    async run(engine) {
      const a = Tensor.zeros(engine, [3, 4]);
      const b = Tensor.zeros(engine, [3]);
      const c = Tensor.zeros(engine, [1, 1, 1, 1, 2]);
      await expectError('mismatch', () => add(a, b), 'shapes [3,4] and [3] do not broadcast');
      await expectError('rank', () => mul(c, c), 'rank above 4');
      for (const t of [a, b, c]) t.dispose();
    },
  },
];
