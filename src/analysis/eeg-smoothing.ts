/**
 * The EEG evaluation's preprocessing (mackelab/smc_rnns `eval_kl_pse`): Hann smoothing and z-scoring of
 * generated data, and its approximate inverse for training data distributed only after smoothing.
 */
import { convolve1dReflect, deconvolve1dReflect, hannWindow, zscore } from './spectrum.js';
import { asTrials, channelOfTrial, toRows, type NdArray } from './series.js';

/**
 * EEG evaluation preprocessing of generated data: convolve each channel along time with an
 * unnormalised Hann window (scipy.ndimage.convolve1d, mode 'reflect'), then z-score each channel.
 * Trials are concatenated along time first, as the reference does. Returns shape [time, channel].
 */
export function hannSmoothZscore(a: NdArray, windowLength = 15): { data: Float64Array; shape: [number, number] } {
  const r = toRows(a, 'Hann smoothing input');
  const w = hannWindow(windowLength);
  const out = new Float64Array(r.rows * r.cols);
  const col = new Float64Array(r.rows);
  for (let c = 0; c < r.cols; c++) {
    for (let t = 0; t < r.rows; t++) col[t] = r.data[t * r.cols + c];
    const z = zscore(convolve1dReflect(col, w));
    for (let t = 0; t < r.rows; t++) out[t * r.cols + c] = z[t];
  }
  return { data: out, shape: [r.rows, r.cols] };
}

/** Default regulariser of the Hann deconvolution (README "EEG reproduction": re-smoothing reproduces the recording to 0.03 %). */
export const DEFAULT_DECONV_REG = 3e-3;

/**
 * Approximate inverse of hannSmoothZscore for training data that were distributed only after smoothing
 * (the EEG recording): each trial's channels are deconvolved with the Hann window (regularised, see
 * deconvolve1dReflect; `reg` is relative to the window's DC gain), then each channel is z-scored over all
 * trials. Frequencies the window removed are not recovered; everything it passed (|H| ≫ reg) is.
 * Returns the input's shape.
 */
export function hannDeconvolveZscore(a: NdArray, windowLength = 15, reg = DEFAULT_DECONV_REG): { data: Float64Array; shape: number[] } {
  const arr = asTrials(a, 'Hann deconvolution input');
  const w = hannWindow(windowLength);
  const out = new Float64Array(arr.trials * arr.time * arr.channels);
  for (let c = 0; c < arr.channels; c++) {
    const col = new Float64Array(arr.trials * arr.time);
    for (let tr = 0; tr < arr.trials; tr++) col.set(deconvolve1dReflect(channelOfTrial(arr, tr, c), w, reg), tr * arr.time);
    const z = zscore(col);
    for (let i = 0; i < col.length; i++) out[i * arr.channels + c] = z[i];
  }
  return { data: out, shape: [...a.shape] };
}
