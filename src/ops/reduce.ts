/**
 * Reductions: the kernels of every sum (`sum` / `mean` in linalg.ts are the public ops), and the tape
 * ops max (gradient to the first argmax) and logsumexp (gradient = softmax weights) over the last axis
 * (e.g. over particles of each trial) or the first axis (e.g. over the batch). Kernels:
 * shaders/reduce.wgsl.
 *
 * Any reduction is one of an array viewed as [outer, len, inner] over len: inner = 1 runs
 * `reduce_last` (one workgroup per chunk of a row, subgroup operations where available), inner > 1
 * runs `reduce_first` (columns across the lanes of a workgroup, so loads coalesce). For max and
 * logsumexp, axis -1 of shape [d0, ..., dn] is outer = d0···d(n-1), len = dn (output shape
 * [d0, ..., d(n-1)]) and axis 0 is len = d0, inner = d1···dn (output [d1, ..., dn]); a 1-D input gives
 * shape [1].
 *
 * Long reduced axes are split into chunks, one workgroup each; the partials are reduced again by the
 * same kernels (multi-pass), so any length up to the binding limit works with no cross-workgroup
 * synchronisation. Every float64 reference below doubles as the test oracle.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';

export type ReduceAxis = 0 | -1;

export interface ReduceOptions {
  /** false forces the kernels without subgroup operations (tests, comparisons). */
  subgroups?: boolean;
  /**
   * Elements of the reduced axis per workgroup; a longer axis takes several passes. Default: 4096
   * (inner = 1) or 16 per row lane (inner > 1). Small values exercise the multi-pass path in tests.
   */
  chunk?: number;
}

export type ReduceKind = 'sum' | 'max' | 'lse';

/** An array viewed as [outer, len, inner], reduced over len. */
export interface ReduceShape {
  outer: number;
  len: number;
  inner: number;
}

const FLAG_PARTIAL_INPUT = 1;
const FLAG_FINAL = 2;
const WG = 256;
const SMALL_WG = 64;
/** Items per invocation before a row is split across workgroups. */
const ITEMS_PER_THREAD = 16;
const KIND_DEFINES: Record<ReduceKind, Record<string, boolean>> = { sum: {}, max: { MAX: true }, lse: { LSE: true } };

function geometry(op: string, x: Tensor, axis: ReduceAxis): { shape: ReduceShape; outShape: number[] } {
  if (x.dtype !== 'f32') throw new Error(`${op}: input ${x.describe()} is ${x.dtype}, expected f32`);
  const dims = x.shape;
  if (dims.length === 0) throw new Error(`${op}: input ${x.describe()} has no axes`);
  if (axis !== -1 && axis !== 0) throw new Error(`${op}: axis ${String(axis)} is not supported (use -1 for the last axis, 0 for the first)`);
  const len = axis === -1 ? dims[dims.length - 1] : dims[0];
  if (len === 0) throw new Error(`${op}: input ${x.describe()} has an empty ${axis === -1 ? 'last' : 'first'} axis`);
  const rest = x.size / len;
  const outShape = dims.length > 1 ? (axis === -1 ? dims.slice(0, -1) : dims.slice(1)) : [1];
  return { shape: axis === -1 ? { outer: rest, len, inner: 1 } : { outer: 1, len, inner: rest }, outShape };
}

function checkSubgroups(op: string, engine: Engine, options: ReduceOptions): { SUBGROUPS?: boolean } {
  if (options.subgroups === true && !engine.hasSubgroups) throw new Error(`${op}: subgroups requested but the adapter has no 'subgroups' feature`);
  return options.subgroups === false ? { SUBGROUPS: false } : {};
}

function checkChunk(op: string, chunk: number | undefined): void {
  if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 2)) throw new Error(`${op}: chunk ${chunk} must be an integer ≥ 2`);
}

/** Column tile width of reduce_first: the smallest of 1, 4, 16, 64 covering `cols`. */
function columnTile(cols: number): number {
  for (const tc of [1, 4, 16]) if (cols <= tc) return tc;
  return 64;
}

interface PassOutputs {
  value: GPUBuffer;
  aux: GPUBuffer | null;
  idx: GPUBuffer | null;
}

