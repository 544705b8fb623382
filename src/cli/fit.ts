import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { normalisationLogJacobian, zscore, type Normalisation } from '../io/dataset.js';
import { fit } from '../inference/trainer.js';
import { fitObservation, fitSettings, fitZscore, trainerOptions, trainingRecord } from '../inference/fit-options.js';
import { finalLogLikelihood, fitWarnings } from '../analysis/fit-warnings.js';
import { initialiseFromData, staticBaselineLogLikelihood } from '../models/data-init.js';
import { LowRankRNN, initialParams, parameterCount } from '../models/lowrank-rnn.js';
import { parseModel, type TrainingRecord } from '../models/model-file.js';
import { CnnEncoder } from '../models/encoder.js';
import { Progress } from '../util/progress.js';
import { checkWritable, heldInThenOutCounts, isNwb, loadInputs, loadObservations, openEngine, saveModelFile, NWB_OPTIONS, NWB_USAGE } from './common.js';

export const summary = 'fit a stochastic low-rank RNN to data by variational SMC';

const USAGE = `lowrank-smc fit --data X.npy|X.csv --out model.json [options]

data
  --data FILE            observations (.npy, .csv, or an NWB session: see below)
  --layout L             axes of the array, e.g. time,channel | trial,channel,time (default by rank)
  --inputs FILE          optional inputs, same trials/time as the data (--inputs-layout L)
  --readout-from-inputs  observations read Bᵀ[v; z] + b (inputs and latents; needs --inputs)
  --input-filter raw|lowpass  inputs enter raw (default) or low-pass filtered with the trained decay a
  --no-zscore            do not z-score Gaussian data per channel (default: z-score, stored in the model)
model
  --rank R (3)  --units N (512)  --nonlinearity clipped_relu|relu|tanh|identity
  --obs gauss|poisson (gauss)  --obs-link identity|softplus|exp|relu (identity for gauss, softplus for poisson)
  --noise full|diag|scalar (full)
  --init data|reference  start the readout and observation noise from the data's principal components
                         and residual variance (default), or draw them as the reference does
  --observation affine|one-to-one (affine)  one-to-one: channel i reads unit i's current, B_o ⊙ (m z + Wu v) + b
                         (--units defaults to the channel count)  --readout-from currents|rates (currents; rates: B_o ⊙ φ(m z + Wu v; h) + b,
                         bootstrap proposal only)
  --freeze-obs-gain  --freeze-obs-bias  keep the one-to-one gains B_o (1) / the readout bias b (0) fixed
inference and training
  --particles K (10)  --proposal optimal|bootstrap|encoder (optimal for gauss+identity, else bootstrap)
  --encoder-kernels 14,4,2 --encoder-channels 128,64  the encoder proposal's CNN (kernel lengths, hidden channels;
                         needs --noise diag|scalar)  --encoder-padding causal|acausal|windowed (causal)
  --encoder-pad-mode zeros|reflect|replicate|circular (zeros)  --encoder-constant-var  one trained log-variance
  --held-in-channels N   the encoder reads only the first N channels; the likelihood covers all (co-smoothing);
                         with NWB data the channels are the N held-in units, then the --held-out-neurons
  --t-forward N (0)      encoder proposal: the last N steps of each window are forward prediction (transition
                         only, no resampling; the encoder reads the steps before them)
  --resampling systematic|stratified|multinomial (systematic)
  --resample-threshold F  resample only when ESS < F·K (default 1: every step, as the published method)
  --iters I (1000)  --batch B (10)  --window T (50, or whole trials if shorter)
  --lr 1e-3  --lr-end 1e-5  --optimizer adam|radam (adam)  --seed S (0)
  --lr-hold N (0)        iterations at --lr before the exponential decay to --lr-end begins (the decay then
                         takes the remaining iterations)
  --lr-warmup N          ramp the lr linearly up to --lr over the first N iterations (default 0; encoder proposal:
                         min(20, --iters/2), since without it Adam's first full-size steps at lr ≥ 1e-2 switch a
                         variance-head encoder off; --lr-warmup 0 disables it)
  --clip NORM            clip the gradient's L2 norm (default: no clipping, as the reference)
  --log-every N (10)  --checkpoint-every N (100)  --resume model.json (continue a checkpoint)
output
  --out FILE             model file (written atomically; also the checkpoint)
  --plots                write <out>.curves.png next to the model: log-likelihood per step (smoothed), noise
                         levels, ESS, gradient norm (and the encoder's α) over training
The progress line shows the log-likelihood per step in the data's own units (ll/step), the latent and
observation noise std (σz, σx), the mean ESS, the encoder proposal's mean weight α and the gradient norm |g|;
fit warns as soon as α falls below 5e-3 (the encoder has switched itself off), and at the end when the
fit stays below a static model of the data or a noise level or the particle weights collapse.
  --backend auto|vulkan|opengles  --json (print a JSON summary)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      layout: { type: 'string' },
      inputs: { type: 'string' },
      'inputs-layout': { type: 'string' },
      'no-zscore': { type: 'boolean' },
      'readout-from-inputs': { type: 'boolean' },
      'input-filter': { type: 'string' },
      rank: { type: 'string' },
      units: { type: 'string' },
      nonlinearity: { type: 'string' },
      obs: { type: 'string' },
      'obs-link': { type: 'string' },
      noise: { type: 'string' },
      init: { type: 'string' },
      particles: { type: 'string' },
      proposal: { type: 'string' },
      resampling: { type: 'string' },
      'resample-threshold': { type: 'string' },
      iters: { type: 'string' },
      batch: { type: 'string' },
      window: { type: 'string' },
      lr: { type: 'string' },
      'lr-end': { type: 'string' },
      'lr-hold': { type: 'string' },
      'lr-warmup': { type: 'string' },
      optimizer: { type: 'string' },
      clip: { type: 'string' },
      seed: { type: 'string' },
      'log-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      resume: { type: 'string' },
      out: { type: 'string' },
      plots: { type: 'boolean' },
      backend: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
      ...NWB_OPTIONS,
      'encoder-kernels': { type: 'string' },
      'encoder-channels': { type: 'string' },
      'encoder-padding': { type: 'string' },
      'encoder-pad-mode': { type: 'string' },
      'encoder-constant-var': { type: 'boolean' },
      'held-in-channels': { type: 'string' },
      't-forward': { type: 'string' },
      observation: { type: 'string' },
      'readout-from': { type: 'string' },
      'freeze-obs-gain': { type: 'boolean' },
      'freeze-obs-bias': { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(`${USAGE}\n\n${NWB_USAGE}`);
    return 0;
  }
  if (!values.data) throw new Error('--data is required\n\n' + USAGE);
  if (!values.out) throw new Error('--out is required (the model file to write)');
  // ---- everything is validated before any GPU work
  const resume = values.resume
    ? parseModel(
        await readFile(values.resume, 'utf8').catch(() => {
          throw new Error(`${values.resume}: file not found`);
        }),
        values.resume,
      )
    : null;
  if (resume && !resume.training?.optimizerState) {
    throw new Error(`${values.resume}: not a checkpoint (no optimizer state); refit from scratch or pass a model written by fit`);
  }
  const fitResume = resume && { config: resume.config, training: resume.training, source: values.resume };
  const options = { ...values, zscore: !values['no-zscore'] };
  const obs = fitObservation(options, fitResume);
  // NWB co-smoothing training (or resuming it): the likelihood covers the held-out units too, the encoder reads the held-in ones
  const e = resume?.config.encoder;
  const heldIn = values['held-in-channels'] ?? (e && e.inChannels < resume!.config.obsDim ? String(e.inChannels) : undefined);
  let ds =
    isNwb(values.data) && heldIn !== undefined
      ? await heldInThenOutCounts(values.data, values, heldIn)
      : await loadObservations(values.data, values.layout, obs, values);
  const inputs = await loadInputs(values.inputs, values['inputs-layout'], ds, values.data, values);
  let normalisation: Normalisation | null = resume?.normalisation ?? null;
  if (fitZscore(options, fitResume)) {
    const z = zscore(ds);
    ds = z.data;
    normalisation = z.normalisation;
  } else if (resume?.normalisation) {
    const { normalise } = await import('../io/dataset.js');
    ds = normalise(ds, resume.normalisation);
  }
  const s = fitSettings(options, ds, inputs?.channels ?? 0, fitResume);
  const { config, proposal, particles, batch, window, iterations, seed, init } = s;
  if (resume && ds.channels !== config.obsDim) throw new Error(`${values.data}: ${ds.channels} channels, the checkpoint's model has ${config.obsDim}`);
  const checkpointEvery = s.checkpointEvery;
  await checkWritable(values.out, 'model file');

  const engine = await openEngine(values.backend);
  const start = resume?.params ?? initialParams(config, seed);
  if (!resume && init === 'data') initialiseFromData(config, start, ds);
  const model = new LowRankRNN(engine, config, start);
  const encoder = CnnEncoder.forFit(engine, config.encoder, config.rank, resume?.encoder, seed);
  const adapter = `${engine.info.backend} ${engine.info.description}${engine.info.software ? ' (software)' : ''}`;
  const record = (history: TrainingRecord['history'], done: number, optimizerState?: TrainingRecord['optimizerState']) =>
    trainingRecord(s, adapter, history, done, optimizerState);
  if (!values.json) {
    console.error(
      `model: rank ${config.rank}, ${config.units} units, ${config.obsDim} channels, ${config.nonlinearity}, ${config.obs}; ` +
        `${parameterCount(config)} parameters`,
    );
    console.error(
      `data: ${ds.trials} trial(s) × ${ds.time} steps; windows of ${window}, batch ${batch}, ${particles} particles, ${proposal} proposal; ` +
        `adapter: ${adapter}`,
    );
  }
  const progress = new Progress({ total: iterations, label: 'fit', stream: process.stderr });
  const startIter = resume?.training?.iterations ?? 0;
  // warnings shown while fitting are not repeated at the end
  const shown = new Set<string>();
  const result = await fit(engine, model, ds, inputs, {
    ...trainerOptions(s),
    encoder: proposal === 'encoder' ? encoder! : undefined,
    checkpointEvery,
    llOffsetPerStep: normalisationLogJacobian(normalisation),
    resume:
      resume && resume.training?.optimizerState
        ? {
            iteration: startIter,
            optimizerState: resume.training.optimizerState,
            history: resume.training.history,
          }
        : undefined,
    onProgress: (p) => {
      progress.update(p.iteration, {
        'll/step': p.llPerStep,
        σz: p.latentNoise,
        σx: p.obsNoise ?? undefined,
        ess: p.ess,
        α: p.alpha,
        '|g|': p.gradNorm,
        lr: p.lr,
      });
      if (p.warning) {
        progress.log(`warning: ${p.warning}`);
        shown.add(p.warning);
      }
    },
    onCheckpoint: async (c) => saveModelFile(values.out!, model, normalisation, record(c.history, c.iteration, c.optimizerState), encoder),
  });
  progress.done();
  await saveModelFile(values.out, model, normalisation, record(result.history, result.iterations, result.optimizerState), encoder);
  const last = result.history[result.history.length - 1];
  // the encoder proposal's last logged α (its share of the proposal mean)
  const alpha = result.history.filter((e) => e.alpha !== undefined).at(-1)?.alpha;
  const baseline = staticBaselineLogLikelihood(config, ds);
  const jacobian = normalisationLogJacobian(normalisation);
  const staticBaseline = baseline === null ? null : baseline + jacobian;
  const warnings = fitWarnings({ history: result.history, particles, staticBaseline, start: resume ? undefined : init });
  if (values.plots && result.history.length) {
    const { trainingCurves } = await import('../plot/charts.js');
    const { writePlot } = await import('../plot/files.js');
    const h = result.history;
    const pick = (f: (e: (typeof h)[number]) => number | undefined) => h.map((e) => f(e) ?? NaN);
    const series: Record<string, number[]> = {
      'log-likelihood per step': pick((e) => e.llPerStep),
      'latent noise std': pick((e) => e.latentNoise),
      ...(config.obs === 'gauss' ? { 'observation noise std': pick((e) => e.obsNoise) } : {}),
      'mean ESS': pick((e) => e.ess),
      'gradient norm': pick((e) => e.gradNorm),
      ...(proposal === 'encoder' ? { 'encoder α': pick((e) => e.alpha) } : {}),
    };
    const logY = ['latent noise std', 'observation noise std', 'gradient norm', 'encoder α'].filter((k) => k in series);
    const plot = await trainingCurves({ series, iteration: h.map((e) => e.iteration) }, { title: 'training', logY });
    await writePlot(plot, values.out.replace(/\.json$/, '') + '.curves.png');
  }
  const out = {
    out: values.out,
    iterations: result.iterations,
    seconds: result.seconds,
    ms_per_iter: (1000 * result.seconds) / Math.max(1, result.iterations - startIter),
    ll_per_step: result.history.length ? finalLogLikelihood(result.history) : null,
    loss: last?.loss ?? null,
    static_baseline_ll_per_step: staticBaseline,
    ...(alpha === undefined ? {} : { alpha }),
    parameters: parameterCount(model.config),
    adapter,
    warnings,
  };
  if (!values.json) for (const w of warnings.filter((w) => !shown.has(w))) console.error(`warning: ${w}`);
  if (values.json) console.log(JSON.stringify(out));
  else
    console.error(
      `wrote ${values.out}: ${result.iterations} iterations in ${result.seconds.toFixed(1)} s (${out.ms_per_iter.toFixed(1)} ms/iteration), ` +
        `log-likelihood per step ${out.ll_per_step?.toFixed(4)}${alpha === undefined ? '' : `, encoder α ${alpha.toPrecision(3)}`}`,
    );
  engine.destroy();
  return 0;
}
