/**
 * Spike binning of an NWB session (no Node APIs): trial-aligned windows or a continuous session cut
 * into windows, behaviour resampled to the same bins, the held-in / held-out neuron split and the
 * train / val / test trial split, all reproducible from a seed or taken from the file.
 *
 * Bin i of a window starting at s covers [s + i·w, s + (i+1)·w) (w = bin width): a spike exactly
 * on an edge counts in the later bin. Behaviour in a bin is the mean over the bin of its piecewise-
 * linear interpolation, so a signal linear in time gives its value at the bin centre and a fast
 * signal is averaged rather than sampled.
 */
import { mulberry32 } from '../util/random.js';
import type { Dataset } from './dataset.js';
import { unitElectrodes, type NwbColumn, type NwbSession, type NwbTimeSeries } from './nwb.js';

export type SplitName = 'train' | 'val' | 'test';

export interface BinOptions {
  binMs: number;
  /** Trials' event column to align to (e.g. move_onset_time, or start_time); needs `window`. */
  align?: string;
  /** Window [a, b) in ms around the event. */
  window?: [number, number];
  /** Without `align`: the recording cut into consecutive windows of this length (default: one window). */
  windowMs?: number;
  /** Extra bins after each window for forward prediction (ms, a multiple of the bin). */
  forwardMs?: number;
  /** Behaviour series to resample ('all' by default; names or their last path component). */
  behaviour?: string[] | 'all';
  /** Held-out neurons: a count drawn with `seed`, a list of unit indices, or the file's `heldout` column. */
  heldOut?: { count: number } | { units: number[] } | 'file';
  /** Trial split: the file's `split` column, or drawn with `seed` in proportions [train, val, test]. */
  split?: 'file' | { fractions: [number, number, number] };
  seed?: number;
  /** Trials-table columns joined into a condition label per trial (for PSTHs), e.g. ['trial_type']. */
  condition?: string[];
  /**
   * Behaviour series that drive a model (e.g. 'condition_input'): resampled like behaviour, over the
   * window and the forward bins, their dimensions side by side in the order given.
   */
  inputs?: string[];
}

export interface BinnedSession {
  binSeconds: number;
  trials: number;
  time: number;
  /** Spike counts (trial, time, unit) of the held-in units, then the held-out units. */
  heldInCounts: Dataset;
  heldOutCounts: Dataset | null;
  /** Unit indices (rows of the units table) in the order of the count arrays. */
  heldIn: number[];
  heldOut: number[];
  /** Model inputs (trial, time, dim) from the `inputs` series, or null. */
  inputs: Dataset | null;
  /** Forward-prediction bins (trial, forwardTime, unit) of held-in and held-out units (and inputs), if asked for. */
  forward: { heldIn: Dataset; heldOut: Dataset | null; inputs: Dataset | null } | null;
  /** Window start (s) of each binned trial and its row in the trials table (-1 for continuous windows). */
  windowStart: Float64Array;
  trialRows: number[];
  split: SplitName[];
  /** Behaviour resampled to the bins, (trial, time, dim), by series name. */
  behaviour: { name: string; data: Dataset }[];
  condition: string[] | null;
  /** Electrode rows, locations and groups of every unit of the file (by row of the units table), or null without an electrodes table. */
  electrodes: ReturnType<typeof unitElectrodes>;
  /** Trials left out and why (no event time, split 'none', …). */
  skipped: { row: number; reason: string }[];
}

const SPLITS: readonly string[] = ['train', 'val', 'test'];

