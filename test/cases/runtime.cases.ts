import { Tensor } from '../../src/autodiff/tensor.js';
import { assertClose } from '../../src/autodiff/gradcheck.js';
import { GpuLimitError, ShaderCompileError } from '../../src/gpu/errors.js';
import type { Engine } from '../../src/gpu/engine.js';
import type { GpuCase } from './types.js';

async function expectThrows(what: string, f: () => unknown | Promise<unknown>, check: (e: Error) => boolean): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!check(e as Error)) throw new Error(`${what}: wrong error: ${(e as Error).message}`);
    return;
  }
  throw new Error(`${what}: expected an error, none was thrown`);
}

function copy(engine: Engine, src: Tensor, dst: Tensor): void {
  engine.dispatch(engine.kernel('copy', 'main'), { src, dst, p: { n: src.size } }, engine.grid(src.size, 256));
}

export const cases: GpuCase[] = [
  {
    name: 'kernel(): a repeated request with the same options is answered without preprocessing again; other defines compile anew',
    async run(engine) {
      const calls: string[] = [];
      const fromSource = engine.kernelFromSource;
      engine.kernelFromSource = (label, code, entry, overrides) => {
        calls.push(label);
        return fromSource.call(engine, label, code, entry, overrides);
      };
      try {
        const opts = (lg: number) => ({ defines: { LG: lg }, variant: `memo${lg}` });
        const a = engine.kernel('scan', 'scan_block', { ...opts(1), overrides: { WG: 64 } });
        const b = engine.kernel('scan', 'scan_block', { ...opts(1), overrides: { WG: 64 } });
        const c = engine.kernel('scan', 'scan_block', { ...opts(2), overrides: { WG: 64 } });
        const d = engine.kernel('scan', 'scan_block', { ...opts(1), overrides: { WG: 32 } });
        if (a !== b) throw new Error('the same request returned another kernel');
        if (calls.join() !== 'scan.scan_block[memo1],scan.scan_block[memo2],scan.scan_block[memo1]')
          throw new Error(`kernelFromSource calls: ${calls.join()} (want memo1, memo2, memo1 with other overrides)`);
        if (d === a) throw new Error('other overrides returned the same kernel');
        void c;
      } finally {
        engine.kernelFromSource = fromSource;
      }
    },
  },
  {
    name: 'copy kernel round-trips data, folding large grids into 2-D',
    async run(engine) {
      for (const n of [1, 1000, 70_000 * 256 + 3]) {
        if (n * 4 > engine.limits.maxStorageBufferBindingSize) continue;
        const data = new Float32Array(n).map((_, i) => (i % 1009) * 0.25 - 7);
        const a = Tensor.fromArray(engine, data);
        const b = Tensor.empty(engine, [n]);
        copy(engine, a, b);
        assertClose(await b.readF32(), data, { atol: 0, rtol: 0, what: `copy n=${n}` });
        a.dispose();
        b.dispose();
      }
    },
  },
  {
    name: 'invalid WGSL throws an error naming the kernel',
    async run(engine) {
      await expectThrows(
        'parse error',
        () => engine.kernelFromSource('broken.parse', 'fn main( {', 'main'),
        (e) => e instanceof ShaderCompileError && e.message.includes('broken.parse'),
      );
      // Parses but does not type-check: caught by Dawn's compiler, reported at the next sync.
      const bad = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
        @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { x[g.x] = undefined_thing; }`;
      await expectThrows(
        'type error',
        async () => {
          engine.kernelFromSource('broken.types', bad, 'main');
          await engine.sync();
        },
        (e) => e instanceof ShaderCompileError && e.message.includes('broken.types'),
      );
    },
  },
  {
    name: 'over-limit requests throw errors naming the kernel',
    async run(engine) {
      const big = engine.limits.maxComputeInvocationsPerWorkgroup * 2;
      const src = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
        @compute @workgroup_size(${big}) fn main(@builtin(global_invocation_id) g: vec3<u32>) { x[g.x] = 1.0; }`;
      await expectThrows(
        'workgroup size',
        () => engine.kernelFromSource('too.wide', src, 'main'),
        (e) => e instanceof GpuLimitError && e.message.includes('too.wide'),
      );
      const k = engine.kernel('copy', 'main');
      const a = Tensor.zeros(engine, [4]);
      const b = Tensor.zeros(engine, [4]);
      await expectThrows(
        'dispatch size',
        () => engine.dispatch(k, { src: a, dst: b, p: { n: 4 } }, engine.limits.maxComputeWorkgroupsPerDimension + 1),
        (e) => e instanceof GpuLimitError && e.message.includes('copy.main'),
      );
      await expectThrows(
        'missing binding',
        () => engine.dispatch(k, { src: a, p: { n: 4 } }, 1),
        (e) => e.message.includes('copy.main') && e.message.includes('dst'),
      );
      await expectThrows(
        'bad uniform field',
        () => engine.dispatch(k, { src: a, dst: b, p: { n: 4, m: 1 } }, 1),
        (e) => e.message.includes('copy.main') && e.message.includes('"m"'),
      );
      await expectThrows(
        'buffer size',
        () => engine.alloc(engine.limits.maxBufferSize + 4),
        (e) => e instanceof GpuLimitError,
      );
      a.dispose();
      b.dispose();
    },
  },
  {
    name: 'pool does not grow over 1000 training-like iterations',
    async run(engine) {
      const x = Tensor.fromArray(engine, new Float32Array(4096).fill(1));
      const step = () => {
        // allocate temporaries of a few sizes, use them, free them: like one iteration's forward+backward
        const t1 = Tensor.empty(engine, [4096]);
        const t2 = Tensor.empty(engine, [1000]);
        const t3 = Tensor.empty(engine, [7]);
        copy(engine, x, t1);
        t1.dispose();
        t2.dispose();
        t3.dispose();
      };
      // Like the trainer: one submit per iteration, a host sync (loss readback) every 10 iterations.
      const iterate = async (n: number) => {
        for (let i = 0; i < n; i++) {
          step();
          engine.flush();
          if (i % 10 === 9) await engine.sync();
        }
        await engine.sync();
      };
      await iterate(50);
      const before = engine.poolStats();
      await iterate(1000);
      const after = engine.poolStats();
      if (after.bytesAllocated > before.bytesAllocated) {
        throw new Error(`pool grew from ${before.bytesAllocated} to ${after.bytesAllocated} bytes`);
      }
      x.dispose();
    },
  },
];
