import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { asActivity, svcca } from '../analysis/svcca.js';
import { parseNpy } from '../io/npy.js';

export const summary = 'SVCCA similarity of two activity arrays (time points × units .npy files)';

const HELP = `lowrank-smc svcca A.npy B.npy [--dims 5] [--json]

Centres each unit, keeps the top --dims singular directions of each array, and prints the canonical
correlations between them and their mean. Arrays are time points × units; arrays of higher rank
(e.g. conditions × time × units) have their leading axes concatenated into time points.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dims: { type: 'string', default: '5' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    console.error(`svcca: expected two .npy files, got ${positionals.length}\n\n${HELP}`);
    return 2;
  }
  const dims = Number(values.dims);
  if (!Number.isInteger(dims) || dims < 1) throw new Error(`--dims must be a positive integer (got "${values.dims}")`);
  const [a, b] = positionals.map((path) => {
    const arr = parseNpy(readFileSync(path), path);
    return asActivity(arr.data, arr.shape, path);
  });
  if (a.rows !== b.rows) throw new Error(`${positionals[0]} has ${a.rows} time points but ${positionals[1]} has ${b.rows}`);
  const r = svcca(a, b, { dims });
  if (values.json) console.log(JSON.stringify({ mean: r.mean, correlations: r.correlations, dims: r.dims, varianceExplained: r.varianceExplained }));
  else {
    console.log(`mean canonical correlation  ${r.mean.toFixed(4)}  (${r.dims} dims)`);
    console.log(`correlations                ${r.correlations.map((c) => c.toFixed(4)).join(' ')}`);
    console.log(`variance explained          ${r.varianceExplained.map((v) => v.toFixed(3)).join(' / ')}`);
  }
  return 0;
}
