/**
 * The standard plots of a fit, as vega-lite specs rendered to SVG (./render.ts): training curves,
 * latent trajectories, phase portraits of rank-2 models, generated vs real traces, power spectra.
 * Every function returns a Plot ({svg, spec, width, height}); write it with ./files.ts (Node).
 *
 * Arrays are {data, shape} in C order, shape [time, channel] or [trial, time, channel].
 */
import type { TopLevelSpec } from 'vega-lite';
import { asTrials, type NdArray, type Trials } from '../analysis/series.js';
import { channelSpectra } from '../analysis/spectral-distance.js';
import { rowMoments, topEigen } from '../util/dense.js';
import { renderSpec, type Plot } from './render.js';

type Row = Record<string, number | string>;

/** Indices 0, k, 2k, … (plus the last) so that at most `max` points are drawn. */
function strideIndices(n: number, max: number): number[] {
  const step = Math.max(1, Math.ceil(n / Math.max(2, max)));
  const idx: number[] = [];
  for (let i = 0; i < n; i += step) idx.push(i);
  if (idx[idx.length - 1] !== n - 1) idx.push(n - 1);
  return idx;
}

function checkChannels(channels: number[], count: number, what: string): void {
  for (const c of channels) {
    if (!Number.isInteger(c) || c < 0 || c >= count) throw new Error(`${what}: channel ${c} out of range (the data has ${count} channels)`);
  }
}

const finite = (v: number) => Number.isFinite(v);

// ------------------------------------------------------------------------------------------ training curves

export interface CurveInput {
  /** Named series, e.g. { loss: [...], logLikelihood: [...] }; NaN / missing values leave gaps. */
  series: Record<string, ArrayLike<number>>;
  /** x values shared by all series (default 0, 1, 2, …). */
  iteration?: ArrayLike<number>;
}

export interface CurveOptions {
  title?: string;
  width?: number;
  /** Height of each series' panel. */
  height?: number;
  /** Series drawn on a log y axis (values ≤ 0 are dropped there). */
  logY?: string[];
  xTitle?: string;
  /** Moving-average window in points (default: 1/50 of the series; 1 draws the raw values only). */
  smooth?: number;
}

/**
 * One panel per series (each its own y scale) over a shared iteration axis. Long noisy series (minibatch
 * estimates) are drawn faint with a centred moving average on top, and a linear panel's y axis spans
 * the smoothed curve after its first 10 % (the early transient, often thousands of nats below, is
 * clipped), so the converged range stays readable.
 */
export async function trainingCurves(input: CurveInput, opts: CurveOptions = {}): Promise<Plot> {
  const names = Object.keys(input.series);
  if (names.length === 0) throw new Error('training curves: no series given');
  const logY = new Set(opts.logY ?? []);
  for (const n of logY) if (!names.includes(n)) throw new Error(`training curves: logY names unknown series "${n}" (series: ${names.join(', ')})`);
  const panels = names.map((name) => {
    const ys = input.series[name];
    if (input.iteration && input.iteration.length !== ys.length) {
      throw new Error(`training curves: series "${name}" has ${ys.length} values but there are ${input.iteration.length} iterations`);
    }
    const raw: { iteration: number; value: number }[] = [];
    for (let i = 0; i < ys.length; i++) {
      const x = input.iteration ? input.iteration[i] : i;
      const y = ys[i];
      if (finite(x) && finite(y) && (!logY.has(name) || y > 0)) raw.push({ iteration: x, value: y });
    }
    const window = opts.smooth ?? Math.max(1, Math.round(raw.length / 50));
    const smooth = movingAverage(
      raw.map((r) => r.value),
      window,
    );
    const values: Row[] = raw.map((r, i) => ({ ...r, smooth: smooth[i] }));
    const x = { field: 'iteration', type: 'quantitative' as const, title: opts.xTitle ?? 'iteration' };
    const scale: Record<string, unknown> = logY.has(name) ? { type: 'log' } : { zero: false };
    if (!logY.has(name)) {
      const domain = focusDomain(smooth);
      if (domain) scale.domain = domain;
    }
    const y = (field: string) => ({ field, type: 'quantitative' as const, title: name, scale });
    const layers: object[] = [];
    if (window > 1) layers.push({ mark: { type: 'line', strokeWidth: 0.75, color: '#9ecae1', opacity: 0.35, clip: true }, encoding: { x, y: y('value') } });
    layers.push({ mark: { type: 'line', strokeWidth: 1.5, color: '#1f77b4', clip: true }, encoding: { x, y: y(window > 1 ? 'smooth' : 'value') } });
    return { width: opts.width ?? 480, height: opts.height ?? 160, data: { values }, layer: layers };
  });
  const spec = { title: opts.title, vconcat: panels } as TopLevelSpec;
  return renderSpec(spec);
}

