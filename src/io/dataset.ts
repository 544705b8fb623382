/**
 * Data layouts and validation (no Node APIs). Everything downstream works on one canonical layout,
 * (trial, time, channel) float32 in C order; `toCanonical` gets there from the user's `--layout`
 * and checks the values on the way, so bad input stops with a message naming the file before any
 * GPU work.
 */

export type Axis = 'trial' | 'time' | 'channel';
const AXES: readonly Axis[] = ['trial', 'time', 'channel'];

/** Any numeric array with a C-order shape (what parseNpy / parseCsv / loadArray return). */
export interface ArrayLikeND {
  shape: readonly number[];
  data: ArrayLike<number>;
}

/** (trial, time, channel) float32, C order: element (k, t, c) is data[(k * time + t) * channels + c]. */
export interface Dataset {
  data: Float32Array;
  trials: number;
  time: number;
  channels: number;
}

/** Per-channel affine normalisation x' = (x - mean) / std, stored in model files. */
export interface Normalisation {
  mean: number[];
  std: number[];
}

export type Observation = 'gauss' | 'poisson';

/** The layout assumed when none is given: (time, channel) for 2-D, (trial, time, channel) for 3-D, (time) for 1-D. */
export function defaultLayout(rank: number): Axis[] {
  if (rank === 1) return ['time'];
  if (rank === 2) return ['time', 'channel'];
  if (rank === 3) return ['trial', 'time', 'channel'];
  throw new Error(`no default layout for a ${rank}-D array (expected 1-D, 2-D or 3-D)`);
}

/** Parse a layout string such as 'channel,time' for an array of the given rank. */
export function parseLayout(layout: string, rank: number, source = 'data'): Axis[] {
  const names = layout.split(',').map((s) => s.trim());
  const bad = names.find((n) => !(AXES as readonly string[]).includes(n));
  if (bad !== undefined) throw new Error(`${source}: layout '${layout}' has unknown axis '${bad}' (use trial, time, channel separated by commas)`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new Error(`${source}: layout '${layout}' names axis '${dup}' twice`);
  if (names.length !== rank) {
    throw new Error(`${source}: layout '${layout}' has ${names.length} axes but the array is ${rank}-D`);
  }
  return names as Axis[];
}

export function describeShape(shape: readonly number[]): string {
  return `(${shape.join(', ')})`;
}

/**
 * Bring an array into (trial, time, channel) float32. Axes missing from the layout have length 1
 * (a 2-D 'time,channel' array is one trial). Throws on an empty array, a layout that does not fit
 * the rank, or NaN/Inf (giving the first position, in the file's own index order).
 */
export function toCanonical(array: ArrayLikeND, layout: string | readonly Axis[] | undefined, source = 'data'): Dataset {
  const shape = array.shape;
  const rank = shape.length;
  if (rank === 0) throw new Error(`${source}: expected an array of time series, got a scalar`);
  const axes =
    layout === undefined ? defaultLayout(rank) : typeof layout === 'string' ? parseLayout(layout, rank, source) : parseLayout(layout.join(','), rank, source);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size === 0) throw new Error(`${source}: empty array of shape ${describeShape(shape)}`);
  if (array.data.length !== size) throw new Error(`${source}: ${array.data.length} values do not fill shape ${describeShape(shape)}`);
  const len = (a: Axis): number => {
    const i = axes.indexOf(a);
    return i < 0 ? 1 : shape[i];
  };
  const trials = len('trial');
  const time = len('time');
  const channels = len('channel');
  // Source strides (C order), and for each canonical axis the stride in the source (0 if absent).
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let k = rank - 2; k >= 0; k--) strides[k] = strides[k + 1] * shape[k + 1];
  const stride = (a: Axis): number => {
    const i = axes.indexOf(a);
    return i < 0 ? 0 : strides[i];
  };
  const sK = stride('trial');
  const sT = stride('time');
  const sC = stride('channel');
  const src = array.data;
  const out = new Float32Array(size);
  let o = 0;
  for (let k = 0; k < trials; k++) {
    for (let t = 0; t < time; t++) {
      const base = k * sK + t * sT;
      for (let c = 0; c < channels; c++) {
        const v = src[base + c * sC];
        out[o] = v;
        if (!Number.isFinite(out[o++])) {
          const pos = { trial: k, time: t, channel: c };
          const where = axes.map((a) => `${a} ${pos[a]}`).join(', ');
          const what = Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? `value ${v} (outside the float32 range)` : v > 0 ? 'Inf' : '-Inf';
          throw new Error(`${source}: ${what} at ${where} (index [${axes.map((a) => pos[a]).join(', ')}] of shape ${describeShape(shape)})`);
        }
      }
    }
  }
  return { data: out, trials, time, channels };
}

