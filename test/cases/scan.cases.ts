// Prefix scan (src/ops/scan.ts) against float64 references: per-row scans in one workgroup,
// reduce-then-scan across workgroups (up to 2^20+ elements, three levels), and gradient checks.
import { gradCheck } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { cumsum, cumsumReference, type ScanOptions } from '../../src/ops/scan.js';
import type { GpuCase } from './types.js';

const EPS32 = 2 ** -24;

/**
 * f32 accumulation bound: every output is a sum of its prefix combined over at most a few dozen
 * rounding stages (serial items, workgroup tree, block offsets per level), so we allow
 * 64 eps Σ_{j in prefix} |x_j| (plus a tiny floor for exact zeros).
 */
function checkScan(got: Float32Array, x: Float32Array, shape: number[], options: ScanOptions, what: string): number {
  const want = cumsumReference(x, shape, options);
  const absPrefix = cumsumReference(Float64Array.from(x, Math.abs), shape, { reverse: options.reverse });
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const bound = 64 * EPS32 * absPrefix[i] + 1e-30;
    const ratio = Math.abs(got[i] - want[i]) / bound;
    if (!(ratio <= 1)) throw new Error(`${what}: element ${i} is ${got[i]}, float64 ${want[i]} (bound ${bound.toExponential(2)})`);
    worst = Math.max(worst, ratio);
  }
  return worst;
}

function data(n: number, seed: number, positive: boolean): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (positive ? rand() : rand() * 2 - 1));
}

async function runScan(engine: Engine, shape: number[], options: ScanOptions, seed: number, label: string): Promise<void> {
  const n = shape.reduce((a, b) => a * b, 1);
  for (const positive of [true, false]) {
    const xs = data(n, seed, positive);
    const x = Tensor.fromArray(engine, xs, shape);
    const y = cumsum(x, options);
    checkScan(await y.readF32(), xs, shape, options, `${label} [${shape}] ${JSON.stringify(options)} ${positive ? 'positive' : 'signed'}`);
    x.dispose();
    y.dispose();
  }
}

const VARIANTS: ScanOptions[] = [{}, { exclusive: true }, { reverse: true }, { exclusive: true, reverse: true }];

export const cases: GpuCase[] = [
  {
    name: 'scan: per-row scans within one workgroup match float64 (subgroup and fallback kernels)',
    async run(engine) {
      const shapes = [[1], [5, 7], [16, 64], [3, 512], [2, 513], [2, 1000], [3, 2048], [2, 3, 50]];
      for (const subgroups of [true, false]) {
        for (const [i, shape] of shapes.entries()) {
          for (const v of VARIANTS) await runScan(engine, shape, subgroups ? v : { ...v, subgroups: false }, i + 1, subgroups ? 'subgroups' : 'fallback');
        }
      }
    },
  },
  {
    name: 'scan: reduce-then-scan across workgroups (2 and 3 levels) matches float64',
    async run(engine) {
      for (const subgroups of [true, false]) {
        const sg: ScanOptions = subgroups ? {} : { subgroups: false };
        for (const v of VARIANTS) await runScan(engine, [3, 5000], { ...v, ...sg }, 20, 'two-level');
        // Blocks of 512: 300001 -> 586 block totals -> 2 -> 1.
        await runScan(engine, [300_001], { ...sg, wg: 64 }, 21, 'three-level');
        await runScan(engine, [300_001], { ...sg, wg: 64, exclusive: true, reverse: true }, 22, 'three-level');
      }
    },
  },
  {
    name: 'scan: 2^20 and longer arrays match float64',
    timeoutMs: 120_000,
    async run(engine) {
      await runScan(engine, [1 << 20], {}, 30, 'large');
      await runScan(engine, [(1 << 20) + 12_345], { exclusive: true, subgroups: false }, 31, 'large fallback');
      await runScan(engine, [4, 1 << 18], { reverse: true }, 32, 'large rows');
    },
  },
  {
    name: 'scan: gradients (reverse cumulative sums) match finite differences',
    async run(engine) {
      const rand = mulberry32(5);
      for (const [shape, wg] of [
        [[3, 10], undefined],
        [[2, 600], 64],
      ] as const) {
        const n = shape[0] * shape[1];
        const xs = Array.from({ length: n }, () => rand() * 2 - 1);
        for (const v of VARIANTS) {
          const options: ScanOptions = { ...v, wg };
          await gradCheck(engine, {
            name: `cumsum [${shape}] ${JSON.stringify(options)}`,
            inputs: [{ data: xs, shape: [...shape] }],
            gpu: (_e, [x]) => cumsum(x, options),
            reference: ([x]) => cumsumReference(x, shape, options),
            atol: 1e-3,
          });
        }
      }
    },
  },
  {
    name: 'scan: bad input gets an error naming the problem',
    async run(engine) {
      const u = Tensor.zeros(engine, [4], 'u32');
      try {
        cumsum(u);
        throw new Error('no error for a u32 input');
      } catch (e) {
        if (!/cumsum: input .* is u32, expected f32/.test((e as Error).message)) throw e;
      }
      u.dispose();
    },
  },
];
