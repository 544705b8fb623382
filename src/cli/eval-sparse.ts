import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../gpu/engine.js';
import type { Backend } from '../gpu/acquire.js';
import { parseNpy } from '../io/npy.js';
import type { SparseRnn } from '../sparse/task.js';
import { evaluateSparse, runSparseRnn } from '../sparse/evaluate.js';
import { loadMotorTask } from './fit-sparse.js';

export const summary = 'evaluate a fit-sparse model on a circuit: SVCCA vs all neurons, output error (train / held-out)';

const HELP = `lowrank-smc eval-sparse --data DIR --model DIR [--held-out 1,5] [--dims 5] [--backend auto] [--json]

DIR (data) is a simulate-motor output; DIR (model) a fit-sparse output (model.json, J.npy, W.npy,
Uin.npy, xinit.npy). Runs the learner on every condition of the data on the GPU and prints SVCCA
between all circuit neurons and all learner units (mean and the individual canonical correlations),
the normalised output error on the model's training conditions and on the held-out conditions
(default: those recorded in model.json; --held-out overrides).`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      model: { type: 'string' },
      'held-out': { type: 'string' },
      dims: { type: 'string', default: '5' },
      backend: { type: 'string', default: 'auto' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.data || !values.model) throw new Error('--data DIR and --model DIR are required');
  const dims = Number(values.dims);
  if (!Number.isInteger(dims) || dims < 1) throw new Error(`--dims must be a positive integer (got "${values.dims}")`);
  const { task } = await loadMotorTask(values.data);
  const dir = values.model;
  const metaPath = join(dir, 'model.json');
  let meta: { options?: { tau?: number; dt?: number }; rate?: SparseRnn['rate']; trainConditions?: number[]; heldOut?: number[]; sampled?: number[] };
  try {
    meta = JSON.parse(await readFile(metaPath, 'utf8'));
  } catch (e) {
    throw new Error(`${metaPath}: cannot read the model description (${(e as Error).message})`);
  }
  const tau = meta.options?.tau;
  const dt = meta.options?.dt;
  if (!(typeof tau === 'number' && tau > 0 && typeof dt === 'number' && dt > 0)) {
    throw new Error(`${metaPath}: options.tau and options.dt must be positive numbers`);
  }
  const rate = meta.rate;
  if (rate !== undefined && !(typeof rate.r0 === 'number' && typeof rate.rmax === 'number' && rate.r0 > 0 && rate.rmax > rate.r0)) {
    throw new Error(`${metaPath}: the units' rate function needs 0 < r0 < rmax (got ${JSON.stringify(rate)})`);
  }
  const load = async (name: string, shape: (s: readonly number[]) => boolean, want: string) => {
    const path = join(dir, name);
    const a = parseNpy(await readFile(path), path);
    if (!shape(a.shape)) throw new Error(`${path}: expected shape ${want}, got [${a.shape.join(', ')}]`);
    return { data: Float32Array.from(a.data), shape: a.shape };
  };
  const J = await load('J.npy', (s) => s.length === 2 && s[0] === s[1], '[n, n]');
  const n = J.shape[0];
  const W = await load('W.npy', (s) => s.length === 2 && s[0] === task.nOutputs && s[1] === n, `[${task.nOutputs}, ${n}] (outputs of the data × units)`);
  const Uin = await load('Uin.npy', (s) => s.length === 2 && s[0] === n && s[1] === task.nInputs, `[${n}, ${task.nInputs}] (units × inputs of the data)`);
  const xInit = await load('xinit.npy', (s) => s.length === 1 && s[0] === n, `[${n}]`);
  const all = Array.from({ length: task.conditions }, (_, c) => c);
  let heldOut = meta.heldOut ?? [];
  if (values['held-out'] !== undefined) {
    heldOut = values['held-out'] === '' ? [] : values['held-out'].split(',').map(Number);
  }
  for (const c of heldOut) {
    if (!Number.isInteger(c) || c < 0 || c >= task.conditions) throw new Error(`--held-out: condition ${c} out of range [0, ${task.conditions})`);
  }
  const trainConditions = (meta.trainConditions ?? all).filter((c) => c < task.conditions && !heldOut.includes(c));
  const model: SparseRnn = {
    n,
    tau,
    dt,
    nInputs: task.nInputs,
    nOutputs: task.nOutputs,
    J: J.data,
    W: W.data,
    Uin: Uin.data,
    xInit: xInit.data,
    ...(meta.rate ? { rate: meta.rate } : {}),
    sampled: meta.sampled ?? [],
    trainConditions,
    heldOut,
    history: [],
    chaosRatio: NaN,
  };
  const engine = await createEngine({ backend: values.backend as Backend });
  try {
    const result = await runSparseRnn(engine, model, task.inputs, task.conditions, task.time);
    const m = evaluateSparse(task, model, result, dims);
    if (values.json) console.log(JSON.stringify({ ...m, trainConditions, heldOut, sampled: model.sampled.length }));
    else {
      console.log(`SVCCA (${m.svcca.dims} dims)        ${m.svcca.mean.toFixed(4)}   correlations ${m.svcca.correlations.map((c) => c.toFixed(3)).join(' ')}`);
      console.log(`train output error    ${m.trainOutputError.toExponential(3)}  (conditions ${trainConditions.join(',')})`);
      console.log(
        `held-out output error ${m.heldOutOutputError === null ? '-' : m.heldOutOutputError.toExponential(3)}  (conditions ` +
          `${heldOut.join(',') || 'none'})`,
      );
    }
  } finally {
    engine.destroy();
  }
  return 0;
}
