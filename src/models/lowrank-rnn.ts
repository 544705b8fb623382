/**
 * The stochastic low-rank RNN (Pals et al. 2024; reference code mackelab/smc_rnns):
 *   x_t = m z_t + Wu v_t,   z_{t+1} = a z_t + n φ(x_t; h) + ε,  ε ~ N(0, Σz),  a = exp(−exp θ_a)
 *   z_0 ~ N(μ0, Σ0),   y_t | z_t ~ Gauss(ψ(η_t), diag σ²)  or  Poisson(ψ(η_t))
 * Observation models: 'affine' η_t = Bᵀz_t + b; with `readoutFromInputs` η_t = Bᵀ[v_t; z_t] + b, its
 * input part stored as Bv [D,DU]. 'one-to-one' (channel i is unit i, D = N) reads the currents,
 * η_t = B_o ⊙ (m z_t + Wu v_t) + b: the affine readout with B = diag(B_o) m and Bv = diag(B_o) Wu, which is
 * how the kernels see it (`effectiveReadout` on the host; `theta()` forms it on the tape, so gradients
 * reach m, Wu and B_o). Unlike the reference's optimal proposal, the input term carries B_o too.
 * With readoutFrom 'rates' it reads the rates, η_t = B_o ⊙ φ(m z_t + Wu v_t; h) + b (the transition's φ and h):
 * nonlinear in z, so only the bootstrap proposal applies; the kernels' RATES variant evaluates it from the
 * packed m, h, Wu and the gains block Bo (ThetaLayout.rates).
 * Inputs v are the given u (inputFilter 'raw') or low-pass filtered with the decay a ('lowpass'):
 * v_0 = 0, v_t = a v_{t−1} + (1 − a) u_{t−1} (src/ops/lowpass.ts).
 *
 * Trainable parameters live on the GPU as tensors. `theta()` records on the tape the transforms
 * from raw parameters to what the fused filter consumes (Cholesky factors, the optimal proposal's
 * Kalman quantities) and packs them into one buffer.
 *
 * Storage conventions: `n` is kept as nᵀ [N,R] and B as Bᵀ [D,R] (one row per unit / channel, the
 * access pattern of the kernels); model files store n as [R,N] and B as [R,D] like the reference.
 */
import { Tensor } from '../autodiff/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { rngUniform4, rngNormal4, seedToKey } from '../gpu/rng.js';
import { PURPOSE_INIT_NORMAL, PURPOSE_INIT_UNIFORM } from '../gpu/shared-constants.js';
import { add, mul } from '../ops/elementwise.js';
import { kalmanPacked } from '../ops/kalman.js';
import { optimalProjections } from '../ops/obs-projection.js';
import { cholFactor, diagExp, matmul, reshape, weightedSum } from '../ops/linalg.js';
import type { Nonlinearity, NonlinearityName } from '../ops/nonlin.js';
import { pack, type PackPart } from '../ops/pack.js';
import { validateEncoderConfig, type EncoderConfig } from './encoder.js';
import { thetaLayout, type ObsLikelihood, type ObsNonlinearity, type Proposal, type ThetaLayout } from './theta-layout.js';

export type NoiseKind = 'full' | 'diag' | 'scalar';

export interface ModelConfig {
  /** Rank R (latent dimension). */
  rank: number;
  /** Units N. */
  units: number;
  /** Observed channels D. */
  obsDim: number;
  /** Input channels DU (0 for autonomous models). */
  inputDim: number;
  nonlinearity: Exclude<NonlinearityName, 'softplus' | 'exp'>;
  obs: ObsLikelihood;
  obsNonlinearity: ObsNonlinearity;
  /** Parameterisation of the transition noise Σz and the initial-state noise Σ0. */
  noise: NoiseKind;
  /** Initial standard deviations and decay (reference defaults: 0.1, 1, 0.1, 0.9). */
  initNoiseZ: number;
  initNoiseZ0: number;
  initNoiseX: number;
  initDecay: number;
  /** Observation readout Bᵀ[v; z] + b from the inputs and the latents (needs inputDim > 0); default Bᵀz + b. */
  readoutFromInputs?: boolean;
  /** How inputs enter: 'raw' (v = u, default) or 'lowpass' (filtered with the trained decay a, as the reference's simulate_input). */
  inputFilter?: InputFilter;
  /**
   * Observation model: 'affine' (default; also what files without the field hold) or 'one-to-one'
   * (channel i reads unit i, needs obsDim = units): η = B_o ⊙ (m z + Wu v) + b with gains B_o (init 1).
   */
  observation?: ObservationModel;
  /** What a one-to-one readout reads: the currents m z + Wu v ('currents', default) or the rates φ(m z + Wu v; h) ('rates', bootstrap proposal only). */
  readoutFrom?: ReadoutFrom;
  /** Train the one-to-one gains B_o (default true; false keeps them at their values, 1 from init). */
  trainObsGain?: boolean;
  /** Train the readout bias b (default true; false keeps it, 0 from init). */
  trainObsBias?: boolean;
  /** CNN encoder of the encoder proposal (src/models/encoder.ts; its parameters live apart); absent if none. */
  encoder?: EncoderConfig;
}

