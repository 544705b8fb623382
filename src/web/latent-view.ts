/**
 * 3-D view of latent trajectories and fixed points, drawn with a WebGPU render pipeline (line list,
 * 4× MSAA) on the page's own device. Camera: gl-matrix perspective × look-at around the scene
 * centre; drag to orbit, wheel to zoom. Rank 2 models lie in the z = 0 plane; rank 1 is drawn
 * against time.
 */
import { mat4, vec3 } from 'gl-matrix';

const SHADER = /* wgsl */ `
struct Camera { viewProj: mat4x4<f32> }
@group(0) @binding(0) var<uniform> camera: Camera;
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32> }
@vertex fn vs(@location(0) p: vec3<f32>, @location(1) c: vec4<f32>) -> VOut {
  var o: VOut;
  o.pos = camera.viewProj * vec4<f32>(p, 1.0);
  o.color = c;
  return o;
}
@fragment fn fs(i: VOut) -> @location(0) vec4<f32> { return i.color; }
`;

const FLOATS_PER_VERTEX = 7; // xyz rgba
const SAMPLES = 4;
const PROBE_TIMEOUT_MS = 5000;

export type Rgba = [number, number, number, number];

export interface LatentPath {
  /** [T, R] flattened. */
  z: ArrayLike<number>;
  T: number;
  color: Rgba;
}

export interface LatentMarker {
  z: ArrayLike<number>;
  color: Rgba;
}

/**
 * 'present' draws into the canvas's WebGPU context; 'readback' renders offscreen, maps the pixels
 * and puts them into a 2-D canvas, for browsers whose WebGPU canvases do not present (headless
 * Chromium on SwiftShader loses the device on the first present).
 */
export type PresentMode = 'present' | 'readback';

export class LatentView {
  private context: GPUCanvasContext | null = null;
  private context2d: CanvasRenderingContext2D | null = null;
  private resolved: GPUTexture | null = null;
  private staging: GPUBuffer | null = null;
  private readingBack = false;
  private redrawAfterReadback = false;
  private pipeline: GPURenderPipeline;
  private uniform: GPUBuffer;
  private bindGroup: GPUBindGroup;
  private vertices: GPUBuffer | null = null;
  private vertexCount = 0;
  private msaa: GPUTexture | null = null;
  private format: GPUTextureFormat;
  private azimuth = 0.6;
  private elevation = 0.5;
  private distance = 3;
  private center = vec3.create();
  private extent = 1;
  private frame = 0;

