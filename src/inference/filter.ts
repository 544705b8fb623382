/**
 * Filtering a dataset with a fitted model (no training): the log marginal-likelihood estimate per
 * trial and per step, the effective sample size, and filtering means E[z_t | y_{0:t}].
 *
 * Trials are filtered in chunks whose particle paths fit one storage binding (and a memory budget),
 * so any number of trials works; trial b draws the random numbers of trial b in every chunking
 * (SmcConfig.trial0), so the results do not depend on it. Paths are read back one chunk at a time
 * and kept only when asked for (keepPaths, or streamed out through onPaths).
 */
import { Tape } from '../autodiff/tape.js';
import type { Engine } from '../gpu/engine.js';
import { seedToKey } from '../gpu/rng.js';
import type { Dataset } from '../io/dataset.js';
import { optimalProposalApplies, type LowRankRNN } from '../models/lowrank-rnn.js';
import { pathFloats, type Resampling } from './smc-layout.js';
import { type Proposal } from '../models/theta-layout.js';
import { forwardPath } from './smc-step.js';
import { BatchLoader, objective } from './objective.js';
import { checkEncoderWindow, type CnnEncoder } from '../models/encoder.js';

/** Default device memory for one chunk's particle paths and ancestors (also capped by the binding limit). */
export const FILTER_CHUNK_BYTES = 256 << 20;

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
  /** Keep the particle paths (z pre-resampling, weights, ancestors) of every trial in the result. */
  keepPaths?: boolean;
  /** Compute the filtering means (default true). */
  means?: boolean;
  /** Receives each chunk's paths in trial order (to stream them out without keeping them all). */
  onPaths?: (chunk: FilterPathsChunk) => void | Promise<void>;
  /**
   * Device bytes one chunk's paths and ancestors may take (default FILTER_CHUNK_BYTES, at most the
   * storage binding limit); at least one trial runs per chunk.
   */
  chunkBytes?: number;
}

/** The paths of trials trial0 … trial0 + trials − 1. */
export interface FilterPathsChunk {
  trial0: number;
  trials: number;
  /** z (pre-resampling) [trials, T, K, R]. */
  z: Float32Array;
  /** Normalised weights [trials, T, K]. */
  w: Float32Array;
  /** Ancestors [trials, T, K]. */
  anc: Uint32Array;
}

export interface FilterOutput {
  /** Mean over trials of (1/T) log p̂(y_{1:T}) — the quantity the reference reports. */
  llPerStep: number;
  /** log p̂(y_{1:T}) per trial. */
  llPerTrial: number[];
  /** Effective sample size (before resampling), averaged over steps and trials. */
  essMean: number;
  /** Filtering means [trials, T, R] (empty when options.means is false). */
  means: Float32Array;
  paths?: { z: Float32Array; w: Float32Array; anc: Uint32Array };
  /** Trials per chunk the filter ran. */
  trialsPerChunk: number;
  /** The proposal the filter ran (options.proposal, else the rule given there). */
  proposal: Proposal;
}

/** The proposal a model supports best: optimal for linear-Gaussian observations (not from the rates), else bootstrap. */
export function defaultProposal(model: LowRankRNN): Proposal {
  const c = model.config;
  return optimalProposalApplies(c) ? 'optimal' : 'bootstrap';
}

/**
 * Trials per chunk for filtering T steps with K particles at rank R: as many as fit `chunkBytes` of paths
 * and ancestors (at least one). Throws, before any GPU work, when one trial's paths exceed the device's
 * storage binding limit, naming the limit and the largest K that fits at this T.
 */
export function filterChunkTrials(engine: Engine, B: number, T: number, K: number, R: number, chunkBytes = FILTER_CHUNK_BYTES): number {
  if (!(chunkBytes > 0)) throw new Error(`filter: chunkBytes must be positive, got ${chunkBytes}`);
  const maxBind = engine.limits.maxStorageBufferBindingSize;
  const pathBytes = 4 * pathFloats(1, T, K, R);
  if (pathBytes > maxBind) {
    const kMax = Math.floor((maxBind / 4 - T) / (T * (2 * R + 1)));
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    throw new Error(
      `filter: the particle paths of one trial (K = ${K} particles × ${T} steps at rank ${R}) take ${mib(pathBytes)}, more than this device's ` +
        `${mib(maxBind)} storage binding limit; ` +
        (kMax >= 1 ? `at most K = ${kMax} particles at ${T} steps, or split the recording into shorter trials` : 'split the recording into shorter trials'),
    );
  }
  const perTrial = pathBytes + 4 * T * K;
  return Math.max(1, Math.min(B, Math.floor(Math.min(chunkBytes, maxBind) / perTrial)));
}

