/** Helpers shared by the CLI commands: argument checks, model files, data loading. */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stat } from 'node:fs/promises';
import type { Backend } from '../gpu/acquire.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { normalise, toCanonical, validateInputs, validateObservations, type Dataset, type Normalisation } from '../io/dataset.js';
import { loadArray, loadNwb, writeFileAtomic } from '../io/files.js';
import { binSession, selectTrials, type BinnedSession, type BinOptions, type SplitName } from '../io/nwb-bin.js';
import { LowRankRNN } from '../models/lowrank-rnn.js';
import { CnnEncoder } from '../models/encoder.js';
import { parseModel, serializeModel, type TrainingRecord } from '../models/model-file.js';
import { choiceOption, numberOption } from '../util/options.js';

export { choiceOption, numberOption };

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

export interface LoadedData {
  ds: Dataset;
  source: string;
}

/** Load observations, bring them to (trial, time, channel), validate for the likelihood. An .nwb file is binned with `nwb`'s options (held-in units). */
export async function loadObservations(path: string, layout: string | undefined, obs: 'gauss' | 'poisson', nwb?: NwbValues): Promise<Dataset> {
  if (isNwb(path)) {
    const keep = trialsOption(nwb?.trials);
    const b = await loadBinnedNwb(path, nwb ?? {});
    const ds = selectTrials(b.heldInCounts, b.split, keep);
    if (ds.trials === 0) throw new Error(`${path}: no ${nwb?.trials} trials in the split`);
    return ds;
  }
  const arr = await loadArray(path);
  const ds = toCanonical(arr, layout, path);
  validateObservations(ds, obs, path);
  return ds;
}

/**
 * Counts of an NWB session for co-smoothing training (fit --held-in-channels with NWB data): the held-in
 * units, then the held-out ones, the trials of --trials. `heldInChannels` (what the encoder reads) must be
 * the held-in count.
 */
export async function heldInThenOutCounts(path: string, nwb: NwbValues, heldInChannels: string): Promise<Dataset> {
  const b = await loadBinnedNwb(path, nwb);
  const how = `with NWB data the channels are the held-in units, then the held-out ones (--held-out-neurons), and the encoder reads the held-in units`;
  if (!b.heldOutCounts) throw new Error(`--held-in-channels ${heldInChannels}: ${path} has no held-out units with these options; ${how}`);
  if (Number(heldInChannels) !== b.heldIn.length)
    throw new Error(`--held-in-channels ${heldInChannels}: ${path} has ${b.heldIn.length} held-in and ${b.heldOut.length} held-out units; ${how}`);
  const keep = trialsOption(nwb.trials);
  const a = selectTrials(b.heldInCounts, b.split, keep);
  const o = selectTrials(b.heldOutCounts, b.split, keep);
  if (a.trials === 0) throw new Error(`${path}: no ${nwb.trials} trials in the split`);
  const C = a.channels + o.channels;
  const data = new Float32Array(a.trials * a.time * C);
  for (let r = 0; r < a.trials * a.time; r++) {
    data.set(a.data.subarray(r * a.channels, (r + 1) * a.channels), r * C);
    data.set(o.data.subarray(r * o.channels, (r + 1) * o.channels), r * C + a.channels);
  }
  return { data, trials: a.trials, time: a.time, channels: C };
}

/**
 * Inputs from a file, or, when the data are an NWB session and `path` is not an .npy/.csv file, from the
 * session's behaviour series of those names (binned like the data, the same trials).
 */
export async function loadInputs(
  path: string | undefined,
  layout: string | undefined,
  data: Dataset,
  dataPath: string,
  nwb?: NwbValues,
): Promise<Dataset | null> {
  if (!path) return null;
  if (isNwb(dataPath) && nwbInputSeries(path)) {
    if (layout !== undefined) throw new Error(`--inputs-layout does not apply to inputs binned from ${dataPath}`);
    return sessionInputs(dataPath, path, nwb);
  }
  const arr = await loadArray(path);
  const ds = toCanonical(arr, layout, path);
  validateObservations(ds, 'gauss', path); // finite values
  validateInputs(ds, data, path, dataPath);
  return ds;
}