  private constructor(
    private device: GPUDevice,
    private canvas: HTMLCanvasElement,
    readonly mode: PresentMode,
  ) {
    if (mode === 'present') {
      this.context = canvas.getContext('webgpu') as GPUCanvasContext;
      this.format = navigator.gpu.getPreferredCanvasFormat();
      this.context.configure({ device, format: this.format, alphaMode: 'premultiplied' });
    } else {
      this.context2d = canvas.getContext('2d');
      this.format = 'rgba8unorm';
    }
    canvas.dataset.mode = mode;
    const module = device.createShaderModule({ code: SHADER, label: 'latent-view' });
    this.pipeline = device.createRenderPipeline({
      label: 'latent-view',
      layout: 'auto',
      vertex: {
        module,
        entryPoint: 'vs',
        buffers: [
          {
            arrayStride: FLOATS_PER_VERTEX * 4,
            attributes: [
              { shaderLocation: 0, offset: 0, format: 'float32x3' },
              { shaderLocation: 1, offset: 12, format: 'float32x4' },
            ],
          },
        ],
      },
      fragment: {
        module,
        entryPoint: 'fs',
        targets: [
          {
            format: this.format,
            blend: { color: { srcFactor: 'src-alpha', dstFactor: 'one-minus-src-alpha' }, alpha: { srcFactor: 'one', dstFactor: 'one-minus-src-alpha' } },
          },
        ],
      },
      primitive: { topology: 'line-list' },
      multisample: { count: SAMPLES },
    });
    this.uniform = device.createBuffer({ size: 64, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.bindGroup = device.createBindGroup({ layout: this.pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: this.uniform } }] });
    this.attachMouse();
    new ResizeObserver(() => this.requestDraw()).observe(canvas);
  }

  /** Null when the page has no WebGPU adapter (the caller says so in the page). */
  static async create(canvas: HTMLCanvasElement): Promise<LatentView | null> {
    if (!(await navigator.gpu?.requestAdapter())) return null;
    const mode: PresentMode = (await canvasesPresent()) ? 'present' : 'readback';
    // A fresh adapter: requesting a device consumes one.
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return null;
    const device = await adapter.requestDevice({ label: 'latent-view' });
    return new LatentView(device, canvas, mode);
  }

  /** Replace the scene: paths as polylines, markers as 3-D crosses, plus axes through the centre. */
  setScene(rank: number, paths: LatentPath[], markers: LatentMarker[]): void {
    const pos = (z: ArrayLike<number>, t: number, T: number, base: number): [number, number, number] =>
      rank === 1 ? [(t / Math.max(1, T - 1)) * 2 - 1, z[base], 0] : [z[base], z[base + 1], rank > 2 ? z[base + 2] : 0];
    // Bounds for the camera and the marker size.
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    const grow = (p: number[]) => p.forEach((v, i) => Number.isFinite(v) && ((lo[i] = Math.min(lo[i], v)), (hi[i] = Math.max(hi[i], v))));
    for (const p of paths) for (let t = 0; t < p.T; t++) grow(pos(p.z, t, p.T, t * rank));
    for (const m of markers) grow(pos(m.z, 0, 1, 0));
    if (!Number.isFinite(lo[0])) {
      lo.fill(-1);
      hi.fill(1);
    }
    for (let i = 0; i < 3; i++) this.center[i] = (lo[i] + hi[i]) / 2;
    this.extent = Math.max(1e-3, ...hi.map((h, i) => (h - lo[i]) / 2));
    this.distance = 3.2 * this.extent;

    const v: number[] = [];
    const push = (a: number[], b: number[], c: Rgba, c2: Rgba = c) => v.push(...a, ...c, ...b, ...c2);
    const axisColor: Rgba = [0.6, 0.6, 0.6, 0.8];
    for (let i = 0; i < Math.min(3, Math.max(2, rank)); i++) {
      const a = [...this.center],
        b = [...this.center];
      a[i] -= 1.1 * this.extent;
      b[i] += 1.1 * this.extent;
      push(a, b, axisColor);
    }
    for (const p of paths) {
      for (let t = 1; t < p.T; t++) {
        const a = pos(p.z, t - 1, p.T, (t - 1) * rank),
          b = pos(p.z, t, p.T, t * rank);
        if ([...a, ...b].every(Number.isFinite)) {
          // Fade in along the path so direction shows.
          const f = 0.25 + 0.75 * (t / p.T);
          push(a, b, [p.color[0], p.color[1], p.color[2], p.color[3] * f]);
        }
      }
    }
    const s = 0.06 * this.extent;
    for (const m of markers) {
      const c = pos(m.z, 0, 1, 0);
      for (let i = 0; i < 3; i++) {
        const a = [...c],
          b = [...c];
        a[i] -= s;
        b[i] += s;
        push(a, b, m.color);
      }
    }
    const data = new Float32Array(v);
    this.vertices?.destroy();
    this.vertices = data.length ? this.device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.VERTEX | GPUBufferUsage.COPY_DST }) : null;
    if (this.vertices) this.device.queue.writeBuffer(this.vertices, 0, data);
    this.vertexCount = data.length / FLOATS_PER_VERTEX;
    this.canvas.dataset.vertices = String(this.vertexCount);
    this.canvas.dataset.markers = String(markers.length);
    this.requestDraw();
  }

  private requestDraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const dpr = globalThis.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (this.readingBack) {
      this.redrawAfterReadback = true;
      return;
    }
    if (this.canvas.width !== w || this.canvas.height !== h || !this.msaa) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.msaa?.destroy();
      this.msaa = this.device.createTexture({ size: [w, h], sampleCount: SAMPLES, format: this.format, usage: GPUTextureUsage.RENDER_ATTACHMENT });
      this.resolved?.destroy();
      this.staging?.destroy();
      if (this.mode === 'readback') {
        this.resolved = this.device.createTexture({ size: [w, h], format: this.format, usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC });
        this.staging = this.device.createBuffer({ size: bytesPerRow(w) * h, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
      }
    }
    const proj = mat4.perspectiveZO(mat4.create(), Math.PI / 4, w / h, 0.01 * this.distance, 100 * this.distance);
    const eye = vec3.fromValues(
      this.center[0] + this.distance * Math.cos(this.elevation) * Math.sin(this.azimuth),
      this.center[1] + this.distance * Math.sin(this.elevation),
      this.center[2] + this.distance * Math.cos(this.elevation) * Math.cos(this.azimuth),
    );
    const view = mat4.lookAt(mat4.create(), eye, this.center, [0, 1, 0]);
    const viewProj = mat4.multiply(mat4.create(), proj, view);
    this.device.queue.writeBuffer(this.uniform, 0, new Float32Array(viewProj));
    const enc = this.device.createCommandEncoder({ label: 'latent-view' });
    const pass = enc.beginRenderPass({
      colorAttachments: [
        {
          view: this.msaa.createView(),
          resolveTarget: (this.context ? this.context.getCurrentTexture() : this.resolved!).createView(),
          clearValue: { r: 0.98, g: 0.98, b: 0.97, a: 1 },
          loadOp: 'clear',
          storeOp: 'discard',
        },
      ],
    });
    if (this.vertices && this.vertexCount > 0) {
      pass.setPipeline(this.pipeline);
      pass.setBindGroup(0, this.bindGroup);
      pass.setVertexBuffer(0, this.vertices);
      pass.draw(this.vertexCount);
    }
    pass.end();
    if (this.mode === 'readback') enc.copyTextureToBuffer({ texture: this.resolved! }, { buffer: this.staging!, bytesPerRow: bytesPerRow(w) }, [w, h]);
    this.device.queue.submit([enc.finish()]);
    if (this.mode === 'readback') void this.showReadback(w, h);
    else this.countFrame();
  }

  private countFrame(): void {
    this.canvas.dataset.frames = String(Number(this.canvas.dataset.frames ?? 0) + 1);
  }

  /** Copy the mapped pixels (rows padded to 256 bytes) into the 2-D canvas. */
  private async showReadback(w: number, h: number): Promise<void> {
    const staging = this.staging!;
    this.readingBack = true;
    try {
      await staging.mapAsync(GPUMapMode.READ);
      const src = new Uint8Array(staging.getMappedRange());
      const image = new ImageData(w, h);
      const row = bytesPerRow(w);
      for (let y = 0; y < h; y++) image.data.set(src.subarray(y * row, y * row + 4 * w), 4 * w * y);
      staging.unmap();
      this.context2d?.putImageData(image, 0, 0);
      this.countFrame();
    } finally {
      this.readingBack = false;
    }
    if (this.redrawAfterReadback) {
      this.redrawAfterReadback = false;
      this.requestDraw();
    }
  }

  private attachMouse(): void {
    let last: { x: number; y: number } | null = null;
    this.canvas.addEventListener('pointerdown', (e) => {
      last = { x: e.clientX, y: e.clientY };
      this.canvas.setPointerCapture(e.pointerId);
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (!last) return;
      this.azimuth -= (e.clientX - last.x) * 0.01;
      this.elevation = Math.max(-1.5, Math.min(1.5, this.elevation + (e.clientY - last.y) * 0.01));
      last = { x: e.clientX, y: e.clientY };
      this.requestDraw();
    });
    const end = () => (last = null);
    this.canvas.addEventListener('pointerup', end);
    this.canvas.addEventListener('pointercancel', end);
    this.canvas.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        this.distance = Math.max(0.2 * this.extent, Math.min(50 * this.extent, this.distance * Math.exp(e.deltaY * 0.001)));
        this.requestDraw();
      },
      { passive: false },
    );
  }
}

function bytesPerRow(width: number): number {
  return Math.ceil((4 * width) / 256) * 256;
}

/**
 * Whether WebGPU canvases present here: clear a detached 1×1 canvas on a throwaway device and wait
 * for the queue (where presenting is broken the wait fails and the device is lost).
 */
async function canvasesPresent(): Promise<boolean> {
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return false;
    const device = await adapter.requestDevice({ label: 'latent-view-probe' });
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    const context = canvas.getContext('webgpu') as GPUCanvasContext;
    context.configure({ device, format: navigator.gpu.getPreferredCanvasFormat(), alphaMode: 'premultiplied' });
    const enc = device.createCommandEncoder();
    enc.beginRenderPass({ colorAttachments: [{ view: context.getCurrentTexture().createView(), loadOp: 'clear', storeOp: 'store' }] }).end();
    device.queue.submit([enc.finish()]);
    // Where presenting is broken the wait may also never end: give up after a few seconds.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const presented = await Promise.race([
      device.queue.onSubmittedWorkDone().then(() => true),
      new Promise<boolean>((ok) => (timer = setTimeout(() => ok(false), PROBE_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
    device.destroy();
    return presented;
  } catch {
    return false;
  }
}
