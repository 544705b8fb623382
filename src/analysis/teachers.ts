/**
 * Teacher models for teacher–student tests and `lowrank-smc simulate` (as in the teacher–student
 * experiments of mackelab/smc_rnns), each expressed in our own model class (ModelConfig + HostParams),
 * so data come from the same GPU generator the students use (./teacher-simulation.ts) and the teacher
 * can be scored by the same filter:
 *
 *  - `osc-gauss` / `osc-poisson`: a rank-2 tanh oscillator built analytically. With x = m z and
 *    h = 0 the latent map z' = a z + nᵀ tanh(m z) linearises at the origin to a I + nᵀm. Choosing
 *    nᵀm = ρ Rot(ω) − a I (n solved by least squares through (mᵀm)⁻¹) makes that ρ Rot(ω): for ρ > 1
 *    the origin is an unstable focus and tanh saturation stops the growth on a limit cycle, whose
 *    period is longer than 2π/ω because saturation lowers the effective gain.
 *  - a teacher RNN file (the format of the reference's teacher_reach_rank2.json): the latent reduction
 *    z' = (1−α) z + (α/N) n relu(m z + b_rec + Wu u) with currents m z observed.
 *  - any of our model files.
 *
 * Pure functions (no Node APIs), so they run in the browser too.
 */
import { isTeacherFile, type TeacherFile } from './fp-model.js';
import { DEFAULT_CONFIG, initialParams, normalStream, validateConfig, type HostParams, type ModelConfig } from '../models/lowrank-rnn.js';
import { MODEL_FORMAT, parseModel } from '../models/model-file.js';
import type { Normalisation } from '../io/dataset.js';
import { PURPOSE_TEACHER } from '../gpu/shared-constants.js';

export const TEACHER_PRESETS = ['osc-gauss', 'osc-poisson', 'osc-units'] as const;

export interface Teacher {
  /** Preset name, or the source the teacher was read from. */
  name: string;
  kind: 'oscillator' | 'reach' | 'model-file';
  config: ModelConfig;
  params: HostParams;
  /** Data normalisation of a fitted model file: generated data are mapped back through it. */
  normalisation: Normalisation | null;
  /** Inputs used when none are given ([trials, steps, DU]); only for input-driven teachers. */
  defaultInputs?: (trials: number, steps: number) => Float32Array;
  /** Human-readable notes for the sidecar (construction, conventions). */
  notes: string[];
}

export interface OscillatorOptions {
  /** Units N (default 20). */
  units?: number;
  /** Observed channels D (default 20 Gaussian, 40 Poisson). */
  obsDim?: number;
  /** Decay a (default 0.9). */
  decay?: number;
  /** Spectral radius ρ of the linearisation at the origin (default 1.05: slightly unstable). */
  rho?: number;
  /** Rotation per step ω of the linearisation (default 2π/20; the limit cycle turns slower). */
  omega?: number;
  /** Transition noise std per latent dimension (default 0.1). */
  noiseStd?: number;
  /** Gaussian observation noise std (default 0.1). */
  obsNoiseStd?: number;
  /** Seed of the random loadings m and readout B (default 7). */
  seed?: number;
}

const OSC_DEFAULTS = { units: 20, decay: 0.9, rho: 1.05, omega: (2 * Math.PI) / 20, noiseStd: 0.1, obsNoiseStd: 0.1, seed: 7 };
/** Poisson readout gain and offset: rates softplus(g·B₀ᵀz − c), about 0.1–1 counts per bin on the cycle. */
const POISSON_GAIN = 2;
const POISSON_OFFSET = -1.5;

