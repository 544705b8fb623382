/**
 * SVCCA (Raghu et al. 2017) between two sets of activity recorded over the same time points, in
 * float64 on the CPU: centre each unit, keep the top-k singular directions of each set, then the
 * canonical correlations between the two k-dimensional subspaces. The mean canonical correlation is
 * invariant to any invertible linear map of either set (it depends only on the subspaces spanned).
 */
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from 'ml-matrix';

/** Activity as time points × units, row-major. */
export interface Activity {
  data: ArrayLike<number>;
  /** Time points (rows). */
  rows: number;
  /** Units (columns). */
  cols: number;
}

export interface SvccaOptions {
  /** Singular directions kept per set (default 5, as in Salatiello & Giese). */
  dims?: number;
  /** Directions whose variance is below epsilon × the largest are dropped (default 1e-10). */
  epsilon?: number;
}

export interface SvccaResult {
  /** Mean canonical correlation. */
  mean: number;
  /** Canonical correlations, largest first. */
  correlations: number[];
  /** Number of canonical pairs (≤ requested dims when a set has lower rank). */
  dims: number;
  /** Fraction of each set's variance captured by its kept directions. */
  varianceExplained: [number, number];
}

/**
 * Orthonormal basis (time points × k, column-major per direction) of the top-k principal
 * subspace of centred `x`, plus the fraction of variance it captures.
 */
export function principalSubspace(x: Activity, dims: number, epsilon = 1e-10, what = 'activity'): { basis: Float64Array[]; varianceExplained: number } {
  const { rows: m, cols: n, data } = x;
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 2 || n < 1) {
    throw new Error(`svcca: ${what} must have at least 2 time points and 1 unit (got ${m} × ${n})`);
  }
  if (data.length !== m * n) throw new Error(`svcca: ${what} has ${data.length} values, expected ${m} × ${n} = ${m * n}`);
  if (!Number.isInteger(dims) || dims < 1) throw new Error(`svcca: dims must be a positive integer (got ${dims})`);
  // Centre each unit over time.
  const c = new Float64Array(m * n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < m; t++) s += data[t * n + j];
    const mean = s / m;
    for (let t = 0; t < m; t++) {
      const v = data[t * n + j] - mean;
      if (!Number.isFinite(v)) throw new Error(`svcca: ${what} has a non-finite value at time ${t}, unit ${j}`);
      c[t * n + j] = v;
    }
  }
  // Principal directions in time space are the eigenvectors of the smaller Gram matrix:
  // C Cᵀ (m × m) directly, or C V / σ from CᵀC (n × n).
  const useUnits = n <= m;
  const size = useUnits ? n : m;
  const gram = new Matrix(size, size);
  if (useUnits) {
    for (let a = 0; a < n; a++) {
      for (let b = a; b < n; b++) {
        let s = 0;
        for (let t = 0; t < m; t++) s += c[t * n + a] * c[t * n + b];
        gram.set(a, b, s);
        gram.set(b, a, s);
      }
    }
  } else {
    for (let a = 0; a < m; a++) {
      for (let b = a; b < m; b++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += c[a * n + j] * c[b * n + j];
        gram.set(a, b, s);
        gram.set(b, a, s);
      }
    }
  }
  const evd = new EigenvalueDecomposition(gram, { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vectors = evd.eigenvectorMatrix;
  const order = values.map((_, i) => i).sort((i, j) => values[j] - values[i]);
  let total = 0;
  for (const v of values) total += Math.max(0, v);
  if (!(total > 0)) throw new Error(`svcca: ${what} has zero variance`);
  const top = values[order[0]];
  const basis: Float64Array[] = [];
  let kept = 0;
  for (const idx of order.slice(0, dims)) {
    if (values[idx] <= epsilon * top) break;
    const u = new Float64Array(m);
    if (useUnits) {
      for (let t = 0; t < m; t++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += c[t * n + j] * vectors.get(j, idx);
        u[t] = s;
      }
    } else for (let t = 0; t < m; t++) u[t] = vectors.get(t, idx);
    basis.push(u);
    kept += values[idx];
  }
  orthonormalise(basis);
  return { basis, varianceExplained: kept / total };
}

/** Modified Gram–Schmidt, twice (the projected directions are orthogonal only up to rounding). */
function orthonormalise(vs: Float64Array[]): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i];
      for (let j = 0; j < i; j++) {
        const d = dot(v, vs[j]);
        for (let t = 0; t < v.length; t++) v[t] -= d * vs[j][t];
      }
      const norm = Math.sqrt(dot(v, v));
      for (let t = 0; t < v.length; t++) v[t] /= norm;
    }
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** SVCCA similarity of two activity sets over the same time points. */
export function svcca(a: Activity, b: Activity, options: SvccaOptions = {}): SvccaResult {
  const dims = options.dims ?? 5;
  if (a.rows !== b.rows) throw new Error(`svcca: the two sets must share time points (got ${a.rows} and ${b.rows} rows)`);
  const sa = principalSubspace(a, dims, options.epsilon, 'first set');
  const sb = principalSubspace(b, dims, options.epsilon, 'second set');
  // Canonical correlations between two subspaces = singular values of Qaᵀ Qb.
  const cross = new Matrix(sa.basis.length, sb.basis.length);
  for (let i = 0; i < sa.basis.length; i++) for (let j = 0; j < sb.basis.length; j++) cross.set(i, j, dot(sa.basis[i], sb.basis[j]));
  const k = Math.min(sa.basis.length, sb.basis.length);
  const sv = new SingularValueDecomposition(cross, { computeLeftSingularVectors: false, computeRightSingularVectors: false, autoTranspose: true }).diagonal;
  const correlations = sv
    .slice(0, k)
    .map((v) => Math.min(1, Math.max(0, v)))
    .sort((x, y) => y - x);
  const mean = correlations.reduce((s, v) => s + v, 0) / k;
  return { mean, correlations, dims: k, varianceExplained: [sa.varianceExplained, sb.varianceExplained] };
}

/**
 * Reshape an array of any rank ≥ 2 into time points × units: the last axis is units, all leading
 * axes (e.g. conditions × time) are concatenated time points.
 */
export function asActivity(data: ArrayLike<number>, shape: readonly number[], what = 'array'): Activity {
  if (shape.length < 2) throw new Error(`${what}: expected an array of time points × units (rank ≥ 2), got shape [${shape.join(', ')}]`);
  const cols = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((p, d) => p * d, 1);
  return { data, rows, cols };
}
