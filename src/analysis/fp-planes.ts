/**
 * Hyperplane arrangements for the fixed-point finder, in float64: reduction to distinct normalised
 * hyperplanes, the per-subset step of the vertex method, and an exact region enumerator that also
 * handles non-simple vertices (more hyperplanes through a point than the dimension) by recursion.
 *
 * Counting idea (see also fixed-points.ts). Fix generic directions c_1..c_r. Every region has a
 * unique lexicographically lowest "vertex": a true vertex if it is bounded below in c_1, otherwise a
 * vertex of the arrangement sliced at c_1 → −∞ (lowest in c_2 there), and so on. For a k-subset S
 * (k = r − j) the point z(t) with Ur_S z = thr_S, c_l·z = t_l (l ≤ j, t_1 ≪ … ≪ t_j → −∞) is such a
 * vertex. If it is simple (no other hyperplane through it), exactly one of its 2^k cones has it as
 * lowest point in c_{j+1}: the cone whose dual contains c_{j+1}, σ = sign(y), [Ur_S; c_1..c_j]ᵀ y =
 * c_{j+1}. If it is not simple, the subsets of its through-set T all reach it; only the greedy basis
 * of T (in index order) handles it, and the cones of the central arrangement T lying in {c·x > 0}
 * number r(T ∩ {c·x = 1}) − r(T ∩ {c·x = 0}) (cones meeting both slices meet c·x = 0): two
 * arrangements one dimension lower, enumerated by the same method.
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { transpose } from '../util/dense.js';
import { normalSampler } from '../util/random.js';

/** Distinct hyperplanes {Ur_i·z = thr_i} in r dimensions with unit normals. */
export interface Planes {
  r: number;
  M: number;
  /** M×r, unit rows. */
  Ur: Float64Array;
  thr: Float64Array;
  /** Parallel-class id (equal ⇔ parallel normals). */
  cls: Int32Array;
  /** r×r: generic unit directions c_1..c_r (rows). */
  dirs: Float64Array;
}

export interface Reduction {
  planes: Planes;
  /** Per input row: its plane, or −1 for a zero row. */
  rep: Int32Array;
  /** Per input row: +1 if its normalised row equals its plane's, −1 if opposite. */
  orient: Int8Array;
  /** Per input row: the norm divided out (in row-space coordinates). */
  scale: Float64Array;
  /** Per zero row: sign of −offset (−1 when the row is zero everywhere). */
  constSign: Int8Array;
  /** d×r orthonormal basis of the row space when rank-deficient (null: identity). */
  Q: Float64Array | null;
}

export const PIVOT_TOL = 1e-10;
export const SIGN_TOL = 1e-11;
const ZERO_ROW = 1e-12;
const SAME_PLANE = 1e-12;

