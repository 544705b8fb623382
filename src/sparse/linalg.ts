/**
 * ml-matrix conversions, a real Schur decomposition and continuous Lyapunov solvers for the sparse-neuron
 * pipeline (row-major n × n Float64Array); the dense products live in src/util/dense.ts.
 */
import { Matrix } from 'ml-matrix';
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

export interface RealSchur {
  n: number;
  /** Quasi-upper-triangular T (row-major): 1 × 1 blocks for real eigenvalues, 2 × 2 for complex pairs, zeros below. */
  t: Float64Array;
  /** Orthogonal Schur vectors (row-major): A = U T Uᵀ. */
  u: Float64Array;
  /** Eigenvalues, in the order of T's diagonal (a complex pair as im > 0 then im < 0). */
  re: Float64Array;
  im: Float64Array;
}

/**
 * Real Schur form A = U T Uᵀ by Householder reduction to Hessenberg form and the Francis double-shift QR
 * iteration (JAMA's orthes / hqr2, as in ml-matrix, stopped before its eigenvector back-substitution).
 * U is accumulated transposed (row k = Schur vector k) so that both hot loops that update it run along rows.
 */
export function realSchur(a: Float64Array, n: number): RealSchur {
  if (a.length !== n * n) throw new Error(`realSchur: expected ${n}×${n} = ${n * n} entries, got ${a.length}`);
  const h = new Float64Array(a);
  const vt = new Float64Array(n * n);
  const ort = new Float64Array(n);
  const high = n - 1;
  // Householder reduction to Hessenberg form, H = Vᵀ A V.
  for (let m = 1; m <= high - 1; m++) {
    let scale = 0;
    for (let i = m; i <= high; i++) scale += Math.abs(h[i * n + m - 1]);
    if (scale === 0) continue;
    let hh = 0;
    for (let i = high; i >= m; i--) {
      ort[i] = h[i * n + m - 1] / scale;
      hh += ort[i] * ort[i];
    }
    let g = Math.sqrt(hh);
    if (ort[m] > 0) g = -g;
    hh -= ort[m] * g;
    ort[m] -= g;
    // H = (I − u uᵀ / hh) H: row combination, accumulated along rows.
    const f = new Float64Array(n);
    for (let i = m; i <= high; i++) {
      const oi = ort[i];
      const row = i * n;
      for (let j = m; j < n; j++) f[j] += oi * h[row + j];
    }
    for (let i = m; i <= high; i++) {
      const oi = ort[i] / hh;
      const row = i * n;
      for (let j = m; j < n; j++) h[row + j] -= f[j] * oi;
    }
    // H = H (I − u uᵀ / hh).
    for (let i = 0; i <= high; i++) {
      const row = i * n;
      let s = 0;
      for (let j = m; j <= high; j++) s += ort[j] * h[row + j];
      s /= hh;
      for (let j = m; j <= high; j++) h[row + j] -= s * ort[j];
    }
    ort[m] *= scale;
    h[m * n + m - 1] = scale * g;
  }
  for (let i = 0; i < n; i++) vt[i * n + i] = 1;
  for (let m = high - 1; m >= 1; m--) {
    const hm = h[m * n + m - 1];
    if (hm === 0) continue;
    for (let i = m + 1; i <= high; i++) ort[i] = h[i * n + m - 1];
    for (let j = m; j <= high; j++) {
      const col = j * n;
      let g = 0;
      for (let i = m; i <= high; i++) g += ort[i] * vt[col + i];
      g = g / ort[m] / hm;
      for (let i = m; i <= high; i++) vt[col + i] += g * ort[i];
    }
  }
  // Below the subdiagonal h still holds the Householder vectors.
  for (let i = 2; i < n; i++) for (let j = 0; j < i - 1; j++) h[i * n + j] = 0;

  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const eps = Number.EPSILON;
  let norm = 0;
  for (let i = 0; i < n; i++) for (let j = Math.max(i - 1, 0); j < n; j++) norm += Math.abs(h[i * n + j]);
  let nn = n - 1;
  let exshift = 0;
  let iter = 0;
  let total = 0;
  let p = 0;
  let q = 0;
  let r = 0;
  let s: number;
  let z: number;
  let w: number;
  let x: number;
  let y: number;
  while (nn >= 0) {
    // Look for a single small subdiagonal element.
    let l = nn;
    while (l > 0) {
      s = Math.abs(h[(l - 1) * n + l - 1]) + Math.abs(h[l * n + l]);
      if (s === 0) s = norm;
      if (Math.abs(h[l * n + l - 1]) < eps * s) break;
      l--;
    }
    if (l === nn) {
      // One root found.
      h[nn * n + nn] += exshift;
      re[nn] = h[nn * n + nn];
      im[nn] = 0;
      if (nn > 0) h[nn * n + nn - 1] = 0;
      nn--;
      iter = 0;
    } else if (l === nn - 1) {
      // Two roots found.
      const a = nn - 1;
      w = h[nn * n + a] * h[a * n + nn];
      p = (h[a * n + a] - h[nn * n + nn]) / 2;
      q = p * p + w;
      z = Math.sqrt(Math.abs(q));
      h[nn * n + nn] += exshift;
      h[a * n + a] += exshift;
      x = h[nn * n + nn];
      if (q >= 0) {
        // A real pair: rotate the block to upper triangular.
        z = p >= 0 ? p + z : p - z;
        re[a] = x + z;
        re[nn] = z !== 0 ? x - w / z : re[a];
        im[a] = 0;
        im[nn] = 0;
        x = h[nn * n + a];
        s = Math.abs(x) + Math.abs(z);
        p = x / s;
        q = z / s;
        r = Math.sqrt(p * p + q * q);
        p /= r;
        q /= r;
        for (let j = a; j < n; j++) {
          z = h[a * n + j];
          h[a * n + j] = q * z + p * h[nn * n + j];
          h[nn * n + j] = q * h[nn * n + j] - p * z;
        }
        for (let i = 0; i <= nn; i++) {
          z = h[i * n + a];
          h[i * n + a] = q * z + p * h[i * n + nn];
          h[i * n + nn] = q * h[i * n + nn] - p * z;
        }
        for (let i = 0; i < n; i++) {
          z = vt[a * n + i];
          vt[a * n + i] = q * z + p * vt[nn * n + i];
          vt[nn * n + i] = q * vt[nn * n + i] - p * z;
        }
        h[nn * n + a] = 0;
      } else {
        re[a] = x + p;
        re[nn] = x + p;
        im[a] = z;
        im[nn] = -z;
      }
      if (a > 0) h[a * n + a - 1] = 0;
      nn -= 2;
      iter = 0;
    } else {
      // No convergence yet: a double-shift QR sweep on rows / columns l … nn.
      if (++total > 60 * n) throw new Error(`realSchur: the QR iteration did not converge (${total} sweeps)`);
      x = h[nn * n + nn];
      y = 0;
      w = 0;
      if (l < nn) {
        y = h[(nn - 1) * n + nn - 1];
        w = h[nn * n + nn - 1] * h[(nn - 1) * n + nn];
      }
      if (iter === 10) {
        // Wilkinson's ad hoc shift.
        exshift += x;
        for (let i = 0; i <= nn; i++) h[i * n + i] -= x;
        s = Math.abs(h[nn * n + nn - 1]) + Math.abs(h[(nn - 1) * n + nn - 2]);
        x = y = 0.75 * s;
        w = -0.4375 * s * s;
      }
      if (iter === 30) {
        // MATLAB's ad hoc shift.
        s = (y - x) / 2;
        s = s * s + w;
        if (s > 0) {
          s = Math.sqrt(s);
          if (y < x) s = -s;
          s = x - w / ((y - x) / 2 + s);
          for (let i = 0; i <= nn; i++) h[i * n + i] -= s;
          exshift += s;
          x = y = w = 0.964;
        }
      }
      iter++;
      // Look for two consecutive small subdiagonal elements.
      let m = nn - 2;
      while (m >= l) {
        z = h[m * n + m];
        r = x - z;
        s = y - z;
        p = (r * s - w) / h[(m + 1) * n + m] + h[m * n + m + 1];
        q = h[(m + 1) * n + m + 1] - z - r - s;
        r = h[(m + 2) * n + m + 1];
        s = Math.abs(p) + Math.abs(q) + Math.abs(r);
        p /= s;
        q /= s;
        r /= s;
        if (m === l) break;
        if (
          Math.abs(h[m * n + m - 1]) * (Math.abs(q) + Math.abs(r)) <
          eps * (Math.abs(p) * (Math.abs(h[(m - 1) * n + m - 1]) + Math.abs(z) + Math.abs(h[(m + 1) * n + m + 1])))
        ) {
          break;
        }
        m--;
      }
      for (let i = m + 2; i <= nn; i++) {
        h[i * n + i - 2] = 0;
        if (i > m + 2) h[i * n + i - 3] = 0;
      }
      // Double QR step on rows l … nn and columns m … nn.
      for (let k = m; k <= nn - 1; k++) {
        const notlast = k !== nn - 1;
        if (k !== m) {
          p = h[k * n + k - 1];
          q = h[(k + 1) * n + k - 1];
          r = notlast ? h[(k + 2) * n + k - 1] : 0;
          x = Math.abs(p) + Math.abs(q) + Math.abs(r);
          if (x !== 0) {
            p /= x;
            q /= x;
            r /= x;
          }
        }
        if (x === 0) break;
        s = Math.sqrt(p * p + q * q + r * r);
        if (p < 0) s = -s;
        if (s === 0) continue;
        if (k !== m) h[k * n + k - 1] = -s * x;
        else if (l !== m) h[k * n + k - 1] = -h[k * n + k - 1];
        p += s;
        x = p / s;
        y = q / s;
        z = r / s;
        q /= p;
        r /= p;
        const r0 = k * n;
        const r1 = r0 + n;
        const r2 = r1 + n;
        for (let j = k; j < n; j++) {
          let t = h[r0 + j] + q * h[r1 + j];
          if (notlast) {
            t += r * h[r2 + j];
            h[r2 + j] -= t * z;
          }
          h[r0 + j] -= t * x;
          h[r1 + j] -= t * y;
        }
        const iMax = Math.min(nn, k + 3);
        for (let i = 0; i <= iMax; i++) {
          const row = i * n;
          let t = x * h[row + k] + y * h[row + k + 1];
          if (notlast) {
            t += z * h[row + k + 2];
            h[row + k + 2] -= t * r;
          }
          h[row + k] -= t;
          h[row + k + 1] -= t * q;
        }
        for (let i = 0; i < n; i++) {
          let t = x * vt[r0 + i] + y * vt[r1 + i];
          if (notlast) {
            t += z * vt[r2 + i];
            vt[r2 + i] -= t * r;
          }
          vt[r0 + i] -= t;
          vt[r1 + i] -= t * q;
        }
      }
    }
  }
  // The sweeps leave stale bulge entries below the subdiagonal, and deflated subdiagonals are negligible.
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i - 1; j++) h[i * n + j] = 0;
    if (!(im[i - 1] > 0)) h[i * n + i - 1] = 0;
  }
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) u[i * n + j] = vt[j * n + i];
  return { n, t: h, u, re, im };
}

