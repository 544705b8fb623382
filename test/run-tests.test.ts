// The CI summary line printed by scripts/run-tests.mjs (`npm test`): run against a fixture suite with
// known outcomes, and the counting rules on hand-made reports.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
// @ts-expect-error plain JavaScript module without type declarations
import { mergeReports, summarize } from '../scripts/test-summary.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('npm test runner ends with the pass/fail/skip counts of a real vitest run and exits 1 on failure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-run-tests-'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'run-tests.mjs'), '--root', 'test/fixtures/run-tests'], {
      encoding: 'utf8',
      env: { ...process.env, LOWRANK_SMC_TEST_REPORT: join(dir, 'report.json'), FORCE_COLOR: '0' },
    });
    const lines = r.stdout.trimEnd().split('\n');
    // 2 passing tests; 1 failing test plus 1 file that fails to load; 1 skipped plus 1 todo.
    expect(lines.at(-1)).toBe('2 passed, 2 failed, 2 skipped');
    expect(r.stderr).toContain('broken.fixture.ts failed outside its tests: fixture module fails to load');
    expect(r.status).toBe(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

const file = (name: string, status: string, tests: string[]) => ({ name, status, message: '', assertionResults: tests.map((s) => ({ status: s })) });

test('summary counts: all passing omits skipped; a vitest failure without failed tests counts as one', () => {
  const ok = { numPassedTests: 3, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, testResults: [file('a', 'passed', ['passed', 'passed', 'passed'])] };
  expect(summarize(ok, 0).line).toBe('3 passed, 0 failed');
  const crashed = summarize(ok, 1);
  expect(crashed.line).toBe('3 passed, 1 failed');
  expect(crashed.notes[0]).toContain('exited with code 1');
  const mixed = {
    numPassedTests: 1,
    numFailedTests: 1,
    numPendingTests: 2,
    numTodoTests: 0,
    testResults: [file('a', 'failed', ['passed', 'failed']), file('b', 'failed', ['skipped', 'skipped'])],
  };
  // File b failed in a hook with its tests skipped: one extra failure, not two.
  expect(summarize(mixed, 1).line).toBe('1 passed, 2 failed, 2 skipped');
});

test('reports of the two processes of a whole-suite run merge into one: files joined, counts summed', () => {
  const node = {
    numPassedTests: 2,
    numFailedTests: 0,
    numPendingTests: 1,
    numTodoTests: 0,
    numTotalTests: 3,
    success: true,
    startTime: 20,
    testResults: [file('a', 'passed', ['passed', 'passed', 'skipped'])],
  };
  const browser = {
    numPassedTests: 1,
    numFailedTests: 1,
    numPendingTests: 0,
    numTodoTests: 1,
    numTotalTests: 3,
    success: false,
    startTime: 10,
    testResults: [file('b', 'failed', ['passed', 'failed', 'todo'])],
  };
  const merged = mergeReports([node, browser]);
  expect(merged.testResults.map((f: { name: string }) => f.name)).toEqual(['a', 'b']);
  expect([merged.numTotalTests, merged.success, merged.startTime]).toEqual([6, false, 10]);
  expect(summarize(merged, 1).line).toBe('3 passed, 1 failed, 2 skipped');
});