/** Reduce m rows (normals m×d, offsets) to distinct unit-normal hyperplanes in their row space. */
export function reducePlanes(normals: Float64Array, offsets: Float64Array, m: number, d: number, seed: number): Reduction {
  let maxNorm = 0;
  const norms = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let q = 0; q < d; q++) s += normals[i * d + q] ** 2;
    norms[i] = Math.sqrt(s);
    maxNorm = Math.max(maxNorm, norms[i]);
  }
  const rep = new Int32Array(m).fill(-1);
  const orient = new Int8Array(m);
  const scale = new Float64Array(m);
  const constSign = new Int8Array(m);
  const live: number[] = [];
  for (let i = 0; i < m; i++) {
    if (norms[i] <= ZERO_ROW * Math.max(1, maxNorm)) constSign[i] = -offsets[i] > 0 ? 1 : -1;
    else live.push(i);
  }
  let r = 0;
  let Q: Float64Array | null = null;
  if (live.length > 0) {
    const svd = new SingularValueDecomposition(new Matrix(live.map((i) => Array.from(normals.subarray(i * d, i * d + d)))), { autoTranspose: true });
    const s = svd.diagonal;
    const smax = Math.max(...s);
    r = s.filter((x) => x > 1e-10 * smax).length;
    if (r < d) {
      const W = svd.rightSingularVectors;
      const order = s
        .map((x, k) => [x, k] as const)
        .sort((p, q) => q[0] - p[0])
        .slice(0, r)
        .map((e) => e[1]);
      Q = new Float64Array(d * r);
      for (let q = 0; q < d; q++) for (let k = 0; k < r; k++) Q[q * r + k] = W.get(q, order[k]);
    }
  }
  const rows: Float64Array[] = [];
  const offs: number[] = [];
  const canonDir: Float64Array[] = [];
  const canonOff: number[] = [];
  const canonSign: number[] = [];
  for (const i of live) {
    const x = normals.subarray(i * d, i * d + d);
    const ur = new Float64Array(r);
    if (Q) for (let k = 0; k < r; k++) for (let q = 0; q < d; q++) ur[k] += x[q] * Q[q * r + k];
    else ur.set(x);
    const s = Math.hypot(...ur);
    for (let k = 0; k < r; k++) ur[k] /= s;
    const off = offsets[i] / s;
    const lead = ur.findIndex((v) => Math.abs(v) > 1e-9);
    const sign = ur[lead] > 0 ? 1 : -1;
    const dir = ur.map((v) => v * sign);
    scale[i] = s;
    let j = -1;
    for (let c = 0; c < canonDir.length; c++) {
      if (Math.abs(canonOff[c] - off * sign) <= SAME_PLANE * (1 + Math.abs(off)) && maxAbsDiff(canonDir[c], dir) <= SAME_PLANE) {
        j = c;
        break;
      }
    }
    if (j < 0) {
      j = rows.length;
      rows.push(ur);
      offs.push(off);
      canonDir.push(dir);
      canonOff.push(off * sign);
      canonSign.push(sign);
    }
    rep[i] = j;
    orient[i] = sign === canonSign[j] ? 1 : -1;
  }
  const M = rows.length;
  const cls = new Int32Array(M).fill(-1);
  let next = 0;
  for (let i = 0; i < M; i++) {
    if (cls[i] >= 0) continue;
    cls[i] = next;
    for (let j = i + 1; j < M; j++) if (cls[j] < 0 && maxAbsDiff(canonDir[i], canonDir[j]) <= SAME_PLANE) cls[j] = next;
    next++;
  }
  const Ur = new Float64Array(M * r);
  rows.forEach((row, i) => Ur.set(row, i * r));
  return { planes: { r, M, Ur, thr: Float64Array.from(offs), cls, dirs: genericDirections(r, seed) }, rep, orient, scale, constSign, Q };
}

/** r random unit vectors (fixed seed): generic with probability one. */
export function genericDirections(r: number, seed: number): Float64Array {
  const rand = normalSampler(seed, { pairs: false });
  const out = new Float64Array(r * r);
  for (let l = 0; l < r; l++) {
    let n = 0;
    for (let k = 0; k < r; k++) {
      const g = rand.normal();
      out[l * r + k] = g;
      n += g * g;
    }
    n = Math.sqrt(n);
    for (let k = 0; k < r; k++) out[l * r + k] /= n;
  }
  return out;
}

// ------------------------------------------------------------------------- the subset step

export type Step =
  | { kind: 'singular' }
  /** sign: ±1 per plane, the canonical region's pattern. */
  | { kind: 'simple'; sign: Int8Array }
  /** sign: ±1 for planes off the point (0 for S and ties); ties: other planes through the point. */
  | { kind: 'tie'; sign: Int8Array; ties: number[] };

