/**
 * Reductions as tape ops: sum, max (gradient to the first argmax) and logsumexp (gradient = softmax
 * weights), over the last axis (e.g. over particles of each trial) or the first axis (e.g. over the
 * batch). Kernels: shaders/reduce.wgsl.
 *
 * A tensor of shape [d0, ..., dn] is seen as [rows, inner]: axis -1 reduces the last axis
 * (rows = d0···d(n-1), inner = dn, output shape [d0, ..., d(n-1)]); axis 0 reduces the first axis
 * (rows = d0, inner = d1···dn, output shape [d1, ..., dn]). A 1-D input gives shape [1].
 *
 * Long reduced axes are split into chunks, one workgroup each; the partials are reduced again by the
 * same kernels (multi-pass), so any length up to the binding limit works with no cross-workgroup
 * synchronisation. Every float64 reference below doubles as the test oracle.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import type { Kernel } from '../gpu/kernel.js';

export type ReduceAxis = 0 | -1;

export interface ReduceOptions {
  /** false forces the kernels without subgroup operations (tests, comparisons). */
  subgroups?: boolean;
  /**
   * Elements of the reduced axis per workgroup; a longer axis takes several passes. Default: 4096
   * (last axis) or 16 per row lane (first axis). Small values exercise the multi-pass path in tests.
   */
  chunk?: number;
}

type ReduceKind = 'sum' | 'max' | 'lse';

const FLAG_PARTIAL_INPUT = 1;
const FLAG_FINAL = 2;
const WG = 256;
const SMALL_WG = 64;
/** Items per invocation before a row is split across workgroups. */
const ITEMS_PER_THREAD = 16;

interface Geometry {
  rows: number;
  inner: number;
  outShape: number[];
  /** Length of the reduced axis. */
  reduced: number;
  /** Number of outputs. */
  outputs: number;
}

function geometry(op: string, x: Tensor, axis: ReduceAxis): Geometry {
  if (x.dtype !== 'f32') throw new Error(`${op}: input ${x.describe()} is ${x.dtype}, expected f32`);
  const shape = x.shape;
  if (shape.length === 0) throw new Error(`${op}: input ${x.describe()} has no axes`);
  if (axis !== -1 && axis !== 0) throw new Error(`${op}: axis ${String(axis)} is not supported (use -1 for the last axis, 0 for the first)`);
  if (axis === -1) {
    const inner = shape[shape.length - 1];
    const outShape = shape.length > 1 ? shape.slice(0, -1) : [1];
    const rows = x.size / Math.max(1, inner);
    if (inner === 0) throw new Error(`${op}: input ${x.describe()} has an empty last axis`);
    return { rows: shape.length > 1 ? rows : 1, inner, outShape, reduced: inner, outputs: shape.length > 1 ? rows : 1 };
  }
  const rows = shape[0];
  if (rows === 0) throw new Error(`${op}: input ${x.describe()} has an empty first axis`);
  const inner = x.size / rows;
  return { rows, inner, outShape: shape.length > 1 ? shape.slice(1) : [1], reduced: rows, outputs: inner };
}

function checkSubgroups(op: string, engine: Engine, options: ReduceOptions): { SUBGROUPS?: boolean } {
  if (options.subgroups === true && !engine.hasSubgroups) throw new Error(`${op}: subgroups requested but the adapter has no 'subgroups' feature`);
  return options.subgroups === false ? { SUBGROUPS: false } : {};
}

function checkChunk(op: string, chunk: number | undefined): void {
  if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 2)) throw new Error(`${op}: chunk ${chunk} must be an integer ≥ 2`);
}

/** Workgroups needed for `groups` groups, folded into a 2-D grid. */
function groupGrid(engine: Engine, groups: number): [number, number] {
  return engine.grid(groups, 1);
}

/** Column tile width of the first-axis kernels: the smallest of 1, 4, 16, 64 covering `inner`. */
function columnTile(inner: number): number {
  for (const tc of [1, 4, 16]) if (inner <= tc) return tc;
  return 64;
}

interface PassOutputs {
  value: GPUBuffer;
  aux: GPUBuffer | null;
  idx: GPUBuffer | null;
}

/**
 * Encode the passes of one reduction; the last pass writes `result` (for 'lse' the final m + log s)
 * and, for 'max', `argmax`.
 */