/** Solve the 2-sided least-squares design nᵀ = target·(mᵀm)⁻¹·mᵀ for R×R target; returns nᵀ as [N,R]. */
function designN(m: Float64Array, N: number, R: number, target: Float64Array): Float64Array {
  const mtm = new Float64Array(R * R);
  for (let i = 0; i < N; i++) for (let r = 0; r < R; r++) for (let c = 0; c < R; c++) mtm[r * R + c] += m[i * R + r] * m[i * R + c];
  const inv = invert(mtm, R);
  // n [R,N] = target [R,R] · inv [R,R] · mᵀ [R,N]
  const ti = new Float64Array(R * R);
  for (let r = 0; r < R; r++) for (let c = 0; c < R; c++) for (let k = 0; k < R; k++) ti[r * R + c] += target[r * R + k] * inv[k * R + c];
  const nT = new Float64Array(N * R);
  for (let i = 0; i < N; i++)
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let k = 0; k < R; k++) s += ti[r * R + k] * m[i * R + k];
      nT[i * R + r] = s;
    }
  return nT;
}

/** Gauss–Jordan inverse of a small well-conditioned matrix (throws if singular). */
function invert(a: Float64Array, n: number): Float64Array {
  const w = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(w[r * n + c]) > Math.abs(w[p * n + c])) p = r;
    if (Math.abs(w[p * n + c]) < 1e-12) throw new Error('teacher construction: mᵀm is singular (loadings are collinear)');
    for (let k = 0; k < n; k++) {
      [w[c * n + k], w[p * n + k]] = [w[p * n + k], w[c * n + k]];
      [inv[c * n + k], inv[p * n + k]] = [inv[p * n + k], inv[c * n + k]];
    }
    const d = w[c * n + c];
    for (let k = 0; k < n; k++) {
      w[c * n + k] /= d;
      inv[c * n + k] /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = w[r * n + c];
      for (let k = 0; k < n; k++) {
        w[r * n + k] -= f * w[c * n + k];
        inv[r * n + k] -= f * inv[c * n + k];
      }
    }
  }
  return inv;
}

/** Full-noise raw parameter (log-variances on the diagonal, zero correlations) for a given std. */
function fullNoise(R: number, std: number): Float32Array {
  const p = new Float32Array(R * R);
  for (let r = 0; r < R; r++) p[r * R + r] = 2 * Math.log(std);
  return p;
}

/** The rank-2 tanh oscillator with Gaussian (identity link) or Poisson (softplus link) observations. */
export function oscillatorTeacher(obs: 'gauss' | 'poisson', options: OscillatorOptions = {}): Teacher {
  const o = { ...OSC_DEFAULTS, obsDim: obs === 'gauss' ? 20 : 40, ...options };
  const R = 2;
  const N = o.units;
  const D = o.obsDim;
  if (!Number.isInteger(N) || N < R) throw new Error(`oscillator teacher: units must be an integer ≥ ${R}, got ${N}`);
  if (!(o.rho > 0) || !(o.decay > 0 && o.decay < 1) || !(o.noiseStd > 0) || !(o.obsNoiseStd > 0)) {
    throw new Error('oscillator teacher: rho, noiseStd and obsNoiseStd must be positive and decay in (0, 1)');
  }
  const config: ModelConfig = {
    ...DEFAULT_CONFIG,
    rank: R,
    units: N,
    obsDim: D,
    inputDim: 0,
    nonlinearity: 'tanh',
    obs,
    obsNonlinearity: obs === 'gauss' ? 'identity' : 'softplus',
    noise: 'full',
    initNoiseZ: o.noiseStd,
    initNoiseZ0: 1,
    initNoiseX: o.obsNoiseStd,
    initDecay: o.decay,
  };
  const params = initialParams(config, o.seed);
  // Loadings of std 0.5 put the limit cycle at |z| ≈ 1, where tanh(m z) saturates.
  const normal = normalStream(o.seed, PURPOSE_TEACHER);
  const m = new Float64Array(N * R).map(() => 0.5 * normal());
  const c = Math.cos(o.omega);
  const s = Math.sin(o.omega);
  const target = Float64Array.from([o.rho * c - o.decay, -o.rho * s, o.rho * s, o.rho * c - o.decay]);
  const nT = designN(m, N, R, target);
  params.m = Float32Array.from(m);
  params.n = Float32Array.from(nT);
  params.h.fill(0);
  params.thetaA[0] = Math.log(-Math.log(o.decay));
  params.mu0.fill(0);
  params.noiseZ = fullNoise(R, o.noiseStd);
  params.noiseZ0 = fullNoise(R, 1);
  const gain = obs === 'gauss' ? 1 : POISSON_GAIN;
  for (let i = 0; i < D * R; i++) params.B[i] = (gain * normal()) / Math.sqrt(R);
  params.b.fill(obs === 'gauss' ? 0 : POISSON_OFFSET);
  if (obs === 'gauss') params.logVarX.fill(2 * Math.log(o.obsNoiseStd));
  return {
    name: obs === 'gauss' ? 'osc-gauss' : 'osc-poisson',
    kind: 'oscillator',
    config,
    params,
    normalisation: null,
    notes: [
      `rank-2 tanh oscillator, N = ${N}: nᵀm = ρ·Rot(ω) − a·I with ρ = ${o.rho}, ω = ${o.omega.toFixed(4)} rad/step, a = ${o.decay}`,
      `latent noise std ${o.noiseStd} per dimension; initial state N(0, I)`,
      obs === 'gauss'
        ? `Gaussian observations y = Bᵀz + σ ξ, D = ${D}, σ = ${o.obsNoiseStd}`
        : `Poisson counts with rate softplus(Bᵀz ` + `${POISSON_OFFSET}), D = ${D}`,
    ],
  };
}

