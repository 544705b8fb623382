/**
 * `lowrank-smc bench web-fit`: the web app's small fit (SMALL_FIT in src/web/demo.ts: rank 2, 16
 * units, 8 particles, batch 4, window 50, optimal proposal) on the bundled EEG slice, timed under
 * Node like the browser test times it in Chromium (median interval between progress events after
 * the first). If test/web/app.test.ts has left its browser figure in test-results/web-fit-speed.json,
 * that line is printed next to this one.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { BenchContext, BenchLine } from './context.js';
import type { Engine } from '../src/gpu/engine.js';
import { toCanonical, zscore } from '../src/io/dataset.js';
import { loadArray } from '../src/io/files.js';
import { DEFAULT_CONFIG, LowRankRNN } from '../src/models/lowrank-rnn.js';
import type { FitProgress } from '../src/inference/trainer.js';
import { EEG_DEMO, SMALL_FIT, fitSpeed, sliceRows } from '../src/web/demo.js';
import { FitSession } from '../src/inference/fit-session.js';

export const summary = "the web app's small EEG fit under Node (compare with the browser figure from test/web)";

export const options = {
  data: { type: 'string', default: '../shared/data/eeg_s001r01_smoothed.npy' },
  iterations: { type: 'string' },
} as const;

export const usage = `  --data PATH        EEG .npy (time, 64 channels); default ../shared/data/eeg_s001r01_smoothed.npy
  --iterations N     iterations per run (default ${SMALL_FIT.fit.iterations})`;

const BROWSER_RESULT = 'test-results/web-fit-speed.json';

export async function* runBench(engine: Engine, ctx: BenchContext): AsyncIterable<BenchLine> {
  const path = String(ctx.values.data);
  const arr = await loadArray(path);
  const slice = { shape: [EEG_DEMO.steps, arr.shape[1]], data: sliceRows(arr.data, arr.shape[1], EEG_DEMO.start, EEG_DEMO.steps) };
  const data = zscore(toCanonical(slice, 'time,channel', path)).data;
  const iterations = ctx.values.iterations === undefined ? SMALL_FIT.fit.iterations : Number(ctx.values.iterations);
  const fit = { ...SMALL_FIT.fit, iterations };
  // The first run compiles the kernels; report the median over runs of each run's median rate.
  const rates: number[] = [];
  for (let run = 0; run < Math.max(1, ctx.runs); run++) {
    const model = LowRankRNN.create(engine, { ...DEFAULT_CONFIG, ...SMALL_FIT.model, obsDim: data.channels }, fit.seed);
    const progress: FitProgress[] = [];
    const session = new FitSession(engine, model, data, null, fit);
    session.on('progress', (e) => progress.push(e.progress));
    await session.start();
    model.dispose();
    rates.push(fitSpeed(progress, fit)!.iterationsPerSecond);
  }
  rates.sort((a, b) => a - b);
  const its = rates[rates.length >> 1];
  yield {
    name: 'web-fit',
    where: 'node',
    ...SMALL_FIT.model,
    ...fit,
    iterationsPerSecond: its,
    particleStepsPerSecond: its * fit.batch * fit.particles * fit.window,
  };
  if (existsSync(BROWSER_RESULT)) {
    const b = JSON.parse(readFileSync(BROWSER_RESULT, 'utf8')) as BenchLine;
    yield { note: `browser (from ${BROWSER_RESULT}): ${JSON.stringify(b)}` };
  }
}
