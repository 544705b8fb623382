/**
 * The optimal proposal's R×R Kalman quantities (src/ops/kalman.ts, shaders/kalman.wgsl): one
 * workgroup per call, so the figure is latency, not throughput. size = rank R. Each record names the
 * variant (`path`) and whether the op chooses it by itself at that R (`auto`); where the one-invocation
 * variant exists (R ≤ KALMAN_SINGLE_MAX_RANK) both are timed. Nominal FLOPs: the forward ≈ (8/3)R³ (two
 * triangular inverses, two triangular Gram products, two Cholesky factorisations); forward+backward
 * ≈ 18R³ (the backward recomputes the forward and adds six R×R products and a triangular inverse).
 */
import { Tape } from '../src/autodiff/tape.js';
import { Tensor } from '../src/autodiff/tensor.js';
import type { Engine } from '../src/gpu/engine.js';
import { KALMAN_SINGLE_MAX_RANK, kalmanPacked, kalmanPackedRef, kalmanProblem, type KalmanPath } from '../src/ops/kalman.js';
import { timeGpu, type KernelBenchOptions, type KernelBenchRecord } from './timing.js';

export const DEFAULT_KALMAN_RANKS = [3, 16, 36, 64];

export async function benchKalman(engine: Engine, R: number, path: KalmanPath, options: { runs: number; warmup: number }): Promise<KernelBenchRecord[]> {
  const { L, G } = kalmanProblem(R, 7);
  const l = Tensor.fromArray(engine, L, [R, R]);
  const g = Tensor.fromArray(engine, G, [R, R]);
  await spotCheck(l, g, L, G, R, path);
  // Calls per submit: submit latency would otherwise dominate such small dispatches.
  const timing = { ...options, repeat: 8 };
  const auto = (R <= KALMAN_SINGLE_MAX_RANK ? 'single' : 'workgroup') === path;
  const ms = await timeGpu(engine, () => kalmanPacked(l, g, path).dispose(), timing);
  const seed = Tensor.fromArray(
    engine,
    Float32Array.from({ length: 2 * R * R + 1 }, (_, i) => Math.sin(i)),
    [2 * R * R + 1],
  );
  const both = () => {
    l.requiresGrad = g.requiresGrad = true;
    const tape = Tape.begin(engine);
    const y = kalmanPacked(l, g, path);
    tape.end();
    for (const t of tape.gradients(y, [l, g], { seed })) t?.dispose();
    tape.dispose();
    y.dispose();
    l.requiresGrad = g.requiresGrad = false;
  };
  const msBoth = await timeGpu(engine, both, timing);
  for (const t of [l, g, seed]) t.dispose();
  const rec = (name: string, t: number, flops: number): KernelBenchRecord => ({
    name,
    size: R,
    ms: t,
    gflops: flops / (t * 1e6),
    gbps: (4 * 4 * R * R) / (t * 1e6),
    path,
    auto,
  });
  return [rec('kalman.forward', ms, (8 / 3) * R ** 3), rec('kalman.forward+backward', msBoth, 18 * R ** 3)];
}

/** A benchmark must not report figures for a kernel that computes the wrong thing: compare with float64. */
async function spotCheck(l: Tensor, g: Tensor, L: Float64Array, G: Float64Array, R: number, path: KalmanPath): Promise<void> {
  const y = kalmanPacked(l, g, path);
  const got = await y.readF32();
  y.dispose();
  const want = kalmanPackedRef(L, G, R);
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 1e-4 * scale)) throw new Error(`kalman bench (R = ${R}, ${path}): output ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

/** `lowrank-smc bench kernels` entry: R = 3, 16, 36, 64 (or --sizes), forward and forward+backward. */
export async function* runBench(engine: Engine, options: KernelBenchOptions): AsyncIterable<KernelBenchRecord> {
  for (const R of options.sizes ?? DEFAULT_KALMAN_RANKS) {
    const paths: KalmanPath[] = R <= KALMAN_SINGLE_MAX_RANK ? ['single', 'workgroup'] : ['workgroup'];
    for (const path of paths) yield* await benchKalman(engine, R, path, options);
  }
}
