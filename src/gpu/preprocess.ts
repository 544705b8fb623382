/**
 * A tiny WGSL preprocessor. WGSL has no includes and no conditional compilation, but kernels share
 * helpers (the RNG, nonlinearities) and must compile both with and without optional features
 * (`subgroups`, `shader-f16`): code that calls `subgroupAdd` fails to compile on an adapter without
 * subgroups even inside a branch that is never taken, so the choice has to be made on the text.
 *
 * Directives (each alone on its line):
 *   #include "name"      inline shaders/name.wgsl (once per shader)
 *   #if FLAG / #if !FLAG / #else / #endif    keep lines when the define FLAG is truthy (or falsy)
 *   #const NAME          emit `const NAME: u32 = <defines[NAME]>u;` (sizes of private arrays must be
 *                        const-expressions, so overrides cannot size them)
 *   #unroll VAR COUNT / #endunroll   repeat the lines between COUNT times (a define or an integer),
 *                        the word VAR replaced by 0u, 1u, …: WGSL cannot ask for unrolling, and software
 *                        adapters turn dynamically indexed private arrays into slow per-lane memory
 *                        accesses, while constant indices keep them in registers
 * Feature flags set by the engine: SUBGROUPS, F16.
 */
import { SHADER_SOURCES } from './shaders.generated.js';

export type Defines = Record<string, boolean | number | undefined>;

export function shaderSource(name: string, sources: Record<string, string> = SHADER_SOURCES): string {
  const src = sources[name];
  if (src === undefined) {
    const known = Object.keys(sources).sort().join(', ');
    throw new Error(`unknown shader "${name}" (known: ${known})`);
  }
  return src;
}

export function preprocess(source: string, defines: Defines = {}, sources: Record<string, string> = SHADER_SOURCES, included: Set<string> = new Set()): string {
  const out: string[] = [];
  // Stack of "is this block active" flags; a line is kept when every enclosing block is active.
  const stack: { active: boolean; parentActive: boolean }[] = [];
  const active = () => (stack.length === 0 ? true : stack[stack.length - 1].active);
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const t = line.trim();
    if (t.startsWith('#if ')) {
      const expr = t.slice(4).trim();
      const neg = expr.startsWith('!');
      const name = neg ? expr.slice(1).trim() : expr;
      const value = Boolean(defines[name]);
      const parentActive = active();
      stack.push({ active: parentActive && (neg ? !value : value), parentActive });
      out.push('');
    } else if (t === '#else') {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`WGSL preprocessor: #else without #if at line ${i + 1}`);
      top.active = top.parentActive && !top.active;
      out.push('');
    } else if (t === '#endif') {
      if (!stack.pop()) throw new Error(`WGSL preprocessor: #endif without #if at line ${i + 1}`);
      out.push('');
    } else if (t.startsWith('#const ')) {
      if (!active()) continue;
      const name = t.slice(7).trim();
      const v = defines[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
        throw new Error(`WGSL preprocessor: #const ${name} needs a non-negative integer define, got ${v}`);
      out.push(`const ${name}: u32 = ${v}u;`);
    } else if (t.startsWith('#unroll ')) {
      // the body up to the matching #endunroll (nested unrolls are expanded by the recursive call)
      let depth = 1;
      let j = i + 1;
      for (; j < lines.length; j++) {
        const u = lines[j].trim();
        if (u.startsWith('#unroll ')) depth++;
        else if (u === '#endunroll' && --depth === 0) break;
      }
      if (depth !== 0) throw new Error(`WGSL preprocessor: #unroll at line ${i + 1} has no #endunroll`);
      const body = lines.slice(i + 1, j).join('\n');
      const at = i + 1;
      i = j;
      if (!active()) continue;
      const m = /^#unroll\s+([A-Za-z_]\w*)\s+(\w+)$/.exec(t);
      if (!m) throw new Error(`WGSL preprocessor: malformed #unroll at line ${at}: ${t} (expected "#unroll VAR COUNT")`);
      const count = /^\d+$/.test(m[2]) ? Number(m[2]) : defines[m[2]];
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
        throw new Error(`WGSL preprocessor: #unroll count ${m[2]} needs a non-negative integer, got ${count}`);
      const word = new RegExp(`\\b${m[1]}\\b`, 'g');
      for (let k = 0; k < count; k++) out.push(preprocess(body.replace(word, `${k}u`), defines, sources, included));
    } else if (t === '#endunroll') {
      throw new Error(`WGSL preprocessor: #endunroll without #unroll at line ${i + 1}`);
    } else if (t.startsWith('#include')) {
      if (!active()) continue;
      const m = /^#include\s+"([\w.-]+)"$/.exec(t);
      if (!m) throw new Error(`WGSL preprocessor: malformed include at line ${i + 1}: ${t}`);
      if (included.has(m[1])) continue;
      included.add(m[1]);
      out.push(preprocess(shaderSource(m[1], sources), defines, sources, included));
    } else {
      out.push(active() ? line : '');
    }
  }
  if (stack.length) throw new Error('WGSL preprocessor: unterminated #if');
  return out.join('\n');
}
