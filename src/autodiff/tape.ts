/**
 * Reverse-mode autodiff tape.
 *
 * An op runs its forward kernels itself, then calls `record` with its inputs, outputs, the tensors it
 * saved and a backward closure that dispatches its hand-written backward kernels. The tape is coarse:
 * the whole particle filter is one node. `backward(loss)` walks the nodes in reverse, sums gradients
 * per tensor on the GPU and accumulates the gradients of leaf tensors into `tensor.grad`.
 * The tape owns the outputs of the ops it records: `dispose()` (and `backward`, unless retainGraph)
 * frees them, so an iteration's intermediates never leak; `retain()` a tensor to keep it longer.
 */
import type { Engine } from '../gpu/engine.js';
import { Tensor, sameShape } from './tensor.js';

/** Given the gradients of the outputs (null where none flowed), return those of the inputs. */
export type BackwardFn = (gradOutputs: (Tensor | null)[]) => (Tensor | null)[];

export interface TapeNode {
  name: string;
  inputs: Tensor[];
  outputs: Tensor[];
  backward: BackwardFn;
  /** Tensors kept alive for the backward pass; released by `dispose`. */
  saved: Tensor[];
}

export interface RecordOptions {
  /** Indices of outputs that carry no gradient (e.g. ancestor indices). */
  nonDifferentiable?: number[];
}

const activeTapes = new WeakMap<Engine, Tape>();

export class Tape {
  readonly nodes: TapeNode[] = [];
  /** Outputs of recorded ops: the tape owns them and frees them on dispose (retain() to keep one). */
  private owned: Tensor[] = [];
  private disposed = false;
  /** Why the tape can no longer be used, for the error message. */
  private disposedBy = '';

  constructor(readonly engine: Engine) {}

  /** Start recording ops run on `engine` (one active tape per engine). */
  static begin(engine: Engine): Tape {
    const t = new Tape(engine);
    activeTapes.set(engine, t);
    return t;
  }

  static active(engine: Engine): Tape | null {
    return activeTapes.get(engine) ?? null;
  }

  /** Stop recording (the tape keeps its nodes for backward). */
  end(): void {
    if (activeTapes.get(this.engine) === this) activeTapes.delete(this.engine);
  }

  push(node: TapeNode): void {
    this.assertLive(`record op ${node.name}`);
    this.nodes.push(node);
    this.owned.push(...node.outputs);
  }

