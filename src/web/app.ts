/**
 * The web app's page: data loading and validation, fit controls, live charts, the 3-D latent view,
 * fixed points and model files. All GPU compute runs in worker.ts; this thread only parses files,
 * draws, and keeps `window.__lowrankSmcApp` (a read-only summary the browser tests read).
 */
import type { BinOptions, BinnedSession, Dataset, FitOptionValues, FitProgress, NwbSession, SpikeEvaluation } from '../index.js';
import { binSession, fitSettings, parseCsv, parseNpy, parseNwb, selectTrials, toCanonical, zscore } from '../index.js';
import { drawNote, drawRaster, drawTraces, drawTrainingChart } from './charts.js';
import { EEG_DEMO, fitSpeed } from './demo.js';
import { LatentView, type LatentMarker, type LatentPath, type Rgba } from './latent-view.js';
import type { AnalysisMessage, DatasetMessage, FitSettings, FromWorker, ToWorker } from './protocol.js';

export interface AppState {
  ready: boolean;
  adapter: string | null;
  fitState: string;
  /** The data on show; `inputs`: dimensions of the inputs that drive the model (0: none). */
  dataset: { source: string; trials: number; time: number; channels: number; inputs: number; obs: 'gauss' | 'poisson' } | null;
  /** The NWB session on show: its units and trials, and what the raster drew (binned, training trials). */
  nwb: { source: string; units: number; trials: number; binMs: number; bins: number; spikes: number; heldOut: number } | null;
  /** The last scores of the model on show on the NWB session (eval-spikes' JSON). */
  scores: SpikeEvaluation['scores'] | null;
  progress: FitProgress[];
  /** Warnings the running or last fit gave while fitting (e.g. the encoder proposal switching itself off). */
  fitWarnings: string[];
  /** Iterations per second (median interval after the first, compiling, iteration) and particle steps per second. */
  speed: { iterationsPerSecond: number; particleStepsPerSecond: number } | null;
  analysis: {
    title: string;
    paths: number;
    /** The proposal of the filtering means drawn (null without data). */
    proposal: string | null;
    fixedPoints: { count: number; stable: number; saddle: number; unstable: number } | null;
  } | null;
  errors: string[];
  savedModels: number;
}

const state: AppState = {
  ready: false,
  adapter: null,
  fitState: 'idle',
  dataset: null,
  nwb: null,
  scores: null,
  progress: [],
  fitWarnings: [],
  speed: null,
  analysis: null,
  errors: [],
  savedModels: 0,
};
(window as unknown as { __lowrankSmcApp: AppState }).__lowrankSmcApp = state;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const errorBox = $('error');
const status = $('status');
const buttons = {
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  stop: $<HTMLButtonElement>('stop'),
  save: $<HTMLButtonElement>('save-model'),
  score: $<HTMLButtonElement>('score'),
};

let dataset: DatasetMessage | null = null;
let settings: FitSettings | null = null;
let latentView: LatentView | null = null;
let paused = false;
/** What the status line says once the analysis that follows a fit or a model load is shown. */
let headline: string | null = null;

function showError(text: string): void {
  state.errors.push(text);
  errorBox.textContent = text;
  errorBox.classList.add('shown');
}

function clearError(): void {
  errorBox.textContent = '';
  errorBox.classList.remove('shown');
}

function setStatus(text: string): void {
  status.textContent = text;
}

function updateButtons(): void {
  const fitting = state.fitState === 'fitting' || state.fitState === 'paused' || state.fitState === 'stopping';
  const working = fitting || state.fitState === 'analysing' || state.fitState === 'loading';
  buttons.start.disabled = !state.ready || working || !dataset;
  buttons.pause.disabled = !fitting || state.fitState === 'stopping';
  buttons.pause.textContent = state.fitState === 'paused' ? 'resume' : 'pause';
  buttons.stop.disabled = !fitting || state.fitState === 'stopping';
  buttons.save.disabled = !state.ready || working;
  buttons.score.disabled = !state.ready || working || state.fitState === 'scoring' || !binned;
}

