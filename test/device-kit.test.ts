// The kit for a lent GPU machine (scripts/device-kit.mjs) and its runner (bench/device-run.sh): in a copy
// of the working tree as the device tool sends it (tracked and untracked-not-ignored files, no node_modules,
// no dist/, no ../shared), the runner unpacks the kit and the check's adapter step and a slice of the GPU
// cases run on the kit's Node, packages and data alone. Uncompressed kit (--level 0), no Vulkan packages.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let dir: string;
let repo: string;

/** Environment of a process on the device: no variables of the vitest run around this one. */
const deviceEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TEST'));
  return { ...env, FORCE_COLOR: '0', ...extra };
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-devkit-'));
  repo = join(dir, 'repo');
  const files = spawnSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' });
  expect(files.status, files.stderr).toBe(0);
  for (const f of files.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(root, f))) continue; // deleted in the working tree, not yet committed
    mkdirSync(dirname(join(repo, f)), { recursive: true });
    cpSync(join(root, f), join(repo, f));
  }
  const kit = spawnSync(
    process.execPath,
    [join(root, 'scripts', 'device-kit.mjs'), '--no-build', '--no-debs', '--level', '0', '--out', join(repo, '.devkit')],
    {
      encoding: 'utf8',
    },
  );
  expect(kit.status, kit.stderr).toBe(0);
}, 120_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the copy has no packages, no build and no shared data of its own; without a kit the runner refuses', () => {
  for (let d = repo; d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, 'node_modules')), d).toBe(false);
  expect(existsSync(join(repo, 'dist'))).toBe(false);
  expect(existsSync(join(dir, 'shared'))).toBe(false);
  const r = spawnSync('bash', [join(repo, 'bench', 'device-run.sh'), '--dry-run'], { encoding: 'utf8', env: deviceEnv({ DEVICE_KIT: 'no-such-kit' }) });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('node scripts/device-kit.mjs');
});

test("the runner unpacks the kit and the check's adapter step runs on the kit's Node and packages", () => {
  const out = join(dir, 'out');
  const r = spawnSync('bash', [join(repo, 'bench', 'device-run.sh'), '--dry-run'], { encoding: 'utf8', env: deviceEnv({ OUT: out }) });
  expect(r.status, r.stderr).toBe(0);
  // the adapter line (ok, on the kit's Dawn), then one dry-run line per later step
  const [adapter, ...later] = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(adapter).toMatchObject({ step: 'adapter', ok: true });
  expect(typeof adapter.info.backend).toBe('string');
  expect(later.length).toBeGreaterThan(0);
  for (const l of later) expect(l.dry_run).toBe(true);
  expect(readFileSync(join(out, 'gpu-check.jsonl'), 'utf8')).toBe(r.stdout);
  expect(readFileSync(join(out, 'gpu-check.log'), 'utf8')).toContain(`node ${join(repo, '.devkit-bin', 'node')} ${process.version}`);
  // the data the GPU cases read beside the repository
  expect(readFileSync(join(dir, 'shared', 'data', 'teacher_reach_rank2.json'), 'utf8')).toBe(
    readFileSync(join(root, '..', 'shared', 'data', 'teacher_reach_rank2.json'), 'utf8'),
  );
}, 60_000);

test("GPU cases run under the test runner from the kit's packages", () => {
  // after the previous test unpacked the kit into the copy
  const node = join(repo, '.devkit-bin', 'node');
  expect(existsSync(node)).toBe(true);
  const r = spawnSync(node, ['scripts/run-tests.mjs', 'test/gpu.test.ts', '-t', '^rng '], {
    cwd: repo,
    encoding: 'utf8',
    env: deviceEnv({ PATH: `${dirname(node)}:${process.env.PATH}`, LOWRANK_SMC_TEST_REPORT: join(dir, 'report.json') }),
  });
  const last = r.stdout.trimEnd().split('\n').at(-1) ?? '';
  expect(last, r.stdout + r.stderr).toMatch(/^[1-9]\d* passed, 0 failed/);
  expect(r.status).toBe(0);
}, 120_000);
