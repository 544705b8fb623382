/**
 * Float64 CPU side of the fixed-point finder: small dense solves, the per-subset step of the vertex
 * method (the same logic as the GPU kernel; used to re-check what the kernel flags and as a CPU
 * fallback), stability classification, and the brute-force oracles used by the tests (all 2^M
 * activity patterns for fixed points; LP-based region splitting for region counts).
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import type { Arrangement, ReluUnits } from './fp-model.js';
import { SIGN_TOL, forEachSubset, handleTie, localCones, luFactor, luSolve, maxAbs, subsetStep, unrankColex } from './fp-planes.js';

// ------------------------------------------------------------------------- region systems

/**
 * Solve the fixed-point system of the region with activity d (per hyperplane or unit):
 * (A − I + Σ d_i V_i U_iᵀ) z = Σ d_i V_i thr_i − b. Returns null when the system is singular.
 */
export function solveRegion(
  R: number,
  M: number,
  A: Float64Array,
  b: Float64Array,
  U: Float64Array,
  V: Float64Array,
  thr: Float64Array,
  active: (i: number) => boolean,
): Float64Array | null {
  const P = Float64Array.from(A);
  for (let p = 0; p < R; p++) P[p * R + p] -= 1;
  const rhs = new Float64Array(R);
  for (let p = 0; p < R; p++) rhs[p] = -b[p];
  for (let i = 0; i < M; i++) {
    if (!active(i)) continue;
    for (let p = 0; p < R; p++) {
      const v = V[i * R + p];
      if (v === 0) continue;
      rhs[p] += v * thr[i];
      for (let q = 0; q < R; q++) P[p * R + q] += v * U[i * R + q];
    }
  }
  const scale = Math.max(maxAbs(P), 1e-300);
  const perm = new Int32Array(R);
  if (luFactor(P, R, perm) <= 1e-12 * scale) return null;
  return luSolve(P, R, perm, rhs);
}

/** Does z lie in the closed region with activity d (within a relative tolerance)? */
export function inRegion(R: number, M: number, U: Float64Array, thr: Float64Array, z: Float64Array, active: (i: number) => boolean, rtol = 1e-9): boolean {
  const zs = maxAbs(z);
  for (let i = 0; i < M; i++) {
    let s = -thr[i];
    for (let q = 0; q < R; q++) s += U[i * R + q] * z[q];
    const tol = rtol * (1 + zs + Math.abs(thr[i]));
    if (active(i) ? s < -tol : s > tol) return false;
  }
  return true;
}

// ------------------------------------------------------------------------- the vertex method step

export interface SubsetOutcome {
  /** The subset's hyperplanes (with the generic directions) do not meet in a single point. */
  singular: boolean;
  /** Some other hyperplane passes through the point (a non-simple vertex). */
  degenerate: boolean;
  /** Regions whose lowest point this subset owns (1 for a simple vertex). */
  regions: number;
  regionSolves: number;
  singularSystems: number;
  /** Fixed-point candidates that passed the region check (not yet deduplicated). */
  points: Float64Array[];
}

function newOutcome(): SubsetOutcome {
  return { singular: false, degenerate: false, regions: 0, regionSolves: 0, singularSystems: 0, points: [] };
}

/** Solve the region with the given sign pattern over the planes and keep a valid fixed point. */
function solvePattern(arr: Arrangement, sign: Int8Array, out: SubsetOutcome): void {
  out.regionSolves++;
  const act = (i: number) => sign[i] > 0;
  const z = solveRegion(arr.R, arr.M, arr.A, arr.b, arr.U, arr.V, arr.thr, act);
  if (!z) {
    out.singularSystems++;
    return;
  }
  if (inRegion(arr.R, arr.M, arr.U, arr.thr, z, act)) out.points.push(z);
}

/**
 * One step of the vertex method in float64 for the k-subset S (sorted plane indices): the same
 * work as one GPU thread (fp-planes.ts explains the method), plus exact handling of non-simple
 * points. Used for the subsets the kernel flags, and subset by subset as the CPU backend.
 */
