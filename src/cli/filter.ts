import { parseArgs } from 'node:util';
import { filterChunkTrials, filterDataset } from '../inference/filter.js';
import { normalisationLogJacobian } from '../io/dataset.js';
import { createAtomicFile, saveNpy } from '../io/files.js';
import { npyBody, npyHeader } from '../io/npy.js';
import {
  applyNormalisation,
  checkWritable,
  choiceOption,
  loadInputs,
  loadModelFile,
  loadObservations,
  numberOption,
  openEngine,
  NWB_OPTIONS,
  NWB_USAGE,
} from './common.js';

export const summary = 'run the particle filter of a fitted model on data: log-likelihood, ESS, filtering means';

const USAGE = `lowrank-smc filter --model M.json --data X.npy [--layout L] [--inputs U.npy] [--particles K (64)]
  [--proposal optimal|bootstrap|encoder] [--resample-threshold F] [--seed S] [--out latents.npy] [--paths paths.npy] [--json] [--backend B]
--proposal: default the encoder proposal for a model with a CNN encoder (it reads each whole trial), else optimal for
  linear-Gaussian observations, else bootstrap.
--resample-threshold F resamples only when ESS < F·K (default: the model's training setting, else 1 = every step).
--json prints {ll_per_step, ll_per_trial, ess_mean}; ll_per_step is the mean over trials of (1/T) log p̂(y_1:T),
  in the units of the data as given (the model's normalisation is accounted for), so models fitted with and
  without z-scoring compare directly.
--out writes filtering means E[z_t | y_0:t] as (trial, time, rank); --paths the particles (trial, time, particle, rank).
Trials are filtered in chunks whose particle paths fit the device, so any number of trials works; the
paths are streamed to the --paths file, and each output appears whole or not at all.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      layout: { type: 'string' },
      inputs: { type: 'string' },
      'inputs-layout': { type: 'string' },
      particles: { type: 'string' },
      proposal: { type: 'string' },
      'resample-threshold': { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      paths: { type: 'string' },
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
  const particles = numberOption(values.particles, 'particles', { int: true, min: 1, default: 64 });
  const seed = numberOption(values.seed, 'seed', { int: true, min: 0, default: 0 });
  const thresholdFlag =
    values['resample-threshold'] === undefined ? undefined : numberOption(values['resample-threshold'], 'resample-threshold', { min: 0, max: 1 });
  if (values.out) await checkWritable(values.out, 'output');
  if (values.paths) await checkWritable(values.paths, 'output');
  const engine = await openEngine(values.backend);
  const { model, normalisation, training, encoder } = await loadModelFile(engine, values.model);
  const resampleThreshold = thresholdFlag ?? training?.resampleThreshold ?? 1;
  const c = model.config;
  const ds = applyNormalisation(await loadObservations(values.data, values.layout, c.obs, values), normalisation);
  if (ds.channels !== c.obsDim) throw new Error(`${values.data}: ${ds.channels} channels, the model expects ${c.obsDim}`);
  const inputs = await loadInputs(values.inputs, values['inputs-layout'], ds, values.data, values);
  const proposal = values.proposal ? choiceOption(values.proposal, 'proposal', ['optimal', 'bootstrap', 'encoder'] as const) : undefined;
  if (proposal === 'encoder' && !encoder)
    throw new Error(`${values.model}: --proposal encoder needs a model with a CNN encoder (fitted with --proposal encoder)`);
  // sizes beyond the device: a clear error before any GPU work
  filterChunkTrials(engine, ds.trials, ds.time, particles, c.rank);
  const pathsFile = values.paths ? await createAtomicFile(values.paths) : null;
  let f;
  try {
    if (pathsFile) await pathsFile.write(npyHeader(new Float32Array(0), [ds.trials, ds.time, particles, c.rank]));
    f = await filterDataset(model, ds, inputs, {
      particles,
      proposal,
      encoder: encoder ?? undefined,
      resampleThreshold,
      seed,
      means: !!values.out,
      onPaths: pathsFile ? (chunk) => pathsFile.write(npyBody(chunk.z)) : undefined,
    });
    if (values.out) await saveNpy(values.out, f.means, [ds.trials, ds.time, c.rank]);
    await pathsFile?.commit();
  } catch (e) {
    await pathsFile?.abort();
    throw e;
  }
  const jacobian = normalisationLogJacobian(normalisation);
  const llPerStep = f.llPerStep + jacobian;
  const out = { ll_per_step: llPerStep, ll_per_trial: f.llPerTrial.map((l) => l + jacobian * ds.time), ess_mean: f.essMean };
  if (values.json) console.log(JSON.stringify(out));
  else
    console.log(
      `log-likelihood per step ${llPerStep.toFixed(5)} (${ds.trials} trial(s) × ${ds.time} steps, ${particles} particles); mean ESS ` +
        `${f.essMean.toFixed(2)}`,
    );
  engine.destroy();
  return 0;
}
