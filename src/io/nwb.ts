/**
 * NWB (Neurodata Without Borders) reader and writer on plain bytes, through h5wasm (HDF5 compiled to
 * WebAssembly), so the browser app and the CLI run the same code. Reads what spike-data work needs:
 * the `units` table (ragged spike_times with spike_times_index, optional obs_intervals, per-unit
 * columns such as electrodes, quality or heldout), the electrodes table
 * (`general/extracellular_ephys/electrodes`: location, group_name, position, …), the `intervals/trials`
 * table (start/stop, event times, condition and split columns) and behaviour TimeSeries under
 * `processing/behavior` (timestamps, or rate + starting_time). Bad files stop with a message naming the file and the problem.
 */
import type H5Wasm from 'h5wasm';
import type { Dataset as H5Dataset, File as H5File, Group as H5Group } from 'h5wasm';

/** One value per row; ragged columns (those with an `_index` partner) give one array per row. */
export type NwbColumn = Array<number | string | Array<number | string>>;

export interface NwbUnits {
  count: number;
  ids: number[];
  /** Spike times in seconds, per unit, exactly as stored. */
  spikeTimes: Float64Array[];
  /** Observation intervals per unit as flat [start0, stop0, start1, stop1, …] seconds; null if the file has none. */
  obsIntervals: Float64Array[] | null;
  /** Every other column of the table (electrodes, quality, heldout, …), by name. */
  columns: Record<string, NwbColumn>;
}

/** The electrodes table: one row per recording channel; object-reference columns (group) are left out, group_name names the group. */
export interface NwbElectrodes {
  count: number;
  ids: number[];
  /** location, group_name, x, y, z, imp, filtering, … by name. */
  columns: Record<string, NwbColumn>;
}

export interface NwbTrials {
  count: number;
  start: Float64Array;
  stop: Float64Array;
  /** Event times (e.g. move_onset_time), conditions (trial_type, …), split, … by name. */
  columns: Record<string, NwbColumn>;
}

export interface NwbTimeSeries {
  /** The path below processing/behavior, e.g. 'hand_vel' or 'Position/position'. */
  name: string;
  /** (time, dim) in C order, in the series' unit (conversion and offset applied). */
  data: Float64Array;
  dim: number;
  timestamps: Float64Array;
  unit: string | null;
}

