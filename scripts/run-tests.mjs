// Runs the vitest suite and ends with one plain line, `N passed, N failed[, N skipped]`, computed from
// vitest's JSON report (CI reads that line, not vitest's own summary). Extra arguments go to vitest,
// e.g. `node scripts/run-tests.mjs test/gpu.test.ts -t copy`. Exits non-zero if any test or file
// failed, or vitest itself did.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from './test-summary.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vitestBin = join(root, 'node_modules', 'vitest', 'vitest.mjs');
// Overridable so that a test of this script does not overwrite the report of the run around it.
const reportPath = resolve(process.env.LOWRANK_SMC_TEST_REPORT ?? join(root, 'test-results', 'vitest.json'));

if (!existsSync(vitestBin)) {
  console.error(`run-tests: ${relative(root, vitestBin)} not found; run \`npm ci\` (or \`npm run setup\`) first`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
mkdirSync(dirname(reportPath), { recursive: true });
rmSync(reportPath, { force: true }); // never read a stale report from an earlier run

const args = [vitestBin, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportPath}`, ...process.argv.slice(2)];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
const exitCode = await new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));

let report;
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8'));
} catch (e) {
  console.error(`run-tests: vitest exited with code ${exitCode} and wrote no readable JSON report (${relative(root, reportPath)}): ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exit(exitCode || 1);
}

for (const f of report.testResults) f.name = relative(root, f.name);
const summary = summarize(report, exitCode);
for (const note of summary.notes) console.error(`run-tests: ${note}`);
console.log(summary.line);
process.exit(summary.failed > 0 || exitCode !== 0 ? 1 : 0);