// ------------------------------------------------------------------------------------ WebGPU check

const WEBGPU_HELP =
  'This page needs WebGPU, and this browser does not provide it (navigator.gpu is missing or has no adapter). ' +
  'Use a recent Chrome or Edge (113+) on a system with GPU drivers; on Linux start Chrome with ' +
  '--enable-unsafe-webgpu --enable-features=Vulkan (or enable chrome://flags/#enable-unsafe-webgpu). ' +
  'In Firefox Nightly set dom.webgpu.enabled to true in about:config; Safari 18+ has WebGPU under Develop › Feature Flags.';

function noWebGpu(detail: string): void {
  const box = $('no-webgpu');
  box.textContent = `${WEBGPU_HELP}\n(${detail})`;
  box.classList.add('shown');
  state.ready = false;
  $('adapter').textContent = 'no WebGPU';
  setStatus('WebGPU unavailable: fitting is disabled');
  updateButtons();
}

// ------------------------------------------------------------------------------------ worker

let worker: Worker | null = null;

function send(m: ToWorker, transfer: Transferable[] = []): void {
  if (!worker) return showError('the GPU worker is not running (this browser has no WebGPU)');
  worker.postMessage(m, transfer);
}

function startWorker(): void {
  worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker.onerror = (e) => {
    showError(`the GPU worker failed: ${e.message || 'unknown error'}`);
    state.fitState = 'idle';
    updateButtons();
  };
  worker.onmessage = (e: MessageEvent<FromWorker>) => onWorkerMessage(e.data);
}

function onWorkerMessage(m: FromWorker): void {
  switch (m.type) {
    case 'ready':
      state.ready = true;
      state.adapter = m.adapter;
      $('adapter').textContent = `GPU: ${m.adapter}${m.software ? ' (software)' : ''}`;
      setStatus('ready: load data, pick the EEG demo or simulate an oscillator');
      break;
    case 'fatal':
      noWebGpu(m.message);
      break;
    case 'error':
      showError(m.message);
      break;
    case 'state':
      state.fitState = m.state;
      if (m.state === 'paused') setStatus(`paused at iteration ${state.progress.at(-1)?.iteration ?? 0}`);
      if (m.state === 'stopping') setStatus('stopping at the next iteration…');
      if (m.state === 'analysing') setStatus('computing latents, generated traces and fixed points…');
      if (m.state === 'scoring') setStatus('scoring the model on the session…');
      if (m.state === 'idle' && status.textContent?.startsWith('computing')) setStatus(headline ? `${headline}; analysis shown` : 'done');
      break;
    case 'progress':
      onProgress(m.progress);
      break;
    case 'fit-done':
      headline = `${m.stopped ? 'stopped' : 'finished'} after ${m.iterations} iterations (${m.seconds.toFixed(1)} s)`;
      setStatus(headline);
      break;
    case 'simulated':
      useDataset(m.dataset.data, m.dataset.trials, m.dataset.time, m.dataset.channels, m.description);
      break;
    case 'model-loaded':
      headline = `loaded ${m.description}`;
      setStatus(headline);
      break;
    case 'model-file':
      download(m.text, m.name);
      break;
    case 'analysis':
      showAnalysis(m);
      break;
    case 'scores':
      showScores(m.scores, m.source, m.seconds);
      break;
  }
  updateButtons();
}

// ------------------------------------------------------------------------------------ data