function runReduction(op: string, engine: Engine, kind: ReduceKind, x: Tensor, g: Geometry, axis: ReduceAxis, options: ReduceOptions, result: Tensor, argmax: Tensor | null = null): void {
  checkChunk(op, options.chunk);
  const defines = checkSubgroups(op, engine, options);
  let input: PassOutputs = { value: x.buffer, aux: null, idx: null };
  let reduced = g.reduced;
  let flags = 0;
  const scratch: GPUBuffer[] = [];
  // Kernels declare the aux/index bindings even when a pass does not touch them; bind harmless stand-ins.
  const dummyOut = engine.alloc(4, `${op}.unused`);
  scratch.push(dummyOut);
  for (;;) {
    let kernel: Kernel;
    let chunk: number;
    let groups: number;
    let numChunks: number;
    if (axis === -1) {
      const wg = reduced <= 4 * SMALL_WG ? SMALL_WG : WG;
      kernel = engine.kernel('reduce', `${kind}_last`, { defines, overrides: { WG: wg } });
      chunk = options.chunk ?? wg * ITEMS_PER_THREAD;
      numChunks = reduced > chunk ? Math.ceil(reduced / chunk) : 1;
      if (numChunks === 1) chunk = reduced;
      groups = g.rows * numChunks;
    } else {
      const tc = columnTile(g.inner);
      kernel = engine.kernel('reduce', `${kind}_first`, { overrides: { WG, TC: tc } });
      chunk = options.chunk ?? (WG / tc) * ITEMS_PER_THREAD;
      numChunks = reduced > chunk ? Math.ceil(reduced / chunk) : 1;
      if (numChunks === 1) chunk = reduced;
      groups = Math.ceil(g.inner / tc) * numChunks;
    }
    const outputs = axis === -1 ? g.rows * numChunks : numChunks * g.inner;
    const last = numChunks === 1;
    const out: PassOutputs = last
      ? { value: result.buffer, aux: null, idx: argmax?.buffer ?? null }
      : {
          value: engine.alloc(outputs * 4, `${op}.partial`),
          aux: kind === 'lse' ? engine.alloc(outputs * 4, `${op}.partial.aux`) : null,
          idx: kind === 'max' ? engine.alloc(outputs * 4, `${op}.partial.idx`) : null,
        };
    const params = {
      rows: axis === -1 ? g.rows : reduced,
      inner: axis === -1 ? reduced : g.inner,
      chunk,
      num_chunks: numChunks,
      flags: flags | (kind === 'lse' && last ? FLAG_FINAL : 0),
      neg_inf: -Infinity,
    };
    const bindings: Record<string, GPUBuffer | Record<string, number>> = { x: input.value, out: out.value, p: params };
    if (kind === 'lse') {
      bindings.x_aux = input.aux ?? input.value;
      bindings.out_aux = out.aux ?? dummyOut;
    }
    if (kind === 'max') {
      bindings.x_idx = input.idx ?? input.value;
      bindings.out_idx = out.idx!;
    }
    engine.dispatch(kernel, bindings, groupGrid(engine, groups));
    if (input.value !== x.buffer) scratch.push(input.value);
    if (input.aux) scratch.push(input.aux);
    if (input.idx) scratch.push(input.idx);
    if (last) {
      // Released buffers return to the pool only after the submit that uses them has completed.
      for (const b of scratch) engine.release(b);
      return;
    }
    input = out;
    reduced = numChunks;
    flags = FLAG_PARTIAL_INPUT;
  }
}

function backwardKernel(engine: Engine, entry: string): Kernel {
  return engine.kernel('reduce', entry, { overrides: { WG } });
}

function dispatchBackward(engine: Engine, entry: string, x: Tensor, g: Geometry, axis: ReduceAxis, bindings: Record<string, Tensor | GPUBuffer>): Tensor {
  const gx = Tensor.empty(engine, x.shape, 'f32', `${entry}.gx`);
  const p = { n: x.size, inner: g.inner, axis_last: axis === -1 ? 1 : 0, neg_inf: -Infinity };
  engine.dispatch(backwardKernel(engine, entry), { ...bindings, gx, bp: p }, engine.grid(x.size, WG));
  return gx;
}

/** Sum over `axis` (-1: last, 0: first). */
export function sum(x: Tensor, axis: ReduceAxis = -1, options: ReduceOptions = {}): Tensor {
  const engine = x.engine;
  const g = geometry('sum', x, axis);
  const out = Tensor.empty(engine, g.outShape, 'f32', 'sum');
  runReduction('sum', engine, 'sum', x, g, axis, options, out);
  record('sum', [x], [out], ([gy]) => [gy ? dispatchBackward(engine, 'sum_backward', x, g, axis, { gy }) : null]);
  return out;
}

/** Max over `axis` and the (first) position of the max along it; indices carry no gradient. */
export function maxWithArgmax(x: Tensor, axis: ReduceAxis = -1, options: ReduceOptions = {}): { values: Tensor; indices: Tensor } {
  const engine = x.engine;
  const g = geometry('max', x, axis);
  const values = Tensor.empty(engine, g.outShape, 'f32', 'max');
  const indices = Tensor.empty(engine, g.outShape, 'u32', 'argmax');
  runReduction('max', engine, 'max', x, g, axis, options, values, indices);
  const savedIdx = indices.retain();
  record(
    'max',
    [x],
    [values, indices],
    ([gy]) => [gy ? dispatchBackward(engine, 'max_backward', x, g, axis, { gy, arg: savedIdx }) : null],
    [savedIdx],
    { nonDifferentiable: [1] },
  );
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
  runReduction('logsumexp', engine, 'lse', x, g, axis, options, out);
  const savedX = x.retain();
  const savedY = out.retain();
  record('logsumexp', [x], [out], ([gy]) => [gy ? dispatchBackward(engine, 'lse_backward', savedX, g, axis, { gy, x: savedX, y: savedY }) : null], [savedX, savedY]);
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

export function sumReference(x: ArrayLike<number>, shape: readonly number[], axis: ReduceAxis = -1): Float64Array {
  const g = refGeometry(shape, axis);
  const n = axis === -1 ? g.inner : g.rows;
  const out = new Float64Array(g.outputs);
  for (let o = 0; o < g.outputs; o++) for (let k = 0; k < n; k++) out[o] += at(x, g, axis, o, k);
  return out;
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
