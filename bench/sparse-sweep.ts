/**
 * Sparse-neuron sweep (Salatiello & Giese 2020 reconstructed): on one simulated motor circuit, train
 * learners that see the outputs plus K randomly sampled circuit neurons, for several K and seeds (the
 * sampled subset and the network seed both vary with the seed), and report SVCCA against all circuit
 * neurons (training and held-out conditions separately) and the normalised output error on held-out
 * reach directions. Baselines: K = 0 (outputs only), an untrained random network (J ~ N(0, g²/n),
 * W = 0) and a CURBD-style learner given all neurons at the circuit's own time constant and rate
 * function (the upper bound; --curbd-rate tanh for the tanh learner). Held-out errors and SVCCA at each
 * K are compared with K = 0 over seeds by the paired Wilcoxon signed-rank test, with bootstrap intervals
 * of the mean paired difference.
 *
 *   node dist/bench/sparse-sweep.js --paper [--out DIR]   (200 neurons, 300 units, 24 directions, 10 seeds)
 *   node dist/bench/sparse-sweep.js [--out DIR] [--neurons 60] [--counts 0,5,10,20,40,60] [--seeds 1-3] ...
 *   node dist/bench/sparse-sweep.js --method bptt [--iters 200] [--lr 0.02] [--lambda 1] ...   (BPTT learners)
 *
 * --held-out odd trains on every other reach direction and tests on the interleaved ones. The
 * optimised circuit is cached per seed and options in --circuit-cache (default .cache/circuits).
 * Writes DIR/sweep.jsonl (one line per fit), DIR/sweep.md (tables) and DIR/sweep.svg/png (plot). --resume
 * refits only what DIR lacks: a CURBD row of another rate function is dropped and refitted (one fit).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/gpu/engine.js';
import { simulateMotor } from '../src/sparse/circuit.js';
import { cachedCircuit } from '../src/sparse/circuit-cache.js';
import { curbdUnitR2, trainCurbd } from '../src/sparse/curbd.js';
import { bootstrapInterval, wilcoxonSignedRank } from '../src/analysis/stats.js';
import { trainFullForce } from '../src/sparse/fullforce.js';
import { ChaoticEmbedderError } from '../src/sparse/embedder.js';
import type { SparseRnn, SparseTask } from '../src/sparse/task.js';
import { trainBptt } from '../src/sparse/bptt.js';
import { evaluateSparse, runSparseRnn } from '../src/sparse/evaluate.js';
import { normalSampler } from '../src/util/random.js';
import { renderSpec } from '../src/plot/render.js';
import { writePlot } from '../src/plot/files.js';

/** Comma-separated non-negative integers and ranges (1-10). */
const ints = (s: string, what: string): number[] =>
  s.split(',').flatMap((v) => {
    const [a, b] = v.split('-').map(Number);
    const hi = b ?? a;
    if (!Number.isInteger(a) || !Number.isInteger(hi) || a < 0 || hi < a) throw new Error(`${what}: expected non-negative integers or ranges a-b, got "${s}"`);
    return Array.from({ length: hi - a + 1 }, (_, i) => a + i);
  });

/** The embedder's drive gains, hint scale and initial-state spread of the full-FORCE defaults. */
const EMBEDDER_DEFAULTS: Record<string, string> = { 'gain-in': '1', 'gain-out': '2', 'gain-hint': '1', 'hint-scale': '5', 'init-scale': '0.5' };

/** The paper-size protocol of --paper (each still overridable). */
const PAPER: Record<string, string> = {
  neurons: '200',
  'max-iterations': '500',
  learner: '300',
  conditions: '24',
  'held-out': 'odd',
  seeds: '1-10',
  counts: '0,5,10,20,50,100,200',
  'hint-lead': 'true',
  // CURBD refinement: 50 iterations (15 s of CPU at 200 neurons; SVCCA 0.975, 0.977 with the library's 100).
  'curbd-refine': '50',
  ...EMBEDDER_DEFAULTS,
};

