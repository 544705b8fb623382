// Runs the vitest suite and ends with one plain line, `N passed, N failed[, N skipped]`, computed from
// vitest's JSON report (CI reads that line, not vitest's own summary). Extra arguments go to vitest,
// e.g. `node scripts/run-tests.mjs test/gpu.test.ts -t copy`. Exits non-zero if any test or file
// failed, or vitest itself did.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vitestBin = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const reportPath = join(root, 'test-results', 'vitest.json');

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

const passed = report.numPassedTests;
const skipped = report.numPendingTests + report.numTodoTests;
let failed = report.numFailedTests;
// A file that failed without a failing test (import error, failing hook) counts as one failure.
const brokenFiles = report.testResults.filter((f) => f.status === 'failed' && !f.assertionResults.some((t) => t.status === 'failed'));
for (const f of brokenFiles) console.error(`run-tests: ${relative(root, f.name)} failed outside its tests: ${f.message || '(no message)'}`);
failed += brokenFiles.length;
if (exitCode !== 0 && failed === 0) {
  console.error(`run-tests: vitest exited with code ${exitCode} though no test failed (unhandled error or bad arguments); counted as one failure`);
  failed = 1;
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || exitCode !== 0 ? 1 : 0);
