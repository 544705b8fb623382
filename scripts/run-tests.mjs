// Runs the vitest suite and ends with one plain line, `N passed, N failed[, N skipped]`, computed from
// vitest's JSON report (CI reads that line, not vitest's own summary). Extra arguments go to vitest,
// e.g. `node scripts/run-tests.mjs test/gpu.test.ts -t copy`. Exits non-zero if any test or file
// failed, or vitest itself did.
//
// The whole suite (no arguments) runs as two vitest processes at once, each taking its files one at a
// time: the Node GPU cases (test/gpu.test.ts) with most other files, and the real-browser GPU cases
// (test/browser/browser.test.ts, Chromium on SwiftShader) with the few files in SECOND, chosen so that
// the two take about equally long on CI. Neither fills two cores: Chromium runs SwiftShader on its GPU
// process's main thread (~90 % of the browser run's CPU time), and the Node run spends most of its time
// on its main thread (lavapipe compiles each kernel on the calling thread; float64 references are
// single-threaded JavaScript; 2–3 trials are 2–3 workgroups), so on a 2-core runner the pair takes a
// little longer than the longer one instead of their sum. The second run's output is printed when it ends;
// LOWRANK_SMC_TEST_SERIAL=1 runs everything in one process.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeReports, summarize } from './test-summary.mjs';

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

/**
 * The files of the second process. CI seconds (cold shader caches): browser cases 771, sweep-fits 66, web app 35
 * (~905 with vitest's start); the first process: Node GPU cases ~790, the other files ~65 (~890).
 */
const SECOND = ['test/browser/browser.test.ts', 'test/sweep-fits.test.ts', 'test/web/app.test.ts'];
const passThrough = process.argv.slice(2);
const split = passThrough.length === 0 && !process.env.LOWRANK_SMC_TEST_SERIAL;
const children = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => children.forEach((c) => c.kill(sig)));

/** One vitest run writing its JSON report to `report`; `capture`: keep its output to print later. */
function vitest(extra, report, capture) {
  const args = [vitestBin, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extra];
  const child = spawn(process.execPath, args, { cwd: root, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
  children.add(child);
  const output = [];
  if (capture) for (const s of [child.stdout, child.stderr]) s.on('data', (d) => output.push(d));
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code: code ?? (signal ? 128 : 1), output: Buffer.concat(output) });
    }),
  );
}

function readReport(path, exitCode) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    console.error(`run-tests: vitest exited with code ${exitCode} and wrote no readable JSON report (${relative(root, path)}): ${e.message}`);
    console.log('0 passed, 1 failed');
    process.exit(exitCode || 1);
  }
}

let exitCode;
let report;
if (!split) {
  exitCode = (await vitest(passThrough, reportPath, false)).code;
  report = readReport(reportPath, exitCode);
} else {
  const secondReport = reportPath.replace(/(\.json)?$/, '.second.json');
  rmSync(secondReport, { force: true });
  console.error(`run-tests: ${SECOND.join(', ')} run alongside the other files; their output follows`);
  const [first, second] = await Promise.all([
    vitest(
      SECOND.flatMap((f) => ['--exclude', f]),
      reportPath,
      false,
    ),
    vitest(SECOND, secondReport, true),
  ]);
  process.stdout.write(second.output);
  exitCode = Math.max(first.code, second.code);
  report = mergeReports([readReport(reportPath, first.code), readReport(secondReport, second.code)]);
  writeFileSync(reportPath, JSON.stringify(report));
}

for (const f of report.testResults) f.name = relative(root, f.name);
const summary = summarize(report, exitCode);
for (const note of summary.notes) console.error(`run-tests: ${note}`);
console.log(summary.line);
process.exit(summary.failed > 0 || exitCode !== 0 ? 1 : 0);
