// CPU tests of the float64 linear algebra behind the sparse-neuron circuit (src/sparse/linalg.ts): the
// real Schur form reconstructs its matrix, the Schur-based Lyapunov solver agrees with a direct
// (Kronecker) solve, and the stability optimisation built on them reaches the spectral abscissa of the
// earlier Cayley-transform / squared-Smith implementation.
import { describe, expect, test } from 'vitest';
import { EigenvalueDecomposition, Matrix, solve } from 'ml-matrix';
import { realSchur, solveLyapunovPair } from '../src/sparse/linalg.js';
import { stabilityOptimisedCircuit } from '../src/sparse/circuit.js';
import { normalSampler } from '../src/util/random.js';

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

function randomMatrix(n: number, seed: number, diagonal = 0): Float64Array {
  const rng = normalSampler(seed);
  const a = Float64Array.from({ length: n * n }, () => rng.normal() / Math.sqrt(n));
  for (let i = 0; i < n; i++) a[i * n + i] += diagonal;
  return a;
}

/** max |A X + X Aᵀ + C| (transposed: |Aᵀ X + X A + C|). */
function residual(a: Float64Array, x: Float64Array, c: Float64Array, n: number, transposed: boolean): number {
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = c[i * n + j];
      for (let k = 0; k < n; k++)
        s += transposed ? a[k * n + i] * x[k * n + j] + x[i * n + k] * a[k * n + j] : a[i * n + k] * x[k * n + j] + x[i * n + k] * a[j * n + k];
      worst = Math.max(worst, Math.abs(s));
    }
  }
  return worst;
}

/** Direct solve of A X + X Aᵀ = −C as (I ⊗ A + A ⊗ I) vec(X) = −vec(C) (row-major vec). */
function kroneckerSolve(a: Float64Array, c: Float64Array, n: number): Float64Array {
  const m = new Matrix(n * n, n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < n; k++) {
        m.set(i * n + j, k * n + j, m.get(i * n + j, k * n + j) + a[i * n + k]);
        m.set(i * n + j, i * n + k, m.get(i * n + j, i * n + k) + a[j * n + k]);
      }
    }
  }
  const x = solve(m, Matrix.columnVector(Array.from(c, (v) => -v)));
  return Float64Array.from(x.getColumn(0));
}

describe('real Schur form', () => {
  test('A = U T Uᵀ with U orthogonal, T quasi-triangular, and the eigenvalues of ml-matrix', () => {
    const n = 40;
    const a = randomMatrix(n, 5);
    const { t, u, re, im } = realSchur(a, n);
    let recon = 0;
    let orth = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let o = 0;
        for (let k = 0; k < n; k++) {
          o += u[k * n + i] * u[k * n + j];
          for (let l = 0; l < n; l++) s += u[i * n + k] * t[k * n + l] * u[j * n + l];
        }
        recon = Math.max(recon, Math.abs(s - a[i * n + j]));
        orth = Math.max(orth, Math.abs(o - (i === j ? 1 : 0)));
      }
    }
    expect(recon).toBeLessThan(1e-12 * maxAbs(a) * n);
    expect(orth).toBeLessThan(1e-12);
    // Zero below the subdiagonal; a non-zero subdiagonal only inside a complex pair's 2 × 2 block.
    let pairs = 0;
    for (let i = 1; i < n; i++) {
      for (let j = 0; j < i - 1; j++) expect(t[i * n + j]).toBe(0);
      if (t[i * n + i - 1] !== 0) {
        pairs++;
        expect(im[i - 1]).toBeGreaterThan(0);
        expect(im[i]).toBeCloseTo(-im[i - 1], 12);
      }
    }
    expect(pairs).toBeGreaterThan(3);
    const e = new EigenvalueDecomposition(new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)))));
    const key = (r: number, i: number) => [r, i] as const;
    const sort = (pts: (readonly [number, number])[]) => pts.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
    const ours = sort(Array.from(re, (r, i) => key(r, im[i])));
    const theirs = sort(e.realEigenvalues.map((r, i) => key(r, e.imaginaryEigenvalues[i])));
    for (let i = 0; i < n; i++) {
      expect(ours[i][0]).toBeCloseTo(theirs[i][0], 10);
      expect(ours[i][1]).toBeCloseTo(theirs[i][1], 10);
    }
  });

  test('bad input is refused', () => {
    expect(() => realSchur(new Float64Array(5), 2)).toThrow(/2×2/);
  });
});

