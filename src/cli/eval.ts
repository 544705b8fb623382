import { parseArgs } from 'node:util';
import { generate } from '../analysis/generate.js';
import { evaluateGenerated } from '../analysis/evaluation.js';
import { median, medianAbsDeviation } from '../analysis/stats.js';
import { compareSpikeStats } from '../analysis/spikes.js';
import { applyNormalisation, loadInputs, loadModelFile, loadObservations, numberOption, openEngine, readModelFile, NWB_OPTIONS, NWB_USAGE } from './common.js';

export const summary = 'evaluate a fitted model against data: D_stsp, D_H (and spike statistics for count data)';

const USAGE = `lowrank-smc eval --model M.json --data X.npy [--layout L] [--json]
  --steps T             generated steps (default min(data length, 10000), as the reference)
  --cut-off C (0)       burn-in steps discarded before recording (the EEG protocol uses 2400)
  --init posterior|prior (posterior: the t = 0 proposal given the data's first observation; prior with --inputs)
  --inputs U.npy|NAME,…  the data's inputs (with --data session.nwb: names of its behaviour series, e.g. condition_input)
                        for a model with inputs: one sequence per data trial, driven by that trial's inputs, from the
                        prior; the trials concatenated are the generated series (--steps: at most all their steps)
  --inputs-layout L
  --smooth-at-eval      Hann-smooth (15) and re-z-score the generated data (EEG protocol)
  --smoothing 20  --freq-cut-off=-1|10000 (10000)  --samples 1000  --sigma 1  --seed S (0)  --gpu-dstsp
  --repeats R (1)       evaluate R generated series (seeds S … S+R−1): medians, MADs and each repeat
                        (one series' D_stsp varies by about ±0.2 on the EEG model; spike statistics: the first)
  --keep-underflow      d_stsp averages every Monte-Carlo sample (default: drop those whose float32
                        density underflows to 0, as the reference does; both values are printed)
Metrics follow the reference evaluation (mackelab/smc_rnns): D_stsp is KL(true ‖ generated) between σ-smoothed empirical
state distributions; D_H the mean over channels of the Hellinger distance between smoothed spectra.
JSON: d_stsp (the rule above), d_stsp_all_samples, d_stsp_underflow_fraction (share the reference drops).`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      layout: { type: 'string' },
      inputs: { type: 'string' },
      'inputs-layout': { type: 'string' },
      json: { type: 'boolean' },
      steps: { type: 'string' },
      'cut-off': { type: 'string' },
      init: { type: 'string' },
      'smooth-at-eval': { type: 'boolean' },
      smoothing: { type: 'string' },
      'freq-cut-off': { type: 'string' },
      samples: { type: 'string' },
      sigma: { type: 'string' },
      seed: { type: 'string' },
      'gpu-dstsp': { type: 'boolean' },
      'keep-underflow': { type: 'boolean' },
      repeats: { type: 'string' },
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
  const init = values.init ?? (values.inputs ? 'prior' : 'posterior');
  if (!['posterior', 'prior'].includes(init)) throw new Error(`--init must be posterior or prior, got "${init}"`);
  if (values.inputs && init === 'posterior')
    throw new Error('--init posterior filters the first observation only; with --inputs each trial starts from the prior');
  // options first, so a bad value stops before the GPU is opened
  const cutOff = numberOption(values['cut-off'], 'cut-off', { int: true, min: 0, default: 0 });
  const seed = numberOption(values.seed, 'seed', { int: true, min: 0, default: 0 });
  const repeats = numberOption(values.repeats, 'repeats', { int: true, min: 1, default: 1 });
  const metricOptions = {
    smoothGenerated: !!values['smooth-at-eval'],
    smoothing: numberOption(values.smoothing, 'smoothing', { min: 0, default: 20 }),
    freqCutOff: numberOption(values['freq-cut-off'], 'freq-cut-off', { int: true, default: 10000 }),
    samples: numberOption(values.samples, 'samples', { int: true, min: 1, default: 1000 }),
    sigma: numberOption(values.sigma, 'sigma', { min: 0, default: 1 }),
    mimicFloat32Underflow: !values['keep-underflow'],
  };
  const parsed = await readModelFile(values.model);
  const raw = await loadObservations(values.data, values.layout, parsed.config.obs, values);
  if (raw.channels !== parsed.config.obsDim) throw new Error(`${values.data}: ${raw.channels} channels, the model expects ${parsed.config.obsDim}`);
  // an input-driven model is evaluated on the data's inputs, never on zeros it was not trained on
  if (parsed.config.inputDim > 0 && !values.inputs)
    throw new Error(
      `${values.model}: the model takes ${parsed.config.inputDim} input(s); give the data's --inputs (a file, or series names for an NWB session)`,
    );
  if (parsed.config.inputDim === 0 && values.inputs) throw new Error(`${values.model}: the model takes no inputs; drop --inputs`);
  const inputs = await loadInputs(values.inputs, values['inputs-layout'], raw, values.data, values);
  if (inputs && inputs.channels !== parsed.config.inputDim)
    throw new Error(`--inputs ${values.inputs}: ${inputs.channels} input channel(s), the model takes ${parsed.config.inputDim}`);
  const engine = await openEngine(values.backend);
  const { model, normalisation } = await loadModelFile(engine, values.model, parsed);
  const c = model.config;
  const ds = applyNormalisation(raw, normalisation);
  const total = ds.trials * ds.time;
  const steps = numberOption(values.steps, 'steps', { int: true, min: 2, default: Math.min(total, 10000) });
  const t0 = performance.now();
  // the true series: the data's first `steps` rows (trials concatenated), in the model's units
  const rows = Math.min(total, steps);
  const trueSeries = { data: ds.data.subarray(0, rows * c.obsDim), shape: [rows, c.obsDim] };
  const runs: Record<string, number>[] = [];
  let spikes: unknown;
  for (let r = 0; r < repeats; r++) {
    // repeat r generates and samples with seed + r, so repeat 0 is the single evaluation
    // with inputs: every data trial once, driven by its inputs (the series is their concatenation)
    const g = await generate(model, {
      steps: inputs ? ds.time : steps,
      inputs: inputs?.data,
      burnIn: cutOff,
      seed: seed + r,
      initial: init === 'posterior' ? { posteriorOf: { y: ds.data.subarray(0, c.obsDim), steps: 1, particles: 64 } } : 'prior',
    });
    const genSeries = { data: g.sample.subarray(0, rows * c.obsDim), shape: [rows, c.obsDim] };
    const ev = await evaluateGenerated(trueSeries, genSeries, { ...metricOptions, seed: seed + r, engine: values['gpu-dstsp'] ? engine : undefined });
    runs.push({
      seed: seed + r,
      d_stsp: ev.dStsp,
      d_stsp_all_samples: ev.dStspAllSamples,
      d_h: ev.dH,
      mean_rate_error: ev.meanRateError,
      d_stsp_underflow_fraction: ev.dStspUnderflowFraction,
    });
    if (r === 0 && c.obs === 'poisson') spikes = compareSpikeStats(genSeries, trueSeries);
  }
  const mid = (key: string) => median(runs.map((x) => x[key]));
  const out: Record<string, unknown> = {
    d_stsp: mid('d_stsp'),
    d_stsp_all_samples: mid('d_stsp_all_samples'),
    d_h: mid('d_h'),
    mean_rate_error: mid('mean_rate_error'),
    d_stsp_underflow_fraction: mid('d_stsp_underflow_fraction'),
    steps: rows,
    cut_off: cutOff,
    seconds: (performance.now() - t0) / 1000,
  };
  if (repeats > 1) {
    out.d_stsp_mad = medianAbsDeviation(runs.map((x) => x.d_stsp));
    out.d_h_mad = medianAbsDeviation(runs.map((x) => x.d_h));
    out.repeats = runs;
  }
  if (spikes) out.spikes = spikes;
  // MADs exist only for repeats > 1
  const mads = () => `${(out.d_stsp_mad as number).toFixed(3)} / ${(out.d_h_mad as number).toFixed(4)}`;
  const spread = repeats > 1 ? ` (median of ${repeats} generated series; MAD ${mads()})` : '';
  if (values.json) console.log(JSON.stringify(out));
  else console.log(`D_stsp ${(out.d_stsp as number).toFixed(3)}  D_H ${(out.d_h as number).toFixed(4)}  (${rows} steps, cut-off ${cutOff})${spread}`);
  engine.destroy();
  return 0;
}
