/**
 * Shared pieces of the kernel benchmarks: the record each one yields, its options, and GPU timing
 * (warm-up, then the median of several samples, each `repeat` dispatches in one submit + sync).
 */
import { median } from '../src/analysis/stats.js';
import type { Engine } from '../src/gpu/engine.js';

/** One JSON line of `lowrank-smc bench kernels` (the CLI adds `adapter`). */
export interface KernelBenchRecord {
  name: string;
  /** Problem size in elements (the module documents what it counts). */
  size: number;
  /** Milliseconds per kernel invocation (median). */
  ms: number;
  gflops: number;
  gbps: number;
  [extra: string]: unknown;
}

export interface KernelBenchOptions {
  /** Software adapter: use small sizes. */
  software: boolean;
  /** Timed samples per size (median reported). */
  runs: number;
  /** Untimed samples before timing (compilation, pool warm-up). */
  warmup: number;
  /** Override the default sizes. */
  sizes?: number[];
}

/** A kernel-bench module (bench/kernels-*.ts) exports `runBench` with this signature. */
export type KernelBench = (engine: Engine, options: KernelBenchOptions) => AsyncIterable<KernelBenchRecord>;

/**
 * Milliseconds per call of `encode` (which only encodes dispatches): each sample encodes it
 * `repeat` times, submits once and waits for the GPU, so submit latency is amortised.
 */
export async function timeGpu(engine: Engine, encode: () => void, options: { runs: number; warmup: number; repeat?: number }): Promise<number> {
  const repeat = Math.max(1, options.repeat ?? 1);
  await engine.sync();
  for (let w = 0; w < Math.max(1, options.warmup); w++) {
    encode();
    await engine.sync();
  }
  const samples: number[] = [];
  for (let r = 0; r < Math.max(1, options.runs); r++) {
    const t0 = performance.now();
    for (let i = 0; i < repeat; i++) encode();
    await engine.sync();
    samples.push((performance.now() - t0) / repeat);
  }
  return median(samples);
}

/**
 * Per-kernel profile of what `encode` dispatches: it runs once with every dispatch recorded (its
 * buffers resolved, so released tensors' buffers are replayed as they were), then each recorded
 * dispatch is replayed `repeat` times in one submit and timed to completion. Returns milliseconds per
 * kernel label (summed over its dispatches, per replay) with dispatch counts, largest first. The
 * replays see whatever the buffers hold by then: a profile of costs, not of results.
 */
export async function profileDispatches(
  engine: Engine,
  encode: () => void,
  repeat = 3,
): Promise<{ kernel: string; dispatches: number; ms: number; cpu_ms: number }[]> {
  type Dispatch = Parameters<Engine['dispatch']>;
  const recorded: Dispatch[] = [];
  const dispatch = engine.dispatch;
  engine.dispatch = (kernel, bindings, grid) => {
    dispatch.call(engine, kernel, bindings, grid);
    const resolved: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(bindings)) {
      const buf = v && typeof v === 'object' && 'buffer' in v ? (v as { buffer: unknown }).buffer : null;
      resolved[k] = buf && typeof (buf as { size?: unknown }).size === 'number' ? buf : v;
    }
    recorded.push([kernel, resolved as Dispatch[1], grid]);
  };
  try {
    encode();
  } finally {
    engine.dispatch = dispatch;
  }
  await engine.sync();
  const by = new Map<string, { dispatches: number; ms: number; cpu_ms: number }>();
  for (const [kernel, bindings, grid] of recorded) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let r = 0; r < repeat; r++) engine.dispatch(kernel, bindings, grid);
    await engine.sync();
    const c = process.cpuUsage(c0);
    const e = by.get(kernel.label) ?? { dispatches: 0, ms: 0, cpu_ms: 0 };
    e.dispatches++;
    e.ms += (performance.now() - t0) / repeat;
    // this process's CPU time (a software adapter computes on its threads): steadier than wall time on a loaded machine
    e.cpu_ms += (c.user + c.system) / 1000 / repeat;
    by.set(kernel.label, e);
  }
  return [...by.entries()].map(([kernel, e]) => ({ kernel, ...e })).sort((a, b) => b.ms - a.ms);
}
