/**
 * Model files: versioned JSON holding configuration, parameters, data normalisation and training
 * history (and, in checkpoints, the optimiser state and iteration for bit-for-bit resume). Pure data
 * functions, so the same code loads files in Node and in the browser; Node writes them atomically.
 *
 * Parameters are stored in the reference's orientation: n as [R][N], B as [R][D]; m as [N][R]; the
 * readout of the inputs (readoutFromInputs) Bv as [DU][D]; the one-to-one gains Bo as [N] (one-to-one
 * models have no B or Bv: their readout is formed from m, Wu and Bo).
 *
 * Version 2 added config.observation / readoutFrom / trainObsGain / trainObsBias and params.Bo; version-1
 * files (affine models, bias trained) load unchanged, the missing fields taking their defaults.
 * Version 3 added config.encoder and encoderParams (the CNN encoder of the encoder proposal: conv weights
 * as [out][in][k], biases and the constant log-variance flat); files without them load as before.
 */
import type { Normalisation } from '../io/dataset.js';
import type { OptimizerState } from '../ops/optim.js';
import { encoderParamShapes, type EncoderHostParams } from './encoder.js';
import { DEFAULT_CONFIG, PARAM_NAMES, paramShapes, validateConfig, type HostParams, type ModelConfig, type ParamName } from './lowrank-rnn.js';

export const MODEL_FORMAT = 'lowrank-smc-model';
export const MODEL_VERSION = 3;
/** Versions this code reads (1: before the one-to-one observation model, read as affine; 2: before encoders). */
export const READABLE_MODEL_VERSIONS = [1, 2, 3];

export interface HistoryEntry {
  iteration: number;
  loss: number;
  /** Mean over the batch of (1/T) log p̂(y_{1:T}). */
  llPerStep: number;
  lr: number;
  seconds: number;
  /** L2 norm of the gradient of the loss over all trainable parameters (before any clipping). */
  gradNorm?: number;
  /**
   * Diagnostics at the iterations where training read back (every logEvery): mean effective sample
   * size of the filter over the minibatch's steps, the latent noise std (geometric mean of √diag Σz),
   * and the observation noise std (root mean square over channels, Gaussian models, normalised units).
   */
  ess?: number;
  latentNoise?: number;
  obsNoise?: number;
  /** Encoder proposal: the mean mixing weight α (the encoder's share of the proposal mean), as the reference logs it. */
  alpha?: number;
}

export interface TrainingRecord {
  proposal: string;
  resampling: string;
  /** ESS threshold of resampling as a fraction of K (absent in older files: 1, every step). */
  resampleThreshold?: number;
  /** Forward-prediction steps at the end of each window (encoder proposal; absent: 0). */
  tForward?: number;
  particles: number;
  batch: number;
  window: number;
  iterations: number;
  totalIterations: number;
  seed: number;
  lr: number;
  lrEnd: number;
  /** Iterations at lr before the decay to lrEnd began (absent: 0). */
  lrHold?: number;
  /** Iterations of the linear lr ramp at the start (absent: 0). */
  lrWarmup?: number;
  optimizer: string;
  /** L2 norm the gradient was clipped to (absent: no clipping). */
  clip?: number;
  history: HistoryEntry[];
  adapter?: string;
  /** Present in checkpoints: what resuming needs. */
  optimizerState?: OptimizerState;
}

export interface ModelFile {
  format: typeof MODEL_FORMAT;
  version: number;
  config: ModelConfig;
  params: Record<string, number[] | number[][]>;
  normalisation: Normalisation | null;
  training: TrainingRecord | null;
  /** Present when config.encoder is: the encoder's parameters by name (encoderParamShapes). */
  encoderParams?: Record<string, number[] | number[][][]>;
}

function toRows(a: Float32Array, rows: number, cols: number, transpose: boolean): number[][] {
  const out: number[][] = [];
  if (!transpose) for (let i = 0; i < rows; i++) out.push(Array.from(a.subarray(i * cols, (i + 1) * cols)));
  else for (let j = 0; j < cols; j++) out.push(Array.from({ length: rows }, (_, i) => a[i * cols + j]));
  return out;
}