export type InputFilter = 'raw' | 'lowpass';
export type ObservationModel = 'affine' | 'one-to-one';
export type ReadoutFrom = 'currents' | 'rates';

/** Largest latent rank the filters support (the optimal proposal's R×R algebra runs in one workgroup up to 64). */
export const MAX_RANK = 64;

export const DEFAULT_CONFIG: Omit<ModelConfig, 'rank' | 'units' | 'obsDim'> = {
  inputDim: 0,
  nonlinearity: 'clipped_relu',
  obs: 'gauss',
  obsNonlinearity: 'identity',
  noise: 'full',
  initNoiseZ: 0.1,
  initNoiseZ0: 1,
  initNoiseX: 0.1,
  initDecay: 0.9,
  readoutFromInputs: false,
  inputFilter: 'raw',
  observation: 'affine',
  readoutFrom: 'currents',
  trainObsGain: true,
  trainObsBias: true,
};

/** 'Bo' (one-to-one gains) is last so that affine models keep their parameter order (optimiser state). */
export const PARAM_NAMES = ['m', 'n', 'h', 'thetaA', 'wu', 'mu0', 'noiseZ', 'noiseZ0', 'B', 'b', 'logVarX', 'Bv', 'Bo'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];

export function isOneToOne(c: ModelConfig): boolean {
  return c.observation === 'one-to-one';
}

/** Whether the observations are the one-to-one readout of the rates φ(m z + Wu v; h) (ThetaLayout.rates). */
export function readsRates(c: ModelConfig): boolean {
  return isOneToOne(c) && c.readoutFrom === 'rates';
}

/** Whether the optimal proposal applies: Gaussian observations, identity link and a readout linear in z (not from the rates). */
export function optimalProposalApplies(c: ModelConfig): boolean {
  return c.obs === 'gauss' && c.obsNonlinearity === 'identity' && !readsRates(c);
}

/**
 * Whether the observations read the inputs through an affine term Bvᵀv_t (affine with readoutFromInputs, or
 * one-to-one currents with inputs): SmcConfig.readoutFromInputs. The readout from the rates takes its
 * inputs inside φ instead (the kernels' RATES variant), so it is false there.
 */
export function readoutReadsInputs(c: ModelConfig): boolean {
  return c.inputDim > 0 && ((isOneToOne(c) && !readsRates(c)) || !!c.readoutFromInputs);
}

/** Whether a parameter present in the model is trained (the one-to-one gains and the bias can be frozen). */
export function isTrained(c: ModelConfig, k: ParamName): boolean {
  if (k === 'Bo') return c.trainObsGain ?? true;
  if (k === 'b') return c.trainObsBias ?? true;
  return true;
}

/** Shapes of the raw parameters as stored on the GPU (see the storage conventions above); size 0 = not in this model. */
export function paramShapes(c: ModelConfig): Record<ParamName, number[]> {
  const { rank: R, units: N, obsDim: D, inputDim: DU } = c;
  const noise = c.noise === 'full' ? [R, R] : c.noise === 'diag' ? [R] : [1];
  const o2o = isOneToOne(c);
  return {
    m: [N, R],
    n: [N, R],
    h: [N],
    thetaA: [1],
    wu: [N, DU],
    mu0: [R],
    noiseZ: noise,
    noiseZ0: noise,
    B: [D, o2o ? 0 : R],
    b: [D],
    logVarX: [c.obs === 'gauss' ? D : 0],
    Bv: [D, !o2o && c.readoutFromInputs ? DU : 0],
    Bo: [o2o ? N : 0],
  };
}

export interface ReadoutMatrices {
  B: Float64Array;
  Bv: Float64Array;
}