/** Bin a session; every problem is reported before any counting. */
export function binSession(s: NwbSession, o: BinOptions): BinnedSession {
  const src = s.source;
  if (!(o.binMs > 0) || !Number.isFinite(o.binMs)) throw new Error(`bin width must be a positive number of ms, got ${o.binMs}`);
  const w = o.binMs / 1000;
  const binsIn = (ms: number, what: string): number => {
    const n = Math.round(ms / o.binMs);
    if (Math.abs(n * o.binMs - ms) > 1e-6 * Math.max(1, Math.abs(ms))) throw new Error(`${what} of ${ms} ms is not a whole number of ${o.binMs} ms bins`);
    return n;
  };
  const seed = o.seed ?? 0;
  const skipped: BinnedSession['skipped'] = [];
  // ---- windows
  let starts: number[] = [];
  let rows: number[] = [];
  let time: number;
  if (o.align !== undefined) {
    const trials = s.trials;
    if (!trials) throw new Error(`${src}: no trials table (/intervals/trials) to align to '${o.align}'`);
    if (!o.window) throw new Error(`aligning to '${o.align}' needs a window (ms) around it, e.g. -250,450`);
    const [a, b] = o.window;
    if (!(b > a)) throw new Error(`window ${a},${b} ms must end after it starts`);
    time = binsIn(b - a, 'the window');
    const event = o.align === 'start_time' ? Array.from(trials.start) : o.align === 'stop_time' ? Array.from(trials.stop) : trials.columns[o.align];
    if (!event)
      throw new Error(`${src}: the trials table has no column '${o.align}' (columns: start_time, stop_time, ${Object.keys(trials.columns).join(', ')})`);
    for (let r = 0; r < trials.count; r++) {
      const t = event[r];
      if (typeof t !== 'number') throw new Error(`${src}: trials column '${o.align}' holds ${typeof t === 'string' ? 'text' : 'lists'}, not event times`);
      if (!Number.isFinite(t)) {
        skipped.push({ row: r, reason: `no ${o.align}` });
        continue;
      }
      starts.push(t + a / 1000);
      rows.push(r);
    }
  } else {
    const [t0, t1] = s.extent;
    const total = Math.floor((t1 - t0) / w + 1e-9);
    time = o.windowMs === undefined ? total : binsIn(o.windowMs, 'the window length');
    const count = time > 0 ? Math.floor(total / time) : 0;
    if (count === 0) throw new Error(`${src}: the recording (${(t1 - t0).toFixed(3)} s) is shorter than one window of ${time} bin(s) of ${o.binMs} ms`);
    starts = Array.from({ length: count }, (_, i) => t0 + i * time * w);
    rows = starts.map(() => -1);
  }
  const forwardBins = o.forwardMs ? binsIn(o.forwardMs, 'the forward window') : 0;
  // ---- trial split (drops trials the file marks as in no split)
  let split: SplitName[];
  if (o.split === 'file') {
    const col = s.trials?.columns.split;
    if (!col || o.align === undefined) throw new Error(`${src}: the trials table has no 'split' column; draw the split with a seed instead`);
    const keep: number[] = [];
    split = [];
    rows.forEach((r, i) => {
      const v = String(col[r]);
      if (SPLITS.includes(v)) {
        keep.push(i);
        split.push(v as SplitName);
      } else skipped.push({ row: r, reason: `split '${v}'` });
    });
    starts = keep.map((i) => starts[i]);
    rows = keep.map((i) => rows[i]);
  } else {
    split = drawSplit(starts.length, o.split?.fractions ?? [0.7, 0.15, 0.15], seed);
  }
  if (starts.length === 0)
    throw new Error(`${src}: no trials left to bin (${skipped.length} skipped: ${[...new Set(skipped.map((x) => x.reason))].join(', ')})`);
  // ---- every window must lie inside the recording
  const [lo, hi] = s.extent;
  const slack = 1e-9 + (s.extentFrom === 'behavior' ? maxStep(s.behaviour) : 0);
  if (s.extentFrom !== 'spikes') {
    starts.forEach((t, i) => {
      const end = t + (time + forwardBins) * w;
      if (t < lo - slack || end > hi + slack) {
        const what = rows[i] >= 0 ? `trial ${rows[i]}` : `window ${i}`;
        throw new Error(`${src}: ${what}'s window [${t.toFixed(4)}, ${end.toFixed(4)}) s lies outside the recording [${lo}, ${hi}] s`);
      }
    });
  }
  // ---- neuron split
  const n = s.units.count;
  const heldOut = chooseHeldOut(s, o.heldOut, seed);
  const outSet = new Set(heldOut);
  const heldIn = Array.from({ length: n }, (_, i) => i).filter((i) => !outSet.has(i));
  if (heldIn.length === 0) throw new Error(`${src}: every one of the ${n} units is held out; nothing is left to fit`);
  // ---- behaviour
  const wanted = o.behaviour === undefined || o.behaviour === 'all' ? s.behaviour : o.behaviour.map((name) => findBehaviour(s, name));
  const behaviour = wanted.map((b) => ({ name: b.name, data: resampleBehaviour(b, starts, time, w, rows, src) }));
  // inputs continue into the forward bins (a model's forward prediction is driven by them)
  const inputSeries = (o.inputs ?? []).map((name) => findBehaviour(s, name));
  const allInputs = inputSeries.length ? concatChannels(inputSeries.map((b) => resampleBehaviour(b, starts, time + forwardBins, w, rows, src))) : null;
  // ---- counts
  const count = (units: number[], offset: number, steps: number): Dataset | null =>
    units.length
      ? {
          data: binCounts(
            s.units.spikeTimes,
            units,
            starts.map((t) => t + offset * w),
            steps,
            w,
          ),
          trials: starts.length,
          time: steps,
          channels: units.length,
        }
      : null;
  const condition = o.condition?.length && o.align !== undefined ? conditionLabels(s, o.condition, rows) : null;
  return {
    binSeconds: w,
    trials: starts.length,
    time,
    heldInCounts: count(heldIn, 0, time)!,
    heldOutCounts: count(heldOut, 0, time),
    heldIn,
    heldOut,
    inputs: allInputs && timeSlice(allInputs, 0, time),
    forward: forwardBins
      ? { heldIn: count(heldIn, time, forwardBins)!, heldOut: count(heldOut, time, forwardBins), inputs: allInputs && timeSlice(allInputs, time, forwardBins) }
      : null,
    windowStart: Float64Array.from(starts),
    trialRows: rows,
    split,
    behaviour,
    condition,
    electrodes: unitElectrodes(s),
    skipped,
  };
}

