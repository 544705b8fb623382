/**
 * A Poisson model scored on a binned NWB session (the Neural Latents Benchmark scores): co-bps on the
 * held-out units, fp-bps past each window, velocity R² of a ridge decoder and PSTH R². The CLI's
 * `eval-spikes` and the web app share it; no DOM or Node APIs.
 *
 * Held-in rates are the model's observation means at the filtering means E[z_t | y_0:t]. Held-out rates
 * come from a log-linear Poisson readout of those latents fitted on the training trials, or, for a
 * model trained with held-out channels (its encoder reads the held-in units, its likelihood covers
 * held-in then held-out units: co-smoothing training), from the model's own readout of those channels,
 * the latents filtered on the held-in units alone.
 */
import type { Dataset } from '../io/dataset.js';
import { selectTrials, type BinnedSession, type SplitName } from '../io/nwb-bin.js';
import { filterInBlocks } from '../inference/filter.js';
import type { CnnEncoder } from '../models/encoder.js';
import { isOneToOne, LowRankRNN } from '../models/lowrank-rnn.js';
import { lowpassReference } from '../ops/lowpass.js';
import { mulberry32, poissonDraw } from '../util/random.js';
import { forwardRates, generate } from './generate.js';
import { compareSpikeStats, type SpikeComparison } from './spikes.js';
import {
  bitsPerSpike,
  conditionPsths,
  decoderR2,
  fitPoissonReadout,
  predictPoissonReadout,
  psthR2,
  type DecoderResult,
  type PoissonReadout,
  type Trials3D,
} from './nlb-scores.js';

export interface SpikeEvalOptions {
  particles?: number;
  seed?: number;
  /** Latent paths per trial whose rates are averaged for fp-bps. */
  forwardSamples?: number;
  /** Trials scored (default val when the split has any, else test). */
  evalSplit?: 'val' | 'test';
  /** Behaviour series decoded (default hand_vel when binned, else the first series; none without behaviour). */
  velocity?: string;
  decodeFrom?: 'rates' | 'latents';
  /** Behaviour at t + lag decoded from bin t. */
  lagBins?: number;
  /** Gaussian smoothing (sd, bins) of the counts before the true PSTHs are averaged. */
  psthSmoothBins?: number;
  /** The model's CNN encoder: the latents are filtered with the encoder proposal. */
  encoder?: CnnEncoder | null;
  /** At most this many trials per filter pass (device memory); the scores do not depend on it. */
  maxBlockTrials?: number;
}

/** The scores (as `eval-spikes --json` prints them) and what the plots draw. */
export interface SpikeEvaluation {
  scores: {
    eval_split: SplitName;
    trials_train: number;
    trials_eval: number;
    held_in: number;
    held_out: number;
    bin_ms: number;
    ll_per_step: number;
    /** Filter passes over the trials. */
    filter_blocks: number;
    /** Where the held-out rates come from: a readout fitted on the training trials, or the model's own channels. */
    held_out_rates: 'fitted readout' | 'model channels' | null;
    co_bps: number | null;
    fp_bps?: number;
    vel_r2?: number;
    vel_r2_per_dim?: number[];
    vel_ridge_alpha?: number;
    velocity?: string;
    psth_r2?: number;
    /**
     * Counts the model generates for the evaluation trials (free runs from the prior driven by their
     * inputs; held-out units drawn from the readout) against the recorded ones: Pearson r across units of
     * mean rates, ISI mean / sd / CV, and across pairs of spike-count correlations (`eval`'s statistics).
     */
    spike_stats?: SpikeComparison;
  };
  /** Filtering means (trial, time, rank). */
  latents: Trials3D;
  /** Rates of the held-in then the held-out units (trial, time, unit). */
  rates: Trials3D;
  /** Counts of the held-in then the held-out units. */
  counts: Trials3D;
  /** The model's effective inputs of each window's bins (trial, time, dim), or null. */
  binInputs: Float32Array | null;
  /** Counts generated for the evaluation trials (held-in then held-out units), what spike_stats compares. */
  generated: Trials3D;
  /** The readout fitted for the held-out units (null when the model reads them itself, or there are none). */
  heldOutReadout: PoissonReadout | null;
  decoder: { result: DecoderResult; series: { name: string; data: Dataset }; features: Trials3D } | null;
  psths: Map<string, Float64Array> | null;
  evalConditions: string[] | null;
}

