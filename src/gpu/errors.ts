/** Errors raised by the GPU runtime. Each names what the user can act on (kernel label, limit, value). */

export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}

/** WGSL failed to parse, compile or validate. `kernel` is the label, e.g. "lowrank.forward". */
export class ShaderCompileError extends GpuError {
  constructor(
    readonly kernel: string,
    detail: string,
  ) {
    super(`kernel "${kernel}": shader compilation failed: ${detail}`);
    this.name = 'ShaderCompileError';
  }
}

/** A request exceeds a device limit (workgroup size, dispatch size, buffer size, bindings). */
export class GpuLimitError extends GpuError {
  constructor(
    readonly kernel: string,
    detail: string,
  ) {
    super(`kernel "${kernel}": ${detail}`);
    this.name = 'GpuLimitError';
  }
}

/** A validation or out-of-memory error reported by the device for submitted work. */
export class GpuValidationError extends GpuError {
  constructor(detail: string) {
    super(`GPU validation error: ${detail}`);
    this.name = 'GpuValidationError';
  }
}

export class GpuDeviceLostError extends GpuError {
  constructor(detail: string) {
    super(`GPU device lost: ${detail}`);
    this.name = 'GpuDeviceLostError';
  }
}
