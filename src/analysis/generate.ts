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
import { filterDataset } from '../inference/filter.js';
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
  const key = seedToKey(seed);
  const res = new Float32Array(S * R);
  for (let s = 0; s < S; s++) {
    const u = rngUniform4(key, [s, 0, PURPOSE_GEN_POSTERIOR_PICK, 0])[0];
    let acc = 0;
    let k = 0;
    for (; k < K - 1; k++) {
      acc += w[(T - 1) * K + k];
      if (u <= acc) break;
    }
    for (let r = 0; r < R; r++) res[s * R + r] = z[((T - 1) * K + k) * R + r];
  }
  return res;
}

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
