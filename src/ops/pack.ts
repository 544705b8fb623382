/**
 * Pack slices of several tensors into one flat tensor (and back in the backward pass). The fused
 * kernels take all parameters in one buffer, which keeps them under the storage-binding limit; the
 * gradient of the packed tensor is sliced back to each source.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';

export interface PackPart {
  src: Tensor;
  /** Element offset into the destination. */
  dstOffset: number;
  /** Element offset into the source (default 0). */
  srcOffset?: number;
  /** Elements to copy (default: the rest of the source). */
  length?: number;
}

export function pack(engine: Engine, parts: PackPart[], total: number, name = 'pack'): Tensor {
  const out = Tensor.zeros(engine, [total], 'f32', name);
  const resolved = parts.map((p) => {
    const srcOffset = p.srcOffset ?? 0;
    const length = p.length ?? p.src.size - srcOffset;
    if (p.src.dtype !== 'f32') throw new Error(`${name}: ${p.src.describe()} is not f32`);
    if (srcOffset < 0 || srcOffset + length > p.src.size) throw new Error(`${name}: slice [${srcOffset}, ${srcOffset + length}) outside ${p.src.describe()}`);
    if (p.dstOffset < 0 || p.dstOffset + length > total) throw new Error(`${name}: destination [${p.dstOffset}, ${p.dstOffset + length}) outside ${total}`);
    return { src: p.src, srcOffset, length, dstOffset: p.dstOffset };
  });
  for (const p of resolved) if (p.length > 0) engine.copy(p.src, out, 4 * p.length, 4 * p.srcOffset, 4 * p.dstOffset);
  const sources = [...new Set(resolved.map((p) => p.src))];
  record(name, sources, [out], ([g]) => {
    if (!g) return sources.map(() => null);
    return sources.map((src) => {
      const gs = Tensor.zeros(engine, src.shape, 'f32', `${name}.grad`);
      for (const p of resolved) if (p.src === src && p.length > 0) engine.copy(g, gs, 4 * p.length, 4 * p.dstOffset, 4 * p.srcOffset);
      return gs;
    });
  });
  return out;
}
