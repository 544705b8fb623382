import { parseArgs } from 'node:util';
import { conditionPsths, ridgePredict, type Trials3D } from '../analysis/nlb-scores.js';
import { checkSpikeEval, evaluateSpikes, type SpikeEvalOptions } from '../analysis/spike-eval.js';
import type { Plot } from '../plot/render.js';
import { selectTrials } from '../io/nwb-bin.js';
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
  --max-block-trials N   at most N trials per filter pass (less device memory; the scores do not depend on it)
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
held-out units), or, for a model fitted with held-out channels (fit --proposal encoder --held-in-channels H
on the held-in then the held-out units; its encoder reads the H held-in units), from the model's own readout
of those channels, the latents filtered on the held-in units alone. co-bps scores the held-out rates of the evaluation trials, fp-bps (with --forward-ms) the
rates expected past each window (the mean over sampled latent paths from the filtering distribution
at the window's last bin), vel R² a ridge decoder, PSTH R² the rates of
all units against each condition's PSTH; definitions in src/analysis/nlb-scores.ts. spike_stats compares counts
the model generates for the evaluation trials (free runs from the prior with their inputs) with the recorded
ones, as eval does: Pearson r across units of mean rates and ISI mean / sd / CV, and across unit pairs of
spike-count correlations.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      'eval-split': { type: 'string' },
      particles: { type: 'string' },
      'forward-samples': { type: 'string' },
      'max-block-trials': { type: 'string' },
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
  const maxBlockTrials =
    values['max-block-trials'] === undefined ? undefined : numberOption(values['max-block-trials'], 'max-block-trials', { int: true, min: 1 });
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
  const options: SpikeEvalOptions = {
    particles,
    seed,
    forwardSamples,
    evalSplit: values['eval-split'] ? choiceOption(values['eval-split'], 'eval-split', ['val', 'test'] as const) : undefined,
    velocity: values.velocity,
    decodeFrom,
    lagBins,
    psthSmoothBins: smoothMs / binMs,
    maxBlockTrials,
  };
  checkSpikeEval(parsed, b, options, { model: values.model, data: values.data });

  const engine = await openEngine(values.backend);
  const { model, encoder } = await loadModelFile(engine, values.model, parsed);
  const t0 = performance.now();
  const e = await evaluateSpikes(model, b, { ...options, encoder });
  const out: Record<string, unknown> = { ...e.scores };
  const evalSplit = e.scores.eval_split;
  if (values.plots) {
    // charts load vega: only when asked for
    const charts = await import('../plot/spike-charts.js');
    const ev = (x: Trials3D) => selectTrials(asF32(x), b.split, [evalSplit]);
    const plots: { name: string; plot: Promise<Plot> }[] = [];
    if (e.decoder) {
      // decoded velocity of every evaluation bin (behaviour at t + lag from features at t)
      const ex = ev(e.decoder.features);
      const all = ridgePredict(e.decoder.result.model, ex.data, ex.trials * ex.time);
      const D = e.decoder.series.data.channels;
      const decoded = new Float64Array(ex.trials * ex.time * D).fill(NaN);
      for (let k = 0; k < ex.trials; k++)
        for (let t = 0; t + lagBins < ex.time; t++)
          decoded.set(all.subarray((k * ex.time + t) * D, (k * ex.time + t + 1) * D), (k * ex.time + t + lagBins) * D);
      plots.push({
        name: 'trajectories',
        plot: charts.reachTrajectories(
          ev(e.decoder.series.data),
          { data: decoded, trials: ex.trials, time: ex.time, channels: D },
          e.evalConditions,
          b.binSeconds,
        ),
      });
    }
    if (e.psths) {
      const C = e.counts.channels;
      const units = Array.from({ length: Math.min(8, C) }, (_, i) => Math.floor((i * C) / Math.min(8, C)));
      plots.push({ name: 'psth', plot: charts.psthPlot(e.psths, conditionPsths(ev(e.rates), e.evalConditions!), b.time, C, units, binMs) });
    }
    // the first evaluation trial: recorded, generated (e.generated holds the evaluation trials), filtered rates
    const k = b.split.indexOf(evalSplit);
    const trial = (x: Trials3D, j: number) => ({
      ...x,
      trials: 1,
      data: Float64Array.from({ length: x.time * x.channels }, (_, i) => x.data[j * x.time * x.channels + i]),
    });
    const one = (x: Trials3D) => trial(x, k);
    const generated = trial(e.generated, 0);
    plots.push({
      name: 'raster',
      plot: charts.rasterPlot(
        [
          { name: 'recorded', data: one(e.counts) },
          { name: 'generated by the model', data: generated },
          { name: 'model rates (filtered)', data: one(e.rates) },
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
      `co-bps ${fmt('co_bps')}  fp-bps ${fmt('fp_bps')}  vel R² ${fmt('vel_r2')}  PSTH R² ${fmt('psth_r2')}  (${e.scores.trials_eval} ${evalSplit} trials; readouts and decoder from ${e.scores.trials_train} train trials)`,
    );
  }
  return 0;
}

function asF32(x: Trials3D): { data: Float32Array; trials: number; time: number; channels: number } {
  return { ...x, data: x.data instanceof Float32Array ? x.data : Float32Array.from(x.data) };
}
