/**
 * The engine: one GPU device plus the buffer pool, the pipeline cache and a command encoder that
 * collects many dispatches per submit. Work is flushed only when something is read back (or on
 * `flush()`), so a whole training iteration is one submit.
 */
import { acquireDevice, type AcquireOptions, type Backend } from './acquire.js';
import { GpuDeviceLostError, GpuError, GpuLimitError, GpuValidationError, ShaderCompileError } from './errors.js';
import { Kernel, packUniform, reflectKernel, type UniformValues } from './kernel.js';
import { BufferPool, STAGING_USAGE, STORAGE_USAGE, UNIFORM_USAGE, type PoolStats } from './pool.js';
import { preprocess, shaderSource, type Defines } from './preprocess.js';
import { quietly } from './quiet-wait.js';

export interface EngineInfo {
  backend: Backend;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  featureLevel: 'core' | 'compatibility';
  software: boolean;
  features: string[];
  limits: Record<string, number>;
}

export interface KernelOptions {
  /** Preprocessor defines (see preprocess.ts); SUBGROUPS and F16 are added by the engine. */
  defines?: Defines;
  /** WGSL override constants. */
  overrides?: Record<string, number>;
  /** Label suffix to tell variants apart in error messages. */
  variant?: string;
}

/** Anything that owns a storage buffer (a Tensor, or a raw GPUBuffer). */
export type BufferLike = GPUBuffer | { buffer: GPUBuffer };
export type BindingValue = BufferLike | UniformValues;

export class Engine {
  readonly pool: BufferPool;
  readonly info: EngineInfo;
  readonly hasSubgroups: boolean;
  readonly hasF16: boolean;
  readonly hasTimestamps: boolean;
  /**
   * Whether tuning decisions (workgroup sizes, path thresholds) take the software adapter's values:
   * `info.software` unless the engine was created with `tuning: 'gpu'` (or LOWRANK_SMC_TUNING=gpu),
   * which runs the hardware adapter's choices on a software adapter so that tests cover them.
   */
  readonly softwareTuning: boolean;
  private kernels = new Map<string, Kernel>();
  /** kernel() by its arguments: preprocessing and keying by the whole text cost more than many small dispatches. */
  private kernelsByName = new Map<string, Kernel>();
  private constants = new Map<string, GPUBuffer>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private scopeOpen = false;
  private pendingChecks: Promise<GpuError | null>[] = [];
  private inflight = new Set<Promise<unknown>>();
  private fatal: GpuError | null = null;
  private destroyed = false;
  /** Count of dispatches encoded since creation (for tests and benchmarks). */
  dispatchCount = 0;
  submitCount = 0;

  constructor(
    readonly device: GPUDevice,
    adapter: GPUAdapter,
    backend: Backend,
    featureLevel: 'core' | 'compatibility',
    tuning: Tuning = 'auto',
  ) {
    const ai = adapter.info;
    const limits: Record<string, number> = {};
    // Report the device's limits (what we got), never the adapter's raw ones.
    for (const k in device.limits) {
      const v = (device.limits as unknown as Record<string, unknown>)[k];
      if (typeof v === 'number') limits[k] = v;
    }
    const features = [...device.features].map(String).sort();
    this.hasSubgroups = device.features.has('subgroups');
    this.hasF16 = device.features.has('shader-f16');
    this.hasTimestamps = device.features.has('timestamp-query');
    const arch = ai.architecture ?? '';
    const desc = ai.description ?? '';
    this.info = {
      backend,
      vendor: ai.vendor ?? '',
      architecture: arch,
      device: ai.device ?? '',
      description: desc,
      featureLevel,
      software:
        /software|swiftshader|llvmpipe|lavapipe/i.test(`${arch} ${desc} ${ai.device ?? ''}`) ||
        (ai as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
      features,
      limits,
    };
    this.softwareTuning = this.info.software && tuning !== 'gpu';
    this.pool = new BufferPool(device, device.limits.maxBufferSize);
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.fatal ??= new GpuValidationError(err.message);
    });
    void device.lost.then((info) => {
      if (!this.destroyed) this.fatal = new GpuDeviceLostError(`${info.reason}: ${info.message}`);
    });
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  // ---------------------------------------------------------------- kernels

