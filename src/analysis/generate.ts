/**
 * Generation from a fitted model (as mackelab/smc_rnns `vi_rnn/generate.py`): unconditional with
 * burn-in, or conditional on given inputs; the initial state from the prior, the prior mean, given
 * states, or a posterior sample (the filtering distribution at the end of a stretch of given data).
 */
import { Tape } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import { rngNormal4, rngUniform4, seedToKey } from '../gpu/rng.js';
import { PURPOSE_GEN_POSTERIOR_PICK, PURPOSE_GEN_PRIOR } from '../gpu/shared-constants.js';
import { OBS_NONLIN_IDS } from '../inference/smc-layout.js';
import { filterDataset, type WeightedParticles } from '../inference/filter.js';
import { hostNoiseFactor, readoutReadsInputs, type LowRankRNN, type HostParams, type ModelConfig } from '../models/lowrank-rnn.js';
import type { CnnEncoder } from '../models/encoder.js';
import { lowpassReference } from '../ops/lowpass.js';
import { nonlinearityId } from '../ops/nonlin.js';

/**
 * `posteriorOf`: filter one stretch of data y [steps, D] (with its inputs [steps, DU] for an input-driven
 * model; zero inputs when omitted, as in autonomous generation) and draw the initial states from the
 * filtering distribution at its last step.
 */
/** Data to filter for a posterior initial state; `encoder`: the model's CNN encoder, for the encoder proposal. */
export interface PosteriorData {
  y: Float32Array;
  steps: number;
  particles?: number;
  inputs?: Float32Array;
  encoder?: CnnEncoder;
}

export type InitialState = 'prior' | 'prior-mean' | { states: Float32Array } | { posteriorOf: PosteriorData };

export interface GenerateOptions {
  steps: number;
  /** Independent sequences (default 1; with `inputs` its trial count). */
  sequences?: number;
  /** Steps simulated and discarded before recording (autonomous, inputs zero). */
  burnIn?: number;
  /** Inputs u [S, steps, DU] for conditional generation (low-pass filtered if the model's inputFilter says so). */
  inputs?: Float32Array;
  /** The inputs are already the model's effective inputs (filtered by the caller over a longer stretch): use them as given. */
  inputsFiltered?: boolean;
  initial?: InitialState;
  seed?: number;
  /** Scales the transition noise (1 = the model's). */
  noiseScale?: number;
}

export interface Generated {
  S: number;
  T: number;
  /** Latents [S,T,R]. */
  z: Float32Array;
  /**
   * Observation means ψ(η) [S,T,D] (normalised units; η = Bᵀz + b, + Bvᵀv, the one-to-one B_o ⊙ (m z + Wu v) + b,
   * or from the rates B_o ⊙ φ(m z + Wu v; h) + b).
   */
  mean: Float32Array;
  /** Sampled observations [S,T,D] (normalised units). */
  sample: Float32Array;
}

function priorStates(config: ModelConfig, host: HostParams, S: number, seed: number, sample: boolean): Float32Array {
  const R = config.rank;
  const L0 = hostNoiseFactor(config, host.noiseZ0);
  const key = seedToKey(seed);
  const out = new Float32Array(S * R);
  for (let s = 0; s < S; s++) {
    const xi = new Float64Array(R);
    for (let c = 0; c < Math.ceil(R / 4); c++) {
      const n4 = rngNormal4(key, [c, s, PURPOSE_GEN_PRIOR, 0]);
      for (let j = 0; j < 4 && c * 4 + j < R; j++) xi[c * 4 + j] = n4[j];
    }
    for (let r = 0; r < R; r++) {
      let v = host.mu0[r];
      if (sample) for (let c = 0; c <= r; c++) v += L0[r * R + c] * xi[c];
      out[s * R + r] = v;
    }
  }
  return out;
}

/** Filter given data (one trial) and draw S states from the final filtering distribution. */
async function posteriorStates(model: LowRankRNN, of: PosteriorData, S: number, seed: number): Promise<Float32Array> {
  const c = model.config;
  const { rank: R, obsDim: D, inputDim: DU } = c;
  const T = of.steps;
  const K = of.particles ?? 64;
  if (of.y.length !== T * D) throw new Error(`generate: posterior data have ${of.y.length} values, expected steps × channels = ${T} × ${D}`);
  if (of.inputs && DU === 0) throw new Error('generate: posterior inputs given, but the model takes no inputs');
  if (of.inputs && of.inputs.length !== T * DU) {
    throw new Error(`generate: posterior inputs have ${of.inputs.length} values, expected steps × input channels = ${T} × ${DU}`);
  }
  const inputs = DU > 0 ? { data: of.inputs ?? new Float32Array(T * DU), trials: 1, time: T, channels: DU } : null;
  // filterDataset picks the proposal the model supports best (the encoder one when given the encoder) and the execution path that fits K
  const f = await filterDataset(model, { data: of.y, trials: 1, time: T, channels: D }, inputs, { particles: K, seed, keepPaths: true, encoder: of.encoder });
  const { z, w } = f.paths!;
  const last = (T - 1) * K;
  return drawParticles({ z: z.subarray(last * R, (last + K) * R), w: w.subarray(last, last + K), trials: 1, particles: K }, R, S, seed);
}

