import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { simulateMotor } from '../sparse/circuit.js';
import { motorSpikeSession } from '../analysis/motor-spikes.js';
import { saveNpy, writeFileAtomic } from '../io/files.js';
import { writeNwb } from '../io/nwb.js';

export const summary = 'simulate the stability-optimised E/I motor circuit (ground truth for fit-sparse)';

const HELP = `lowrank-smc simulate-motor --out DIR [--neurons 200] [--conditions 8] [--muscles 4] [--seed 1]
    [--dt 2] [--tau 200] [--prep-ms 100] [--move-ms 500] [--amplitude 20] [--max-iterations 300]

Writes DIR/rates.npy (conditions × time × neurons, Hz above baseline), DIR/outputs.npy
(conditions × time × muscles), DIR/inputs.npy (conditions × time × 2), DIR/weights.npy and
DIR/circuit.json (options, spectral abscissa, shapes). Float64, deterministic from --seed.

--spikes FILE.nwb    also (or only) write a spiking session in the MC_Maze NWB layout: Poisson spike trains at
                     1 ms from the rates + a 20 Hz baseline, trials of all conditions with a rest before each,
                     move_onset_time, trial_type, target_angle, split; heldout units; hand_vel (outputs 0, 1
                     × 100), hand_pos and condition_input under processing/behavior
  [--trials-per-condition 20] [--spike-neurons all] [--held-out N/4] [--rest-ms 300]`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      neurons: { type: 'string', default: '200' },
      conditions: { type: 'string', default: '8' },
      muscles: { type: 'string', default: '4' },
      seed: { type: 'string', default: '1' },
      dt: { type: 'string', default: '2' },
      tau: { type: 'string', default: '200' },
      'prep-ms': { type: 'string', default: '100' },
      'move-ms': { type: 'string', default: '500' },
      amplitude: { type: 'string', default: '20' },
      'max-iterations': { type: 'string', default: '300' },
      spikes: { type: 'string' },
      'trials-per-condition': { type: 'string' },
      'spike-neurons': { type: 'string' },
      'held-out': { type: 'string' },
      'rest-ms': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.out && !values.spikes) throw new Error('--out DIR (or --spikes FILE.nwb) is required');
  if (values.spikes && !values.spikes.endsWith('.nwb')) throw new Error(`--spikes ${values.spikes}: the session file must end in .nwb`);
  const num = (name: keyof typeof values): number => {
    const v = Number(values[name]);
    if (!Number.isFinite(v)) throw new Error(`--${name} must be a number (got "${values[name]}")`);
    return v;
  };
  const options = {
    n: num('neurons'),
    conditions: num('conditions'),
    muscles: num('muscles'),
    seed: num('seed'),
    dt: num('dt'),
    tau: num('tau'),
    prepMs: num('prep-ms'),
    moveMs: num('move-ms'),
    amplitude: num('amplitude'),
    maxIterations: num('max-iterations'),
  };
  const d = simulateMotor(options);
  if (values.spikes) {
    const opt = (name: 'trials-per-condition' | 'spike-neurons' | 'held-out' | 'rest-ms') => (values[name] === undefined ? undefined : num(name));
    const spec = motorSpikeSession(d, {
      trialsPerCondition: opt('trials-per-condition'),
      neurons: opt('spike-neurons'),
      heldOut: opt('held-out'),
      restMs: opt('rest-ms'),
      seed: options.seed,
    });
    await writeFileAtomic(values.spikes, await writeNwb(spec));
    const spikes = spec.spikeTimes.reduce((a, s) => a + s.length, 0);
    console.log(`wrote ${values.spikes}: ${spec.spikeTimes.length} units, ${spec.trials!.start.length} trials, ${spikes} spikes`);
  }
  if (!values.out) return 0;
  await mkdir(values.out, { recursive: true });
  const { n, ne } = d.soc;
  await saveNpy(join(values.out, 'rates.npy'), d.rates, [d.conditions, d.time, n]);
  await saveNpy(join(values.out, 'outputs.npy'), d.outputs, [d.conditions, d.time, d.muscles]);
  await saveNpy(join(values.out, 'inputs.npy'), d.inputs, [d.conditions, d.time, 2]);
  await saveNpy(join(values.out, 'weights.npy'), d.soc.w, [n, n]);
  const description = {
    model: 'stability-optimised E/I rate network (Hennequin 2014 / Stroud 2018 parameters)',
    options,
    neurons: n,
    excitatory: ne,
    conditions: d.conditions,
    time: d.time,
    prepSamples: d.prepSamples,
    dtMs: d.dt,
    tauMs: d.tau,
    muscles: d.muscles,
    rateFunction: d.rate,
    anglesRad: d.angles,
    initialAbscissa: d.soc.initialAbscissa,
    abscissa: d.soc.abscissa,
    iterations: d.soc.iterations,
    files: {
      rates: 'rates.npy [conditions, time, neurons] rates above baseline (Hz), neurons 0..excitatory-1 are E',
      outputs: 'outputs.npy [conditions, time, muscles] linear readout of E rates, each channel peak |m| = 1',
      inputs: 'inputs.npy [conditions, time, 2] (cos θ, sin θ) during preparation, 0 during movement',
      weights: 'weights.npy [neurons, neurons] W (column j = neuron j outgoing)',
    },
  };
  await writeFileAtomic(join(values.out, 'circuit.json'), JSON.stringify(description, null, 2) + '\n');
  console.log(
    `wrote ${values.out}: ${n} neurons, ${d.conditions} conditions × ${d.time} samples, spectral abscissa ${d.soc.abscissa.toFixed(3)} after ` +
      `${d.soc.iterations} iterations`,
  );
  return 0;
}
