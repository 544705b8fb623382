/**
 * Sparse-neuron sweep (issue 5, Salatiello & Giese 2020 reconstructed): on one simulated motor circuit,
 * train full-FORCE learners that see the outputs plus K randomly sampled circuit neurons, for several
 * K and seeds (sampled subset and network seed both vary with the seed), and report SVCCA against all
 * circuit neurons and the normalised output error on held-out conditions. Baselines: K = 0 (output
 * only) and an untrained random network (J ~ N(0, g²/n), W = 0).
 *
 *   node dist/bench/sparse-sweep.js [--out DIR] [--neurons 60] [--counts 0,5,10,20,40,60] [--seeds 1,2,3] ...
 *   node dist/bench/sparse-sweep.js --method bptt [--iters 200] [--lr 0.02] [--lambda 1] ...   (BPTT learners)
 *
 * Writes DIR/sweep.jsonl (one line per fit), DIR/sweep.md (table) and DIR/sweep.svg/png (plot).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/gpu/engine.js';
import { simulateMotor } from '../src/sparse/circuit.js';
import { trainFullForce } from '../src/sparse/fullforce.js';
import type { SparseRnn, SparseTask } from '../src/sparse/task.js';
import { trainBptt } from '../src/sparse/bptt.js';
import { evaluateSparse, runSparseRnn } from '../src/sparse/evaluate.js';
import { normalSampler } from '../src/util/random.js';
import { renderSpec } from '../src/plot/render.js';
import { writePlot } from '../src/plot/files.js';

const ints = (s: string, what: string): number[] =>
  s.split(',').map((v) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) throw new Error(`${what}: expected non-negative integers, got "${s}"`);
    return x;
  });

interface Row {
  kind: 'trained' | 'untrained';
  sampled: number;
  seed: number;
  svcca: number;
  trainOutputError: number;
  heldOutOutputError: number;
  seconds: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'sparse-sweep' },
      neurons: { type: 'string', default: '60' },
      'max-iterations': { type: 'string', default: '150' },
      conditions: { type: 'string', default: '8' },
      'held-out': { type: 'string', default: '1,5' },
      counts: { type: 'string' },
      seeds: { type: 'string', default: '1,2,3' },
      learner: { type: 'string', default: '60' },
      trials: { type: 'string', default: '60' },
      dt: { type: 'string', default: '4' },
      tau: { type: 'string', default: '50' },
      g: { type: 'string', default: '1.2' },
      'hint-tail': { type: 'string', default: '30' },
      method: { type: 'string', default: 'rls' },
      iters: { type: 'string', default: '200' },
      lr: { type: 'string', default: '0.02' },
      lambda: { type: 'string', default: '1' },
    },
  });
  const nBio = Number(values.neurons);
  const counts = values.counts ? ints(values.counts, '--counts') : [0, 5, 10, 20, 50, 100, 200].filter((k) => k <= nBio);
  const seeds = ints(values.seeds!, '--seeds');
  const heldOut = ints(values['held-out']!, '--held-out');
  for (const k of counts) if (k > nBio) throw new Error(`--counts: ${k} sampled neurons exceed the circuit's ${nBio}`);
  const t0 = performance.now();
  const circuit = simulateMotor({
    n: nBio,
    seed: 1,
    maxIterations: Number(values['max-iterations']),
    conditions: Number(values.conditions),
    dt: Number(values.dt),
    muscles: 2,
  });
  console.log(
    `circuit: ${nBio} neurons, abscissa ${circuit.soc.abscissa.toFixed(3)}, ${circuit.conditions} conditions × ${circuit.time} samples (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  const task: SparseTask = {
    conditions: circuit.conditions,
    time: circuit.time,
    inputs: circuit.inputs,
    nInputs: 2,
    outputs: circuit.outputs,
    nOutputs: circuit.muscles,
    rates: circuit.rates,
    nNeurons: nBio,
  };
  const n = Number(values.learner);
  const g = Number(values.g);
  const common = {
    n,
    tau: Number(values.tau),
    dt: Number(values.dt),
    g,
    trials: Number(values.trials),
    hintTail: Number(values['hint-tail']),
    chaosTolerance: 0.3,
    heldOut,
  };
  const method = values.method;
  if (method !== 'rls' && method !== 'bptt') throw new Error(`--method must be rls or bptt (got "${method}")`);
  const bptt = { n, tau: common.tau, dt: common.dt, g, heldOut, iterations: Number(values.iters), lr: Number(values.lr), lambda: Number(values.lambda) };
  const train = (sampled: number, seed: number) =>
    method === 'bptt' ? trainBptt(engine, task, { ...bptt, sampled, seed }) : trainFullForce(engine, task, { ...common, sampled, seed });
  await mkdir(values.out!, { recursive: true });
  const rows: Row[] = [];
  const log = async (r: Row) => {
    rows.push(r);
    console.log(JSON.stringify(r));
    await writeFile(join(values.out!, 'sweep.jsonl'), rows.map((x) => JSON.stringify(x)).join('\n') + '\n');
  };
  const engine = await createEngine();
  try {
    for (const seed of seeds) {
      // Untrained baseline: a random network with the learner's input weights and no readout.
      const rng = normalSampler(seed + 999);
      const untrained: SparseRnn = {
        n,
        tau: common.tau,
        dt: common.dt,
        nInputs: 2,
        nOutputs: task.nOutputs,
        J: Float32Array.from({ length: n * n }, () => (g * rng.normal()) / Math.sqrt(n)),
        W: new Float32Array(task.nOutputs * n),
        Uin: Float32Array.from({ length: n * 2 }, () => 2 * rng.uniform() - 1),
        xInit: Float32Array.from({ length: n }, () => 0.5 * rng.normal()),
        sampled: [],
        trainConditions: [...Array(task.conditions).keys()].filter((c) => !heldOut.includes(c)),
        heldOut,
        history: [],
        chaosRatio: NaN,
      };
      const u = evaluateSparse(task, untrained, await runSparseRnn(engine, untrained, task.inputs, task.conditions, task.time));
      await log({
        kind: 'untrained',
        sampled: 0,
        seed,
        svcca: u.svcca.mean,
        trainOutputError: u.trainOutputError,
        heldOutOutputError: u.heldOutOutputError ?? NaN,
        seconds: 0,
      });
      for (const sampled of counts) {
        const t1 = performance.now();
        const model = await train(sampled, seed);
        const ev = evaluateSparse(task, model, await runSparseRnn(engine, model, task.inputs, task.conditions, task.time));
        await log({
          kind: 'trained',
          sampled,
          seed,
          svcca: ev.svcca.mean,
          trainOutputError: ev.trainOutputError,
          heldOutOutputError: ev.heldOutOutputError ?? NaN,
          seconds: (performance.now() - t1) / 1000,
        });
      }
    }
  } finally {
    engine.destroy();
  }
  // Table: mean ± sd over seeds per count.
  const stat = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
    return `${m.toFixed(3)} ± ${sd.toFixed(3)}`;
  };
  const groups: [string, Row[]][] = [
    ['untrained', rows.filter((r) => r.kind === 'untrained')],
    ...counts.map((k): [string, Row[]] => [String(k), rows.filter((r) => r.kind === 'trained' && r.sampled === k)]),
  ];
  const table = [
    '| sampled neurons | SVCCA (all circuit neurons) | train output error | held-out output error |',
    '|---|---|---|---|',
    ...groups.map(
      ([label, rs]) =>
        `| ${label} | ${stat(rs.map((r) => r.svcca))} | ${stat(rs.map((r) => r.trainOutputError))} | ${stat(rs.map((r) => r.heldOutOutputError))} |`,
    ),
  ].join('\n');
  await writeFile(join(values.out!, 'sweep.md'), table + '\n');
  console.log(table);
  const trained = rows.filter((r) => r.kind === 'trained');
  const base = rows.filter((r) => r.kind === 'untrained');
  const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const panel = (field: 'svcca' | 'heldOutOutputError', title: string) => ({
    title,
    width: 300,
    height: 220,
    layer: [
      {
        data: { values: trained },
        mark: { type: 'point', opacity: 0.5 },
        encoding: { x: { field: 'sampled', type: 'quantitative', title: 'sampled neurons' }, y: { field, type: 'quantitative', title } },
      },
      {
        data: { values: trained },
        mark: 'line',
        encoding: { x: { field: 'sampled', type: 'quantitative' }, y: { aggregate: 'mean', field, type: 'quantitative' } },
      },
      {
        data: { values: [{ v: meanOf(base.map((r) => r[field])) }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#b2182b' },
        encoding: { y: { field: 'v', type: 'quantitative' } },
      },
      {
        data: { values: [{ v: meanOf(trained.filter((r) => r.sampled === 0).map((r) => r[field])) }] },
        mark: { type: 'rule', strokeDash: [2, 2], color: '#666' },
        encoding: { y: { field: 'v', type: 'quantitative' } },
      },
    ],
  });
  const plot = await renderSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Sparse-neuron ${method === 'bptt' ? 'BPTT' : 'full-FORCE'} on a ${nBio}-neuron motor circuit (red: untrained, grey: output only)`,
    hconcat: [panel('svcca', 'SVCCA (mean of 5)'), panel('heldOutOutputError', 'held-out output error')],
  } as never);
  await writePlot(plot, join(values.out!, 'sweep.svg'));
  await writePlot(plot, join(values.out!, 'sweep.png'));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`sparse-sweep: ${(e as Error).message}`);
    process.exit(1);
  },
);