/**
 * Encode the passes of one reduction of `x` seen as `shape` (len ≥ 1); the last pass writes `result`
 * (outer·inner values; for 'lse' the final m + log s) and, for 'max', `argmax`.
 */
export function encodeReduction(
  op: string,
  engine: Engine,
  kind: ReduceKind,
  x: GPUBuffer,
  shape: ReduceShape,
  options: ReduceOptions,
  result: GPUBuffer,
  argmax: GPUBuffer | null = null,
): void {
  checkChunk(op, options.chunk);
  const defines = { ...checkSubgroups(op, engine, options), ...KIND_DEFINES[kind] };
  let input: PassOutputs = { value: x, aux: null, idx: null };
  let { outer, len, inner } = shape;
  let flags = 0;
  const scratch: GPUBuffer[] = [];
  // Kernels declare the aux/index bindings even when a pass does not touch them; bind harmless stand-ins.
  const dummyOut = engine.alloc(4, `${op}.unused`);
  scratch.push(dummyOut);
  for (;;) {
    // inner = 1: one workgroup per chunk of each row; else TC columns per workgroup.
    const wg = inner === 1 && len <= 4 * SMALL_WG ? SMALL_WG : WG;
    const tc = inner === 1 ? 1 : columnTile(outer * inner);
    const kernel =
      inner === 1
        ? engine.kernel('reduce', 'reduce_last', { defines, overrides: { WG: wg } })
        : engine.kernel('reduce', 'reduce_first', { defines, overrides: { WG, TC: tc } });
    let chunk = options.chunk ?? (wg / tc) * ITEMS_PER_THREAD;
    const numChunks = len > chunk ? Math.ceil(len / chunk) : 1;
    if (numChunks === 1) chunk = len;
    const groups = Math.ceil((outer * inner) / tc) * numChunks;
    const outputs = outer * inner * numChunks;
    const last = numChunks === 1;
    const out: PassOutputs = last
      ? { value: result, aux: null, idx: argmax }
      : {
          value: engine.alloc(outputs * 4, `${op}.partial`),
          aux: kind === 'lse' ? engine.alloc(outputs * 4, `${op}.partial.aux`) : null,
          idx: kind === 'max' ? engine.alloc(outputs * 4, `${op}.partial.idx`) : null,
        };
    const params = { outer, len, inner, chunk, num_chunks: numChunks, flags: flags | (kind === 'lse' && last ? FLAG_FINAL : 0), neg_inf: -Infinity };
    const bindings: Record<string, GPUBuffer | Record<string, number>> = { x: input.value, out: out.value, p: params };
    if (kind === 'lse') {
      bindings.x_aux = input.aux ?? input.value;
      bindings.out_aux = out.aux ?? dummyOut;
    }
    if (kind === 'max') {
      bindings.x_idx = input.idx ?? input.value;
      bindings.out_idx = out.idx!;
    }
    engine.dispatch(kernel, bindings, engine.grid(groups, 1));
    if (input.value !== x) scratch.push(input.value);
    if (input.aux) scratch.push(input.aux);
    if (input.idx) scratch.push(input.idx);
    if (last) {
      // Released buffers return to the pool only after the submit that uses them has completed.
      for (const b of scratch) engine.release(b);
      return;
    }
    input = out;
    // The partials of this pass: [outer, numChunks] (inner = 1) or [numChunks, outer·inner].
    if (inner === 1) len = numChunks;
    else [outer, len, inner] = [1, numChunks, outer * inner];
    flags = FLAG_PARTIAL_INPUT;
  }
}

function dispatchBackward(engine: Engine, entry: string, x: Tensor, shape: ReduceShape, bindings: Record<string, Tensor | GPUBuffer>): Tensor {
  const gx = Tensor.empty(engine, x.shape, 'f32', `${entry}.gx`);
  const p = { n: x.size, len: shape.len, inner: shape.inner, neg_inf: -Infinity };
  engine.dispatch(engine.kernel('reduce', entry, { overrides: { WG } }), { ...bindings, gx, bp: p }, engine.grid(x.size, WG));
  return gx;
}