/**
 * `count` states per trial drawn from its weighted particles (multinomial, seeded; trial b, draw s uses
 * counter [s, b]), as [trials, count, R].
 */
export function drawParticles(p: WeightedParticles, R: number, count: number, seed: number, firstTrial = 0): Float32Array {
  const K = p.particles;
  if (p.z.length !== p.trials * K * R || p.w.length !== p.trials * K)
    throw new Error(`particles: ${p.z.length} state and ${p.w.length} weight values for ${p.trials} trial(s) × ${K} particles of rank ${R}`);
  const key = seedToKey(seed);
  const res = new Float32Array(p.trials * count * R);
  for (let b = 0; b < p.trials; b++) {
    for (let s = 0; s < count; s++) {
      const u = rngUniform4(key, [s, firstTrial + b, PURPOSE_GEN_POSTERIOR_PICK, 0])[0];
      let acc = 0;
      let k = 0;
      for (; k < K - 1; k++) {
        acc += p.w[b * K + k];
        if (u <= acc) break;
      }
      res.set(p.z.subarray((b * K + k) * R, (b * K + k + 1) * R), (b * count + s) * R);
    }
  }
  return res;
}

export interface ForwardOptions {
  /** Bins predicted past the filtered stretch. */
  steps: number;
  /** Sampled latent paths per trial. */
  samples: number;
  /** The model's effective inputs [trials, steps + 1, DU] from the particles' bin on (used as given, not filtered again). */
  inputs?: Float32Array;
  seed?: number;
  /** Further rates read from the latents (e.g. a Poisson readout of held-out units), averaged over the same paths. */
  readout?: { channels: number; rates(z: Float32Array, rows: number): ArrayLike<number> };
}

export interface ForwardRates {
  /** Observation means averaged over the sampled paths, [trials, steps, D]. */
  rates: Float64Array;
  /** The readout's rates averaged over the same paths, [trials, steps, readout channels], or null. */
  extra: Float64Array | null;
}

/**
 * Forward prediction: the expected rates E[ψ(η(z_{T+f}))], f = 1 … steps, under the model's predictive
 * distribution given each trial's filtering distribution at its last bin, estimated by the mean over
 * `samples` paths that start from states drawn from the particles and run with the transition noise.
 * (A noise-free continuation of the filtering mean is biased wherever ψ is not linear.)
 */
export async function forwardRates(model: LowRankRNN, particles: WeightedParticles, opts: ForwardOptions): Promise<ForwardRates> {
  const c = model.config;
  const { rank: R, obsDim: D, inputDim: DU } = c;
  const F = opts.steps;
  const S = opts.samples;
  const B = particles.trials;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(F) || F < 1) throw new Error(`forward prediction: steps must be a positive integer, got ${F}`);
  if (!Number.isInteger(S) || S < 1 || S > MAX_SEQUENCES) throw new Error(`forward prediction: samples must be an integer in 1…${MAX_SEQUENCES}, got ${S}`);
  if (opts.inputs && opts.inputs.length !== B * (F + 1) * DU)
    throw new Error(`forward prediction: inputs have ${opts.inputs.length} values, expected trials × (steps + 1) × DU = ${B} × ${F + 1} × ${DU}`);
  const E = opts.readout?.channels ?? 0;
  const rates = new Float64Array(B * F * D);
  const extra = opts.readout ? new Float64Array(B * F * E) : null;
  // trials per generate call: the output (z, mean, sample per step) must fit one binding
  const perSequence = 4 * (F + 1) * (R + 2 * D);
  const fit = Math.floor(Math.min(MAX_SEQUENCES, model.engine.limits.maxStorageBufferBindingSize / perSequence) / S);
  const block = Math.max(1, Math.min(B, fit));
  for (let b0 = 0, chunk = 0; b0 < B; b0 += block, chunk++) {
    const b1 = Math.min(B, b0 + block);
    const n = b1 - b0;
    const part = {
      z: particles.z.subarray(b0 * particles.particles * R, b1 * particles.particles * R),
      w: particles.w.subarray(b0 * particles.particles, b1 * particles.particles),
      trials: n,
      particles: particles.particles,
    };
    const states = drawParticles(part, R, S, seed, b0);
    let inputs: Float32Array | undefined;
    if (opts.inputs) {
      // every path of a trial is driven by that trial's inputs
      const stride = (F + 1) * DU;
      inputs = new Float32Array(n * S * stride);
      for (let b = 0; b < n; b++) for (let s = 0; s < S; s++) inputs.set(opts.inputs.subarray((b0 + b) * stride, (b0 + b + 1) * stride), (b * S + s) * stride);
    }
    // a chunk's paths take seed + chunk so that no two chunks share noise
    const g = await generate(model, { steps: F + 1, sequences: n * S, inputs, inputsFiltered: true, initial: { states }, seed: seed + chunk });
    // step 0 is the drawn state itself; steps 1 … F are the predicted bins
    const zs = new Float32Array(n * S * F * R);
    for (let q = 0; q < n * S; q++) zs.set(g.z.subarray((q * (F + 1) + 1) * R, (q + 1) * (F + 1) * R), q * F * R);
    const ex = opts.readout?.rates(zs, n * S * F);
    for (let b = 0; b < n; b++)
      for (let s = 0; s < S; s++)
        for (let f = 0; f < F; f++) {
          const q = b * S + s;
          const o = ((b0 + b) * F + f) * D;
          for (let d = 0; d < D; d++) rates[o + d] += g.mean[(q * (F + 1) + f + 1) * D + d] / S;
          if (ex) for (let e = 0; e < E; e++) extra![((b0 + b) * F + f) * E + e] += ex[(q * F + f) * E + e] / S;
        }
  }
  return { rates, extra };
}

