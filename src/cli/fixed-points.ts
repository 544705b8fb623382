import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createEngine, type Engine } from '../gpu/engine.js';
import type { Backend } from '../gpu/acquire.js';
import {
  findFixedPoints,
  isTeacherFile,
  lowRankModelToRnn,
  pruneUnits,
  teacherToRnn,
  type FixedPointResult,
  type PiecewiseLinearRnn,
  type PrunedRnn,
} from '../analysis/fixed-points.js';
import { latentMapFromHost } from '../analysis/model-fixed-points.js';
import { findCycles, type CycleSearchResult } from '../analysis/cycles.js';
import { MODEL_FORMAT, parseModel } from '../models/model-file.js';
import { Progress } from '../util/progress.js';

export const summary = 'all fixed points of a piecewise-linear low-rank RNN (teacher file or generic JSON), with stability';

const USAGE = `lowrank-smc fixed-points --model M.json [--inputs u1,u2,...] [--json] [--cpu] [--backend auto|vulkan|opengles]

  --model    a teacher file (fields N, R, alpha, m, n, b_rec, nonlinearity) or a JSON object
             {R, N, a, U (N×R), V (R×N), h, hz?, c?, nonlinearity: relu|clipped_relu}
             (U and V as nested arrays or flat row-major lists)
  --inputs   constant inputs held fixed (teacher files: steady-state input current w_inp_scale·w_inpᵀu)
  --cpu      run the float64 CPU implementation instead of the GPU kernel
  --prune-units EPS  (clipped relu) first drop the units whose contribution ‖V_i‖·|h_i| never reaches
             EPS: units a fit left unused make the arrangement huge and degenerate; the pruned map is
             within the printed bound of the original everywhere (e.g. 1e-6 for a fitted EEG model)
  --cycles k also search cycles of orders 2 … k (SCYFI-style, float64 CPU; a search, not an
             enumeration: --restarts R, default 200, trades time for coverage)
  --json     print {count, points: [{z, stability, eigenvalues}], regions, solves, ms}
             (with --cycles also cycles: [{order, points, stability, eigenvalues}])`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      inputs: { type: 'string' },
      json: { type: 'boolean' },
      cpu: { type: 'boolean' },
      cycles: { type: 'string' },
      restarts: { type: 'string' },
      'prune-units': { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model) {
    console.error(`lowrank-smc fixed-points: --model is required\n\n${USAGE}`);
    return 2;
  }
  const inputs = values.inputs === undefined ? undefined : parseInputs(values.inputs);
  const maxOrder = values.cycles === undefined ? 1 : positiveInt(values.cycles, '--cycles');
  const restarts = values.restarts === undefined ? undefined : positiveInt(values.restarts, '--restarts');
  const eps = values['prune-units'] === undefined ? undefined : Number(values['prune-units']);
  if (eps !== undefined && !(eps >= 0)) throw new Error(`--prune-units must be a number ≥ 0, got "${values['prune-units']}"`);
  const loaded = loadModel(values.model, inputs);
  const pruned: PrunedRnn | null = eps === undefined ? null : pruneUnits(loaded, eps);
  const model = pruned ? pruned.model : loaded;
  const pruning = pruned && { units_kept: pruned.kept, units: loaded.N, eps, map_change_bound: pruned.bound };
  let engine: Engine | null = null;
  try {
    if (!values.cpu) engine = await createEngine({ backend: values.backend as Backend });
    // a bar (TTY) or a plain line every 5 s, on stderr; work is counted in plane tests
    let progress: Progress | null = null;
    const onProgress = (done: number, total: number) => {
      progress ??= new Progress({ total, label: 'fixed points', unit: 'tests', stream: process.stderr });
      progress.update(done);
    };
    const res = await findFixedPoints(engine, model, { onProgress });
    (progress as Progress | null)?.done({ points: res.count });
    const cycles: CycleSearchResult[] = [];
    for (let k = 2; k <= maxOrder; k++) cycles.push(findCycles(model, k, { restarts }));
    if (values.json)
      console.log(
        JSON.stringify({
          ...toJson(res),
          ...(pruning ? { pruning } : {}),
          ...(maxOrder > 1 ? { cycles: cycles.flatMap((c) => c.cycles) } : {}),
        }),
      );
    else {
      if (pruning)
        console.log(`pruned to ${pruning.units_kept} of ${pruning.units} units (the map moves by at most ` + `${pruning.map_change_bound.toExponential(2)})`);
      printTable(res);
      for (const c of cycles) printCycles(c);
    }
  } finally {
    engine?.destroy();
  }
  return 0;
}

