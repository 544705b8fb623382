// NWB files written directly with h5wasm for the tests (no download), in the layouts pynwb writes for
// the Neural Latents Benchmark's MC_Maze session and for a hippocampal session. Written independently
// of src/io/nwb.ts's writer so that the reader is not only checked against itself.
import h5wasm from 'h5wasm';
import { mulberry32 } from '../src/util/random.js';

type File = InstanceType<typeof h5wasm.File>;
type Group = InstanceType<typeof h5wasm.Group>;

let n = 0;
async function build(fill: (f: File) => void): Promise<Uint8Array> {
  const m = await h5wasm.ready;
  const name = `/test-${++n}.nwb`;
  const f = new h5wasm.File(name, 'w');
  fill(f);
  f.close();
  const bytes = m.FS!.readFile(name) as Uint8Array;
  m.FS!.unlink(name);
  return bytes;
}

function nwbRoot(f: File): void {
  f.create_attribute('namespace', 'core');
  f.create_attribute('neurodata_type', 'NWBFile');
  f.create_attribute('nwb_version', '2.4.0');
  f.create_dataset({ name: 'identifier', data: 'test' });
}

function table(g: Group, type: string, rows: number): void {
  g.create_attribute('neurodata_type', type);
  g.create_attribute('description', type);
  g.create_dataset({ name: 'id', data: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)) });
}

/** Ragged column: flat data plus a VectorIndex of row ends (unsigned 32-bit, as pynwb picks for small tables). */
function ragged(g: Group, name: string, rows: ArrayLike<number>[]): void {
  const flat = new Float64Array(rows.reduce((a, r) => a + r.length, 0));
  const ends = new Uint32Array(rows.length);
  let o = 0;
  rows.forEach((r, i) => {
    for (let j = 0; j < r.length; j++) flat[o++] = r[j];
    ends[i] = o;
  });
  g.create_dataset({ name, data: flat });
  g.create_dataset({ name: `${name}_index`, data: ends });
}

export interface MazeSpec {
  spikeTimes: Float64Array[];
  trialStart: number[];
  trialStop: number[];
  moveOnset: number[];
  trialType: number[];
  split: string[];
  heldout: number[];
  /** hand_vel sampled at 1 kHz over [0, duration) as v(t) = (a·t + b, c·t + d). */
  velocity: { a: number; b: number; c: number; d: number };
  duration: number;
}

/** A small session in the MC_Maze layout: units (+ heldout, obs_intervals), trials with events, hand_vel/hand_pos. */
export function mazeSession(seed = 1, units = 6, trials = 8): MazeSpec {
  const r = mulberry32(seed);
  const duration = trials * 1.0 + 0.5;
  const spikeTimes = Array.from({ length: units }, (_, u) => {
    const out: number[] = [];
    // ~ (5 + 5u) Hz, rounded to the 1 ms clock of the recording system
    for (let t = r() * 0.05; t < duration; t += -Math.log(1 - r()) / (5 + 5 * u)) out.push(Math.round(t * 1000) / 1000);
    return Float64Array.from(out);
  });
  const trialStart = Array.from({ length: trials }, (_, k) => 0.25 + k);
  return {
    spikeTimes,
    trialStart,
    trialStop: trialStart.map((s) => s + 0.95),
    moveOnset: trialStart.map((s, k) => (k === 3 ? NaN : s + 0.4 + 0.01 * k)),
    trialType: trialStart.map((_, k) => k % 3),
    split: trialStart.map((_, k) => (k === 7 ? 'none' : k % 4 === 3 ? 'val' : 'train')),
    heldout: Array.from({ length: units }, (_, u) => (u % 3 === 2 ? 1 : 0)),
    velocity: { a: 2, b: -1, c: -0.5, d: 3 },
    duration,
  };
}

/** The electrodes table as pynwb writes it: two arrays (ElectrodeGroups), a reference column to them, group names, positions. */
function electrodesTable(f: File, rows: number): void {
  const ephys = f.create_group('general').create_group('extracellular_ephys');
  const names = ['M1 array', 'PMd array'];
  for (const name of names) {
    const g = ephys.create_group(name);
    g.create_attribute('neurodata_type', 'ElectrodeGroup');
    g.create_attribute('location', name.split(' ')[0]);
  }
  const e = ephys.create_group('electrodes');
  table(e, 'DynamicTable', rows);
  const group = Array.from({ length: rows }, (_, i) => names[i < rows / 2 ? 0 : 1]);
  e.create_attribute('colnames', ['x', 'y', 'z', 'imp', 'location', 'filtering', 'group', 'group_name']);
  e.create_dataset({ name: 'x', data: Float64Array.from({ length: rows }, (_, i) => i * 0.4) });
  e.create_dataset({ name: 'y', data: Float64Array.from({ length: rows }, () => NaN) });
  e.create_dataset({ name: 'z', data: Float64Array.from({ length: rows }, () => NaN) });
  e.create_dataset({ name: 'imp', data: Float64Array.from({ length: rows }, () => NaN) });
  e.create_dataset({ name: 'location', data: group.map((g) => g.split(' ')[0]) });
  e.create_dataset({ name: 'filtering', data: group.map(() => 'unknown') });
  e.create_dataset({ name: 'group', data: group.map((g) => (ephys.get(g) as Group).create_reference()) });
  e.create_dataset({ name: 'group_name', data: group });
}