export function processSubset(arr: Arrangement, S: ArrayLike<number>): SubsetOutcome {
  const out = newOutcome();
  const step = subsetStep(arr, S);
  if (step.kind === 'singular') {
    out.singular = true;
  } else if (step.kind === 'simple') {
    out.regions = 1;
    solvePattern(arr, step.sign, out);
  } else {
    out.degenerate = true;
    out.regions = handleTie(arr, S, step, (sign) => solvePattern(arr, sign, out), 0);
  }
  return out;
}

/**
 * Planes through the origin (thr = 0), e.g. the relu(x) halves of clipped units without input, or
 * relu units without bias. When more than r of them span the space, the origin is a non-simple
 * vertex shared by C(|G0|, r) subsets: the kernel skips those and the CPU handles it once here.
 */
export function originGroup(arr: Arrangement): number[] | null {
  const g0: number[] = [];
  for (let i = 0; i < arr.M; i++) if (Math.abs(arr.thr[i]) <= SIGN_TOL) g0.push(i);
  if (g0.length <= arr.r) return null;
  const rows = new Float64Array(g0.length * arr.r);
  g0.forEach((i, n) => rows.set(arr.Ur.subarray(i * arr.r, i * arr.r + arr.r), n * arr.r));
  const basis: Float64Array[] = [];
  for (const i of g0) {
    const w = Float64Array.from(arr.Ur.subarray(i * arr.r, i * arr.r + arr.r));
    for (const b of basis) {
      let dot = 0;
      for (let q = 0; q < arr.r; q++) dot += w[q] * b[q];
      for (let q = 0; q < arr.r; q++) w[q] -= dot * b[q];
    }
    const n = Math.hypot(...w);
    if (n > 1e-9) basis.push(w.map((x) => x / n));
  }
  return basis.length === arr.r ? g0 : null;
}

/** The origin vertex of `originGroup` (level 0, lowest point in c_1): regions and their solves. */
export function processOrigin(arr: Arrangement, g0: number[]): SubsetOutcome {
  const out = newOutcome();
  out.degenerate = true;
  const fixed = new Int8Array(arr.M);
  for (let i = 0; i < arr.M; i++) fixed[i] = -arr.thr[i] > 0 ? 1 : -1;
  const L = Array.from({ length: arr.r }, (_, q) => Float64Array.from({ length: arr.r }, (_, c) => (c === q ? 1 : 0)));
  out.regions = localCones(arr, L, arr.dirs.subarray(0, arr.r), g0, fixed, (sign) => solvePattern(arr, sign, out), 0);
  return out;
}

// ------------------------------------------------------------------------- classification

export type Stability = 'stable' | 'saddle' | 'unstable';

export interface Eigenvalue {
  re: number;
  im: number;
}

/** Eigenvalues of an R×R row-major matrix, sorted by decreasing modulus. */
export function eigenvalues(J: Float64Array, R: number): Eigenvalue[] {
  const m = new Matrix(R, R);
  for (let p = 0; p < R; p++) for (let q = 0; q < R; q++) m.set(p, q, J[p * R + q]);
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: false });
  return evd.realEigenvalues.map((re, i) => ({ re, im: evd.imaginaryEigenvalues[i] })).sort((x, y) => Math.hypot(y.re, y.im) - Math.hypot(x.re, x.im));
}

/** All |λ| < 1 stable, all > 1 unstable, otherwise (mixed or marginal) saddle. */
export function classify(ev: Eigenvalue[]): Stability {
  const mods = ev.map((e) => Math.hypot(e.re, e.im));
  if (mods.every((x) => x < 1)) return 'stable';
  if (mods.every((x) => x > 1)) return 'unstable';
  return 'saddle';
}

