// The web app in real headless Chromium (WebGPU on SwiftShader): builds it with web/vite.config.ts,
// serves the output on 127.0.0.1 and drives the page like a user: bad files, a short fit on the
// bundled EEG slice with pause / resume, the model file round trip, the teacher network's fixed
// points, an NWB session written here with h5wasm (binned raster, short Poisson fits with the bootstrap
// and the encoder proposal, scores on held-out units; the HDF5 module only fetched then), screenshots
// (test-results/web-app-fit.png, web-app.png), and the no-WebGPU message. Skipped without Chromium,
// failed under CI (like test/browser).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeNpy } from '../../src/io/npy.js';
import { writeNwb } from '../../src/io/nwb.js';
import { mulberry32 } from '../../src/util/random.js';
import { parseModel } from '../../src/models/model-file.js';
import { initialEncoderParams } from '../../src/models/encoder.js';
import { exponentialDecay } from '../../src/ops/optim.js';
import { initialParams } from '../../src/models/lowrank-rnn.js';
import type { AppState } from '../../src/web/app.js';
import { SMALL_FIT } from '../../src/web/demo.js';
import { CHROMIUM_ARGS, findChromium, serveStatic } from '../browser/harness.js';
import { sharedData } from '../shared-data.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TEACHER = sharedData('teacher_reach_rank2.json');
const RESULTS = resolve(repo, 'test-results');
const chromiumPath = findChromium();

