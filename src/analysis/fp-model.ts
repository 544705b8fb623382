/**
 * Piecewise-linear low-rank RNN latent maps for the fixed-point finder: the public description,
 * conversions (teacher files, fitted-model parameters), expansion into plain ReLU units, and the
 * reduction to an arrangement of distinct, normalised hyperplanes that the vertex method runs on.
 *
 * Map (the one the reference's analytic finder assumes, with a constant input current c held fixed):
 *   relu:          z ↦ a⊙z + V relu(U z + c − h) − hz
 *   clipped_relu:  z ↦ a⊙z + V φ(U z + c; h) − hz,  φ(x; h) = relu(x + h) − relu(x)
 * U is N×R (row i = unit i's loading), V is R×N. A clipped unit is written as two ReLU units.
 */
import { reducePlanes, type Planes } from './fp-planes.js';

export type PwlNonlinearity = 'relu' | 'clipped_relu';

/** Generic in-memory description of a piecewise-linear low-rank RNN latent map. */
export interface PiecewiseLinearRnn {
  R: number;
  N: number;
  /** Decay: scalar or R-vector (the linear part is diag(a)). */
  a: number | ArrayLike<number>;
  /** N×R, row-major. */
  U: ArrayLike<number>;
  /** R×N, row-major. */
  V: ArrayLike<number>;
  /** N unit thresholds (relu) or clip levels (clipped_relu). */
  h: ArrayLike<number>;
  /** Latent bias subtracted from the map (R), default 0. */
  hz?: ArrayLike<number>;
  nonlinearity: PwlNonlinearity;
  /** Constant input current added to U z (N), default 0. */
  c?: ArrayLike<number>;
}

/** The map as a sum of plain ReLU units: z ↦ A z + b + Σ_i V_i relu(U_i·z − thr_i). */
export interface ReluUnits {
  R: number;
  /** Number of ReLU units. */
  M: number;
  /** M×R row-major: U_i. */
  U: Float64Array;
  /** M×R row-major: column i of V, stored per unit. */
  V: Float64Array;
  thr: Float64Array;
  /** R×R row-major. */
  A: Float64Array;
  b: Float64Array;
}

/**
 * The hyperplane arrangement the vertex method enumerates, with the same map re-expressed on it:
 * zero rows folded into b, rows normalised (‖Ur_i‖ = 1, with V_i rescaled so the map is unchanged),
 * identical or opposite hyperplanes merged (relu(−x) = relu(x) − x moves a linear term into A, b),
 * and coordinates reduced to the r-dimensional row space of U when U is rank deficient.
 */
export interface Arrangement extends Planes {
  /** Latent dimension of the map. */
  R: number;
  /** M×R: normals in latent coordinates (Ur_i = U_i Q). */
  U: Float64Array;
  /** M×R: V columns per hyperplane. */
  V: Float64Array;
  /** R×R and R: the linear part and offset of the map after merging. */
  A: Float64Array;
  b: Float64Array;
  /** ReLU units dropped as zero rows, and merged into another unit's hyperplane. */
  zeroRows: number;
  mergedRows: number;
}

function vec(name: string, v: ArrayLike<number> | undefined, n: number, fill = 0): Float64Array {
  if (v === undefined) return new Float64Array(n).fill(fill);
  if (v.length !== n) throw new Error(`fixed points: field "${name}" has length ${v.length}, expected ${n}`);
  const out = Float64Array.from(v);
  const bad = out.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new Error(`fixed points: field "${name}"[${bad}] is ${out[bad]}, not a finite number`);
  return out;
}

