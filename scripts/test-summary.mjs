// The CI summary line from a vitest JSON report (used by scripts/run-tests.mjs).

/**
 * @param {{numPassedTests: number, numFailedTests: number, numPendingTests: number, numTodoTests: number,
 *   testResults: {name: string, status: string, message?: string, assertionResults: {status: string}[]}[]}} report
 * @param {number} exitCode vitest's exit code
 * @returns {{passed: number, failed: number, skipped: number, line: string, notes: string[]}}
 */
export function summarize(report, exitCode) {
  const notes = [];
  const passed = report.numPassedTests;
  const skipped = report.numPendingTests + report.numTodoTests;
  let failed = report.numFailedTests;
  // A file that failed without a failing test (import error, failing hook) counts as one failure.
  for (const f of report.testResults) {
    if (f.status === 'failed' && !f.assertionResults.some((t) => t.status === 'failed')) {
      notes.push(`${f.name} failed outside its tests: ${f.message || '(no message)'}`);
      failed++;
    }
  }
  if (exitCode !== 0 && failed === 0) {
    notes.push(`vitest exited with code ${exitCode} though no test failed (unhandled error or bad arguments); counted as one failure`);
    failed = 1;
  }
  const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
  return { passed, failed, skipped, line, notes };
}

/**
 * One report from the reports of vitest runs over disjoint sets of files (run-tests.mjs runs the
 * browser suite in a process of its own): their files, counts summed.
 * @param {Record<string, unknown> & {testResults: unknown[]}[]} reports
 */
export function mergeReports(reports) {
  const counts = [
    'numTotalTestSuites',
    'numPassedTestSuites',
    'numFailedTestSuites',
    'numPendingTestSuites',
    'numTotalTests',
    'numPassedTests',
    'numFailedTests',
    'numPendingTests',
    'numTodoTests',
  ];
  const merged = { ...reports[0], testResults: reports.flatMap((r) => r.testResults), success: reports.every((r) => r.success) };
  for (const k of counts) merged[k] = reports.reduce((s, r) => s + (Number(r[k]) || 0), 0);
  merged.startTime = Math.min(...reports.map((r) => Number(r.startTime) || Infinity));
  return merged;
}