export interface NwbSession {
  source: string;
  nwbVersion: string;
  units: NwbUnits;
  trials: NwbTrials | null;
  electrodes: NwbElectrodes | null;
  behaviour: NwbTimeSeries[];
  /** [first, last] second of the recording: obs_intervals if present, else behaviour, else spikes. */
  extent: [number, number];
  extentFrom: 'obs_intervals' | 'behavior' | 'spikes';
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

type H5Module = Awaited<typeof H5Wasm.ready>;
/** The library, loaded on first use: the HDF5 module is 4 MB, so a browser page fetches it only when it opens an NWB file. */
let h5wasm: typeof H5Wasm;
let ready: Promise<H5Module> | null = null;
async function h5(): Promise<H5Module> {
  ready ??= import('h5wasm')
    .then((lib) => {
      h5wasm = lib.default;
      return h5wasm.ready;
    })
    .then((m) => {
      // HDF5 errors become exceptions carrying the error stack instead of being printed to stderr.
      m.activate_throwing_error_handler();
      return m;
    });
  return ready;
}

let fileCounter = 0;

/** Open `bytes` as an HDF5 file in h5wasm's in-memory file system, run `f`, then close and remove it. */
async function withHdf5<T>(bytes: Uint8Array | null, source: string, f: (file: H5File) => T): Promise<{ result: T; bytes: Uint8Array }> {
  const m = await h5();
  const name = `/lowrank-smc-${++fileCounter}.h5`;
  const mode = bytes ? 'r' : 'w';
  if (bytes) m.FS!.writeFile(name, bytes);
  let file: H5File;
  try {
    file = new h5wasm.File(name, mode);
  } catch (e) {
    m.FS!.unlink(name);
    throw new Error(`${source}: ${describeHdf5Error(String(e))}`);
  }
  let result: T;
  try {
    result = f(file);
  } finally {
    file.close();
  }
  try {
    // a written file is complete only once closed
    return { result, bytes: bytes ?? (m.FS!.readFile(name) as Uint8Array) };
  } finally {
    m.FS!.unlink(name);
  }
}

/** The useful line of an HDF5 error stack (e.g. the truncation sizes). */
function describeHdf5Error(text: string): string {
  const trunc = /truncated file: eof = (\d+).*stored_eof = (\d+)/.exec(text);
  if (trunc) return `truncated HDF5 file (${trunc[1]} of ${trunc[2]} bytes)`;
  if (/file signature not found/.test(text)) return 'not an HDF5 file (no HDF5 signature; NWB files are HDF5)';
  const minors = [...text.matchAll(/minor: (.+)/g)].map((x) => x[1].trim());
  return `corrupt HDF5 file (${minors[minors.length - 1] ?? text.split('\n')[0]})`;
}

function hasSignature(bytes: Uint8Array): boolean {
  // The superblock sits at 0 or after a user block of 512, 1024, 2048, … bytes.
  for (let at = 0; at + 8 <= bytes.length; at = at === 0 ? 512 : at * 2) {
    if (HDF5_SIGNATURE.every((b, i) => bytes[at + i] === b)) return true;
  }
  return false;
}

/** Parse an NWB file. `source` names it in error messages. */
export async function parseNwb(bytes: Uint8Array, source = 'NWB file'): Promise<NwbSession> {
  if (bytes.length === 0) throw new Error(`${source}: empty file`);
  if (!hasSignature(bytes)) throw new Error(`${source}: not an HDF5 file (no HDF5 signature; NWB files are HDF5)`);
  const { result } = await withHdf5(bytes, source, (file) => {
    try {
      return readSession(file, source);
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (msg.startsWith(source)) throw e;
      throw new Error(`${source}: ${/HDF5-DIAG/.test(msg) ? describeHdf5Error(msg) : msg}`);
    }
  });
  return result;
}

function readSession(file: H5Group, source: string): NwbSession {
  const attrs = file.attrs;
  const version = attrs.nwb_version?.value;
  if (version === undefined && attrs.neurodata_type?.value !== 'NWBFile') {
    throw new Error(`${source}: an HDF5 file but not NWB (no nwb_version attribute at the root)`);
  }
  const unitsGroup = getGroup(file, 'units');
  if (!unitsGroup) throw new Error(`${source}: no units table (/units): the file holds no sorted spikes`);
  const units = readUnits(unitsGroup, source);
  const electrodesGroup = getGroup(file, 'general/extracellular_ephys/electrodes');
  const electrodes = electrodesGroup ? readElectrodes(electrodesGroup, source) : null;
  if (electrodes) checkUnitElectrodes(units, electrodes, source);
  const trialsGroup = getGroup(file, 'intervals/trials');
  const trials = trialsGroup ? readTrials(trialsGroup, source) : null;
  const behaviourGroup = getGroup(file, 'processing/behavior');
  const behaviour = behaviourGroup ? readBehaviour(behaviourGroup, '', source) : [];
  const { extent, extentFrom } = recordingExtent(units, behaviour, source);
  if (trials && extentFrom !== 'spikes') checkTrialsInside(trials, extent, extentFrom, behaviour, source);
  return { source, nwbVersion: String(version ?? 'unknown'), units, trials, electrodes, behaviour, extent, extentFrom };
}

function getGroup(parent: H5Group, path: string): H5Group | null {
  let g: H5Group = parent;
  for (const part of path.split('/')) {
    if (!g.keys().includes(part)) return null;
    const child = g.get(part);
    if (!(child instanceof h5wasm.Group)) return null;
    g = child;
  }
  return g;
}

function getDataset(g: H5Group, name: string): H5Dataset | null {
  if (!g.keys().includes(name)) return null;
  const d = g.get(name);
  return d instanceof h5wasm.Dataset ? d : null;
}

/** A numeric dataset as float64 (64-bit integers must be exact). */
function numbers(d: H5Dataset, what: string): Float64Array {
  const v = d.value;
  if (typeof v === 'number') return new Float64Array([v]);
  if (typeof v === 'bigint') return new Float64Array([Number(v)]);
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) {
    const out = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      out[i] = Number(v[i]);
      if (!Number.isSafeInteger(out[i])) throw new Error(`${what}: value ${v[i]} cannot be held exactly as a float64`);
    }
    return out;
  }
  if (ArrayBuffer.isView(v)) return Float64Array.from(v as ArrayLike<number>);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'boolean')) return Float64Array.from(v as number[], Number);
  throw new Error(`${what}: expected numbers, found ${typeof v === 'string' || (Array.isArray(v) && typeof v[0] === 'string') ? 'text' : 'unsupported data'}`);
}

