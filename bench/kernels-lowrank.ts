/**
 * Low-rank product (shaders/lowrank.wgsl): y_p = Nmatᵀ φ(M z_p + c; h) for P particles.
 * size = particles P. FLOPs per particle: 4NR for the two products plus 2N for the bias and φ;
 * bytes: z read and y written (8R per particle) plus the parameters once (4(2NR + 2N)).
 * The forward+backward record adds the gradient kernels (≈ 14NR + 8N more FLOPs per particle).
 */
import { Tape } from '../src/autodiff/tape.js';
import { Tensor } from '../src/autodiff/tensor.js';
import { mulberry32 } from '../src/util/random.js';
import type { Engine } from '../src/gpu/engine.js';
import { lowrankProduct, lowrankProductRef } from '../src/ops/lowrank.js';
import type { Nonlinearity } from '../src/ops/nonlin.js';
import { timeGpu, type KernelBenchOptions, type KernelBenchRecord } from './timing.js';

export interface LowrankBenchConfig {
  P: number;
  N?: number;
  R?: number;
  nonlinearity?: Nonlinearity;
  runs?: number;
  warmup?: number;
  /** Also time forward + backward (all five gradients). */
  backward?: boolean;
}

export function defaultLowrankSizes(software: boolean): number[] {
  return software ? [1 << 10, 1 << 12, 1 << 14, 1 << 16] : [1 << 14, 1 << 16, 1 << 18, 1 << 20];
}

/** Time the low-rank forward (and optionally forward+backward) at one size; checks a few outputs first. */
export async function benchLowrank(engine: Engine, config: LowrankBenchConfig): Promise<KernelBenchRecord[]> {
  const { P, N = 512, R = 3, nonlinearity = 'clipped_relu', runs = 5, warmup = 1 } = config;
  const rand = mulberry32(42);
  const u = (n: number, s: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
  const data = { z: u(P * R, 1), M: u(N * R, 1), c: u(N, 0.1), Nmat: u(N * R, 1 / N), h: u(N, 0.5) };
  const z = Tensor.fromArray(engine, data.z, [P, R]);
  const M = Tensor.fromArray(engine, data.M, [N, R]);
  const c = Tensor.fromArray(engine, data.c, [N]);
  const Nmat = Tensor.fromArray(engine, data.Nmat, [N, R]);
  const h = Tensor.fromArray(engine, data.h, [N]);
  const gy = Tensor.fromArray(engine, u(P * R, 1), [P, R]);
  await spotCheck(z, M, c, Nmat, h, data, P, R, nonlinearity);

  // Enough calls per submit that submit latency does not dominate small sizes.
  const repeat = Math.max(1, Math.min(16, Math.floor((1 << 16) / P)));
  const forward = () => lowrankProduct(z, M, c, Nmat, h, nonlinearity).dispose();
  const ms = await timeGpu(engine, forward, { runs, warmup, repeat });
  const flops = P * (4 * N * R + 2 * N);
  const bytes = P * 8 * R + 4 * (2 * N * R + 2 * N);
  const out: KernelBenchRecord[] = [{ name: 'lowrank.forward', size: P, ms, gflops: flops / (ms * 1e6), gbps: bytes / (ms * 1e6), N, R }];

  if (config.backward) {
    const params = [z, M, c, Nmat, h];
    const both = () => {
      for (const t of params) t.requiresGrad = true;
      const tape = Tape.begin(engine);
      const y = lowrankProduct(z, M, c, Nmat, h, nonlinearity);
      tape.end();
      for (const g of tape.gradients(y, params, { seed: gy })) g?.dispose();
      tape.dispose();
      y.dispose();
      for (const t of params) t.requiresGrad = false;
    };
    const msBoth = await timeGpu(engine, both, { runs, warmup, repeat });
    const flopsBoth = flops + P * (14 * N * R + 8 * N);
    const bytesBoth = bytes + P * 4 * R * 5;
    out.push({ name: 'lowrank.forward+backward', size: P, ms: msBoth, gflops: flopsBoth / (msBoth * 1e6), gbps: bytesBoth / (msBoth * 1e6), N, R });
  }
  for (const t of [z, M, c, Nmat, h, gy]) t.dispose();
  return out;
}

/** A benchmark must not report figures for a kernel that computes the wrong thing: check 3 particles. */
async function spotCheck(
  z: Tensor,
  M: Tensor,
  c: Tensor,
  Nmat: Tensor,
  h: Tensor,
  data: Record<string, Float32Array>,
  P: number,
  R: number,
  nl: Nonlinearity,
): Promise<void> {
  const y = lowrankProduct(z, M, c, Nmat, h, nl);
  const got = await y.readF32();
  y.dispose();
  for (const q of [0, P >> 1, P - 1]) {
    const want = lowrankProductRef(data.z.subarray(q * R, (q + 1) * R), data.M, data.c, data.Nmat, data.h, R, nl);
    for (let r = 0; r < R; r++) {
      const g = got[q * R + r];
      if (!(Math.abs(g - want[r]) <= 1e-4 + 1e-3 * Math.abs(want[r]))) throw new Error(`lowrank bench: particle ${q} output ${r} is ${g}, expected ${want[r]}`);
    }
  }
}

/** `lowrank-smc bench kernels` entry: R = 3, N = 512, forward and forward+backward per size. */
export async function* runBench(engine: Engine, options: KernelBenchOptions): AsyncIterable<KernelBenchRecord> {
  for (const P of options.sizes ?? defaultLowrankSizes(options.software)) {
    yield* await benchLowrank(engine, { P, runs: options.runs, warmup: options.warmup, backward: true });
  }
}
