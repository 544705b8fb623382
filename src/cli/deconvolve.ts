import { parseArgs } from 'node:util';
import { DEFAULT_DECONV_REG, hannDeconvolveZscore } from '../analysis/eeg-smoothing.js';
import { saveNpy } from '../io/files.js';
import { loadObservations, numberOption } from './common.js';

export const summary = 'undo a known Hann smoothing of a recording (regularised deconvolution), to train on it';

const USAGE = `lowrank-smc deconvolve --data X.npy|X.csv [--layout L] --out Y.npy [--hann 15] [--reg ${DEFAULT_DECONV_REG}]
  Estimates the recording before it was convolved along time with an unnormalised Hann window of the
  given length (scipy.ndimage 'reflect' boundaries, as the EEG protocol smooths generated data), and
  z-scores each channel. Frequencies where the window's gain is below about reg × its DC gain stay
  suppressed rather than amplified. Trials are deconvolved separately.
  --out    float32 array, (time, channel) for one trial, else (trial, time, channel)
Use it when only a smoothed copy of the training data exists but the evaluation protocol smooths the
generated data (EEG: the published model trained on the unsmoothed recording).`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      layout: { type: 'string' },
      out: { type: 'string' },
      hann: { type: 'string' },
      reg: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.data || !values.out) throw new Error('--data and --out are required\n\n' + USAGE);
  const length = numberOption(values.hann, 'hann', { int: true, min: 3, default: 15 });
  if (length % 2 !== 1) throw new Error(`--hann must be an odd window length, got ${length}`);
  const reg = numberOption(values.reg, 'reg', { min: 0, default: DEFAULT_DECONV_REG });
  if (!(reg > 0)) throw new Error("--reg must be positive (0 would divide by the window's zeros)");
  const ds = await loadObservations(values.data, values.layout, 'gauss');
  if (ds.time <= (length - 1) / 2) throw new Error(`${values.data}: ${ds.time} time steps per trial, fewer than the window's half-width ${(length - 1) / 2}`);
  const shape = ds.trials === 1 ? [ds.time, ds.channels] : [ds.trials, ds.time, ds.channels];
  const { data } = hannDeconvolveZscore({ data: ds.data, shape }, length, reg);
  await saveNpy(values.out, Float32Array.from(data), shape);
  console.log(`wrote ${values.out}: shape (${shape.join(', ')}), Hann ${length} deconvolved (reg ${reg}), z-scored per channel`);
  return 0;
}
