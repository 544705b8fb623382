/**
 * Sweep files: JSON data (never evaluated as code) describing many fits of one data set. Validated in
 * full, with errors naming the offending field, before anything is enqueued:
 *
 *   {
 *     "name": "eeg-particles",                         optional label
 *     "data": { "sha256": "<64 hex>" | "path": "data/eeg.npy" (inside the store), "layout": "time,channel" },
 *     "fit": { "rank": 3, "units": 64, "iters": 200, ... },        fixed fit options (names as `fit`'s flags)
 *     "grid": { "particles": [1, 10, 64], "seed": [0, 1, 2] },      every combination
 *     "random": { "count": 8, "seed": 0,                           seeded draws, each combined with the grid
 *                 "space": { "lr": { "log-uniform": [1e-4, 1e-2] }, "rank": { "choice": [2, 3] },
 *                            "batch": { "int-uniform": [1, 10] }, "resample-threshold": { "uniform": [0.3, 1] } } },
 *     "eval": { "metrics": { "steps": 2000, "cut-off": 0, "smooth-at-eval": false, "seed": 0 }, "fixed-points": true },
 *     "checkpoint-every": 20
 *   }
 */
import { MAX_RANK } from '../models/lowrank-rnn.js';
import { PAD_MODES, PAD_PLACEMENTS } from '../ops/conv.js';
import { mulberry32 } from '../util/random.js';

type OptionType =
  | { kind: 'int'; min?: number; max?: number }
  | { kind: 'number'; min?: number; max?: number; positive?: boolean }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'bool' }
  /** Positive integers as fit's flag takes them, "14,4,2" (or one integer). */
  | { kind: 'int-list' };

/** The fit options a sweep may set or search, with `lowrank-smc fit`'s flag names, types and ranges. */
export const FIT_OPTION_TYPES: Record<string, OptionType> = {
  rank: { kind: 'int', min: 1, max: MAX_RANK },
  units: { kind: 'int', min: 1 },
  nonlinearity: { kind: 'enum', values: ['clipped_relu', 'relu', 'tanh', 'identity'] },
  obs: { kind: 'enum', values: ['gauss', 'poisson'] },
  'obs-link': { kind: 'enum', values: ['identity', 'softplus', 'exp', 'relu'] },
  noise: { kind: 'enum', values: ['full', 'diag', 'scalar'] },
  init: { kind: 'enum', values: ['data', 'reference'] },
  zscore: { kind: 'bool' },
  particles: { kind: 'int', min: 1 },
  proposal: { kind: 'enum', values: ['optimal', 'bootstrap', 'encoder'] },
  'encoder-kernels': { kind: 'int-list' },
  'encoder-channels': { kind: 'int-list' },
  'encoder-padding': { kind: 'enum', values: PAD_PLACEMENTS },
  'encoder-pad-mode': { kind: 'enum', values: Object.keys(PAD_MODES) },
  'encoder-constant-var': { kind: 'bool' },
  't-forward': { kind: 'int', min: 0 },
  resampling: { kind: 'enum', values: ['systematic', 'stratified', 'multinomial'] },
  'resample-threshold': { kind: 'number', min: 0, max: 1 },
  iters: { kind: 'int', min: 1 },
  batch: { kind: 'int', min: 1 },
  window: { kind: 'int', min: 1 },
  lr: { kind: 'number', positive: true },
  'lr-end': { kind: 'number', positive: true },
  'lr-hold': { kind: 'int', min: 0 },
  'lr-warmup': { kind: 'int', min: 0 },
  optimizer: { kind: 'enum', values: ['adam', 'radam'] },
  seed: { kind: 'int', min: 0 },
  clip: { kind: 'number', positive: true },
  'log-every': { kind: 'int', min: 1 },
};

export type FitOptionValue = number | string | boolean;
export type JobOptions = Record<string, FitOptionValue>;

const METRIC_OPTION_TYPES: Record<string, OptionType> = {
  steps: { kind: 'int', min: 2 },
  'cut-off': { kind: 'int', min: 0 },
  'smooth-at-eval': { kind: 'bool' },
  samples: { kind: 'int', min: 1 },
  sigma: { kind: 'number', min: 0 },
  smoothing: { kind: 'number', min: 0 },
  seed: { kind: 'int', min: 0 },
};

export interface MetricOptions {
  steps?: number;
  'cut-off'?: number;
  'smooth-at-eval'?: boolean;
  samples?: number;
  sigma?: number;
  smoothing?: number;
  seed?: number;
}