/** Use a (trial, time, channel) array: z-scored per channel, or, for spike counts, as they are (Poisson observations). */
function useDataset(data: Float32Array, trials: number, time: number, channels: number, source: string, counts = false, inputs: Dataset | null = null): void {
  if (counts) dataset = { data, trials, time, channels, inputs, normalisation: null, source, obs: 'poisson' };
  else {
    const { data: normalised, normalisation } = zscore({ data, trials, time, channels });
    dataset = { ...normalised, inputs: null, normalisation, source, obs: 'gauss' };
  }
  if (!counts) {
    state.nwb = null;
    binned = null;
  }
  $('nwb-options').hidden = !counts;
  state.dataset = { source, trials, time, channels, inputs: inputs?.channels ?? 0, obs: dataset.obs };
  $('data-info').textContent =
    `${source}\n${trials} trial(s) × ${time} steps × ${channels} channels ` +
    (counts ? '(spike counts: Poisson observations, bootstrap or encoder proposal)' : '(z-scored per channel)') +
    (inputs ? `; ${inputs.channels} input dimension(s) drive the model` : '');
  if (counts && $<HTMLSelectElement>('proposal').value === 'optimal') $<HTMLSelectElement>('proposal').value = 'bootstrap';
  showProposalOptions();
  const win = $<HTMLInputElement>('window');
  if (Number(win.value) > time) win.value = String(time);
  clearError();
  updateButtons();
}

/** Parse a data file (.npy or a text table) into (trial, time, channel) with the chosen layout. */
function parseDataFile(name: string, bytes: ArrayBuffer): void {
  const lower = name.toLowerCase();
  const layout = $<HTMLSelectElement>('layout').value || undefined;
  let array: { shape: readonly number[]; data: ArrayLike<number> };
  if (lower.endsWith('.npy')) array = parseNpy(bytes, name);
  else if (/\.(csv|tsv|txt)$/.test(lower)) {
    const table = parseCsv(new TextDecoder().decode(bytes), name);
    array = table;
  } else throw new Error(`${name}: unsupported file type (expected .npy, .csv, .tsv or .txt data, an .nwb session, or a .json model file)`);
  const ds = toCanonical(array, layout, name);
  if (ds.time < 2) {
    throw new Error(`${name}: shape (${array.shape.join(', ')}) gives ${ds.time} time step(s) per trial; a fit needs at least 2 (check the layout)`);
  }
  useDataset(ds.data, ds.trials, ds.time, ds.channels, `${name}, shape (${array.shape.join(', ')})`);
}

// ------------------------------------------------------------------------------------ NWB sessions

let nwbSession: NwbSession | null = null;

/** Read an NWB session (the HDF5 module loads now, on first use), offer its events to align to, and bin it. */
async function openNwb(file: File): Promise<void> {
  setStatus(`reading ${file.name}…`);
  const session = await parseNwb(new Uint8Array(await file.arrayBuffer()), file.name);
  nwbSession = session;
  const align = $<HTMLSelectElement>('nwb-align');
  const events = session.trials ? ['start_time', 'stop_time', ...Object.keys(session.trials.columns).filter((c) => /_time$/.test(c))] : [];
  align.innerHTML = ['<option value="">none: consecutive windows</option>', ...events.map((e) => `<option>${e}</option>`)].join('');
  align.value = events.includes('move_onset_time') ? 'move_onset_time' : '';
  $<HTMLInputElement>('nwb-inputs').placeholder = session.behaviour.length ? session.behaviour.map((b) => b.name).join(', ') : 'no behaviour series';
  binNwb();
  setStatus(`${file.name}: ${session.units.count} units${session.trials ? `, ${session.trials.count} trials` : ''}; binned`);
}

/** The open session binned with the page's options, all trials (what scoring reads). */
let binned: BinnedSession | null = null;

/**
 * Bin the open session with the page's options; the training trials (all trials without a split column,
 * unless a split is given) of the held-in units become the data.
 */
