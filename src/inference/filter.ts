/**
 * Filtering a dataset with a fitted model (no training): the log marginal-likelihood estimate per
 * trial and per step, the effective sample size, and filtering means E[z_t | y_{0:t}].
 */
import { Tape } from '../autodiff/tape.js';
import { seedToKey } from '../gpu/rng.js';
import type { Dataset } from '../io/dataset.js';
import { optimalProposalApplies, type LowRankRNN } from '../models/lowrank-rnn.js';
import { pathFloats, type Resampling } from './smc-layout.js';
import { type Proposal } from '../models/theta-layout.js';
import { splitPaths } from './smc-op.js';
import { forwardPath } from './smc-step.js';
import { BatchLoader, objective } from './objective.js';
import { checkEncoderWindow, type CnnEncoder } from '../models/encoder.js';

export interface FilterOptions {
  particles: number;
  /** Default: the encoder proposal when `encoder` is given, else defaultProposal. */
  proposal?: Proposal;
  /** The model's CNN encoder, for the encoder proposal (its Gaussian from each whole trial). */
  encoder?: CnnEncoder;
  resampling?: Resampling;
  /** Resample only when ESS < this fraction of K (default 1: every step). */
  resampleThreshold?: number;
  seed?: number;
  /** Keep the particle paths (z pre-resampling, weights, ancestors) in the result. */
  keepPaths?: boolean;
}

export interface FilterOutput {
  /** Mean over trials of (1/T) log p̂(y_{1:T}) — the quantity the reference reports. */
  llPerStep: number;
  /** log p̂(y_{1:T}) per trial. */
  llPerTrial: number[];
  /** Effective sample size (before resampling), averaged over steps and trials. */
  essMean: number;
  /** Filtering means [trials, T, R]. */
  means: Float32Array;
  paths?: { z: Float32Array; w: Float32Array; anc: Uint32Array };
}

/** The proposal a model supports best: optimal for linear-Gaussian observations (not from the rates), else bootstrap. */
export function defaultProposal(model: LowRankRNN): Proposal {
  const c = model.config;
  return optimalProposalApplies(c) ? 'optimal' : 'bootstrap';
}

export async function filterDataset(model: LowRankRNN, ds: Dataset, inputs: Dataset | null, opts: FilterOptions): Promise<FilterOutput> {
  const engine = model.engine;
  const c = model.config;
  if (ds.channels !== c.obsDim) throw new Error(`data has ${ds.channels} channels, the model expects ${c.obsDim}`);
  const B = ds.trials;
  const T = ds.time;
  const K = opts.particles;
  const R = c.rank;
  const proposal = opts.proposal ?? (opts.encoder ? 'encoder' : defaultProposal(model));
  if (proposal === 'encoder') {
    if (!opts.encoder) throw new Error("filter: the encoder proposal needs the model's CNN encoder (a model file with one)");
    checkEncoderWindow(opts.encoder.config, T, 0, 'filter');
  }
  const loader = new BatchLoader(engine, ds, inputs, c.obs === 'poisson');
  const windows = Array.from({ length: B }, (_, trial) => ({ trial, start: 0 }));
  const batch = loader.batch(windows, T);
  // The tape only serves as an owner of the intermediates here (nothing runs backward).
  const tape = Tape.begin(engine);
  try {
    const resampling = opts.resampling ?? 'systematic';
    const path = forwardPath(engine, K, R, resampling);
    // posterior means and ESS are computed from the stored particle paths: they must fit one binding
    const pathBytes = 4 * pathFloats(B, T, K, R);
    const maxBind = engine.limits.maxStorageBufferBindingSize;
    if (pathBytes > maxBind) {
      throw new Error(
        `${K} particles over ${B} trial(s) × ${T} steps need ${(pathBytes / 2 ** 20).toFixed(0)} MiB of particle paths, more than this device's ${(maxBind / 2 ** 20).toFixed(0)} MiB binding limit; use fewer particles or split the recording into shorter trials`,
      );
    }
    const { loss, out } = objective(
      model,
      batch.y,
      batch.v,
      { proposal, resampling, resampleThreshold: opts.resampleThreshold, B, T, K, key: seedToKey(opts.seed ?? 0), iter: 0 },
      path,
      opts.encoder,
    );
    tape.end();
    const lossValue = await loss.item();
    const llRaw = await out.ll.readF32();
    const all = await out.paths.readF32();
    const anc = (await out.anc.read()) as Uint32Array;
    const { z, w } = splitPaths(all, B, T, K, R);
    // Per-trial constants: the total is −loss·B·T; the filter's raw sums differ by a shared constant.
    const total = -lossValue * B * T + batch.dataConstant;
    const rawTotal = llRaw.reduce((a, b) => a + b, 0);
    const shift = (total - rawTotal) / B;
    const llPerTrial = Array.from(llRaw, (v) => v + shift);
    let ess = 0;
    const means = new Float32Array(B * T * R);
    for (let bt = 0; bt < B * T; bt++) {
      let s2 = 0;
      for (let k = 0; k < K; k++) {
        const wk = w[bt * K + k];
        s2 += wk * wk;
        for (let r = 0; r < R; r++) means[bt * R + r] += wk * z[(bt * K + k) * R + r];
      }
      ess += 1 / s2;
    }
    return {
      llPerStep: llPerTrial.reduce((a, b) => a + b, 0) / (B * T),
      llPerTrial,
      essMean: ess / (B * T),
      means,
      paths: opts.keepPaths ? { z: Float32Array.from(z), w: Float32Array.from(w), anc } : undefined,
    };
  } finally {
    tape.dispose();
    batch.y.dispose();
    batch.v?.dispose();
    loader.dispose();
  }
}
