// CLI commands keep Dawn's "maxDynamic… artificially reduced" adapter warnings off stderr and pass
// everything else through (runs the built CLI and library on the default adapter). The children's
// stderr goes through a shell pipe: the filter cannot reopen a socket, which is what Node's own
// stdio pipes are, so there the warnings still appear.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WARNING = /artificially reduced/;
const node = (args: string[]) => spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
/** Runs node with `args`, its stderr through a pipe (bash process substitution) into ours. */
const nodeStderrPiped = (args: string[]) =>
  spawnSync('bash', ['-c', '"$@" 2> >(cat >&2); s=$?; wait $!; exit $s', 'bash', process.execPath, ...args], { cwd: root, encoding: 'utf8' });

test('lowrank-smc info prints no Dawn limit warning on stderr', () => {
  // Without the filter, the same adapter request prints them (lavapipe reports 10⁶ dynamic buffers);
  // on an adapter that does not, the CLI check below cannot fail and says so.
  const plain = node(['--input-type=module', '-e', "const { create } = await import('webgpu'); await create([]).requestAdapter(); process.exit(0);"]);
  const dawnWarns = WARNING.test(plain.stderr);
  if (!dawnWarns) console.warn('this adapter makes Dawn print no limit warning: the check below cannot fail here');
  const r = nodeStderrPiped([join(root, 'bin', 'lowrank-smc.js'), 'info']);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^adapter /m);
  expect(r.stderr).not.toMatch(WARNING);
});

test('the filter drops only the limit warnings and restores stderr', () => {
  const acquire = pathToFileURL(join(root, 'dist', 'src', 'gpu', 'acquire.js')).href;
  const script = `
    import { writeSync } from 'node:fs';
    const { withoutDawnLimitWarnings } = await import(${JSON.stringify(acquire)});
    const v = await withoutDawnLimitWarnings(async () => {
      writeSync(2, 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\\n');
      writeSync(2, 'Warning: something else\\n');
      writeSync(2, 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\\n');
      return 42;
    });
    writeSync(2, 'after ' + v + '\\n');`;
  const r = nodeStderrPiped(['--input-type=module', '-e', script]);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toBe('Warning: something else\nafter 42\n');
});
