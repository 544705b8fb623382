/**
 * Batched low-rank product, the core of the low-rank RNN transition:
 * for P particles z_p ∈ R^R, x = M z_p + c and y_p = Nmatᵀ φ(x; h), giving y [P, R].
 * The N-wide x is never written to memory; the backward kernels recompute it.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import { dphiDh, dphiDx, nonlinearityId, phi, type Nonlinearity } from './nonlin.js';

/** Largest rank the kernels are built for (private arrays are sized per rank at compile time). */
export const LOWRANK_MAX_RANK = 64;
const WG = 64;
/** Threads wanted in the parameter-gradient pass: units × particle chunks. */
const TARGET_PARAM_THREADS = 1 << 16;
const MAX_CHUNKS = 1024;

export interface LowrankOptions {
  /** Particles per partial sum in the parameter-gradient pass (default: chosen from P and N). */
  chunk?: number;
  /** Workgroup size (default 64). */
  workgroupSize?: number;
}

function checkShapes(z: Tensor, M: Tensor, c: Tensor, Nmat: Tensor, h: Tensor): { P: number; N: number; R: number } {
  for (const [name, t] of [
    ['z', z],
    ['M', M],
    ['c', c],
    ['Nmat', Nmat],
    ['h', h],
  ] as const) {
    if (t.dtype !== 'f32') throw new Error(`lowrankProduct: ${name} ${t.describe()} must be f32, is ${t.dtype}`);
  }
  if (z.shape.length !== 2) throw new Error(`lowrankProduct: z must be [P, R], got [${z.shape}]`);
  const [P, R] = z.shape;
  if (M.shape.length !== 2 || M.shape[1] !== R) throw new Error(`lowrankProduct: M must be [N, ${R}] (R from z), got [${M.shape}]`);
  const N = M.shape[0];
  if (Nmat.shape.length !== 2 || Nmat.shape[0] !== N || Nmat.shape[1] !== R) throw new Error(`lowrankProduct: Nmat must be [${N}, ${R}], got [${Nmat.shape}]`);
  if (c.size !== N || c.shape.length !== 1) throw new Error(`lowrankProduct: c must be [${N}], got [${c.shape}]`);
  if (h.size !== N || h.shape.length !== 1) throw new Error(`lowrankProduct: h must be [${N}], got [${h.shape}]`);
  if (R < 1 || R > LOWRANK_MAX_RANK) throw new Error(`lowrankProduct: rank R = ${R} outside 1..${LOWRANK_MAX_RANK}`);
  if (P < 1 || N < 1) throw new Error(`lowrankProduct: needs at least one particle and one unit (P = ${P}, N = ${N})`);
  return { P, N, R };
}

function kernelOptions(R: number, nl: number, wg: number) {
  return { defines: { RMAX: R }, overrides: { R, NONLIN: nl, WG: wg }, variant: `R${R},nl${nl},wg${wg}` };
}

/** Particle chunk for the parameter-gradient partial sums: enough (unit, chunk) threads to fill a GPU. */
export function paramChunk(P: number, N: number, wg = WG): number {
  // Capped so that the reduction pass, one thread per parameter looping over chunks, stays short.
  const chunks = Math.max(1, Math.min(Math.ceil(P / wg), Math.ceil(TARGET_PARAM_THREADS / N), MAX_CHUNKS));
  return Math.ceil(P / chunks);
}