/** Whether a model reads the session's held-out units itself: an encoder on the held-in units, channels for all. */
export function readsHeldOut(model: { config: LowRankRNN['config'] }, b: Pick<BinnedSession, 'heldIn' | 'heldOut'>): boolean {
  const c = model.config;
  return !!c.encoder && b.heldOut.length > 0 && c.encoder.inChannels === b.heldIn.length && c.obsDim === b.heldIn.length + b.heldOut.length;
}

/** Checks that need no GPU work: the model's kind and width against the session, the split, the behaviour series. */
export function checkSpikeEval(
  model: { config: LowRankRNN['config'] },
  b: BinnedSession,
  opts: SpikeEvalOptions,
  names: { model: string; data: string } = { model: 'model', data: 'session' },
): { evalSplit: SplitName; series: { name: string; data: Dataset } | null } {
  const c = model.config;
  const source = names.model;
  if (c.obs !== 'poisson') throw new Error(`${source}: scoring spikes needs a Poisson model (this one has ${c.obs} observations)`);
  if (c.inputDim > 0 && !b.inputs) throw new Error(`${source}: the model takes ${c.inputDim} input(s); bin the session's series that drove it as inputs`);
  if (b.inputs && b.inputs.channels !== c.inputDim)
    throw new Error(`${source}: the model takes ${c.inputDim} input(s) but the session's inputs have ${b.inputs.channels} dimension(s)`);
  if (readsHeldOut(model, b)) {
    if (isOneToOne(c)) throw new Error(`${source}: a one-to-one model cannot be filtered on part of its channels`);
  } else if (c.obsDim !== b.heldIn.length) {
    const withOut =
      c.encoder && c.encoder.inChannels < c.obsDim ? ` (its encoder reads ${c.encoder.inChannels}: hold out ${c.obsDim - c.encoder.inChannels} units)` : '';
    throw new Error(
      `${source}: the model reads ${c.obsDim} units${withOut} but the session has ${b.heldIn.length} held-in units with these options (use the binning options of the fit)`,
    );
  }
  const evalSplit: SplitName = opts.evalSplit ?? (b.split.includes('val') ? 'val' : 'test');
  const nTrain = b.split.filter((s) => s === 'train').length;
  const nEval = b.split.filter((s) => s === evalSplit).length;
  if (nTrain === 0 || nEval === 0) throw new Error(`${names.data}: need train and ${evalSplit} trials (have ${nTrain} and ${nEval}); see the split`);
  const name = opts.velocity ?? (b.behaviour.some((s) => s.name === 'hand_vel') ? 'hand_vel' : b.behaviour[0]?.name);
  const series = name === undefined ? null : (b.behaviour.find((s) => s.name === name || s.name.split('/').pop() === name) ?? null);
  if (name !== undefined && !series)
    throw new Error(`${names.data}: behaviour '${name}' was not binned (binned: ${b.behaviour.map((s) => s.name).join(', ') || 'none'})`);
  return { evalSplit, series };
}

