/**
 * Device acquisition for Node (Dawn via the `webgpu` package) and browsers (`navigator.gpu`).
 *
 * Under Node, `auto` tries the default Dawn instance first (a hardware adapter, or Mesa lavapipe as a
 * software core adapter), then Dawn's OpenGL ES backend in compatibility mode (Mesa llvmpipe).
 */
export type Backend = 'auto' | 'vulkan' | 'opengles' | 'metal' | 'd3d12' | 'null' | 'browser';
export type OptionalFeature = 'subgroups' | 'shader-f16' | 'timestamp-query';

export interface AcquireOptions {
  backend?: Backend;
  /** Optional features not to enable even when the adapter has them (to test fallback paths). */
  disableFeatures?: OptionalFeature[];
  /** Extra Dawn toggles, e.g. ['disable_robustness'] (Node only). */
  dawnToggles?: string[];
  /** Adapter name substring (Node only), e.g. 'llvmpipe'. */
  adapter?: string;
}

export interface Acquired {
  adapter: GPUAdapter;
  device: GPUDevice;
  backend: Backend;
  featureLevel: 'core' | 'compatibility';
}

/** Limits the kernels benefit from; each is requested up to the adapter's maximum. */
const WANTED_LIMITS = [
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxUniformBufferBindingSize',
] as const;

const OPTIONAL_FEATURES: OptionalFeature[] = ['subgroups', 'shader-f16', 'timestamp-query'];

export const isNode = typeof process !== 'undefined' && !!process.versions?.node && typeof (globalThis as { window?: unknown }).window === 'undefined';

// Dawn instances must outlive every device made from them; keep them referenced.
const dawnInstances: unknown[] = [];

