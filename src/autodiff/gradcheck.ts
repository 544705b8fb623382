/**
 * Gradient check: an op (or composition of ops) on the GPU against its float64 CPU reference.
 *
 * Forward: the GPU output must match the reference. Backward: with a random cotangent c, the tape's
 * gradient of <c, f(x)> with respect to each differentiable input must match central finite
 * differences of <c, f_ref(x)> computed in float64 on the CPU.
 */
import type { Engine } from '../gpu/engine.js';
import { mulberry32 } from '../util/random.js';
import { Tape } from './tape.js';
import { Tensor, type DType } from './tensor.js';

export interface GradCheckInput {
  data: ArrayLike<number>;
  shape: number[];
  dtype?: DType;
  /** Default true for f32 inputs. */
  differentiable?: boolean;
}

export interface GradCheckSpec {
  name: string;
  inputs: GradCheckInput[];
  gpu: (engine: Engine, inputs: Tensor[]) => Tensor;
  reference: (inputs: Float64Array[]) => Float64Array;
  /** Finite-difference step (default 1e-3 relative to max(1,|x|)). */
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

export interface GradCheckReport {
  name: string;
  forwardMaxError: number;
  gradMaxError: number[];
}

/** Max over i of |a_i - b_i| / (atol + rtol |b_i|); ≤ 1 means close. Reports the worst index. */
export function closeness(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): { ratio: number; index: number; maxAbs: number } {
  if (actual.length !== expected.length) throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  let ratio = 0;
  let index = -1;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    // Equal infinities match; any other non-finite value (or NaN on either side) is a mismatch.
    const bothSameInf = a === e && !Number.isFinite(a) && !Number.isNaN(a);
    const d = bothSameInf ? 0 : Number.isFinite(a) && Number.isFinite(e) ? Math.abs(a - e) : NaN;
    const r = Number.isNaN(d) ? Infinity : d / (atol + rtol * Math.abs(e));
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (r > ratio) {
      ratio = r;
      index = i;
    }
  }
  return { ratio, index, maxAbs };
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: { atol?: number; rtol?: number; what?: string } = {}): void {
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-4;
  const c = closeness(actual, expected, atol, rtol);
  if (c.ratio > 1) {
    throw new Error(
      `${opts.what ?? 'values'} differ: at index ${c.index} got ${actual[c.index]}, expected ${expected[c.index]} (max abs err ${c.maxAbs.toExponential(3)}, atol ${atol}, rtol ${rtol})`,
    );
  }
}

export async function gradCheck(engine: Engine, spec: GradCheckSpec): Promise<GradCheckReport> {
  const atol = spec.atol ?? 2e-4;
  const rtol = spec.rtol ?? 2e-3;
  const rand = mulberry32(spec.seed ?? 1234);
  const x64 = spec.inputs.map((i) => Float64Array.from(i.data));
  const refOut = spec.reference(x64);
  const cot = Float64Array.from(refOut, () => rand() * 2 - 1);

  // GPU forward + backward with the cotangent as seed.
  const tensors = spec.inputs.map((inp, k) => {
    const t = Tensor.fromArray(engine, inp.data, inp.shape, inp.dtype ?? 'f32', `${spec.name}.in${k}`);
    t.requiresGrad = (inp.dtype ?? 'f32') === 'f32' && inp.differentiable !== false;
    return t;
  });
  const tape = Tape.begin(engine);
  let out: Tensor;
  try {
    out = spec.gpu(engine, tensors);
  } finally {
    tape.end();
  }
  const outVals = await out.readF32();
  const fwd = closeness(outVals, refOut, atol, rtol);
  if (fwd.ratio > 1) {
    tape.dispose();
    throw new Error(`${spec.name}: forward differs from the float64 reference at ${fwd.index}: gpu ${outVals[fwd.index]}, ref ${refOut[fwd.index]}`);
  }
  const seed = Tensor.fromArray(engine, cot, out.shape, 'f32', 'cotangent');
  const diffIdx = tensors.map((t, k) => (t.requiresGrad ? k : -1)).filter((k) => k >= 0);
  const grads = tape.gradients(
    out,
    diffIdx.map((k) => tensors[k]),
    { seed },
  );
  tape.dispose();
  const gradErrors: number[] = [];
  const objective = (xs: Float64Array[]) => {
    const y = spec.reference(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += cot[i] * y[i];
    return s;
  };
  for (let j = 0; j < diffIdx.length; j++) {
    const k = diffIdx[j];
    const g = grads[j];
    const gpuGrad = g ? await g.readF32() : new Float32Array(x64[k].length);
    const fd = new Float64Array(x64[k].length);
    for (let i = 0; i < fd.length; i++) {
      const h = (spec.eps ?? 1e-3) * Math.max(1, Math.abs(x64[k][i]));
      const orig = x64[k][i];
      x64[k][i] = orig + h;
      const fp = objective(x64);
      x64[k][i] = orig - h;
      const fm = objective(x64);
      x64[k][i] = orig;
      fd[i] = (fp - fm) / (2 * h);
    }
    const c = closeness(gpuGrad, fd, atol, rtol);
    gradErrors.push(c.maxAbs);
    if (c.ratio > 1) {
      throw new Error(
        `${spec.name}: gradient of input ${k} differs from finite differences at ${c.index}: gpu ${gpuGrad[c.index]}, fd ${fd[c.index]} (max abs err ${c.maxAbs.toExponential(3)})`,
      );
    }
    g?.dispose();
  }
  for (const t of tensors) t.dispose();
  out.dispose();
  seed.dispose();
  return { name: spec.name, forwardMaxError: fwd.maxAbs, gradMaxError: gradErrors };
}