/**
 * The reference tutorial's kind of data: the rank-2 oscillator's 20 units are the 20 observed channels,
 * read from their currents m z (channel stds 0.2–1.3) with Gaussian noise 0.1.
 */
export function unitReadoutTeacher(): Teacher {
  const t = oscillatorTeacher('gauss', { units: 20, obsDim: 20 });
  const config: ModelConfig = { ...t.config, observation: 'one-to-one', readoutFrom: 'currents' };
  const params = { ...t.params, B: new Float32Array(0), Bo: new Float32Array(20).fill(1) };
  return {
    ...t,
    name: 'osc-units',
    config,
    params,
    notes: [...t.notes.slice(0, 2), "one-to-one observations: the 20 units' currents m z plus Gaussian noise σ = 0.1"],
  };
}

export function presetTeacher(name: string): Teacher {
  if (name === 'osc-gauss') return oscillatorTeacher('gauss');
  if (name === 'osc-units') return unitReadoutTeacher();
  if (name === 'osc-poisson') return oscillatorTeacher('poisson');
  throw new Error(`unknown teacher preset "${name}" (presets: ${TEACHER_PRESETS.join(', ')}; or give a teacher or model .json file)`);
}

function matrix(source: string, name: string, x: unknown, rows: number, cols: number): number[][] {
  const finiteRow = (r: unknown) => Array.isArray(r) && r.length === cols && r.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!Array.isArray(x) || x.length !== rows || !x.every(finiteRow)) {
    throw new Error(`${source}: field "${name}" must be a ${rows}×${cols} array of finite numbers`);
  }
  return x as number[][];
}

/** Reach-task stimuli: target j mod 8 of 8 directions, input (cos θ, sin θ) on for steps [25, 50). */
export function reachInputs(trials: number, steps: number, inputDim = 2, onset = 25, offset = 50): Float32Array {
  if (inputDim !== 2) throw new Error(`reach stimuli have 2 input channels (cos θ, sin θ); the teacher has ${inputDim}`);
  const u = new Float32Array(trials * steps * 2);
  for (let k = 0; k < trials; k++) {
    const theta = (2 * Math.PI * (k % 8)) / 8;
    for (let t = onset; t < Math.min(offset, steps); t++) {
      u[(k * steps + t) * 2] = Math.cos(theta);
      u[(k * steps + t) * 2 + 1] = Math.sin(theta);
    }
  }
  return u;
}

/**
 * A teacher RNN file (fields N, R, alpha, m, n, b_rec, nonlinearity, w_inp, w_inp_scale): its latent
 * reduction in our form a = 1 − α, nᵀ = (α/N)·nᵀ, relu with h = −b_rec, raw inputs through
 * Wu = w_inp_scale·w_inpᵀ, observations the currents m z (B = mᵀ) with R_z = R_x = 0.05, as the reference generates its data.
 */
