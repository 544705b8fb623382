/**
 * Adam and RAdam with PyTorch's default semantics, updating parameter tensors in place on the GPU
 * from their `.grad`. The learning rate (settable between steps, e.g. from `exponentialDecay`) and the
 * step-dependent factors are uniforms, so nothing is recompiled as training advances. Moments and
 * step counts export to plain arrays for checkpoints.
 */
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';

const WG = 256;

export type OptimizerKind = 'adam' | 'radam';

export interface OptimizerOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** (β1, β2), default (0.9, 0.999). */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient, as PyTorch's `weight_decay` (default 0). */
  weightDecay?: number;
  /**
   * RAdam's first updates, before its variance estimate is trusted (ρ_t ≤ 5: five steps with the
   * default β2): 'momentum' takes PyTorch's plain momentum step lr·m̂, whose size scales with the
   * gradient and so with the data; 'skip' only accumulates the moments there (the original RAdam's
   * `degenerated_to_sgd = False`), so every parameter change is normalised. Default 'momentum'.
   */
  unrectified?: 'momentum' | 'skip';
}

/** Checkpointable optimiser state: per parameter, its step count and moments (plain arrays). */
export interface OptimizerState {
  kind: OptimizerKind;
  steps: number[];
  m: number[][];
  v: number[][];
}

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  unrectified: 'momentum' | 'skip';
}

function hyper(kind: OptimizerKind, o: OptimizerOptions): Hyper {
  const h = {
    lr: o.lr ?? 1e-3,
    beta1: o.betas?.[0] ?? 0.9,
    beta2: o.betas?.[1] ?? 0.999,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? 0,
    unrectified: o.unrectified ?? 'momentum',
  };
  if (h.unrectified !== 'momentum' && h.unrectified !== 'skip')
    throw new Error(`${kind}: unrectified must be 'momentum' or 'skip', got ${String(h.unrectified)}`);
  if (!(h.lr >= 0 && Number.isFinite(h.lr))) throw new Error(`${kind}: lr must be a finite number ≥ 0, got ${h.lr}`);
  for (const [name, b] of [
    ['betas[0]', h.beta1],
    ['betas[1]', h.beta2],
  ] as const) {
    if (!(b >= 0 && b < 1)) throw new Error(`${kind}: ${name} must be in [0, 1), got ${b}`);
  }
  if (!(h.eps >= 0)) throw new Error(`${kind}: eps must be ≥ 0, got ${h.eps}`);
  if (!(h.weightDecay >= 0)) throw new Error(`${kind}: weightDecay must be ≥ 0, got ${h.weightDecay}`);
  return h;
}

/** The step-dependent factors of update number `t` (1-based), in float64. */
export function stepFactors(kind: OptimizerKind, t: number, beta1: number, beta2: number): { bc1: number; bc2Sqrt: number; rect: number; rectified: boolean } {
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  let rect = 0;
  let rectified = false;
  if (kind === 'radam') {
    const rhoInf = 2 / (1 - beta2) - 1;
    const rhoT = rhoInf - (2 * t * beta2 ** t) / bc2;
    rectified = rhoT > 5;
    if (rectified) rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
  }
  return { bc1, bc2Sqrt: Math.sqrt(bc2), rect, rectified };
}

export class Optimizer {
  private readonly h: Hyper;
  /** Every parameter's slice of the flat buffers: one dispatch updates them all (see step). */
  private readonly offsets: number[];
  private readonly total: number;
  private readonly m: Tensor;
  private readonly v: Tensor;
  /** Flat copies of the parameters and gradients the kernel updates (copies cost far less than dispatches). */
  private readonly flatParams: Tensor;
  private readonly flatGrads: Tensor;
  private steps: number[];
  private readonly engine: Engine;