function binNwb(): void {
  const s = nwbSession;
  if (!s) return;
  const numbers = (id: string) =>
    $<HTMLInputElement>(id)
      .value.split(',')
      .filter((x) => x.trim() !== '')
      .map((x) => Number(x.trim()));
  const [binMs] = numbers('nwb-bin');
  const align = $<HTMLSelectElement>('nwb-align').value || undefined;
  const window = numbers('nwb-window');
  if (align && (window.length !== 2 || window.some((x) => !Number.isFinite(x))))
    throw new Error(`window must be two numbers A,B (ms around ${align}), got "${$<HTMLInputElement>('nwb-window').value}"`);
  const [windowMs] = numbers('nwb-window-ms');
  const heldOut = Number($<HTMLInputElement>('nwb-held-out').value || 0);
  if (!Number.isInteger(heldOut) || heldOut < 0 || heldOut >= s.units.count)
    throw new Error(`held-out units must be an integer in [0, ${s.units.count - 1}], got "${$<HTMLInputElement>('nwb-held-out').value}"`);
  const forwardMs = Number($<HTMLInputElement>('nwb-forward').value || 0);
  const fractions = numbers('nwb-split');
  if (fractions.length !== 0 && fractions.length !== 3)
    throw new Error(`split must be three proportions TRAIN,VAL,TEST, got "${$<HTMLInputElement>('nwb-split').value}"`);
  const names = (id: string) =>
    $<HTMLInputElement>(id)
      .value.split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
  const condition = names('nwb-condition');
  const inputs = names('nwb-inputs');
  const split: BinOptions['split'] =
    fractions.length === 3 ? { fractions: fractions as [number, number, number] } : align && s.trials?.columns.split ? 'file' : { fractions: [1, 0, 0] };
  const common = {
    binMs,
    split,
    seed: 0,
    behaviour: 'all' as const,
    heldOut: heldOut > 0 ? { count: heldOut } : undefined,
    forwardMs: forwardMs > 0 ? forwardMs : undefined,
    condition: condition.length ? condition : undefined,
    inputs: inputs.length ? inputs : undefined,
  };
  const b = binSession(s, align ? { ...common, align, window: window as [number, number] } : { ...common, windowMs });
  const train = selectTrials(b.heldInCounts, b.split, ['train']);
  if (train.trials === 0) throw new Error(`${s.source}: no training trials in the split`);
  if (train.time < 2) throw new Error(`${s.source}: windows of ${train.time} bin(s); a fit needs at least 2 (widen the window)`);
  const shown = Math.min(3, train.trials);
  drawRaster($<HTMLCanvasElement>('raster'), train.data, shown, train.time, train.channels, `${s.source}: first ${shown} training trial(s), ${binMs} ms bins`);
  const raster = $<HTMLCanvasElement>('raster').dataset;
  state.nwb = { source: s.source, units: s.units.count, trials: train.trials, binMs, bins: Number(raster.bins), spikes: Number(raster.spikes), heldOut };
  binned = { ...b, electrodes: null, skipped: [] }; // what scoring needs (the worker gets a copy)
  const where = align ? `${align} ${window.join(',')} ms` : `windows of ${windowMs} ms`;
  const out = heldOut > 0 ? `, ${heldOut} units held out` : '';
  const trainInputs = b.inputs && selectTrials(b.inputs, b.split, ['train']);
  const driven = inputs.length ? `, inputs ${inputs.join(', ')}` : '';
  useDataset(train.data, train.trials, train.time, train.channels, `${s.source} (${where}, ${binMs} ms bins${out}${driven})`, true, trainInputs);
}

/** Score the model on show on the binned session (co-bps on the held-out units, velocity R², PSTH R², fp-bps). */
function score(): void {
  clearError();
  if (!binned || !state.nwb) return showError('open an NWB session first');
  state.scores = null;
  send({ type: 'score', binned, source: state.nwb.source });
}

function showScores(scores: SpikeEvaluation['scores'], source: string, seconds: number): void {
  state.scores = scores;
  const fmt = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(4) : 'n/a');
  const rows: [string, string][] = [
    ['co-bps (held-out units)', fmt(scores.co_bps)],
    ['fp-bps (forward bins)', fmt(scores.fp_bps)],
    [`velocity R²${scores.velocity ? ` (${scores.velocity})` : ''}`, fmt(scores.vel_r2)],
    ['PSTH R²', fmt(scores.psth_r2)],
    ['log-likelihood per step', fmt(scores.ll_per_step)],
  ];
  $('scores').innerHTML = rows.map(([k, v]) => `<tr><th style="text-align:left">${k}</th><td>${v}</td></tr>`).join('');
  const from = scores.held_out_rates ? `; held-out rates from the ${scores.held_out_rates}` : '';
  $('scores-info').textContent =
    `${source}: ${scores.trials_eval} ${scores.eval_split} trials scored, readouts and decoder from ${scores.trials_train} train trials; ` +
    `${scores.held_in} held-in, ${scores.held_out} held-out units${from} (${seconds.toFixed(1)} s)`;
  setStatus(`scored: co-bps ${fmt(scores.co_bps)}`);
}