/**
 * The readout the kernels use, in the storage conventions (B as Bᵀ [D,R], Bv [D,DU], DU = 0 when the
 * observations do not read the inputs), float64: the affine B and Bv, or for one-to-one
 * B = diag(B_o) m and Bv = diag(B_o) Wu. For the readout from the rates (not linear) B = diag(B_o) m is the
 * readout of the currents before φ (the kernels do not use it; diagnostics may) and Bv is empty.
 */
export function effectiveReadout(c: ModelConfig, p: Pick<Record<ParamName, ArrayLike<number>>, 'B' | 'Bv' | 'm' | 'wu' | 'Bo'>): ReadoutMatrices {
  const { rank: R, obsDim: D, inputDim: DU } = c;
  const dv = readoutReadsInputs(c) ? DU : 0;
  if (!isOneToOne(c)) return { B: Float64Array.from(p.B), Bv: Float64Array.from({ length: D * dv }, (_, i) => p.Bv[i]) };
  const B = new Float64Array(D * R);
  const Bv = new Float64Array(D * dv);
  for (let i = 0; i < D; i++) {
    for (let r = 0; r < R; r++) B[i * R + r] = p.Bo[i] * p.m[i * R + r];
    for (let j = 0; j < dv; j++) Bv[i * dv + j] = p.Bo[i] * p.wu[i * DU + j];
  }
  return { B, Bv };
}

export function validateConfig(c: ModelConfig): void {
  const posInt = (v: number, name: string, max = Infinity) => {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`model config: ${name} must be an integer in [1, ${max}], got ${v}`);
  };
  posInt(c.rank, 'rank', MAX_RANK);
  posInt(c.units, 'units');
  posInt(c.obsDim, 'obsDim');
  if (!Number.isInteger(c.inputDim) || c.inputDim < 0) throw new Error(`model config: inputDim must be an integer ≥ 0, got ${c.inputDim}`);
  if (!['relu', 'clipped_relu', 'tanh', 'identity'].includes(c.nonlinearity)) {
    throw new Error(`model config: nonlinearity "${c.nonlinearity}" is not one of relu, clipped_relu, tanh, identity`);
  }
  if (!['gauss', 'poisson'].includes(c.obs)) throw new Error(`model config: obs "${c.obs}" is not gauss or poisson`);
  if (!['identity', 'softplus', 'exp', 'relu'].includes(c.obsNonlinearity)) {
    throw new Error(`model config: obsNonlinearity "${c.obsNonlinearity}" is not identity, softplus, exp or relu`);
  }
  if (!['full', 'diag', 'scalar'].includes(c.noise)) throw new Error(`model config: noise "${c.noise}" is not full, diag or scalar`);
  for (const k of ['initNoiseZ', 'initNoiseZ0', 'initNoiseX'] as const) if (!(c[k] > 0)) throw new Error(`model config: ${k} must be > 0, got ${c[k]}`);
  if (!(c.initDecay > 0 && c.initDecay < 1)) throw new Error(`model config: initDecay must be in (0, 1), got ${c.initDecay}`);
  if (c.inputFilter !== undefined && !['raw', 'lowpass'].includes(c.inputFilter)) {
    throw new Error(`model config: inputFilter "${c.inputFilter}" is not raw or lowpass`);
  }
  if (c.inputFilter === 'lowpass' && c.inputDim === 0) throw new Error('model config: inputFilter lowpass needs a model with inputs (inputDim > 0)');
  if (c.readoutFromInputs && c.inputDim === 0) {
    throw new Error('model config: readoutFromInputs (readout from [v; z]) needs a model with inputs (inputDim > 0)');
  }
  if (c.observation !== undefined && !['affine', 'one-to-one'].includes(c.observation)) {
    throw new Error(`model config: observation "${c.observation}" is not affine or one-to-one`);
  }
  if (c.readoutFrom !== undefined && !['currents', 'rates'].includes(c.readoutFrom)) {
    throw new Error(`model config: readoutFrom "${c.readoutFrom}" is not currents or rates`);
  }
  if (c.readoutFrom === 'rates' && !isOneToOne(c)) {
    throw new Error('model config: readoutFrom "rates" is an option of the one-to-one observation model (observation "one-to-one")');
  }
  if (c.encoder !== undefined) validateEncoderConfig(c.encoder, c.obsDim);
  if (isOneToOne(c)) {
    if (c.obsDim !== c.units) {
      const got = `got obsDim ${c.obsDim} and units ${c.units}`;
      throw new Error(`model config: the one-to-one observation model reads channel i from unit i, so obsDim must equal units, ${got}`);
    }
    if (c.readoutFromInputs) {
      throw new Error('model config: readoutFromInputs is an affine option; the one-to-one readout of the currents m z + Wu v already includes the inputs');
    }
  }
}

