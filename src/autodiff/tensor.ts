/**
 * Tensor: a GPU buffer handle with a shape and dtype. Buffers come from the engine's pool and are
 * reference-counted, so views (stop-gradient, reshape) share storage and a tensor saved by an op for
 * its backward pass stays alive until the tape releases it.
 */
import type { Engine } from '../gpu/engine.js';

export type DType = 'f32' | 'u32' | 'i32';

class Storage {
  refs = 1;
  constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
  ) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.engine.release(this.buffer);
  }
}

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  /** Gradient accumulated by `Tape.backward` (for tensors with requiresGrad). */
  grad: Tensor | null = null;
  private disposed = false;

  private constructor(
    private storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
    public requiresGrad: boolean,
    public name = '',
  ) {}

  static empty(engine: Engine, shape: readonly number[], dtype: DType = 'f32', name = ''): Tensor {
    const size = shapeSize(shape);
    const buf = engine.alloc(Math.max(4, size * 4), name || 'tensor');
    return new Tensor(new Storage(engine, buf), [...shape], dtype, false, name);
  }

  static zeros(engine: Engine, shape: readonly number[], dtype: DType = 'f32', name = ''): Tensor {
    const t = Tensor.empty(engine, shape, dtype, name);
    engine.clear(t.buffer, 0, Math.max(4, t.size * 4));
    return t;
  }

  static fromArray(engine: Engine, data: ArrayLike<number>, shape?: readonly number[], dtype: DType = 'f32', name = ''): Tensor {
    const s = shape ?? [data.length];
    if (shapeSize(s) !== data.length) throw new Error(`tensor ${name || ''}: ${data.length} values do not fill shape [${s.join(', ')}]`);
    const arr = dtype === 'f32' ? Float32Array.from(data) : dtype === 'u32' ? Uint32Array.from(data) : Int32Array.from(data);
    const buf = engine.upload(arr, name || 'tensor');
    return new Tensor(new Storage(engine, buf), [...s], dtype, false, name);
  }

  /**
   * A constant table made once per engine and `key` (engine.constant): nothing is uploaded per use, so a
   * training iteration's submit stays whole. Disposing it leaves the table in place.
   */
  static constant(engine: Engine, key: string, data: () => ArrayLike<number>, shape: readonly number[]): Tensor {
    const buf = engine.constant(`tensor.${key}`, () => Float32Array.from(data()));
    if (buf.size < 4 * shapeSize(shape)) throw new Error(`constant tensor ${key}: its table is smaller than shape [${shape.join(', ')}]`);
    return new Tensor(new Storage(engine, buf), [...shape], 'f32', false, key);
  }

  /** A trainable leaf: requiresGrad = true. */
  static param(engine: Engine, data: ArrayLike<number>, shape?: readonly number[], name = ''): Tensor {
    const t = Tensor.fromArray(engine, data, shape, 'f32', name);
    t.requiresGrad = true;
    return t;
  }

  get engine(): Engine {
    return this.storage.engine;
  }

  get buffer(): GPUBuffer {
    if (this.disposed) throw new Error(`tensor ${this.describe()} used after dispose`);
    return this.storage.buffer;
  }

  get size(): number {
    return shapeSize(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  describe(): string {
    return `${this.name || `#${this.id}`}[${this.shape.join(',')}]`;
  }

  /** A tensor sharing this one's storage, with another shape of the same size. */
  view(shape: readonly number[], requiresGrad = this.requiresGrad): Tensor {
    if (shapeSize(shape) !== this.size) throw new Error(`cannot view ${this.describe()} as [${shape.join(',')}]`);
    this.storage.retain();
    return new Tensor(this.storage, [...shape], this.dtype, requiresGrad, this.name);
  }

  /** Keep the storage alive for another holder (pair with dispose). */
  retain(): Tensor {
    this.storage.retain();
    return new Tensor(this.storage, this.shape, this.dtype, this.requiresGrad, this.name);
  }

  async read(): Promise<Float32Array | Uint32Array | Int32Array> {
    const bytes = await this.engine.read(this.buffer, this.size * 4);
    return this.dtype === 'f32' ? new Float32Array(bytes) : this.dtype === 'u32' ? new Uint32Array(bytes) : new Int32Array(bytes);
  }

  async readF32(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new Error(`tensor ${this.describe()} is ${this.dtype}, not f32`);
    return (await this.read()) as Float32Array;
  }

  async item(): Promise<number> {
    return (await this.read())[0];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
  }
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