export function reachTeacher(t: TeacherFile, source = 'teacher file'): Teacher {
  const { N, R, alpha } = t;
  if (!Number.isInteger(N) || !Number.isInteger(R) || N < 1 || R < 1) throw new Error(`${source}: N = ${N}, R = ${R} must be positive integers`);
  if (!(typeof alpha === 'number' && alpha > 0 && alpha < 1)) throw new Error(`${source}: alpha = ${alpha} must lie in (0, 1)`);
  if (t.nonlinearity !== 'relu') throw new Error(`${source}: nonlinearity "${t.nonlinearity}" is not supported (relu only)`);
  const m = matrix(source, 'm', t.m, N, R);
  const n = matrix(source, 'n', t.n, R, N);
  if (!Array.isArray(t.b_rec) || t.b_rec.length !== N || t.b_rec.some((v) => !Number.isFinite(v))) {
    throw new Error(`${source}: field "b_rec" must hold ${N} finite numbers`);
  }
  const DU = t.w_inp ? t.w_inp.length : 0;
  const w = t.w_inp ? matrix(source, 'w_inp', t.w_inp, DU, N) : [];
  const scale = t.w_inp_scale ?? 1;
  if (!Number.isFinite(scale)) throw new Error(`${source}: field "w_inp_scale" must be a finite number`);
  const noiseStd = 0.05;
  const config: ModelConfig = {
    ...DEFAULT_CONFIG,
    rank: R,
    units: N,
    obsDim: N,
    inputDim: DU,
    nonlinearity: 'relu',
    obs: 'gauss',
    obsNonlinearity: 'identity',
    noise: 'full',
    initNoiseZ: noiseStd,
    initNoiseZ0: noiseStd,
    initNoiseX: noiseStd,
    initDecay: 1 - alpha,
  };
  validateConfig(config);
  const params = initialParams(config, 0);
  for (let i = 0; i < N; i++) {
    for (let r = 0; r < R; r++) {
      params.m[i * R + r] = m[i][r];
      params.n[i * R + r] = (alpha / N) * n[r][i];
      params.B[i * R + r] = m[i][r];
    }
    params.h[i] = -t.b_rec[i];
    for (let j = 0; j < DU; j++) params.wu[i * DU + j] = scale * w[j][i];
  }
  params.thetaA[0] = Math.log(-Math.log(1 - alpha));
  params.mu0.fill(0);
  params.noiseZ = fullNoise(R, noiseStd);
  params.noiseZ0 = fullNoise(R, noiseStd);
  params.b.fill(0);
  params.logVarX.fill(2 * Math.log(noiseStd));
  return {
    name: source,
    kind: 'reach',
    config,
    params,
    normalisation: null,
    defaultInputs: DU === 2 ? (trials, steps) => reachInputs(trials, steps) : undefined,
    notes: [
      `latent reduction of a ${N}-unit rank-${R} relu teacher: z' = ${1 - alpha} z + (${alpha}/${N}) n relu(m z + b_rec + Wu u)`,
      'observations: unit currents m z (input currents not included), R_z = R_x = 0.05, z_0 ~ N(0, 0.05² I)',
      DU === 2
        ? 'default inputs: 8 reach targets (cos θ, sin θ), trial k gets target k mod 8, on for steps [25, 50)'
        : `${DU} input channel(s), raw (not ` + `low-pass filtered)`,
    ],
  };
}

/** A teacher from JSON text: a teacher RNN file or one of our model files. */
export function teacherFromJson(text: string, source: string): Teacher {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (isTeacherFile(obj)) return reachTeacher(obj, source);
  if (obj && typeof obj === 'object' && (obj as { format?: unknown }).format === MODEL_FORMAT) {
    const m = parseModel(text, source);
    return { name: source, kind: 'model-file', config: m.config, params: m.params, normalisation: m.normalisation, notes: ['fitted lowrank-smc model file'] };
  }
  throw new Error(`${source}: neither a teacher RNN file (fields N, R, alpha, m, n, b_rec) nor a lowrank-smc model file (field "format": "${MODEL_FORMAT}")`);
}
