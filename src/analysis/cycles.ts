/**
 * Cycles of order k of a piecewise-linear low-rank RNN, by a SCYFI-style
 * search in float64 on the CPU. The map F(z) = A z + b + Σ_i V_i relu(U_i·z − thr_i) is affine inside
 * each activity pattern D: F_D(z) = J_D z + c_D with J_D = A + Σ_{i∈D} V_i U_iᵀ, c_D = b − Σ_{i∈D} V_i thr_i.
 * For a sequence of patterns D_1 … D_k a k-cycle solves one R×R system, (I − J_{D_k}⋯J_{D_1}) z_1 = c,
 * with c the composed offset. The search:
 *   1. seed the patterns from a trajectory of the map (k steps from a random start after a burn-in),
 *   2. solve for z_1, run the k affine maps, read the patterns the points actually have,
 *   3. if they equal the assumed ones the cycle is real (checked again with the true map), otherwise
 *      take the actual patterns as the next guess and repeat (SCYFI's update), up to `maxIterations`.
 * Restarts find different cycles; a heuristic, not an enumeration: `bruteForceCycles` is the complete
 * oracle for small networks (all (2^M)^k pattern sequences).
 * Reported cycles have minimal period k (cycles of a divisor of k are dropped), and each is returned once
 * (rotations of the same point sequence are merged), with the eigenvalues of the k-step Jacobian.
 */
import { mulberry32 } from '../util/random.js';
import { classify, eigenvalues, type Eigenvalue, type Stability } from './fp-cpu.js';
import { expandToReluUnits, evalMap, type PiecewiseLinearRnn, type ReluUnits } from './fp-model.js';
import { luFactor, luSolve, maxAbs } from './fp-planes.js';
import { matmul } from '../util/dense.js';

export interface Cycle {
  /** Period (minimal). */
  order: number;
  /** The k points z_1 … z_k (z_{j+1} = F(z_j), F(z_k) = z_1), starting from the lexicographically smallest. */
  points: number[][];
  stability: Stability;
  /** Eigenvalues of the k-step Jacobian J_k ⋯ J_1, by decreasing modulus. */
  eigenvalues: Eigenvalue[];
}

export interface CycleSearchOptions {
  /** Random restarts (default 200). */
  restarts?: number;
  /** SCYFI pattern updates per restart (default 50). */
  maxIterations?: number;
  /** Map steps before the k seeding steps (default 20). */
  burnIn?: number;
  /** Half-width of the box the random starts are drawn from (default: 2 · the largest |thr|, at least 1). */
  radius?: number;
  seed?: number;
}

export interface CycleSearchResult {
  order: number;
  cycles: Cycle[];
  restarts: number;
  /** Linear solves performed. */
  solves: number;
  ms: number;
}

type Pattern = Uint8Array;

function patternOf(u: ReluUnits, z: ArrayLike<number>): Pattern {
  const d = new Uint8Array(u.M);
  for (let i = 0; i < u.M; i++) {
    let x = -u.thr[i];
    for (let q = 0; q < u.R; q++) x += u.U[i * u.R + q] * z[q];
    d[i] = x > 0 ? 1 : 0;
  }
  return d;
}

/** J_D and c_D of the affine piece with activity pattern d. */
function affinePiece(u: ReluUnits, d: Pattern): { J: Float64Array; c: Float64Array } {
  const R = u.R;
  const J = Float64Array.from(u.A);
  const c = Float64Array.from(u.b);
  for (let i = 0; i < u.M; i++) {
    if (!d[i]) continue;
    for (let p = 0; p < R; p++) {
      const v = u.V[i * R + p];
      c[p] -= v * u.thr[i];
      for (let q = 0; q < R; q++) J[p * R + q] += v * u.U[i * R + q];
    }
  }
  return { J, c };
}

function apply(J: Float64Array, c: Float64Array, z: ArrayLike<number>, R: number): Float64Array {
  const out = Float64Array.from(c);
  for (let p = 0; p < R; p++) for (let q = 0; q < R; q++) out[p] += J[p * R + q] * z[q];
  return out;
}

/**
 * The cycle through the pattern sequence `ds` (assumed patterns): z_1 and the k-step Jacobian, or null
 * when I − J_k⋯J_1 is singular.
 */
function solveSequence(u: ReluUnits, ds: Pattern[]): { points: Float64Array[]; P: Float64Array } | null {
  const R = u.R;
  let P: Float64Array = new Float64Array(R * R);
  for (let p = 0; p < R; p++) P[p * R + p] = 1;
  let off: Float64Array = new Float64Array(R);
  const pieces = ds.map((d) => affinePiece(u, d));
  for (const { J, c } of pieces) {
    P = matmul(J, P, R);
    off = apply(J, c, off, R);
  }
  const M = new Float64Array(R * R);
  for (let p = 0; p < R; p++) for (let q = 0; q < R; q++) M[p * R + q] = (p === q ? 1 : 0) - P[p * R + q];
  const perm = new Int32Array(R);
  if (luFactor(M, R, perm) <= 1e-12 * Math.max(1, maxAbs(P))) return null;
  const z1 = luSolve(M, R, perm, off);
  const points = [z1];
  for (let j = 0; j + 1 < ds.length; j++) points.push(apply(pieces[j].J, pieces[j].c, points[j], R));
  return { points, P };
}

