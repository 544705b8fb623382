// The integers kernels and host code share come from src/gpu/shared-constants.ts only: the generated
// shader declares each of them with its value, and no shader states one of them itself.
import { expect, test } from 'vitest';
import * as shared from '../src/gpu/shared-constants.js';
import { SHADER_SOURCES } from '../src/gpu/shaders.generated.js';

test('the generated shader declares every shared constant with its value (run `npm run gen` after editing them)', () => {
  const src = SHADER_SOURCES.shared_constants;
  expect(src).toBeDefined();
  const declared = new Map([...src.matchAll(/^const (\w+): u32 = (\d+)u;$/gm)].map((m) => [m[1], Number(m[2])]));
  expect(Object.fromEntries(declared)).toEqual({ ...shared });
});

test('no shader redeclares a shared constant', () => {
  for (const [name, src] of Object.entries(SHADER_SOURCES)) {
    if (name === 'shared_constants') continue;
    for (const k of Object.keys(shared)) {
      expect(new RegExp(`\\b(const|override)\\s+${k}\\b`).test(src), `${name}.wgsl declares ${k}`).toBe(false);
    }
  }
});
