import { parseArgs } from 'node:util';
import { forwardRates, generate } from '../analysis/generate.js';
import {
  bitsPerSpike,
  conditionPsths,
  decoderR2,
  fitPoissonReadout,
  predictPoissonReadout,
  psthR2,
  ridgePredict,
  type PoissonReadout,
  type Trials3D,
} from '../analysis/nlb-scores.js';
import type { Plot } from '../plot/render.js';
import { filterInBlocks } from '../inference/filter.js';
import type { Dataset } from '../io/dataset.js';
import { selectTrials, type SplitName } from '../io/nwb-bin.js';
import { lowpassReference } from '../ops/lowpass.js';
import { mulberry32, poissonDraw } from '../util/random.js';
import {
  checkWritable,
  choiceOption,
  isNwb,
  loadBinnedNwb,
  loadModelFile,
  numberOption,
  nwbInputSeries,
  openEngine,
  readModelFile,
  NWB_OPTIONS,
  NWB_USAGE,
} from './common.js';

export const summary = 'score a Poisson model on an NWB session: co-bps, fp-bps, velocity R², PSTH R² (Neural Latents Benchmark)';

const USAGE = `lowrank-smc eval-spikes --model M.json --data session.nwb [binning options, as used to fit] [--json]
  --eval-split val|test  trials scored (default val, else test); the readouts and decoder learn on the train trials
  --particles K (64)  --seed S (0)
  --forward-samples S (64)  latent paths per trial whose rates are averaged for fp-bps (with --forward-ms)
  --inputs NAME,…        behaviour series that drive a model with inputs, as in the fit (e.g. condition_input);
                         binned over the window and the forward bins
  --velocity NAME        behaviour series decoded (default hand_vel when present, else the first one)
  --decode-from rates|latents (rates)   --lag-ms L (0): behaviour at t + L decoded from bin t
  --psth-smooth-ms S (0) Gaussian smoothing (sd) of the counts before the true PSTHs are averaged (needs --condition)
  --plots PREFIX         write PREFIX.trajectories.png (hand paths from true and decoded velocity), PREFIX.psth.png
                         (with --condition) and PREFIX.raster.png (first evaluation trial: recorded counts, counts the
                         model generates with the trial's inputs, and the model's filtered rates)
Held-in rates are the model's observation means at the filtering means E[z_t | y_0:t]; held-out rates come
from a log-linear Poisson readout of those latents fitted on the training trials (the model never sees the
held-out units). co-bps scores the held-out rates of the evaluation trials, fp-bps (with --forward-ms) the
rates expected past each window (the mean over sampled latent paths from the filtering distribution
at the window's last bin), vel R² a ridge decoder, PSTH R² the rates of
all units against each condition's PSTH; definitions in src/analysis/nlb-scores.ts.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      'eval-split': { type: 'string' },
      particles: { type: 'string' },
      'forward-samples': { type: 'string' },
      seed: { type: 'string' },
      velocity: { type: 'string' },
      'decode-from': { type: 'string' },
      'lag-ms': { type: 'string' },
      'psth-smooth-ms': { type: 'string' },
      plots: { type: 'string' },
      inputs: { type: 'string' },
      json: { type: 'boolean' },
      backend: { type: 'string' },
      help: { type: 'boolean' },
      ...NWB_OPTIONS,
    },
  });
  if (values.help) {
    console.log(`${USAGE}\n\n${NWB_USAGE}`);
    return 0;
  }
  if (!values.model || !values.data) throw new Error('--model and --data are required\n\n' + USAGE);
  if (!isNwb(values.data)) throw new Error(`${values.data}: eval-spikes scores NWB sessions (.nwb)`);
  if (values.trials !== undefined) throw new Error('eval-spikes learns on the train trials and scores --eval-split val|test; --trials does not apply');
  const particles = numberOption(values.particles, 'particles', { int: true, min: 1, default: 64 });
  const forwardSamples = numberOption(values['forward-samples'], 'forward-samples', { int: true, min: 1, max: 32768, default: 64 });
  const seed = numberOption(values.seed, 'seed', { int: true, min: 0, default: 0 });
  const decodeFrom = choiceOption(values['decode-from'], 'decode-from', ['rates', 'latents'] as const, 'rates');
  const lagMs = numberOption(values['lag-ms'], 'lag-ms', { min: 0, default: 0 });
  const smoothMs = numberOption(values['psth-smooth-ms'], 'psth-smooth-ms', { min: 0, default: 0 });
  if (values.plots) await checkWritable(`${values.plots}.png`, 'plots');
  const parsed = await readModelFile(values.model);
  const c = parsed.config;
  if (c.obs !== 'poisson') throw new Error(`${values.model}: eval-spikes needs a Poisson model (this one has ${c.obs} observations)`);
  if (values.inputs !== undefined && !nwbInputSeries(values.inputs))
    throw new Error(`--inputs ${values.inputs}: eval-spikes bins the inputs from the session; name its behaviour series (e.g. condition_input)`);
  if (c.inputDim > 0 && values.inputs === undefined)
    throw new Error(
      `${values.model}: the model takes ${c.inputDim} input(s); name the session's behaviour series that drove it, as in the fit (--inputs condition_input)`,
    );
  if (c.inputDim === 0 && values.inputs !== undefined) throw new Error(`${values.model}: the model takes no inputs; drop --inputs`);
  const b = await loadBinnedNwb(values.data, values);
  if (b.inputs && b.inputs.channels !== c.inputDim)
    throw new Error(`${values.model}: the model takes ${c.inputDim} input(s) but --inputs ${values.inputs} has ${b.inputs.channels} dimension(s)`);
  const binMs = b.binSeconds * 1000;
  const lagBins = Math.round(lagMs / binMs);
  if (Math.abs(lagBins * binMs - lagMs) > 1e-6) throw new Error(`--lag-ms ${lagMs} is not a whole number of ${binMs} ms bins`);
  const evalSplit: SplitName = values['eval-split']
    ? choiceOption(values['eval-split'], 'eval-split', ['val', 'test'] as const)
    : b.split.includes('val')
      ? 'val'
      : 'test';
  const nTrain = b.split.filter((s) => s === 'train').length;
  const nEval = b.split.filter((s) => s === evalSplit).length;
  if (nTrain === 0 || nEval === 0) throw new Error(`${values.data}: need train and ${evalSplit} trials (have ${nTrain} and ${nEval}); see --split`);
  const velocity = values.velocity ?? (b.behaviour.some((s) => s.name === 'hand_vel') ? 'hand_vel' : b.behaviour[0]?.name);
  const vel = velocity === undefined ? undefined : b.behaviour.find((s) => s.name === velocity || s.name.split('/').pop() === velocity);
  if (velocity !== undefined && !vel)
    throw new Error(`${values.data}: behaviour '${velocity}' was not binned (binned: ${b.behaviour.map((s) => s.name).join(', ') || 'none'})`);

  const engine = await openEngine(values.backend);
  const { model, encoder } = await loadModelFile(engine, values.model, parsed);
  if (c.obsDim !== b.heldIn.length)
    throw new Error(
      `${values.model}: the model reads ${c.obsDim} units but the session has ${b.heldIn.length} held-in units with these options (use the binning options of the fit)`,
    );
  const t0 = performance.now();
  const f = await filterInBlocks(model, b.heldInCounts, b.inputs, { particles, seed, encoder: encoder ?? undefined });
  const R = c.rank;
  const DU = c.inputDim;
  const latents: Trials3D = { data: f.means, trials: b.trials, time: b.time, channels: R };
  // the inputs as the model sees them: low-pass filtered from each trial's start, on into the forward bins
  const F = b.forward?.heldIn.time ?? 0;
  const effective = b.inputs ? await effectiveInputs(model, b.inputs, b.forward?.inputs ?? null) : null;
  // the model's rates at the filtering means: one noise-free generated step from each state (and its bin's input)
  const binInputs = effective && new Float32Array(b.trials * b.time * DU);
  if (effective)
    for (let k = 0; k < b.trials; k++) binInputs!.set(effective.subarray(k * (b.time + F) * DU, (k * (b.time + F) + b.time) * DU), k * b.time * DU);
  const heldInRates = await ratesAt(model, f.means, b.trials * b.time, binInputs);
  const rates: Trials3D = { data: heldInRates, trials: b.trials, time: b.time, channels: c.obsDim };
  const train = (x: Trials3D) => selectTrials(asF32(x), b.split, ['train']);
  const ev = (x: Trials3D) => selectTrials(asF32(x), b.split, [evalSplit]);
  const out: Record<string, unknown> = {
    eval_split: evalSplit,
    trials_train: nTrain,
    trials_eval: nEval,
    held_in: b.heldIn.length,
    held_out: b.heldOut.length,
    bin_ms: binMs,
    ll_per_step: f.llPerStep,
  };
  let allRates: Trials3D = rates;
  let heldOutReadout: PoissonReadout | null = null;
  if (b.heldOutCounts) {
    const readout = fitPoissonReadout(train(latents), train(b.heldOutCounts));
    heldOutReadout = readout;
    const heldOutRates = predictPoissonReadout(readout, latents);
    out.co_bps = bitsPerSpike(ev(heldOutRates), ev(b.heldOutCounts));
    allRates = concatUnits(rates, heldOutRates);
    if (b.forward) {
      // forward prediction: the rates expected under the model's predictive distribution past each window,
      // the mean over sampled paths from the last bin's particles (driven by the inputs of that bin and the forward bins)
      const fwdInputs = effective ? new Float32Array(b.trials * (F + 1) * DU) : undefined;
      if (effective)
        for (let k = 0; k < b.trials; k++)
          fwdInputs!.set(effective.subarray((k * (b.time + F) + b.time - 1) * DU, (k + 1) * (b.time + F) * DU), k * (F + 1) * DU);
      const heldOutUnits = b.heldOut.length;
      const fwd = await forwardRates(model, f.last, {
        steps: F,
        samples: forwardSamples,
        inputs: fwdInputs,
        seed,
        readout: { channels: heldOutUnits, rates: (z, rows) => predictPoissonReadout(readout, { data: z, trials: rows, time: 1, channels: R }).data },
      });
      const fwdRates = concatUnits(
        { data: fwd.rates, trials: b.trials, time: F, channels: c.obsDim },
        { data: fwd.extra!, trials: b.trials, time: F, channels: heldOutUnits },
      );
      const fwdCounts = concatUnits(b.forward.heldIn, b.forward.heldOut!);
      out.fp_bps = bitsPerSpike(ev(fwdRates), ev(fwdCounts));
    }
  } else {
    out.co_bps = null;
  }
  // charts load vega: only when asked for
  const charts = values.plots ? await import('../plot/spike-charts.js') : null;
  const plots: { name: string; plot: Promise<Plot> }[] = [];
  const evalConditions = b.condition?.filter((_, k) => b.split[k] === evalSplit) ?? null;
  if (vel) {
    const x = decodeFrom === 'rates' ? allRates : latents;
    const d = decoderR2(train(x), train(vel.data), ev(x), ev(vel.data), { lagBins });
    if (values.plots) {
      // decoded velocity of every evaluation bin (behaviour at t + lag from features at t)
      const ex = ev(x);
      const all = ridgePredict(d.model, ex.data, ex.trials * ex.time);
      const D = vel.data.channels;
      const decoded = new Float64Array(ex.trials * ex.time * D).fill(NaN);
      for (let k = 0; k < ex.trials; k++)
        for (let t = 0; t + lagBins < ex.time; t++)
          decoded.set(all.subarray((k * ex.time + t) * D, (k * ex.time + t + 1) * D), (k * ex.time + t + lagBins) * D);
      plots.push({
        name: 'trajectories',
        plot: charts!.reachTrajectories(ev(vel.data), { data: decoded, trials: ex.trials, time: ex.time, channels: D }, evalConditions, b.binSeconds),
      });
    }
    out.vel_r2 = d.r2;
    out.vel_r2_per_dim = d.r2PerDim;
    out.vel_ridge_alpha = d.alpha;
    out.velocity = vel.name;
  }
  if (b.condition) {
    const counts = b.heldOutCounts ? concatUnits(b.heldInCounts, b.heldOutCounts) : b.heldInCounts;
    const psths = conditionPsths(counts, b.condition, smoothMs / binMs);
    out.psth_r2 = psthR2(ev(allRates), evalConditions!, psths);
    if (values.plots) {
      const units = Array.from({ length: Math.min(8, counts.channels) }, (_, i) => Math.floor((i * counts.channels) / Math.min(8, counts.channels)));
      plots.push({ name: 'psth', plot: charts!.psthPlot(psths, conditionPsths(ev(allRates), evalConditions!), b.time, counts.channels, units, binMs) });
    }
  }
  if (values.plots) {
    const k = b.split.indexOf(evalSplit);
    const counts = b.heldOutCounts ? concatUnits(b.heldInCounts, b.heldOutCounts) : b.heldInCounts;
    const generated = await generatedTrial(model, b.time, binInputs?.subarray(k * b.time * DU, (k + 1) * b.time * DU), heldOutReadout, seed);
    const one = (x: Trials3D) => ({ ...x, trials: 1, data: Float64Array.from({ length: x.time * x.channels }, (_, i) => x.data[k * x.time * x.channels + i]) });
    plots.push({
      name: 'raster',
      plot: charts!.rasterPlot(
        [
          { name: 'recorded', data: one(counts) },
          { name: 'generated by the model', data: generated },
          { name: 'model rates (filtered)', data: one(allRates) },
        ],
        0,
        binMs,
        { title: `trial ${b.trialRows[k]} (${evalSplit}): spikes per bin, held-in then held-out units` },
      ),
    });
    const { writePlot } = await import('../plot/files.js');
    out.plots = [];
    for (const p of plots) {
      const file = `${values.plots}.${p.name}.png`;
      await writePlot(await p.plot, file);
      (out.plots as string[]).push(file);
    }
  }
  out.seconds = (performance.now() - t0) / 1000;
  engine.destroy();
  if (values.json) console.log(JSON.stringify(out));
  else {
    const fmt = (k: string) => (typeof out[k] === 'number' ? (out[k] as number).toFixed(4) : 'n/a');
    console.log(
      `co-bps ${fmt('co_bps')}  fp-bps ${fmt('fp_bps')}  vel R² ${fmt('vel_r2')}  PSTH R² ${fmt('psth_r2')}  (${nEval} ${evalSplit} trials; readouts and decoder from ${nTrain} train trials)`,
    );
  }
  return 0;
}