/** Check that observations suit the observation model: Poisson needs non-negative integer counts. */
export function validateObservations(ds: Dataset, obs: Observation, source = 'data'): void {
  if (obs !== 'poisson') return;
  const { data, time, channels } = ds;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < 0 || !Number.isInteger(v)) {
      const c = i % channels;
      const t = Math.floor(i / channels) % time;
      const k = Math.floor(i / (channels * time));
      const problem = v < 0 ? 'negative count' : 'non-integer count';
      throw new Error(`${source}: Poisson observations need non-negative integer counts; ${problem} ${v} at trial ${k}, time ${t}, channel ${c}`);
    }
  }
}

/** Check that inputs cover the same trials and time steps as the data. */
export function validateInputs(inputs: Dataset, data: Dataset, inputsSource = 'inputs', dataSource = 'data'): void {
  if (inputs.trials !== data.trials) {
    throw new Error(`${inputsSource}: inputs have ${inputs.trials} trial(s) but ${dataSource} has ${data.trials}`);
  }
  if (inputs.time !== data.time) {
    throw new Error(`${inputsSource}: inputs have ${inputs.time} time steps but ${dataSource} has ${data.time}`);
  }
}

/** Per-channel mean and standard deviation (ddof 0) over all trials and time steps, in float64. */
export function channelStats(ds: Dataset): Normalisation {
  const { data, channels } = ds;
  const n = ds.trials * ds.time;
  const mean = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) mean[i % channels] += data[i];
  for (let c = 0; c < channels; c++) mean[c] /= n;
  const sq = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) {
    const d = data[i] - mean[i % channels];
    sq[i % channels] += d * d;
  }
  // A constant channel keeps std 1 so normalising it gives zeros rather than NaN.
  const std = Array.from(sq, (s) => Math.sqrt(s / n) || 1);
  return { mean: Array.from(mean), std };
}

/** Apply x' = (x - mean) / std per channel. */
export function normalise(ds: Dataset, norm: Normalisation): Dataset {
  checkNormalisation(ds, norm);
  const out = new Float32Array(ds.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = i % ds.channels;
    out[i] = (ds.data[i] - norm.mean[c]) / norm.std[c];
  }
  return { ...ds, data: out };
}

/** Undo `normalise`: x = x' * std + mean per channel (e.g. for generated data). */
export function denormalise(ds: Dataset, norm: Normalisation): Dataset {
  checkNormalisation(ds, norm);
  const out = new Float32Array(ds.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = i % ds.channels;
    out[i] = ds.data[i] * norm.std[c] + norm.mean[c];
  }
  return { ...ds, data: out };
}

/**
 * log |det| of the map from normalised back to data units, per time step: log p(y) =
 * log p(y') − Σ_d log std_d for y' = (y − mean) / std. Added to a log-likelihood of normalised data
 * it gives the log-likelihood of the data as recorded, comparable across normalisations and models.
 */
export function normalisationLogJacobian(norm: Normalisation | null): number {
  if (!norm) return 0;
  return -norm.std.reduce((a, s) => a + Math.log(s), 0);
}

/** z-score each channel; returns the normalised data and the mean/std to store with the model. */
export function zscore(ds: Dataset): { data: Dataset; normalisation: Normalisation } {
  const normalisation = channelStats(ds);
  return { data: normalise(ds, normalisation), normalisation };
}

function checkNormalisation(ds: Dataset, norm: Normalisation): void {
  if (norm.mean.length !== ds.channels || norm.std.length !== ds.channels) {
    throw new Error(`normalisation has ${norm.mean.length} means and ${norm.std.length} stds for ${ds.channels} channels`);
  }
  const bad = norm.std.findIndex((s) => !(s > 0) || !Number.isFinite(s));
  if (bad >= 0) throw new Error(`normalisation std of channel ${bad} is ${norm.std[bad]} (must be positive and finite)`);
}