  constructor(
    readonly kind: OptimizerKind,
    readonly params: readonly Tensor[],
    options: OptimizerOptions = {},
  ) {
    this.h = hyper(kind, options);
    if (params.length === 0) throw new Error(`${kind}: no parameters to optimise`);
    params.forEach((p, i) => {
      if (p.dtype !== 'f32') throw new Error(`${kind}: parameter ${i} ${p.describe()} must be f32, is ${p.dtype}`);
      if (p.engine !== params[0].engine) throw new Error(`${kind}: parameter ${i} ${p.describe()} lives on another engine`);
    });
    this.engine = params[0].engine;
    let total = 0;
    this.offsets = params.map((p) => {
      const o = total;
      total += p.size;
      return o;
    });
    this.total = total;
    this.m = Tensor.zeros(this.engine, [Math.max(1, total)], 'f32', `${kind}.m`);
    this.v = Tensor.zeros(this.engine, [Math.max(1, total)], 'f32', `${kind}.v`);
    this.flatParams = Tensor.empty(this.engine, [Math.max(1, total)], 'f32', `${kind}.params`);
    this.flatGrads = Tensor.empty(this.engine, [Math.max(1, total)], 'f32', `${kind}.grads`);
    this.steps = params.map(() => 0);
  }

  /** Learning rate used by the next `step()` (set it from a schedule between steps). */
  get lr(): number {
    return this.h.lr;
  }

  set lr(value: number) {
    if (!(value >= 0 && Number.isFinite(value))) throw new Error(`${this.kind}: lr must be a finite number ≥ 0, got ${value}`);
    this.h.lr = value;
  }

  /** Update count of each parameter (a parameter without a gradient is skipped, as in PyTorch). */
  get stepCounts(): readonly number[] {
    return this.steps;
  }

  /**
   * One update of every parameter that has a gradient; encodes dispatches only (no sync). With
   * `clipGradNorm` the gradients are first clipped to that joint L2 norm (as the function `clipGradNorm`)
   * and the norm before clipping is returned (a one-element tensor the caller disposes; Infinity only
   * measures it). Parameters and gradients are copied into flat buffers so that one dispatch updates
   * every run of consecutive parameters with a gradient and the same step count (all of them, usually).
   */
  step(options: { clipGradNorm?: number } = {}): Tensor | null {
    const present = this.params.map((p, i) => {
      const g = p.grad;
      if (g && g.size !== p.size) throw new Error(`${this.kind}: gradient of parameter ${i} ${p.describe()} has ${g.size} elements, expected ${p.size}`);
      return g !== null;
    });
    const maxNorm = options.clipGradNorm;
    let norm: Tensor | null = null;
    // the flat norm covers the joint gradient only when every parameter has one
    const allPresent = present.every(Boolean);
    if (maxNorm !== undefined && !allPresent) norm = clipGradNorm(this.params, maxNorm);
    const runs: { from: number; to: number }[] = [];
    this.params.forEach((p, i) => {
      if (!present[i]) return;
      const t = ++this.steps[i];
      const last = runs[runs.length - 1];
      if (last && last.to === i && this.steps[last.from] === t) last.to = i + 1;
      else runs.push({ from: i, to: i + 1 });
    });
    for (const { from, to } of runs) {
      for (let i = from; i < to; i++) this.engine.copy(this.params[i].grad!, this.flatGrads, 4 * this.params[i].size, 0, 4 * this.offsets[i]);
    }
    if (maxNorm !== undefined && allPresent) norm = clipGrads([this.flatGrads], maxNorm);
    const k = this.engine.kernel('optim', this.kind, { overrides: { WG } });
    const { unrectified, ...h } = this.h;
    for (const { from, to } of runs) {
      const offset = this.offsets[from];
      const n = this.offsets[to - 1] + this.params[to - 1].size - offset;
      for (let i = from; i < to; i++) this.engine.copy(this.params[i], this.flatParams, 4 * this.params[i].size, 0, 4 * this.offsets[i]);
      const f = stepFactors(this.kind, this.steps[from], this.h.beta1, this.h.beta2);
      const held = this.kind === 'radam' && !f.rectified && unrectified === 'skip';
      const o = {
        offset,
        n,
        ...h,
        lr: held ? 0 : h.lr,
        oneMinusBeta1: 1 - this.h.beta1,
        oneMinusBeta2: 1 - this.h.beta2,
        bc1: f.bc1,
        bc2Sqrt: f.bc2Sqrt,
        rect: f.rect,
        rectified: f.rectified ? 1 : 0,
      };
      this.engine.dispatch(k, { param: this.flatParams, grad: this.flatGrads, m: this.m, v: this.v, o }, this.engine.grid(Math.max(1, n), WG));
      for (let i = from; i < to; i++) this.engine.copy(this.flatParams, this.params[i], 4 * this.params[i].size, 4 * this.offsets[i]);
    }
    return norm;
  }

