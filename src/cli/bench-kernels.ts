/**
 * `bench kernels`: runs each kernel benchmark module in bench/ (copy, low-rank product, reduction
 * and scan). Modules are imported lazily; one that does not exist yet yields a note instead.
 */
import type { Engine } from '../gpu/engine.js';
import type { KernelBench, KernelBenchOptions } from '../../bench/timing.js';
import type { BenchContext, BenchLine } from '../../bench/context.js';

export const summary = 'per-kernel timings: copy (bandwidth roof), low-rank product, reduction, scan, Kalman R×R algebra, 1-D convolution (encoder)';

/** Name → module path (relative to this file, so it also resolves from the compiled dist/). */
export const KERNEL_BENCHES: Record<string, string> = {
  copy: '../../bench/kernels-copy.js',
  lowrank: '../../bench/kernels-lowrank.js',
  reduce: '../../bench/kernels-reduce.js',
  kalman: '../../bench/kernels-kalman.js',
  conv: '../../bench/kernels-conv.js',
};

export const options = {
  only: { type: 'string' },
  sizes: { type: 'string' },
} as const;

export const usage = [
  '  --only a,b     run only these benchmarks (' + Object.keys(KERNEL_BENCHES).join(', ') + ')',
  '  --sizes n,m    problem sizes instead of the defaults for the adapter',
].join('\n');

export async function* runBench(engine: Engine, ctx: BenchContext): AsyncIterable<BenchLine> {
  const only = typeof ctx.values.only === 'string' ? ctx.values.only.split(',').map((s) => s.trim()) : Object.keys(KERNEL_BENCHES);
  const unknown = only.filter((n) => !(n in KERNEL_BENCHES));
  if (unknown.length) throw new Error(`--only: unknown benchmark(s) ${unknown.join(', ')} (available: ${Object.keys(KERNEL_BENCHES).join(', ')})`);
  const options: KernelBenchOptions = { software: ctx.software, runs: ctx.runs, warmup: ctx.warmup, sizes: parseSizes(ctx.values.sizes) };
  for (const name of only) {
    const bench = await loadBench(KERNEL_BENCHES[name]);
    if (!bench) {
      yield { note: `${name}: ${KERNEL_BENCHES[name].replace('../../', '').replace(/\.js$/, '.ts')} is not there yet; skipped` };
      continue;
    }
    yield* bench(engine, options);
  }
}

function parseSizes(v: unknown): number[] | undefined {
  if (typeof v !== 'string') return undefined;
  return v.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--sizes: '${s}' is not a positive integer`);
    return n;
  });
}

/** Import a bench module; undefined if the file itself does not exist (other import errors propagate). */
export async function loadBench(path: string): Promise<KernelBench | undefined> {
  let mod: { runBench?: KernelBench };
  try {
    // A non-literal specifier: the module may not exist yet, and the type checker must not require it.
    mod = (await import(/* @vite-ignore */ path)) as { runBench?: KernelBench };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const file = path.replace(/^.*\//, '').replace(/\.js$/, '');
    const missing = err.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module|Failed to load|does not exist|not found/i.test(err.message);
    if (missing && err.message.includes(file)) return undefined;
    throw e;
  }
  if (typeof mod.runBench !== 'function') throw new Error(`${path}: bench module does not export runBench(engine, options)`);
  return mod.runBench;
}