interface Row {
  kind: 'trained' | 'untrained' | 'curbd';
  sampled: number;
  seed: number;
  svcca: number;
  svccaTrain: number;
  svccaHeldOut: number;
  trainOutputError: number;
  heldOutOutputError: number;
  seconds: number;
  /** CURBD rows: worst and median R² of a unit against its neuron (training conditions). */
  unitR2Worst?: number;
  unitR2Median?: number;
  /** CURBD rows: the units' rate function (absent in rows written before the option: tanh). */
  curbdRate?: 'circuit' | 'tanh';
  /** Why the fit failed (its metrics are NaN and it is left out of the statistics). */
  failed?: string;
}

async function main(): Promise<void> {
  const { values: given } = parseArgs({
    options: {
      paper: { type: 'boolean' },
      out: { type: 'string', default: 'sparse-sweep' },
      'circuit-cache': { type: 'string', default: join('.cache', 'circuits') },
      neurons: { type: 'string' },
      'max-iterations': { type: 'string' },
      conditions: { type: 'string' },
      'held-out': { type: 'string' },
      counts: { type: 'string' },
      seeds: { type: 'string' },
      learner: { type: 'string' },
      'hint-lead': { type: 'string' },
      resume: { type: 'boolean' },
      trials: { type: 'string', default: '60' },
      // Free-running refinement of the CURBD upper bound (Adam iterations; 0: teacher-forced fit only).
      'curbd-refine': { type: 'string' },
      // The CURBD learner's rate function: the circuit's own or tanh.
      'curbd-rate': { type: 'string', default: 'circuit' },
      dt: { type: 'string', default: '4' },
      tau: { type: 'string', default: '50' },
      g: { type: 'string', default: '1.2' },
      'hint-tail': { type: 'string', default: '30' },
      // The embedder's drives (full-FORCE defaults in both protocols; the all-neurons settings are in docs/sparse-results.md).
      'gain-in': { type: 'string' },
      'gain-out': { type: 'string' },
      'gain-hint': { type: 'string' },
      'hint-scale': { type: 'string' },
      'init-scale': { type: 'string' },
      'hint-orthogonal': { type: 'boolean' },
      method: { type: 'string', default: 'rls' },
      iters: { type: 'string', default: '200' },
      lr: { type: 'string', default: '0.02' },
      lambda: { type: 'string', default: '1' },
    },
  });
  const small: Record<string, string> = {
    neurons: '60',
    'curbd-refine': '100',
    'max-iterations': '150',
    learner: '60',
    conditions: '8',
    'held-out': '1,5',
    seeds: '1-3',
    'hint-lead': 'false',
    ...EMBEDDER_DEFAULTS,
  };
  const values = { ...(given.paper ? PAPER : small), ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) } as Record<
    string,
    string
  >;
  for (const k of Object.keys(EMBEDDER_DEFAULTS)) {
    if (!(Number(values[k]) >= 0 && Number.isFinite(Number(values[k])))) throw new Error(`--${k} must be a non-negative number (got "${values[k]}")`);
  }
  if (values['hint-lead'] !== 'true' && values['hint-lead'] !== 'false') throw new Error(`--hint-lead must be true or false (got "${values['hint-lead']}")`);
  const nBio = Number(values.neurons);
  const counts = values.counts ? ints(values.counts, '--counts') : [0, 5, 10, 20, 50, 100, 200].filter((k) => k <= nBio);
  const seeds = ints(values.seeds, '--seeds');
  const nConditions = Number(values.conditions);
  const heldOut = values['held-out'] === 'odd' ? Array.from({ length: nConditions >> 1 }, (_, i) => 2 * i + 1) : ints(values['held-out'], '--held-out');
  for (const k of counts) if (k > nBio) throw new Error(`--counts: ${k} sampled neurons exceed the circuit's ${nBio}`);
  const t0 = performance.now();
  const socOptions = { n: nBio, seed: 1, maxIterations: Number(values['max-iterations']) };
  const { soc, cached } = await cachedCircuit(socOptions, values['circuit-cache']);
  const circuit = simulateMotor({ ...socOptions, soc, conditions: nConditions, dt: Number(values.dt), muscles: 2 });
  console.log(
    `circuit: ${nBio} neurons, abscissa ${circuit.soc.abscissa.toFixed(3)} after ${soc.iterations} iterations${cached ? ' (cached)' : ''}, ` +
      `${circuit.conditions} conditions × ${circuit.time} samples (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
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
    rateFunction: circuit.rate,
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
    gainIn: Number(values['gain-in']),
    gainOut: Number(values['gain-out']),
    gainHint: Number(values['gain-hint']),
    hintScale: Number(values['hint-scale']),
    initScale: Number(values['init-scale']),
    hintOrthogonal: given['hint-orthogonal'] ?? false,
    hintLead: values['hint-lead'] === 'true',
    chaosTolerance: 0.3,
    heldOut,
  };
  const curbdRefine = Number(values['curbd-refine']);
  if (!Number.isInteger(curbdRefine) || curbdRefine < 0) throw new Error(`--curbd-refine must be an integer ≥ 0 (got "${values['curbd-refine']}")`);
  const curbdRate = values['curbd-rate'];
  if (curbdRate !== 'circuit' && curbdRate !== 'tanh') throw new Error(`--curbd-rate must be circuit or tanh (got "${curbdRate}")`);
  const method = values.method;
  if (method !== 'rls' && method !== 'bptt') throw new Error(`--method must be rls or bptt (got "${method}")`);
  const bptt = { n, tau: common.tau, dt: common.dt, g, heldOut, iterations: Number(values.iters), lr: Number(values.lr), lambda: Number(values.lambda) };
  const train = (sampled: number, seed: number) =>
    method === 'bptt' ? trainBptt(engine, task, { ...bptt, sampled, seed }) : trainFullForce(engine, task, { ...common, sampled, seed });
  await mkdir(values.out, { recursive: true });
  // --resume keeps the fits already in DIR/sweep.jsonl (same options assumed) and runs the rest.
  const resumed: Row[] = given.resume
    ? (await readFile(join(values.out, 'sweep.jsonl'), 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Row)
    : [];
  const rows = resumed.filter((r) => r.kind !== 'curbd' || (r.curbdRate ?? 'tanh') === curbdRate);
  if (rows.length < resumed.length) console.log(`--resume: ${resumed.length - rows.length} CURBD rows of the other rate function dropped; refitting`);
  const done = (kind: Row['kind'], sampled: number, seed: number) => rows.some((r) => r.kind === kind && r.sampled === sampled && r.seed === seed);
  const log = async (r: Row) => {
    rows.push(r);
    console.log(JSON.stringify(r));
    await writeFile(join(values.out, 'sweep.jsonl'), rows.map((x) => JSON.stringify(x)).join('\n') + '\n');
  };
  const logFit = async (kind: Row['kind'], model: SparseRnn, sampled: number, seed: number, seconds: number) => {
    const run = await runSparseRnn(engine, model, task.inputs, task.conditions, task.time);
    const ev = evaluateSparse(task, model, run);
    const r2 = kind === 'curbd' ? curbdUnitR2(task, model, run.rates).sort((a, b) => a - b) : null;
    await log({
      kind,
      sampled,
      seed,
      svcca: ev.svcca.mean,
      svccaTrain: ev.svccaTrain,
      svccaHeldOut: ev.svccaHeldOut ?? NaN,
      trainOutputError: ev.trainOutputError,
      heldOutOutputError: ev.heldOutOutputError ?? NaN,
      seconds,
      ...(r2 ? { unitR2Worst: r2[0], unitR2Median: r2[r2.length >> 1], curbdRate } : {}),
    });
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
      if (!done('untrained', 0, seed)) await logFit('untrained', untrained, 0, seed, 0);
      // Upper bound: one unit per circuit neuron, all neurons, the circuit's own time constant. With every
      // neuron sampled nothing in it depends on the seed, so it is fitted once and its row repeated per seed
      // (the paired comparisons need one per seed).
      const curbdDone = rows.find((r) => r.kind === 'curbd' && r.sampled === nBio);
      if (curbdDone && !done('curbd', nBio, seed)) await log({ ...curbdDone, seed });
      else if (!curbdDone) {
        const t1 = performance.now();
        const curbd = trainCurbd(task, { sampled: nBio, seed, heldOut, tau: circuit.tau, dt: circuit.dt, refineIterations: curbdRefine, rate: curbdRate });
        await logFit('curbd', curbd, nBio, seed, (performance.now() - t1) / 1000);
      }
      for (const sampled of counts) {
        if (done('trained', sampled, seed)) continue;
        const t2 = performance.now();
        try {
          const model = await train(sampled, seed);
          await logFit('trained', model, sampled, seed, (performance.now() - t2) / 1000);
        } catch (e) {
          // A chaotic embedder at one seed is a result to report, not a reason to lose the sweep.
          if (!(e instanceof ChaoticEmbedderError)) throw e;
          const nan = { svcca: NaN, svccaTrain: NaN, svccaHeldOut: NaN, trainOutputError: NaN, heldOutOutputError: NaN };
          await log({ kind: 'trained', sampled, seed, ...nan, seconds: (performance.now() - t2) / 1000, failed: e.message });
        }
      }
    }
  } finally {
    engine.destroy();
  }
  await report(rows, counts, values.out, `Sparse-neuron ${method === 'bptt' ? 'BPTT' : 'full-FORCE'} on a ${nBio}-neuron motor circuit`);
}

const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Mean ± sd over seeds, per group and metric; paired comparisons of each K with K = 0; the plot. */
async function report(rows: Row[], counts: number[], out: string, title: string): Promise<void> {
  const stat = (xs: number[]) => {
    const m = meanOf(xs);
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
    return `${m.toFixed(3)} ± ${sd.toFixed(3)}`;
  };
  const failed = rows.filter((r) => r.failed);
  const trained = rows.filter((r) => r.kind === 'trained' && !r.failed);
  const groups: [string, Row[]][] = [
    ['untrained', rows.filter((r) => r.kind === 'untrained')],
    ['CURBD, all neurons', rows.filter((r) => r.kind === 'curbd')],
    ...counts.map((k): [string, Row[]] => [String(k), trained.filter((r) => r.sampled === k)]),
  ];
  const metrics = ['svccaTrain', 'svccaHeldOut', 'trainOutputError', 'heldOutOutputError'] as const;
  const table = [
    '| sampled neurons | seeds | SVCCA, training conditions | SVCCA, held-out conditions | train output error | held-out output error |',
    '|---|---|---|---|---|---|',
    ...groups.map(([label, rs]) => `| ${label} | ${rs.length} | ${metrics.map((f) => stat(rs.map((r) => r[f]))).join(' | ')} |`),
  ].join('\n');
  // Paired by seed against outputs only (K = 0): Wilcoxon signed-rank, rank-biserial r, 95 % bootstrap
  // interval of the mean difference.
  const base = new Map(trained.filter((r) => r.sampled === 0).map((r) => [r.seed, r]));
  const compare = ['heldOutOutputError', 'svccaTrain', 'svccaHeldOut'] as const;
  // One row per K, one column per metric (the layout of docs/sparse-results.md).
  const stats: string[] = [
    '| K vs K = 0 | pairs | held-out output error: mean difference [95 % CI], p, r | SVCCA training directions | SVCCA held-out directions |',
    '|---|---|---|---|---|',
  ];
  const comparisons: Record<string, unknown>[] = [];
  const curbdRows = rows.filter((r) => r.kind === 'curbd');
  const sets: [string, Row[]][] = [
    ...counts.filter((k) => k > 0).map((k): [string, Row[]] => [String(k), trained.filter((r) => r.sampled === k)]),
    ['CURBD', curbdRows],
  ];
  const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
  for (const [label, rs] of sets) {
    const paired = rs.filter((r) => base.has(r.seed));
    if (paired.length === 0) continue;
    const cells = compare.map((f) => {
      const x = paired.map((r) => r[f]);
      const y = paired.map((r) => base.get(r.seed)![f]);
      const w = wilcoxonSignedRank(x, y);
      const ci = bootstrapInterval(
        x.map((v, i) => v - y[i]),
        { seed: 1 },
      );
      comparisons.push({ sampled: label, metric: f, pairs: paired.length, ...ci, p: w.p, exact: w.exact, rankBiserial: w.rankBiserial });
      const p = `${w.p.toPrecision(2)}${w.exact ? '' : ' (normal approx.)'}`;
      return `${signed(ci.estimate)} [${signed(ci.lower)}, ${signed(ci.upper)}], p = ${p}, r = ${w.rankBiserial.toFixed(2)}`;
    });
    stats.push(`| ${label} | ${paired.length} | ${cells.join(' | ')} |`);
  }
  const failures = failed.map((r) => `- K = ${r.sampled}, seed ${r.seed}: ${r.failed}`).join('\n');
  const withR2 = rows.filter((r) => r.kind === 'curbd' && r.unitR2Worst !== undefined);
  const unitR2 = withR2.length
    ? `\nCURBD-style learner, R² of each unit against its neuron (training conditions), over ${withR2.length} seeds: ` +
      `worst unit ${stat(withR2.map((r) => r.unitR2Worst!))}, median unit ${stat(withR2.map((r) => r.unitR2Median!))}\n`
    : '';
  await writeFile(join(out, 'sweep.md'), `${table}\n${unitR2}\n${stats.join('\n')}\n${failures ? `\nFailed fits (left out):\n${failures}\n` : ''}`);
  await writeFile(join(out, 'comparisons.json'), JSON.stringify(comparisons, null, 1) + '\n');
  console.log(table + '\n' + unitR2 + '\n' + stats.join('\n'));
  // Per K: mean and 95 % bootstrap interval of the mean over seeds (the band).
  const bands = (field: (typeof metrics)[number]) =>
    counts.map((k) => {
      const xs = trained.filter((r) => r.sampled === k).map((r) => r[field]);
      const ci = bootstrapInterval(xs, { seed: 2 });
      return { sampled: k, mean: ci.estimate, lower: ci.lower, upper: ci.upper };
    });
  const rule = (v: number, color: string, dash: number[]) => ({
    data: { values: [{ v }] },
    mark: { type: 'rule', strokeDash: dash, color },
    encoding: { y: { field: 'v', type: 'quantitative' } },
  });
  const panel = (field: (typeof metrics)[number], label: string) => ({
    title: label,
    width: 300,
    height: 220,
    layer: [
      {
        data: { values: bands(field) },
        mark: { type: 'area', opacity: 0.25, color: '#2166ac' },
        encoding: {
          x: { field: 'sampled', type: 'quantitative', title: 'sampled neurons' },
          y: { field: 'lower', type: 'quantitative', title: label },
          y2: { field: 'upper' },
        },
      },
      {
        data: { values: bands(field) },
        mark: { type: 'line', point: true, color: '#2166ac' },
        encoding: { x: { field: 'sampled', type: 'quantitative' }, y: { field: 'mean', type: 'quantitative' } },
      },
      {
        data: { values: trained },
        mark: { type: 'point', opacity: 0.3, size: 12, color: '#2166ac' },
        encoding: { x: { field: 'sampled', type: 'quantitative' }, y: { field, type: 'quantitative' } },
      },
      rule(meanOf(rows.filter((r) => r.kind === 'untrained').map((r) => r[field])), '#b2182b', [4, 4]),
      ...(curbdRows.length ? [rule(meanOf(curbdRows.map((r) => r[field])), '#1b7837', [1, 0])] : []),
    ],
  });
  const plot = await renderSpec({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: 'band: 95 % bootstrap interval of the mean over seeds; red dashed: untrained; green: CURBD-style learner, all neurons' },
    hconcat: [
      panel('svccaTrain', 'SVCCA, training conditions'),
      panel('svccaHeldOut', 'SVCCA, held-out conditions'),
      panel('heldOutOutputError', 'held-out output error'),
    ],
  } as never);
  await writePlot(plot, join(out, 'sweep.svg'));
  await writePlot(plot, join(out, 'sweep.png'));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`sparse-sweep: ${(e as Error).message}`);
    process.exit(1);
  },
);
