/**
 * The stability-optimised circuit cached on disk per set of options (seed included): the float64
 * optimisation of a 200-neuron circuit takes about a minute of CPU, its result is a deterministic function of the
 * options, so sweeps and repeated runs load it instead. Files are written atomically and carry the
 * options they were made with; a file whose options or sizes do not match is recomputed.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/files.js';
import { stabilityOptimisedCircuit, type Soc, type SocOptions } from './circuit.js';

/** Bump when the optimisation changes what it returns for the same options (2: Schur-based solves, equal up to rounding). */
const FORMAT = 2;

const SOC_KEYS = [
  'n',
  'excitatoryFraction',
  'connectionProbability',
  'radius',
  'gamma',
  'targetAbscissa',
  'learningRate',
  'inhibitoryDensity',
  'maxIterations',
  'seed',
] as const;

/** The circuit for `options`, from `dir` when cached there, else optimised and saved. */
export async function cachedCircuit(options: SocOptions, dir: string): Promise<{ soc: Soc; cached: boolean; path: string }> {
  const key: Record<string, unknown> = { format: FORMAT };
  for (const k of SOC_KEYS) if (options[k] !== undefined) key[k] = options[k];
  const text = JSON.stringify(key);
  const path = join(dir, `soc-n${options.n ?? 200}-seed${options.seed ?? 1}-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.json`);
  try {
    const saved = JSON.parse(await readFile(path, 'utf8'));
    if (JSON.stringify(saved.key) === text && Array.isArray(saved.w) && saved.w.length === saved.n * saved.n) {
      const soc: Soc = {
        n: saved.n,
        ne: saved.ne,
        w: Float64Array.from(saved.w),
        initialAbscissa: saved.initialAbscissa,
        abscissa: saved.abscissa,
        iterations: saved.iterations,
      };
      return { soc, cached: true, path };
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof SyntaxError)) throw e;
  }
  const soc = stabilityOptimisedCircuit(options);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path, JSON.stringify({ key: JSON.parse(text), ...soc, w: Array.from(soc.w) }));
  return { soc, cached: false, path };
}
