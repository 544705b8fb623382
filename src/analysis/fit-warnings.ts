/**
 * What a finished fit's history says about it, in words a user can act on: a fit that ends below a
 * static model of the data has not found the dynamics; collapsed noise levels or degenerate particle
 * weights mean the filter no longer explores. Pure function of the history (no GPU), so the CLI, the
 * web app and tests share it.
 */
import { encoderSwitchedOff } from '../inference/trainer.js';
import type { HistoryEntry } from '../models/model-file.js';
import { median } from './stats.js';

export interface FitWarningInput {
  history: readonly HistoryEntry[];
  particles: number;
  /** Log-likelihood per step of the static baseline (data-init.ts staticBaselineLogLikelihood), same units as llPerStep. */
  staticBaseline?: number | null;
  /** How the fit started (models/data-init.ts); a reference start adds the data-driven start to the advice. */
  start?: 'data' | 'reference';
}

/** Latent or observation noise std below this (relative to its first logged value) counts as collapsed. */
const NOISE_COLLAPSE_RATIO = 1e-2;
/** Mean ESS below this fraction of K counts as degenerate weights. */
const ESS_FRACTION = 0.05;
/** The final level is the median of this fraction of the history (at least MIN_TAIL entries). */
const TAIL_FRACTION = 0.1;
const MIN_TAIL = 5;

/** The log-likelihood per step a fit ended at: the median over the last 10 % of its history (robust to minibatch noise). */
export function finalLogLikelihood(history: readonly HistoryEntry[]): number {
  if (history.length === 0) return NaN;
  const n = Math.max(MIN_TAIL, Math.ceil(TAIL_FRACTION * history.length));
  return median(history.slice(-n).map((h) => h.llPerStep));
}

export function fitWarnings(input: FitWarningInput): string[] {
  const { history, particles } = input;
  const warnings: string[] = [];
  if (history.length === 0) return warnings;
  const ll = finalLogLikelihood(history);
  if (input.staticBaseline != null && ll < input.staticBaseline) {
    warnings.push(
      `the fit ends at ${ll.toFixed(2)} nats per step, below the ${input.staticBaseline.toFixed(2)} of a static Gaussian model with the same ` +
        "number of factors and no dynamics: it has not found the data's dynamics. Try " +
        (input.start === 'reference' ? 'the data-driven start, ' : '') +
        'more iterations, a higher learning rate (e.g. 1e-2), or more particles.',
    );
  }
  const logged = history.filter((h) => h.latentNoise !== undefined);
  if (logged.length >= 2) {
    const first = logged[0];
    const last = logged[logged.length - 1];
    if (last.latentNoise! < NOISE_COLLAPSE_RATIO * first.latentNoise!) {
      warnings.push(
        `the latent noise collapsed (std ${first.latentNoise!.toPrecision(3)} → ${last.latentNoise!.toPrecision(3)}): the model treats the ` +
          'latents as deterministic and the particle filter stops exploring. Try a lower learning rate or more particles; with the bootstrap ' +
          'proposal, the optimal proposal where the observations allow it.',
      );
    }
    if (first.obsNoise !== undefined && last.obsNoise !== undefined && last.obsNoise < NOISE_COLLAPSE_RATIO * first.obsNoise) {
      warnings.push(
        `the observation noise collapsed (std ${first.obsNoise.toPrecision(3)} → ${last.obsNoise.toPrecision(3)}, normalised units): ` +
          'some channels are fitted exactly, which usually means the latents follow the data rather than the dynamics. Try fewer latent ' +
          'dimensions or a lower learning rate.',
      );
    }
    if (last.ess !== undefined && last.ess < Math.max(1.5, ESS_FRACTION * particles)) {
      warnings.push(
        `the particle weights are degenerate (mean ESS ${last.ess.toFixed(1)} of ${particles} particles): the likelihood estimate and its ` +
          'gradient are noisy. Try more particles or the optimal proposal.',
      );
    }
  }
  const off = encoderSwitchedOff(history);
  if (off) warnings.push(off);
  return warnings;
}
