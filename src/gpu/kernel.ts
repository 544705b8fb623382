/**
 * A compiled compute kernel: pipeline, bind-group layout and uniform layout, all derived from
 * reflection of the WGSL (wgsl_reflect), so no binding table is written twice.
 */
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { ShaderCompileError } from './errors.js';

export type BindingKind = 'uniform' | 'read-only-storage' | 'storage';

export interface UniformField {
  name: string;
  offset: number;
  /** Scalar element type and component count (1 for scalars, 2–4 for vectors). */
  scalar: 'f32' | 'u32' | 'i32';
  components: number;
}

export interface BindingInfo {
  name: string;
  binding: number;
  kind: BindingKind;
  /** For uniforms: byte size and fields. */
  uniformSize?: number;
  fields?: UniformField[];
}

export interface KernelReflection {
  bindings: BindingInfo[];
  workgroupSize: [number, number, number];
}

export type UniformValues = Record<string, number | number[]>;

/** Reflect the bindings of group 0 that `entry` uses and its workgroup size. */
export function reflectKernel(label: string, code: string, entry: string, overrides: Record<string, number>): KernelReflection {
  let reflect: WgslReflect;
  try {
    // wgsl_reflect does not parse `enable`/`requires` directives; they carry no binding information.
    reflect = new WgslReflect(code.replace(/^\s*(enable|requires)\s+[^;]*;/gm, ''));
  } catch (e) {
    throw new ShaderCompileError(label, `WGSL parse error: ${(e as Error).message}`);
  }
  const ep = reflect.entry.compute.find((c) => c.name === entry);
  if (!ep) {
    throw new ShaderCompileError(label, `no @compute entry point "${entry}" (found: ${reflect.entry.compute.map((c) => c.name).join(', ') || 'none'})`);
  }
  const used = new Set(ep.resources.map((r) => r.name));
  const bindings: BindingInfo[] = [];
  // All resource declarations (getBindGroups() keys by slot, so two declarations sharing a slot would
  // silently hide one another); keep those the entry point uses.
  const declared = [...reflect.uniforms, ...reflect.storage];
  const slots = new Map<number, string>();
  for (const v of declared) {
    if (!used.has(v.name)) continue;
    const other = slots.get(v.binding);
    if (other !== undefined && other !== v.name) {
      throw new ShaderCompileError(label, `bindings "${other}" and "${v.name}" both use @binding(${v.binding})`);
    }
    slots.set(v.binding, v.name);
  }
  for (const group of [declared]) {
    for (const v of group) {
      if (!v || !used.has(v.name)) continue;
      if (v.group !== 0) throw new ShaderCompileError(label, `binding "${v.name}" is in group ${v.group}; kernels use group 0 only`);
      if (v.resourceType === 0) {
        const fields: UniformField[] = [];
        const members = (v.type as { members?: { name: string; offset: number; type: { name: string; format?: { name: string } } }[] }).members;
        if (!members) throw new ShaderCompileError(label, `uniform "${v.name}" must be a struct`);
        for (const m of members) {
          const t = m.type.name;
          if (t === 'f32' || t === 'u32' || t === 'i32') fields.push({ name: m.name, offset: m.offset, scalar: t, components: 1 });
          else if (/^vec[234]/.test(t)) {
            const comps = Number(t[3]);
            const f = (m.type.format?.name ?? t.slice(5, 8)) as 'f32' | 'u32' | 'i32';
            fields.push({ name: m.name, offset: m.offset, scalar: f, components: comps });
          } else throw new ShaderCompileError(label, `uniform field "${v.name}.${m.name}" has unsupported type ${t}`);
        }
        bindings.push({ name: v.name, binding: v.binding, kind: 'uniform', uniformSize: v.type.size, fields });
      } else if (v.resourceType === 1) {
        bindings.push({ name: v.name, binding: v.binding, kind: v.access === 'read_write' ? 'storage' : 'read-only-storage' });
      } else {
        throw new ShaderCompileError(label, `binding "${v.name}" has a resource type kernels do not use`);
      }
    }
  }
  bindings.sort((a, b) => a.binding - b.binding);
  // Workgroup sizes given by override constants (`@workgroup_size(WG)`) are resolved here.
  const wgAttr = /@workgroup_size\(([^)]*)\)\s*fn\s+(\w+)/g;
  let wg: [number, number, number] = [ep.workgroupSize?.[0] ?? 1, ep.workgroupSize?.[1] ?? 1, ep.workgroupSize?.[2] ?? 1];
  for (const m of code.matchAll(wgAttr)) {
    if (m[2] !== entry) continue;
    const parts = m[1]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const dims = parts.map((p, i) => {
      if (/^\d+u?$/.test(p)) return parseInt(p, 10);
      if (p in overrides) return overrides[p];
      const decl = new RegExp(`override\\s+${p}\\s*:\\s*\\w+\\s*=\\s*(\\d+)`).exec(code);
      if (decl) return parseInt(decl[1], 10);
      return wg[i];
    });
    wg = [dims[0] ?? 1, dims[1] ?? 1, dims[2] ?? 1];
  }
  return { bindings, workgroupSize: wg };
}

/** Pack uniform values into bytes using the reflected offsets; every field must be given, no extras. */
export function packUniform(label: string, info: BindingInfo, values: UniformValues): ArrayBuffer {
  const size = Math.max(16, Math.ceil((info.uniformSize ?? 0) / 16) * 16);
  const buf = new ArrayBuffer(size);
  const view = new DataView(buf);
  const fields = info.fields ?? [];
  for (const key of Object.keys(values)) {
    if (!fields.some((f) => f.name === key)) {
      throw new Error(`kernel "${label}": uniform "${info.name}" has no field "${key}" (fields: ${fields.map((f) => f.name).join(', ')})`);
    }
  }
  for (const f of fields) {
    const v = values[f.name];
    if (v === undefined) throw new Error(`kernel "${label}": uniform field "${info.name}.${f.name}" not given`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length !== f.components) {
      throw new Error(`kernel "${label}": uniform field "${info.name}.${f.name}" expects ${f.components} components, got ${arr.length}`);
    }
    for (let c = 0; c < f.components; c++) {
      const off = f.offset + 4 * c;
      const x = arr[c];
      if (f.scalar === 'f32') view.setFloat32(off, x, true);
      else if (f.scalar === 'u32') {
        if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new Error(`kernel "${label}": uniform field "${f.name}" = ${x} is not a u32`);
        view.setUint32(off, x, true);
      } else {
        if (!Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff) throw new Error(`kernel "${label}": uniform field "${f.name}" = ${x} is not an i32`);
        view.setInt32(off, x, true);
      }
    }
  }
  return buf;
}

export class Kernel {
  constructor(
    readonly label: string,
    readonly pipeline: GPUComputePipeline,
    readonly layout: GPUBindGroupLayout,
    readonly reflection: KernelReflection,
  ) {}

  get workgroupSize(): [number, number, number] {
    return this.reflection.workgroupSize;
  }

  /** Invocations per workgroup. */
  get invocations(): number {
    const [x, y, z] = this.reflection.workgroupSize;
    return x * y * z;
  }
}