/** Centred moving average over `window` points (shorter at the ends). */
export function movingAverage(values: readonly number[], window: number): number[] {
  const half = Math.floor(Math.max(1, window) / 2);
  const prefix = [0];
  for (const v of values) prefix.push(prefix[prefix.length - 1] + v);
  return values.map((_, i) => {
    const lo = Math.max(0, i - half);
    const hi = Math.min(values.length, i + half + 1);
    return (prefix[hi] - prefix[lo]) / (hi - lo);
  });
}

/** y range of a smoothed curve after its first 10 %, padded by 5 % (null when too short or flat). */
function focusDomain(smooth: readonly number[]): [number, number] | null {
  if (smooth.length < 10) return null;
  const tail = smooth.slice(Math.floor(smooth.length / 10));
  const lo = Math.min(...tail);
  const hi = Math.max(...tail);
  if (!(hi > lo)) return null;
  const pad = 0.05 * (hi - lo);
  return [lo - pad, hi + pad];
}

// ------------------------------------------------------------------------------------------ latent trajectories

export interface LatentOptions {
  title?: string;
  /** Latent dimensions to show (2 gives one panel, 3 gives the three pairwise projections). */
  dims?: number[];
  /** 'pca': project on the leading principal components first (default when the rank exceeds 3). */
  project?: 'none' | 'pca';
  /** Points drawn per trial (decimated by striding). Default 2000. */
  maxPoints?: number;
  size?: number;
}

/** Principal axes of the rows of a (n, d) matrix, as d-vectors in decreasing variance. */
function principalAxes(data: ArrayLike<number>, n: number, d: number): number[][] {
  const { vectors } = topEigen(rowMoments(data, n, d).cov, d, d);
  return Array.from({ length: d }, (_, j) => Array.from({ length: d }, (_, k) => vectors[k * d + j]));
}

/** Latent paths: one panel for two dimensions, three pairwise panels for three; colour per trial. */
export async function latentTrajectories(latents: NdArray, opts: LatentOptions = {}): Promise<Plot> {
  const a = asTrials(latents, 'latent trajectories');
  const R = a.channels;
  const project = opts.project ?? (R > 3 ? 'pca' : 'none');
  let dims = opts.dims ?? (R === 1 ? [0] : R === 2 ? [0, 1] : [0, 1, 2]);
  if (dims.length < 1 || dims.length > 3) throw new Error(`latent trajectories: give 1 to 3 dims, got [${dims.join(', ')}]`);
  let coords: (i: number, k: number) => number;
  let axisName: (k: number) => string;
  if (project === 'pca') {
    const axes = principalAxes(a.data, a.trials * a.time, R);
    coords = (i, k) => {
      let s = 0;
      for (let j = 0; j < R; j++) s += a.data[i * R + j] * axes[k][j];
      return s;
    };
    axisName = (k) => `PC ${k + 1}`;
    dims = dims.map((_, k) => k);
    if (dims.length > R) throw new Error(`latent trajectories: ${dims.length} components asked of rank-${R} latents`);
  } else {
    checkChannels(dims, R, 'latent trajectories');
    coords = (i, k) => a.data[i * R + k];
    axisName = (k) => `z${k + 1}`;
  }
  const values: Row[] = [];
  for (let tr = 0; tr < a.trials; tr++) {
    for (const t of strideIndices(a.time, opts.maxPoints ?? 2000)) {
      const row: Row = { trial: `trial ${tr}`, t };
      dims.forEach((k, j) => (row[`d${j}`] = coords(tr * a.time + t, k)));
      values.push(row);
    }
  }
  const size = opts.size ?? 260;
  const color = a.trials > 1 ? { field: 'trial', type: 'nominal' as const, legend: a.trials <= 12 ? { title: null } : null } : { value: '#1f77b4' };
  const panel = (i: number, j: number | null) => ({
    width: size,
    height: size,
    mark: { type: 'line' as const, strokeWidth: 1.2, opacity: 0.85 },
    encoding: {
      x:
        j === null
          ? {
              field: 't',
              type: 'quantitative' as const,
              title: 'time step',
            }
          : { field: `d${i}`, type: 'quantitative' as const, title: axisName(dims[i]), scale: { zero: false } },
      y: { field: `d${j ?? i}`, type: 'quantitative' as const, title: axisName(dims[j ?? i]), scale: { zero: false } },
      order: { field: 't', type: 'quantitative' as const },
      detail: { field: 'trial', type: 'nominal' as const },
      color,
    },
  });
  const panels = dims.length === 1 ? [panel(0, null)] : dims.length === 2 ? [panel(0, 1)] : [panel(0, 1), panel(0, 2), panel(1, 2)];
  const spec = { title: opts.title, data: { values }, hconcat: panels } as TopLevelSpec;
  return renderSpec(spec);
}