/** A column's values: numbers or strings, one per row of the flat dataset. */
function values(d: H5Dataset, what: string): Array<number | string> {
  const v = d.value;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  const shape = d.shape ?? [];
  const flat = Array.from(numbers(d, what));
  // 2-D columns (e.g. a per-trial target position) keep one row per entry: only the first value is a scalar column.
  if (shape.length > 1) {
    const w = shape.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: shape[0] }, (_, i) => flat.slice(i * w, (i + 1) * w).join(','));
  }
  return flat;
}

/** Ragged-column row ends from a VectorIndex, checked against the data length. */
function raggedEnds(g: H5Group, name: string, dataLength: number, rows: number, what: string): Float64Array {
  const idx = getDataset(g, `${name}_index`);
  if (!idx) throw new Error(`${what}: ragged column '${name}' has no '${name}_index'`);
  const ends = numbers(idx, `${what} ${name}_index`);
  if (ends.length !== rows) throw new Error(`${what}: ${name}_index has ${ends.length} entries for ${rows} rows`);
  let prev = 0;
  for (let i = 0; i < ends.length; i++) {
    if (!(ends[i] >= prev) || ends[i] > dataLength) {
      throw new Error(`${what}: ${name}_index is corrupt at row ${i} (end ${ends[i]} after ${prev}, ${dataLength} values)`);
    }
    prev = ends[i];
  }
  if (rows > 0 && prev !== dataLength) throw new Error(`${what}: ${name}_index ends at ${prev} but '${name}' holds ${dataLength} values`);
  return ends;
}

function rowCount(g: H5Group, what: string): number {
  const id = getDataset(g, 'id');
  if (!id) throw new Error(`${what}: table has no 'id' column`);
  return (id.shape ?? [1])[0] ?? 1;
}

/** Per-row columns other than `skip`, ragged ones split by their index. */
function otherColumns(g: H5Group, rows: number, skip: string[], what: string): Record<string, NwbColumn> {
  const out: Record<string, NwbColumn> = {};
  const keys = g.keys();
  for (const k of keys) {
    if (skip.includes(k) || k.endsWith('_index') || k === 'id') continue;
    const d = getDataset(g, k);
    // object references (e.g. the electrodes' group) point into the file; tables name them in other columns
    if (!d || d.metadata.type === H5T_REFERENCE) continue;
    const vals = values(d, `${what} column '${k}'`);
    if (keys.includes(`${k}_index`)) {
      const ends = raggedEnds(g, k, vals.length, rows, what);
      out[k] = Array.from(ends, (e, i) => vals.slice(i === 0 ? 0 : ends[i - 1], e));
    } else {
      if (vals.length !== rows) throw new Error(`${what}: column '${k}' has ${vals.length} values for ${rows} rows`);
      out[k] = vals;
    }
  }
  return out;
}

