/**
 * The reference's evaluation of generated data against held-out data (mackelab/smc_rnns `eval_kl_pse`):
 * D_stsp (./state-space-divergence.ts), D_H (./spectral-distance.ts), the monitoring-only mean rate
 * error, and the EEG protocol's smoothing of the generated series (./eeg-smoothing.ts).
 */
import type { Engine } from '../gpu/engine.js';
import { hannSmoothZscore } from './eeg-smoothing.js';
import { toRows, type NdArray } from './series.js';
import { dH, type DHOptions } from './spectral-distance.js';
import { dStsp, dStspGpu, type DStspOptions } from './state-space-divergence.js';

/** The reference's monitoring number: mean over channels of (Σ_t y_true − Σ_t y_gen)², divided by T (of the generated series). */
export function meanRateError(trueSeries: NdArray, genSeries: NdArray): number {
  const t = toRows(trueSeries, 'mean rate error true series');
  const g = toRows(genSeries, 'mean rate error generated series');
  if (t.cols !== g.cols) throw new Error(`mean rate error: true series has ${t.cols} channels, generated series ${g.cols}`);
  let acc = 0;
  for (let c = 0; c < t.cols; c++) {
    let st = 0;
    let sg = 0;
    for (let i = 0; i < t.rows; i++) st += t.data[i * t.cols + c];
    for (let i = 0; i < g.rows; i++) sg += g.data[i * g.cols + c];
    acc += (st - sg) ** 2;
  }
  return acc / t.cols / g.rows;
}

export interface EvaluationOptions extends DStspOptions, DHOptions {
  /** EEG protocol: Hann-smooth (length 15) and re-z-score the generated data only. */
  smoothGenerated?: boolean;
  /** Evaluate the D_stsp densities on this engine (float32 GPU kernel); CPU float64 when absent. */
  engine?: Engine;
}

export interface Evaluation {
  /** D_stsp under the reference's rule (underflowing samples dropped) unless mimicFloat32Underflow is false. */
  dStsp: number;
  /** D_stsp averaged over every sample (log-sum-exp, nothing dropped): the stricter estimate. */
  dStspAllSamples: number;
  dH: number;
  meanRateError: number;
  /** Fraction of D_stsp samples the reference's float32 evaluation would have dropped. */
  dStspUnderflowFraction: number;
  dHPerChannel: number[];
}

/**
 * The reference's evaluation of generated data against held-out data (eval_kl_pse): optional Hann
 * smoothing of the generated series, D_stsp, D_H and the mean rate error. Both series are used as
 * given (the caller generates min(T, 10000) steps, as the reference does). Unlike `dStsp`, it drops
 * the samples whose float32 density underflows unless `mimicFloat32Underflow` is false.
 */
export async function evaluateGenerated(trueSeries: NdArray, genSeries: NdArray, opts: EvaluationOptions = {}): Promise<Evaluation> {
  const gen: NdArray = opts.smoothGenerated ? hannSmoothZscore(genSeries) : genSeries;
  const trueFlat: NdArray =
    trueSeries.shape.length === 3
      ? {
          data: trueSeries.data,
          shape: [trueSeries.shape[0] * trueSeries.shape[1], trueSeries.shape[2]],
        }
      : trueSeries;
  const genFlat: NdArray = gen.shape.length === 3 ? { data: gen.data, shape: [gen.shape[0] * gen.shape[1], gen.shape[2]] } : gen;
  const klOpts = { ...opts, mimicFloat32Underflow: opts.mimicFloat32Underflow ?? true };
  const kl = opts.engine ? await dStspGpu(opts.engine, trueFlat, genFlat, klOpts) : dStsp(trueFlat, genFlat, klOpts);
  // D_H on the trial-concatenated series, as the reference does after flattening.
  const h = dH(trueFlat, genFlat, opts);
  return {
    dStsp: kl.value,
    dStspAllSamples: kl.valueAllSamples,
    dH: h.value,
    meanRateError: meanRateError(trueFlat, genFlat),
    dStspUnderflowFraction: kl.underflowFraction,
    dHPerChannel: Array.from(h.perChannel),
  };
}
