/**
 * Prefix sums along the last axis as a tape op (kernels: shaders/scan.wgsl).
 *
 * `cumsum(x)` scans every row of x (shape [..., len]) independently: inclusive y_i = Σ_{j≤i} x_j or
 * exclusive y_i = Σ_{j<i} x_j, optionally from the end of the row (`reverse`). A row of up to one
 * block (512 or 2048 elements) is scanned by one workgroup; longer rows use reduce-then-scan across
 * workgroups (block totals, a recursive scan of the totals, add-back), which needs no forward-progress
 * guarantee and works for any length up to the binding limit.
 *
 * Backward: the adjoint of a scan is the same scan in the opposite direction (inclusive forward ->
 * reverse inclusive, i.e. the reverse cumulative sum; exclusive -> reverse exclusive).
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';

export interface ScanOptions {
  /** y_i excludes x_i (default false: inclusive). */
  exclusive?: boolean;
  /** Scan from the last element of each row towards the first. */
  reverse?: boolean;
  /** false forces the kernel without subgroup operations. */
  subgroups?: boolean;
  /** Workgroup size (block = 8 * wg elements); default 64 for rows up to 512, else 256. */
  wg?: 64 | 256;
}

const ITEMS = 8;
const FLAG_EXCLUSIVE = 1;
const FLAG_REVERSE = 2;
const FLAG_SEED = 4;
const FLAG_TOTALS = 8;

/** Encode a scan of `rows` rows of `len` elements from `src` into `dst` (distinct buffers). */
function encodeScan(engine: Engine, src: GPUBuffer, dst: GPUBuffer, rows: number, len: number, options: ScanOptions = {}): void {
  if (options.subgroups === true && !engine.hasSubgroups) throw new Error(`cumsum: subgroups requested but the adapter has no 'subgroups' feature`);
  const wg = options.wg ?? (len <= 64 * ITEMS ? 64 : 256);
  if (wg !== 64 && wg !== 256) throw new Error(`cumsum: wg ${String(wg)} must be 64 or 256`);
  const kernel = engine.kernel('scan', 'scan_block', { defines: options.subgroups === false ? { SUBGROUPS: false } : {}, overrides: { WG: wg } });
  const block = wg * ITEMS;
  const numBlocks = Math.ceil(len / block);
  const flags = (options.exclusive ? FLAG_EXCLUSIVE : 0) | (options.reverse ? FLAG_REVERSE : 0);
  const groups = engine.grid(rows * numBlocks, 1);
  // The kernel declares every binding; a pass that does not use one gets a stand-in that aliases nothing.
  const unused = engine.alloc(4, 'cumsum.unused');
  if (numBlocks === 1) {
    engine.dispatch(kernel, { x: src, seed: src, out: dst, totals: unused, p: { rows, len, num_blocks: 1, flags } }, groups);
  } else {
    const totals = engine.alloc(rows * numBlocks * 4, 'cumsum.totals');
    const offsets = engine.alloc(rows * numBlocks * 4, 'cumsum.offsets');
    engine.dispatch(kernel, { x: src, seed: src, out: unused, totals, p: { rows, len, num_blocks: numBlocks, flags: flags | FLAG_TOTALS } }, groups);
    // Totals are stored in scan order already, so their scan is a plain forward exclusive one.
    encodeScan(engine, totals, offsets, rows, numBlocks, { exclusive: true, subgroups: options.subgroups, wg: options.wg });
    engine.dispatch(kernel, { x: src, seed: offsets, out: dst, totals: unused, p: { rows, len, num_blocks: numBlocks, flags: flags | FLAG_SEED } }, groups);
    engine.release(totals);
    engine.release(offsets);
  }
  engine.release(unused);
}

/** Cumulative sum along the last axis (see ScanOptions). */
export function cumsum(x: Tensor, options: ScanOptions = {}): Tensor {
  if (x.dtype !== 'f32') throw new Error(`cumsum: input ${x.describe()} is ${x.dtype}, expected f32`);
  if (x.shape.length === 0) throw new Error(`cumsum: input ${x.describe()} has no axes`);
  const engine = x.engine;
  const len = x.shape[x.shape.length - 1];
  const out = Tensor.empty(engine, x.shape, 'f32', 'cumsum');
  if (x.size === 0) return out;
  const rows = x.size / len;
  encodeScan(engine, x.buffer, out.buffer, rows, len, options);
  record('cumsum', [x], [out], ([gy]) => {
    if (!gy) return [null];
    const gx = Tensor.empty(engine, x.shape, 'f32', 'cumsum.gx');
    encodeScan(engine, gy.buffer, gx.buffer, rows, len, { ...options, reverse: !options.reverse });
    return [gx];
  });
  return out;
}

/** float64 reference of cumsum over the last axis of `shape`. */
export function cumsumReference(x: ArrayLike<number>, shape: readonly number[], options: { exclusive?: boolean; reverse?: boolean } = {}): Float64Array {
  const len = shape[shape.length - 1];
  const out = new Float64Array(x.length);
  for (let r = 0; r * len < x.length; r++) {
    let acc = 0;
    for (let q = 0; q < len; q++) {
      const i = r * len + (options.reverse ? len - 1 - q : q);
      if (options.exclusive) {
        out[i] = acc;
        acc += x[i];
      } else {
        acc += x[i];
        out[i] = acc;
      }
    }
  }
  return out;
}