// ------------------------------------------------------------------------------------------ phase portrait

export type Stability = 'stable' | 'saddle' | 'unstable';

export interface PhasePortraitInput {
  /** Displacement at z: F(z) − z for a map z ↦ F(z) (dz/dt for a flow). */
  field: (z: [number, number]) => [number, number];
  fixedPoints?: { z: ArrayLike<number>; stability: Stability }[];
  /** Paths to overlay, each a list of [z1, z2] points. */
  trajectories?: ArrayLike<ArrayLike<number>>[];
}

export interface PhasePortraitOptions {
  title?: string;
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Arrows per axis (default 20). */
  grid?: number;
  size?: number;
  axisTitles?: [string, string];
}

export const STABILITY_COLOURS: Record<Stability, string> = { stable: '#2166ac', saddle: '#e08214', unstable: '#b2182b' };

function domainOf(points: number[][], margin = 0.15): { x: [number, number]; y: [number, number] } | null {
  if (points.length === 0) return null;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of points) {
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
  }
  const padX = Math.max((x1 - x0) * margin, 1e-3 + Math.abs(x0) * 0.05);
  const padY = Math.max((y1 - y0) * margin, 1e-3 + Math.abs(y0) * 0.05);
  return { x: [x0 - padX, x1 + padX], y: [y0 - padY, y1 + padY] };
}

/**
 * Phase portrait of a 2-D latent system: a grid of arrows along the field (length ∝ √speed, so
 * slow regions stay visible), trajectories, and fixed points coloured by stability.
 */
