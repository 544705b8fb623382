/**
 * `lowrank-smc bench <sub-command>`: benchmarks printing JSON lines (--json) or a readable table.
 * Each sub-command is a small module loaded lazily from SUBCOMMANDS; it exports `summary`,
 * optionally `options` (extra parseArgs options) and `usage`, and `runBench(engine, ctx)` yielding
 * one object per result line (or `{note}` lines). The CLI adds `adapter` to every result line.
 */
import { parseArgs } from 'node:util';
import { createEngine, type Engine } from '../gpu/engine.js';
import type { Backend } from '../gpu/acquire.js';
import type { BenchContext, BenchLine, BenchSubcommand } from '../../bench/context.js';

/** Sub-command → lazy import. Add one line per benchmark family. */
export const SUBCOMMANDS: Record<string, () => Promise<BenchSubcommand>> = {
  kernels: () => import('./bench-kernels.js'),
  smc: () => import('../../bench/smc.js'),
  'fixed-points': () => import('../../bench/fixed-points.js'),
  'sparse-rls': () => import('../../bench/sparse-rls.js'),
  'web-fit': () => import('../../bench/web-fit.js'),
};

export const summary = 'benchmarks (JSON lines with --json): ' + Object.keys(SUBCOMMANDS).join(', ');

const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  backend: { type: 'string', default: 'auto' },
  runs: { type: 'string', default: '7' },
  warmup: { type: 'string', default: '2' },
  help: { type: 'boolean' },
} as const;

function usage(): string {
  return [
    'usage: lowrank-smc bench <' + Object.keys(SUBCOMMANDS).join('|') + '> [--json] [--backend auto|vulkan|opengles] [--runs N] [--warmup N]',
    '',
    'Prints one line per measurement; with --json, JSON lines including the adapter they ran on.',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    console.log(usage());
    for (const [name, load] of Object.entries(SUBCOMMANDS)) console.log(`  ${name.padEnd(14)} ${(await load()).summary}`);
    return 0;
  }
  if (!(sub in SUBCOMMANDS)) {
    console.error(`lowrank-smc bench: unknown benchmark "${sub}" (available: ${Object.keys(SUBCOMMANDS).join(', ')})`);
    return 2;
  }
  const mod = await SUBCOMMANDS[sub]();
  const { values } = parseArgs({ args: rest, options: { ...COMMON_OPTIONS, ...mod.options }, strict: true, allowPositionals: false });
  if (values.help) {
    console.log(usage().replace('<' + Object.keys(SUBCOMMANDS).join('|') + '>', sub));
    if (mod.usage) console.log(mod.usage);
    return 0;
  }
  const runs = positiveInt(values.runs, '--runs');
  const warmup = positiveInt(values.warmup, '--warmup', true);
  mod.validate?.(values);
  const engine = await createEngine({ backend: values.backend as Backend });
  try {
    const info = engine.info;
    const adapter = adapterName(engine);
    const ctx: BenchContext = { software: info.software, runs, warmup, values };
    for await (const line of mod.runBench(engine, ctx)) {
      const out = 'note' in line ? line : { ...line, adapter };
      console.log(values.json ? JSON.stringify(out) : formatLine(out));
    }
  } finally {
    engine.destroy();
  }
  return 0;
}

/** e.g. "llvmpipe (LLVM 19.1.7, 256 bits) [vulkan, software]". */
export function adapterName(engine: Engine): string {
  const i = engine.info;
  const name = i.description || [i.vendor, i.architecture, i.device].filter(Boolean).join(' ') || 'unknown adapter';
  return `${name} [${i.backend}${i.software ? ', software' : ''}]`;
}

function positiveInt(v: unknown, flag: string, allowZero = false): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < (allowZero ? 0 : 1)) {
    throw new Error(`${flag}: '${String(v)}' is not a ${allowZero ? 'non-negative' : 'positive'} integer`);
  }
  return n;
}

function formatLine(line: BenchLine): string {
  if ('note' in line) return `# ${String(line.note)}`;
  return (
    Object.entries(line)
      .filter(([k]) => k !== 'adapter')
      .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : String(v)}`)
      .join('  ') + `  (${String(line.adapter)})`
  );
}