/** Score `model` on the binned session `b` (see the module comment). */
export async function evaluateSpikes(model: LowRankRNN, b: BinnedSession, opts: SpikeEvalOptions = {}): Promise<SpikeEvaluation> {
  const { evalSplit, series } = checkSpikeEval(model, b, opts);
  const c = model.config;
  const particles = opts.particles ?? 64;
  const seed = opts.seed ?? 0;
  const R = c.rank;
  const DU = c.inputDim;
  const own = readsHeldOut(model, b);
  const H = b.heldIn.length;
  // a model with held-out channels is filtered on the held-in units only: its readout of those
  const filtered = own ? await heldInModel(model, H) : model;
  let f;
  try {
    f = await filterInBlocks(filtered, b.heldInCounts, b.inputs, { particles, seed, encoder: opts.encoder ?? undefined, maxBlock: opts.maxBlockTrials });
  } finally {
    if (filtered !== model) filtered.dispose();
  }
  const latents: Trials3D = { data: f.means, trials: b.trials, time: b.time, channels: R };
  // the inputs as the model sees them: low-pass filtered from each trial's start, on into the forward bins
  const F = b.forward?.heldIn.time ?? 0;
  const effective = b.inputs ? await effectiveInputs(model, b.inputs, b.forward?.inputs ?? null) : null;
  const binInputs = effective && new Float32Array(b.trials * b.time * DU);
  if (effective)
    for (let k = 0; k < b.trials; k++) binInputs!.set(effective.subarray(k * (b.time + F) * DU, (k * (b.time + F) + b.time) * DU), k * b.time * DU);
  // the model's rates at the filtering means: one noise-free generated step from each state (and its bin's input)
  const modelRates: Trials3D = { data: await ratesAt(model, f.means, b.trials * b.time, binInputs), trials: b.trials, time: b.time, channels: c.obsDim };
  const train = (x: Trials3D) => selectTrials(asF32(x), b.split, ['train']);
  const ev = (x: Trials3D) => selectTrials(asF32(x), b.split, [evalSplit]);
  const scores: SpikeEvaluation['scores'] = {
    eval_split: evalSplit,
    trials_train: b.split.filter((s) => s === 'train').length,
    trials_eval: b.split.filter((s) => s === evalSplit).length,
    held_in: H,
    held_out: b.heldOut.length,
    bin_ms: b.binSeconds * 1000,
    ll_per_step: f.llPerStep,
    filter_blocks: f.blocks,
    held_out_rates: null,
    co_bps: null,
  };
  let rates = modelRates;
  let heldOutReadout: PoissonReadout | null = null;
  if (b.heldOutCounts) {
    let heldOutRates: Trials3D;
    if (own) {
      heldOutRates = units(modelRates, H, c.obsDim);
      scores.held_out_rates = 'model channels';
    } else {
      heldOutReadout = fitPoissonReadout(train(latents), train(b.heldOutCounts));
      heldOutRates = predictPoissonReadout(heldOutReadout, latents);
      rates = concatUnits(modelRates, heldOutRates);
      scores.held_out_rates = 'fitted readout';
    }
    scores.co_bps = bitsPerSpike(ev(heldOutRates), ev(b.heldOutCounts));
    if (b.forward) {
      // forward prediction: the rates expected under the model's predictive distribution past each window,
      // the mean over sampled paths from the last bin's particles (driven by the inputs of that bin and the forward bins)
      const fwdInputs = effective ? new Float32Array(b.trials * (F + 1) * DU) : undefined;
      if (effective)
        for (let k = 0; k < b.trials; k++)
          fwdInputs!.set(effective.subarray((k * (b.time + F) + b.time - 1) * DU, (k + 1) * (b.time + F) * DU), k * (F + 1) * DU);
      const readout = heldOutReadout;
      const fwd = await forwardRates(model, f.last, {
        steps: F,
        samples: opts.forwardSamples ?? 64,
        inputs: fwdInputs,
        seed,
        readout: readout
          ? { channels: b.heldOut.length, rates: (z, rows) => predictPoissonReadout(readout, { data: z, trials: rows, time: 1, channels: R }).data }
          : undefined,
      });
      const modelFwd: Trials3D = { data: fwd.rates, trials: b.trials, time: F, channels: c.obsDim };
      const fwdRates = readout ? concatUnits(modelFwd, { data: fwd.extra!, trials: b.trials, time: F, channels: b.heldOut.length }) : modelFwd;
      scores.fp_bps = bitsPerSpike(ev(fwdRates), ev(concatUnits(b.forward.heldIn, b.forward.heldOut!)));
    }
  }
  const counts = b.heldOutCounts ? concatUnits(b.heldInCounts, b.heldOutCounts) : b.heldInCounts;
  const evalTrials = b.split.flatMap((s, k) => (s === evalSplit ? [k] : []));
  const evalInputs = binInputs && Float32Array.from(evalTrials.flatMap((k) => Array.from(binInputs.subarray(k * b.time * DU, (k + 1) * b.time * DU))));
  const generated = await generatedTrials(model, b.time, evalTrials.length, evalInputs ?? undefined, heldOutReadout, seed);
  const nd = (x: Trials3D) => ({ data: x.data, shape: [x.trials, x.time, x.channels] });
  scores.spike_stats = compareSpikeStats(nd(generated), nd(ev(counts)), { fs: 1 / b.binSeconds });
  let decoder: SpikeEvaluation['decoder'] = null;
  if (series) {
    const features = opts.decodeFrom === 'latents' ? latents : rates;
    const result = decoderR2(train(features), train(series.data), ev(features), ev(series.data), { lagBins: opts.lagBins ?? 0 });
    decoder = { result, series, features };
    scores.vel_r2 = result.r2;
    scores.vel_r2_per_dim = Array.from(result.r2PerDim);
    scores.vel_ridge_alpha = result.alpha;
    scores.velocity = series.name;
  }
  const evalConditions = b.condition?.filter((_, k) => b.split[k] === evalSplit) ?? null;
  let psths: Map<string, Float64Array> | null = null;
  if (b.condition) {
    psths = conditionPsths(counts, b.condition, opts.psthSmoothBins ?? 0);
    scores.psth_r2 = psthR2(ev(rates), evalConditions!, psths);
  }
  return { scores, latents, rates, counts, binInputs, generated, heldOutReadout, decoder, psths, evalConditions };
}

