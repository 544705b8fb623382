/**
 * CLI entry: `lowrank-smc <command> [options]`. Each command lives in its own module under src/cli/
 * and exports `run(argv: string[]): Promise<number>` (the exit code) plus a one-line `summary`.
 * Commands are thin: parse arguments, call the library, print or write.
 */
import { hideDawnLimitWarnings } from '../gpu/acquire.js';

type CommandModule = { run(argv: string[]): Promise<number>; summary: string };

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  info: () => import('./info.js'),
  bin: () => import('./bin.js'),
  fit: () => import('./fit.js'),
  filter: () => import('./filter.js'),
  generate: () => import('./generate.js'),
  eval: () => import('./eval.js'),
  deconvolve: () => import('./deconvolve.js'),
  bench: () => import('./bench.js'),
  svcca: () => import('./svcca.js'),
  'simulate-motor': () => import('./simulate-motor.js'),
  'fit-sparse': () => import('./fit-sparse.js'),
  'eval-sparse': () => import('./eval-sparse.js'),
  'eval-spikes': () => import('./eval-spikes.js'),
  plot: () => import('./plot.js'),
  'fixed-points': () => import('./fixed-points.js'),
  simulate: () => import('./simulate.js'),
  sweep: () => import('./sweep.js'),
  worker: () => import('./worker.js'),
};

/** The usage text with each command's one-line summary (loads the command modules, no GPU). */
async function usage(): Promise<string> {
  const names = Object.keys(COMMANDS);
  const summaries = await Promise.all(names.map(async (c) => (await COMMANDS[c]()).summary));
  const width = Math.max(...names.map((c) => c.length));
  return [
    "usage: lowrank-smc <command> [options]   (lowrank-smc <command> --help for a command's options)",
    '',
    'commands:',
    ...names.map((c, i) => `  ${c.padEnd(width)}  ${summaries[i]}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  hideDawnLimitWarnings();
  let code = 0;
  if (!name || name === '--help' || name === '-h') {
    console.log(await usage());
  } else if (!(name in COMMANDS)) {
    console.error(`lowrank-smc: unknown command "${name}"\n\n${await usage()}`);
    code = 2;
  } else {
    try {
      const mod = await COMMANDS[name]();
      code = await mod.run(rest);
    } catch (e) {
      console.error(`lowrank-smc ${name}: ${(e as Error).message}`);
      if (process.env.LOWRANK_SMC_DEBUG) console.error((e as Error).stack);
      code = 1;
    }
  }
  // Dawn keeps native handles alive; one-shot CLIs exit explicitly.
  process.exit(code);
}