/** Validate a description and write it as ReLU units. */
export function expandToReluUnits(model: PiecewiseLinearRnn): ReluUnits {
  const { R, N } = model;
  if (!Number.isInteger(R) || R < 1) throw new Error(`fixed points: R = ${R} must be a positive integer`);
  if (!Number.isInteger(N) || N < 0) throw new Error(`fixed points: N = ${N} must be a non-negative integer`);
  if (model.nonlinearity !== 'relu' && model.nonlinearity !== 'clipped_relu') {
    throw new Error(`fixed points: nonlinearity "${String(model.nonlinearity)}" is not piecewise linear here (use relu or clipped_relu)`);
  }
  if (typeof model.a === 'number' && !Number.isFinite(model.a)) throw new Error(`fixed points: field "a" is ${model.a}, not a finite number`);
  const U = vec('U', model.U, N * R);
  const V = vec('V', model.V, R * N);
  const h = vec('h', model.h, N);
  const hz = vec('hz', model.hz, R);
  const c = vec('c', model.c, N);
  const a = typeof model.a === 'number' ? vec('a', undefined, R, model.a) : vec('a', model.a, R);
  const clipped = model.nonlinearity === 'clipped_relu';
  const M = clipped ? 2 * N : N;
  const out: ReluUnits = {
    R,
    M,
    U: new Float64Array(M * R),
    V: new Float64Array(M * R),
    thr: new Float64Array(M),
    A: new Float64Array(R * R),
    b: new Float64Array(R),
  };
  for (let p = 0; p < R; p++) {
    out.A[p * R + p] = a[p];
    out.b[p] = -hz[p];
  }
  for (let i = 0; i < N; i++) {
    for (let q = 0; q < R; q++) out.U[i * R + q] = U[i * R + q];
    for (let p = 0; p < R; p++) out.V[i * R + p] = V[p * N + i];
    if (!clipped) {
      out.thr[i] = h[i] - c[i];
    } else {
      // relu(x + h) − relu(x) with x = U z + c: thresholds −h − c (weight +V) and −c (weight −V).
      out.thr[i] = -h[i] - c[i];
      const j = N + i;
      for (let q = 0; q < R; q++) out.U[j * R + q] = U[i * R + q];
      for (let p = 0; p < R; p++) out.V[j * R + p] = -V[p * N + i];
      out.thr[j] = -c[i];
    }
  }
  return out;
}

export interface PrunedRnn {
  model: PiecewiseLinearRnn;
  /** Units kept, of the original N. */
  kept: number;
  /**
   * Σ of the dropped units' largest contributions ‖V_i‖·|h_i|: the pruned map differs from the
   * original by at most this (Euclidean norm), everywhere.
   */
  bound: number;
}

/**
 * Drop the clipped-relu units whose contribution to the map can never exceed `eps`: unit i adds
 * V_i φ(x; h_i) with φ between 0 and h_i, so at most ‖V_i‖·|h_i|. Fitted models leave many units
 * unused (V_i and h_i both near 0); their two planes nearly coincide and nearly pass through the
 * origin, so they multiply the regions and defeat float32 without moving any fixed point by more
 * than the bound over the map's contraction. A relu unit's contribution is unbounded: not pruned.
 */
export function pruneUnits(model: PiecewiseLinearRnn, eps: number): PrunedRnn {
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`fixed points: the pruning threshold must be a finite number ≥ 0, got ${eps}`);
  if (model.nonlinearity !== 'clipped_relu') {
    throw new Error(`fixed points: pruning needs clipped relu units (a ${model.nonlinearity} unit's contribution is unbounded)`);
  }
  const { R, N } = model;
  const U = vec('U', model.U, N * R);
  const V = vec('V', model.V, R * N);
  const h = vec('h', model.h, N);
  const keep: number[] = [];
  let bound = 0;
  for (let i = 0; i < N; i++) {
    let norm = 0;
    for (let p = 0; p < R; p++) norm += V[p * N + i] ** 2;
    const reach = Math.sqrt(norm) * Math.abs(h[i]);
    if (reach < eps) bound += reach;
    else keep.push(i);
  }
  const K = keep.length;
  const c = model.c === undefined ? undefined : vec('c', model.c, N);
  const pruned: PiecewiseLinearRnn = {
    ...model,
    N: K,
    U: keep.flatMap((i) => Array.from(U.subarray(i * R, i * R + R))),
    V: Array.from({ length: R * K }, (_, x) => V[Math.floor(x / K) * N + keep[x % K]]),
    h: keep.map((i) => h[i]),
    c: c && keep.map((i) => c[i]),
  };
  return { model: pruned, kept: K, bound };
}

