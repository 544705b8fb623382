/**
 * Batched row gather as a tape op (kernels: shaders/gather.wgsl):
 *   out[b, k, ...] = x[b, idx[b, k], ...]       x: [B, J, ...], idx: u32 [B, K], out: [B, K, ...]
 * e.g. particles selected by their ancestor indices after resampling. idx carries no gradient.
 *
 * The adjoint gx[b, j, ...] = Σ_{k : idx[b, k] = j} gy[b, k, ...] is computed without float atomics as
 * a segmented sum over SORTED indices: REQUIREMENT — every row idx[b, :] is non-decreasing with values
 * in [0, J) (systematic and stratified resampling give exactly that). With unsorted indices the
 * forward pass is still right but the gradient is not; check with `assertSortedIndices` in tests or
 * when debugging a resampler. (Out-of-range indices gather zeros.)
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';

const WG = 256;

interface GatherGeometry {
  batch: number;
  kOut: number;
  jSrc: number;
  width: number;
}

function geometry(x: Tensor, idx: Tensor): GatherGeometry {
  if (x.dtype !== 'f32') throw new Error(`gather: x ${x.describe()} is ${x.dtype}, expected f32`);
  if (x.shape.length < 2) throw new Error(`gather: x ${x.describe()} must have shape [batch, rows, ...]`);
  if (idx.dtype !== 'u32') throw new Error(`gather: idx ${idx.describe()} is ${idx.dtype}, expected u32`);
  if (idx.shape.length !== 2) throw new Error(`gather: idx ${idx.describe()} must have shape [batch, K]`);
  if (idx.shape[0] !== x.shape[0]) throw new Error(`gather: idx ${idx.describe()} and x ${x.describe()} differ in batch size`);
  const [batch, jSrc] = x.shape;
  const width = x.shape.slice(2).reduce((a, b) => a * b, 1);
  return { batch, kOut: idx.shape[1], jSrc, width };
}

/** out[b, k, ...] = x[b, idx[b, k], ...]; the gradient needs sorted rows of idx (see the module note). */
export function gather(x: Tensor, idx: Tensor): Tensor {
  const engine = x.engine;
  const g = geometry(x, idx);
  const out = Tensor.empty(engine, [g.batch, g.kOut, ...x.shape.slice(2)], 'f32', 'gather');
  const params = { batch: g.batch, k_out: g.kOut, j_src: g.jSrc, width: g.width };
  const n = out.size;
  if (n > 0) engine.dispatch(engine.kernel('gather', 'gather_rows', { overrides: { WG } }), { x, idx, out, p: params }, engine.grid(n, WG));
  const savedIdx = idx.retain();
  record(
    'gather',
    [x, idx],
    [out],
    ([gy]) => {
      if (!gy) return [null, null];
      const gx = Tensor.empty(engine, x.shape, 'f32', 'gather.gx');
      if (gx.size > 0)
        engine.dispatch(engine.kernel('gather', 'gather_adjoint', { overrides: { WG } }), { idx: savedIdx, gy, gx, p: params }, engine.grid(gx.size, WG));
      return [gx, null];
    },
    [savedIdx],
  );
  return out;
}

/**
 * Debug/test helper: reads idx back and throws unless every row is non-decreasing with values in
 * [0, numSources), the precondition of gather's adjoint.
 */
export async function assertSortedIndices(idx: Tensor, numSources: number): Promise<void> {
  if (idx.dtype !== 'u32' || idx.shape.length !== 2) throw new Error(`assertSortedIndices: idx ${idx.describe()} must be u32 [batch, K]`);
  const [batch, k] = idx.shape;
  const v = (await idx.read()) as Uint32Array;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < k; i++) {
      const j = v[b * k + i];
      if (j >= numSources) throw new Error(`gather indices ${idx.describe()}: idx[${b}, ${i}] = ${j} is outside [0, ${numSources})`);
      if (i > 0 && j < v[b * k + i - 1]) {
        throw new Error(
          `gather indices ${idx.describe()}: row ${b} is not sorted (idx[${b}, ${i - 1}] = ${v[b * k + i - 1]} > idx[${b}, ${i}] = ${j}); the gather adjoint needs non-decreasing rows`,
        );
      }
    }
  }
}

/** float64 reference of gather: x [B, J, W], idx [B, K] -> [B, K, W]. */
export function gatherReference(x: ArrayLike<number>, idx: ArrayLike<number>, batch: number, jSrc: number, kOut: number, width: number): Float64Array {
  const out = new Float64Array(batch * kOut * width);
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k < kOut; k++) {
      const j = idx[b * kOut + k];
      for (let c = 0; c < width; c++) out[(b * kOut + k) * width + c] = j < jSrc ? x[(b * jSrc + j) * width + c] : 0;
    }
  }
  return out;
}

/** float64 reference of the adjoint (scatter-add, any index order): gy [B, K, W] -> gx [B, J, W]. */
export function gatherAdjointReference(gy: ArrayLike<number>, idx: ArrayLike<number>, batch: number, jSrc: number, kOut: number, width: number): Float64Array {
  const gx = new Float64Array(batch * jSrc * width);
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k < kOut; k++) {
      const j = idx[b * kOut + k];
      if (j >= jSrc) continue;
      for (let c = 0; c < width; c++) gx[(b * jSrc + j) * width + c] += gy[(b * kOut + k) * width + c];
    }
  }
  return gx;
}