/** y[p] = Nmatᵀ φ(M z[p] + c; h) for every particle p. Differentiable in all five inputs. */
export function lowrankProduct(z: Tensor, M: Tensor, c: Tensor, Nmat: Tensor, h: Tensor, nonlinearity: Nonlinearity, options: LowrankOptions = {}): Tensor {
  const { P, N, R } = checkShapes(z, M, c, Nmat, h);
  const nl = nonlinearityId(nonlinearity);
  const engine = z.engine;
  const wg = options.workgroupSize ?? WG;
  const ko = kernelOptions(R, nl, wg);
  const dims = { P, N, chunk: 0, chunks: 0 };
  const y = Tensor.empty(engine, [P, R], 'f32', 'lowrank.y');
  engine.dispatch(engine.kernel('lowrank', 'forward', ko), { z, M, c, Nmat, h, y, p: dims }, engine.grid(P, wg));

  const saved = [z.retain(), M.retain(), c.retain(), Nmat.retain(), h.retain()];
  record(
    'lowrankProduct',
    [z, M, c, Nmat, h],
    [y],
    ([gy]) => {
      if (!gy) return [null, null, null, null, null];
      const [zs, Ms, cs, Ns, hs] = saved;
      let gz: Tensor | null = null;
      if (z.requiresGrad) {
        gz = Tensor.empty(engine, [P, R], 'f32', 'lowrank.gz');
        engine.dispatch(engine.kernel('lowrank', 'backward_z', ko), { z: zs, gy, M: Ms, c: cs, Nmat: Ns, h: hs, gz, p: dims }, engine.grid(P, wg));
      }
      if (![M, c, Nmat, h].some((t) => t.requiresGrad)) return [gz, null, null, null, null];
      const chunk = options.chunk ?? paramChunk(P, N, wg);
      if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`lowrankProduct: chunk must be a positive integer, got ${chunk}`);
      const chunks = Math.ceil(P / chunk);
      const S = N * (2 * R + 2);
      const partial = Tensor.empty(engine, [chunks, S], 'f32', 'lowrank.partial');
      const pd = { P, N, chunk, chunks };
      engine.dispatch(engine.kernel('lowrank', 'param_partials', ko), { z: zs, gy, M: Ms, c: cs, Nmat: Ns, h: hs, partial, p: pd }, [
        Math.ceil(N / wg),
        chunks,
      ]);
      const gM = Tensor.empty(engine, [N, R], 'f32', 'lowrank.gM');
      const gNmat = Tensor.empty(engine, [N, R], 'f32', 'lowrank.gNmat');
      const gc = Tensor.empty(engine, [N], 'f32', 'lowrank.gc');
      const gh = Tensor.empty(engine, [N], 'f32', 'lowrank.gh');
      engine.dispatch(engine.kernel('lowrank', 'param_reduce', ko), { partial_in: partial, gM, gNmat, gc, gh, p: pd }, engine.grid(S, wg));
      partial.dispose();
      return [gz, gM, gc, gNmat, gh];
    },
    saved,
  );
  return y;
}

/** Float64 reference of lowrankProduct: y [P, R] from z [P, R], M [N, R], c [N], Nmat [N, R], h [N]. */
export function lowrankProductRef(
  z: ArrayLike<number>,
  M: ArrayLike<number>,
  c: ArrayLike<number>,
  Nmat: ArrayLike<number>,
  h: ArrayLike<number>,
  R: number,
  nonlinearity: Nonlinearity,
): Float64Array {
  const N = c.length;
  const P = z.length / R;
  const y = new Float64Array(P * R);
  for (let q = 0; q < P; q++) {
    for (let n = 0; n < N; n++) {
      let x = c[n];
      for (let r = 0; r < R; r++) x += M[n * R + r] * z[q * R + r];
      const f = phi(nonlinearity, x, h[n]);
      for (let r = 0; r < R; r++) y[q * R + r] += Nmat[n * R + r] * f;
    }
  }
  return y;
}

/** Float64 reference of the backward pass: gradients of <gy, y> for all five inputs. */
export function lowrankProductBackwardRef(
  z: ArrayLike<number>,
  M: ArrayLike<number>,
  c: ArrayLike<number>,
  Nmat: ArrayLike<number>,
  h: ArrayLike<number>,
  gy: ArrayLike<number>,
  R: number,
  nonlinearity: Nonlinearity,
) {
  const N = c.length;
  const P = z.length / R;
  const gz = new Float64Array(P * R);
  const gM = new Float64Array(N * R);
  const gNmat = new Float64Array(N * R);
  const gc = new Float64Array(N);
  const gh = new Float64Array(N);
  for (let q = 0; q < P; q++) {
    for (let n = 0; n < N; n++) {
      let x = c[n];
      let gf = 0;
      for (let r = 0; r < R; r++) {
        x += M[n * R + r] * z[q * R + r];
        gf += Nmat[n * R + r] * gy[q * R + r];
      }
      const f = phi(nonlinearity, x, h[n]);
      const gx = gf * dphiDx(nonlinearity, x, h[n]);
      for (let r = 0; r < R; r++) {
        gNmat[n * R + r] += gy[q * R + r] * f;
        gM[n * R + r] += gx * z[q * R + r];
        gz[q * R + r] += gx * M[n * R + r];
      }
      gc[n] += gx;
      gh[n] += gf * dphiDh(nonlinearity, x, h[n]);
    }
  }
  return { gz, gM, gc, gNmat, gh };
}