/** Evaluate the map in float64: F(z) = A z + b + Σ V_i relu(U_i z − thr_i). */
export function evalMap(u: ReluUnits, z: ArrayLike<number>): Float64Array {
  const R = u.R;
  const out = new Float64Array(R);
  for (let p = 0; p < R; p++) {
    let s = u.b[p];
    for (let q = 0; q < R; q++) s += u.A[p * R + q] * z[q];
    out[p] = s;
  }
  for (let i = 0; i < u.M; i++) {
    let x = -u.thr[i];
    for (let q = 0; q < R; q++) x += u.U[i * R + q] * z[q];
    if (x > 0) for (let p = 0; p < R; p++) out[p] += u.V[i * R + p] * x;
  }
  return out;
}

/** Jacobian A + Σ_{active} V_i U_iᵀ at z (units exactly on their hyperplane count as inactive). */
export function jacobianAt(u: ReluUnits, z: ArrayLike<number>): Float64Array {
  const R = u.R;
  const J = Float64Array.from(u.A);
  for (let i = 0; i < u.M; i++) {
    let x = -u.thr[i];
    for (let q = 0; q < R; q++) x += u.U[i * R + q] * z[q];
    if (x > 0) for (let p = 0; p < R; p++) for (let q = 0; q < R; q++) J[p * R + q] += u.V[i * R + p] * u.U[i * R + q];
  }
  return J;
}

/** Build the arrangement (see Arrangement). `seed` fixes the generic directions. */
export function buildArrangement(units: ReluUnits, seed = 0x5eed): Arrangement {
  const { R, M } = units;
  const red = reducePlanes(units.U, units.thr, M, R, seed);
  const pl = red.planes;
  const A = Float64Array.from(units.A);
  const b = Float64Array.from(units.b);
  const U = new Float64Array(pl.M * R);
  const V = new Float64Array(pl.M * R);
  const owner = new Int32Array(pl.M).fill(-1);
  let zeroRows = 0;
  for (let i = 0; i < M; i++) {
    const j = red.rep[i];
    if (j < 0) {
      // A zero row never switches: its unit is constantly relu(−thr).
      zeroRows++;
      const y = Math.max(-units.thr[i], 0);
      for (let p = 0; p < R; p++) b[p] += units.V[i * R + p] * y;
      continue;
    }
    const s = red.scale[i];
    if (owner[j] < 0) {
      owner[j] = i;
      for (let q = 0; q < R; q++) U[j * R + q] = units.U[i * R + q] / s;
    }
    // V_i relu(U_i z − thr_i) = s V_i relu(±(Û_j z − t̂_j)), and relu(−x) = relu(x) − x.
    for (let p = 0; p < R; p++) {
      const v = s * units.V[i * R + p];
      V[j * R + p] += v;
      if (red.orient[i] < 0) {
        for (let q = 0; q < R; q++) A[p * R + q] -= v * U[j * R + q];
        b[p] += v * pl.thr[j];
      }
    }
  }
  return { ...pl, R, U, V, A, b, zeroRows, mergedRows: M - zeroRows - pl.M };
}

// ------------------------------------------------------------------------------- sources

/** A teacher RNN file (the format of the reference's teacher_reach_rank2.json). */
export interface TeacherFile {
  N: number;
  R: number;
  alpha: number;
  m: number[][];
  n: number[][];
  b_rec: number[];
  nonlinearity: string;
  w_inp?: number[][];
  w_inp_scale?: number;
}

export function isTeacherFile(x: unknown): x is TeacherFile {
  return typeof x === 'object' && x !== null && 'alpha' in x && 'm' in x && 'n' in x && 'b_rec' in x;
}