async function nodeGpu(createArgs: string[]): Promise<GPU> {
  const moduleName = 'webgpu';
  const mod = (await import(/* @vite-ignore */ moduleName)) as { create: (args: string[]) => GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create(createArgs);
  dawnInstances.push(gpu);
  return gpu;
}

async function tryAdapter(gpu: GPU, featureLevel: 'core' | 'compatibility'): Promise<GPUAdapter | null> {
  try {
    const opts: GPURequestAdapterOptions & { featureLevel?: string } = { powerPreference: 'high-performance' };
    if (featureLevel === 'compatibility') opts.featureLevel = 'compatibility';
    return await (hideLimitWarnings && isNode ? withoutDawnLimitWarnings(() => gpu.requestAdapter(opts)) : gpu.requestAdapter(opts));
  } catch {
    return null;
  }
}

let hideLimitWarnings = false;

/**
 * Hide Dawn's "maxDynamic… artificially reduced … to fit dynamic offset allocation limit" warnings
 * (Node). Dawn writes them straight to file descriptor 2 while it sets up an adapter that reports more
 * dynamic buffers than it can offset (lavapipe reports 10⁶); they say nothing a user can act on. The
 * CLI turns this on; other embedders see Dawn's output unchanged, since it briefly re-points fd 2.
 */
export function hideDawnLimitWarnings(on = true): void {
  hideLimitWarnings = on;
}

const DAWN_LIMIT_WARNING = /^Warning: maxDynamic\w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/**
 * Runs `f` with fd 2 pointing to a temporary file, then restores it and passes every line except
 * Dawn's limit warnings on to stderr. Node has no dup2, so fd 2 is closed and the lowest free
 * descriptor reopened in its place (the original is reached again through /proc/self/fd). Where that
 * is not possible (not Linux, fd 0 or 1 closed, stderr a socket, as Node's own stdio pipes are) `f`
 * runs unfiltered.
 */
export async function withoutDawnLimitWarnings<T>(f: () => Promise<T>): Promise<T> {
  if (process.platform !== 'linux') return f();
  const fs = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  let original: number;
  try {
    fs.fstatSync(0);
    fs.fstatSync(1);
    original = fs.openSync('/proc/self/fd/2', 'a');
  } catch {
    return f();
  }
  // Puts `path` at fd 2: with 0 and 1 open, 2 is the lowest free descriptor once closed.
  const at2 = (path: string) => {
    fs.closeSync(2);
    const fd = fs.openSync(path, 'a');
    if (fd !== 2) throw new Error(`reopened stderr at fd ${fd}, not 2`);
  };
  const tmp = join(tmpdir(), `lowrank-smc-dawn-${process.pid}-${Date.now()}.log`);
  try {
    at2(tmp);
    return await f();
  } finally {
    at2(`/proc/self/fd/${original}`);
    fs.closeSync(original);
    const captured = fs.readFileSync(tmp, 'utf8').split('\n');
    fs.rmSync(tmp, { force: true });
    if (captured.at(-1) === '') captured.pop();
    const kept = captured.filter((line) => !DAWN_LIMIT_WARNING.test(line));
    if (kept.length) process.stderr.write(kept.join('\n') + '\n');
  }
}

export async function acquireDevice(options: AcquireOptions = {}): Promise<Acquired> {
  const backend = options.backend ?? 'auto';
  const attempts: { gpu: () => Promise<GPU>; backend: Backend; featureLevel: 'core' | 'compatibility' }[] = [];
  const toggles = options.dawnToggles?.length ? [`enable-dawn-features=${options.dawnToggles.join(',')}`] : [];
  const adapterArg = options.adapter ? [`adapter=${options.adapter}`] : [];
  if (backend === 'browser' || (!isNode && backend === 'auto')) {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (!nav?.gpu) {
      throw new Error(
        'WebGPU is not available in this browser (navigator.gpu is undefined). Use a recent Chrome/Edge, or enable WebGPU (chrome://flags/#enable-unsafe-webgpu).',
      );
    }
    attempts.push({ gpu: async () => nav.gpu!, backend: 'browser', featureLevel: 'core' });
    attempts.push({ gpu: async () => nav.gpu!, backend: 'browser', featureLevel: 'compatibility' });
  } else {
    if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = (await import('node:os')).tmpdir();
    const glesEnv = () => {
      if (!process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
    };
    if (backend === 'auto') {
      attempts.push({ gpu: () => nodeGpu([...toggles, ...adapterArg]), backend: 'vulkan', featureLevel: 'core' });
      attempts.push({ gpu: () => (glesEnv(), nodeGpu(['backend=opengles', ...toggles])), backend: 'opengles', featureLevel: 'compatibility' });
    } else if (backend === 'opengles') {
      attempts.push({ gpu: () => (glesEnv(), nodeGpu(['backend=opengles', ...toggles, ...adapterArg])), backend, featureLevel: 'compatibility' });
    } else {
      attempts.push({ gpu: () => nodeGpu([`backend=${backend}`, ...toggles, ...adapterArg]), backend, featureLevel: 'core' });
    }
  }
  const failures: string[] = [];
  for (const a of attempts) {
    let adapter: GPUAdapter | null;
    try {
      adapter = await tryAdapter(await a.gpu(), a.featureLevel);
    } catch (e) {
      failures.push(`${a.backend}/${a.featureLevel}: ${(e as Error).message}`);
      continue;
    }
    if (!adapter) {
      failures.push(`${a.backend}/${a.featureLevel}: no adapter`);
      continue;
    }
    const device = await requestDevice(adapter, options.disableFeatures ?? []);
    const isCompat = a.featureLevel === 'compatibility' && !adapter.features.has('core-features-and-limits');
    return { adapter, device, backend: a.backend, featureLevel: isCompat ? 'compatibility' : 'core' };
  }
  throw new Error(
    `no WebGPU adapter found (${failures.join('; ')}). On Linux without a GPU run \`npm run setup\`, which installs Mesa's software Vulkan driver (lavapipe).`,
  );
}

async function requestDevice(adapter: GPUAdapter, disabled: OptionalFeature[]): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  // 4 GiB - 4 is the most a u32-indexed binding can address; keep requests sane on adapters reporting more.
  for (const k of ['maxBufferSize', 'maxStorageBufferBindingSize'] as const) {
    if (requiredLimits[k] > 2 ** 32 - 4) requiredLimits[k] = 2 ** 32 - 4;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.includes(f)) as GPUFeatureName[];
  if (adapter.features.has('core-features-and-limits')) requiredFeatures.push('core-features-and-limits' as GPUFeatureName);
  return adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'lowrank-smc' });
}