/** The vertex-method step for the k-subset S (sorted plane indices) at level j = r − k. */
export function subsetStep(p: Planes, S: ArrayLike<number>): Step {
  const { r, M } = p;
  const k = S.length;
  const j = r - k;
  const inS = new Uint8Array(M);
  const sClasses = new Set<number>();
  for (let a = 0; a < k; a++) {
    inS[S[a]] = 1;
    if (sClasses.has(p.cls[S[a]])) return { kind: 'singular' };
    sClasses.add(p.cls[S[a]]);
  }
  const B = new Float64Array(r * r);
  for (let a = 0; a < k; a++) B.set(p.Ur.subarray(S[a] * r, S[a] * r + r), a * r);
  for (let l = 0; l < j; l++) B.set(p.dirs.subarray(l * r, l * r + r), (k + l) * r);
  const Bt = transpose(B, r);
  const perm = new Int32Array(r);
  if (luFactor(B, r, perm) < PIVOT_TOL) return { kind: 'singular' };
  const rhs = new Float64Array(r);
  for (let a = 0; a < k; a++) rhs[a] = p.thr[S[a]];
  const z0 = luSolve(B, r, perm, rhs);
  const e: Float64Array[] = [];
  for (let l = 0; l < j; l++) {
    const unit = new Float64Array(r);
    unit[k + l] = 1;
    e.push(luSolve(B, r, perm, unit));
  }
  const sign = new Int8Array(M);
  const z0s = maxAbs(z0);
  const ties: number[] = [];
  for (let i = 0; i < M; i++) {
    if (inS[i]) continue;
    let s = 0;
    // Planes parallel to a member of S are parallel to the whole flat: only the constant decides.
    if (!sClasses.has(p.cls[i])) {
      for (let l = 0; l < j && s === 0; l++) {
        let g = 0;
        for (let q = 0; q < r; q++) g += p.Ur[i * r + q] * e[l][q];
        if (Math.abs(g) > SIGN_TOL * (1 + maxAbs(e[l]))) s = g > 0 ? -1 : 1; // t_l → −∞
      }
    }
    if (s === 0) {
      let v0 = -p.thr[i];
      for (let q = 0; q < r; q++) v0 += p.Ur[i * r + q] * z0[q];
      if (Math.abs(v0) > SIGN_TOL * (1 + z0s + Math.abs(p.thr[i]))) s = v0 > 0 ? 1 : -1;
    }
    if (s === 0) ties.push(i);
    sign[i] = s;
  }
  if (ties.length > 0) return { kind: 'tie', sign, ties };
  if (k > 0) {
    const permT = new Int32Array(r);
    luFactor(Bt, r, permT);
    const y = luSolve(Bt, r, permT, p.dirs.subarray(j * r, j * r + r));
    for (let a = 0; a < k; a++) sign[S[a]] = y[a] >= 0 ? 1 : -1;
  }
  return { kind: 'simple', sign };
}

/**
 * A non-simple point reached from S: if S is the greedy basis of S ∪ ties (index order, after
 * c_1..c_j), enumerate the cones there that have the point as lowest point in c_{j+1} and return
 * their number; `visit` sees every such region at least once (it may also see a few regions that
 * have their lowest point elsewhere). Other subsets of the same point return 0.
 */
export function handleTie(
  p: Planes,
  S: ArrayLike<number>,
  step: { sign: Int8Array; ties: number[] },
  visit: ((sign: Int8Array) => void) | null,
  depth: number,
): number {
  const { r } = p;
  const k = S.length;
  const j = r - k;
  const all = [...Array.from(S), ...step.ties].sort((x, y) => x - y);
  const basis: Float64Array[] = [];
  for (let l = 0; l < j; l++) addIfIndependent(basis, p.dirs.subarray(l * r, l * r + r));
  const greedy: number[] = [];
  for (const i of all) if (addIfIndependent(basis, p.Ur.subarray(i * r, i * r + r))) greedy.push(i);
  const sSorted = Array.from(S).sort((x, y) => x - y);
  if (greedy.length !== k || greedy.some((g, a) => g !== sSorted[a])) return 0;
  // Orthonormal basis of L = {x : c_1·x = … = c_j·x = 0}: the slice the point lives in.
  const cs: Float64Array[] = [];
  for (let l = 0; l < j; l++) addIfIndependent(cs, p.dirs.subarray(l * r, l * r + r));
  const L: Float64Array[] = [];
  for (let q = 0; q < r && L.length < k; q++) {
    const unit = new Float64Array(r);
    unit[q] = 1;
    const both = [...cs, ...L];
    if (addIfIndependent(both, unit)) L.push(both[both.length - 1]);
  }
  return localCones(p, L, p.dirs.subarray(j * r, j * r + r), all, step.sign, visit, depth);
}

