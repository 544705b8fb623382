/**
 * ml-matrix conversions and a continuous Lyapunov solver for the sparse-neuron pipeline (row-major
 * n × n Float64Array); the dense products live in src/util/dense.ts.
 */
import { inverse, Matrix } from 'ml-matrix';
import { matmul, matmulNT, matmulTN } from '../util/dense.js';

export function toMatrix(a: Float64Array, rows: number, cols = rows): Matrix {
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, a[i * cols + j]);
  return m;
}

export function fromMatrix(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows * m.columns);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.columns; j++) out[i * m.columns + j] = m.get(i, j);
  return out;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export interface LyapunovPair {
  /** Solution of A P + P Aᵀ = −C. */
  controllability: Float64Array;
  /** Solution of Aᵀ Q + Q A = −C. */
  observability: Float64Array;
}

/**
 * Solve both continuous Lyapunov equations A P + P Aᵀ = −C and Aᵀ Q + Q A = −C for a stable A
 * (all eigenvalues with negative real part) by the Cayley transform and squared Smith iteration:
 * with B = (A − pI)⁻¹(A + pI), P = Σ_k Bᵏ P₀ Bᵏᵀ where P₀ = 2p (A − pI)⁻¹ C (A − pI)⁻ᵀ, summed by
 * doubling. The transposed equation uses Bᵀ (A + pI and (A − pI)⁻¹ commute), so the powers are shared.
 * `eigenvalues` (re, im) of A pick the shift p that contracts fastest.
 */
export function solveLyapunovPair(a: Float64Array, n: number, c: Float64Array, eigenvalues: { re: number[]; im: number[] }, tol = 1e-13): LyapunovPair {
  const { re, im } = eigenvalues;
  if (re.some((v) => !(v < 0))) throw new Error(`Lyapunov solve: matrix is not stable (largest eigenvalue real part ${Math.max(...re)})`);
  // Shift minimising the worst contraction factor |(λ + p) / (λ − p)| over a log grid.
  const rate = (p: number) => {
    let worst = 0;
    for (let i = 0; i < re.length; i++) {
      const num = (re[i] + p) ** 2 + im[i] ** 2;
      const den = (re[i] - p) ** 2 + im[i] ** 2;
      worst = Math.max(worst, num / den);
    }
    return Math.sqrt(worst);
  };
  const mags = re.map((r, i) => Math.hypot(r, im[i]));
  const lo = Math.log(Math.min(...mags));
  const hi = Math.log(Math.max(...mags));
  let p = Math.exp((lo + hi) / 2);
  let best = rate(p);
  for (let s = 0; s <= 60; s++) {
    const q = Math.exp(lo + ((hi - lo) * s) / 60);
    const r = rate(q);
    if (r < best) [best, p] = [r, q];
  }
  const am = new Float64Array(a);
  const ap = new Float64Array(a);
  for (let i = 0; i < n; i++) {
    am[i * n + i] -= p;
    ap[i * n + i] += p;
  }
  const inv = fromMatrix(inverse(toMatrix(am, n)));
  let b = matmul(inv, ap, n);
  const tmp = new Float64Array(n * n);
  // P₀ = 2p M⁻¹ C M⁻ᵀ and Q₀ = 2p M⁻ᵀ C M⁻¹ with M = A − pI.
  const x = matmulNT(matmul(inv, c, n, tmp), inv, n);
  const y = matmul(matmulTN(inv, c, n), inv, n);
  for (let i = 0; i < n * n; i++) {
    x[i] *= 2 * p;
    y[i] *= 2 * p;
  }
  const t1 = new Float64Array(n * n);
  const t2 = new Float64Array(n * n);
  for (let iter = 0; iter < 64; iter++) {
    // X += B X Bᵀ ; Y += Bᵀ Y B ; B = B².
    matmulNT(matmul(b, x, n, t1), b, n, t2);
    const dx = maxAbs(t2);
    for (let i = 0; i < n * n; i++) x[i] += t2[i];
    matmulTN(b, matmul(y, b, n, t1), n, t2);
    const dy = maxAbs(t2);
    for (let i = 0; i < n * n; i++) y[i] += t2[i];
    if (dx <= tol * maxAbs(x) && dy <= tol * maxAbs(y)) return { controllability: x, observability: y };
    b = matmul(b, b, n, new Float64Array(n * n));
  }
  throw new Error(`Lyapunov solve did not converge (contraction factor ${best.toFixed(6)} at shift ${p.toPrecision(4)})`);
}
