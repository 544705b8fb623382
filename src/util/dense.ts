/**
 * Small dense float64 algebra on row-major Float64Arrays: n × n products, written out because they run
 * hundreds of times per stability optimisation (sparse-neuron circuit) and per cycle search (fixed
 * points); sample moments and the top eigenpairs of a symmetric matrix (principal directions of data).
 * ml-matrix does the factorisations.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** C = A B for n × n matrices. */
export function matmul(a: Float64Array, b: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[row + k];
      if (aik === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) out[row + j] += aik * b[bk + j];
    }
  }
  return out;
}

/** C = A Bᵀ for n × n matrices. */
export function matmulNT(a: Float64Array, b: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * b[j * n + k];
      out[i * n + j] = s;
    }
  }
  return out;
}

/** C = Aᵀ B for n × n matrices. */
export function matmulTN(a: Float64Array, b: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  out.fill(0);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      const aki = a[k * n + i];
      if (aki === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aki * b[k * n + j];
    }
  }
  return out;
}

export function transpose(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j];
  return out;
}

/** Column means and the sample covariance (denominator rows − 1) of a rows × cols matrix, in float64. */
export function rowMoments(data: ArrayLike<number>, rows: number, cols: number): { mean: Float64Array; cov: Float64Array } {
  const D = cols;
  const mean = new Float64Array(D);
  for (let i = 0; i < rows; i++) for (let d = 0; d < D; d++) mean[d] += data[i * D + d];
  for (let d = 0; d < D; d++) mean[d] /= rows;
  const cov = new Float64Array(D * D);
  const row = new Float64Array(D);
  for (let i = 0; i < rows; i++) {
    for (let d = 0; d < D; d++) row[d] = data[i * D + d] - mean[d];
    for (let d = 0; d < D; d++) {
      const x = row[d];
      if (x === 0) continue;
      for (let e = d; e < D; e++) cov[d * D + e] += x * row[e];
    }
  }
  const denom = Math.max(1, rows - 1);
  for (let d = 0; d < D; d++) for (let e = d; e < D; e++) cov[e * D + d] = cov[d * D + e] /= denom;
  return { mean, cov };
}

/** Top `k` eigenpairs of a symmetric D×D matrix, largest first (vectors as columns of `vectors` [D,k]). */
export function topEigen(sym: Float64Array, D: number, k: number): { values: Float64Array; vectors: Float64Array } {
  const rows = Array.from({ length: D }, (_, i) => Array.from(sym.subarray(i * D, (i + 1) * D)));
  const eig = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const vals = eig.realEigenvalues;
  const V = eig.eigenvectorMatrix;
  const order = vals.map((_, i) => i).sort((a, b) => vals[b] - vals[a]);
  const values = new Float64Array(k);
  const vectors = new Float64Array(D * k);
  for (let j = 0; j < k; j++) {
    values[j] = vals[order[j]];
    for (let d = 0; d < D; d++) vectors[d * k + j] = V.get(d, order[j]);
  }
  return { values, vectors };
}