export interface EvalSpec {
  /** D_stsp, D_H, mean rate error of a generated series against the data (as `lowrank-smc eval`). */
  metrics?: MetricOptions;
  /** Count and stability of the fitted model's fixed points (relu / clipped relu models). */
  fixedPoints?: boolean;
}

export type RandomDistribution =
  { uniform: [number, number] } | { 'log-uniform': [number, number] } | { 'int-uniform': [number, number] } | { choice: FitOptionValue[] };

export interface SweepSpec {
  name?: string;
  data: { sha256?: string; path?: string; layout?: string };
  fit: JobOptions;
  grid: Record<string, FitOptionValue[]>;
  random?: { count: number; seed: number; space: Record<string, RandomDistribution> };
  eval: EvalSpec;
  checkpointEvery: number;
}

/** A sweep file that fails validation: every problem found, one per line. */
export class SweepSpecError extends Error {
  constructor(
    readonly problems: string[],
    source: string,
  ) {
    super(`${source}: invalid sweep file:\n  ${problems.join('\n  ')}`);
    this.name = 'SweepSpecError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown) =>
  Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'string' ? `"${v}"` : typeof v === 'object' ? 'an object' : String(v);

/** Why `value` is not a valid value of an option of type `t`, or null. */
function checkValue(t: OptionType, value: unknown): string | null {
  switch (t.kind) {
    case 'bool':
      return typeof value === 'boolean' ? null : `must be true or false, got ${describe(value)}`;
    case 'int-list':
      return (typeof value === 'string' && /^\s*[1-9]\d*(\s*,\s*[1-9]\d*)*\s*$/.test(value)) || (Number.isInteger(value) && (value as number) > 0)
        ? null
        : `must be positive integers separated by commas, e.g. "14,4,2", got ${describe(value)}`;
    case 'enum':
      return typeof value === 'string' && t.values.includes(value) ? null : `must be one of ${t.values.join(', ')}, got ${describe(value)}`;
    case 'int':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a number, got ${describe(value)}`;
      if (t.kind === 'int' && !Number.isInteger(value)) return `must be an integer, got ${value}`;
      if (t.min !== undefined && value < t.min) return `must be ≥ ${t.min}, got ${value}`;
      if (t.max !== undefined && value > t.max) return `must be ≤ ${t.max}, got ${value}`;
      if (t.kind === 'number' && t.positive && !(value > 0)) return `must be > 0, got ${value}`;
      return null;
    }
  }
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string, problems: string[]): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) problems.push(`${where}: unknown option "${k}" (allowed: ${allowed.join(', ')})`);
}

function fitOption(name: string, where: string, problems: string[]): OptionType | null {
  const t = FIT_OPTION_TYPES[name];
  if (!t) problems.push(`${where}: unknown fit option "${name}" (fit options: ${Object.keys(FIT_OPTION_TYPES).join(', ')})`);
  return t ?? null;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Parse and validate a sweep file's text. Throws SweepSpecError listing every problem; store paths
 * are checked for shape here (relative, no `..`) and for existence by the store at submission.
 */
export function parseSweepSpec(text: string, source = 'sweep file'): SweepSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SweepSpecError([`not valid JSON (${(e as Error).message})`], source);
  }
  const problems: string[] = [];
  if (!isObject(raw)) throw new SweepSpecError([`the top level must be an object, got ${describe(raw)}`], source);
  checkKeys(raw, ['name', 'data', 'fit', 'grid', 'random', 'eval', 'checkpoint-every'], 'sweep', problems);
  if (raw.name !== undefined && typeof raw.name !== 'string') problems.push(`name: must be a string, got ${describe(raw.name)}`);

  const data: SweepSpec['data'] = {};
  if (!isObject(raw.data)) problems.push(`data: required object { "sha256": ..., "layout": ... }, got ${describe(raw.data)}`);
  else {
    checkKeys(raw.data, ['sha256', 'path', 'layout'], 'data', problems);
    const { sha256, path, layout } = raw.data;
    if (sha256 === undefined && path === undefined) problems.push('data: missing data hash ("sha256", or a "path" inside the store to hash)');
    if (sha256 !== undefined) {
      if (typeof sha256 !== 'string' || !SHA256.test(sha256)) problems.push(`data.sha256: must be 64 lower-case hex digits, got ${describe(sha256)}`);
      else data.sha256 = sha256;
    }
    if (path !== undefined) {
      const why = typeof path === 'string' ? storePathProblem(path) : `must be a string, got ${describe(path)}`;
      if (why) problems.push(`data.path: ${why}`);
      else data.path = path as string;
    }
    if (layout !== undefined) {
      if (typeof layout !== 'string') problems.push(`data.layout: must be a string such as "time,channel", got ${describe(layout)}`);
      else data.layout = layout;
    }
  }

  const fit: JobOptions = {};
  if (raw.fit !== undefined && !isObject(raw.fit)) problems.push(`fit: must be an object of fit options, got ${describe(raw.fit)}`);
  for (const [k, v] of Object.entries(isObject(raw.fit) ? raw.fit : {})) {
    const t = fitOption(k, 'fit', problems);
    if (!t) continue;
    const why = checkValue(t, v);
    if (why) problems.push(`fit.${k}: ${why}`);
    else fit[k] = v as FitOptionValue;
  }

  const grid: Record<string, FitOptionValue[]> = {};
  if (raw.grid !== undefined && !isObject(raw.grid)) problems.push(`grid: must be an object mapping fit options to lists of values, got ${describe(raw.grid)}`);
  for (const [k, vs] of Object.entries(isObject(raw.grid) ? raw.grid : {})) {
    const t = fitOption(k, 'grid', problems);
    if (!t) continue;
    if (!Array.isArray(vs) || vs.length === 0) {
      problems.push(`grid.${k}: must be a non-empty list of values, got ${describe(vs)}`);
      continue;
    }
    vs.forEach((v, i) => {
      const why = checkValue(t, v);
      if (why) problems.push(`grid.${k}[${i}]: ${why}`);
    });
    if (k in fit) problems.push(`grid.${k}: also fixed in "fit"; set it in one place`);
    grid[k] = vs as FitOptionValue[];
  }

  let random: SweepSpec['random'];
  if (raw.random !== undefined) {
    if (!isObject(raw.random)) problems.push(`random: must be an object { "count", "seed", "space" }, got ${describe(raw.random)}`);
    else {
      checkKeys(raw.random, ['count', 'seed', 'space'], 'random', problems);
      const count = raw.random.count;
      const seed = raw.random.seed ?? 0;
      const countWhy = checkValue({ kind: 'int', min: 1, max: 100000 }, count);
      if (countWhy) problems.push(`random.count: ${countWhy}`);
      const seedWhy = checkValue({ kind: 'int', min: 0 }, seed);
      if (seedWhy) problems.push(`random.seed: ${seedWhy}`);
      const space: Record<string, RandomDistribution> = {};
      if (!isObject(raw.random.space) || Object.keys(raw.random.space).length === 0)
        problems.push(`random.space: must be a non-empty object of fit option → distribution, got ${describe(raw.random.space)}`);
      for (const [k, d] of Object.entries(isObject(raw.random.space) ? raw.random.space : {})) {
        const t = fitOption(k, 'random.space', problems);
        if (!t) continue;
        if (k in fit || k in grid) problems.push(`random.space.${k}: also set in "fit" or "grid"; set it in one place`);
        const why = distributionProblem(t, d);
        if (why) problems.push(`random.space.${k}: ${why}`);
        else space[k] = d as RandomDistribution;
      }
      if (!countWhy && !seedWhy) random = { count: count as number, seed: seed as number, space };
    }
  }

  const evalSpec: EvalSpec = {};
  if (raw.eval !== undefined) {
    if (!isObject(raw.eval)) problems.push(`eval: must be an object { "metrics": {...}, "fixed-points": true }, got ${describe(raw.eval)}`);
    else {
      checkKeys(raw.eval, ['metrics', 'fixed-points'], 'eval', problems);
      const m = raw.eval.metrics;
      if (m !== undefined && m !== false) {
        if (m === true) evalSpec.metrics = {};
        else if (!isObject(m)) problems.push(`eval.metrics: must be true or an object of eval options, got ${describe(m)}`);
        else {
          checkKeys(m, Object.keys(METRIC_OPTION_TYPES), 'eval.metrics', problems);
          for (const [k, v] of Object.entries(m)) {
            const t = METRIC_OPTION_TYPES[k];
            const why = t && checkValue(t, v);
            if (why) problems.push(`eval.metrics.${k}: ${why}`);
          }
          evalSpec.metrics = m as MetricOptions;
        }
      }
      const fp = raw.eval['fixed-points'];
      if (fp !== undefined) {
        if (typeof fp !== 'boolean') problems.push(`eval.fixed-points: must be true or false, got ${describe(fp)}`);
        else evalSpec.fixedPoints = fp;
      }
    }
  }

  const ck = raw['checkpoint-every'] ?? 50;
  const ckWhy = checkValue({ kind: 'int', min: 1 }, ck);
  if (ckWhy) problems.push(`checkpoint-every: ${ckWhy}`);

  if (problems.length) throw new SweepSpecError(problems, source);
  const spec: SweepSpec = { data, fit, grid, random, eval: evalSpec, checkpointEvery: ck as number };
  if (typeof raw.name === 'string') spec.name = raw.name;
  const jobs = expandJobs(spec).length;
  if (jobs > 100000) throw new SweepSpecError([`the sweep expands to ${jobs} jobs (at most 100000)`], source);
  return spec;
}

function distributionProblem(t: OptionType, d: unknown): string | null {
  if (!isObject(d) || Object.keys(d).length !== 1)
    return `must be one of { "uniform": [lo, hi] }, { "log-uniform": [lo, hi] }, { "int-uniform": [lo, hi] }, { "choice": [...] }, got ${describe(d)}`;
  const [kind, arg] = Object.entries(d)[0];
  if (kind === 'choice') {
    if (!Array.isArray(arg) || arg.length === 0) return `choice: must be a non-empty list, got ${describe(arg)}`;
    for (const [i, v] of arg.entries()) {
      const why = checkValue(t, v);
      if (why) return `choice[${i}]: ${why}`;
    }
    return null;
  }
  if (!['uniform', 'log-uniform', 'int-uniform'].includes(kind)) return `unknown distribution "${kind}" (uniform, log-uniform, int-uniform, choice)`;
  if (t.kind !== 'int' && t.kind !== 'number') return `${kind} needs a numeric option; use { "choice": [...] }`;
  if (!Array.isArray(arg) || arg.length !== 2 || !arg.every((x) => typeof x === 'number' && Number.isFinite(x)) || !(arg[0] <= arg[1]))
    return `${kind}: must be [lo, hi] with lo ≤ hi, got ${JSON.stringify(arg)}`;
  if (kind === 'log-uniform' && !(arg[0] > 0)) return `log-uniform: bounds must be > 0, got ${JSON.stringify(arg)}`;
  if (t.kind === 'int' && kind !== 'int-uniform') return `an integer option needs "int-uniform" or "choice", not "${kind}"`;
  for (const x of arg) {
    const why = checkValue(t, x);
    if (why) return `${kind} bound ${why}`;
  }
  return null;
}

/** Why a store-relative path is unacceptable (absolute, `..`, empty segments), or null. */
export function storePathProblem(path: string): string | null {
  if (path.length === 0) return 'empty path';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)) return `"${path}" is absolute; paths are relative to the store root`;
  if (path.split(/[\\/]/).some((s) => s === '..')) return `"${path}" leaves the store root (..)`;
  return null;
}

/** Draw one value of a random-search distribution. */
function draw(d: RandomDistribution, u: () => number): FitOptionValue {
  if ('choice' in d) return d.choice[Math.min(d.choice.length - 1, Math.floor(u() * d.choice.length))];
  if ('uniform' in d) return d.uniform[0] + u() * (d.uniform[1] - d.uniform[0]);
  if ('log-uniform' in d) {
    const [lo, hi] = d['log-uniform'];
    return Math.exp(Math.log(lo) + u() * (Math.log(hi) - Math.log(lo)));
  }
  const [lo, hi] = d['int-uniform'];
  return lo + Math.min(hi - lo, Math.floor(u() * (hi - lo + 1)));
}

/**
 * The sweep's jobs in a fixed order: each random draw (if any) times each grid point (last grid key
 * fastest), merged over the fixed options. Deterministic in the spec, so a resubmission names the same jobs.
 */
export function expandJobs(spec: SweepSpec): JobOptions[] {
  let points: JobOptions[] = [{}];
  for (const [k, vs] of Object.entries(spec.grid)) points = points.flatMap((p) => vs.map((v) => ({ ...p, [k]: v })));
  let draws: JobOptions[] = [{}];
  if (spec.random) {
    const u = mulberry32(spec.random.seed);
    const keys = Object.keys(spec.random.space);
    draws = Array.from({ length: spec.random.count }, () => Object.fromEntries(keys.map((k) => [k, draw(spec.random!.space[k], u)])));
  }
  return draws.flatMap((d) => points.map((p) => ({ ...spec.fit, ...d, ...p })));
}

/** The options that vary across the sweep's jobs (the parameters of its results table and plots). */
export function sweptOptions(spec: SweepSpec): string[] {
  return [...Object.keys(spec.random?.space ?? {}), ...Object.keys(spec.grid)];
}