/** Host copy of the parameters (float32 values as numbers), e.g. for model files and CPU analysis. */
export type HostParams = Record<ParamName, Float32Array>;

/** Reference initialisation: uniform weights, clipped-relu thresholds, noise at the init scales. */
export function initialParams(c: ModelConfig, seed: number): HostParams {
  validateConfig(c);
  const key = seedToKey(seed);
  let counter = 0;
  const uniform = () => rngUniform4(key, [counter++, 0, PURPOSE_INIT_UNIFORM, 0])[0];
  const normal = () => rngNormal4(key, [counter++, 0, PURPOSE_INIT_NORMAL, 0])[0];
  const { rank: R, units: N, inputDim: DU } = c;
  const shapes = paramShapes(c);
  const p = {} as HostParams;
  for (const k of PARAM_NAMES) p[k] = new Float32Array(shapes[k].reduce((a, b) => a * b, 1));
  const U = (arr: Float32Array, bound: number) => arr.forEach((_, i) => (arr[i] = (2 * uniform() - 1) * bound));
  U(p.m, 1 / Math.sqrt(R));
  U(p.n, 1 / Math.sqrt(N));
  if (c.nonlinearity === 'clipped_relu') U(p.h, 1 / Math.sqrt(N));
  if (DU > 0) U(p.wu, 1 / Math.sqrt(DU));
  p.thetaA[0] = Math.log(-Math.log(c.initDecay));
  const fillNoise = (arr: Float32Array, std: number) => {
    const logVar = 2 * Math.log(std);
    if (c.noise === 'full') for (let r = 0; r < R; r++) arr[r * R + r] = logVar;
    else arr.fill(logVar);
  };
  fillNoise(p.noiseZ, c.initNoiseZ);
  fillNoise(p.noiseZ0, c.initNoiseZ0);
  // affine readout B ∈ R^{(R+dv)×D} ~ N(0, 2/(R+dv)); dv = 0 unless it reads the inputs too (both empty for one-to-one)
  const dv = c.readoutFromInputs ? DU : 0;
  const bStd = Math.sqrt(2 / (R + dv));
  for (let i = 0; i < p.B.length; i++) p.B[i] = normal() * bStd;
  if (c.obs === 'gauss') p.logVarX.fill(2 * Math.log(c.initNoiseX));
  for (let i = 0; i < p.Bv.length; i++) p.Bv[i] = normal() * bStd;
  p.Bo.fill(1); // one-to-one gains; b stays 0
  return p;
}

/** Cholesky factor of a noise covariance from its raw host parameter (CPU mirror of LowRankRNN.noiseFactor). */
export function hostNoiseFactor(config: ModelConfig, raw: ArrayLike<number>): Float64Array {
  const R = config.rank;
  const L = new Float64Array(R * R);
  for (let r = 0; r < R; r++) {
    if (config.noise === 'full') {
      for (let c = 0; c < r; c++) L[r * R + c] = raw[r * R + c];
      L[r * R + r] = Math.exp(raw[r * R + r] / 2);
    } else L[r * R + r] = Math.exp((config.noise === 'diag' ? raw[r] : raw[0]) / 2);
  }
  return L;
}

/** Effective trainable parameter count (full noise counts R(R+1)/2 per covariance, as the reference; frozen gains and bias do not count). */
export function parameterCount(c: ModelConfig): number {
  const { rank: R, units: N, obsDim: D, inputDim: DU } = c;
  const noise = c.noise === 'full' ? (R * (R + 1)) / 2 : c.noise === 'diag' ? R : 1;
  const readout = isOneToOne(c) ? (isTrained(c, 'Bo') ? N : 0) : D * R + (c.readoutFromInputs ? D * DU : 0);
  return 2 * R * N + N + 1 + R + 2 * noise + N * DU + readout + (isTrained(c, 'b') ? D : 0) + (c.obs === 'gauss' ? D : 0);
}

export interface ThetaInputs {
  theta: Tensor;
  /** Optimal proposal: per-step projections [q (B,T,R) | s (B,T)]. */
  qs: Tensor | null;
  /** Per-trial additive constant of Σ_t log p̂ not included in the filter's output (scalar tensor). */
  constant: Tensor | null;
}

export type { ThetaLayout };

export class LowRankRNN {
  readonly params: Record<ParamName, Tensor>;
  readonly layout: ThetaLayout;