const samePattern = (a: Pattern, b: Pattern) => a.every((x, i) => x === b[i]);

/** A verified cycle of minimal period k through `points` (true-map check), or null. */
function verify(u: ReluUnits, points: Float64Array[], P: Float64Array): Cycle | null {
  const k = points.length;
  const scale = 1 + Math.max(...points.map(maxAbs));
  const tol = 1e-7 * scale;
  for (let j = 0; j < k; j++) {
    const next = evalMap(u, points[j]);
    const want = points[(j + 1) % k];
    if (!next.every((x, q) => Math.abs(x - want[q]) <= tol)) return null;
  }
  // minimal period: no earlier return to z_1
  for (let j = 1; j < k; j++) if (points[j].every((x, q) => Math.abs(x - points[0][q]) <= tol)) return null;
  // canonical rotation: start at the lexicographically smallest point
  let start = 0;
  for (let j = 1; j < k; j++) {
    for (let q = 0; q < u.R; q++) {
      const d = points[j][q] - points[start][q];
      if (Math.abs(d) > tol) {
        if (d < 0) start = j;
        break;
      }
    }
  }
  const ordered = Array.from({ length: k }, (_, j) => Array.from(points[(start + j) % k]));
  const ev = eigenvalues(P, u.R);
  return { order: k, points: ordered, stability: classify(ev), eigenvalues: ev };
}

function sameCycle(a: Cycle, b: Cycle): boolean {
  const scale = 1 + Math.max(...a.points.flat().map(Math.abs));
  return a.points.every((z, j) => z.every((x, q) => Math.abs(x - b.points[j][q]) <= 1e-6 * scale));
}

/** Search for cycles of order k of `model` (see the header). */
export function findCycles(model: PiecewiseLinearRnn | ReluUnits, k: number, options: CycleSearchOptions = {}): CycleSearchResult {
  if (!Number.isInteger(k) || k < 1) throw new Error(`cycles: the order k must be a positive integer, got ${k}`);
  const t0 = performance.now();
  const u = 'M' in model ? model : expandToReluUnits(model);
  const restarts = options.restarts ?? 200;
  const maxIterations = options.maxIterations ?? 50;
  const burnIn = options.burnIn ?? 20;
  const radius = options.radius ?? Math.max(1, 2 * maxAbs(u.thr));
  const rand = mulberry32(options.seed ?? 1);
  const cycles: Cycle[] = [];
  let solves = 0;
  for (let r = 0; r < restarts; r++) {
    let z: Float64Array = Float64Array.from({ length: u.R }, () => (2 * rand() - 1) * radius);
    for (let s = 0; s < burnIn && maxAbs(z) < 1e12; s++) z = evalMap(u, z);
    let ds: Pattern[] = [];
    for (let j = 0; j < k; j++) {
      ds.push(patternOf(u, z));
      z = evalMap(u, z);
    }
    for (let it = 0; it < maxIterations; it++) {
      solves++;
      const sol = solveSequence(u, ds);
      if (!sol) break;
      const actual = sol.points.map((p) => patternOf(u, p));
      if (actual.every((d, j) => samePattern(d, ds[j]))) {
        const c = verify(u, sol.points, sol.P);
        if (c && !cycles.some((x) => sameCycle(x, c))) cycles.push(c);
        break;
      }
      ds = actual;
    }
  }
  return { order: k, cycles, restarts, solves, ms: performance.now() - t0 };
}

/** Every cycle of minimal period k by brute force over all (2^M)^k pattern sequences (small M·k only). */
export function bruteForceCycles(model: PiecewiseLinearRnn | ReluUnits, k: number): Cycle[] {
  const u = 'M' in model ? model : expandToReluUnits(model);
  if (u.M * k > 20) throw new Error(`brute force: ${u.M} units × order ${k} is too many pattern sequences`);
  const cycles: Cycle[] = [];
  const total = 2 ** (u.M * k);
  for (let code = 0; code < total; code++) {
    const ds: Pattern[] = [];
    for (let j = 0; j < k; j++) {
      const d = new Uint8Array(u.M);
      for (let i = 0; i < u.M; i++) d[i] = Math.floor(code / 2 ** (j * u.M + i)) % 2;
      ds.push(d);
    }
    const sol = solveSequence(u, ds);
    if (!sol) continue;
    // points on a boundary may belong to either neighbouring pattern: the true-map check decides
    const c = verify(u, sol.points, sol.P);
    if (c && !cycles.some((x) => sameCycle(x, c))) cycles.push(c);
  }
  return cycles;
}
