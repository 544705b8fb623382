/**
 * Buffer pool with power-of-two size buckets per usage.
 *
 * A released buffer may still be read by work that is encoded but not yet finished, so it first goes
 * to `pending` for the current submission epoch and only returns to the free lists once the queue
 * reports that the submit which closed that epoch has completed.
 */
import { GpuLimitError } from './errors.js';

export const STORAGE_USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
export const UNIFORM_USAGE = 0x40 | 0x08; // UNIFORM | COPY_DST
export const STAGING_USAGE = 0x01 | 0x08; // MAP_READ | COPY_DST

const MIN_BUCKET = 256;

export function bucketSize(bytes: number): number {
  let size = MIN_BUCKET;
  while (size < bytes) size *= 2;
  return size;
}

export interface PoolStats {
  /** Bytes of buffers currently handed out (bucket sizes). */
  bytesInUse: number;
  /** Bytes of all buffers the pool owns (in use, pending and free). */
  bytesAllocated: number;
  buffersAllocated: number;
  buffersInUse: number;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private inUse = new Set<GPUBuffer>();
  private sizes = new WeakMap<GPUBuffer, number>();
  private allocatedBytes = 0;
  private allocatedCount = 0;

  constructor(
    private device: GPUDevice,
    private maxBufferSize: number,
  ) {}

  acquire(bytes: number, usage: number = STORAGE_USAGE, label = 'buffer'): GPUBuffer {
    if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new GpuLimitError(label, `invalid buffer size ${bytes}`);
    const size = bucketSize(Math.max(bytes, 4));
    if (size > this.maxBufferSize && bytes <= this.maxBufferSize) {
      // Bucket rounding must not push a legal request over the limit: allocate the exact size.
      return this.allocate(align4(bytes), usage, label);
    }
    if (bytes > this.maxBufferSize) {
      throw new GpuLimitError(label, `buffer of ${bytes} bytes exceeds the device's maxBufferSize (${this.maxBufferSize})`);
    }
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const buf = list?.pop() ?? this.allocate(size, usage, label);
    this.inUse.add(buf);
    return buf;
  }

  private allocate(size: number, usage: number, label: string): GPUBuffer {
    const buf = this.device.createBuffer({ size, usage, label });
    this.sizes.set(buf, size);
    this.allocatedBytes += size;
    this.allocatedCount++;
    this.inUse.add(buf);
    return buf;
  }

  /** Return a buffer; it becomes reusable after the next submit completes. */
  release(buf: GPUBuffer): void {
    if (!this.inUse.delete(buf)) return; // double release or foreign buffer: ignore
    this.pending.push(buf);
  }

  /** Called by the engine at submit time: hands over the buffers released in this epoch. */
  takePending(): GPUBuffer[] {
    const p = this.pending;
    this.pending = [];
    return p;
  }

  /** Called once the submit that closed an epoch has completed. */
  recycle(buffers: GPUBuffer[]): void {
    for (const buf of buffers) {
      const key = `${buf.usage}:${buf.size}`;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(buf);
    }
  }

  stats(): PoolStats {
    let bytesInUse = 0;
    for (const b of this.inUse) bytesInUse += b.size;
    return { bytesInUse, bytesAllocated: this.allocatedBytes, buffersAllocated: this.allocatedCount, buffersInUse: this.inUse.size };
  }

  /** Destroy free buffers (e.g. after a large benchmark) to give memory back. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.allocatedBytes -= b.size;
        this.allocatedCount--;
        b.destroy();
      }
    }
    this.free.clear();
  }
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
