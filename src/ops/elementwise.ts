/**
 * Elementwise ops on the tape: numpy-broadcast binary ops (add, sub, mul, div; rank ≤ 4) whose
 * backward sums over the broadcast dimensions, and unary maps (affine, exp, log, softplus, sigmoid,
 * tanh, square, clamp, and the encoder's activations GELU (erf form) and leaky ReLU). Each has a float64
 * reference (`binaryRef`, `unaryRef`) used as the test oracle.
 */
import { record } from '../autodiff/tape.js';
import { Tensor, shapeSize } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import {
  BINARY_ADD,
  BINARY_DIV,
  BINARY_MUL,
  BINARY_SUB,
  UNARY_AFFINE,
  UNARY_CLAMP,
  UNARY_EXP,
  UNARY_GELU,
  UNARY_LEAKY_RELU,
  UNARY_LOG,
  UNARY_SIGMOID,
  UNARY_SOFTPLUS,
  UNARY_SQUARE,
  UNARY_TANH,
} from '../gpu/shared-constants.js';

const WG = 256;
export const MAX_RANK = 4;

export const BINARY = { add: BINARY_ADD, sub: BINARY_SUB, mul: BINARY_MUL, div: BINARY_DIV } as const;
export type BinaryOp = keyof typeof BINARY;
export const UNARY = {
  affine: UNARY_AFFINE,
  exp: UNARY_EXP,
  log: UNARY_LOG,
  softplus: UNARY_SOFTPLUS,
  sigmoid: UNARY_SIGMOID,
  tanh: UNARY_TANH,
  square: UNARY_SQUARE,
  gelu: UNARY_GELU,
  leaky_relu: UNARY_LEAKY_RELU,
  clamp: UNARY_CLAMP,
} as const;
export type UnaryOp = keyof typeof UNARY;

// ------------------------------------------------------------------ shapes

/** numpy broadcasting of two shapes (rank ≤ 4); throws naming both shapes when incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[], what = 'broadcast'): number[] {
  if (a.length > MAX_RANK || b.length > MAX_RANK) throw new Error(`${what}: rank above ${MAX_RANK} is not supported ([${a}] and [${b}])`);
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`${what}: shapes [${a}] and [${b}] do not broadcast (dimension ${i}: ${da} vs ${db})`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Shape padded with leading 1s to rank 4. */
export function pad4(shape: readonly number[]): number[] {
  if (shape.length > MAX_RANK) throw new Error(`rank ${shape.length} above ${MAX_RANK}: [${shape}]`);
  return [...Array(MAX_RANK - shape.length).fill(1), ...shape];
}

/** Row-major strides of a padded shape. */
export function strides4(shape4: readonly number[]): number[] {
  const s = [0, 0, 0, 0];
  let acc = 1;
  for (let d = 3; d >= 0; d--) {
    s[d] = acc;
    acc *= shape4[d];
  }
  return s;
}

/** Strides of `shape` read as the broadcast `outShape`: 0 along dimensions where `shape` is 1. */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const s4 = pad4(shape);
  const o4 = pad4(outShape);
  const st = strides4(s4);
  return st.map((v, d) => (s4[d] === 1 && o4[d] !== 1 ? 0 : v));
}

// ------------------------------------------------------------------ binary

function binaryGrad(engine: Engine, op: number, which: 0 | 1, gout: Tensor, a: Tensor, b: Tensor, outShape: number[]): Tensor {
  const target = which === 0 ? a : b;
  const t4 = pad4(target.shape);
  const o4 = pad4(outShape);
  const rshape = o4.map((d, i) => (t4[i] === 1 ? d : 1));
  const g = Tensor.empty(engine, target.shape, 'f32', `${Object.keys(BINARY)[op]}.grad${which ? 'b' : 'a'}`);
  const k = engine.kernel('elementwise', 'binary_grad', { overrides: { BINARY: op, WHICH: which, WG } });
  engine.dispatch(
    k,
    {
      gy: gout,
      a,
      b,
      y: g,
      pb: {
        n: target.size,
        count: shapeSize(rshape),
        shape: o4,
        aStrides: broadcastStrides(a.shape, outShape),
        bStrides: broadcastStrides(b.shape, outShape),
        outStrides: strides4(o4),
        tshape: t4,
        rshape,
      },
    },
    engine.grid(Math.max(1, target.size), WG),
  );
  return g;
}

function binary(name: BinaryOp, a: Tensor, b: Tensor): Tensor {
  for (const [n, t] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (t.dtype !== 'f32') throw new Error(`${name}: ${n} ${t.describe()} must be f32, is ${t.dtype}`);
  }
  if (a.engine !== b.engine) throw new Error(`${name}: ${a.describe()} and ${b.describe()} live on different engines`);
  const engine = a.engine;
  const op = BINARY[name];
  const outShape = broadcastShapes(a.shape, b.shape, name);
  const out = Tensor.empty(engine, outShape, 'f32', name);
  const o4 = pad4(outShape);
  const zero4 = [0, 0, 0, 0];
  engine.dispatch(
    engine.kernel('elementwise', 'binary', { overrides: { BINARY: op, WG } }),
    {
      a,
      b,
      y: out,
      pb: {
        n: out.size,
        count: 0,
        shape: o4,
        aStrides: broadcastStrides(a.shape, outShape),
        bStrides: broadcastStrides(b.shape, outShape),
        outStrides: strides4(o4),
        tshape: zero4,
        rshape: zero4,
      },
    },
    engine.grid(Math.max(1, out.size), WG),
  );
  const saved = [a.retain(), b.retain()];
  record(
    name,
    [a, b],
    [out],
    ([g]) => {
      if (!g) return [null, null];
      const [as, bs] = saved;
      return [a.requiresGrad ? binaryGrad(engine, op, 0, g, as, bs, outShape) : null, b.requiresGrad ? binaryGrad(engine, op, 1, g, as, bs, outShape) : null];
    },
    saved,
  );
  return out;
}