describe('Lyapunov pair by Bartels–Stewart on the Schur form', () => {
  test('agrees with a direct Kronecker solve and leaves a tiny residual', () => {
    const n = 12;
    // Stable, non-normal, with complex eigenvalues; C symmetric positive definite but not a multiple of I.
    const a = randomMatrix(n, 7, -1.5);
    const b = randomMatrix(n, 8);
    const c = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) c[i * n + j] += b[i * n + k] * b[j * n + k];
    for (let i = 0; i < n; i++) c[i * n + i] += 1;
    const { controllability: p, observability: q } = solveLyapunovPair(a, n, c);
    const at = Float64Array.from({ length: n * n }, (_, k) => a[(k % n) * n + Math.floor(k / n)]);
    const pDirect = kroneckerSolve(a, c, n);
    const qDirect = kroneckerSolve(at, c, n);
    const scale = maxAbs(pDirect);
    for (let k = 0; k < n * n; k++) {
      expect(Math.abs(p[k] - pDirect[k])).toBeLessThan(1e-11 * scale);
      expect(Math.abs(q[k] - qDirect[k])).toBeLessThan(1e-11 * maxAbs(qDirect));
    }
    expect(residual(a, p, c, n, false)).toBeLessThan(1e-12 * maxAbs(c) * n);
    expect(residual(a, q, c, n, true)).toBeLessThan(1e-12 * maxAbs(c) * n);
  });

  test('a larger non-normal matrix (C = 2I): residual tiny relative to the solution', () => {
    const n = 80;
    const a = randomMatrix(n, 11);
    // Strong non-normality, as in the optimised circuit: a large random upper-triangular coupling, then a
    // shift that leaves the spectral abscissa at −0.3.
    const rng = normalSampler(12);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] += (3 * rng.normal()) / Math.sqrt(n);
    const top = Math.max(...realSchur(a, n).re);
    for (let i = 0; i < n; i++) a[i * n + i] -= top + 0.3;
    const c = new Float64Array(n * n);
    for (let i = 0; i < n; i++) c[i * n + i] = 2;
    const { controllability: p, observability: q } = solveLyapunovPair(a, n, c);
    expect(residual(a, p, c, n, false)).toBeLessThan(1e-12 * maxAbs(p) * n);
    expect(residual(a, q, c, n, true)).toBeLessThan(1e-12 * maxAbs(q) * n);
  });

  test('unstable matrices and non-symmetric right-hand sides are refused', () => {
    const n = 6;
    const c = new Float64Array(n * n);
    for (let i = 0; i < n; i++) c[i * n + i] = 1;
    expect(() => solveLyapunovPair(randomMatrix(n, 3, 2), n, c)).toThrow(/not stable/);
    const skew = new Float64Array(c);
    skew[1] = 0.5;
    expect(() => solveLyapunovPair(randomMatrix(n, 3, -3), n, skew)).toThrow(/symmetric/);
    expect(() => solveLyapunovPair(randomMatrix(n, 3, -3), n, new Float64Array(4))).toThrow(/6×6/);
  });
});

describe('stability optimisation on the Schur-based solver', () => {
  // Spectral abscissae of the earlier implementation (eigenvalues by ml-matrix, both Lyapunov solves by the
  // Cayley transform and squared Smith doubling to a relative 1e-10), recorded before it was replaced.
  test.each([
    [{ n: 16, seed: 3, maxIterations: 40 }, 2.6874733997726903, 0.8194486331306949],
    [{ n: 30, seed: 1, maxIterations: 100 }, 10.185359395290828, 0.46113814253960916],
    [{ n: 60, seed: 1, maxIterations: 150 }, 10.620037070692039, 0.3665812944777902],
  ])('%o reaches the earlier abscissa', (options, initial, abscissa) => {
    const soc = stabilityOptimisedCircuit(options);
    expect(soc.iterations).toBe(options.maxIterations);
    expect(soc.initialAbscissa).toBeCloseTo(initial, 10);
    // The earlier solves were accurate to about 1e-10, so the trajectories agree to about that.
    expect(Math.abs(soc.abscissa - abscissa)).toBeLessThan(1e-8);
  });
});
