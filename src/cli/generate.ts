import { parseArgs } from 'node:util';
import { generate } from '../analysis/generate.js';
import { denormalise, toCanonical } from '../io/dataset.js';
import { loadArray, saveNpy } from '../io/files.js';
import {
  applyNormalisation,
  checkWritable,
  isNwb,
  loadInputs,
  loadModelFile,
  loadObservations,
  numberOption,
  nwbInputSeries,
  openEngine,
  readModelFile,
  sessionInputs,
  NWB_OPTIONS,
  NWB_USAGE,
} from './common.js';

export const summary = 'generate data from a fitted model (unconditional with burn-in, or driven by inputs)';

const USAGE = `lowrank-smc generate --model M.json --steps T --out gen.npy [options]
  --trials S (1)          independent sequences (with --inputs: its trial count; with --data session.nwb, --trials
                          selects the session's trials as in the binning options)
  --inputs U.npy          inputs (trial, time, channel) or --inputs-layout L; with --data session.nwb, names of its
                          behaviour series (e.g. condition_input): one sequence per binned trial (--trials) driven by them
  --burn-in B (0)         steps simulated and discarded first
  --init prior|mean|posterior (prior)   initial state; posterior needs --data (filters it, samples the end state)
  --data X.npy --layout L --particles K (64)   the stretch filtered for --init posterior (its first trial)
  --data-inputs U.npy     that stretch's inputs, for an input-driven model (default: zero inputs); with --data
                          session.nwb, names of its behaviour series
  --seed S (0)  --latents z.npy  --means m.npy (observation means)  --backend B
Output is (trial, time, channel) in the data's original units (the model's normalisation undone).`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      steps: { type: 'string' },
      out: { type: 'string' },
      inputs: { type: 'string' },
      'inputs-layout': { type: 'string' },
      'data-inputs': { type: 'string' },
      'burn-in': { type: 'string' },
      init: { type: 'string' },
      data: { type: 'string' },
      layout: { type: 'string' },
      particles: { type: 'string' },
      seed: { type: 'string' },
      latents: { type: 'string' },
      means: { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean' },
      ...NWB_OPTIONS,
    },
  });
  if (values.help) {
    console.log(`${USAGE}\n\n${NWB_USAGE}`);
    return 0;
  }
  if (!values.model || !values.out) throw new Error('--model and --out are required\n\n' + USAGE);
  const steps = numberOption(values.steps, 'steps', { int: true, min: 1 });
  // with NWB data --trials selects the session's trials (its binning option), else it counts sequences
  const nwbData = values.data !== undefined && isNwb(values.data);
  const trials = nwbData ? 1 : numberOption(values.trials, 'trials', { int: true, min: 1, default: 1 });
  const burnIn = numberOption(values['burn-in'], 'burn-in', { int: true, min: 0, default: 0 });
  const seed = numberOption(values.seed, 'seed', { int: true, min: 0, default: 0 });
  const init = values.init ?? 'prior';
  if (!['prior', 'mean', 'posterior'].includes(init)) throw new Error(`--init must be prior, mean or posterior, got "${init}"`);
  if (init === 'posterior' && !values.data) throw new Error('--init posterior needs --data');
  if (values['data-inputs'] && init !== 'posterior') throw new Error('--data-inputs only serves --init posterior');
  const fromSession = values.data !== undefined && isNwb(values.data) && nwbInputSeries(values.inputs) !== undefined;
  if (values.inputs && nwbInputSeries(values.inputs) && !fromSession)
    throw new Error(`--inputs ${values.inputs}: series names need --data session.nwb to bin them from (or give an .npy / .csv file)`);
  for (const p of [values.out, values.latents, values.means]) if (p) await checkWritable(p, 'output');
  let inputs: Float32Array | undefined;
  let inputChannels = 0;
  if (fromSession) {
    if (values['inputs-layout'] !== undefined) throw new Error(`--inputs-layout does not apply to inputs binned from ${values.data}`);
    const u = await sessionInputs(values.data!, values.inputs!, values);
    if (u.time !== steps) throw new Error(`--inputs ${values.inputs}: the session's windows have ${u.time} bins, --steps is ${steps}`);
    inputs = u.data;
    inputChannels = u.channels;
  } else if (values.inputs) {
    const u = toCanonical(await loadArray(values.inputs), values['inputs-layout'], values.inputs);
    if (u.time !== steps) throw new Error(`${values.inputs}: ${u.time} time steps, --steps is ${steps}`);
    inputs = u.data;
    inputChannels = u.channels;
  }
  const parsed = await readModelFile(values.model);
  if (inputs && inputChannels !== parsed.config.inputDim)
    throw new Error(`--inputs ${values.inputs}: ${inputChannels} input channel(s), the model takes ${parsed.config.inputDim}`);
  const engine = await openEngine(values.backend);
  const { model, normalisation, encoder } = await loadModelFile(engine, values.model, parsed);
  const c = model.config;
  let initial: Parameters<typeof generate>[1]['initial'] = init === 'mean' ? 'prior-mean' : 'prior';
  if (init === 'posterior') {
    const ds = applyNormalisation(await loadObservations(values.data!, values.layout, c.obs, values), normalisation);
    if (ds.channels !== c.obsDim) throw new Error(`${values.data}: ${ds.channels} channels, the model expects ${c.obsDim}`);
    const dataInputs = await loadInputs(values['data-inputs'], values['inputs-layout'], ds, values.data!, values);
    if (dataInputs && dataInputs.channels !== c.inputDim) {
      throw new Error(`${values['data-inputs']}: ${dataInputs.channels} input channels, the model expects ${c.inputDim}`);
    }
    const particles = numberOption(values.particles, 'particles', { int: true, min: 1, default: 64 });
    const first = (d: { data: Float32Array; time: number; channels: number }) => d.data.subarray(0, d.time * d.channels);
    // a model with a CNN encoder filters with the encoder proposal
    initial = { posteriorOf: { y: first(ds), steps: ds.time, particles, inputs: dataInputs ? first(dataInputs) : undefined, encoder: encoder ?? undefined } };
  }
  const g = await generate(model, { steps, sequences: trials, burnIn, inputs, initial, seed });
  const toUnits = (a: Float32Array) => (normalisation ? denormalise({ data: a, trials: g.S, time: g.T, channels: c.obsDim }, normalisation).data : a);
  await saveNpy(values.out, toUnits(g.sample), [g.S, g.T, c.obsDim]);
  if (values.means) await saveNpy(values.means, toUnits(g.mean), [g.S, g.T, c.obsDim]);
  if (values.latents) await saveNpy(values.latents, g.z, [g.S, g.T, c.rank]);
  console.error(`wrote ${values.out}: ${g.S} × ${g.T} × ${c.obsDim}`);
  engine.destroy();
  return 0;
}