  /**
   * Gradients of `loss` with respect to every tensor reached, keyed by tensor id. `seed` defaults to
   * ones (loss is usually a scalar). Intermediate gradients are freed as soon as they are consumed.
   */
  private run(loss: Tensor, seed: Tensor | undefined, keep: Set<number>): Map<number, Tensor> {
    const grads = new Map<number, Tensor>();
    const engine = this.engine;
    grads.set(loss.id, seed ? seed.retain() : filled(engine, loss.shape, 1));
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      const gOut = node.outputs.map((o) => grads.get(o.id) ?? null);
      if (gOut.every((g) => g === null)) continue;
      const gIn = node.backward(gOut);
      if (gIn.length !== node.inputs.length) {
        throw new Error(`op ${node.name}: backward returned ${gIn.length} gradients for ${node.inputs.length} inputs`);
      }
      for (let k = 0; k < node.inputs.length; k++) {
        const x = node.inputs[k];
        const g = gIn[k];
        if (!g) continue;
        if (!x.requiresGrad) {
          g.dispose();
          continue;
        }
        if (!sameShape(g.shape, x.shape) && g.size !== x.size) {
          throw new Error(`op ${node.name}: gradient for input ${k} has shape [${g.shape}], input is [${x.shape}]`);
        }
        const prev = grads.get(x.id);
        if (prev) {
          accumulate(engine, prev, g);
          g.dispose();
        } else grads.set(x.id, g);
      }
      // Outputs' gradients are consumed; free them unless the caller asked for them.
      for (const o of node.outputs) {
        if (keep.has(o.id)) continue;
        const g = grads.get(o.id);
        if (g) {
          g.dispose();
          grads.delete(o.id);
        }
      }
    }
    return grads;
  }

  /**
   * Backpropagate from `loss`: adds d loss / d leaf into `leaf.grad` for every leaf tensor with
   * requiresGrad (accumulating across calls), then frees what the ops saved.
   */
  backward(loss: Tensor, options: { seed?: Tensor; retainGraph?: boolean } = {}): void {
    this.assertLive('backward');
    const produced = new Set<number>();
    for (const n of this.nodes) for (const o of n.outputs) produced.add(o.id);
    const leaves = new Map<number, Tensor>();
    for (const n of this.nodes) for (const x of n.inputs) if (x.requiresGrad && !produced.has(x.id)) leaves.set(x.id, x);
    const grads = this.run(loss, options.seed, new Set(leaves.keys()));
    for (const [id, g] of grads) {
      const leaf = leaves.get(id);
      if (!leaf) {
        g.dispose();
        continue;
      }
      if (leaf.grad) {
        accumulate(this.engine, leaf.grad, g);
        g.dispose();
      } else leaf.grad = g.size === leaf.size && !sameShape(g.shape, leaf.shape) ? reshapeOwned(g, leaf.shape) : g;
    }
    if (!options.retainGraph) {
      this.dispose();
      this.disposedBy = 'backward already ran and freed it (pass retainGraph: true to call backward again)';
    }
  }

  /** d loss / d x for each x in `wrt` (any recorded tensor), without touching `.grad`. */
  gradients(loss: Tensor, wrt: Tensor[], options: { seed?: Tensor } = {}): (Tensor | null)[] {
    this.assertLive('gradients');
    const keep = new Set(wrt.map((t) => t.id));
    const grads = this.run(loss, options.seed, keep);
    const out = wrt.map((t) => grads.get(t.id) ?? null);
    const used = new Set(out.filter((g): g is Tensor => g !== null).map((g) => g.id));
    for (const g of grads.values()) if (!used.has(g.id)) g.dispose();
    return out;
  }

  /** Release everything the recorded ops saved and the intermediate tensors they produced. */
  dispose(): void {
    if (this.disposed) return;
    this.end();
    for (const n of this.nodes) for (const s of n.saved) s.dispose();
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
    this.nodes.length = 0;
    this.disposed = true;
    this.disposedBy = 'dispose() freed it';
  }

  /** A disposed tape has no nodes: backward would silently give no gradients, so refuse by name. */
  private assertLive(what: string): void {
    if (this.disposed) throw new Error(`tape: cannot ${what}, the tape is disposed: ${this.disposedBy}`);
  }
}

/**
 * Called by every op after its forward dispatches. When a tape is recording on this engine and some
 * input requires a gradient, the op becomes a tape node; otherwise its saved tensors are released.
 */
export function record(
  name: string,
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
  backward: BackwardFn,
  saved: Tensor[] = [],
  options: RecordOptions = {},
): void {
  const engine = outputs[0]?.engine ?? inputs[0]?.engine;
  const tape = engine ? Tape.active(engine) : null;
  if (!tape || !inputs.some((t) => t.requiresGrad)) {
    for (const s of saved) s.dispose();
    return;
  }
  const nd = new Set(options.nonDifferentiable ?? []);
  outputs.forEach((o, i) => {
    o.requiresGrad = !nd.has(i);
  });
  tape.push({ name, inputs: [...inputs], outputs: [...outputs], backward, saved });
}

/** A view of a tensor that stops gradients (shares storage). */
export function stopGradient(t: Tensor): Tensor {
  return t.view(t.shape, false);
}

function reshapeOwned(g: Tensor, shape: readonly number[]): Tensor {
  const v = g.view(shape, false);
  g.dispose();
  return v;
}

export function accumulate(engine: Engine, dst: Tensor, src: Tensor): void {
  if (dst.size !== src.size) throw new Error(`accumulate: size mismatch ${dst.describe()} += ${src.describe()}`);
  const k = engine.kernel('accumulate', 'add_inplace');
  engine.dispatch(k, { dst, src, p: { n: dst.size, value: 0 } }, engine.grid(dst.size, 256));
}

export function filled(engine: Engine, shape: readonly number[], value: number): Tensor {
  const t = Tensor.empty(engine, shape, 'f32');
  if (t.size === 1) {
    // a scalar (the usual loss seed): a copy from a device constant costs less than a dispatch
    const c = Tensor.constant(engine, `value.${value}`, () => [value], [1]);
    engine.copy(c, t, 4);
    c.dispose();
    return t;
  }
  const k = engine.kernel('accumulate', 'fill');
  engine.dispatch(k, { dst: t, p: { n: t.size, value } }, engine.grid(Math.max(1, t.size), 256));
  return t;
}
