/**
 * The web app's worker: owns the compute engine (WebGPU from the worker's navigator.gpu) and runs
 * fits, analysis, simulation and model files off the page's thread, so the page stays responsive.
 * Uses the public API only. One GPU job at a time; pause / resume / stop reach a running fit.
 */
import {
  CnnEncoder,
  FitSession,
  LowRankRNN,
  initialParams,
  initialiseFromData,
  createEngine,
  evaluateSpikes,
  filterDataset,
  findFixedPoints,
  fixedPointsOfFitted,
  generate,
  isTeacherFile,
  parseModel,
  serializeModel,
  teacherToRnn,
  trainerOptions,
  trainingRecord,
  type BinnedSession,
  type Dataset,
  type Engine,
  type FitSettings,
  type FixedPointResult,
  type Normalisation,
  type TrainingRecord,
} from '../index.js';
import { latentFlow, oscillatorModel, simulateDataset, teacherModel } from './demo.js';
import type { AnalysisMessage, DatasetMessage, FixedPointSummary, FromWorker, ToWorker } from './protocol.js';

const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker) => scope.postMessage(m);

let engine: Engine | null = null;
let busy = false;
let session: FitSession | null = null;
/** The model on show: the last fitted or loaded one (with its CNN encoder, if any), with what its model file needs. */
let current: { model: LowRankRNN; encoder: CnnEncoder | null; normalisation: Normalisation | null; training: TrainingRecord | null } | null = null;

const ANALYSIS_STEPS = 300;
const TRACE_CHANNELS = 3;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function setCurrent(next: typeof current): void {
  if (current && current.model !== next?.model) current.model.dispose();
  if (current?.encoder && current.encoder !== next?.encoder) current.encoder.dispose();
  current = next;
}

function summarise(r: FixedPointResult): FixedPointSummary {
  const count = (s: string) => r.points.filter((p) => p.stability === s).length;
  return {
    count: r.count,
    stable: count('stable'),
    saddle: count('saddle'),
    unstable: count('unstable'),
    regions: r.regions,
    ms: r.ms,
    points: r.points.map((p) => ({
      z: p.z,
      stability: p.stability,
      spectralRadius: p.eigenvalues.length ? Math.hypot(p.eigenvalues[0].re, p.eigenvalues[0].im) : 0,
    })),
  };
}

/**
 * Filtering means on the first stretch of the data (with the model's own proposal: its encoder's when it
 * has one, as the CLI's filter and eval-spikes), a generated run (driven by that stretch's inputs for a
 * model with inputs), traces and fixed points.
 */
async function analyse(model: LowRankRNN, encoder: CnnEncoder | null, dataset: DatasetMessage | null, title: string): Promise<AnalysisMessage> {
  const c = model.config;
  const R = c.rank;
  const D = c.obsDim;
  const DU = c.inputDim;
  const paths: AnalysisMessage['paths'] = [];
  const T = Math.min(dataset?.time ?? ANALYSIS_STEPS, ANALYSIS_STEPS);
  let real: Float32Array | null = null;
  let proposal: AnalysisMessage['proposal'] = null;
  const channels = Math.min(TRACE_CHANNELS, D);
  // the first trial's inputs, for a model with inputs (none on hand: generated autonomously, on zero inputs)
  const given = dataset?.inputs && DU > 0 && dataset.inputs.channels === DU ? dataset.inputs : null;
  const inputs = given && { data: given.data.slice(0, T * DU), trials: 1, time: T, channels: DU };
  if (dataset && dataset.channels === D && (DU === 0 || inputs)) {
    const first: Dataset = { data: dataset.data.slice(0, T * D), trials: 1, time: T, channels: D };
    const f = await filterDataset(model, first, inputs, { particles: 32, seed: 3, encoder: encoder ?? undefined });
    proposal = f.proposal;
    paths.push({ label: `filtering mean (data, ${f.proposal} proposal)`, kind: 'posterior', T, z: f.means });
    real = new Float32Array(T * channels);
    for (let t = 0; t < T; t++) for (let ch = 0; ch < channels; ch++) real[t * channels + ch] = first.data[t * D + ch];
  }
  const g = await generate(model, inputs ? { steps: T, inputs: inputs.data, initial: 'prior', seed: 11 } : { steps: T, sequences: 1, burnIn: 100, seed: 11 });
  paths.push({ label: inputs ? 'generated (the same inputs)' : 'generated', kind: 'generated', T, z: g.z });
  const generated = new Float32Array(T * channels);
  for (let t = 0; t < T; t++) for (let ch = 0; ch < channels; ch++) generated[t * channels + ch] = g.sample[t * D + ch];
  let fixedPoints: FixedPointSummary | null = null;
  let fixedPointsNote: string | null = null;
  if (c.nonlinearity !== 'relu' && c.nonlinearity !== 'clipped_relu')
    fixedPointsNote = `fixed points need a relu or clipped_relu model (this one uses ` + `${c.nonlinearity})`;
  else if (R > 4) fixedPointsNote = `fixed points are computed up to rank 4 (this model has rank ${R})`;
  else fixedPoints = summarise(await fixedPointsOfFitted(engine, model));
  return { type: 'analysis', title, rank: R, paths, proposal, fixedPoints, fixedPointsNote, traces: { channels, T, real, generated } };
}

