/**
 * Tape op for the optimal proposal's per-call R×R quantities (shaders/kalman.wgsl): from the noise
 * Cholesky factor L and G = C̃C̃ᵀ it returns, packed, [Σq | Lq | logdet(I + ΣG)] with
 * Σq = (Σ⁻¹ + G)⁻¹ and Lq = chol(Σq). One invocation: R is small and this runs once per call.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';

export const KALMAN_MAX_RANK = 8;

export function kalmanPacked(L: Tensor, G: Tensor): Tensor {
  const R = Math.round(Math.sqrt(L.size));
  if (R * R !== L.size || G.size !== L.size) throw new Error(`kalman: L and G must be R×R, got ${L.describe()} and ${G.describe()}`);
  if (R > KALMAN_MAX_RANK) throw new Error(`kalman: rank ${R} exceeds the supported ${KALMAN_MAX_RANK}`);
  const engine = L.engine;
  const opts = { defines: { R, RR: R * R }, variant: `R${R}` };
  const out = Tensor.empty(engine, [2 * R * R + 1], 'f32', 'kalman');
  engine.dispatch(engine.kernel('kalman', 'forward', opts), { Lin: L, Gin: G, outp: out }, 1);
  const saved = [L.retain(), G.retain()];
  record(
    'kalman',
    [L, G],
    [out],
    ([g]) => {
      if (!g) return [null, null];
      const gL = Tensor.empty(engine, L.shape, 'f32', 'kalman.gL');
      const gG = Tensor.empty(engine, G.shape, 'f32', 'kalman.gG');
      engine.dispatch(engine.kernel('kalman', 'backward', opts), { Lin: saved[0], Gin: saved[1], gout: g, gL, gG }, 1);
      return [gL, gG];
    },
    saved,
  );
  return out;
}

// ---------------------------------------------------------------- float64 reference

function cholRef(a: Float64Array, R: number): Float64Array {
  const l = new Float64Array(R * R);
  for (let j = 0; j < R; j++) {
    let s = a[j * R + j];
    for (let k = 0; k < j; k++) s -= l[j * R + k] ** 2;
    const d = Math.sqrt(Math.max(s, 1e-300));
    l[j * R + j] = d;
    for (let i = j + 1; i < R; i++) {
      let t = a[i * R + j];
      for (let k = 0; k < j; k++) t -= l[i * R + k] * l[j * R + k];
      l[i * R + j] = t / d;
    }
  }
  return l;
}

/** Inverse of a symmetric positive-definite matrix through its Cholesky factor. */
export function spdInverseRef(a: Float64Array, R: number): Float64Array {
  const l = cholRef(a, R);
  // X = L⁻¹ (lower), then A⁻¹ = Xᵀ X
  const x = new Float64Array(R * R);
  for (let j = 0; j < R; j++) {
    x[j * R + j] = 1 / l[j * R + j];
    for (let i = j + 1; i < R; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * R + k] * x[k * R + j];
      x[i * R + j] = -s / l[i * R + i];
    }
  }
  const out = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) for (let k = 0; k < R; k++) out[i * R + j] += x[k * R + i] * x[k * R + j];
  return out;
}

export { cholRef };

/** [Σq | Lq | logdet(I + ΣG)] in float64, the oracle for kalmanPacked. */
export function kalmanPackedRef(Lraw: ArrayLike<number>, G: ArrayLike<number>, R: number): Float64Array {
  const L = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j <= i; j++) L[i * R + j] = Lraw[i * R + j];
  const sigma = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) for (let k = 0; k < R; k++) sigma[i * R + j] += L[i * R + k] * L[j * R + k];
  const sinv = spdInverseRef(sigma, R);
  const m = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) m[i * R + j] = sinv[i * R + j] + 0.5 * (G[i * R + j] + G[j * R + i]);
  const sq = spdInverseRef(m, R);
  const lq = cholRef(sq, R);
  const lm = cholRef(m, R);
  let ld = 0;
  for (let i = 0; i < R; i++) ld += 2 * Math.log(L[i * R + i]) + 2 * Math.log(lm[i * R + i]);
  const out = new Float64Array(2 * R * R + 1);
  out.set(sq, 0);
  out.set(lq, R * R);
  out[2 * R * R] = ld;
  return out;
}