export async function phasePortrait(input: PhasePortraitInput, opts: PhasePortraitOptions = {}): Promise<Plot> {
  const fps = input.fixedPoints ?? [];
  const trajs = input.trajectories ?? [];
  for (const [i, fp] of fps.entries()) {
    if (fp.z.length !== 2) throw new Error(`phase portrait: fixed point ${i} has ${fp.z.length} coordinates; phase portraits are for rank 2`);
    if (!(fp.stability in STABILITY_COLOURS)) {
      throw new Error(`phase portrait: fixed point ${i} has stability "${fp.stability}" (expected stable, saddle or unstable)`);
    }
  }
  const trajPoints: number[][] = [];
  trajs.forEach((path, i) => {
    for (let t = 0; t < path.length; t++) {
      const p = path[t];
      if (p.length !== 2) throw new Error(`phase portrait: trajectory ${i} point ${t} has ${p.length} coordinates, expected 2`);
      if (finite(p[0]) && finite(p[1])) trajPoints.push([p[0], p[1]]);
    }
  });
  const auto = domainOf([...fps.map((f) => [f.z[0], f.z[1]]), ...trajPoints]);
  const xDomain = opts.xDomain ?? auto?.x;
  const yDomain = opts.yDomain ?? auto?.y;
  if (!xDomain || !yDomain) throw new Error('phase portrait: give xDomain and yDomain, or fixed points / trajectories to derive them from');
  if (!(xDomain[1] > xDomain[0]) || !(yDomain[1] > yDomain[0])) throw new Error(`phase portrait: empty domain x [${xDomain}] y [${yDomain}]`);
  const size = opts.size ?? 420;
  const grid = opts.grid ?? 20;
  if (!Number.isInteger(grid) || grid < 2) throw new Error(`phase portrait: grid must be an integer ≥ 2, got ${grid}`);
  const kx = size / (xDomain[1] - xDomain[0]);
  const ky = size / (yDomain[1] - yDomain[0]);
  const cell = size / grid;
  const raw: { x: number; y: number; fx: number; fy: number; speed: number }[] = [];
  let maxSpeed = 0;
  for (let i = 0; i < grid; i++) {
    for (let j = 0; j < grid; j++) {
      const x = xDomain[0] + ((i + 0.5) / grid) * (xDomain[1] - xDomain[0]);
      const y = yDomain[0] + ((j + 0.5) / grid) * (yDomain[1] - yDomain[0]);
      const [fx, fy] = input.field([x, y]);
      if (!finite(fx) || !finite(fy)) throw new Error(`phase portrait: the field is not finite at (${x}, ${y})`);
      const speed = Math.hypot(fx * kx, fy * ky); // screen units, so arrows look right on unequal axes
      maxSpeed = Math.max(maxSpeed, speed);
      raw.push({ x, y, fx, fy, speed });
    }
  }
  const arrows: Row[] = [];
  for (const r of raw) {
    if (r.speed === 0) continue;
    const len = 0.85 * cell * Math.sqrt(r.speed / maxSpeed);
    const ux = (r.fx * len) / r.speed; // data units: screen length len along the field
    const uy = (r.fy * len) / r.speed;
    arrows.push({
      x: r.x - ux / 2,
      y: r.y - uy / 2,
      x2: r.x + ux / 2,
      y2: r.y + uy / 2,
      angle: (Math.atan2(r.fx * kx, r.fy * ky) * 180) / Math.PI,
    });
  }
  const pathRows: Row[] = [];
  trajs.forEach((path, i) => {
    for (let t = 0; t < path.length; t++) if (finite(path[t][0]) && finite(path[t][1])) pathRows.push({ id: i, t, x: path[t][0], y: path[t][1] });
  });
  const fpRows: Row[] = fps.map((f) => ({ x: f.z[0], y: f.z[1], stability: f.stability }));
  const [xt, yt] = opts.axisTitles ?? ['z1', 'z2'];
  const x = { field: 'x', type: 'quantitative' as const, title: xt, scale: { domain: xDomain, nice: false, zero: false } };
  const y = { field: 'y', type: 'quantitative' as const, title: yt, scale: { domain: yDomain, nice: false, zero: false } };
  const layers: object[] = [
    {
      data: { values: arrows },
      mark: { type: 'rule', color: '#8c8c8c', strokeWidth: 1, clip: true },
      encoding: { x, y, x2: { field: 'x2' }, y2: { field: 'y2' } },
    },
    {
      data: { values: arrows },
      mark: { type: 'point', shape: 'triangle', filled: true, color: '#8c8c8c', size: 18, clip: true },
      encoding: { x: { ...x, field: 'x2' }, y: { ...y, field: 'y2' }, angle: { field: 'angle', type: 'quantitative', scale: null } },
    },
  ];
  if (pathRows.length) {
    layers.push({
      data: { values: pathRows },
      mark: { type: 'line', color: '#333333', strokeWidth: 1.3, opacity: 0.8, clip: true },
      encoding: { x, y, order: { field: 't', type: 'quantitative' }, detail: { field: 'id', type: 'nominal' } },
    });
  }
  if (fpRows.length) {
    const present = (Object.keys(STABILITY_COLOURS) as Stability[]).filter((s) => fps.some((f) => f.stability === s));
    layers.push({
      data: { values: fpRows },
      mark: { type: 'point', filled: true, size: 110, stroke: 'white', strokeWidth: 1, opacity: 1, clip: true },
      encoding: {
        x,
        y,
        color: {
          field: 'stability',
          type: 'nominal',
          scale: { domain: present, range: present.map((s) => STABILITY_COLOURS[s]) },
          legend: { title: 'fixed points' },
        },
        shape: {
          field: 'stability',
          type: 'nominal',
          scale: { domain: present, range: present.map((s) => (s === 'stable' ? 'circle' : s === 'saddle' ? 'diamond' : 'square')) },
        },
      },
    });
  }
  const spec = { title: opts.title, width: size, height: size, layer: layers } as TopLevelSpec;
  return renderSpec(spec);
}