/** Parameters of an encoder model file entry: conv weights [out][in][k] nested, vectors flat. */
function serializeEncoder(config: ModelConfig, encoder: EncoderHostParams): Record<string, number[] | number[][][]> {
  const out: Record<string, number[] | number[][][]> = {};
  for (const [name, shape] of encoderParamShapes(config.encoder!, config.rank)) {
    const v = encoder[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (!v || v.length !== size) throw new Error(`serializeModel: encoder parameter ${name} has ${v ? v.length : 'no'} values, expected ${size} ([${shape}])`);
    if (shape.length === 1) out[name] = Array.from(v);
    else {
      const [O, I, K] = shape;
      out[name] = Array.from({ length: O }, (_, o) => Array.from({ length: I }, (_, i) => Array.from(v.subarray((o * I + i) * K, (o * I + i + 1) * K))));
    }
  }
  return out;
}

/** Read the encoder's parameters of a file, checking each one's nesting and values. */
function parseEncoder(obj: ModelFile, config: ModelConfig, source: string): EncoderHostParams {
  const stored = obj.encoderParams as Record<string, unknown> | undefined;
  if (!stored || typeof stored !== 'object') throw new Error(`${source}: config.encoder is set but encoderParams is missing`);
  const out: EncoderHostParams = {};
  for (const [name, shape] of encoderParamShapes(config.encoder!, config.rank)) {
    const field = `encoderParams["${name}"]`;
    const want = shape.map((d) => `[${d}]`).join('');
    const flat: number[] = [];
    const walk = (v: unknown, depth: number, path: string): void => {
      if (!Array.isArray(v)) throw new Error(`${source}: ${field}${path} is not an array (${name} is ${want})`);
      if (v.length !== shape[depth]) throw new Error(`${source}: ${field}${path} has ${v.length} entries, expected ${shape[depth]} (${name} is ${want})`);
      v.forEach((u, i) => {
        if (depth + 1 < shape.length) walk(u, depth + 1, `${path}[${i}]`);
        else {
          if (typeof u !== 'number' || !Number.isFinite(Math.fround(u)))
            throw new Error(`${source}: ${field}${path}[${i}] is ${JSON.stringify(u)}, not a finite float32 number`);
          flat.push(u);
        }
      });
    };
    if (stored[name] === undefined) throw new Error(`${source}: ${field} is missing`);
    walk(stored[name], 0, '');
    out[name] = Float32Array.from(flat);
  }
  return out;
}

/** The file object of a model; `encoder` holds the encoder's parameters when config.encoder is set. */
export function serializeModel(
  config: ModelConfig,
  params: HostParams,
  normalisation: Normalisation | null,
  training: TrainingRecord | null,
  encoder: EncoderHostParams | null = null,
): ModelFile {
  const { rank: R, units: N, obsDim: D, inputDim: DU } = config;
  const out: Record<string, number[] | number[][]> = {};
  out.m = toRows(params.m, N, R, false);
  out.n = toRows(params.n, N, R, true); // [R][N]
  out.h = Array.from(params.h);
  out.thetaA = Array.from(params.thetaA);
  if (DU > 0) out.wu = toRows(params.wu, N, DU, false);
  out.mu0 = Array.from(params.mu0);
  out.noiseZ = config.noise === 'full' ? toRows(params.noiseZ, R, R, false) : Array.from(params.noiseZ);
  out.noiseZ0 = config.noise === 'full' ? toRows(params.noiseZ0, R, R, false) : Array.from(params.noiseZ0);
  if (params.B.length) out.B = toRows(params.B, D, R, true); // [R][D]
  out.b = Array.from(params.b);
  if (config.obs === 'gauss') out.logVarX = Array.from(params.logVarX);
  if (params.Bv.length) out.Bv = toRows(params.Bv, D, DU, true); // [DU][D]
  if (params.Bo.length) out.Bo = Array.from(params.Bo); // one-to-one gains [N]
  const file: ModelFile = { format: MODEL_FORMAT, version: MODEL_VERSION, config, params: out, normalisation, training };
  if (config.encoder) {
    if (!encoder) throw new Error('serializeModel: the model has an encoder (config.encoder) but no encoder parameters were given');
    file.encoderParams = serializeEncoder(config, encoder);
  }
  return file;
}

/** Parse and validate a model file; every problem names the file and field. */
export function parseModel(
  text: string,
  source = 'model file',
): { config: ModelConfig; params: HostParams; normalisation: Normalisation | null; training: TrainingRecord | null; encoder: EncoderHostParams | null } {
  let obj: ModelFile;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (!obj || typeof obj !== 'object' || obj.format !== MODEL_FORMAT) {
    throw new Error(`${source}: not a lowrank-smc model file (field "format" should be "${MODEL_FORMAT}")`);
  }
  if (!READABLE_MODEL_VERSIONS.includes(obj.version)) {
    const readable = READABLE_MODEL_VERSIONS.join(', ');
    throw new Error(`${source}: model file version ${obj.version} is not supported (this lowrank-smc reads versions ${readable}); refit or convert the model`);
  }
  const config: ModelConfig = { ...DEFAULT_CONFIG, ...obj.config } as ModelConfig;
  try {
    validateConfig(config);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  const shapes = paramShapes(config);
  const params = {} as HostParams;
  const read = (name: ParamName, rows: number, cols: number, transposed: boolean): Float32Array => {
    const v = obj.params?.[name];
    const size = rows * cols;
    if (size === 0) return new Float32Array(0);
    if (v === undefined) throw new Error(`${source}: params.${name} is missing`);
    // matrices are stored as arrays of rows (n, B, Bv transposed), vectors as flat arrays: check the
    // structure, not only the count (a short row and a long one, or 4 rows of 3 for 6 of 2, must not pass)
    const matrix = shapes[name].length === 2;
    const [sr, sc] = transposed ? [cols, rows] : [rows, cols];
    const stored = matrix ? `[${sr}][${sc}]` : `[${size}]`;
    if (!Array.isArray(v)) throw new Error(`${source}: params.${name} is not an array (expected ${stored})`);
    if (matrix) {
      if (v.length !== sr) throw new Error(`${source}: params.${name} has ${v.length} rows, expected ${stored}`);
      const badRow = v.findIndex((row) => !Array.isArray(row) || row.length !== sc);
      if (badRow >= 0) {
        const row = v[badRow] as unknown;
        throw new Error(
          `${source}: params.${name}[${badRow}] ${Array.isArray(row) ? `has ${row.length} values` : 'is not an array'}, expected ${sc} ` +
            `(${name} is ${stored})`,
        );
      }
    } else if (v.length !== size) {
      throw new Error(`${source}: params.${name} has ${v.length} values, expected ${stored}`);
    }
    const flat = (v as (number | number[])[]).flat() as number[];
    // finite as float32 too: 1e39 is a finite JSON number that becomes Infinity in a Float32Array
    const bad = flat.findIndex((x) => typeof x !== 'number' || !Number.isFinite(Math.fround(x)));
    if (bad >= 0) {
      const where = matrix ? `[${Math.floor(bad / sc)}][${bad % sc}]` : `[${bad}]`;
      const x = flat[bad];
      const what = typeof x === 'number' ? `${x}, beyond the float32 range` : JSON.stringify(x);
      throw new Error(`${source}: params.${name}${where} is ${what}, not a finite number`);
    }
    if (!transposed) return Float32Array.from(flat);
    // stored [cols][rows] → [rows][cols]
    const out = new Float32Array(size);
    for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) out[i * cols + j] = flat[j * rows + i];
    return out;
  };
  for (const name of PARAM_NAMES) {
    const s = shapes[name];
    const rows = s[0];
    const cols = s.length > 1 ? s[1] : 1;
    params[name] = read(name, rows, cols, name === 'n' || name === 'B' || name === 'Bv');
  }
  const norm = obj.normalisation ?? null;
  if (norm) {
    if (typeof norm !== 'object') throw new Error(`${source}: normalisation must be an object with fields mean and std (or null)`);
    for (const field of ['mean', 'std'] as const) {
      const a = norm[field] as unknown;
      if (!Array.isArray(a)) throw new Error(`${source}: normalisation.${field} must be an array of ${config.obsDim} numbers (one per channel)`);
      if (a.length !== config.obsDim) {
        throw new Error(
          `${source}: normalisation.${field} has ${a.length} values, the model has ${config.obsDim} channels; normalisation must hold ` +
            `${config.obsDim} means and stds`,
        );
      }
      const bad = a.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x) || (field === 'std' && !(x > 0)));
      if (bad >= 0) {
        throw new Error(
          `${source}: normalisation.${field}[${bad}] is ${JSON.stringify(a[bad])}, expected ` + `${field === 'std' ? 'a positive' : 'a finite'} number`,
        );
      }
    }
  }
  const encoder = config.encoder ? parseEncoder(obj, config, source) : null;
  return { config, params, normalisation: norm, training: obj.training ?? null, encoder };
}