function readUnits(g: H5Group, source: string): NwbUnits {
  const what = `${source}: units table`;
  const count = rowCount(g, what);
  if (count === 0) throw new Error(`${what} is empty (no units)`);
  const st = getDataset(g, 'spike_times');
  if (!st) throw new Error(`${what} has no spike_times column`);
  const flat = numbers(st, `${what} spike_times`);
  const bad = flat.findIndex((t) => !Number.isFinite(t));
  if (bad >= 0) throw new Error(`${what}: spike time ${flat[bad]} at position ${bad} is not finite`);
  const ends = raggedEnds(g, 'spike_times', flat.length, count, what);
  const spikeTimes = Array.from(ends, (e, i) => flat.slice(i === 0 ? 0 : ends[i - 1], e));
  let obsIntervals: Float64Array[] | null = null;
  const oi = getDataset(g, 'obs_intervals');
  if (oi) {
    const v = numbers(oi, `${what} obs_intervals`);
    if (v.length % 2 !== 0) throw new Error(`${what}: obs_intervals must have 2 columns (start, stop)`);
    const iEnds = raggedEnds(g, 'obs_intervals', v.length / 2, count, what);
    obsIntervals = Array.from(iEnds, (e, i) => v.slice(2 * (i === 0 ? 0 : iEnds[i - 1]), 2 * e));
    for (let u = 0; u < count; u++) {
      const iv = obsIntervals[u];
      for (let j = 0; j < iv.length; j += 2) {
        if (!(iv[j] <= iv[j + 1])) throw new Error(`${what}: unit ${u} has an observation interval [${iv[j]}, ${iv[j + 1]}] that ends before it starts`);
      }
    }
  }
  const ids = Array.from(numbers(getDataset(g, 'id')!, `${what} id`));
  return { count, ids, spikeTimes, obsIntervals, columns: otherColumns(g, count, ['spike_times', 'obs_intervals'], what) };
}

/** HDF5's datatype class of references. */
const H5T_REFERENCE = 7;

function readElectrodes(g: H5Group, source: string): NwbElectrodes {
  const what = `${source}: electrodes table (/general/extracellular_ephys/electrodes)`;
  const count = rowCount(g, what);
  const ids = Array.from(numbers(getDataset(g, 'id')!, `${what} id`));
  return { count, ids, columns: otherColumns(g, count, [], what) };
}

/** The units table's electrodes column (a region of the electrodes table) must name rows that exist. */
function checkUnitElectrodes(units: NwbUnits, electrodes: NwbElectrodes, source: string): void {
  const col = units.columns.electrodes;
  if (!col) return;
  col.forEach((v, u) => {
    for (const e of Array.isArray(v) ? v : [v]) {
      if (typeof e !== 'number' || !Number.isInteger(e) || e < 0 || e >= electrodes.count)
        throw new Error(`${source}: units table: unit ${u} refers to electrode row ${e}, but the electrodes table has ${electrodes.count} rows`);
    }
  });
}

/**
 * The electrodes of each unit (rows of the electrodes table, from the units' electrodes column) with
 * their location and group; null when the file has no electrodes table or the units do not refer to it.
 */
export function unitElectrodes(s: NwbSession): { rows: number[]; location: string[]; group: string[] }[] | null {
  const col = s.units.columns.electrodes;
  if (!s.electrodes || !col) return null;
  const text = (name: string, row: number) => {
    const c = s.electrodes!.columns[name];
    return c === undefined ? '' : String(c[row]);
  };
  return col.map((v) => {
    const rows = (Array.isArray(v) ? v : [v]) as number[];
    return { rows, location: rows.map((r) => text('location', r)), group: rows.map((r) => text('group_name', r)) };
  });
}