  /** Drop the gradients (next backward starts fresh); with setToNone false, zero them in place. */
  zeroGrad(setToNone = true): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      if (setToNone) {
        p.grad.dispose();
        p.grad = null;
      } else this.engine.clear(p.grad.buffer, 0, p.grad.size * 4);
    }
  }

  async exportState(): Promise<OptimizerState> {
    const flatM = await this.m.readF32();
    const flatV = await this.v.readF32();
    const slice = (flat: Float32Array, i: number) => Array.from(flat.subarray(this.offsets[i], this.offsets[i] + this.params[i].size));
    return { kind: this.kind, steps: [...this.steps], m: this.params.map((_, i) => slice(flatM, i)), v: this.params.map((_, i) => slice(flatV, i)) };
  }

  /** Restore exported state; checks kind, parameter count and sizes, naming what does not fit. */
  importState(state: OptimizerState): void {
    if (state.kind !== this.kind) throw new Error(`${this.kind}: cannot import ${state.kind} state`);
    const n = this.params.length;
    for (const key of ['steps', 'm', 'v'] as const) {
      if (!Array.isArray(state[key]) || state[key].length !== n)
        throw new Error(`${this.kind} state: "${key}" must list ${n} parameters, has ${Array.isArray(state[key]) ? state[key].length : typeof state[key]}`);
    }
    state.steps.forEach((s, i) => {
      if (!Number.isInteger(s) || s < 0) throw new Error(`${this.kind} state: steps[${i}] = ${s} is not a step count`);
    });
    for (const key of ['m', 'v'] as const) {
      state[key].forEach((arr, i) => {
        if (arr.length !== this.params[i].size)
          throw new Error(`${this.kind} state: ${key}[${i}] has ${arr.length} values, parameter ${this.params[i].describe()} has ${this.params[i].size}`);
      });
    }
    const flatM = new Float32Array(Math.max(1, this.total));
    const flatV = new Float32Array(Math.max(1, this.total));
    for (let i = 0; i < n; i++) {
      flatM.set(state.m[i], this.offsets[i]);
      flatV.set(state.v[i], this.offsets[i]);
    }
    this.engine.write(this.m.buffer, flatM);
    this.engine.write(this.v.buffer, flatV);
    this.steps = [...state.steps];
  }

  /** Free the moment and flat buffers. */
  dispose(): void {
    for (const t of [this.m, this.v, this.flatParams, this.flatGrads]) t.dispose();
  }
}

export class Adam extends Optimizer {
  constructor(params: readonly Tensor[], options: OptimizerOptions = {}) {
    super('adam', params, options);
  }
}

export class RAdam extends Optimizer {
  constructor(params: readonly Tensor[], options: OptimizerOptions = {}) {
    super('radam', params, options);
  }
}