/**
 * Cones at a point with through-set `all`, inside the subspace spanned by L (orthonormal, k
 * vectors), that lie in {c·x > 0}: r(slice c·x = 1) − r(slice c·x = 0).
 */
export function localCones(
  p: Planes,
  L: Float64Array[],
  c: ArrayLike<number>,
  all: number[],
  fixedSign: Int8Array,
  visit: ((sign: Int8Array) => void) | null,
  depth: number,
): number {
  const { r } = p;
  const k = L.length;
  const m = all.length;
  const a = new Float64Array(m * k);
  all.forEach((i, n) => {
    for (let b = 0; b < k; b++) {
      let s = 0;
      for (let q = 0; q < r; q++) s += p.Ur[i * r + q] * L[b][q];
      a[n * k + b] = s;
    }
  });
  const cl = new Float64Array(k);
  for (let b = 0; b < k; b++) for (let q = 0; q < r; q++) cl[b] += c[q] * L[b][q];
  const cn = Math.hypot(...cl);
  for (let b = 0; b < k; b++) cl[b] /= cn;
  const emit = (signAll: (n: number) => number) => {
    if (!visit) return;
    const sign = Int8Array.from(fixedSign);
    all.forEach((i, n) => (sign[i] = signAll(n)));
    visit(sign);
  };
  if (k === 1) {
    // A line: the ray along +c is the one cone with the point as its lowest point.
    emit((n) => (a[n] * cl[0] > 0 ? 1 : -1));
    return 1;
  }
  // Coordinates on c⊥ (k − 1 vectors) inside R^k.
  const perp: Float64Array[] = [cl];
  for (let q = 0; q < k && perp.length < k; q++) {
    const unit = new Float64Array(k);
    unit[q] = 1;
    addIfIndependent(perp, unit);
  }
  const P = perp.slice(1);
  const d = k - 1;
  const normals = new Float64Array(m * d);
  const affOff = new Float64Array(m);
  for (let n = 0; n < m; n++) {
    let ac = 0;
    for (let b = 0; b < k; b++) ac += a[n * k + b] * cl[b];
    affOff[n] = -ac;
    for (let e = 0; e < d; e++) {
      let s = 0;
      for (let b = 0; b < k; b++) s += a[n * k + b] * P[e][b];
      normals[n * d + e] = s;
    }
  }
  const inner = visit ? (s: Int8Array) => emit((n) => s[n]) : null;
  const above = enumerateRegions(normals, affOff, m, d, inner, depth + 1);
  const through = enumerateRegions(normals, new Float64Array(m), m, d, null, depth + 1);
  return above - through;
}

/** Gram–Schmidt: append v (orthonormalised) if independent of `basis`. */
function addIfIndependent(basis: Float64Array[], v: ArrayLike<number>): boolean {
  const w = Float64Array.from(v);
  const n0 = Math.hypot(...w);
  for (let pass = 0; pass < 2; pass++) {
    for (const b of basis) {
      let dot = 0;
      for (let q = 0; q < w.length; q++) dot += w[q] * b[q];
      for (let q = 0; q < w.length; q++) w[q] -= dot * b[q];
    }
  }
  const n = Math.hypot(...w);
  if (n <= 1e-9 * Math.max(n0, 1e-300)) return false;
  for (let q = 0; q < w.length; q++) w[q] /= n;
  basis.push(w);
  return true;
}

/** Exact number of regions of the planes; `visit` sees every region at least once. */
export function enumeratePlanes(p: Planes, visit: ((sign: Int8Array) => void) | null, depth: number): number {
  let count = 0;
  for (let k = p.r; k >= 0; k--) {
    forEachSubset(p.M, k, (S) => {
      const step = subsetStep(p, S);
      if (step.kind === 'simple') {
        count++;
        visit?.(step.sign);
      } else if (step.kind === 'tie') count += handleTie(p, S, step, visit, depth);
    });
  }
  return count;
}