function readTrials(g: H5Group, source: string): NwbTrials {
  const what = `${source}: trials table (/intervals/trials)`;
  const count = rowCount(g, what);
  const need = (k: string) => {
    const d = getDataset(g, k);
    if (!d) throw new Error(`${what} has no ${k} column`);
    const v = numbers(d, `${what} ${k}`);
    if (v.length !== count) throw new Error(`${what}: ${k} has ${v.length} values for ${count} trials`);
    return v;
  };
  const start = need('start_time');
  const stop = need('stop_time');
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(start[i]) || !Number.isFinite(stop[i]) || stop[i] < start[i]) {
      throw new Error(`${what}: trial ${i} has start ${start[i]} s and stop ${stop[i]} s (need finite times, stop ≥ start)`);
    }
  }
  return { count, start, stop, columns: otherColumns(g, count, ['start_time', 'stop_time'], what) };
}

/** TimeSeries under a processing module; containers (Position, BehavioralTimeSeries, …) are walked one level down. */
function readBehaviour(g: H5Group, prefix: string, source: string): NwbTimeSeries[] {
  const out: NwbTimeSeries[] = [];
  for (const k of g.keys()) {
    const child = g.get(k);
    if (!(child instanceof h5wasm.Group)) continue;
    const name = prefix ? `${prefix}/${k}` : k;
    if (child.keys().includes('data')) out.push(readTimeSeries(child, name, source));
    else if (!prefix) out.push(...readBehaviour(child, name, source));
  }
  return out;
}

function readTimeSeries(g: H5Group, name: string, source: string): NwbTimeSeries {
  const what = `${source}: behaviour series processing/behavior/${name}`;
  const d = getDataset(g, 'data')!;
  const shape = d.shape ?? [];
  const raw = numbers(d, `${what} data`);
  const n = shape[0] ?? raw.length;
  const dim = n === 0 ? 1 : raw.length / n;
  const attr = (k: string, dflt: number): number => {
    const v = d.attrs[k]?.value;
    return typeof v === 'number' ? v : dflt;
  };
  const conversion = attr('conversion', 1);
  const offset = attr('offset', 0);
  const data = conversion === 1 && offset === 0 ? raw : raw.map((x) => x * conversion + offset);
  let timestamps: Float64Array;
  const ts = getDataset(g, 'timestamps');
  if (ts) {
    timestamps = numbers(ts, `${what} timestamps`);
    if (timestamps.length !== n) throw new Error(`${what}: ${timestamps.length} timestamps for ${n} samples`);
  } else {
    const st = getDataset(g, 'starting_time');
    const rate = st?.attrs.rate?.value;
    if (!st || typeof rate !== 'number' || !(rate > 0)) throw new Error(`${what}: neither timestamps nor starting_time with a positive rate`);
    const t0 = numbers(st, `${what} starting_time`)[0];
    timestamps = Float64Array.from({ length: n }, (_, i) => t0 + i / rate);
  }
  for (let i = 1; i < n; i++) {
    if (!(timestamps[i] > timestamps[i - 1])) throw new Error(`${what}: timestamps must increase (sample ${i}: ${timestamps[i]} after ${timestamps[i - 1]})`);
  }
  const unitAttr = d.attrs.unit?.value;
  return { name, data, dim, timestamps, unit: typeof unitAttr === 'string' ? unitAttr : null };
}

function recordingExtent(units: NwbUnits, behaviour: NwbTimeSeries[], source: string): { extent: [number, number]; extentFrom: NwbSession['extentFrom'] } {
  let lo = Infinity;
  let hi = -Infinity;
  const take = (t: number) => {
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  };
  if (units.obsIntervals && units.obsIntervals.some((iv) => iv.length > 0)) {
    for (const iv of units.obsIntervals) iv.forEach(take);
    return { extent: [lo, hi], extentFrom: 'obs_intervals' };
  }
  const withSamples = behaviour.filter((b) => b.timestamps.length > 0);
  if (withSamples.length) {
    for (const b of withSamples) {
      take(b.timestamps[0]);
      take(b.timestamps[b.timestamps.length - 1]);
    }
    return { extent: [lo, hi], extentFrom: 'behavior' };
  }
  for (const st of units.spikeTimes) st.forEach(take);
  if (!Number.isFinite(lo))
    throw new Error(`${source}: units table has no spikes at all, no obs_intervals and no behaviour: the recording's extent is unknown`);
  return { extent: [lo, hi], extentFrom: 'spikes' };
}