/** Sequences per generate dispatch at most (one workgroup each). */
const MAX_SEQUENCES = 32768;

export async function generate(model: LowRankRNN, opts: GenerateOptions): Promise<Generated> {
  const engine = model.engine;
  const c = model.config;
  const R = c.rank;
  const D = c.obsDim;
  const DU = c.inputDim;
  const T = opts.steps;
  if (!Number.isInteger(T) || T < 1) throw new Error(`generate: steps must be a positive integer, got ${T}`);
  let S = opts.sequences ?? 1;
  if (opts.inputs) {
    if (DU === 0) throw new Error('generate: the model takes no inputs');
    if (opts.inputs.length % (T * DU) !== 0) {
      throw new Error(`generate: inputs have ${opts.inputs.length} values, not a multiple of steps × input channels = ${T * DU}`);
    }
    S = opts.inputs.length / (T * DU);
  } else if (DU > 0) {
    // autonomous generation of an input-driven model: inputs are zero
  }
  const seed = opts.seed ?? 0;
  const host = await model.hostParams();
  const init = opts.initial ?? 'prior';
  let z0: Float32Array;
  if (init === 'prior' || init === 'prior-mean') z0 = priorStates(c, host, S, seed, init === 'prior');
  else if ('states' in init) {
    if (init.states.length !== S * R) throw new Error(`generate: initial states have ${init.states.length} values, expected sequences × rank = ${S * R}`);
    z0 = init.states;
  } else z0 = await posteriorStates(model, init.posteriorOf, S, seed);

  const tape = Tape.begin(engine);
  try {
    const th = model.theta('bootstrap');
    tape.end();
    const layout = model.layoutFor('bootstrap');
    const o = layout.offsets;
    // the same input filter as in fitting: low-pass from a zero state at the first recorded step
    // (burn-in runs on zero inputs, so the filter state is still zero there)
    const given =
      opts.inputs && c.inputFilter === 'lowpass' && !opts.inputsFiltered
        ? Float32Array.from(lowpassReference(opts.inputs, [S, T, DU], host.thetaA[0]))
        : opts.inputs;
    const inputs = Tensor.fromArray(engine, given ?? new Float32Array(Math.max(1, S * T * DU)), [Math.max(1, given?.length ?? S * T * DU)]);
    const z0T = Tensor.fromArray(engine, z0, [S * R]);
    const out = Tensor.empty(engine, [S * T * (R + 2 * D)], 'f32', 'generate.out');
    const key = seedToKey(seed);
    const kernel = engine.kernel('generate', 'main', {
      defines: { R, WG: 64 },
      overrides: { NONLIN: nonlinearityId(c.nonlinearity), OBS_NL: OBS_NONLIN_IDS[c.obsNonlinearity] },
      variant: `R${R}`,
    });
    engine.dispatch(
      kernel,
      {
        p: {
          S,
          T,
          burn: opts.burnIn ?? 0,
          N: c.units,
          D,
          DU,
          seed_lo: key[0],
          seed_hi: key[1],
          iter: 0,
          poisson: c.obs === 'poisson' ? 1 : 0,
          noise_scale: opts.noiseScale ?? 1,
          off_m: o.m,
          off_n: o.n,
          off_h: o.h,
          off_a: o.a,
          off_wu: o.wu,
          off_L: o.L,
          off_B: o.B,
          off_b: o.b,
          off_lv: o.lv,
          off_Bv: o.Bv,
          readout_v: readoutReadsInputs(c) ? 1 : 0,
          off_Bo: o.Bo,
          rates: layout.rates ? 1 : 0,
        },
        theta: th.theta,
        inputs,
        z0: z0T,
        out,
      },
      S,
    );
    const all = await out.readF32();
    inputs.dispose();
    z0T.dispose();
    out.dispose();
    const nz = S * T * R;
    const nd = S * T * D;
    return { S, T, z: all.slice(0, nz), mean: all.slice(nz, nz + nd), sample: all.slice(nz + nd, nz + 2 * nd) };
  } finally {
    tape.dispose();
  }
}