/** Arrays of the same trials and bins side by side along the channel axis. */
function concatChannels(parts: Dataset[]): Dataset {
  const { trials, time } = parts[0];
  const C = parts.reduce((a, p) => a + p.channels, 0);
  const data = new Float32Array(trials * time * C);
  for (let r = 0; r < trials * time; r++) {
    let c0 = 0;
    for (const p of parts) {
      data.set(p.data.subarray(r * p.channels, (r + 1) * p.channels), r * C + c0);
      c0 += p.channels;
    }
  }
  return { data, trials, time, channels: C };
}

/** Bins [t0, t0 + steps) of every trial (a copy). */
export function timeSlice(ds: Dataset, t0: number, steps: number): Dataset {
  const C = ds.channels;
  const data = new Float32Array(ds.trials * steps * C);
  for (let k = 0; k < ds.trials; k++) data.set(ds.data.subarray((k * ds.time + t0) * C, (k * ds.time + t0 + steps) * C), k * steps * C);
  return { data, trials: ds.trials, time: steps, channels: C };
}

/** Spike counts (trial, time, unit) for windows starting at `starts`, bins [s + i·w, s + (i+1)·w). */
export function binCounts(spikeTimes: readonly Float64Array[], units: readonly number[], starts: readonly number[], steps: number, w: number): Float32Array {
  const out = new Float32Array(starts.length * steps * units.length);
  units.forEach((u, c) => {
    const st = Float64Array.from(spikeTimes[u]).sort();
    starts.forEach((s, k) => {
      const end = s + steps * w;
      for (let j = lowerBound(st, s); j < st.length && st[j] < end; j++) {
        // the edge s + i·w is computed the same way everywhere, so a spike on it lands in bin i
        let i = Math.floor((st[j] - s) / w);
        while (i > 0 && st[j] < s + i * w) i--;
        while (i < steps - 1 && st[j] >= s + (i + 1) * w) i++;
        out[(k * steps + i) * units.length + c] += 1;
      }
    });
  });
  return out;
}

function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A behaviour series by full name or by its last path component. */
export function findBehaviour(s: NwbSession, name: string): NwbTimeSeries {
  const hit = s.behaviour.filter((b) => b.name === name || b.name.split('/').pop() === name);
  if (hit.length === 1) return hit[0];
  const names = s.behaviour.map((b) => b.name).join(', ') || 'none';
  if (hit.length === 0) throw new Error(`${s.source}: no behaviour series '${name}' under processing/behavior (found: ${names})`);
  throw new Error(`${s.source}: behaviour name '${name}' is ambiguous (${hit.map((b) => b.name).join(', ')})`);
}

function maxStep(series: readonly NwbTimeSeries[]): number {
  let m = 0;
  for (const b of series) if (b.timestamps.length > 1) m = Math.max(m, (b.timestamps[b.timestamps.length - 1] - b.timestamps[0]) / (b.timestamps.length - 1));
  return m;
}

/**
 * Mean over each bin of the piecewise-linear interpolation of the series. The series is held
 * constant for at most one sample spacing beyond its ends; bins further out are an error.
 */
export function resampleBehaviour(b: NwbTimeSeries, starts: readonly number[], steps: number, w: number, rows: readonly number[], source: string): Dataset {
  const ts = b.timestamps;
  const n = ts.length;
  const d = b.dim;
  if (n === 0) throw new Error(`${source}: behaviour series '${b.name}' has no samples`);
  const step = n > 1 ? (ts[n - 1] - ts[0]) / (n - 1) : Infinity;
  const out = new Float32Array(starts.length * steps * d);
  const acc = new Float64Array(d);
  starts.forEach((s, k) => {
    if (s < ts[0] - step - 1e-9 || s + steps * w > ts[n - 1] + step + 1e-9) {
      const what = rows[k] >= 0 ? `trial ${rows[k]}` : `window ${k}`;
      throw new Error(
        `${source}: behaviour '${b.name}' covers [${ts[0]}, ${ts[n - 1]}] s but ${what} needs [${s.toFixed(4)}, ${(s + steps * w).toFixed(4)}) s`,
      );
    }
    for (let i = 0; i < steps; i++) {
      const a = s + i * w;
      const e = a + w;
      acc.fill(0);
      integrate(b, a, e, acc);
      for (let c = 0; c < d; c++) out[(k * steps + i) * d + c] = acc[c] / w;
    }
  });
  return { data: out, trials: starts.length, time: steps, channels: d };
}