  constructor(
    readonly engine: Engine,
    readonly config: ModelConfig,
    host: HostParams,
  ) {
    validateConfig(config);
    const shapes = paramShapes(config);
    this.params = {} as Record<ParamName, Tensor>;
    for (const k of PARAM_NAMES) {
      const size = shapes[k].reduce((a, b) => a * b, 1);
      if (host[k].length !== size) throw new Error(`model parameters: ${k} has ${host[k].length} values, expected ${size} ([${shapes[k].join(', ')}])`);
      const t = Tensor.fromArray(engine, size ? host[k] : [0], size ? shapes[k] : [1], 'f32', k);
      t.requiresGrad = size > 0 && isTrained(config, k);
      this.params[k] = t;
    }
    this.layout = thetaLayout({ R: config.rank, N: config.units, D: config.obsDim, DU: config.inputDim }, 'bootstrap', readsRates(config));
  }

  static create(engine: Engine, config: ModelConfig, seed: number): LowRankRNN {
    return new LowRankRNN(engine, config, initialParams(config, seed));
  }

  /** The packed-parameter layout for a proposal (same offsets; the backward kernel's slot map differs). */
  layoutFor(proposal: Proposal): ThetaLayout {
    const c = this.config;
    return thetaLayout({ R: c.rank, N: c.units, D: c.obsDim, DU: c.inputDim }, proposal, readsRates(c));
  }

  /** Tensors the optimiser updates (frozen gains and bias are not among them). */
  trainable(): Tensor[] {
    return PARAM_NAMES.map((k) => this.params[k]).filter((t) => t.requiresGrad);
  }

  get nonlinearity(): Nonlinearity {
    return this.config.nonlinearity;
  }

  /** Whether a parameter is part of this model (size > 0), trained or frozen. */
  private present(k: ParamName): boolean {
    return paramShapes(this.config)[k].reduce((a, b) => a * b, 1) > 0;
  }

  async hostParams(): Promise<HostParams> {
    const out = {} as HostParams;
    for (const k of PARAM_NAMES) out[k] = this.present(k) ? await this.params[k].readF32() : new Float32Array(0);
    return out;
  }

  /**
   * The effective readout as tape ops (see `effectiveReadout`): affine B and Bv, or for one-to-one
   * diag(B_o) m and diag(B_o) Wu, so that gradients reach m, Wu and B_o. Bv is null when the
   * observations do not read the inputs.
   */
  readout(): { B: Tensor; Bv: Tensor | null } {
    const c = this.config;
    const P = this.params;
    if (!isOneToOne(c)) return { B: P.B, Bv: c.readoutFromInputs ? P.Bv : null };
    if (readsRates(c)) throw new Error('readout: the one-to-one readout from the rates is not linear (the kernels read m, h, Wu and B_o)');
    const gain = reshape(P.Bo, [c.units, 1]);
    const out = { B: mul(P.m, gain), Bv: c.inputDim > 0 ? mul(P.wu, gain) : null };
    if (!P.Bo.requiresGrad) gain.dispose(); // a recorded reshape belongs to the tape; a frozen one is ours
    return out;
  }

  /** Cholesky factor of a noise covariance from its raw parameter (tape ops). */
  noiseFactor(raw: Tensor): Tensor {
    const R = this.config.rank;
    if (this.config.noise === 'full') return cholFactor(raw);
    if (this.config.noise === 'diag') return diagExp(raw);
    const ones = Tensor.constant(this.engine, `ones.${R}`, () => new Float32Array(R).fill(1), [R]);
    const f = diagExp(mul(ones, raw));
    ones.dispose();
    return f;
  }

