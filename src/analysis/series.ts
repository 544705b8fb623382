/**
 * The arrays the evaluation and the plots take: {data, shape} with shape [time, channel] or
 * [trial, time, channel] (row-major), the form the .npy reader returns, checked and viewed as
 * concatenated rows or as trials.
 */

export interface NdArray {
  data: ArrayLike<number>;
  shape: readonly number[];
}

/** A (rows, cols) row-major float64 matrix. */
export interface Rows {
  data: Float64Array;
  rows: number;
  cols: number;
}

/** Flatten [time, channel] or [trial, time, channel] to (time, channel) rows by concatenating trials (as the reference does). */
export function toRows(a: NdArray, what: string): Rows {
  const s = a.shape;
  if (s.length !== 2 && s.length !== 3) throw new Error(`${what}: expected shape [time, channel] or [trial, time, channel], got [${s.join(', ')}]`);
  const cols = s[s.length - 1];
  const rows = s.length === 2 ? s[0] : s[0] * s[1];
  if (rows === 0 || cols === 0) throw new Error(`${what}: empty array of shape [${s.join(', ')}]`);
  if (a.data.length !== rows * cols) throw new Error(`${what}: ${a.data.length} values do not fill shape [${s.join(', ')}]`);
  const data = Float64Array.from(a.data);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new Error(`${what}: non-finite value ${data[i]} at time ${Math.floor(i / cols)}, channel ${i % cols}`);
  }
  return { data, rows, cols };
}

/** The first `n` rows (all when there are fewer). */
export function firstRows(r: Rows, n: number): Rows {
  return n >= r.rows ? r : { data: r.data.subarray(0, n * r.cols), rows: n, cols: r.cols };
}

/** An array viewed as trials × time × channels. */
export interface Trials {
  trials: number;
  time: number;
  channels: number;
  data: ArrayLike<number>;
}

/** [time, channel] → one trial; [trial, time, channel] as is. */
export function asTrials(a: NdArray, what: string): Trials {
  const s = a.shape;
  if (s.length !== 2 && s.length !== 3) throw new Error(`${what}: expected shape [time, channel] or [trial, time, channel], got [${s.join(', ')}]`);
  const [trials, time, channels] = s.length === 2 ? [1, s[0], s[1]] : [s[0], s[1], s[2]];
  if (trials * time * channels === 0) throw new Error(`${what}: empty array of shape [${s.join(', ')}]`);
  if (a.data.length !== trials * time * channels) throw new Error(`${what}: ${a.data.length} values do not fill shape [${s.join(', ')}]`);
  return { trials, time, channels, data: a.data };
}

/** One channel of one trial as a float64 time series. */
export function channelOfTrial(a: Trials, trial: number, channel: number): Float64Array {
  const x = new Float64Array(a.time);
  const base = trial * a.time * a.channels + channel;
  for (let t = 0; t < a.time; t++) x[t] = a.data[base + t * a.channels];
  return x;
}