/**
 * One trial generated by the model (trial, time, unit with trials = 1): a free run from the prior driven
 * by the trial's effective inputs, its held-in counts the model's Poisson samples and its held-out
 * counts Poisson draws from the readout's rates at the generated latents.
 */
async function generatedTrial(model: Model, steps: number, inputs: Float32Array | undefined, readout: PoissonReadout | null, seed: number): Promise<Trials3D> {
  const R = model.config.rank;
  const D = model.config.obsDim;
  const g = await generate(model, { steps, sequences: 1, inputs, inputsFiltered: true, initial: 'prior', seed });
  const heldIn: Trials3D = { data: g.sample, trials: 1, time: steps, channels: D };
  if (!readout) return heldIn;
  const rates = predictPoissonReadout(readout, { data: g.z, trials: 1, time: steps, channels: R });
  const uniform = mulberry32(seed);
  return concatUnits(heldIn, { ...rates, data: rates.data.map((r) => poissonDraw(r, uniform)) });
}

type Model = Awaited<ReturnType<typeof loadModelFile>>['model'];

/**
 * The inputs the model sees, (trial, window + forward bins, dim): low-pass filtered from each trial's
 * start when the model filters its inputs (as the filter does), else as binned.
 */
async function effectiveInputs(model: Model, window: Dataset, forward: Dataset | null): Promise<Float32Array> {
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
async function ratesAt(model: Model, states: Float32Array, n: number, inputs: Float32Array | null): Promise<Float32Array> {
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

function concatUnits(a: Trials3D, b: Trials3D): Trials3D {
  const rows = a.trials * a.time;
  const C = a.channels + b.channels;
  const data = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < a.channels; i++) data[r * C + i] = a.data[r * a.channels + i];
    for (let i = 0; i < b.channels; i++) data[r * C + a.channels + i] = b.data[r * b.channels + i];
  }
  return { data, trials: a.trials, time: a.time, channels: C };
}