/** Behaviour series `names` (comma-separated) of an NWB session binned as inputs, the trials of --trials. */
export async function sessionInputs(dataPath: string, names: string, nwb?: NwbValues): Promise<Dataset> {
  const b = await loadBinnedNwb(dataPath, { ...nwb, inputs: names });
  return selectTrials(b.inputs!, b.split, trialsOption(nwb?.trials));
}

export interface LoadedModel {
  model: LowRankRNN;
  normalisation: Normalisation | null;
  training: TrainingRecord | null;
  /** The model's CNN encoder (model files with config.encoder), for the encoder proposal. */
  encoder: CnnEncoder | null;
}

/** Read and check a model file (no GPU work). */
export async function readModelFile(path: string): Promise<ReturnType<typeof parseModel>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${path}: file not found` : `${path}: cannot read (${(e as Error).message})`);
  }
  return parseModel(text, path);
}

export async function loadModelFile(engine: Engine, path: string, parsed?: ReturnType<typeof parseModel>): Promise<LoadedModel> {
  parsed ??= await readModelFile(path);
  const encoder = parsed.config.encoder && parsed.encoder ? new CnnEncoder(engine, parsed.config.encoder, parsed.config.rank, parsed.encoder) : null;
  return { model: new LowRankRNN(engine, parsed.config, parsed.params), normalisation: parsed.normalisation, training: parsed.training, encoder };
}

/** Write a model file atomically (a crash never leaves a partial file at `path`). */
export async function saveModelFile(
  path: string,
  model: LowRankRNN,
  normalisation: Normalisation | null,
  training: TrainingRecord | null,
  encoder: CnnEncoder | null = null,
): Promise<void> {
  const file = serializeModel(model.config, await model.hostParams(), normalisation, training, encoder ? await encoder.hostParams() : null);
  await writeFileAtomic(path, JSON.stringify(file));
}

/** Apply a model's stored normalisation to data in original units. */
export function applyNormalisation(ds: Dataset, norm: Normalisation | null): Dataset {
  return norm ? normalise(ds, norm) : ds;
}

// ---- NWB sessions: the binning options fit, filter, eval, bin and eval-spikes share

export const NWB_OPTIONS = {
  'bin-ms': { type: 'string' },
  align: { type: 'string' },
  'align-window': { type: 'string' },
  'window-ms': { type: 'string' },
  'forward-ms': { type: 'string' },
  'held-out-neurons': { type: 'string' },
  split: { type: 'string' },
  'split-seed': { type: 'string' },
  trials: { type: 'string' },
  behaviour: { type: 'string' },
  condition: { type: 'string' },
} as const;

/** The binning options; `inputs` (the commands' own --inputs) names behaviour series that drive the model. */
export type NwbValues = Partial<Record<keyof typeof NWB_OPTIONS | 'inputs', string>>;

/** Behaviour series named by --inputs with NWB data (undefined when it names an .npy or .csv file). */
export function nwbInputSeries(inputs: string | undefined): string[] | undefined {
  if (inputs === undefined || /\.(npy|csv)$/i.test(inputs)) return undefined;
  return inputs
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

export const NWB_USAGE = `NWB sessions (--data session.nwb): spikes of the units table binned into (trial, time, unit) counts
  --bin-ms W (20)        bin width
  --align EVENT --align-window=A,B   windows [EVENT + A, EVENT + B) ms around a trials-table event (e.g. move_onset_time,
                         start_time; write the = when A is negative); trials without the event are skipped
  --window-ms L          without --align: the recording cut into consecutive windows of L ms (default: one window)
  --held-out-neurons N|I,J,…|file   hold out N units drawn with --split-seed, the listed unit indices ("3," for one),
                         or the units table's heldout column; fit, filter and eval see the held-in units only
  --split file|TRAIN,VAL,TEST   trial split from the trials table's split column (default when there is one) or drawn
                         with --split-seed in these proportions (default 0.7,0.15,0.15)
  --split-seed S (0)     --trials all|train|val|test|train,val (all): the trials used
  --behaviour NAME,…     behaviour series resampled to the bins (default: all under processing/behavior)
  --condition COL,…      trials-table columns that name a condition (for PSTHs)  --forward-ms F  bins after each window
  --inputs NAME,…        model inputs from behaviour series of the session (e.g. condition_input), binned like the
                         behaviour; an .npy or .csv path still names a file`;

export const isNwb = (path: string): boolean => path.toLowerCase().endsWith('.nwb');

export function trialsOption(v: string | undefined): SplitName[] {
  if (v === undefined || v === 'all') return ['train', 'val', 'test'];
  const names = v.split(',').map((x) => x.trim());
  const bad = names.find((x) => !['train', 'val', 'test'].includes(x));
  if (bad !== undefined) throw new Error(`--trials must be all or a list of train, val, test; got "${v}"`);
  return names as SplitName[];
}

function numberList(v: string, name: string): number[] {
  const xs = v
    .split(',')
    .filter((x) => x.trim() !== '')
    .map((x) => Number(x));
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) throw new Error(`--${name} must be numbers separated by commas, got "${v}"`);
  return xs;
}

/** Binning options from the command line (checked before any file is read). */
export function nwbBinOptions(v: NwbValues, hasSplitColumn: boolean): BinOptions {
  const aw = v['align-window'];
  const window = aw === undefined ? undefined : numberList(aw, 'align-window');
  if (window && window.length !== 2) throw new Error(`--align-window must be two numbers A,B (ms), got "${aw}"`);
  if (window && v.align === undefined) throw new Error('--align-window needs --align EVENT (or use --window-ms to cut the session into windows)');
  if (v.align !== undefined && !window) throw new Error(`--align ${v.align} needs --align-window A,B (ms around the event, e.g. --align-window=-250,450)`);
  let heldOut: BinOptions['heldOut'];
  const h = v['held-out-neurons'];
  if (h === 'file') heldOut = 'file';
  else if (h !== undefined) {
    const xs = numberList(h, 'held-out-neurons');
    heldOut = h.includes(',') ? { units: xs } : { count: numberOption(h, 'held-out-neurons', { int: true, min: 0 }) };
  }
  let split: BinOptions['split'];
  if (v.split === 'file' || (v.split === undefined && hasSplitColumn && v.align !== undefined)) split = 'file';
  else {
    const f = v.split === undefined ? [0.7, 0.15, 0.15] : numberList(v.split, 'split');
    if (f.length !== 3) throw new Error(`--split must be file or three proportions TRAIN,VAL,TEST, got "${v.split}"`);
    split = { fractions: f as [number, number, number] };
  }
  return {
    binMs: numberOption(v['bin-ms'], 'bin-ms', { positive: true, default: 20 }),
    align: v.align,
    window: window as [number, number] | undefined,
    windowMs: v['window-ms'] === undefined ? undefined : numberOption(v['window-ms'], 'window-ms', { positive: true }),
    forwardMs: v['forward-ms'] === undefined ? undefined : numberOption(v['forward-ms'], 'forward-ms', { positive: true }),
    heldOut,
    split,
    seed: numberOption(v['split-seed'], 'split-seed', { int: true, min: 0, default: 0 }),
    behaviour: v.behaviour === undefined ? 'all' : v.behaviour.split(',').map((x) => x.trim()),
    condition: v.condition?.split(',').map((x) => x.trim()),
    inputs: nwbInputSeries(v.inputs),
  };
}

/** Read and bin an NWB session with the command line's options. */
export async function loadBinnedNwb(path: string, v: NwbValues): Promise<BinnedSession> {
  nwbBinOptions(v, false); // bad options stop before the file is read
  // a command reads its observations and its inputs from the same session: read and bin it once
  const st = await stat(path).catch(() => null); // a missing file is reported by the reader
  const key = JSON.stringify([path, st?.mtimeMs, st?.size, ...Object.keys(NWB_OPTIONS).map((k) => v[k as keyof NwbValues]), nwbInputSeries(v.inputs)]);
  if (lastBinned?.key !== key) {
    const session = await loadNwb(path);
    lastBinned = { key, binned: binSession(session, nwbBinOptions(v, session.trials?.columns.split !== undefined)) };
  }
  return lastBinned.binned;
}
let lastBinned: { key: string; binned: BinnedSession } | null = null;
