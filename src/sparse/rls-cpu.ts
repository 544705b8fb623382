/**
 * Float64 CPU implementation of the shared-P RLS update of the sparse-neuron trainers (the same update
 * as shaders/sparse_rls*.wgsl and sparse_trial.wgsl): k = P r, c = 1/(1 + rᵀk), e = Jw r − target,
 * P ← P − c k kᵀ, Jw ← Jw − c e kᵀ. Reference for tests and the CPU side of `bench sparse-rls`.
 */
export interface RlsState {
  n: number;
  rows: number;
  /** n × n, row-major. */
  P: Float64Array;
  /** rows × n, row-major. */
  Jw: Float64Array;
}

export function createRlsState(n: number, rows: number, alpha: number): RlsState {
  if (!(alpha > 0)) throw new Error(`RLS: alpha must be positive (got ${alpha})`);
  const P = new Float64Array(n * n);
  for (let i = 0; i < n; i++) P[i * n + i] = 1 / alpha;
  return { n, rows, P, Jw: new Float64Array(rows * n) };
}

/** One RLS update in place; returns Σ e² of the a-priori errors. */
export function rlsUpdateCpu(
  s: RlsState,
  r: ArrayLike<number>,
  target: ArrayLike<number>,
  scratch = { k: new Float64Array(s.n), e: new Float64Array(s.rows) },
): number {
  const { n, rows, P, Jw } = s;
  const { k, e } = scratch;
  let rk = 0;
  for (let i = 0; i < n; i++) {
    let v = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) v += P[row + j] * r[j];
    k[i] = v;
    rk += r[i] * v;
  }
  const c = 1 / (1 + rk);
  let sq = 0;
  for (let i = 0; i < rows; i++) {
    let v = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) v += Jw[row + j] * r[j];
    e[i] = v - target[i];
    sq += e[i] * e[i];
  }
  for (let i = 0; i < n; i++) {
    const cki = c * k[i];
    const row = i * n;
    for (let j = 0; j < n; j++) P[row + j] -= cki * k[j];
  }
  for (let i = 0; i < rows; i++) {
    const cei = c * e[i];
    const row = i * n;
    for (let j = 0; j < n; j++) Jw[row + j] -= cei * k[j];
  }
  return sq;
}