/** Keep one of each group of points closer than rtol·(1 + |z|) (max norm). */
export function dedupPoints(points: Float64Array[], rtol = 1e-7): Float64Array[] {
  const out: Float64Array[] = [];
  for (const z of points) {
    const tol = rtol * (1 + maxAbs(z));
    if (!out.some((w) => w.every((x, q) => Math.abs(x - z[q]) <= tol))) out.push(z);
  }
  return out;
}

// ------------------------------------------------------------------------- oracles

/** Brute force over all 2^M activity patterns of the ReLU units (M ≤ 24). */
export function bruteForceFixedPoints(u: ReluUnits): Float64Array[] {
  if (u.M > 24) throw new Error(`brute force: ${u.M} units is too many (2^M patterns)`);
  const pts: Float64Array[] = [];
  for (let mask = 0; mask < 2 ** u.M; mask++) {
    const act = (i: number) => ((mask >>> i) & 1) === 1;
    const z = solveRegion(u.R, u.M, u.A, u.b, u.U, u.V, u.thr, act);
    if (z && inRegion(u.R, u.M, u.U, u.thr, z, act)) pts.push(z);
  }
  return dedupPoints(pts);
}

/**
 * Number of regions of the arrangement {U_i z = thr_i}, by splitting: a region is split by the
 * next hyperplane iff both open sides are nonempty (an LP each). Independent of the vertex method.
 */
export function bruteForceRegionCount(u: ReluUnits): number {
  const { R, M } = u;
  // A box holding the min-norm point of every flat U_S z = thr_S (|S| ≤ R, independent rows): it
  // holds every vertex of the arrangement in row-space coordinates, so every region meets it.
  let bound = 1;
  for (let k = 1; k <= R; k++) {
    forEachSubset(M, k, (S) => {
      // z = U_Sᵀ (U_S U_Sᵀ)⁻¹ thr_S
      const G = new Float64Array(k * k);
      for (let a = 0; a < k; a++) for (let c = 0; c < k; c++) for (let q = 0; q < R; q++) G[a * k + c] += u.U[S[a] * R + q] * u.U[S[c] * R + q];
      const perm = new Int32Array(k);
      if (luFactor(G, k, perm) < 1e-12 * Math.max(1, maxAbs(G))) return;
      const w = luSolve(
        G,
        k,
        perm,
        Array.from(S, (i) => u.thr[i]),
      );
      for (let q = 0; q < R; q++) {
        let z = 0;
        for (let a = 0; a < k; a++) z += u.U[S[a] * R + q] * w[a];
        bound = Math.max(bound, Math.abs(z));
      }
    });
  }
  bound = 2 * bound + 1;
  const cons: { i: number; s: number }[] = [];
  const count = (next: number): number => {
    if (next === M) return 1;
    let total = 0;
    for (const s of [1, -1]) {
      cons.push({ i: next, s });
      if (openRegionNonEmpty(u, cons, bound)) total += count(next + 1);
      cons.pop();
    }
    return total;
  };
  return count(0);
}

/** Is {z : s_i (U_i z − thr_i) > 0 for all constraints} nonempty? max t subject to s_i(…) ≥ t. */
function openRegionNonEmpty(u: ReluUnits, cons: { i: number; s: number }[], bound: number): boolean {
  const { R } = u;
  // Variables y = z + bound ∈ [0, 2 bound]^R and s = t − T ≥ 0, with T low enough that y = 0, s = 0
  // is feasible; then every row has rhs ≥ 0 and the slack basis starts the simplex.
  let T = 0;
  for (const { i } of cons) {
    let rowAbs = 0;
    for (let q = 0; q < R; q++) rowAbs += Math.abs(u.U[i * R + q]);
    T = Math.max(T, bound * rowAbs + Math.abs(u.thr[i]));
  }
  T = -T - 1;
  const rows: number[][] = [];
  const rhs: number[] = [];
  for (const { i, s } of cons) {
    const row = new Array(R + 1).fill(0);
    let sumU = 0;
    for (let q = 0; q < R; q++) {
      row[q] = -s * u.U[i * R + q];
      sumU += u.U[i * R + q];
    }
    row[R] = 1;
    rows.push(row);
    rhs.push(-s * bound * sumU - s * u.thr[i] - T);
  }
  for (let q = 0; q < R; q++) {
    const row = new Array(R + 1).fill(0);
    row[q] = 1;
    rows.push(row);
    rhs.push(2 * bound);
  }
  const row = new Array(R + 1).fill(0);
  row[R] = 1;
  rows.push(row);
  rhs.push(1 - T);
  const obj = new Array(R + 1).fill(0);
  obj[R] = 1;
  const best = simplexMax(rows, rhs, obj);
  return best + T > 1e-9 * (1 + bound);
}