/** Median sample spacing of the behaviour (the slack allowed at the recording's edges), else 0. */
function behaviourStep(behaviour: NwbTimeSeries[]): number {
  const steps = behaviour
    .filter((b) => b.timestamps.length > 1)
    .map((b) => (b.timestamps[b.timestamps.length - 1] - b.timestamps[0]) / (b.timestamps.length - 1));
  return steps.length ? Math.max(...steps) : 0;
}

function checkTrialsInside(trials: NwbTrials, extent: [number, number], from: string, behaviour: NwbTimeSeries[], source: string): void {
  const slack = (from === 'behavior' ? behaviourStep(behaviour) : 0) + 1e-9;
  for (let i = 0; i < trials.count; i++) {
    if (trials.start[i] < extent[0] - slack || trials.stop[i] > extent[1] + slack) {
      throw new Error(
        `${source}: trial ${i} [${trials.start[i]}, ${trials.stop[i]}] s lies outside the recording [${extent[0]}, ${extent[1]}] s (from ${from})`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing (MC_Maze layout): used by simulate-motor --spikes and by the tests' round trips.

export interface NwbWriteSpec {
  identifier: string;
  description: string;
  /** Spike times in seconds, per unit. */
  spikeTimes: ArrayLike<number>[];
  /** Optional per-unit observation interval [start, stop] seconds (one per unit). */
  obsInterval?: [number, number];
  /** Extra per-unit columns (e.g. heldout as 0/1). */
  unitColumns?: Record<string, number[] | string[]>;
  /**
   * The electrodes table (one row per channel, in electrode groups created under
   * general/extracellular_ephys) and each unit's electrode rows (the units' electrodes column).
   */
  electrodes?: { location: string[]; group: string[]; columns?: Record<string, number[] | string[]>; ofUnit: number[][] };
  trials?: { start: ArrayLike<number>; stop: ArrayLike<number>; columns?: Record<string, number[] | string[]> };
  /** Behaviour TimeSeries under processing/behavior: (time, dim) data with timestamps. */
  behaviour?: { name: string; data: ArrayLike<number>; dim: number; timestamps: ArrayLike<number>; unit?: string }[];
}

/** Write an NWB 2.x file (units, trials, behaviour) to bytes. */
export async function writeNwb(spec: NwbWriteSpec): Promise<Uint8Array> {
  const { bytes } = await withHdf5(null, `NWB file ${spec.identifier}`, (file) => {
    file.create_attribute('namespace', 'core');
    file.create_attribute('neurodata_type', 'NWBFile');
    file.create_attribute('nwb_version', '2.6.0');
    file.create_dataset({ name: 'identifier', data: spec.identifier });
    file.create_dataset({ name: 'session_description', data: spec.description });
    file.create_dataset({ name: 'session_start_time', data: '1970-01-01T00:00:00+00:00' });
    const units = file.create_group('units');
    tableAttrs(units, 'Units', 'sorted units');
    const n = spec.spikeTimes.length;
    const ends = new BigInt64Array(n);
    let total = 0;
    spec.spikeTimes.forEach((s, i) => (ends[i] = BigInt((total += s.length))));
    const flat = new Float64Array(total);
    let o = 0;
    for (const s of spec.spikeTimes) for (let i = 0; i < s.length; i++) flat[o++] = s[i];
    units.create_dataset({ name: 'id', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) });
    units.create_dataset({ name: 'spike_times', data: flat });
    units.create_dataset({ name: 'spike_times_index', data: ends });
    const unitCols = ['spike_times'];
    if (spec.obsInterval) {
      const iv = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) iv.set(spec.obsInterval, 2 * i);
      units.create_dataset({ name: 'obs_intervals', data: iv, shape: [n, 2] });
      units.create_dataset({ name: 'obs_intervals_index', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i + 1)) });
      unitCols.push('obs_intervals');
    }
    for (const [k, v] of Object.entries(spec.unitColumns ?? {})) {
      units.create_dataset({ name: k, data: typeof v[0] === 'string' ? (v as string[]) : Float64Array.from(v as number[]) });
      unitCols.push(k);
    }
    if (spec.electrodes) {
      const e = spec.electrodes;
      if (e.ofUnit.length !== n) throw new Error(`NWB writer: electrodes given for ${e.ofUnit.length} units, the file has ${n}`);
      const ephys = file.create_group('general').create_group('extracellular_ephys');
      for (const name of new Set(e.group)) {
        const g = ephys.create_group(name);
        g.create_attribute('namespace', 'core');
        g.create_attribute('neurodata_type', 'ElectrodeGroup');
        g.create_attribute('description', name);
        g.create_attribute('location', e.location[e.group.indexOf(name)]);
      }
      const table = ephys.create_group('electrodes');
      tableAttrs(table, 'DynamicTable', 'electrodes');
      table.create_dataset({ name: 'id', data: BigInt64Array.from(e.location, (_, i) => BigInt(i)) });
      table.create_dataset({ name: 'location', data: e.location });
      table.create_dataset({ name: 'group', data: e.group.map((name) => (ephys.get(name) as H5Group).create_reference()) });
      table.create_dataset({ name: 'group_name', data: e.group });
      for (const [k, v] of Object.entries(e.columns ?? {}))
        table.create_dataset({ name: k, data: typeof v[0] === 'string' ? (v as string[]) : Float64Array.from(v as number[]) });
      table.create_attribute('colnames', ['location', 'group', 'group_name', ...Object.keys(e.columns ?? {})]);
      let total = 0;
      units.create_dataset({ name: 'electrodes', data: BigInt64Array.from(e.ofUnit.flat(), BigInt) });
      units.create_dataset({ name: 'electrodes_index', data: BigInt64Array.from(e.ofUnit, (rows) => BigInt((total += rows.length))) });
      unitCols.push('electrodes');
    }
    units.create_attribute('colnames', unitCols);
    if (spec.trials) {
      const t = spec.trials;
      const trials = file.create_group('intervals').create_group('trials');
      tableAttrs(trials, 'TimeIntervals', 'trials');
      trials.create_dataset({ name: 'id', data: BigInt64Array.from({ length: t.start.length }, (_, i) => BigInt(i)) });
      trials.create_dataset({ name: 'start_time', data: Float64Array.from(t.start) });
      trials.create_dataset({ name: 'stop_time', data: Float64Array.from(t.stop) });
      for (const [k, v] of Object.entries(t.columns ?? {})) {
        trials.create_dataset({ name: k, data: typeof v[0] === 'string' ? (v as string[]) : Float64Array.from(v as number[]) });
      }
      trials.create_attribute('colnames', ['start_time', 'stop_time', ...Object.keys(t.columns ?? {})]);
    }
    if (spec.behaviour?.length) {
      const beh = file.create_group('processing').create_group('behavior');
      beh.create_attribute('neurodata_type', 'ProcessingModule');
      beh.create_attribute('description', 'behaviour');
      for (const b of spec.behaviour) {
        const ts = beh.create_group(b.name);
        ts.create_attribute('neurodata_type', 'TimeSeries');
        const steps = b.timestamps.length;
        const d = ts.create_dataset({ name: 'data', data: Float64Array.from(b.data), shape: b.dim === 1 ? [steps] : [steps, b.dim] });
        d.create_attribute('unit', b.unit ?? 'a.u.');
        d.create_attribute('conversion', 1);
        d.create_attribute('offset', 0);
        ts.create_dataset({ name: 'timestamps', data: Float64Array.from(b.timestamps) });
      }
    }
  });
  return bytes;
}

function tableAttrs(g: H5Group, type: string, description: string): void {
  g.create_attribute('namespace', 'core');
  g.create_attribute('neurodata_type', type);
  g.create_attribute('description', description);
}