/** Add ∫_a^e of the linear interpolant (held constant outside the samples) to acc. */
function integrate(b: NwbTimeSeries, a: number, e: number, acc: Float64Array): void {
  const ts = b.timestamps;
  const v = b.data;
  const d = b.dim;
  const n = ts.length;
  const value = (j: number, t: number, c: number): number => {
    // interpolant on segment [ts[j], ts[j+1]]
    const f = (t - ts[j]) / (ts[j + 1] - ts[j]);
    return v[j * d + c] * (1 - f) + v[(j + 1) * d + c] * f;
  };
  // before the first sample and after the last: constant
  if (a < ts[0]) {
    const hi = Math.min(e, ts[0]);
    for (let c = 0; c < d; c++) acc[c] += (hi - a) * v[c];
  }
  if (e > ts[n - 1]) {
    const lo = Math.max(a, ts[n - 1]);
    for (let c = 0; c < d; c++) acc[c] += (e - lo) * v[(n - 1) * d + c];
  }
  let j = Math.max(0, upperBound(ts, a) - 1);
  for (; j < n - 1 && ts[j] < e; j++) {
    const lo = Math.max(a, ts[j]);
    const hi = Math.min(e, ts[j + 1]);
    if (hi <= lo) continue;
    for (let c = 0; c < d; c++) acc[c] += ((value(j, lo, c) + value(j, hi, c)) / 2) * (hi - lo); // trapezoid is exact on a line
  }
}

function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function chooseHeldOut(s: NwbSession, spec: BinOptions['heldOut'], seed: number): number[] {
  const n = s.units.count;
  if (spec === undefined) return [];
  if (spec === 'file') {
    const col = s.units.columns.heldout;
    if (!col) throw new Error(`${s.source}: the units table has no 'heldout' column; give a count or a list of units instead`);
    return col.flatMap((v, i) => (v === 1 || v === 'True' || v === 'true' ? [i] : []));
  }
  if ('units' in spec) {
    const bad = spec.units.find((u) => !Number.isInteger(u) || u < 0 || u >= n);
    if (bad !== undefined) throw new Error(`held-out unit ${bad} does not exist (the file has units 0…${n - 1})`);
    if (new Set(spec.units).size !== spec.units.length) throw new Error(`held-out units list a unit twice (${spec.units.join(',')})`);
    return [...spec.units].sort((a, b) => a - b);
  }
  if (!Number.isInteger(spec.count) || spec.count < 0 || spec.count >= n)
    throw new Error(`cannot hold out ${spec.count} of ${n} units (need 0 ≤ count < ${n})`);
  return shuffled(n, seed)
    .slice(0, spec.count)
    .sort((a, b) => a - b);
}

/** A seeded permutation of 0…n-1 (Fisher–Yates on mulberry32). */
function shuffled(n: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Assign n trials to train / val / test in the given proportions (val and test rounded down), seeded. */
export function drawSplit(n: number, fractions: [number, number, number], seed: number): SplitName[] {
  const sum = fractions[0] + fractions[1] + fractions[2];
  if (fractions.some((f) => !(f >= 0)) || !(sum > 0)) throw new Error(`split fractions must be non-negative and not all zero, got ${fractions.join(',')}`);
  const nVal = Math.floor((n * fractions[1]) / sum);
  const nTest = Math.floor((n * fractions[2]) / sum);
  const out = new Array<SplitName>(n).fill('train');
  const p = shuffled(n, seed + 1);
  for (let i = 0; i < nVal; i++) out[p[i]] = 'val';
  for (let i = nVal; i < nVal + nTest; i++) out[p[i]] = 'test';
  return out;
}

function conditionLabels(s: NwbSession, names: string[], rows: number[]): string[] {
  const cols: NwbColumn[] = names.map((c) => {
    const col = s.trials!.columns[c];
    if (!col) throw new Error(`${s.source}: the trials table has no condition column '${c}'`);
    return col;
  });
  return rows.map((r) => cols.map((col) => String(col[r])).join('/'));
}

/** The trials of a binned array in the given splits (a copy). */
export function selectTrials(ds: Dataset, split: readonly SplitName[], keep: readonly SplitName[]): Dataset {
  const idx = split.flatMap((sp, i) => (keep.includes(sp) ? [i] : []));
  const stride = ds.time * ds.channels;
  const data = new Float32Array(idx.length * stride);
  idx.forEach((k, i) => data.set(ds.data.subarray(k * stride, (k + 1) * stride), i * stride));
  return { data, trials: idx.length, time: ds.time, channels: ds.channels };
}
