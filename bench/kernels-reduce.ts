/**
 * Reduction and prefix-scan timings (sum: src/ops/linalg.ts on src/ops/reduce.ts's kernels; logsumexp:
 * src/ops/reduce.ts; scan: src/ops/scan.ts). size = input elements.
 * gbps counts the bytes the op must move at least: reductions read 4 B per element; scans read and
 * write 4 B per element (reduce-then-scan actually reads long rows twice, so its gbps is a lower
 * bound of the traffic). gflops counts one add per element.
 *
 *   reduce.sum        sum of one row of `size` elements (multi-pass over workgroups)
 *   reduce.logsumexp  logsumexp over particles: [size / 1024 trials, 1024 particles]
 *   scan              inclusive scan of one row of `size` elements (reduce-then-scan)
 *   scan.rows         inclusive scan per row: [size / 1024 trials, 1024 particles], one workgroup each
 */
import { Tensor } from '../src/autodiff/tensor.js';
import type { Engine } from '../src/gpu/engine.js';
import { sum } from '../src/ops/linalg.js';
import { logsumexp } from '../src/ops/reduce.js';
import { cumsum } from '../src/ops/scan.js';
import { timeGpu, type KernelBenchOptions, type KernelBenchRecord } from './timing.js';

export interface ReduceBenchResult {
  name: string;
  size: number;
  ms: number;
  gbps: number;
}

export interface ReduceBenchOptions {
  runs?: number;
  warmup?: number;
  /** Ops per submit (amortises submit latency for small sizes). */
  repeat?: number;
}

const PARTICLES = 1024;

export function defaultReduceSizes(software: boolean): number[] {
  return software ? [1 << 16, 1 << 20, 1 << 22] : [1 << 20, 1 << 24, 1 << 26];
}

function pattern(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return a;
}

function rowsShape(n: number, rowLength: number): number[] {
  if (n % rowLength !== 0) throw new Error(`bench: size ${n} is not a multiple of ${rowLength}`);
  return [n / rowLength, rowLength];
}

async function timeOp(engine: Engine, x: Tensor, op: (x: Tensor) => Tensor, options: ReduceBenchOptions): Promise<number> {
  return timeGpu(engine, () => op(x).dispose(), { runs: options.runs ?? 5, warmup: options.warmup ?? 2, repeat: options.repeat ?? 1 });
}

/** Time one reduction: 'sum' over a single row, 'logsumexp' over 1024 particles per trial. */
export async function benchReduce(engine: Engine, kind: 'sum' | 'logsumexp', size: number, options: ReduceBenchOptions = {}): Promise<ReduceBenchResult> {
  const data = pattern(size);
  const shape = kind === 'sum' ? [1, size] : rowsShape(size, PARTICLES);
  const x = Tensor.fromArray(engine, data, shape, 'f32', `bench.${kind}`);
  const op = kind === 'sum' ? (t: Tensor) => sum(t) : (t: Tensor) => logsumexp(t);
  const ms = await timeOp(engine, x, op, options);
  // Do not report figures for a kernel that did not do its job: check the first output.
  const y = op(x);
  const [got] = await engine.readF32(y.buffer, 1);
  let want = 0;
  if (kind === 'sum') for (let i = 0; i < size; i++) want += data[i];
  else {
    for (let i = 0; i < PARTICLES; i++) want += Math.exp(data[i]);
    want = Math.log(want);
  }
  if (!(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)) + 1e-6 * size))
    throw new Error(`reduce bench ${kind}: first output ${got}, expected ${want}`);
  y.dispose();
  x.dispose();
  return { name: `reduce.${kind}`, size, ms, gbps: (4 * size) / (ms * 1e6) };
}

/** Time an inclusive scan: one long row ('scan') or 1024-element rows ('scan.rows'). */
export async function benchScan(engine: Engine, kind: 'scan' | 'scan.rows', size: number, options: ReduceBenchOptions = {}): Promise<ReduceBenchResult> {
  const data = pattern(size);
  const shape = kind === 'scan' ? [size] : rowsShape(size, PARTICLES);
  const x = Tensor.fromArray(engine, data, shape, 'f32', `bench.${kind}`);
  const ms = await timeOp(engine, x, (t) => cumsum(t), options);
  const y = cumsum(x);
  const rowLength = shape[shape.length - 1];
  const [got] = await engine.readF32(y.buffer, 1, rowLength - 1);
  let want = 0;
  for (let i = 0; i < rowLength; i++) want += data[i];
  if (!(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)) + 1e-6 * rowLength))
    throw new Error(`scan bench ${kind}: end of the first row ${got}, expected ${want}`);
  y.dispose();
  x.dispose();
  return { name: kind, size, ms, gbps: (8 * size) / (ms * 1e6) };
}

/** Entry point for `lowrank-smc bench kernels` (bench/timing.ts KernelBench). */
export async function* runBench(engine: Engine, options: KernelBenchOptions): AsyncIterable<KernelBenchRecord> {
  const maxElements = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize) / 4;
  for (const size of options.sizes ?? defaultReduceSizes(options.software)) {
    if (size > maxElements) continue;
    const repeat = Math.min(options.software ? 8 : 64, Math.max(1, Math.floor((options.software ? 1 << 22 : 1 << 26) / size)));
    const timing = { runs: options.runs, warmup: options.warmup, repeat };
    const results: ReduceBenchResult[] = [await benchReduce(engine, 'sum', size, timing), await benchScan(engine, 'scan', size, timing)];
    if (size % PARTICLES === 0) {
      results.push(await benchReduce(engine, 'logsumexp', size, timing), await benchScan(engine, 'scan.rows', size, timing));
    }
    for (const r of results) yield { ...r, gflops: r.size / (r.ms * 1e6) };
  }
}