// ------------------------------------------------------------------------------------------ traces

export interface TracesOptions {
  title?: string;
  /** Channels to show (default the first four). */
  channels?: number[];
  /** Sampling rate for a time axis in seconds (default: time steps). */
  fs?: number;
  /** Points drawn per trace (decimated by striding). Default 2000. */
  maxPoints?: number;
  labels?: [string, string];
  width?: number;
  rowHeight?: number;
}

/** Real and generated traces, one row per channel. Trials are concatenated along time. */
export async function tracesPlot(real: NdArray, generated: NdArray, opts: TracesOptions = {}): Promise<Plot> {
  const r = asTrials(real, 'traces (real)');
  const g = asTrials(generated, 'traces (generated)');
  if (r.channels !== g.channels) throw new Error(`traces: real data has ${r.channels} channels, generated ${g.channels}`);
  const channels = opts.channels ?? Array.from({ length: Math.min(4, r.channels) }, (_, i) => i);
  if (channels.length === 0) throw new Error('traces: no channels selected');
  checkChannels(channels, r.channels, 'traces');
  const [realName, genName] = opts.labels ?? ['real', 'generated'];
  const values: Row[] = [];
  const add = (a: Trials, source: string) => {
    const n = a.trials * a.time;
    for (const i of strideIndices(n, opts.maxPoints ?? 2000)) {
      for (const c of channels) values.push({ channel: `channel ${c}`, source, t: opts.fs ? i / opts.fs : i, value: a.data[i * a.channels + c] });
    }
  };
  add(r, realName);
  add(g, genName);
  const spec = {
    title: opts.title,
    data: { values },
    facet: { row: { field: 'channel', type: 'nominal', title: null, sort: channels.map((c) => `channel ${c}`) } },
    spec: {
      width: opts.width ?? 640,
      height: opts.rowHeight ?? 90,
      mark: { type: 'line', strokeWidth: 1 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: opts.fs ? 'time (s)' : 'time step', scale: { nice: false } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: {
          field: 'source',
          type: 'nominal',
          scale: { domain: [realName, genName], range: ['#333333', '#d62728'] },
          legend: { title: null, orient: 'top' },
        },
        opacity: { value: 0.85 },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
  return renderSpec(spec);
}

// ------------------------------------------------------------------------------------------ spectra

export interface SpectraOptions {
  title?: string;
  /** Channels averaged (default all). */
  channels?: number[];
  /** Sampling rate for a frequency axis in Hz (default cycles per sample). */
  fs?: number;
  /** D_H's smoothing σ in bins (default 20) and frequency cut-off (default keep all). */
  smoothing?: number;
  freqCutOff?: number;
  logY?: boolean;
  labels?: [string, string];
  width?: number;
  height?: number;
}

/** The smoothed, normalised spectra that D_H compares, averaged over channels, real vs generated. */
export async function spectraPlot(real: NdArray, generated: NdArray, opts: SpectraOptions = {}): Promise<Plot> {
  const r = asTrials(real, 'spectra (real)');
  const g = asTrials(generated, 'spectra (generated)');
  if (r.channels !== g.channels) throw new Error(`spectra: real data has ${r.channels} channels, generated ${g.channels}`);
  const channels = opts.channels ?? Array.from({ length: r.channels }, (_, i) => i);
  if (channels.length === 0) throw new Error('spectra: no channels selected');
  checkChannels(channels, r.channels, 'spectra');
  const [realName, genName] = opts.labels ?? ['real', 'generated'];
  const logY = opts.logY ?? true;
  const values: Row[] = [];
  const add = (a: NdArray, time: number, source: string) => {
    const spectra = channelSpectra(a, { smoothing: opts.smoothing, freqCutOff: opts.freqCutOff }, `spectra (${source})`);
    const n = time - (time % 2); // the even length the spectrum was taken over
    const bins = spectra[0].length;
    for (let k = 0; k < bins; k++) {
      let s = 0;
      for (const c of channels) s += spectra[c][k];
      s /= channels.length;
      if (!finite(s) || (logY && !(s > 0))) continue;
      values.push({ source, f: opts.fs ? (k * opts.fs) / n : k / n, power: s });
    }
  };
  add(real, r.time, realName);
  add(generated, g.time, genName);
  const spec = {
    title: opts.title,
    width: opts.width ?? 480,
    height: opts.height ?? 280,
    data: { values },
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'f', type: 'quantitative', title: opts.fs ? 'frequency (Hz)' : 'frequency (cycles / sample)' },
      y: { field: 'power', type: 'quantitative', title: 'normalised power', scale: logY ? { type: 'log' } : { zero: true } },
      color: {
        field: 'source',
        type: 'nominal',
        scale: { domain: [realName, genName], range: ['#333333', '#d62728'] },
        legend: { title: null, orient: 'top-right' },
      },
    },
  } as TopLevelSpec;
  return renderSpec(spec);
}

// ------------------------------------------------------------------------------------------ sweeps

export interface MetricByParameterOptions {
  title?: string;
  /** Log x axis (default: when every x is > 0 and they span more than a factor of 20). */
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
}

/**
 * A metric against a swept parameter: one point per job, coloured by a second parameter when given
 * (e.g. the seed), and the mean per parameter value as a line (e.g. D_stsp per seed against particles).
 */
export async function metricByParameter(
  rows: readonly { x: number; y: number; group?: string }[],
  xTitle: string,
  yTitle: string,
  opts: MetricByParameterOptions = {},
): Promise<Plot> {
  const points = rows.filter((r) => finite(r.x) && finite(r.y) && (!opts.logY || r.y > 0));
  if (points.length === 0) throw new Error(`plot of ${yTitle} against ${xTitle}: no finite values (have the jobs finished?)`);
  const xs = points.map((p) => p.x);
  const logX = opts.logX ?? (Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) > 20);
  const byX = new Map<number, number[]>();
  for (const p of points) byX.set(p.x, [...(byX.get(p.x) ?? []), p.y]);
  const means = [...byX.entries()].sort((a, b) => a[0] - b[0]).map(([x, ys]) => ({ x, mean: ys.reduce((s, y) => s + y, 0) / ys.length }));
  const x = { field: 'x', type: 'quantitative' as const, title: xTitle, scale: logX ? { type: 'log' } : { zero: false } };
  const yScale = opts.logY ? { type: 'log' } : { zero: false };
  const grouped = points.some((p) => p.group !== undefined);
  const spec = {
    title: opts.title,
    width: opts.width ?? 480,
    height: opts.height ?? 300,
    layer: [
      {
        data: { values: means },
        mark: { type: 'line', color: '#333333', strokeWidth: 1.5 },
        encoding: { x, y: { field: 'mean', type: 'quantitative', title: yTitle, scale: yScale } },
      },
      {
        data: { values: points.map((p) => ({ x: p.x, y: p.y, group: p.group ?? '' })) },
        mark: { type: 'point', filled: true, size: 40, opacity: 0.8 },
        encoding: {
          x,
          y: { field: 'y', type: 'quantitative', title: yTitle, scale: yScale },
          ...(grouped ? { color: { field: 'group', type: 'nominal', title: null } } : {}),
        },
      },
    ],
  } as TopLevelSpec;
  return renderSpec(spec);
}
