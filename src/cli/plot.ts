import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { toCanonical } from '../io/dataset.js';
import { loadArray } from '../io/files.js';
import type { NdArray } from '../analysis/series.js';
import { latentTrajectories, spectraPlot, tracesPlot, trainingCurves, type CurveInput } from '../plot/charts.js';
import { writePlot } from '../plot/files.js';
import { historyFromTable, parseHistory } from '../plot/history.js';
import type { Plot } from '../plot/render.js';

export const summary = 'plot training curves, latent trajectories, generated vs real traces or power spectra to PNG / SVG';

const USAGE = `lowrank-smc plot <kind> --in FILE [--gen FILE] --out FILE.png|FILE.svg [options]

kinds:
  curve     training curves: --in history (.json array of numbers or records, JSON lines, {"loss": [...]},
            {"history": ...}) or a table (.npy/.csv: one series per column, a column named
            iteration/step/epoch is the x axis)   [--series a,b] [--log-y a,b]
  latents   latent trajectories: --in (time, R) or (trial, time, R) array   [--dims 0,1,2] [--pca]
  traces    generated vs real traces: --in real --gen generated   [--channels 0,1,2] [--fs HZ]
  spectra   smoothed power spectra (as D_H compares them), averaged over channels:
            --in real --gen generated   [--channels ...] [--fs HZ] [--smoothing 20] [--freq-cut-off=N]
            (N = -1 drops the Nyquist bin, as for EEG; write negative values with "=")

arrays: .npy, .csv/.tsv/.txt, or .json ({"shape": [...], "data": [...]} or nested arrays);
  --layout e.g. time,channel | channel,time | trial,time,channel (default from the rank)
common: --title TEXT  --scale N (PNG pixels per SVG unit, default 2)`;

const KINDS = ['curve', 'latents', 'traces', 'spectra'] as const;
type Kind = (typeof KINDS)[number];

function parseIntList(v: string | undefined, flag: string): number[] | undefined {
  if (v === undefined) return undefined;
  const out = v.split(',').map((s) => Number(s.trim()));
  for (const n of out) if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: expected comma-separated non-negative integers, got "${v}"`);
  return out;
}

function parseNumber(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${flag}: expected a number, got "${v}"`);
  return n;
}

/** Shape of a nested JSON array, checking that it is rectangular and numeric. */
function nestedShape(v: unknown, source: string): { shape: number[]; data: number[] } {
  const shape: number[] = [];
  for (let x = v; Array.isArray(x); x = x[0]) shape.push(x.length);
  const data: number[] = [];
  const walk = (x: unknown, depth: number, path: string) => {
    if (depth === shape.length) {
      if (typeof x !== 'number') throw new Error(`${source}: element ${path} is not a number`);
      data.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) {
      throw new Error(`${source}: ragged nested array at ${path || 'top level'} (expected ${shape[depth]} entries)`);
    }
    x.forEach((y, i) => walk(y, depth + 1, `${path}[${i}]`));
  };
  walk(v, 0, '');
  return { shape, data };
}

async function loadJsonArray(path: string): Promise<{ shape: number[]; data: ArrayLike<number> }> {
  let v: unknown;
  try {
    v = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${path}: file not found`);
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (Array.isArray(v)) return nestedShape(v, path);
  const o = v as { shape?: unknown; data?: unknown };
  if (o && Array.isArray(o.shape) && Array.isArray(o.data)) return { shape: o.shape as number[], data: o.data as number[] };
  throw new Error(`${path}: expected a nested numeric array or {"shape": [...], "data": [...]}`);
}

/** Load an array file and bring it to [trial, time, channel] (validated, with --layout). */
async function loadSeries(path: string, layout: string | undefined): Promise<NdArray> {
  const raw = extname(path).toLowerCase() === '.json' ? await loadJsonArray(path) : await loadArray(path);
  const ds = toCanonical(raw, layout, path);
  return { data: ds.data, shape: [ds.trials, ds.time, ds.channels] };
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      in: { type: 'string' },
      gen: { type: 'string' },
      out: { type: 'string' },
      layout: { type: 'string' },
      title: { type: 'string' },
      scale: { type: 'string' },
      series: { type: 'string' },
      'log-y': { type: 'string' },
      dims: { type: 'string' },
      pca: { type: 'boolean' },
      channels: { type: 'string' },
      fs: { type: 'string' },
      smoothing: { type: 'string' },
      'freq-cut-off': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length === 0) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const kind = positionals[0] as Kind;
  if (!KINDS.includes(kind)) throw new Error(`unknown plot kind "${positionals[0]}" (kinds: ${KINDS.join(', ')})`);
  if (positionals.length > 1) throw new Error(`unexpected argument "${positionals[1]}"`);
  if (!values.in) throw new Error('--in FILE is required');
  if (!values.out) throw new Error('--out FILE.png or FILE.svg is required');
  const outExt = extname(values.out).toLowerCase();
  if (outExt !== '.png' && outExt !== '.svg') throw new Error(`--out ${values.out}: expected a .png or .svg file name`);
  const needsGen = kind === 'traces' || kind === 'spectra';
  if (needsGen && !values.gen) throw new Error(`plot ${kind} needs --gen FILE (the generated data) besides --in (the real data)`);
  if (!needsGen && values.gen) throw new Error(`plot ${kind} takes no --gen`);
  const title = values.title;
  const fs = parseNumber(values.fs, '--fs');
  if (fs !== undefined && !(fs > 0)) throw new Error(`--fs must be positive, got ${fs}`);
  const channels = parseIntList(values.channels, '--channels');

  let plot: Plot;
  if (kind === 'curve') {
    const ext = extname(values.in).toLowerCase();
    let input: CurveInput;
    if (ext === '.json' || ext === '.jsonl' || ext === '.ndjson') {
      let text: string;
      try {
        text = await readFile(values.in, 'utf8');
      } catch (e) {
        throw new Error(`${values.in}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
      }
      input = parseHistory(text, values.in);
    } else {
      const t = await loadArray(values.in);
      input = historyFromTable(t.shape, t.data, t.header);
    }
    if (values.series) {
      const keep = values.series.split(',').map((s) => s.trim());
      for (const k of keep) if (!(k in input.series)) throw new Error(`--series: "${k}" not in ${values.in} (series: ${Object.keys(input.series).join(', ')})`);
      input = { ...input, series: Object.fromEntries(keep.map((k) => [k, input.series[k]])) };
    }
    const logY = values['log-y']?.split(',').map((s) => s.trim());
    plot = await trainingCurves(input, { title, logY });
  } else if (kind === 'latents') {
    const z = await loadSeries(values.in, values.layout);
    plot = await latentTrajectories(z, { title, dims: parseIntList(values.dims, '--dims'), project: values.pca ? 'pca' : undefined });
  } else {
    const real = await loadSeries(values.in, values.layout);
    const gen = await loadSeries(values.gen!, values.layout);
    if (kind === 'traces') plot = await tracesPlot(real, gen, { title, channels, fs });
    else {
      const smoothing = parseNumber(values.smoothing, '--smoothing');
      const freqCutOff = parseNumber(values['freq-cut-off'], '--freq-cut-off');
      plot = await spectraPlot(real, gen, { title, channels, fs, smoothing, freqCutOff });
    }
  }
  const bytes = await writePlot(plot, values.out, { scale: parseNumber(values.scale, '--scale') });
  console.log(`wrote ${values.out} (${plot.width}×${plot.height}, ${bytes} bytes)`);
  return 0;
}