/** max obj·x s.t. rows·x ≤ rhs (rhs ≥ 0), x ≥ 0; dense tableau, Bland's rule. */
function simplexMax(rows: number[][], rhs: number[], obj: number[]): number {
  const m = rows.length;
  const n = obj.length;
  const width = n + m + 1;
  const tab = rows.map((row, i) => {
    const t = new Float64Array(width);
    t.set(row);
    t[n + i] = 1;
    t[width - 1] = rhs[i];
    return t;
  });
  const z = new Float64Array(width);
  for (let c = 0; c < n; c++) z[c] = -obj[c];
  const basis = Array.from({ length: m }, (_, i) => n + i);
  for (let iter = 0; iter < 10_000; iter++) {
    let enter = -1;
    for (let c = 0; c < n + m; c++)
      if (z[c] < -1e-12) {
        enter = c;
        break;
      }
    if (enter < 0) return z[width - 1];
    let leave = -1;
    let bestRatio = Infinity;
    for (let i = 0; i < m; i++) {
      const a = tab[i][enter];
      if (a > 1e-12) {
        const ratio = tab[i][width - 1] / a;
        if (ratio < bestRatio - 1e-15 || (Math.abs(ratio - bestRatio) <= 1e-15 && basis[i] < basis[leave])) {
          bestRatio = ratio;
          leave = i;
        }
      }
    }
    if (leave < 0) return Infinity;
    const pr = tab[leave];
    const pv = pr[enter];
    for (let c = 0; c < width; c++) pr[c] /= pv;
    for (let i = 0; i < m; i++) {
      if (i === leave) continue;
      const f = tab[i][enter];
      if (f !== 0) for (let c = 0; c < width; c++) tab[i][c] -= f * pr[c];
    }
    const f = z[enter];
    for (let c = 0; c < width; c++) z[c] -= f * pr[c];
    basis[leave] = enter;
  }
  throw new Error('simplex: iteration limit');
}

// ------------------------------------------------------------------------------------ tallies

export interface Tally {
  regions: number;
  subsetSolves: number;
  regionSolves: number;
  singularSubsets: number;
  degenerateSubsets: number;
  singularSystems: number;
  rechecked: number;
  candidates: Float64Array[];
}

export function newTally(): Tally {
  return { regions: 0, subsetSolves: 0, regionSolves: 0, singularSubsets: 0, degenerateSubsets: 0, singularSystems: 0, rechecked: 0, candidates: [] };
}

export function addOutcome(t: Tally, o: SubsetOutcome): void {
  if (o.singular) {
    t.singularSubsets++;
    return;
  }
  t.subsetSolves++;
  t.regions += o.regions;
  t.regionSolves += o.regionSolves;
  t.singularSystems += o.singularSystems;
  if (o.degenerate) t.degenerateSubsets++;
  t.candidates.push(...o.points);
}

/** Re-do a subset flagged by the kernel (level k, colex rank) in float64. */
export function recheckSubset(arr: Arrangement, t: Tally, k: number, rank: number): void {
  const S = unrankColex(rank, k, arr.M);
  t.rechecked++;
  addOutcome(t, processSubset(arr, S));
}