/** Fit with settings the page read through the CLI's option reader (fitSettings: same defaults and checks). */
async function runFit(dataset: DatasetMessage, s: FitSettings): Promise<void> {
  const e = engine!;
  const config = s.config;
  const ds: Dataset = { data: dataset.data, trials: dataset.trials, time: dataset.time, channels: dataset.channels };
  const start = initialParams(config, s.seed);
  if (s.init === 'data') initialiseFromData(config, start, ds);
  const model = new LowRankRNN(e, config, start);
  // a model with an encoder keeps it (and saves it) as the CLI's fit does
  const encoder = CnnEncoder.forFit(e, config.encoder, config.rank, null, s.seed);
  // every report: the page's chart and stats follow each iteration
  const options = { ...trainerOptions(s), encoder: s.proposal === 'encoder' ? encoder! : undefined, logEvery: 1 };
  session = new FitSession(e, model, ds, dataset.inputs, options);
  session.on('progress', (ev) => post({ type: 'progress', progress: ev.progress }));
  session.on('paused', () => post({ type: 'state', state: 'paused' }));
  session.on('resumed', () => post({ type: 'state', state: 'fitting' }));
  post({ type: 'state', state: 'fitting' });
  let result;
  try {
    result = await session.start();
  } catch (err) {
    model.dispose();
    encoder?.dispose();
    throw err;
  } finally {
    session = null;
  }
  post({ type: 'fit-done', iterations: result.iterations, seconds: result.seconds, stopped: result.iterations < s.iterations, history: result.history });
  const training = trainingRecord(s, `${e.info.vendor} ${e.info.architecture} ${e.info.description}`.trim(), result.history, result.iterations);
  setCurrent({ model, encoder, normalisation: dataset.normalisation, training });
  post({ type: 'state', state: 'analysing' });
  post(await analyse(model, encoder, dataset, `fitted model (${dataset.source})`));
}

