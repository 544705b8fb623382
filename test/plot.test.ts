// Plots: the SVG holds the expected marks (counted from vega's aria role descriptions), PNGs are real
// PNGs of the right size, and the `plot` CLI writes files and rejects bad arguments with clear errors.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { run as plotCli } from '../src/cli/plot.js';
import { encodeNpy } from '../src/io/npy.js';
import { latentTrajectories, phasePortrait, spectraPlot, tracesPlot, trainingCurves } from '../src/plot/charts.js';
import { svgToPng, writePlot } from '../src/plot/files.js';
import { historyFromTable, parseHistory } from '../src/plot/history.js';

const count = (svg: string, role: string) => svg.split(`aria-roledescription="${role}"`).length - 1;

/** Number of vertices of each drawn line (vega writes "M x,y L x,y …"). */
function lineVertexCounts(svg: string): number[] {
  const out: number[] = [];
  for (const m of svg.matchAll(/aria-roledescription="line mark" d="([^"]*)"/g)) out.push((m[1].match(/[ML]/g) ?? []).length);
  return out;
}

function pngSize(png: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  sig.forEach((b, i) => expect(png[i], `PNG signature byte ${i}`).toBe(b));
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  expect(String.fromCharCode(...png.subarray(12, 16))).toBe('IHDR');
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

function sines(time: number, channels: number, freq: number, phase = 0): { data: Float64Array; shape: number[] } {
  const data = new Float64Array(time * channels);
  for (let t = 0; t < time; t++) for (let c = 0; c < channels; c++) data[t * channels + c] = Math.sin(2 * Math.PI * freq * (c + 1) * t + phase) + 0.01 * c;
  return { data, shape: [time, channels] };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-plot-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('charts', () => {
  test('training curves: one line per series, NaN values dropped, log axis', async () => {
    const loss = Array.from({ length: 50 }, (_, i) => 10 * Math.exp(-i / 10) + 1);
    loss[7] = NaN;
    const ll = loss.map((v) => -v);
    const p = await trainingCurves({ series: { loss, logLikelihood: ll }, iteration: loss.map((_, i) => 10 * i) }, { title: 'fit', logY: ['loss'] });
    expect(count(p.svg, 'line mark')).toBe(2);
    expect(lineVertexCounts(p.svg)).toEqual([49, 49]);
    expect(p.svg).toContain('logLikelihood');
    expect(p.width).toBeGreaterThan(400);
    await expect(trainingCurves({ series: { a: [1, 2] }, iteration: [1] })).rejects.toThrow(/"a" has 2 values but there are 1 iterations/);
    await expect(trainingCurves({ series: { a: [1, 2] } }, { logY: ['b'] })).rejects.toThrow(/unknown series "b"/);
  });

  test('latent trajectories: pairs of projections for rank 3, PCA beyond, one line per trial and panel', async () => {
    const trials = 2;
    const T = 120;
    const mk = (R: number) => {
      const d = new Float64Array(trials * T * R);
      for (let k = 0; k < trials; k++) for (let t = 0; t < T; t++) for (let r = 0; r < R; r++) d[(k * T + t) * R + r] = Math.cos(t / (10 + r) + k) * (r + 1);
      return { data: d, shape: [trials, T, R] };
    };
    const r3 = await latentTrajectories(mk(3));
    expect(count(r3.svg, 'line mark')).toBe(6); // 3 panels × 2 trials
    expect(lineVertexCounts(r3.svg).every((n) => n === T)).toBe(true);
    const r2 = await latentTrajectories({ data: mk(2).data.subarray(0, T * 2), shape: [T, 2] });
    expect(count(r2.svg, 'line mark')).toBe(1);
    const r5 = await latentTrajectories(mk(5), { maxPoints: 30 });
    expect(count(r5.svg, 'line mark')).toBe(6);
    expect(r5.svg).toContain('PC 1');
    expect(Math.max(...lineVertexCounts(r5.svg))).toBeLessThanOrEqual(31);
    await expect(latentTrajectories(mk(3), { dims: [0, 3] })).rejects.toThrow(/channel 3 out of range/);
  });

  test('phase portrait: an arrow per grid cell along the field, fixed points by stability, trajectories', async () => {
    const grid = 8; // cell centres avoid the origin, where the field vanishes
    const p = await phasePortrait(
      {
        field: ([x, y]) => [-y, x], // rotation: zero only at the origin
        fixedPoints: [
          { z: [0, 0], stability: 'stable' },
          { z: [1, 1], stability: 'saddle' },
        ],
        trajectories: [
          [
            [0.5, 0],
            [0, 0.5],
            [-0.5, 0],
          ],
          [
            [1, 0],
            [0, 1],
          ],
        ],
      },
      { xDomain: [-2, 2], yDomain: [-2, 2], grid },
    );
    expect(count(p.svg, 'rule mark')).toBe(grid * grid);
    expect(count(p.svg, 'point')).toBe(grid * grid + 2); // arrow heads + fixed points
    expect(count(p.svg, 'line mark')).toBe(2);
    expect(p.svg).toContain('stable');
    expect(p.svg).toContain('saddle');
    expect(p.svg).not.toContain('unstable');

    // A uniform rightward field: every arrow is horizontal and points right in screen space.
    const right = await phasePortrait({ field: () => [2, 0] }, { xDomain: [0, 1], yDomain: [0, 3], grid: 4 });
    const rules = [...right.svg.matchAll(/aria-roledescription="rule mark"[^>]*x2="([-\d.e]+)" y2="([-\d.e]+)"/g)];
    expect(rules.length).toBe(16);
    for (const [, x2, y2] of rules) {
      expect(Number(x2)).toBeGreaterThan(0);
      expect(Math.abs(Number(y2))).toBeLessThan(1e-9);
    }
    // Upward field: screen y decreases.
    const up = await phasePortrait({ field: () => [0, 1] }, { xDomain: [0, 1], yDomain: [0, 1], grid: 3 });
    for (const [, , y2] of up.svg.matchAll(/aria-roledescription="rule mark"[^>]*x2="([-\d.e]+)" y2="([-\d.e]+)"/g)) expect(Number(y2)).toBeLessThan(0);

    await expect(phasePortrait({ field: () => [0, 0], fixedPoints: [{ z: [0, 0, 0], stability: 'stable' }] })).rejects.toThrow(
      /3 coordinates; phase portraits are for rank 2/,
    );
    await expect(phasePortrait({ field: () => [0, 0] })).rejects.toThrow(/xDomain/);
    await expect(phasePortrait({ field: () => [NaN, 0] }, { xDomain: [0, 1], yDomain: [0, 1] })).rejects.toThrow(/not finite/);
  });

  test('traces: one row per channel with a real and a generated line each', async () => {
    const real = sines(300, 5, 0.01);
    const gen = sines(200, 5, 0.012, 1);
    const p = await tracesPlot(real, gen, { channels: [0, 2, 4], fs: 100 });
    expect(count(p.svg, 'line mark')).toBe(6);
    for (const c of [0, 2, 4]) expect(p.svg).toContain(`channel ${c}`);
    expect(p.svg).not.toContain('channel 1');
    expect(p.svg).toContain('time (s)');
    expect(lineVertexCounts(p.svg).sort((a, b) => a - b)).toEqual([200, 200, 200, 300, 300, 300]);
    const dec = await tracesPlot(real, gen, { maxPoints: 50 });
    expect(count(dec.svg, 'line mark')).toBe(8); // default: first four channels
    expect(Math.max(...lineVertexCounts(dec.svg))).toBeLessThanOrEqual(51);
    await expect(tracesPlot(real, sines(300, 4, 0.01))).rejects.toThrow(/5 channels, generated 4/);
  });

  test('spectra: real vs generated lines over the rfft bins', async () => {
    const real = sines(400, 3, 0.05);
    const gen = sines(400, 3, 0.1);
    const p = await spectraPlot(real, gen, { fs: 160 });
    expect(count(p.svg, 'line mark')).toBe(2);
    expect(lineVertexCounts(p.svg)).toEqual([201, 201]);
    expect(p.svg).toContain('frequency (Hz)');
    const cut = await spectraPlot(real, gen, { freqCutOff: -1, logY: false });
    expect(lineVertexCounts(cut.svg)).toEqual([200, 200]);
  });
});

describe('files', () => {
  test('PNG has the PNG signature and the SVG size times the scale; SVG written as is', async () => {
    const p = await trainingCurves({ series: { loss: [3, 2, 1.5, 1.2] } });
    const png = svgToPng(p.svg, { scale: 1.5 });
    const size = pngSize(png);
    expect(size.width).toBe(Math.round(p.width * 1.5));
    expect(size.height).toBe(Math.round(p.height * 1.5));
    const pngPath = join(dir, 'c.png');
    const svgPath = join(dir, 'c.svg');
    await writePlot(p, pngPath);
    expect(pngSize(new Uint8Array(await readFile(pngPath))).width).toBe(Math.round(p.width * 2));
    await writePlot(p, svgPath);
    expect(await readFile(svgPath, 'utf8')).toBe(p.svg);
    await expect(writePlot(p, join(dir, 'c.jpg'))).rejects.toThrow(/unsupported plot file type '.jpg'/);
  });
});

describe('history parsing', () => {
  test('arrays, records, JSON lines, column objects and nested history', () => {
    expect(parseHistory('[3, 2, null, 1]').series.value).toEqual([3, 2, NaN, 1]);
    const rec = parseHistory('[{"iteration": 10, "loss": 2, "lr": 0.1}, {"iteration": 20, "loss": 1}]');
    expect(rec.iteration).toEqual([10, 20]);
    expect(rec.series).toEqual({ loss: [2, 1], lr: [0.1, NaN] });
    const jl = parseHistory('{"step": 1, "ll": -5}\n\n{"step": 2, "ll": -4}\n');
    expect(jl.iteration).toEqual([1, 2]);
    expect(jl.series.ll).toEqual([-5, -4]);
    const cols = parseHistory('{"history": {"epoch": [0, 1], "loss": [5, 4], "name": "x"}}');
    expect(cols.iteration).toEqual([0, 1]);
    expect(Object.keys(cols.series)).toEqual(['loss']);
    expect(() => parseHistory('{"a": 1}\nnot json', 'h.jsonl')).toThrow(/h.jsonl: line 2 is not valid JSON/);
    expect(() => parseHistory('{"name": "x"}', 'h.json')).toThrow(/no numeric arrays/);
    const t = historyFromTable([3, 2], [0, 5, 1, 4, 2, 3], ['iteration', 'loss']);
    expect(t.iteration).toEqual([0, 1, 2]);
    expect(t.series.loss).toEqual([5, 4, 3]);
  });
});

describe('plot CLI', () => {
  test('writes each kind of plot from files', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const hist = join(dir, 'history.json');
      await writeFile(
        hist,
        JSON.stringify([
          { iteration: 0, loss: 3 },
          { iteration: 1, loss: 2 },
          { iteration: 2, loss: 1.5 },
        ]),
      );
      const curve = join(dir, 'curve.svg');
      expect(await plotCli(['curve', '--in', hist, '--out', curve])).toBe(0);
      expect(count(await readFile(curve, 'utf8'), 'line mark')).toBe(1);

      const real = sines(256, 3, 0.02);
      const gen = sines(256, 3, 0.03);
      const realPath = join(dir, 'real.npy');
      const genPath = join(dir, 'gen.npy');
      await writeFile(realPath, encodeNpy(Float32Array.from(real.data), real.shape));
      await writeFile(genPath, encodeNpy(Float32Array.from(gen.data), gen.shape));
      const traces = join(dir, 'traces.png');
      expect(await plotCli(['traces', '--in', realPath, '--gen', genPath, '--out', traces, '--channels', '0,1', '--fs', '160'])).toBe(0);
      pngSize(new Uint8Array(await readFile(traces)));
      const spectra = join(dir, 'spectra.svg');
      expect(await plotCli(['spectra', '--in', realPath, '--gen', genPath, '--out', spectra, '--smoothing', '4'])).toBe(0);
      expect(count(await readFile(spectra, 'utf8'), 'line mark')).toBe(2);

      // channel,time layout through --layout; JSON nested arrays for latents.
      const lat = join(dir, 'lat.json');
      await writeFile(lat, JSON.stringify([Array.from({ length: 50 }, (_, t) => Math.cos(t / 5)), Array.from({ length: 50 }, (_, t) => Math.sin(t / 5))]));
      const latOut = join(dir, 'lat.svg');
      expect(await plotCli(['latents', '--in', lat, '--layout', 'channel,time', '--out', latOut])).toBe(0);
      expect(lineVertexCounts(await readFile(latOut, 'utf8'))).toEqual([50]);
    } finally {
      log.mockRestore();
    }
  });

  test('bad arguments give clear errors', async () => {
    const any = join(dir, 'x.json');
    await writeFile(any, '[1, 2, 3]');
    await expect(plotCli(['scatter', '--in', any, '--out', join(dir, 'o.png')])).rejects.toThrow(/unknown plot kind "scatter"/);
    await expect(plotCli(['traces', '--in', any, '--out', join(dir, 'o.png')])).rejects.toThrow(/needs --gen/);
    await expect(plotCli(['curve', '--in', any, '--out', join(dir, 'o.pdf')])).rejects.toThrow(/\.png or \.svg/);
    await expect(plotCli(['curve', '--out', join(dir, 'o.png')])).rejects.toThrow(/--in FILE is required/);
    await expect(plotCli(['latents', '--in', join(dir, 'missing.npy'), '--out', join(dir, 'o.png')])).rejects.toThrow(/missing.npy: file not found/);
    await expect(plotCli(['curve', '--in', any, '--series', 'loss', '--out', join(dir, 'o.png')])).rejects.toThrow(/"loss" not in/);
  });
});
