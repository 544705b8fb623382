/**
 * 1-D convolution (shaders/conv1d.wgsl) at the encoder's heaviest layer, the hc2 encoder's first:
 * 21 → 64 channels, kernel 150, causal zero padding over windows of 219 steps read from data windows
 * [trials, time, channels]. size = trials. FLOPs 2·trials·64·21·150·219 for the forward, counted as the direct
 * correlation does them whichever algorithm runs (`algorithm` in the records: 'auto' takes the FFT here); the
 * backward (weights and bias: the data need no gradient) adds as many again. The whole hc2 encoder
 * ([150, 11, 1], channels [64, 64], R = 3) forward and backward from its mean is timed too.
 */
import { Tape } from '../src/autodiff/tape.js';
import { Tensor } from '../src/autodiff/tensor.js';
import type { Engine } from '../src/gpu/engine.js';
import { CnnEncoder, DEFAULT_ENCODER } from '../src/models/encoder.js';
import { conv1d, conv1dRef, convAlgorithm, type Conv1dOptions } from '../src/ops/conv.js';
import { mulberry32 } from '../src/util/random.js';
import { timeGpu, type KernelBenchOptions, type KernelBenchRecord } from './timing.js';

const CIN = 21,
  COUT = 64,
  K = 150,
  T = 219;

export function defaultConvSizes(software: boolean): number[] {
  return software ? [8, 64] : [64, 256];
}

export async function benchConv(engine: Engine, B: number, runs: number, warmup: number): Promise<KernelBenchRecord[]> {
  const rand = mulberry32(7);
  const u = (n: number, s: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * s);
  const yv = Float32Array.from({ length: B * T * CIN }, () => Math.floor(rand() * 3));
  const wv = u(COUT * CIN * K, 1 / Math.sqrt(CIN * K));
  const bv = u(COUT, 0.1);
  const y = Tensor.fromArray(engine, yv, [B, T, CIN]);
  const w = Tensor.fromArray(engine, wv, [COUT, CIN, K]);
  const b = Tensor.fromArray(engine, bv, [COUT]);
  const options: Conv1dOptions = { placement: 'causal', mode: 'zeros', layout: 'btc', outLayout: 'bct' };
  await spotCheck(y, w, b, yv, wv, bv, options, B);
  // FLOPs of the direct correlation, whichever algorithm runs (the record names it)
  const flops = 2 * B * COUT * CIN * K * T;
  const algorithm = convAlgorithm({ B, Cin: CIN, Cout: COUT, K, Tout: T, tp: T + K - 1 }, engine.limits);
  const forward = () => conv1d(y, w, b, options).dispose();
  const ms = await timeGpu(engine, forward, { runs, warmup });
  const out: KernelBenchRecord[] = [
    {
      name: 'conv.forward',
      size: B,
      ms,
      gflops: flops / (ms * 1e6),
      gbps: (4 * (y.size + w.size + B * COUT * T)) / (ms * 1e6),
      cin: CIN,
      cout: COUT,
      k: K,
      T,
      algorithm,
    },
  ];

  const gy = Tensor.fromArray(engine, u(B * COUT * T, 1), [B, COUT, T]);
  const both = () => {
    w.requiresGrad = true;
    b.requiresGrad = true;
    const tape = Tape.begin(engine);
    const out = conv1d(y, w, b, options);
    tape.end();
    for (const g of tape.gradients(out, [w, b], { seed: gy })) g?.dispose();
    tape.dispose();
    w.requiresGrad = false;
    b.requiresGrad = false;
  };
  const msBoth = await timeGpu(engine, both, { runs, warmup });
  out.push({ name: 'conv.forward+backward', size: B, ms: msBoth, gflops: (2 * flops) / (msBoth * 1e6), gbps: 0, cin: CIN, cout: COUT, k: K, T, algorithm });

  // the whole hc2 encoder, forward + backward of all its parameters
  const encoder = CnnEncoder.create(engine, { ...DEFAULT_ENCODER, kernels: [K, 11, 1], channels: [64, 64], inChannels: CIN }, 3, 1);
  const encStep = () => {
    const tape = Tape.begin(engine);
    const g = encoder.forward(y);
    tape.end();
    const seedM = Tensor.fromArray(engine, new Float32Array(g.mean.size).fill(1e-3), g.mean.shape);
    tape.backward(g.mean, { seed: seedM, retainGraph: true });
    seedM.dispose();
    tape.dispose();
    for (const p of encoder.trainable()) {
      p.grad?.dispose();
      p.grad = null;
    }
  };
  const msEnc = await timeGpu(engine, encStep, { runs, warmup });
  const encFlops = 2 * flops + 3 * 2 * B * 64 * 64 * 11 * T + 3 * 2 * B * 64 * 6 * T;
  out.push({ name: 'encoder.hc2.forward+backward', size: B, ms: msEnc, gflops: encFlops / (msEnc * 1e6), gbps: 0, T });
  encoder.dispose();
  for (const t of [y, w, b, gy]) t.dispose();
  return out;
}

/** Figures for a kernel that computes the wrong thing are worthless: check the first trial against float64. */
async function spotCheck(
  y: Tensor,
  w: Tensor,
  b: Tensor,
  yv: Float32Array,
  wv: Float32Array,
  bv: Float32Array,
  options: Conv1dOptions,
  B: number,
): Promise<void> {
  const out = conv1d(y, w, b, options);
  const got = await out.readF32();
  out.dispose();
  const want = conv1dRef(yv.subarray(0, T * CIN), [1, T, CIN], wv, [COUT, CIN, K], bv, options);
  for (let i = 0; i < want.length; i += 97) {
    if (!(Math.abs(got[i] - want[i]) <= 1e-4 + 1e-4 * Math.abs(want[i])))
      throw new Error(`conv bench: output ${i} is ${got[i]}, expected ${want[i]} (${B} trials)`);
  }
}

/** `lowrank-smc bench kernels` entry: the hc2 encoder's first layer and the whole encoder per trial count. */
export async function* runBench(engine: Engine, options: KernelBenchOptions): AsyncIterable<KernelBenchRecord> {
  for (const B of options.sizes ?? defaultConvSizes(options.software)) yield* await benchConv(engine, B, options.runs, options.warmup);
}