function parseInputs(text: string): number[] {
  const t = text.trim();
  const vals = t.startsWith('[') ? (JSON.parse(t) as unknown[]) : t.split(',');
  return vals.map((v, i) => {
    const x = Number(v);
    if (!Number.isFinite(x)) throw new Error(`--inputs: value ${i} ("${String(v)}") is not a number`);
    return x;
  });
}

/** Read a fitted model file, a teacher file or a generic description. */
export function loadModel(path: string, inputs?: number[]): PiecewiseLinearRnn {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`--model ${path}: ${(e as Error).message}`);
  }
  if (isTeacherFile(json)) return teacherToRnn(json, inputs);
  if (typeof json === 'object' && json !== null && (json as { format?: string }).format === MODEL_FORMAT) {
    // a fitted model file: its latent map z ↦ a z + n φ(m z + Wu u; h), inputs held constant
    const parsed = parseModel(JSON.stringify(json), path);
    if (inputs && inputs.length !== parsed.config.inputDim) throw new Error(`--inputs: the model takes ${parsed.config.inputDim} inputs, got ${inputs.length}`);
    return lowRankModelToRnn(latentMapFromHost(parsed.config, parsed.params), inputs);
  }
  if (typeof json === 'object' && json !== null && 'U' in json && 'V' in json) {
    const g = json as Record<string, unknown>;
    const flat = (x: unknown) => (Array.isArray(x) ? (x.flat() as number[]) : x);
    const model = { ...g, U: flat(g.U), V: flat(g.V) } as unknown as PiecewiseLinearRnn;
    if (inputs) {
      // Generic descriptions take the input current directly: c = inputs (length N).
      if (inputs.length !== model.N) {
        throw new Error(`--inputs: a generic model takes the input current c (length N = ${model.N}), got ${inputs.length} values`);
      }
      model.c = inputs;
    }
    return model;
  }
  throw new Error(
    `--model ${path}: not a lowrank-smc model file, a teacher file (N, R, alpha, m, n, b_rec) or a generic description (R, N, a, U, V, h, ` + `nonlinearity)`,
  );
}

export function toJson(res: FixedPointResult) {
  return {
    count: res.count,
    points: res.points.map((p) => ({ z: p.z, stability: p.stability, eigenvalues: p.eigenvalues })),
    regions: res.regions,
    solves: res.solves,
    ms: Math.round(res.ms * 10) / 10,
    backend: res.backend,
    singularSubsets: res.singularSubsets,
    degenerateSubsets: res.degenerateSubsets,
    singularSystems: res.singularSystems,
  };
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got "${v}"`);
  return n;
}

const fmtEig = (e: { re: number; im: number }) => (e.im === 0 ? e.re.toFixed(4) : `${e.re.toFixed(4)}${e.im >= 0 ? '+' : ''}${e.im.toFixed(4)}i`);

function printCycles(c: CycleSearchResult): void {
  console.log(`${c.cycles.length} cycles of order ${c.order} (${c.restarts} restarts, ${c.solves} solves, ${c.ms.toFixed(0)} ms)`);
  for (const cy of c.cycles) {
    console.log(
      `  ${cy.stability.padEnd(8)} ${cy.points.map((z) => `[${z.map((x) => x.toFixed(5)).join(', ')}]`).join(' → ')}   multipliers ` +
        `${cy.eigenvalues.map(fmtEig).join(', ')}`,
    );
  }
}

function printTable(res: FixedPointResult): void {
  console.log(`${res.count} fixed points in ${res.regions} regions (${res.solves} solves, ${res.ms.toFixed(0)} ms, ${res.backend})`);
  for (const p of res.points) {
    const ev = p.eigenvalues.map(fmtEig).join(', ');
    console.log(`  ${p.stability.padEnd(8)} z = [${p.z.map((x) => x.toFixed(5)).join(', ')}]   eigenvalues ${ev}`);
  }
}
