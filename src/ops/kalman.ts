/**
 * Tape op for the optimal proposal's per-call R×R quantities (shaders/kalman.wgsl): from the noise
 * Cholesky factor L and G = C̃C̃ᵀ it returns, packed, [Σq | Lq | logdet(I + ΣG)] with
 * Σq = (Σ⁻¹ + G)⁻¹ and Lq = chol(Σq). It runs once per call (twice per training iteration), as one
 * dispatch of one workgroup:
 *  - 'single': one invocation, matrices in private arrays; fastest for small R;
 *  - 'workgroup': NT invocations share the row/column loops of the Cholesky factorisations, the
 *    triangular inverses and the products, with the matrices in workgroup memory where they fit
 *    ('.shared') and in a storage scratch buffer otherwise ('.storage').
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import { mulberry32 } from '../util/random.js';

export const KALMAN_MAX_RANK = 64;
/**
 * Largest R of the one-invocation variant, chosen automatically up to it: there it is as fast as the
 * workgroup (bench/RESULTS.md); above, its private arrays (R² floats each) compile slowly and run slower.
 */
export const KALMAN_SINGLE_MAX_RANK = 4;
/** Invocations of the workgroup variant: one per row or column at R = 64. */
const NT = 64;
/** Matrices the workgroup variant keeps (shaders/kalman.wgsl SLOTS). */
const SLOTS = 8;

export type KalmanPath = 'single' | 'workgroup';

export function kalmanPacked(L: Tensor, G: Tensor, path?: KalmanPath): Tensor {
  const R = Math.round(Math.sqrt(L.size));
  if (R < 1 || R * R !== L.size || G.size !== L.size) throw new Error(`kalman: L and G must be R×R with R ≥ 1, got ${L.describe()} and ${G.describe()}`);
  if (R > KALMAN_MAX_RANK) throw new Error(`kalman: rank ${R} exceeds the largest supported rank ${KALMAN_MAX_RANK}`);
  const engine = L.engine;
  const chosen = path ?? (R <= KALMAN_SINGLE_MAX_RANK ? 'single' : 'workgroup');
  if (chosen === 'single' && R > KALMAN_SINGLE_MAX_RANK)
    throw new Error(`kalman: the one-invocation variant takes R ≤ ${KALMAN_SINGLE_MAX_RANK}, got R = ${R}`);
  const shared = SLOTS * R * R * 4 <= engine.limits.maxComputeWorkgroupStorageSize;
  const opts =
    chosen === 'single'
      ? { defines: { R, RR: R * R, SINGLE: true }, variant: `R${R}.single` }
      : { defines: { R, RR: R * R, NT, SHARED: shared }, variant: `R${R}.workgroup.${shared ? 'shared' : 'storage'}` };
  // The storage variant's matrices; released at once (the pool keeps it until this submit completes).
  const dispatch = (entry: 'forward' | 'backward', bindings: Record<string, Tensor>) => {
    const scratch = chosen === 'workgroup' && !shared ? Tensor.empty(engine, [SLOTS * R * R], 'f32', 'kalman.scratch') : null;
    engine.dispatch(engine.kernel('kalman', entry, opts), scratch ? { ...bindings, ws: scratch } : bindings, 1);
    scratch?.dispose();
  };
  const out = Tensor.empty(engine, [2 * R * R + 1], 'f32', 'kalman');
  dispatch('forward', { Lin: L, Gin: G, outp: out });
  const saved = [L.retain(), G.retain()];
  record(
    'kalman',
    [L, G],
    [out],
    ([g]) => {
      if (!g) return [null, null];
      const gL = Tensor.empty(engine, L.shape, 'f32', 'kalman.gL');
      const gG = Tensor.empty(engine, G.shape, 'f32', 'kalman.gG');
      dispatch('backward', { Lin: saved[0], Gin: saved[1], gout: g, gL, gG });
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

/**
 * A well-conditioned test problem for tests and benchmarks: L lower with diagonal in [0.5, 1.5] and
 * off-diagonals of size 0.15/√R (so L⁻¹ stays bounded as R grows), G = 2CCᵀ for a random R×(R+2) C.
 */
export function kalmanProblem(R: number, seed: number): { L: Float64Array; G: Float64Array } {
  const rand = mulberry32(seed);
  const L = new Float64Array(R * R);
  const off = 0.3 / Math.sqrt(R);
  for (let i = 0; i < R; i++) for (let j = 0; j <= i; j++) L[i * R + j] = i === j ? 0.5 + rand() : off * (rand() - 0.5);
  const D = R + 2;
  const C = Float64Array.from({ length: R * D }, () => rand() - 0.5);
  const G = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) for (let d = 0; d < D; d++) G[i * R + j] += 2 * C[i * D + d] * C[j * D + d];
  return { L, G };
}