if (!chromiumPath) {
  const why = `Chromium not found (PATH or CHROMIUM_PATH${process.env.CHROMIUM_PATH ? `=${process.env.CHROMIUM_PATH}` : ''}); run \`npm run setup\` to install it.`;
  if (process.env.CI) {
    test('web app: Chromium is installed', () => {
      throw new Error(why);
    });
  } else {
    console.warn(`[web app tests skipped] ${why}`);
    describe.skip('web app (Chromium not installed)', () => {
      test('web app in Chromium', () => {});
    });
  }
} else {
  let outDir = '';
  let server: Server | undefined;
  let browser: Browser | undefined;
  let url = '';
  let page: Page;
  const pageErrors: string[] = [];
  const requested: string[] = [];

  const appState = (): Promise<AppState> => page.evaluate(() => (window as unknown as { __lowrankSmcApp: AppState }).__lowrankSmcApp);
  /** Waits for a condition on the app state (evaluated in the page), with the page's errors on timeout. */
  async function waitForApp(predicate: string, timeout: number): Promise<AppState> {
    try {
      await page.waitForFunction(`(() => { const s = window.__lowrankSmcApp; return ${predicate}; })()`, undefined, { timeout, polling: 200 });
    } catch (e) {
      const s = await appState();
      throw new Error(
        `timed out waiting for ${predicate}: status "${await page.textContent('#status')}", app errors ${JSON.stringify(s.errors)}, page errors ${JSON.stringify(pageErrors.slice(-5))}`,
        { cause: e },
      );
    }
    return appState();
  }
  /** Errors the page reported since `mark` (the number it had then). */
  const errorsSince = (s: AppState, mark: number) => s.errors.slice(mark);
  async function errorText(): Promise<string> {
    await page.waitForSelector('#error.shown', { timeout: 30_000 });
    return (await page.textContent('#error')) ?? '';
  }

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'lowrank-smc-web-'));
    await build({ configFile: resolve(repo, 'web/vite.config.ts'), logLevel: 'error', build: { outDir } });
    const served = await serveStatic(outDir);
    server = served.server;
    // A sub-path checks that the page works from any folder of a static server (relative asset paths).
    url = served.url + 'index.html';
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.stack ?? e.message));
    page.on('request', (r) => requested.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(url);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  // One page session, step by step (the model saved is the one the fit step trained): the steps keep
  // their order under --sequence.shuffle; making each independent would repeat a fit in Chromium.
  describe('web app in Chromium', { shuffle: false }, () => {
    test('starts the GPU worker and names the adapter', async () => {
      const s = await waitForApp('s.ready || s.errors.length > 0', 90_000);
      expect(s.errors).toEqual([]);
      expect(await page.textContent('#adapter')).toContain('GPU:');
      expect(await page.isVisible('#no-webgpu')).toBe(false);
      console.log(`[web] Chromium ${browser!.version()}, ${s.adapter}`);
    }, 100_000);

    test('bad data and model files give a clear message', async () => {
      await page.setInputFiles('#data-file', { name: 'broken.npy', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not numpy') });
      expect(await errorText()).toContain('broken.npy: bad magic: not a NumPy .npy file');
      const fourD = encodeNpy(new Float32Array(16), [2, 2, 2, 2]);
      await page.setInputFiles('#data-file', { name: 'cube.npy', mimeType: 'application/octet-stream', buffer: Buffer.from(fourD) });
      expect(await errorText()).toContain('no default layout for a 4-D array');
      await page.setInputFiles('#data-file', { name: 'table.csv', mimeType: 'text/csv', buffer: Buffer.from('a,b\n1,2\n3,nan\n') });
      expect(await errorText()).toContain('table.csv: NaN at time 1, channel 1');
      await page.setInputFiles('#model-file', { name: 'other.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "something else"}') });
      expect(await errorText()).toContain('other.json: not a lowrank-smc model file');
      // Drag-and-drop goes through the same checks.
      await page.evaluate(() => {
        const dt = new DataTransfer();
        dt.items.add(new File(['1,2\n3'], 'ragged.csv', { type: 'text/csv' }));
        document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      });
      expect(await errorText()).toContain('ragged.csv');
      const s = await appState();
      expect(s.dataset).toBeNull();
      expect(await page.isDisabled('#start')).toBe(true);
    }, 60_000);

    test('fits the bundled EEG slice: chart updates, pause holds, loss decreases', async () => {
      const mark = (await appState()).errors.length;
      await page.click('#eeg-demo');
      await waitForApp('s.dataset !== null', 30_000);
      expect(await page.textContent('#data-info')).toContain('1 trial(s) × 800 steps × 64 channels');
      const { model, fit } = SMALL_FIT;
      const fields: Record<string, number> = {
        rank: model.rank,
        units: model.units,
        particles: fit.particles,
        iterations: fit.iterations,
        batch: fit.batch,
        window: fit.window,
        lr: fit.lr,
        seed: fit.seed,
      };
      for (const [id, v] of Object.entries(fields)) await page.fill(`#${id}`, String(v));
      await page.selectOption('#proposal', fit.proposal);
      await page.click('#start');

      // pause while the first iteration compiles and runs: once compiled an iteration takes ~0.1 s on SwiftShader, so a
      // pause asked for after a few progress events can arrive after the last iteration
      await page.click('#pause');
      const paused = await waitForApp('s.fitState === "paused"', 240_000);
      const heldAt = paused.progress.length;
      expect(heldAt).toBeGreaterThanOrEqual(1);
      expect(heldAt).toBeLessThan(fit.iterations);
      await page.waitForTimeout(1500);
      expect((await appState()).progress.length).toBe(heldAt);
      expect(await page.evaluate(() => document.querySelector('#status')?.textContent)).toContain('paused');
      await page.click('#pause'); // resume

      const s = await waitForApp(`(s.analysis !== null && s.fitState === "idle") || s.errors.length > ${mark}`, 300_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(s.progress.map((p) => p.iteration)).toEqual(Array.from({ length: fit.iterations }, (_, i) => i + 1));
      expect(Number(await page.getAttribute('#training-chart', 'data-points'))).toBe(fit.iterations);
      const loss = s.progress.map((p) => p.loss);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      // the data-driven start already explains the channels' principal variance; the fit must still improve on it
      expect(mean(loss.slice(-3))).toBeLessThan(0.9 * mean(loss.slice(0, 3)));
      expect(await page.textContent('#status')).toContain(`finished after ${fit.iterations} iterations`);

      // Analysis of the fitted clipped-ReLU model: latent paths (filtered with the optimal proposal, the default for
      // Gaussian observations), traces of 3 channels, fixed points.
      expect(s.analysis!.paths).toBe(2);
      expect(s.analysis!.proposal).toBe('optimal');
      expect(s.analysis!.fixedPoints).not.toBeNull();
      expect(Number(await page.getAttribute('#traces', 'data-series'))).toBe(3);
      await page.waitForFunction(() => Number(document.querySelector('#latent-view')?.getAttribute('data-frames') ?? 0) > 0, undefined, { timeout: 10_000 });
      expect(Number(await page.getAttribute('#latent-view', 'data-vertices'))).toBeGreaterThan(2 * 299);

      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, 'web-app-fit.png'), fullPage: true });

      const sp = s.speed!;
      const record = {
        where: 'browser',
        adapter: s.adapter,
        chromium: browser!.version(),
        ...SMALL_FIT.model,
        ...SMALL_FIT.fit,
        iterationsPerSecond: sp.iterationsPerSecond,
        particleStepsPerSecond: sp.particleStepsPerSecond,
      };
      writeFileSync(join(RESULTS, 'web-fit-speed.json'), JSON.stringify(record) + '\n');
      console.log(`[web] fit speed in Chromium: ${JSON.stringify(record)}`);
    }, 600_000);

    test('saves the model in the Node model-file format and loads it back', async () => {
      const mark = (await appState()).errors.length;
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#save-model')]);
      const path = await download.path();
      const text = readFileSync(path, 'utf8');
      const m = parseModel(text, download.suggestedFilename());
      expect(m.config).toMatchObject({ rank: 2, units: 16, obsDim: 64, nonlinearity: 'clipped_relu' });
      expect(m.training?.history.length).toBe(SMALL_FIT.fit.iterations);
      expect(m.normalisation?.mean.length).toBe(64);

      await page.setInputFiles('#model-file', { name: 'saved-model.json', mimeType: 'application/json', buffer: Buffer.from(text) });
      const s = await waitForApp(`(s.analysis?.title === "saved-model.json" && s.fitState === "idle") || s.errors.length > ${mark}`, 120_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(await page.textContent('#status')).toContain('saved-model.json: rank 2, 16 units, 64 channels');
    }, 200_000);

    test('loads the teacher network and finds its 17 fixed points (8 stable, 8 saddle, 1 unstable)', async () => {
      const mark = (await appState()).errors.length;
      await page.setInputFiles('#model-file', TEACHER);
      const s = await waitForApp(`(s.analysis?.title === "teacher_reach_rank2.json" && s.fitState === "idle") || s.errors.length > ${mark}`, 180_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(s.analysis!.fixedPoints).toEqual({ count: 17, stable: 8, saddle: 8, unstable: 1 });
      expect(await page.textContent('#fixed-points-summary')).toContain('17 fixed points: 8 stable, 8 saddle, 1 unstable');
      expect(await page.locator('#fixed-points tr.stable').count()).toBe(8);
      expect(await page.getAttribute('#latent-view', 'data-markers')).toBe('17');
      await page.waitForTimeout(500); // let the 3-D view draw the new scene
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, 'web-app.png'), fullPage: true });
      expect(pageErrors).toEqual([]);
    }, 200_000);

    test('simulates the oscillator in the page and fits a one-to-one model (units = channels); stop ends a long fit early', async () => {
      const mark = (await appState()).errors.length;
      await page.click('#simulate');
      await waitForApp(`(s.dataset !== null && s.dataset.source.startsWith("simulated")) || s.errors.length > ${mark}`, 120_000);
      expect(await page.textContent('#data-info')).toContain('4 trial(s) × 200 steps × 8 channels');
      await page.fill('#iterations', '500');
      await page.selectOption('#observation', 'one-to-one');
      await page.click('#start');
      await waitForApp(`s.progress.length >= 2 || s.errors.length > ${mark}`, 240_000);
      await page.click('#stop');
      const s = await waitForApp(`(s.fitState === "idle" && s.analysis?.title.includes("simulated")) || s.errors.length > ${mark}`, 240_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(s.progress.length).toBeLessThan(500);
      expect(await page.textContent('#status')).toContain(`stopped after ${s.progress.length} iterations`);
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#save-model')]);
      const m = parseModel(readFileSync(await download.path(), 'utf8'), download.suggestedFilename());
      expect(m.config).toMatchObject({ observation: 'one-to-one', units: 8, obsDim: 8 });
      await page.selectOption('#observation', 'affine');
    }, 500_000);

    test('opens an NWB session: the HDF5 module loads only then, the binned raster shows, a short Poisson fit runs', async () => {
      const mark = (await appState()).errors.length;
      const hdf5 = (u: string) => /hdf5/i.test(u);
      expect(requested.filter(hdf5)).toEqual([]);
      // 12 units firing at 5…60 Hz, 10 trials of which 8 are training trials (the file's split column)
      const rand = mulberry32(4);
      const units = 12;
      const duration = 11.5;
      const spikeTimes = Array.from({ length: units }, (_, u) => {
        const out: number[] = [];
        for (let t = -Math.log(1 - rand()) / (5 + 5 * u); t < duration; t += -Math.log(1 - rand()) / (5 + 5 * u)) out.push(t);
        return out;
      });
      const start = Array.from({ length: 10 }, (_, k) => 1 + k);
      const onset = start.map((s) => s + 0.3);
      // behaviour at 100 Hz: a 2-D condition input (the reach target of the trial, 4 targets; 0 between trials) and a hand velocity
      const times = Array.from({ length: duration * 100 }, (_, i) => i / 100);
      const target = (t: number) => {
        const k = start.findIndex((s) => t >= s && t < s + 0.9);
        return k < 0 ? [0, 0] : [Math.cos((Math.PI / 2) * (k % 4)), Math.sin((Math.PI / 2) * (k % 4))];
      };
      const bytes = await writeNwb({
        identifier: 'web',
        description: 'web app session',
        spikeTimes,
        obsInterval: [0, duration],
        trials: { start, stop: start.map((s) => s + 0.9), columns: { move_onset_time: onset, split: start.map((_, k) => (k < 8 ? 'train' : 'val')) } },
        behaviour: [
          { name: 'condition_input', dim: 2, timestamps: times, data: times.flatMap(target) },
          { name: 'hand_vel', dim: 2, timestamps: times, data: times.flatMap((t) => target(t).map((x) => x * Math.sin(Math.PI * (t % 1)))) },
        ],
      });
      await page.setInputFiles('#data-file', { name: 'session.nwb', mimeType: 'application/x-hdf5', buffer: Buffer.from(bytes) });
      let s = await waitForApp(`s.nwb !== null || s.errors.length > ${mark}`, 60_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(requested.filter(hdf5).length).toBeGreaterThan(0);
      // aligned to move onset, -250…450 ms in 20 ms bins: 35 bins; the raster shows the first 3 training trials
      expect(await page.inputValue('#nwb-align')).toBe('move_onset_time');
      expect(await page.textContent('#data-info')).toContain('8 trial(s) × 35 steps × 12 channels');
      const direct = [0, 1, 2].reduce(
        (n, k) => n + spikeTimes.reduce((m, st) => m + st.filter((t) => t >= onset[k] - 0.25 && t < onset[k] + 0.45).length, 0),
        0,
      );
      expect(s.nwb).toMatchObject({ units: 12, trials: 8, binMs: 20, bins: 3 * 35, spikes: direct });
      expect(Number(await page.getAttribute('#raster', 'data-spikes'))).toBe(direct);
      expect(await page.inputValue('#proposal')).toBe('bootstrap');
      // rebinning with 50 ms bins over 0…500 ms
      await page.fill('#nwb-bin', '50');
      await page.fill('#nwb-window', '0,500');
      await page.click('#nwb-bin-button');
      s = await waitForApp('s.nwb.binMs === 50', 10_000);
      expect(s.dataset).toMatchObject({ trials: 8, time: 10, channels: 12, obs: 'poisson' });
      for (const [id, v] of Object.entries({ rank: 2, units: 16, particles: 8, iterations: 4, batch: 4, window: 10, lr: 0.01, seed: 1 }))
        await page.fill(`#${id}`, String(v));
      await page.click('#start');
      s = await waitForApp(`(s.fitState === "idle" && s.analysis?.title.includes("session.nwb")) || s.errors.length > ${mark}`, 300_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(s.progress.map((p) => p.iteration)).toEqual([1, 2, 3, 4]);
      expect(s.progress.every((p) => Number.isFinite(p.llPerStep))).toBe(true);
      expect(s.analysis!.proposal).toBe('bootstrap');
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#save-model')]);
      const m = parseModel(readFileSync(await download.path(), 'utf8'), download.suggestedFilename());
      expect(m.config).toMatchObject({ obs: 'poisson', obsNonlinearity: 'softplus', obsDim: 12 });
      expect(m.normalisation).toBeNull();
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, 'web-app-nwb.png'), fullPage: true });
    }, 400_000);

    test('fits the NWB session with the encoder proposal (saved with its trained encoder) and scores it on held-out units', async () => {
      const mark = (await appState()).errors.length;
      // hold out 3 of the 12 units: the data become the 9 held-in units of the 8 training trials
      await page.fill('#nwb-held-out', '3');
      await page.click('#nwb-bin-button');
      let s = await waitForApp(`s.nwb?.heldOut === 3 || s.errors.length > ${mark}`, 10_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(s.dataset).toMatchObject({ trials: 8, time: 10, channels: 9, obs: 'poisson' });
      // the encoder's options are read by fit's option reader: its checks, its messages
      await page.selectOption('#proposal', 'encoder');
      expect(await page.isVisible('#encoder-options')).toBe(true);
      expect(await page.inputValue('#noise')).toBe('diag');
      await page.fill('#encoder-kernels', '9,4');
      await page.click('#start');
      expect(await errorText()).toContain('receptive field');
      await page.fill('#encoder-kernels', '3,2');
      await page.fill('#encoder-channels', '8');
      await page.fill('#iterations', '6');
      const errorsBefore = (await appState()).errors.length;
      await page.click('#start');
      s = await waitForApp(
        `(s.fitState === "idle" && s.progress.length === 6 && s.analysis?.title.includes("session.nwb")) || s.errors.length > ${errorsBefore}`,
        300_000,
      );
      expect(errorsSince(s, errorsBefore)).toEqual([]);
      expect(s.progress.every((p) => Number.isFinite(p.loss) && Number.isFinite(p.llPerStep))).toBe(true);
      // the analysis after the fit filters with the model's own (encoder) proposal, as the CLI's filter does
      expect(s.analysis!.proposal).toBe('encoder');
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#save-model')]);
      const text = readFileSync(await download.path(), 'utf8');
      const m = parseModel(text, download.suggestedFilename());
      expect(m.config).toMatchObject({
        obs: 'poisson',
        obsDim: 9,
        noise: 'diag',
        encoder: { kernels: [3, 2], channels: [8], inChannels: 9, placement: 'causal' },
      });
      // the encoder's default lr warm-up (min(20, iterations / 2) = 3) is applied, as fit's, and recorded; α is reported
      expect(m.training).toMatchObject({ proposal: 'encoder', iterations: 6, lrWarmup: 3 });
      // (the page's lr 0.01 decays to lr / 2)
      expect(s.progress.map((p) => p.lr)).toEqual([0, 1, 2, 3, 4, 5].map(exponentialDecay(0.01, 0.005, 6, 0, 3)));
      expect(s.progress.every((p) => p.alpha! > 0 && p.alpha! <= 1)).toBe(true);
      // trained: gradients reached the encoder, whose weights left their initial values (seed 1)
      const initial = initialEncoderParams(m.config.encoder!, 2, 1);
      const moved = Object.keys(initial).filter((k) => m.encoder![k].some((v, i) => Math.abs(v - initial[k][i]) > 1e-6));
      expect(moved.length).toBe(Object.keys(initial).length);
      // so does the analysis of the model file loaded back
      await page.setInputFiles('#model-file', { name: 'encoder-model.json', mimeType: 'application/json', buffer: Buffer.from(text) });
      s = await waitForApp(`(s.analysis?.title === "encoder-model.json" && s.fitState === "idle") || s.errors.length > ${errorsBefore}`, 120_000);
      expect(errorsSince(s, errorsBefore)).toEqual([]);
      expect(s.analysis!.proposal).toBe('encoder');

      // scores of the fitted model: the 2 val trials of the file's split, held-out rates from a readout learnt on the 8 train trials
      await page.click('#score');
      s = await waitForApp(`(s.scores !== null && s.fitState === "idle") || s.errors.length > ${errorsBefore}`, 300_000);
      expect(errorsSince(s, errorsBefore)).toEqual([]);
      expect(s.scores).toMatchObject({
        eval_split: 'val',
        trials_train: 8,
        trials_eval: 2,
        held_in: 9,
        held_out: 3,
        bin_ms: 50,
        held_out_rates: 'fitted readout',
      });
      expect(Number.isFinite(s.scores!.co_bps) && Number.isFinite(s.scores!.ll_per_step)).toBe(true);
      expect(s.scores!.co_bps!).toBeLessThan(1); // bits per spike above the mean-rate model: far below 1 on Poisson noise
      console.log(`[web] scores in Chromium: ${JSON.stringify(s.scores)}`);
      expect(await page.textContent('#scores')).toContain('co-bps (held-out units)');
      expect(await page.textContent('#scores-info')).toContain('2 val trials scored');
      // a session binned differently from the fit is refused by name, before any GPU work
      await page.fill('#nwb-held-out', '0');
      await page.click('#nwb-bin-button');
      await waitForApp('s.nwb?.heldOut === 0', 10_000);
      await page.click('#score');
      expect(await errorText()).toContain('the model reads 9 units but the session has 12 held-in units');
      await page.selectOption('#proposal', 'bootstrap');
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, 'web-app-scores.png'), fullPage: true });
    }, 400_000);

    test('fits the NWB session driven by its condition inputs and scores the model with them', async () => {
      const mark = (await appState()).errors.length;
      await page.fill('#nwb-held-out', '3');
      await page.fill('#nwb-inputs', 'condition_input');
      await page.click('#nwb-bin-button');
      let s = await waitForApp(`s.dataset?.inputs === 2 || s.errors.length > ${mark}`, 10_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(s.dataset).toMatchObject({ trials: 8, time: 10, channels: 9, inputs: 2 });
      expect(await page.textContent('#data-info')).toContain('2 input dimension(s) drive the model');
      expect(await page.getAttribute('#nwb-inputs', 'placeholder')).toBe('condition_input, hand_vel');
      expect(await page.inputValue('#proposal')).toBe('bootstrap');
      await page.fill('#iterations', '3');
      await page.click('#start');
      s = await waitForApp(
        `(s.fitState === "idle" && s.progress.length === 3 && s.analysis?.title.includes("condition_input")) || s.errors.length > ${mark}`,
        300_000,
      );
      expect(errorsSince(s, mark)).toEqual([]);
      expect(s.analysis!.proposal).toBe('bootstrap');
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#save-model')]);
      const m = parseModel(readFileSync(await download.path(), 'utf8'), download.suggestedFilename());
      expect(m.config).toMatchObject({ obsDim: 9, inputDim: 2 });
      // the inputs reached the fit: zero inputs give the input weights a zero gradient (Adam then leaves them
      // exactly at their initial values, seed 1); units below the clipped ReLU's threshold get none either
      const wu0 = initialParams(m.config, 1).wu;
      expect(m.params.wu.length).toBe(2 * m.config.units);
      const movedWu = Array.from(m.params.wu).filter((v, i) => Math.abs(v - wu0[i]) > 1e-6).length;
      console.log(`[web] input weights moved by the fit with inputs: ${movedWu} of ${wu0.length}`);
      expect(movedWu).toBeGreaterThan(0);

      await page.click('#score');
      s = await waitForApp(`(s.scores !== null && s.fitState === "idle") || s.errors.length > ${mark}`, 300_000);
      expect(errorsSince(s, mark)).toEqual([]);
      expect(s.scores).toMatchObject({ eval_split: 'val', trials_train: 8, trials_eval: 2, held_in: 9, held_out: 3, velocity: 'hand_vel' });
      for (const k of ['co_bps', 'vel_r2', 'll_per_step'] as const) expect(Number.isFinite(s.scores![k])).toBe(true);
      console.log(`[web] scores of a model with inputs in Chromium: ${JSON.stringify(s.scores)}`);
      // binned without its inputs, the session cannot drive the model: refused by name before GPU work
      await page.fill('#nwb-inputs', '');
      await page.click('#nwb-bin-button');
      await waitForApp('s.dataset?.inputs === 0', 10_000);
      await page.click('#score');
      expect(await errorText()).toContain("the model takes 2 input(s); bin the session's series that drove it as inputs");
    }, 400_000);

    test('without WebGPU the page says so and how to enable it', async () => {
      const plain = await browser!.newPage();
      await plain.addInitScript(() => {
        delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
      });
      await plain.goto(url);
      await plain.waitForSelector('#no-webgpu.shown', { timeout: 30_000 });
      const text = (await plain.textContent('#no-webgpu')) ?? '';
      expect(text).toContain('needs WebGPU');
      expect(text).toContain('--enable-unsafe-webgpu');
      expect(await plain.isDisabled('#start')).toBe(true);
      await plain.close();
    }, 60_000);
  });
}
