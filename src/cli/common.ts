/** Helpers shared by the CLI commands: argument checks, model files, data loading. */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stat } from 'node:fs/promises';
import type { Backend } from '../gpu/acquire.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { normalise, toCanonical, validateInputs, validateObservations, type Dataset, type Normalisation } from '../io/dataset.js';
import { loadArray, writeFileAtomic } from '../io/files.js';
import { LowRankRNN } from '../models/lowrank-rnn.js';
import { parseModel, serializeModel, type TrainingRecord } from '../models/model-file.js';

export function numberOption(
  value: string | undefined, name: string, opts: { int?: boolean; min?: number; max?: number; positive?: boolean; default?: number } = {},
): number {
  if (value === undefined) {
    if (opts.default !== undefined) return opts.default;
    throw new Error(`--${name} is required`);
  }
  const v = Number(value);
  if (!Number.isFinite(v) || (opts.int && !Number.isInteger(v))) throw new Error(`--${name} must be ${opts.int ? 'an integer' : 'a number'}, got "${value}"`);
  if (opts.min !== undefined && v < opts.min) throw new Error(`--${name} must be ≥ ${opts.min}, got ${v}`);
  if (opts.positive && !(v > 0)) throw new Error(`--${name} must be > 0, got ${v}`);
  if (opts.max !== undefined && v > opts.max) throw new Error(`--${name} must be ≤ ${opts.max}, got ${v}`);
  return v;
}

export function choiceOption<T extends string>(value: string | undefined, name: string, choices: readonly T[], fallback?: T): T {
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`--${name} is required (one of ${choices.join(', ')})`);
  }
  if (!choices.includes(value as T)) throw new Error(`--${name} must be one of ${choices.join(', ')}, got "${value}"`);
  return value as T;
}

export async function openEngine(backend: string | undefined): Promise<Engine> {
  return createEngine({ backend: (backend ?? 'auto') as Backend });
}

/** Check that a file can be written at `path` before any GPU work (its directory exists). */
export async function checkWritable(path: string, what: string): Promise<void> {
  const dir = dirname(path);
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new Error();
  } catch {
    throw new Error(`${what} ${path}: directory ${dir} does not exist`);
  }
}

/** Load observations, bring them to (trial, time, channel), validate for the likelihood. */
export async function loadObservations(path: string, layout: string | undefined, obs: 'gauss' | 'poisson'): Promise<Dataset> {
  const arr = await loadArray(path);
  const ds = toCanonical(arr, layout, path);
  validateObservations(ds, obs, path);
  return ds;
}

export async function loadInputs(path: string | undefined, layout: string | undefined, data: Dataset, dataPath: string): Promise<Dataset | null> {
  if (!path) return null;
  const arr = await loadArray(path);
  const ds = toCanonical(arr, layout, path);
  validateObservations(ds, 'gauss', path); // finite values
  validateInputs(ds, data, path, dataPath);
  return ds;
}

export interface LoadedModel {
  model: LowRankRNN;
  normalisation: Normalisation | null;
  training: TrainingRecord | null;
}

export async function loadModelFile(engine: Engine, path: string): Promise<LoadedModel> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${path}: file not found` : `${path}: cannot read (${(e as Error).message})`);
  }
  const parsed = parseModel(text, path);
  return { model: new LowRankRNN(engine, parsed.config, parsed.params), normalisation: parsed.normalisation, training: parsed.training };
}

/** Write a model file atomically (a crash never leaves a partial file at `path`). */
export async function saveModelFile(path: string, model: LowRankRNN, normalisation: Normalisation | null, training: TrainingRecord | null): Promise<void> {
  const file = serializeModel(model.config, await model.hostParams(), normalisation, training);
  await writeFileAtomic(path, JSON.stringify(file));
}

/** Apply a model's stored normalisation to data in original units. */
export function applyNormalisation(ds: Dataset, norm: Normalisation | null): Dataset {
  return norm ? normalise(ds, norm) : ds;
}