async function openFile(file: File): Promise<void> {
  clearError();
  try {
    if (file.size === 0) throw new Error(`${file.name}: empty file`);
    if (file.name.toLowerCase().endsWith('.nwb')) await openNwb(file);
    else if (file.name.toLowerCase().endsWith('.json')) {
      state.fitState = 'loading';
      updateButtons();
      send({ type: 'load-model', text: await file.text(), name: file.name, dataset });
    } else parseDataFile(file.name, await file.arrayBuffer());
  } catch (e) {
    showError((e as Error).message);
  }
}

async function loadEegDemo(): Promise<void> {
  clearError();
  try {
    const res = await fetch(`./${EEG_DEMO.file}`);
    if (!res.ok) throw new Error(`the bundled EEG demo (${EEG_DEMO.file}) could not be fetched: HTTP ${res.status}`);
    const arr = parseNpy(await res.arrayBuffer(), EEG_DEMO.file);
    const ds = toCanonical(arr, 'time,channel', EEG_DEMO.file);
    useDataset(ds.data, ds.trials, ds.time, ds.channels, `EEG demo (PhysioNet S001R01, first ${ds.time} samples at 160 Hz)`);
  } catch (e) {
    showError((e as Error).message);
  }
}

// ------------------------------------------------------------------------------------ fit

/**
 * The fit's settings from the form, through the CLI's option reader (fitSettings): the fields carry the
 * CLI's flag names, so the defaults, the checks and their messages are fit's.
 */
function readSettings(): FitSettings {
  if (!dataset) throw new Error('load data first (a file, the EEG demo, or the simulated oscillator)');
  const field = (id: string) => $<HTMLInputElement>(id).value.trim();
  const lr = Number(field('lr'));
  const encoder = field('proposal') === 'encoder';
  const values: FitOptionValues = {
    obs: dataset.obs,
    rank: field('rank'),
    // one-to-one: channel i is unit i (units = channels)
    units: field('observation') === 'one-to-one' ? undefined : field('units'),
    nonlinearity: field('nonlinearity'),
    observation: field('observation'),
    noise: field('noise'),
    particles: field('particles'),
    proposal: field('proposal'),
    iters: field('iterations'),
    batch: field('batch'),
    window: field('window'),
    lr: field('lr'),
    'lr-end': lr > 0 ? lr / 2 : undefined,
    // empty: fit's default (a warm-up for the encoder proposal)
    'lr-warmup': field('lr-warmup') || undefined,
    seed: field('seed'),
    'log-every': 1,
    ...(encoder
      ? {
          'encoder-kernels': field('encoder-kernels'),
          'encoder-channels': field('encoder-channels'),
          'encoder-padding': field('encoder-padding'),
          'encoder-pad-mode': field('encoder-pad-mode'),
          'encoder-constant-var': $<HTMLInputElement>('encoder-constant-var').checked,
          'held-in-channels': field('held-in-channels') || undefined,
          't-forward': field('t-forward'),
        }
      : {}),
  };
  return fitSettings(values, dataset, dataset.inputs?.channels ?? 0);
}

function startFit(): void {
  clearError();
  if (!dataset) return showError('load data first (a file, the EEG demo, or the simulated oscillator)');
  try {
    settings = readSettings();
  } catch (e) {
    return showError((e as Error).message);
  }
  state.progress = [];
  state.fitWarnings = [];
  $('fit-warnings').textContent = '';
  state.speed = null;
  paused = false;
  drawChart();
  state.fitState = 'fitting';
  setStatus('compiling kernels and starting the fit…');
  send({ type: 'fit', dataset, settings });
  updateButtons();
}