export async function writeMaze(s: MazeSpec, opts: { omitTrials?: boolean; omitUnits?: boolean; emptyUnits?: boolean } = {}): Promise<Uint8Array> {
  return build((f) => {
    nwbRoot(f);
    if (!opts.omitUnits) {
      const u = f.create_group('units');
      const spikes = opts.emptyUnits ? [] : s.spikeTimes;
      table(u, 'Units', spikes.length);
      u.create_attribute('colnames', ['spike_times', 'obs_intervals', 'electrodes', 'heldout']);
      ragged(u, 'spike_times', spikes);
      const iv = spikes.map(() => [0, s.duration]);
      u.create_dataset({ name: 'obs_intervals', data: Float64Array.from(iv.flat()), shape: [iv.length, 2] });
      u.create_dataset({ name: 'obs_intervals_index', data: Uint32Array.from(iv.map((_, i) => i + 1)) });
      u.create_dataset({ name: 'electrodes', data: BigInt64Array.from(spikes.map((_, i) => BigInt(i))) });
      u.create_dataset({ name: 'heldout', data: Int8Array.from(s.heldout.slice(0, spikes.length)) });
      electrodesTable(f, spikes.length);
    }
    if (!opts.omitTrials) {
      const t = f.create_group('intervals').create_group('trials');
      table(t, 'TimeIntervals', s.trialStart.length);
      t.create_dataset({ name: 'start_time', data: Float64Array.from(s.trialStart) });
      t.create_dataset({ name: 'stop_time', data: Float64Array.from(s.trialStop) });
      t.create_dataset({ name: 'move_onset_time', data: Float64Array.from(s.moveOnset) });
      t.create_dataset({ name: 'trial_type', data: BigInt64Array.from(s.trialType.map(BigInt)) });
      t.create_dataset({ name: 'split', data: s.split });
    }
    const beh = f.create_group('processing').create_group('behavior');
    beh.create_attribute('neurodata_type', 'ProcessingModule');
    const steps = Math.round(s.duration * 1000);
    const ts = Float64Array.from({ length: steps }, (_, i) => i / 1000);
    const { a, b, c, d } = s.velocity;
    const vel = new Float64Array(2 * steps);
    ts.forEach((t, i) => {
      vel[2 * i] = a * t + b;
      vel[2 * i + 1] = c * t + d;
    });
    const hv = beh.create_group('hand_vel');
    hv.create_attribute('neurodata_type', 'TimeSeries');
    hv.create_dataset({ name: 'data', data: vel, shape: [steps, 2] }).create_attribute('unit', 'mm/s');
    hv.create_dataset({ name: 'timestamps', data: ts });
    // hand_pos in mm stored in m with a conversion factor, to check that it is applied
    const hp = beh.create_group('hand_pos');
    hp.create_attribute('neurodata_type', 'TimeSeries');
    const pos = hp.create_dataset({ name: 'data', data: vel.map((v) => v / 1000), shape: [steps, 2] });
    pos.create_attribute('unit', 'mm');
    pos.create_attribute('conversion', 1000);
    hp.create_dataset({ name: 'timestamps', data: ts });
  });
}

/** A hippocampal-like session: units with obs_intervals and a quality column, no trials, Position/position at 39.0625 Hz (rate + starting_time). */
export async function writeHippocampal(
  seed = 2,
): Promise<{ bytes: Uint8Array; spikeTimes: Float64Array[]; rate: number; start: number; position: Float64Array }> {
  const r = mulberry32(seed);
  const rate = 39.0625;
  const start = 0.5;
  const samples = 400;
  const spikeTimes = Array.from({ length: 4 }, () => Float64Array.from({ length: 50 }, () => start + r() * (samples / rate)).sort());
  const position = Float64Array.from({ length: samples }, (_, i) => Math.sin(i / 20));
  const bytes = await build((f) => {
    nwbRoot(f);
    const u = f.create_group('units');
    table(u, 'Units', 4);
    ragged(u, 'spike_times', spikeTimes);
    u.create_dataset({
      name: 'obs_intervals',
      data: Float64Array.from([start, start + samples / rate, start, start + samples / rate, start, start + samples / rate, start, start + samples / rate]),
      shape: [4, 2],
    });
    u.create_dataset({ name: 'obs_intervals_index', data: Uint32Array.from([1, 2, 3, 4]) });
    u.create_dataset({ name: 'quality', data: ['good', 'good', 'mua', 'good'] });
    const pos = f.create_group('processing').create_group('behavior').create_group('Position');
    pos.create_attribute('neurodata_type', 'Position');
    const ss = pos.create_group('position');
    ss.create_attribute('neurodata_type', 'SpatialSeries');
    ss.create_dataset({ name: 'data', data: position });
    ss.create_dataset({ name: 'starting_time', data: start }).create_attribute('rate', rate);
  });
  return { bytes, spikeTimes, rate, start, position };
}
