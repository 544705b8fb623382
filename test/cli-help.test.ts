// `lowrank-smc --help` lists every command with its one-line summary (runs the built CLI).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('--help names each command with the summary its module exports', async () => {
  const out = execFileSync(process.execPath, [join(root, 'bin', 'lowrank-smc.js'), '--help'], { encoding: 'utf8' });
  const main = readFileSync(join(root, 'src', 'cli', 'main.ts'), 'utf8');
  const commands = [...main.matchAll(/^ {2}'?([\w-]+)'?: \(\) => import\('\.\/([\w-]+)\.js'\)/gm)].map((m) => ({ name: m[1], file: m[2] }));
  expect(commands.length).toBeGreaterThan(10);
  const lines = out.split('\n');
  for (const { name, file } of commands) {
    const { summary } = (await import(`../src/cli/${file}.ts`)) as { summary: string };
    expect(summary, `${file}.ts exports a summary`).toBeTruthy();
    const line = lines.find((l) => l.trimStart().startsWith(`${name} `));
    expect(line?.trim().replace(/\s+/, ' ')).toBe(`${name} ${summary}`);
  }
}, 30_000);

test('fit refuses a learning rate or clip norm that is not positive, naming the flag, before any GPU work', () => {
  const data = join(root, 'test', 'fixtures', 'npy', 'f4_c_2x3.npy');
  for (const [flag, value] of [
    ['--lr', '0'],
    ['--lr-end', '-1e-5'],
    ['--clip', '0'],
  ]) {
    let stderr = '';
    try {
      execFileSync(
        process.execPath,
        [join(root, 'bin', 'lowrank-smc.js'), 'fit', '--data', data, '--out', join(tmpdir(), 'never-written.json'), `${flag}=${value}`],
        { encoding: 'utf8', stdio: 'pipe' },
      );
    } catch (e) {
      stderr = String((e as { stderr: string }).stderr);
    }
    expect(stderr).toContain(`${flag} must be > 0, got ${Number(value)}`);
  }
}, 30_000);