/** Max over `axis` and the (first) position of the max along it; indices carry no gradient. */
export function maxWithArgmax(x: Tensor, axis: ReduceAxis = -1, options: ReduceOptions = {}): { values: Tensor; indices: Tensor } {
  const engine = x.engine;
  const g = geometry('max', x, axis);
  const values = Tensor.empty(engine, g.outShape, 'f32', 'max');
  const indices = Tensor.empty(engine, g.outShape, 'u32', 'argmax');
  encodeReduction('max', engine, 'max', x.buffer, g.shape, options, values.buffer, indices.buffer);
  const savedIdx = indices.retain();
  record('max', [x], [values, indices], ([gy]) => [gy ? dispatchBackward(engine, 'max_backward', x, g.shape, { gy, arg: savedIdx }) : null], [savedIdx], {
    nonDifferentiable: [1],
  });
  return { values, indices };
}

/** Max over `axis`; the gradient goes to the first argmax. */
export function max(x: Tensor, axis: ReduceAxis = -1, options: ReduceOptions = {}): Tensor {
  const { values, indices } = maxWithArgmax(x, axis, options);
  indices.dispose();
  return values;
}

/** log Σ exp over `axis`, stable for any range (−∞ entries allowed; an all −∞ slice gives −∞). */
export function logsumexp(x: Tensor, axis: ReduceAxis = -1, options: ReduceOptions = {}): Tensor {
  const engine = x.engine;
  const g = geometry('logsumexp', x, axis);
  const out = Tensor.empty(engine, g.outShape, 'f32', 'logsumexp');
  encodeReduction('logsumexp', engine, 'lse', x.buffer, g.shape, options, out.buffer);
  const savedX = x.retain();
  const savedY = out.retain();
  record('logsumexp', [x], [out], ([gy]) => [gy ? dispatchBackward(engine, 'lse_backward', savedX, g.shape, { gy, x: savedX, y: savedY }) : null], [
    savedX,
    savedY,
  ]);
  return out;
}

// ---------------------------------------------------------------- float64 references

function refGeometry(shape: readonly number[], axis: ReduceAxis): { rows: number; inner: number; outputs: number } {
  const size = shape.reduce((a, b) => a * b, 1);
  if (axis === -1) {
    const inner = shape[shape.length - 1];
    return { rows: size / inner, inner, outputs: size / inner };
  }
  return { rows: shape[0], inner: size / shape[0], outputs: size / shape[0] };
}

/** Element k of output o along the reduced axis. */
function at(x: ArrayLike<number>, g: { rows: number; inner: number }, axis: ReduceAxis, o: number, k: number): number {
  return axis === -1 ? x[o * g.inner + k] : x[k * g.inner + o];
}

export function maxReference(x: ArrayLike<number>, shape: readonly number[], axis: ReduceAxis = -1): { values: Float64Array; indices: Uint32Array } {
  const g = refGeometry(shape, axis);
  const n = axis === -1 ? g.inner : g.rows;
  const values = new Float64Array(g.outputs);
  const indices = new Uint32Array(g.outputs);
  for (let o = 0; o < g.outputs; o++) {
    let best = -Infinity;
    let bi = 0;
    for (let k = 0; k < n; k++) {
      const v = at(x, g, axis, o, k);
      if (v > best) {
        best = v;
        bi = k;
      }
    }
    values[o] = best;
    indices[o] = bi;
  }
  return { values, indices };
}

export function logsumexpReference(x: ArrayLike<number>, shape: readonly number[], axis: ReduceAxis = -1): Float64Array {
  const g = refGeometry(shape, axis);
  const n = axis === -1 ? g.inner : g.rows;
  const { values: m } = maxReference(x, shape, axis);
  const out = new Float64Array(g.outputs);
  for (let o = 0; o < g.outputs; o++) {
    if (m[o] === -Infinity) {
      out[o] = -Infinity;
      continue;
    }
    let s = 0;
    for (let k = 0; k < n; k++) s += Math.exp(at(x, g, axis, o, k) - m[o]);
    out[o] = m[o] + Math.log(s);
  }
  return out;
}
