// Layers of src/ import only downwards and nothing imports in a cycle (.dependency-cruiser.cjs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const depcruise = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const config = join(root, '.dependency-cruiser.cjs');

function cruise(cwd: string, tsConfig: boolean): { status: number | null; out: string } {
  const args = [depcruise, 'src', '--config', config, '--output-type', 'err'];
  if (!tsConfig) args.push('--ts-config', join(cwd, 'tsconfig.json'));
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  // colours are forced on under CI: compare the plain text
  return { status: r.status, out: `${r.stdout}${r.stderr}`.replace(new RegExp(String.fromCharCode(27) + '\\[[0-9;]*m', 'g'), '') };
}

test('src/ follows the dependency rules', () => {
  const r = cruise(root, true);
  expect(r.out).toContain('no dependency violations found');
  expect(r.status).toBe(0);
}, 60_000);

test('the rules catch an upward import and a cycle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-deps-'));
  try {
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
    for (const d of ['gpu', 'cli', 'analysis']) mkdirSync(join(dir, 'src', d), { recursive: true });
    writeFileSync(join(dir, 'src', 'gpu', 'engine.ts'), "import { main } from '../cli/main.js';\nexport const engine = main;\n");
    writeFileSync(join(dir, 'src', 'cli', 'main.ts'), 'export const main = 1;\n');
    writeFileSync(join(dir, 'src', 'analysis', 'a.ts'), "import { b } from './b.js';\nexport const a = b;\n");
    writeFileSync(join(dir, 'src', 'analysis', 'b.ts'), "import { a } from './a.js';\nexport const b = () => a;\n");
    const r = cruise(dir, false);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/layer-gpu: src\/gpu\/engine\.ts → src\/cli\/main\.ts/);
    expect(r.out).toMatch(/no-circular: src\/analysis\/a\.ts/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
