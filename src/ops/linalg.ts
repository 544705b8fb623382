/**
 * Shape and linear-algebra ops on the tape: reshape (shares storage), sum and mean (all, or over one
 * axis), 2-D matmul with optional transposes, and the model's covariance-factor parameterisations:
 * `cholFactor` (L = strictly_lower(P) + diag(exp(diag(P)/2))) and
 * `diagExp` (L = diag(exp(scale·p)), the factor of diag(exp(p)) for log-variances p at scale ½).
 * Each op has a float64 reference next to it.
 */
import { record } from '../autodiff/tape.js';
import { Tensor, shapeSize } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { scale } from './elementwise.js';
import { encodeReduction, type ReduceOptions } from './reduce.js';
import { pack, type PackPart } from './pack.js';

const WG = 256;
const TS = 16;

function requireF32(op: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${t.describe()} must be f32, is ${t.dtype}`);
}

// ------------------------------------------------------------------ reshape

/** The same data under another shape (one dimension may be −1); shares storage with `x`. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1);
  const free = shape.length - known.length;
  if (free > 1) throw new Error(`reshape: at most one −1 in [${shape}]`);
  const rest = shapeSize(known);
  const resolved = free === 1 ? shape.map((d) => (d === -1 ? x.size / rest : d)) : [...shape];
  if (resolved.some((d) => !Number.isInteger(d)) || shapeSize(resolved) !== x.size) {
    throw new Error(`reshape: cannot reshape ${x.describe()} (${x.size} elements) to [${shape}]`);
  }
  const y = x.view(resolved, false);
  record('reshape', [x], [y], ([g]) => [g ? g.view(x.shape, false) : null]);
  return y;
}

// ------------------------------------------------------------------ weighted sum

export interface WeightedPart {
  src: Tensor;
  /** Element offset into the source (default 0). */
  srcOffset?: number;
  /** Elements summed (default: the rest of the source). */
  length?: number;
  weight: number;
}

/**
 * The scalar c + Σ_parts weight · Σ(slice of src), as one pack and one product with a constant weight
 * vector: one dispatch forward and one backward, where a chain of reductions, scalings and additions
 * takes a dozen (each costs more than its arithmetic on small tensors).
 */
export function weightedSum(engine: Engine, parts: WeightedPart[], c = 0, name = 'weighted_sum'): Tensor {
  if (parts.length === 0) throw new Error(`${name}: no parts to sum`);
  const packParts: PackPart[] = [];
  const weights: { weight: number; length: number }[] = [];
  let n = 0;
  for (const p of parts) {
    const srcOffset = p.srcOffset ?? 0;
    const length = p.length ?? p.src.size - srcOffset;
    packParts.push({ src: p.src, srcOffset, length, dstOffset: n });
    weights.push({ weight: p.weight, length });
    n += length;
  }
  if (c !== 0) {
    packParts.push({ src: Tensor.constant(engine, 'one', () => [1], [1]), dstOffset: n });
    weights.push({ weight: c, length: 1 });
    n += 1;
  }
  const w = Tensor.constant(
    engine,
    `${name}.${weights.map((x) => `${x.weight}x${x.length}`).join(',')}`,
    () => {
      const a = new Float32Array(n);
      let o = 0;
      for (const x of weights) a.fill(x.weight, o, (o += x.length));
      return a;
    },
    [n, 1],
  );
  const x = pack(engine, packParts, n, name);
  const row = reshape(x, [1, n]);
  const y = matmul(row, w);
  const out = reshape(y, []);
  // not recorded (no tape, or nothing needs a gradient): the intermediates are ours to free
  if (!x.requiresGrad) for (const t of [x, row, y]) t.dispose();
  w.dispose();
  if (c !== 0) packParts[packParts.length - 1].src.dispose();
  return out;
}

// ------------------------------------------------------------------ sum / mean

function normAxis(op: string, shape: readonly number[], axis: number): number {
  const a = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(a) || a < 0 || a >= shape.length) throw new Error(`${op}: axis ${axis} out of range for shape [${shape}]`);
  return a;
}

/**
 * Sum of all elements (shape [], or all 1s with keepDims) or over one axis (negative counts from
 * the end). The one sum op: kernels in reduce.ts / reduce.wgsl (pairwise tree sums across lanes and
 * passes, so the float32 error grows like log n); `subgroups` and `chunk` as for the other reductions.
 */
export function sum(x: Tensor, axis?: number, options: { keepDims?: boolean } & ReduceOptions = {}): Tensor {
  requireF32('sum', x);
  const engine = x.engine;
  let outer = 1;
  let L = x.size;
  let inner = 1;
  let outShape: number[];
  if (axis === undefined) {
    outShape = options.keepDims ? x.shape.map(() => 1) : [];
  } else {
    const a = normAxis('sum', x.shape, axis);
    outer = shapeSize(x.shape.slice(0, a));
    L = x.shape[a];
    inner = shapeSize(x.shape.slice(a + 1));
    outShape = options.keepDims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  }
  // An empty axis sums to 0.
  const y = L === 0 ? Tensor.zeros(engine, outShape, 'f32', 'sum') : Tensor.empty(engine, outShape, 'f32', 'sum');
  if (L > 0 && y.size > 0) encodeReduction('sum', engine, 'sum', x.buffer, { outer, len: L, inner }, options, y.buffer);
  record('sum', [x], [y], ([g]) => {
    if (!g) return [null];
    const gx = Tensor.empty(engine, x.shape, 'f32', 'sum.grad');
    // x as [1, outer, L, inner]: the gradient of each sum is copied along L.
    engine.dispatch(
      engine.kernel('linalg', 'expand', { overrides: { WG } }),
      {
        src: g,
        dst: gx,
        pe: { n: x.size, shape: [1, outer, L, inner], srcStrides: [0, inner, 0, 1] },
      },
      engine.grid(Math.max(1, x.size), WG),
    );
    return [gx];
  });
  return y;
}

/** Mean of all elements or over one axis (see `sum`). */
export function mean(x: Tensor, axis?: number, options: { keepDims?: boolean } = {}): Tensor {
  const count = axis === undefined ? x.size : x.shape[normAxis('mean', x.shape, axis)];
  if (count === 0) throw new Error(`mean: ${x.describe()} has no elements along the reduced axis`);
  const s = sum(x, axis, options);
  const m = scale(s, 1 / count);
  s.dispose();
  return m;
}

// ------------------------------------------------------------------ matmul

interface Strided {
  t: Tensor;
  row: number;
  col: number;
}

/** C[M, N] = Σ_k A(m, k) B(k, n) for strided operands. */
function matmulStrided(engine: Engine, A: Strided, B: Strided, M: number, N: number, K: number, label: string): Tensor {
  const c = Tensor.empty(engine, [M, N], 'f32', label);
  engine.dispatch(
    engine.kernel('linalg', 'matmul', { overrides: { TS } }),
    {
      a: A.t,
      b: B.t,
      dst: c,
      pm: { M, N, K, aRow: A.row, aCol: A.col, bRow: B.row, bCol: B.col },
    },
    [Math.ceil(N / TS), Math.ceil(M / TS)],
  );
  return c;
}

/** op(a) · op(b) for 2-D a, b, where op transposes when `transA` / `transB` is set (no copies made). */
export function matmul(a: Tensor, b: Tensor, options: { transA?: boolean; transB?: boolean } = {}): Tensor {
  requireF32('matmul', a);
  requireF32('matmul', b);
  if (a.shape.length !== 2 || b.shape.length !== 2) throw new Error(`matmul: operands must be 2-D, got [${a.shape}] and [${b.shape}]`);
  const ta = options.transA ?? false;
  const tb = options.transB ?? false;
  const [M, K] = ta ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [Kb, N] = tb ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (K !== Kb)
    throw new Error(
      `matmul: inner dimensions differ: op(a) is [${M}, ${K}], op(b) is [${Kb}, ${N}] (a [${a.shape}]${ta ? 'ᵀ' : ''}, b [${b.shape}]${tb ? 'ᵀ' : ''})`,
    );
  if (M * N * K === 0) throw new Error(`matmul: empty operand (a [${a.shape}], b [${b.shape}])`);
  const engine = a.engine;
  // op(a)(m, k) and op(b)(k, n) as strided reads of the stored row-major matrices.
  const opA = (t: Tensor): Strided => (ta ? { t, row: 1, col: a.shape[1] } : { t, row: a.shape[1], col: 1 });
  const opB = (t: Tensor): Strided => (tb ? { t, row: 1, col: b.shape[1] } : { t, row: b.shape[1], col: 1 });
  const c = matmulStrided(engine, opA(a), opB(b), M, N, K, 'matmul');
  const saved = [a.retain(), b.retain()];
  record(
    'matmul',
    [a, b],
    [c],
    ([g]) => {
      if (!g) return [null, null];
      const [as, bs] = saved;
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      if (a.requiresGrad) {
        const B = opB(bs);
        // d op(a) = g · op(b)ᵀ; stored transposed when transA.
        ga = ta
          ? matmulStrided(engine, { t: bs, row: B.row, col: B.col }, { t: g, row: 1, col: N }, K, M, N, 'matmul.ga')
          : matmulStrided(engine, { t: g, row: N, col: 1 }, { t: bs, row: B.col, col: B.row }, M, K, N, 'matmul.ga');
      }
      if (b.requiresGrad) {
        const A = opA(as);
        // d op(b) = op(a)ᵀ · g; stored transposed when transB.
        gb = tb
          ? matmulStrided(engine, { t: g, row: 1, col: N }, { t: as, row: A.row, col: A.col }, N, K, M, 'matmul.gb')
          : matmulStrided(engine, { t: as, row: A.col, col: A.row }, { t: g, row: N, col: 1 }, K, N, M, 'matmul.gb');
      }
      return [ga, gb];
    },
    saved,
  );
  return c;
}

// ------------------------------------------------------------------ covariance factors

function squareBlocks(op: string, P: Tensor): number {
  requireF32(op, P);
  const n = P.shape.length;
  if (n < 2 || P.shape[n - 1] !== P.shape[n - 2]) throw new Error(`${op}: expects [..., d, d], got ${P.describe()}`);
  return P.shape[n - 1];
}

/**
 * Cholesky factor from an unconstrained d×d matrix (batched over leading dims):
 * L = strictly_lower(P) + diag(exp(diag(P)/2)), so Σ = L Lᵀ; the upper triangle of P gets no gradient.
 */
export function cholFactor(P: Tensor): Tensor {
  const d = squareBlocks('cholFactor', P);
  const engine = P.engine;
  const L = Tensor.empty(engine, P.shape, 'f32', 'cholFactor');
  const pf = { n: P.size, d, scale: 0.5 };
  const grid = engine.grid(Math.max(1, P.size), WG);
  engine.dispatch(engine.kernel('linalg', 'chol_param', { overrides: { WG } }), { src: P, dst: L, pf }, grid);
  const saved = [P.retain()];
  record(
    'cholFactor',
    [P],
    [L],
    ([g]) => {
      if (!g) return [null];
      const gP = Tensor.empty(engine, P.shape, 'f32', 'cholFactor.grad');
      engine.dispatch(engine.kernel('linalg', 'chol_param_grad', { overrides: { WG } }), { src: saved[0], gy: g, dst: gP, pf }, grid);
      return [gP];
    },
    saved,
  );
  return L;
}

/**
 * Diagonal matrix diag(exp(scale · p)) from p [..., d], giving [..., d, d]. With log-variances p and
 * the default scale ½ this is the factor L of Σ = diag(exp(p)) = L Lᵀ (std on the diagonal).
 */
export function diagExp(p: Tensor, scaleFactor = 0.5): Tensor {
  requireF32('diagExp', p);
  if (p.shape.length < 1) throw new Error(`diagExp: expects [..., d], got ${p.describe()}`);
  const d = p.shape[p.shape.length - 1];
  const engine = p.engine;
  const out = Tensor.empty(engine, [...p.shape, d], 'f32', 'diagExp');
  engine.dispatch(
    engine.kernel('linalg', 'diag_exp', { overrides: { WG } }),
    { src: p, dst: out, pf: { n: out.size, d, scale: scaleFactor } },
    engine.grid(Math.max(1, out.size), WG),
  );
  const saved = [p.retain()];
  record(
    'diagExp',
    [p],
    [out],
    ([g]) => {
      if (!g) return [null];
      const gp = Tensor.empty(engine, p.shape, 'f32', 'diagExp.grad');
      engine.dispatch(
        engine.kernel('linalg', 'diag_exp_grad', { overrides: { WG } }),
        { src: saved[0], gy: g, dst: gp, pf: { n: p.size, d, scale: scaleFactor } },
        engine.grid(Math.max(1, p.size), WG),
      );
      return [gp];
    },
    saved,
  );
  return out;
}

// ------------------------------------------------------------------ float64 references

/** Sum over all elements (axis undefined) or one axis of a row-major array of `shape`. */
export function sumRef(x: ArrayLike<number>, shape: readonly number[], axis?: number): Float64Array {
  if (axis === undefined) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i];
    return Float64Array.of(s);
  }
  const a = normAxis('sumRef', shape, axis);
  const outer = shapeSize(shape.slice(0, a));
  const L = shape[a];
  const inner = shapeSize(shape.slice(a + 1));
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) for (let l = 0; l < L; l++) for (let i = 0; i < inner; i++) out[o * inner + i] += x[(o * L + l) * inner + i];
  return out;
}

export function matmulRef(
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  transA = false,
  transB = false,
): Float64Array {
  const [M, K] = transA ? [aShape[1], aShape[0]] : [aShape[0], aShape[1]];
  const N = transB ? bShape[0] : bShape[1];
  const A = (m: number, k: number) => (transA ? a[k * aShape[1] + m] : a[m * aShape[1] + k]);
  const B = (k: number, n: number) => (transB ? b[n * bShape[1] + k] : b[k * bShape[1] + n]);
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A(m, k) * B(k, n);
      c[m * N + n] = s;
    }
  return c;
}

/** cholFactor on a row-major batch of d×d blocks. */
export function cholFactorRef(P: ArrayLike<number>, d: number): Float64Array {
  return Float64Array.from(P, (v, e) => {
    const i = Math.floor(e / d) % d;
    const j = e % d;
    return i > j ? v : i === j ? Math.exp(v / 2) : 0;
  });
}

/** diagExp on a row-major batch of d-vectors: [..., d] → [..., d, d]. */
export function diagExpRef(p: ArrayLike<number>, d: number, scaleFactor = 0.5): Float64Array {
  const batch = p.length / d;
  const out = new Float64Array(batch * d * d);
  for (let b = 0; b < batch; b++) for (let i = 0; i < d; i++) out[b * d * d + i * d + i] = Math.exp(scaleFactor * p[b * d + i]);
  return out;
}