function onProgress(p: FitProgress): void {
  state.progress.push(p);
  if (settings) state.speed = fitSpeed(state.progress, settings);
  const sp = state.speed
    ? `\n${state.speed.iterationsPerSecond.toFixed(2)} it/s, ${Math.round(state.speed.particleStepsPerSecond).toLocaleString('en')} particle-steps/s` +
      ' (median, after the first iteration)'
    : '';
  $('fit-stats').textContent =
    `iteration ${p.iteration} / ${p.iterations}: loss ${p.loss.toFixed(3)}, log-lik/step ${p.llPerStep.toFixed(3)}, lr ` +
    `${p.lr.toExponential(2)}${p.alpha === undefined ? '' : `, encoder α ${p.alpha.toPrecision(2)}`}${sp}\nelapsed ${p.secondsElapsed.toFixed(1)} s, eta ${p.etaSeconds.toFixed(0)} s`;
  if (!paused && state.fitState !== 'stopping') setStatus(`fitting: iteration ${p.iteration} / ${p.iterations}`);
  if (p.warning) {
    state.fitWarnings.push(p.warning);
    $('fit-warnings').textContent = state.fitWarnings.map((w) => `warning: ${w}`).join('\n');
  }
  drawChart();
}

function drawChart(): void {
  const p = state.progress;
  drawTrainingChart(
    $<HTMLCanvasElement>('training-chart'),
    p.map((x) => x.iteration),
    p.map((x) => x.loss),
    p.map((x) => x.llPerStep),
  );
}

function togglePause(): void {
  paused = state.fitState !== 'paused';
  send({ type: paused ? 'pause' : 'resume' });
  if (paused) setStatus('pausing at the next iteration…');
}

// ------------------------------------------------------------------------------------ analysis

const COLORS: Record<AnalysisMessage['paths'][number]['kind'], Rgba> = {
  posterior: [0.14, 0.44, 0.64, 0.9],
  generated: [0.83, 0.33, 0.0, 0.9],
  flow: [0.25, 0.3, 0.6, 0.9],
};
const STABILITY_COLORS: Record<string, Rgba> = { stable: [0.12, 0.52, 0.29, 1], saddle: [0.79, 0.44, 0.12, 1], unstable: [0.75, 0.22, 0.17, 1] };

function showAnalysis(m: AnalysisMessage): void {
  const fp = m.fixedPoints;
  state.analysis = {
    title: m.title,
    paths: m.paths.length,
    proposal: m.proposal,
    fixedPoints: fp && { count: fp.count, stable: fp.stable, saddle: fp.saddle, unstable: fp.unstable },
  };
  $('latent-title').textContent = `— ${m.title} (rank ${m.rank})`;
  const kinds = [...new Set(m.paths.map((p) => p.kind))];
  const legend = kinds.map(
    (k) =>
      `<span style="color:rgb(${COLORS[k]
        .slice(0, 3)
        .map((c) => c * 255)
        .join(',')})">━ ` + `${k === 'posterior' ? 'filtering mean (data)' : k === 'flow' ? 'latent flow' : 'generated'}</span>`,
  );
  if (fp) legend.push('<span class="stable">✚ stable</span><span class="saddle">✚ saddle</span><span class="unstable">✚ unstable</span>');
  $('latent-legend').innerHTML = legend.join('') + '<span style="color:#888">drag to orbit, wheel to zoom</span>';
  const paths: LatentPath[] = m.paths.map((p) => ({ z: p.z, T: p.T, color: COLORS[p.kind] }));
  const markers: LatentMarker[] = (fp?.points ?? []).map((p) => ({ z: p.z, color: STABILITY_COLORS[p.stability] }));
  latentView?.setScene(m.rank, paths, markers);
  const summary = $('fixed-points-summary');
  const table = $('fixed-points');
  if (fp) {
    summary.textContent =
      `${fp.count} fixed point${fp.count === 1 ? '' : 's'}: ${fp.stable} stable, ${fp.saddle} saddle, ${fp.unstable} unstable ` +
      `(${fp.regions} linear regions, ${fp.ms.toFixed(0)} ms)`;
    const dims = fp.points[0]?.z.length ?? 0;
    table.innerHTML =
      `<tr><th>#</th>${Array.from({ length: dims }, (_, i) => `<th>z${i + 1}</th>`).join('')}<th>stability</th><th>max |λ|</th></tr>` +
      fp.points
        .map((p, i) => {
          const coords = p.z.map((v) => `<td>${v.toFixed(3)}</td>`).join('');
          return `<tr class="${p.stability}"><td>${i + 1}</td>${coords}<td>${p.stability}</td><td>${p.spectralRadius.toFixed(3)}</td></tr>`;
        })
        .join('');
  } else {
    summary.textContent = m.fixedPointsNote ?? 'none';
    table.innerHTML = '';
  }
  const traces = $<HTMLCanvasElement>('traces');
  if (m.traces) drawTraces(traces, m.traces.T, m.traces.channels, m.traces.real, m.traces.generated);
  else drawNote(traces, `${m.title} has no observation model: nothing to compare`);
}

