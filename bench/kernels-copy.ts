/**
 * Plain f32 copy (shaders/copy.wgsl): the memory-bandwidth roof the other kernels are compared with.
 * size = elements copied; gbps counts one read and one write per element.
 */
import type { Engine } from '../src/gpu/engine.js';
import { timeGpu, type KernelBenchOptions, type KernelBenchRecord } from './timing.js';

const WG = 256;

export function defaultCopySizes(software: boolean): number[] {
  return software ? [1 << 16, 1 << 20, 1 << 22] : [1 << 20, 1 << 24, 1 << 26];
}

export async function* runBench(engine: Engine, options: KernelBenchOptions): AsyncIterable<KernelBenchRecord> {
  const kernel = engine.kernel('copy', 'main', { overrides: { WG } });
  await engine.compile(kernel);
  const maxBytes = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
  for (const n of options.sizes ?? defaultCopySizes(options.software)) {
    if (n * 4 > maxBytes) continue;
    const src = engine.upload(pattern(n), 'bench.copy.src');
    const dst = engine.alloc(n * 4, 'bench.copy.dst');
    // Enough dispatches per submit that submit latency does not dominate small sizes.
    const repeat = Math.min(options.software ? 8 : 64, Math.max(1, Math.floor((options.software ? 1 << 22 : 1 << 26) / n)));
    const encode = () => engine.dispatch(kernel, { src, dst, p: { n } }, engine.grid(n, WG));
    const ms = await timeGpu(engine, encode, { runs: options.runs, warmup: options.warmup, repeat });
    await checkCopied(engine, dst, n);
    engine.release(src);
    engine.release(dst);
    yield { name: 'copy', size: n, ms, gflops: 0, gbps: (2 * 4 * n) / (ms * 1e6) };
  }
}

function pattern(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (i % 1021) - 510.5;
  return a;
}

/** A benchmark must not report figures for a kernel that did not do its job: spot-check the copy. */
async function checkCopied(engine: Engine, dst: GPUBuffer, n: number): Promise<void> {
  for (const i of [0, n >> 1, n - 1]) {
    const [v] = await engine.readF32(dst, 1, i);
    const want = (i % 1021) - 510.5;
    if (v !== want) throw new Error(`copy bench: element ${i} is ${v}, expected ${want}`);
  }
}
