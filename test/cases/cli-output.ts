/** Run a CLI entry point with console.log captured: the lines it printed (throws if it exits non-zero). */
export async function printedBy(run: () => Promise<number>): Promise<string[]> {
  const printed: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void printed.push(a.join(' '));
  try {
    const code = await run();
    if (code !== 0) throw new Error(`command exited with ${code}`);
  } finally {
    console.log = log;
  }
  return printed;
}