function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  state.savedModels++;
  setStatus(`saved ${name}`);
}

// ------------------------------------------------------------------------------------ wiring

/** The encoder's options show with the encoder proposal, which combines diagonal Gaussians: its latent noise is diagonal. */
function showProposalOptions(): void {
  const encoder = $<HTMLSelectElement>('proposal').value === 'encoder';
  $('encoder-options').hidden = !encoder;
  if (encoder && $<HTMLSelectElement>('noise').value === 'full') $<HTMLSelectElement>('noise').value = 'diag';
}

function wire(): void {
  $<HTMLInputElement>('data-file').addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) void openFile(f);
    (e.target as HTMLInputElement).value = '';
  });
  $<HTMLInputElement>('model-file').addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) void openFile(f);
    (e.target as HTMLInputElement).value = '';
  });
  const drop = $('drop');
  for (const t of ['dragenter', 'dragover']) {
    document.addEventListener(t, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  }
  document.addEventListener('dragleave', () => drop.classList.remove('over'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) void openFile(f);
  });
  $('eeg-demo').addEventListener('click', () => void loadEegDemo());
  $('nwb-bin-button').addEventListener('click', () => {
    clearError();
    try {
      binNwb();
    } catch (e) {
      showError((e as Error).message);
    }
  });
  $('simulate').addEventListener('click', () => {
    clearError();
    send({ type: 'simulate', trials: 4, time: 200, seed: Number($<HTMLInputElement>('seed').value) || 1 });
  });
  buttons.start.addEventListener('click', startFit);
  buttons.pause.addEventListener('click', togglePause);
  buttons.stop.addEventListener('click', () => send({ type: 'stop' }));
  buttons.score.addEventListener('click', score);
  $<HTMLSelectElement>('proposal').addEventListener('change', showProposalOptions);
  buttons.save.addEventListener('click', () => {
    clearError();
    send({ type: 'save-model' });
  });
  window.addEventListener('resize', drawChart);
}

async function main(): Promise<void> {
  wire();
  drawChart();
  updateButtons();
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return noWebGpu('navigator.gpu is undefined');
  if (!(await gpu.requestAdapter())) return noWebGpu('navigator.gpu.requestAdapter() found no adapter');
  // The worker does not wait for the 3-D view (which probes how this browser presents canvases).
  startWorker();
  try {
    latentView = await LatentView.create($<HTMLCanvasElement>('latent-view'));
    if (!latentView) showError('the 3-D view found no WebGPU adapter');
  } catch (e) {
    showError(`the 3-D view could not start: ${(e as Error).message}`);
  }
}

void main();