/** a + b with numpy broadcasting. */
export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
/** a − b with numpy broadcasting. */
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
/** a ⊙ b with numpy broadcasting. */
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
/** a / b with numpy broadcasting. */
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);

// ------------------------------------------------------------------ unary

function unary(name: UnaryOp, x: Tensor, alpha = 0, beta = 0, label: string = name): Tensor {
  if (x.dtype !== 'f32') throw new Error(`${label}: ${x.describe()} must be f32, is ${x.dtype}`);
  const engine = x.engine;
  const overrides = { UNARY: UNARY[name], WG };
  const pu = { n: x.size, alpha, beta };
  const y = Tensor.empty(engine, x.shape, 'f32', label);
  const grid = engine.grid(Math.max(1, x.size), WG);
  engine.dispatch(engine.kernel('elementwise', 'unary', { overrides }), { x, y, pu }, grid);
  const saved = [x.retain()];
  record(
    label,
    [x],
    [y],
    ([g]) => {
      if (!g) return [null];
      const gx = Tensor.empty(engine, x.shape, 'f32', `${label}.grad`);
      engine.dispatch(engine.kernel('elementwise', 'unary_grad', { overrides }), { x: saved[0], gy: g, y: gx, pu }, grid);
      return [gx];
    },
    saved,
  );
  return y;
}

/** alpha · x */
export const scale = (x: Tensor, alpha: number): Tensor => unary('affine', x, alpha, 0, 'scale');
/** x + beta */
export const addScalar = (x: Tensor, beta: number): Tensor => unary('affine', x, 1, beta, 'addScalar');
/** alpha · x + beta */
export const affine = (x: Tensor, alpha: number, beta: number): Tensor => unary('affine', x, alpha, beta, 'affine');
/** −x */
export const neg = (x: Tensor): Tensor => unary('affine', x, -1, 0, 'neg');
export const exp = (x: Tensor): Tensor => unary('exp', x);
/** Natural log (NaN for x < 0, −∞ at 0, as in IEEE arithmetic). */
export const log = (x: Tensor): Tensor => unary('log', x);
/** log(1 + eˣ), computed without overflow. */
export const softplus = (x: Tensor): Tensor => unary('softplus', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const square = (x: Tensor): Tensor => unary('square', x);
/** GELU, exact (erf) form as torch.nn.GELU(): x Φ(x). */
export const gelu = (x: Tensor): Tensor => unary('gelu', x);
/** Leaky ReLU: x for x > 0, slope · x otherwise (derivative slope at 0, as torch). */
export const leakyRelu = (x: Tensor, slope = 0.1): Tensor => unary('leaky_relu', x, slope, 0, 'leakyRelu');
/** min(max(x, lo), hi); the gradient is zero outside [lo, hi] (as torch.clamp). */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new Error(`clamp: lower bound ${lo} is above the upper bound ${hi}`);
  return unary('clamp', x, lo, hi);
}

// ------------------------------------------------------------------ float64 references

/** Float64 reference of a broadcast binary op; returns the values in the broadcast shape (row-major). */
export function binaryRef(op: BinaryOp, a: ArrayLike<number>, aShape: readonly number[], b: ArrayLike<number>, bShape: readonly number[]): Float64Array {
  const outShape = broadcastShapes(aShape, bShape, op);
  const o4 = pad4(outShape);
  const as = broadcastStrides(aShape, outShape);
  const bs = broadcastStrides(bShape, outShape);
  const n = shapeSize(outShape);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let r = i;
    let ia = 0;
    let ib = 0;
    for (let d = 3; d >= 0; d--) {
      const k = r % o4[d];
      r = Math.floor(r / o4[d]);
      ia += k * as[d];
      ib += k * bs[d];
    }
    const u = a[ia];
    const v = b[ib];
    out[i] = op === 'add' ? u + v : op === 'sub' ? u - v : op === 'mul' ? u * v : u / v;
  }
  return out;
}

/**
 * erfc(z) in float64 (relative error ~1e-15): the all-positive series of erf for z < 1.5, the continued
 * fraction of erfc beyond (no cancellation in either).
 */
export function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 1.5) {
    // erf z = 2/√π e^{−z²} Σ_n 2^n z^{2n+1} / (1·3···(2n+1))
    let term = z;
    let sum = z;
    for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
      term *= (2 * z * z) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
  }
  // erfc z = e^{−z²}/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))), evaluated from the tail
  let f = z;
  for (let n = 100; n >= 1; n--) f = z + n / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

/** Standard normal CDF Φ(x) = erfc(−x/√2)/2 in float64. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Float64 reference of a unary op (alpha, beta only for 'affine'; alpha is the slope of 'leaky_relu'). */
export function unaryRef(op: UnaryOp, x: ArrayLike<number>, alpha = 1, beta = 0): Float64Array {
  const f: (v: number) => number = {
    affine: (v: number) => alpha * v + beta,
    exp: Math.exp,
    log: Math.log,
    softplus: (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))),
    sigmoid: (v: number) => 1 / (1 + Math.exp(-v)),
    tanh: Math.tanh,
    square: (v: number) => v * v,
    gelu: (v: number) => v * normalCdf(v),
    leaky_relu: (v: number) => (v > 0 ? v : alpha * v),
    clamp: (v: number) => Math.min(Math.max(v, alpha), beta),
  }[op];
  return Float64Array.from(x, f);
}