/** Regions of the arrangement {normals_i·w = offsets_i} (m rows in d dims); visit gets ±1 per row. */
export function enumerateRegions(
  normals: Float64Array,
  offsets: Float64Array,
  m: number,
  d: number,
  visit: ((sign: Int8Array) => void) | null,
  depth = 0,
): number {
  if (depth > 8) throw new Error('fixed points: arrangement recursion too deep');
  const red = reducePlanes(normals, offsets, m, d, 0x5eed + 7919 * (depth + 1));
  const inner = visit
    ? (s: Int8Array) => {
        const raw = new Int8Array(m);
        for (let i = 0; i < m; i++) raw[i] = red.rep[i] < 0 ? red.constSign[i] : ((red.orient[i] * s[red.rep[i]]) as -1 | 1);
        visit(raw);
      }
    : null;
  return enumeratePlanes(red.planes, inner, depth);
}

// ------------------------------------------------------------------------- combinatorics

/** Visit all k-subsets of {0..n−1} in colex order (the GPU kernel's rank order). */
export function forEachSubset(n: number, k: number, visit: (s: Int32Array) => void): void {
  if (k > n) return;
  const s = Int32Array.from({ length: k }, (_, i) => i);
  for (;;) {
    visit(s);
    let i = 0;
    while (i < k && (i === k - 1 ? s[i] + 1 >= n : s[i] + 1 >= s[i + 1])) i++;
    if (i >= k) return;
    s[i]++;
    for (let a = 0; a < i; a++) s[a] = a;
  }
}

/** Colex unranking: rank = C(s_k, k) + … + C(s_1, 1). */
export function unrankColex(rank: number, k: number, n: number): Int32Array {
  const s = new Int32Array(k);
  let rem = rank;
  let hi = n;
  for (let kk = k; kk >= 1; kk--) {
    let lo = kk - 1;
    let top = hi - 1;
    while (lo < top) {
      const mid = (lo + top + 1) >> 1;
      if (binomial(mid, kk) <= rem) lo = mid;
      else top = mid - 1;
    }
    s[kk - 1] = lo;
    rem -= binomial(lo, kk);
    hi = lo;
  }
  return s;
}

export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return Math.round(c);
}

// ------------------------------------------------------------------------- small dense solves

/** LU with partial pivoting of an n×n row-major matrix (in place). Returns the smallest |pivot|. */
export function luFactor(a: Float64Array, n: number, perm: Int32Array): number {
  let minPivot = Infinity;
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let col = 0; col < n; col++) {
    let best = col;
    for (let row = col + 1; row < n; row++) if (Math.abs(a[row * n + col]) > Math.abs(a[best * n + col])) best = row;
    if (best !== col) {
      for (let k = 0; k < n; k++) {
        const t = a[col * n + k];
        a[col * n + k] = a[best * n + k];
        a[best * n + k] = t;
      }
      const t = perm[col];
      perm[col] = perm[best];
      perm[best] = t;
    }
    const pv = a[col * n + col];
    minPivot = Math.min(minPivot, Math.abs(pv));
    if (pv === 0) continue;
    for (let row = col + 1; row < n; row++) {
      const f = (a[row * n + col] /= pv);
      for (let k = col + 1; k < n; k++) a[row * n + k] -= f * a[col * n + k];
    }
  }
  return n === 0 ? Infinity : minPivot;
}

/** Solve with a factor from luFactor; `rhs` is in the original row order. */
export function luSolve(lu: Float64Array, n: number, perm: Int32Array, rhs: ArrayLike<number>): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = rhs[perm[i]];
    for (let k = 0; k < i; k++) s -= lu[i * n + k] * x[k];
    x[i] = s;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i];
    for (let k = i + 1; k < n; k++) s -= lu[i * n + k] * x[k];
    x[i] = s / lu[i * n + i];
  }
  return x;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(x: Float64Array, y: Float64Array): number {
  let m = 0;
  for (let k = 0; k < x.length; k++) m = Math.max(m, Math.abs(x[k] - y[k]));
  return m;
}