  /**
   * Record the parameter transforms and pack what the filter needs. For the optimal proposal `y`
   * ([B,T,D], already normalised) is needed to form the per-step projections, and with
   * `readoutFromInputs` also the inputs `v` ([B,T,DU]): their readout Bvᵀv_t is a per-step offset of y.
   */
  theta(proposal: Proposal, y?: Tensor, B = 0, T = 0, v?: Tensor | null): ThetaInputs {
    const c = this.config;
    const R = c.rank;
    const D = c.obsDim;
    const P = this.params;
    const L = this.layout;
    const o = L.offsets;
    if (proposal === 'encoder' && c.noise === 'full') {
      throw new Error("the encoder proposal combines diagonal Gaussians: it needs noise 'diag' or 'scalar', not 'full'");
    }
    const Lz = this.noiseFactor(P.noiseZ);
    const Lz0 = this.noiseFactor(P.noiseZ0);
    if (readsRates(c) && proposal === 'optimal') {
      const why = "readoutFrom 'rates' (one-to-one readout of φ(m z + Wu v; h)) is not";
      throw new Error(`the optimal proposal needs observations linear in z; ${why}: use the bootstrap proposal`);
    }
    // the readout from the rates packs the gains B_o (block Bo); the kernels form B_o φ(m z + Wu v; h) + b
    const ro = readsRates(c) ? { B: P.Bo, Bv: null } : this.readout();
    const parts: PackPart[] = [
      { src: P.m, dstOffset: o.m },
      { src: P.n, dstOffset: o.n },
      { src: P.h, dstOffset: o.h },
      { src: P.thetaA, dstOffset: o.a },
      { src: P.mu0, dstOffset: o.mu0 },
      { src: ro.B, dstOffset: readsRates(c) ? o.Bo : o.B },
      { src: P.b, dstOffset: o.b },
    ];
    if (c.inputDim > 0) parts.push({ src: P.wu, dstOffset: o.wu });
    if (ro.Bv) parts.push({ src: ro.Bv, dstOffset: o.Bv });
    if (c.obs === 'gauss') parts.push({ src: P.logVarX, dstOffset: o.lv });
    let qs: Tensor | null = null;
    let constant: Tensor | null = null;
    if (proposal !== 'optimal') {
      // bootstrap: L, L0; encoder: their diagonals (the encoder's outputs are the filter's qs, see objective)
      parts.push({ src: Lz, dstOffset: o.L }, { src: Lz0, dstOffset: o.L0 });
    } else {
      if (c.obs !== 'gauss' || c.obsNonlinearity !== 'identity') {
        throw new Error('the optimal proposal needs Gaussian observations with the identity link; use the bootstrap proposal');
      }
      if (!y) throw new Error('theta: the optimal proposal needs the observations');
      // q = C̃ỹ, s = |ỹ|², G = C̃C̃ᵀ with C̃ = Bᵀ/σ, ỹ = (y − b)/σ (one op, see ops/obs-projection.ts)
      const y2 = y.view([B * T, D], false);
      let offset = P.b; // [D], or [BT,D] with the inputs' readout Bvᵀv_t added
      if (ro.Bv) {
        if (!v) throw new Error('theta: the optimal proposal with a readout from the inputs needs the inputs');
        // a tape reshape: filtered inputs carry a gradient (to the decay)
        offset = add(matmul(reshape(v, [B * T, c.inputDim]), ro.Bv, { transB: true }), P.b);
      }
      const proj = optimalProjections(y2, offset, P.logVarX, ro.B);
      y2.dispose();
      qs = proj.qs;
      const G = proj.G;
      const k1 = kalmanPacked(Lz, G);
      const k0 = kalmanPacked(Lz0, G);
      const RR = R * R;
      parts.push(
        { src: k1, dstOffset: o.Sq, length: RR },
        { src: k1, dstOffset: o.Lq, srcOffset: RR, length: RR },
        { src: k0, dstOffset: o.Sq0, length: RR },
        { src: k0, dstOffset: o.Lq0, srcOffset: RR, length: RR },
        { src: G, dstOffset: o.G },
      );
      // per trial: −½ [ T (Σ log σ² + D log 2π) + logdet(I+Σ0G) + (T−1) logdet(I+ΣG) ]
      constant = weightedSum(
        this.engine,
        [
          { src: k0, srcOffset: 2 * RR, length: 1, weight: -0.5 },
          { src: k1, srcOffset: 2 * RR, length: 1, weight: -0.5 * (T - 1) },
          { src: P.logVarX, weight: -0.5 * T },
        ],
        -0.5 * T * D * Math.log(2 * Math.PI),
        'theta.constant',
      );
    }
    const theta = pack(this.engine, parts, L.P, 'theta');
    return { theta, qs, constant };
  }

  dispose(): void {
    for (const k of PARAM_NAMES) this.params[k].dispose();
  }
}

/** Reference-style Gaussian draw helper for CPU code paths (tests, simulators). */
export function normalStream(seed: number, purpose: number): () => number {
  const key = seedToKey(seed);
  let i = 0;
  let buf: Float64Array | null = null;
  return () => {
    if (!buf || i % 4 === 0) buf = rngNormal4(key, [Math.floor(i / 4), 0, purpose, 0]);
    return buf[i++ % 4];
  };
}
