// bench/gpu-check.sh (the prepared check for a GPU machine): its dry run prints one JSON line per step
// naming commands that exist, and on a software adapter the real run refuses before any long step.
// Runs the built CLI (dist/) for the adapter check.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = (args: string[], env: Record<string, string> = {}) =>
  spawnSync('bash', [join(root, 'bench', 'gpu-check.sh'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });

test('dry run: the adapter line, then each step with its time limit and a command that exists', () => {
  const r = check(['--dry-run']);
  expect(r.status, r.stderr).toBe(0);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(lines.map((l) => l.step)).toEqual(['adapter', 'bench-forward', 'tests', 'bench-configs']);
  expect(lines[0].ok).toBe(true);
  expect(typeof lines[0].info.software).toBe('boolean');
  let total = 0;
  for (const l of lines.slice(1)) {
    expect(l.dry_run).toBe(true);
    total += l.limit_s;
    // every path the command names is in the repository
    for (const p of (l.command as string).split(' ').filter((w: string) => /\.(mjs|js|ts)$/.test(w))) expect(existsSync(join(root, p)), p).toBe(true);
  }
  expect(total).toBeLessThan(8 * 60);
}, 60_000);

test('a real run refuses a software adapter unless told, and unknown arguments', () => {
  expect(check(['--fast']).status).toBe(2);
  const probe = JSON.parse(check(['--dry-run']).stdout.split('\n')[0]);
  if (!probe.info.software) return; // a GPU machine: the real run is the check itself
  const r = check([], { GPU_CHECK_ALLOW_SOFTWARE: '0' });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/software one; set GPU_CHECK_ALLOW_SOFTWARE=1/);
  expect(r.stdout.trim().split('\n')).toHaveLength(1); // the adapter line only
}, 60_000);