/** Solve the p × q Sylvester block A X + X B = R (p, q ≤ 2; all row-major) by Gaussian elimination with partial pivoting. */
function smallSylvester(a: number[], p: number, b: number[], q: number, r: number[]): number[] {
  const m = p * q;
  // Unknown X[i][j] is entry i * q + j; row (i, j) of the system is Σ_k A[i][k] X[k][j] + Σ_k X[i][k] B[k][j].
  const sys = new Array<number>(m * (m + 1)).fill(0);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < q; j++) {
      const row = (i * q + j) * (m + 1);
      for (let k = 0; k < p; k++) sys[row + k * q + j] += a[i * p + k];
      for (let k = 0; k < q; k++) sys[row + i * q + k] += b[k * q + j];
      sys[row + m] = r[i * q + j];
    }
  }
  for (let c = 0; c < m; c++) {
    let piv = c;
    for (let i = c + 1; i < m; i++) if (Math.abs(sys[i * (m + 1) + c]) > Math.abs(sys[piv * (m + 1) + c])) piv = i;
    if (sys[piv * (m + 1) + c] === 0) throw new Error('Lyapunov solve: singular system (the matrix has eigenvalues λᵢ + λⱼ = 0)');
    if (piv !== c) for (let k = 0; k <= m; k++) [sys[c * (m + 1) + k], sys[piv * (m + 1) + k]] = [sys[piv * (m + 1) + k], sys[c * (m + 1) + k]];
    for (let i = c + 1; i < m; i++) {
      const f = sys[i * (m + 1) + c] / sys[c * (m + 1) + c];
      if (f !== 0) for (let k = c; k <= m; k++) sys[i * (m + 1) + k] -= f * sys[c * (m + 1) + k];
    }
  }
  const x = new Array<number>(m).fill(0);
  for (let i = m - 1; i >= 0; i--) {
    let s = sys[i * (m + 1) + m];
    for (let k = i + 1; k < m; k++) s -= sys[i * (m + 1) + k] * x[k];
    x[i] = s / sys[i * (m + 1) + i];
  }
  return x;
}