/**
 * Clip gradients by their joint L2 norm, in place on the GPU (torch.nn.utils.clip_grad_norm_ with
 * norm type 2): every `.grad` of `params` is multiplied by min(1, maxNorm / (‖g‖ + 1e-6)). Parameters
 * without a gradient are skipped. Returns a one-element tensor holding ‖g‖ before clipping (nothing
 * is read back; the caller disposes it). `maxNorm` Infinity only measures the norm (no scaling pass).
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  return clipGrads(
    params.map((p) => p.grad).filter((g): g is Tensor => g !== null),
    maxNorm,
  );
}

/** clipGradNorm on gradient tensors themselves. */
function clipGrads(grads: readonly Tensor[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be a positive number, got ${maxNorm}`);
  if (grads.length === 0) throw new Error('clipGradNorm: no parameter has a gradient');
  const engine = grads[0].engine;
  const count = grads.length;
  const sums = Tensor.empty(engine, [count + 1], 'f32', 'clip.sums');
  grads.forEach((g, slot) =>
    engine.dispatch(engine.kernel('grad_clip', 'sq_norm', { overrides: { WG } }), { grad: g, sums, cp: { n: g.size, slot, count, max_norm: maxNorm } }, 1),
  );
  const scaleKernel = engine.kernel('grad_clip', 'scale', { overrides: { WG } });
  if (Number.isFinite(maxNorm)) {
    for (const g of grads)
      engine.dispatch(scaleKernel, { grad: g, sums, cp: { n: g.size, slot: 0, count, max_norm: maxNorm } }, engine.grid(Math.max(1, g.size), WG));
  } else {
    // n = 0: invocation 0 only stores ‖g‖; no element is touched
    engine.dispatch(scaleKernel, { grad: grads[0], sums, cp: { n: 0, slot: 0, count, max_norm: 0 } }, 1);
  }
  const norm = Tensor.empty(engine, [1], 'f32', 'clip.norm');
  engine.copy(sums, norm, 4, 4 * count);
  sums.dispose();
  return norm;
}

/** Float64 reference of `clipGradNorm` on plain arrays (in place); returns the norm before clipping. */
export function clipGradNormRef(grads: Float64Array[], maxNorm: number): number {
  let total = 0;
  for (const g of grads) for (const v of g) total += v * v;
  const norm = Math.sqrt(total);
  const factor = Math.min(1, maxNorm / (norm + 1e-6));
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= factor;
  return norm;
}

/**
 * Learning rate held at `initial` for the first `hold` steps (default 0), then decaying exponentially to
 * `final` at step `steps`. With `warmup` W > 0 the first W steps ramp linearly to `initial` (step s at
 * initial·(s + 1)/W): Adam's first update moves every parameter by the full lr whatever its gradient's size,
 * which for a CNN encoder's tens of thousands of weights throws its outputs far in one step (lr 1e-2: log-variances by
 * ±3 and means by −8, and the fit switches the encoder off for good). The ramp runs within the hold when both are given.
 */
export function exponentialDecay(initial: number, final: number, steps: number, hold = 0, warmup = 0): (step: number) => number {
  if (!(initial > 0 && final > 0 && steps > 0))
    throw new Error(`exponentialDecay: needs initial > 0, final > 0, steps > 0 (got ${initial}, ${final}, ${steps})`);
  if (!(Number.isInteger(hold) && hold >= 0 && hold < steps)) throw new Error(`exponentialDecay: hold must be an integer in [0, ${steps}), got ${hold}`);
  if (!(Number.isInteger(warmup) && warmup >= 0 && warmup < steps))
    throw new Error(`exponentialDecay: warmup must be an integer in [0, ${steps}), got ${warmup}`);
  const gamma = (final / initial) ** (1 / (steps - hold));
  return (step: number) => initial * gamma ** Math.max(0, step - hold) * Math.min(1, (step + 1) / Math.max(1, warmup));
}

/**
 * Float64 reference of one update (t is the 1-based step of this update), in place on p, m, v:
 * the oracle for the GPU kernels.
 */
export function optimizerStepRef(
  kind: OptimizerKind,
  p: Float64Array,
  grad: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  t: number,
  options: OptimizerOptions = {},
): void {
  const h = hyper(kind, options);
  const f = stepFactors(kind, t, h.beta1, h.beta2);
  for (let i = 0; i < p.length; i++) {
    const g = grad[i] + h.weightDecay * p[i];
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    if (kind === 'adam') {
      p[i] -= ((h.lr / f.bc1) * m[i]) / (Math.sqrt(v[i]) / f.bc2Sqrt + h.eps);
    } else {
      const mhat = m[i] / f.bc1;
      if (f.rectified) p[i] -= (h.lr * mhat * f.rect * f.bc2Sqrt) / (Math.sqrt(v[i]) + h.eps);
      else if (h.unrectified === 'momentum') p[i] -= h.lr * mhat;
    }
  }
}