async function loadModel(text: string, name: string, dataset: DatasetMessage | null): Promise<void> {
  const e = engine!;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${name}: not valid JSON (${message(err)})`);
  }
  if (isTeacherFile(json)) {
    let rnn;
    try {
      rnn = teacherToRnn(json);
    } catch (err) {
      throw new Error(`${name}: ${message(err)}`);
    }
    post({ type: 'state', state: 'analysing' });
    const fp = summarise(await findFixedPoints(e, rnn));
    const teacher = teacherModel(e, json);
    try {
      let radius = 1;
      for (const p of fp.points) radius = Math.max(radius, 1.3 * Math.hypot(...p.z));
      const flow = await latentFlow(teacher, 24, radius, 150);
      const paths: AnalysisMessage['paths'] = [];
      const R = json.R;
      for (let s = 0; s < flow.S; s++) paths.push({ label: `flow ${s + 1}`, kind: 'flow', T: flow.T, z: flow.z.slice(s * flow.T * R, (s + 1) * flow.T * R) });
      post({ type: 'model-loaded', kind: 'teacher', description: `${name}: teacher network, N = ${json.N}, rank ${R}, α = ${json.alpha}` });
      post({ type: 'analysis', title: name, rank: R, paths, proposal: null, fixedPoints: fp, fixedPointsNote: null, traces: null });
    } finally {
      teacher.dispose();
    }
    return;
  }
  const parsed = parseModel(text, name);
  const model = new LowRankRNN(e, parsed.config, parsed.params);
  const encoder = parsed.config.encoder && parsed.encoder ? new CnnEncoder(e, parsed.config.encoder, parsed.config.rank, parsed.encoder) : null;
  setCurrent({ model, encoder, normalisation: parsed.normalisation, training: parsed.training });
  const c = parsed.config;
  const readout = c.observation === 'one-to-one' ? ' (one-to-one)' : '';
  post({ type: 'model-loaded', kind: 'model', description: `${name}: rank ${c.rank}, ${c.units} units, ${c.obsDim} channels${readout}, ${c.nonlinearity}` });
  post({ type: 'state', state: 'analysing' });
  post(await analyse(model, encoder, dataset && dataset.channels === c.obsDim ? dataset : null, name));
}

async function saveModel(): Promise<void> {
  if (!current) throw new Error('no model to save yet: fit one or load a model file first');
  const { model, encoder, normalisation, training } = current;
  const file = serializeModel(model.config, await model.hostParams(), normalisation, training, encoder ? await encoder.hostParams() : null);
  post({ type: 'model-file', text: JSON.stringify(file), name: 'lowrank-smc-model.json' });
}

/** Score the model on show on a binned NWB session (held-out units, behaviour, conditions): eval-spikes' scores. */
async function score(binned: BinnedSession, source: string): Promise<void> {
  if (!current) throw new Error('no model to score yet: fit one or load a model file first');
  post({ type: 'state', state: 'scoring' });
  const t0 = performance.now();
  const e = await evaluateSpikes(current.model, binned, { encoder: current.encoder, particles: 64, seed: 0 });
  post({ type: 'scores', scores: e.scores, source, seconds: (performance.now() - t0) / 1000 });
}

async function simulate(trials: number, time: number, seed: number): Promise<void> {
  const teacher = oscillatorModel(engine!, { seed });
  try {
    const ds = await simulateDataset(teacher, trials, time, seed);
    const c = teacher.config;
    post({
      type: 'simulated',
      dataset: { ...ds, inputs: null, normalisation: null, source: 'simulated oscillator', obs: 'gauss' },
      description: `simulated rank-2 oscillator (tanh, ${c.units} units): ${trials} trials × ${time} steps × ${c.obsDim} channels`,
    });
  } finally {
    teacher.dispose();
  }
}

/** Run one GPU job at a time; report failures to the page. */
async function exclusive(job: () => Promise<void>): Promise<void> {
  if (!engine) return post({ type: 'error', message: 'the GPU engine is not ready' });
  if (busy) return post({ type: 'error', message: 'busy: wait for the running job, or stop the fit first' });
  busy = true;
  try {
    await job();
  } catch (err) {
    post({ type: 'error', message: message(err) });
  } finally {
    busy = false;
    post({ type: 'state', state: 'idle' });
  }
}

scope.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'fit':
      void exclusive(() => runFit(m.dataset, m.settings));
      break;
    case 'pause':
      session?.pause();
      break;
    case 'resume':
      session?.resume();
      break;
    case 'stop':
      if (session) {
        session.stop();
        post({ type: 'state', state: 'stopping' });
      }
      break;
    case 'score':
      void exclusive(() => score(m.binned, m.source));
      break;
    case 'simulate':
      void exclusive(() => simulate(m.trials, m.time, m.seed));
      break;
    case 'load-model':
      void exclusive(() => loadModel(m.text, m.name, m.dataset));
      break;
    case 'save-model':
      // Reads parameters only; allowed between fits.
      void exclusive(saveModel);
      break;
  }
};

createEngine({ backend: 'browser' }).then(
  (e) => {
    engine = e;
    const i = e.info;
    post({ type: 'ready', adapter: `${i.vendor} ${i.architecture} ${i.description}`.replace(/\s+/g, ' ').trim() || 'unknown adapter', software: i.software });
  },
  (err) => post({ type: 'fatal', message: message(err) }),
);