/** The model restricted to its first `channels` observed channels (an affine readout: rows of B, b, Bv). */
async function heldInModel(model: LowRankRNN, channels: number): Promise<LowRankRNN> {
  const c = model.config;
  const p = await model.hostParams();
  const rows = (a: Float32Array) => a.slice(0, (a.length / c.obsDim) * channels);
  const params = { ...p, B: rows(p.B), b: rows(p.b), logVarX: c.obs === 'gauss' ? rows(p.logVarX) : p.logVarX, Bv: rows(p.Bv) };
  return new LowRankRNN(model.engine, { ...c, obsDim: channels }, params);
}

/**
 * `trials` trials generated by the model (trial, time, unit): free runs from the prior driven by each
 * trial's effective inputs (trials × steps rows, or none), their counts the model's Poisson samples, then
 * Poisson draws from the held-out readout's rates at the generated latents (when the held-out units have
 * a fitted readout).
 */
export async function generatedTrials(
  model: LowRankRNN,
  steps: number,
  trials: number,
  inputs: Float32Array | undefined,
  readout: PoissonReadout | null,
  seed: number,
): Promise<Trials3D> {
  const R = model.config.rank;
  const D = model.config.obsDim;
  const g = await generate(model, { steps, sequences: trials, inputs, inputsFiltered: true, initial: 'prior', seed });
  const heldIn: Trials3D = { data: g.sample, trials, time: steps, channels: D };
  if (!readout) return heldIn;
  const rates = predictPoissonReadout(readout, { data: g.z, trials, time: steps, channels: R });
  const uniform = mulberry32(seed);
  return concatUnits(heldIn, { ...rates, data: rates.data.map((r) => poissonDraw(r, uniform)) });
}

/**
 * The inputs the model sees, (trial, window + forward bins, dim): low-pass filtered from each trial's
 * start when the model filters its inputs (as the filter does), else as binned.
 */
async function effectiveInputs(model: LowRankRNN, window: Dataset, forward: Dataset | null): Promise<Float32Array> {
  const { trials, time, channels: DU } = window;
  const F = forward?.time ?? 0;
  const all = new Float32Array(trials * (time + F) * DU);
  for (let k = 0; k < trials; k++) {
    all.set(window.data.subarray(k * time * DU, (k + 1) * time * DU), k * (time + F) * DU);
    if (forward) all.set(forward.data.subarray(k * F * DU, (k + 1) * F * DU), (k * (time + F) + time) * DU);
  }
  if (model.config.inputFilter !== 'lowpass') return all;
  const host = await model.hostParams();
  return Float32Array.from(lowpassReference(all, [trials, time + F, DU], host.thetaA[0]));
}

/**
 * The model's observation means ψ(η(z)) at each of `n` latent states (rank-wide rows of `states`), with
 * each state's effective input (rows of `inputs`) where the readout reads them.
 */
async function ratesAt(model: LowRankRNN, states: Float32Array, n: number, inputs: Float32Array | null): Promise<Float32Array> {
  const D = model.config.obsDim;
  const R = model.config.rank;
  const DU = model.config.inputDim;
  const out = new Float32Array(n * D);
  const chunk = 32768; // sequences per dispatch (one workgroup each)
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const u = inputs?.slice(s * DU, (s + m) * DU);
    const g = await generate(model, {
      steps: 1,
      sequences: m,
      inputs: u,
      inputsFiltered: true,
      initial: { states: states.slice(s * R, (s + m) * R) },
      noiseScale: 0,
    });
    out.set(g.mean, s * D);
  }
  return out;
}

function asF32(x: Trials3D): { data: Float32Array; trials: number; time: number; channels: number } {
  return { ...x, data: x.data instanceof Float32Array ? x.data : Float32Array.from(x.data) };
}

/** Units [from, to) of every bin. */
function units(x: Trials3D, from: number, to: number): Trials3D {
  const rows = x.trials * x.time;
  const C = to - from;
  const data = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) for (let i = 0; i < C; i++) data[r * C + i] = x.data[r * x.channels + from + i];
  return { data, trials: x.trials, time: x.time, channels: C };
}

/** The units of `a` then those of `b`, bin by bin. */
export function concatUnits(a: Trials3D, b: Trials3D): Trials3D {
  const rows = a.trials * a.time;
  const C = a.channels + b.channels;
  const data = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < a.channels; i++) data[r * C + i] = a.data[r * a.channels + i];
    for (let i = 0; i < b.channels; i++) data[r * C + a.channels + i] = b.data[r * b.channels + i];
  }
  return { data, trials: a.trials, time: a.time, channels: C };
}
