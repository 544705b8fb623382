/**
 * Plots of spike-data scores (eval-spikes --plots): reach trajectories integrated from true and decoded
 * hand velocity, coloured by condition; PSTHs of true counts and predicted rates per condition; and
 * binned rasters of the recorded counts next to counts the model generated and its rates. Arrays are (trial, time, channel).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Trials3D } from '../analysis/nlb-scores.js';
import { renderSpec, type Plot } from './render.js';

type Row = Record<string, number | string>;

/** Positions from velocities: the running sum of v·dt from 0 at each trial's start. */
function integrate(v: Trials3D, k: number, dt: number): [number, number][] {
  const out: [number, number][] = [];
  let x = 0;
  let y = 0;
  for (let t = 0; t < v.time; t++) {
    const o = (k * v.time + t) * v.channels;
    if (Number.isFinite(v.data[o]) && Number.isFinite(v.data[o + 1])) {
      x += v.data[o] * dt;
      y += v.data[o + 1] * dt;
    }
    out.push([x, y]);
  }
  return out;
}

/** True and decoded reach trajectories side by side, one line per trial, coloured by condition. */
export async function reachTrajectories(
  truth: Trials3D,
  decoded: Trials3D,
  conditions: readonly string[] | null,
  binSeconds: number,
  opts: { title?: string; maxTrials?: number } = {},
): Promise<Plot> {
  if (truth.trials !== decoded.trials || truth.time !== decoded.time || truth.channels < 2 || decoded.channels !== truth.channels) {
    throw new Error(
      `reach trajectories: true (${truth.trials}, ${truth.time}, ${truth.channels}) and decoded (${decoded.trials}, ${decoded.time}, ${decoded.channels}) velocities must match and have 2 or more dimensions`,
    );
  }
  if (conditions && conditions.length !== truth.trials) throw new Error(`reach trajectories: ${conditions.length} condition labels for ${truth.trials} trials`);
  const values: Row[] = [];
  const n = Math.min(truth.trials, opts.maxTrials ?? 200);
  for (let k = 0; k < n; k++) {
    for (const [source, v] of [
      ['true', truth],
      ['decoded', decoded],
    ] as const) {
      integrate(v, k, binSeconds).forEach(([x, y], t) => values.push({ source, trial: k, t, x, y, condition: conditions?.[k] ?? 'all' }));
    }
  }
  return renderSpec({
    title: opts.title ?? 'hand position from true and decoded velocity',
    data: { values },
    facet: { column: { field: 'source', type: 'nominal', title: null, sort: ['true', 'decoded'] } },
    spec: {
      width: 320,
      height: 320,
      mark: { type: 'line', strokeWidth: 1, opacity: 0.7 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: 'x' },
        y: { field: 'y', type: 'quantitative', title: 'y' },
        detail: { field: 'trial', type: 'nominal' },
        order: { field: 't', type: 'quantitative' },
        color: { field: 'condition', type: 'nominal', legend: conditions ? { title: 'condition' } : null },
      },
    },
  } as TopLevelSpec);
}

/** Per-unit PSTHs: true (solid) and predicted (dashed) per condition, for the given units. */
export async function psthPlot(
  truth: Map<string, Float64Array>,
  predicted: Map<string, Float64Array>,
  time: number,
  channels: number,
  units: number[],
  binMs: number,
  opts: { title?: string } = {},
): Promise<Plot> {
  const values: Row[] = [];
  for (const u of units) if (!(u >= 0 && u < channels)) throw new Error(`PSTH plot: unit ${u} out of range (${channels} units)`);
  for (const [source, m] of [
    ['true', truth],
    ['predicted', predicted],
  ] as const) {
    for (const [condition, p] of m) {
      if (p.length !== time * channels) throw new Error(`PSTH plot: the ${source} PSTH of '${condition}' has ${p.length} values, expected ${time * channels}`);
      for (const u of units) for (let t = 0; t < time; t++) values.push({ unit: `unit ${u}`, source, condition, ms: t * binMs, rate: p[t * channels + u] });
    }
  }
  return renderSpec({
    title: opts.title ?? 'PSTHs: true (solid) and predicted (dashed), counts per bin',
    data: { values },
    facet: { field: 'unit', type: 'nominal', title: null, sort: units.map((u) => `unit ${u}`) },
    columns: 4,
    spec: {
      width: 180,
      height: 110,
      mark: { type: 'line', strokeWidth: 1.2 },
      encoding: {
        x: { field: 'ms', type: 'quantitative', title: 'time in window (ms)' },
        y: { field: 'rate', type: 'quantitative', title: null },
        color: { field: 'condition', type: 'nominal' },
        strokeDash: {
          field: 'source',
          type: 'nominal',
          scale: {
            domain: ['true', 'predicted'],
            range: [
              [1, 0],
              [4, 3],
            ],
          },
          legend: { title: null },
        },
        detail: { field: 'source', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec);
}

/**
 * Binned rasters of one trial side by side, one panel per array (units × bins): e.g. the recorded
 * counts, counts the model generated and the model's rates.
 */
export async function rasterPlot(panels: { name: string; data: Trials3D }[], trial: number, binMs: number, opts: { title?: string } = {}): Promise<Plot> {
  if (panels.length === 0) throw new Error('raster: no panels to draw');
  const first = panels[0].data;
  for (const p of panels)
    if (p.data.trials !== first.trials || p.data.time !== first.time || p.data.channels !== first.channels)
      throw new Error(
        `raster: '${p.name}' is (${p.data.trials}, ${p.data.time}, ${p.data.channels}), '${panels[0].name}' (${first.trials}, ${first.time}, ${first.channels}); the panels must have the same shape`,
      );
  if (new Set(panels.map((p) => p.name)).size !== panels.length) throw new Error('raster: panel names must differ');
  if (!(trial >= 0 && trial < first.trials)) throw new Error(`raster: trial ${trial} out of range (${first.trials} trials)`);
  const values: Row[] = [];
  for (const { name: source, data: a } of panels) {
    for (let t = 0; t < a.time; t++)
      for (let c = 0; c < a.channels; c++) values.push({ source, ms: t * binMs, unit: c, value: a.data[(trial * a.time + t) * a.channels + c] });
  }
  return renderSpec({
    title: opts.title ?? `trial ${trial}: spikes per bin`,
    data: { values },
    facet: { column: { field: 'source', type: 'nominal', title: null, sort: panels.map((p) => p.name) } },
    spec: {
      width: 320,
      height: Math.min(480, Math.max(120, 3 * first.channels)),
      mark: { type: 'rect' },
      encoding: {
        x: { field: 'ms', type: 'ordinal', title: 'time in window (ms)', axis: { labelOverlap: true } },
        y: { field: 'unit', type: 'ordinal', title: 'unit', axis: { labelOverlap: true } },
        color: { field: 'value', type: 'quantitative', scale: { scheme: 'greys' }, legend: { title: 'per bin' } },
      },
    },
  } as TopLevelSpec);
}