function matrix(name: string, x: unknown, rows: number, cols: number): number[][] {
  if (!Array.isArray(x) || x.length !== rows || x.some((r) => !Array.isArray(r) || r.length !== cols)) {
    throw new Error(`teacher file: field "${name}" must be a ${rows}×${cols} array`);
  }
  return x as number[][];
}

/**
 * Teacher latent map: V = n·α/N, U = m, a = 1 − α, h = −b_rec. The file's `n` is R×N and
 * `m` is N×R. A constant input u enters as the steady-state input current c = w_inp_scale·w_inpᵀu
 * (the teacher's x[t] low-pass filters its input with the same α, so it settles there).
 */
export function teacherToRnn(t: TeacherFile, inputs?: ArrayLike<number>): PiecewiseLinearRnn {
  const { N, R, alpha } = t;
  if (!Number.isInteger(N) || !Number.isInteger(R) || N < 1 || R < 1) throw new Error(`teacher file: N = ${N}, R = ${R} must be positive integers`);
  if (!(typeof alpha === 'number' && alpha > 0 && alpha <= 1)) throw new Error(`teacher file: alpha = ${alpha} must lie in (0, 1]`);
  if (t.nonlinearity !== 'relu') throw new Error(`teacher file: nonlinearity "${t.nonlinearity}" is not supported (relu only)`);
  const m = matrix('m', t.m, N, R);
  const n = matrix('n', t.n, R, N);
  if (!Array.isArray(t.b_rec) || t.b_rec.length !== N) throw new Error(`teacher file: field "b_rec" must have length ${N}`);
  let c: Float64Array | undefined;
  if (inputs && inputs.length > 0) {
    if (!t.w_inp) throw new Error('teacher file: inputs given but the file has no "w_inp"');
    const du = t.w_inp.length;
    const w = matrix('w_inp', t.w_inp, du, N);
    if (inputs.length !== du) throw new Error(`teacher file: the inputs have ${inputs.length} values, the teacher has ${du} inputs`);
    const scale = t.w_inp_scale ?? 1;
    c = new Float64Array(N);
    for (let i = 0; i < N; i++) for (let d = 0; d < du; d++) c[i] += scale * w[d][i] * inputs[d];
  }
  return {
    R,
    N,
    a: 1 - alpha,
    U: m.flat(),
    V: n.flat().map((x) => (x * alpha) / N),
    h: t.b_rec.map((x) => -x),
    nonlinearity: 'relu',
    c,
  };
}

/** Parameters of a fitted low-rank model (the model's transition is z' = a z + n φ(m z + Wu v; h)). */
export interface LowRankModelParams {
  N: number;
  R: number;
  /** N×R row-major. */
  m: ArrayLike<number>;
  /** R×N row-major. */
  n: ArrayLike<number>;
  h: ArrayLike<number>;
  /** Decay a (scalar, shared by all latent dims). */
  a: number;
  nonlinearity: PwlNonlinearity;
  /** N×du row-major input weights, needed with `inputs`. */
  Wu?: ArrayLike<number>;
}

/**
 * The fitted model's latent map with constant inputs u held fixed: the filtered input v settles at
 * u, so the input current is c = Wu u. φ is relu(x − h) or relu(x + h) − relu(x) (clipped).
 */
export function lowRankModelToRnn(p: LowRankModelParams, inputs?: ArrayLike<number>): PiecewiseLinearRnn {
  let c: Float64Array | undefined;
  if (inputs && inputs.length > 0) {
    if (!p.Wu) throw new Error('fixed points: inputs given but the model has no input weights Wu');
    const du = inputs.length;
    if (p.Wu.length !== p.N * du) throw new Error(`fixed points: Wu has ${p.Wu.length} entries, expected N×du = ${p.N}×${du}`);
    c = new Float64Array(p.N);
    for (let i = 0; i < p.N; i++) for (let d = 0; d < du; d++) c[i] += p.Wu[i * du + d] * inputs[d];
  }
  return { R: p.R, N: p.N, a: p.a, U: p.m, V: p.n, h: p.h, nonlinearity: p.nonlinearity, c };
}