  /** Compile (or fetch from cache) the compute kernel `entry` of shaders/<shader>.wgsl. */
  kernel(shader: string, entry: string, options: KernelOptions = {}): Kernel {
    this.checkAlive();
    const nameKey = `${shader}\u0000${entry}\u0000${options.variant ?? ''}\u0000${JSON.stringify(options.defines ?? {})}\u0000${JSON.stringify(options.overrides ?? {})}`;
    const known = this.kernelsByName.get(nameKey);
    if (known) return known;
    const defines: Defines = { SUBGROUPS: this.hasSubgroups, F16: this.hasF16, ...options.defines };
    const overrides = options.overrides ?? {};
    const label = `${shader}.${entry}${options.variant ? `[${options.variant}]` : ''}`;
    let code: string;
    try {
      code = preprocess(shaderSource(shader), defines);
    } catch (e) {
      throw new ShaderCompileError(label, (e as Error).message);
    }
    if (defines.SUBGROUPS && /\bsubgroup\w+\s*\(/.test(code)) code = `enable subgroups;\n${code}`;
    if (defines.F16 && /\bf16\b/.test(code)) code = `enable f16;\n${code}`;
    const kernel = this.kernelFromSource(label, code, entry, overrides);
    this.kernelsByName.set(nameKey, kernel);
    return kernel;
  }

  /** Compile WGSL text directly (tests, generated code). Cached by text, entry and overrides. */
  kernelFromSource(label: string, code: string, entry: string, overrides: Record<string, number> = {}): Kernel {
    const key = `${entry}\u0000${JSON.stringify(overrides)}\u0000${code}`;
    const cached = this.kernels.get(key);
    if (cached) return cached;
    const reflection = reflectKernel(label, code, entry, overrides);
    const [x, y, z] = reflection.workgroupSize;
    const lim = this.device.limits;
    if (
      x * y * z > lim.maxComputeInvocationsPerWorkgroup ||
      x > lim.maxComputeWorkgroupSizeX ||
      y > lim.maxComputeWorkgroupSizeY ||
      z > lim.maxComputeWorkgroupSizeZ
    ) {
      throw new GpuLimitError(
        label,
        `workgroup size ${x}x${y}x${z} exceeds the device limits (max ${lim.maxComputeInvocationsPerWorkgroup} invocations, ${lim.maxComputeWorkgroupSizeX}x${lim.maxComputeWorkgroupSizeY}x${lim.maxComputeWorkgroupSizeZ})`,
      );
    }
    const storageCount = reflection.bindings.filter((b) => b.kind !== 'uniform').length;
    if (storageCount > lim.maxStorageBuffersPerShaderStage) {
      throw new GpuLimitError(label, `uses ${storageCount} storage buffers, device allows ${lim.maxStorageBuffersPerShaderStage}`);
    }
    const device = this.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code, label });
    const layout = device.createBindGroupLayout({
      label,
      entries: reflection.bindings.map((b) => ({
        binding: b.binding,
        visibility: 4 /* COMPUTE */,
        buffer: { type: b.kind },
      })),
    });
    const pipeline = device.createComputePipeline({
      label,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout], label }),
      compute: { module, entryPoint: entry, constants: overrides },
    });
    const scope = device.popErrorScope();
    const check = (async (): Promise<GpuError | null> => {
      const info = await module.getCompilationInfo();
      const errs = info.messages.filter((m) => m.type === 'error');
      if (errs.length) {
        return new ShaderCompileError(label, errs.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`).join('; '));
      }
      const err = await scope;
      return err ? new ShaderCompileError(label, err.message) : null;
    })();
    this.pendingChecks.push(check);
    const kernel = new Kernel(label, pipeline, layout, reflection);
    this.kernels.set(key, kernel);
    return kernel;
  }

  /** Await compilation of a kernel and throw if it failed (otherwise errors surface at the next sync). */
  async compile(kernel: Kernel): Promise<Kernel> {
    await this.checkErrors();
    return kernel;
  }

  // ---------------------------------------------------------------- dispatch

  dispatch(kernel: Kernel, bindings: Record<string, BindingValue>, workgroups: number | [number, number?, number?]): void {
    this.checkAlive();
    const [gx, gy = 1, gz = 1] = typeof workgroups === 'number' ? [workgroups] : workgroups;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    for (const g of [gx, gy, gz]) {
      if (!Number.isInteger(g) || g < 0) throw new GpuLimitError(kernel.label, `invalid workgroup count ${g}`);
      if (g > maxDim) throw new GpuLimitError(kernel.label, `dispatch of ${gx}x${gy}x${gz} workgroups exceeds maxComputeWorkgroupsPerDimension (${maxDim})`);
    }
    if (gx * gy * gz === 0) return;
    const entries: GPUBindGroupEntry[] = [];
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    for (const b of kernel.reflection.bindings) {
      const v = bindings[b.name];
      if (v === undefined) throw new Error(`kernel "${kernel.label}": binding "${b.name}" not given`);
      if (b.kind === 'uniform') {
        const bytes = packUniform(kernel.label, b, v as UniformValues);
        const ub = this.pool.acquire(bytes.byteLength, UNIFORM_USAGE, `${kernel.label}.${b.name}`);
        this.device.queue.writeBuffer(ub, 0, bytes);
        this.pool.release(ub); // reusable once this epoch's submit completes
        entries.push({ binding: b.binding, resource: { buffer: ub, size: bytes.byteLength } });
      } else {
        const buf = toBuffer(v);
        if (!buf) throw new Error(`kernel "${kernel.label}": binding "${b.name}" expects a buffer or tensor`);
        const size = Math.min(buf.size, maxBinding);
        if (buf.size > maxBinding) {
          throw new GpuLimitError(kernel.label, `binding "${b.name}" of ${buf.size} bytes exceeds maxStorageBufferBindingSize (${maxBinding})`);
        }
        entries.push({ binding: b.binding, resource: { buffer: buf, size } });
      }
    }
    for (const name of Object.keys(bindings)) {
      if (!kernel.reflection.bindings.some((b) => b.name === name)) {
        throw new Error(`kernel "${kernel.label}" has no binding "${name}" (bindings: ${kernel.reflection.bindings.map((b) => b.name).join(', ')})`);
      }
    }
    const bindGroup = this.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.label });
    const pass = this.computePass();
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(gx, gy, gz);
    this.dispatchCount++;
  }

  /**
   * Workgroup grid covering `n` invocations of a 1-D kernel with `wg` invocations per group, folded
   * into 2-D when it exceeds maxComputeWorkgroupsPerDimension. Kernels recover the flat index as
   * gid.x + gid.y * num_workgroups.x * WG and bounds-check it.
   */
  grid(n: number, wg: number): [number, number] {
    const groups = Math.ceil(n / wg);
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (groups <= maxDim) return [groups, 1];
    const gy = Math.ceil(groups / maxDim);
    return [Math.ceil(groups / gy), gy];
  }

  private ensureEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      if (!this.scopeOpen) {
        this.device.pushErrorScope('out-of-memory');
        this.device.pushErrorScope('validation');
        this.scopeOpen = true;
      }
      this.encoder = this.device.createCommandEncoder({ label: 'lowrank-smc' });
    }
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.ensureEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    const enc = this.ensureEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return enc;
  }

  copy(src: BufferLike, dst: BufferLike, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.checkAlive();
    this.endPass().copyBufferToBuffer(toBuffer(src)!, srcOffset, toBuffer(dst)!, dstOffset, bytes);
  }

  clear(buf: BufferLike, offset = 0, size?: number): void {
    this.checkAlive();
    this.endPass().clearBuffer(toBuffer(buf)!, offset, size);
  }

  /** Submit everything encoded so far. Returns immediately; errors surface at the next sync/read. */
  flush(): void {
    if (!this.encoder) return;
    const enc = this.endPass();
    this.encoder = null;
    this.device.queue.submit([enc.finish()]);
    this.submitCount++;
    if (this.scopeOpen) {
      this.scopeOpen = false;
      const v = this.device.popErrorScope();
      const o = this.device.popErrorScope();
      this.pendingChecks.push(
        Promise.all([v, o]).then(([ve, oe]) => {
          const e = ve ?? oe;
          return e ? new GpuValidationError(e.message) : null;
        }),
      );
    }
    const released = this.pool.takePending();
    const done = this.device.queue.onSubmittedWorkDone().then(() => this.pool.recycle(released));
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
  }

  /** Flush and wait until the GPU has finished; throws any validation error, compile error or device loss. */
  async sync(): Promise<void> {
    this.flush();
    await this.wait(Promise.all([...this.inflight]));
    await this.checkErrors();
  }

  /** Await GPU work; on a software adapter without the binding's busy polling (quiet-wait.ts). */
  private wait<T>(p: Promise<T>): Promise<T> {
    return this.info.software ? quietly(p) : p;
  }

  private async checkErrors(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    const results = await Promise.all(checks);
    const first = results.find((e) => e !== null);
    if (first) throw first;
    if (this.fatal) {
      // An uncaptured validation error is reported once; device loss stays fatal.
      const f = this.fatal;
      if (!(f instanceof GpuDeviceLostError)) this.fatal = null;
      throw f;
    }
  }

  private checkAlive(): void {
    if (this.destroyed) throw new GpuError('engine has been destroyed');
    if (this.fatal instanceof GpuDeviceLostError) throw this.fatal;
  }

  // ---------------------------------------------------------------- buffers

  /** A pooled storage buffer of at least `bytes` bytes (contents undefined). */
  alloc(bytes: number, label = 'buffer'): GPUBuffer {
    this.checkAlive();
    return this.pool.acquire(bytes, STORAGE_USAGE, label);
  }

  release(buf: GPUBuffer): void {
    this.pool.release(buf);
  }

  /** A pooled storage buffer holding `data`. */
  upload(data: ArrayBufferView, label = 'upload'): GPUBuffer {
    const buf = this.alloc(Math.max(4, data.byteLength), label);
    this.write(buf, data);
    return buf;
  }

  /**
   * A storage buffer holding the constant table `make()` (e.g. FFT twiddles), made once per key and kept as long
   * as the device, outside the pool. It is filled at creation (mapped), so using it encodes no upload: an upload
   * would end the submit (`write` flushes) that a whole training iteration otherwise is.
   */
  constant(key: string, make: () => Float32Array | Uint32Array): GPUBuffer {
    this.checkAlive();
    let buf = this.constants.get(key);
    if (!buf) {
      const data = make();
      buf = this.device.createBuffer({ size: Math.max(4, data.byteLength), usage: STORAGE_USAGE, mappedAtCreation: true, label: key });
      new Uint8Array(buf.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      buf.unmap();
      this.constants.set(key, buf);
    }
    return buf;
  }

  /** Write host data into a buffer, ordered after all work encoded so far. */
  write(buf: BufferLike, data: ArrayBufferView, offset = 0): void {
    this.checkAlive();
    // queue.writeBuffer runs before not-yet-submitted commands; submit them first to keep order.
    this.flush();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const padded = (bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes)) as Uint8Array<ArrayBuffer>;
    this.device.queue.writeBuffer(toBuffer(buf)!, offset, padded);
  }

  /** Read `bytes` bytes of a buffer back to the host (flushes pending work). */
  async read(buf: BufferLike, bytes?: number, offset = 0): Promise<ArrayBuffer> {
    this.checkAlive();
    const src = toBuffer(buf)!;
    const size = Math.ceil((bytes ?? src.size - offset) / 4) * 4;
    const staging = this.pool.acquire(size, STAGING_USAGE, 'readback');
    this.endPass().copyBufferToBuffer(src, offset, staging, 0, size);
    this.flush();
    try {
      await this.wait(staging.mapAsync(1 /* READ */, 0, size));
    } catch (e) {
      await this.checkErrors();
      throw new GpuError(`readback failed: ${(e as Error).message}`);
    }
    const out = staging.getMappedRange(0, size).slice(0);
    staging.unmap();
    this.pool.release(staging);
    await this.checkErrors();
    return bytes === undefined ? out : out.slice(0, bytes);
  }

  async readF32(buf: BufferLike, count?: number, offset = 0): Promise<Float32Array> {
    return new Float32Array(await this.read(buf, count === undefined ? undefined : count * 4, offset * 4));
  }

  async readU32(buf: BufferLike, count?: number, offset = 0): Promise<Uint32Array> {
    return new Uint32Array(await this.read(buf, count === undefined ? undefined : count * 4, offset * 4));
  }

  poolStats(): PoolStats {
    return this.pool.stats();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.device.destroy();
  }
}

function toBuffer(v: BindingValue): GPUBuffer | null {
  if (v && typeof v === 'object') {
    if ('buffer' in v && v.buffer && typeof (v.buffer as GPUBuffer).size === 'number') return v.buffer as GPUBuffer;
    if ('size' in v && 'usage' in v) return v as unknown as GPUBuffer;
  }
  return null;
}

function padTo4(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}

/** 'auto': tune for the adapter found; 'gpu': take the hardware adapter's tuning even on a software one. */
export type Tuning = 'auto' | 'gpu';

/** The tuning asked for: the option, else LOWRANK_SMC_TUNING (Node), else 'auto'. */
export function tuningFrom(option?: Tuning): Tuning {
  const env = typeof process !== 'undefined' ? process.env?.LOWRANK_SMC_TUNING : undefined;
  const t = option ?? (env || 'auto');
  if (t !== 'auto' && t !== 'gpu') throw new Error(`engine tuning must be auto or gpu, got "${t}" (LOWRANK_SMC_TUNING or the tuning option)`);
  return t;
}

export interface EngineOptions extends AcquireOptions {
  /** Tuning of workgroup sizes and path choices (default: LOWRANK_SMC_TUNING, else 'auto'). */
  tuning?: Tuning;
  /** Use an existing device (e.g. one the embedding application owns). */
  device?: GPUDevice;
  adapterForDevice?: GPUAdapter;
}

/** Acquire a GPU device and build an engine on it. See AcquireOptions for backend selection. */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  if (options.device) {
    if (!options.adapterForDevice) throw new Error('createEngine: `adapterForDevice` is required with `device`');
    return new Engine(options.device, options.adapterForDevice, 'browser', 'core', tuningFrom(options.tuning));
  }
  const tuning = tuningFrom(options.tuning);
  const { adapter, device, backend, featureLevel } = await acquireDevice(options);
  return new Engine(device, adapter, backend, featureLevel, tuning);
}