/** Diagonal blocks of a quasi-upper-triangular matrix: [start, size] with size 2 where the subdiagonal is non-zero. */
function diagonalBlocks(t: Float64Array, n: number): [number, number][] {
  const blocks: [number, number][] = [];
  for (let i = 0; i < n;) {
    const size = i + 1 < n && t[(i + 1) * n + i] !== 0 ? 2 : 1;
    blocks.push([i, size]);
    i += size;
  }
  return blocks;
}

/**
 * Bartels–Stewart: solve T X + X Tᵀ = R for quasi-upper-triangular T and symmetric R (row-major, n × n),
 * column block by column block from the last. X is symmetric, so each column block needs only its rows
 * above the block's end (the rest are rows of later columns). Works on Xᵀ so that every inner loop runs
 * along a row; about n³ / 3 multiply-adds.
 */
function solveQuasiTriangularLyapunov(t: Float64Array, n: number, r: Float64Array): Float64Array {
  const blocks = diagonalBlocks(t, n);
  const xt = new Float64Array(n * n);
  const block = (i0: number, p: number, j0: number, q: number) => {
    const out: number[] = [];
    for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) out.push(t[(i0 + i) * n + j0 + j]);
    return out;
  };
  for (let bj = blocks.length - 1; bj >= 0; bj--) {
    const [j0, q] = blocks[bj];
    const jEnd = j0 + q;
    for (let c = j0; c < jEnd; c++) {
      const dst = c * n;
      // Rows below the block by symmetry; above, the right-hand side R[:, c] − Σ_{k ≥ jEnd} X[:, k] T[c, k].
      for (let k = jEnd; k < n; k++) xt[dst + k] = xt[k * n + c];
      for (let i = 0; i < jEnd; i++) xt[dst + i] = r[i * n + c];
      for (let k = jEnd; k < n; k++) {
        const f = t[c * n + k];
        if (f === 0) continue;
        const src = k * n;
        for (let i = 0; i < jEnd; i++) xt[dst + i] -= f * xt[src + i];
      }
    }
    // Back substitution over the row blocks: T[I, I] X[I, J] + X[I, J] T[J, J]ᵀ = rhs[I] − Σ_{i ≥ iEnd} T[I, i] X[i, J].
    const tjj = block(j0, q, j0, q);
    const bT = q === 2 ? [tjj[0], tjj[2], tjj[1], tjj[3]] : tjj;
    for (let bi = bj; bi >= 0; bi--) {
      const [i0, p] = blocks[bi];
      const iEnd = i0 + p;
      if (p === 1 && q === 1) {
        const trow = i0 * n;
        const xrow = j0 * n;
        let s = xt[xrow + i0];
        for (let k = iEnd; k < n; k++) s -= t[trow + k] * xt[xrow + k];
        const d = t[trow + i0] + tjj[0];
        if (d === 0) throw new Error('Lyapunov solve: singular system (the matrix has eigenvalues λᵢ + λⱼ = 0)');
        xt[xrow + i0] = s / d;
        continue;
      }
      const rhs: number[] = [];
      for (let i = i0; i < iEnd; i++) {
        const trow = i * n;
        for (let c = j0; c < jEnd; c++) {
          const xrow = c * n;
          let s = xt[xrow + i];
          for (let k = iEnd; k < n; k++) s -= t[trow + k] * xt[xrow + k];
          rhs.push(s);
        }
      }
      const x = smallSylvester(block(i0, p, i0, p), p, bT, q, rhs);
      for (let i = 0; i < p; i++) for (let c = 0; c < q; c++) xt[(j0 + c) * n + i0 + i] = x[i * q + c];
    }
  }
  // Xᵀ = X.
  return xt;
}