export async function filterDataset(model: LowRankRNN, ds: Dataset, inputs: Dataset | null, opts: FilterOptions): Promise<FilterOutput> {
  const engine = model.engine;
  const c = model.config;
  if (ds.channels !== c.obsDim) throw new Error(`data has ${ds.channels} channels, the model expects ${c.obsDim}`);
  const B = ds.trials;
  const T = ds.time;
  const K = opts.particles;
  const R = c.rank;
  if (!Number.isInteger(K) || K < 1) throw new Error(`filter: particles must be a positive integer, got ${K}`);
  const proposal = opts.proposal ?? (opts.encoder ? 'encoder' : defaultProposal(model));
  if (proposal === 'encoder') {
    if (!opts.encoder) throw new Error("filter: the encoder proposal needs the model's CNN encoder (a model file with one)");
    checkEncoderWindow(opts.encoder.config, T, 0, 'filter');
  }
  const resampling = opts.resampling ?? 'systematic';
  const path = forwardPath(engine, K, R, resampling);
  const chunk = filterChunkTrials(engine, B, T, K, R, opts.chunkBytes);
  const wantMeans = opts.means ?? true;
  const wantZ = wantMeans || !!opts.keepPaths || !!opts.onPaths;
  const wantAnc = !!opts.keepPaths || !!opts.onPaths;
  const key = seedToKey(opts.seed ?? 0);

  const llPerTrial: number[] = [];
  let ess = 0;
  const means = new Float32Array(wantMeans ? B * T * R : 0);
  const kept = opts.keepPaths ? { z: new Float32Array(B * T * K * R), w: new Float32Array(B * T * K), anc: new Uint32Array(B * T * K) } : undefined;
  const loader = new BatchLoader(engine, ds, inputs, c.obs === 'poisson');
  try {
    for (let b0 = 0; b0 < B; b0 += chunk) {
      const Bc = Math.min(chunk, B - b0);
      const windows = Array.from({ length: Bc }, (_, i) => ({ trial: b0 + i, start: 0 }));
      const batch = loader.batch(windows, T);
      // The tape only serves as an owner of the intermediates here (nothing runs backward).
      const tape = Tape.begin(engine);
      try {
        const cfg = { proposal, resampling, resampleThreshold: opts.resampleThreshold, B: Bc, T, K, key, iter: 0, trial0: b0 };
        const { out, constant } = objective(model, batch.y, batch.v, cfg, path, opts.encoder);
        tape.end();
        const perTrialConstant = constant ? await constant.item() : 0;
        const llRaw = await out.ll.readF32();
        const n = Bc * T * K * R;
        const nw = Bc * T * K;
        // paths layout (pathFloats): z | μ | w | resampled; only z and w are read back
        const w = await engine.readF32(out.paths.buffer, nw, 2 * n);
        const z = wantZ ? await engine.readF32(out.paths.buffer, n, 0) : null;
        const anc = wantAnc ? ((await out.anc.read()) as Uint32Array) : null;
        // log p̂ per trial: the filter's sum, the model's per-trial constant and the data's own term (Poisson: −Σ log y!)
        for (let i = 0; i < Bc; i++) llPerTrial.push(llRaw[i] + perTrialConstant + loader.windowConstant(windows[i], T));
        for (let bt = 0; bt < Bc * T; bt++) {
          let s2 = 0;
          for (let k = 0; k < K; k++) s2 += w[bt * K + k] * w[bt * K + k];
          ess += 1 / s2;
        }
        if (wantMeans) {
          const m = means.subarray(b0 * T * R, (b0 + Bc) * T * R);
          for (let bt = 0; bt < Bc * T; bt++) {
            for (let k = 0; k < K; k++) {
              const wk = w[bt * K + k];
              for (let r = 0; r < R; r++) m[bt * R + r] += wk * z![(bt * K + k) * R + r];
            }
          }
        }
        if (kept) {
          kept.z.set(z!, b0 * T * K * R);
          kept.w.set(w, b0 * T * K);
          kept.anc.set(anc!, b0 * T * K);
        }
        if (opts.onPaths) await opts.onPaths({ trial0: b0, trials: Bc, z: z!, w, anc: anc! });
      } finally {
        tape.dispose();
        batch.y.dispose();
        batch.v?.dispose();
      }
    }
  } finally {
    loader.dispose();
  }
  return {
    llPerStep: llPerTrial.reduce((a, b) => a + b, 0) / (B * T),
    llPerTrial,
    essMean: ess / (B * T),
    means,
    paths: kept,
    trialsPerChunk: chunk,
    proposal,
  };
}

/** Weighted particles of one filtering distribution per trial: states z [trials, K, R] and normalised weights w [trials, K]. */
export interface WeightedParticles {
  z: Float32Array;
  w: Float32Array;
  trials: number;
  particles: number;
}

/**
 * Filtering means of all trials and the weighted particles at each trial's last step, without keeping
 * every trial's paths on the host: the filter's own chunks of trials (each drawing its trials' random
 * numbers, so the result does not depend on the chunking) stream their last steps out. `maxBlock` caps
 * the trials per chunk (to save device memory); `blocks` is the number of chunks run.
 */
export async function filterInBlocks(
  model: LowRankRNN,
  ds: Dataset,
  inputs: Dataset | null,
  opts: { particles: number; seed?: number; maxBlock?: number; encoder?: FilterOptions['encoder'] },
): Promise<{ means: Float32Array; llPerStep: number; last: WeightedParticles; blocks: number }> {
  const R = model.config.rank;
  const K = opts.particles;
  const T = ds.time;
  if (opts.maxBlock !== undefined && !(Number.isInteger(opts.maxBlock) && opts.maxBlock >= 1))
    throw new Error(`filter: maxBlock must be a positive integer, got ${opts.maxBlock}`);
  // a chunk of maxBlock trials takes exactly their paths and ancestors (filterChunkTrials)
  const chunkBytes = opts.maxBlock === undefined ? undefined : opts.maxBlock * 4 * (pathFloats(1, T, K, R) + T * K);
  const last: WeightedParticles = { z: new Float32Array(ds.trials * K * R), w: new Float32Array(ds.trials * K), trials: ds.trials, particles: K };
  const f = await filterDataset(model, ds, inputs, {
    particles: K,
    seed: opts.seed ?? 0,
    encoder: opts.encoder,
    chunkBytes,
    onPaths: (c) => {
      for (let i = 0; i < c.trials; i++) {
        const at = (i * T + T - 1) * K;
        last.z.set(c.z.subarray(at * R, (at + K) * R), (c.trial0 + i) * K * R);
        last.w.set(c.w.subarray(at, at + K), (c.trial0 + i) * K);
      }
    },
  });
  return { means: f.means, llPerStep: f.llPerStep, last, blocks: Math.ceil(ds.trials / f.trialsPerChunk) };
}