export interface LyapunovPair {
  /** Solution of A P + P Aᵀ = −C. */
  controllability: Float64Array;
  /** Solution of Aᵀ Q + Q A = −C. */
  observability: Float64Array;
}

/**
 * Both continuous Lyapunov equations A P + P Aᵀ = −C and Aᵀ Q + Q A = −C for A = M − shift·I and a
 * symmetric C, given the real Schur form M = U T Uᵀ (one decomposition serves both equations and every
 * shift), in the Schur basis: P̃ = Uᵀ P U and Q̃ = Uᵀ Q U. With C̃ = Uᵀ C U, P̃ solves
 * (T − sI) P̃ + P̃ (T − sI)ᵀ = −C̃ by Bartels–Stewart, and Q̃ the transposed equation, which reversing the
 * index order turns into the same problem for an upper quasi-triangular matrix. A must be stable (every
 * eigenvalue with negative real part): the solutions are then the Gramians.
 */
export function lyapunovPairInSchurBasis(schur: RealSchur, shift: number, c: Float64Array): LyapunovPair {
  const { n, t, u } = schur;
  if (c.length !== n * n) throw new Error(`Lyapunov solve: C must be ${n}×${n} (got ${c.length} entries)`);
  let top = -Infinity;
  for (let i = 0; i < n; i++) top = Math.max(top, schur.re[i] - shift);
  if (!(top < 0)) throw new Error(`Lyapunov solve: matrix is not stable (largest eigenvalue real part ${top})`);
  let scale = 0;
  let scalarIdentity = true;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(c[i]));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (Math.abs(c[i * n + j] - c[j * n + i]) > 1e-12 * scale) throw new Error(`Lyapunov solve: C must be symmetric (C[${i}][${j}] ≠ C[${j}][${i}])`);
      if (c[i * n + j] !== (i === j ? c[0] : 0)) scalarIdentity = false;
    }
  }
  // C̃ = Uᵀ C U (C itself when C = cI), negated and made exactly symmetric.
  const ct = scalarIdentity ? new Float64Array(c) : matmulTN(u, matmul(c, u, n), n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = -0.5 * (ct[i * n + j] + ct[j * n + i]);
      ct[i * n + j] = v;
      ct[j * n + i] = v;
    }
  }
  const ts = new Float64Array(t);
  for (let i = 0; i < n; i++) ts[i * n + i] -= shift;
  const flipped = new Float64Array(n * n);
  const cFlipped = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      flipped[i * n + j] = ts[(n - 1 - j) * n + n - 1 - i];
      cFlipped[i * n + j] = ct[(n - 1 - i) * n + n - 1 - j];
    }
  }
  const controllability = solveQuasiTriangularLyapunov(ts, n, ct);
  const z = solveQuasiTriangularLyapunov(flipped, n, cFlipped);
  const observability = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) observability[i * n + j] = z[(n - 1 - i) * n + n - 1 - j];
  return { controllability, observability };
}

/** Both Lyapunov equations A P + P Aᵀ = −C and Aᵀ Q + Q A = −C for a stable A and symmetric C (see lyapunovPairInSchurBasis). */
export function solveLyapunovPair(a: Float64Array, n: number, c: Float64Array): LyapunovPair {
  const schur = realSchur(a, n);
  const { controllability, observability } = lyapunovPairInSchurBasis(schur, 0, c);
  const back = (x: Float64Array) => matmulNT(matmul(schur.u, x, n), schur.u, n);
  return { controllability: back(controllability), observability: back(observability) };
}
