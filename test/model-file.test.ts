// Model files: parseModel refuses malformed files with an error that names the file, the field and
// the problem; serializeModel → JSON → parseModel round-trips affine and one-to-one models exactly.
// loadModelFile (the CLI's loader) reports missing files and parse errors under the file's path.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadModelFile } from '../src/cli/common.js';
import type { Engine } from '../src/gpu/engine.js';
import { DEFAULT_CONFIG, PARAM_NAMES, initialParams, type ModelConfig } from '../src/models/lowrank-rnn.js';
import { MODEL_FORMAT, parseModel, serializeModel, type TrainingRecord } from '../src/models/model-file.js';

const SRC = 'models/m.json';
const affine: ModelConfig = { ...DEFAULT_CONFIG, rank: 2, units: 5, obsDim: 3, inputDim: 2, nonlinearity: 'tanh', readoutFromInputs: true } as ModelConfig;
const oneToOne: ModelConfig = {
  ...DEFAULT_CONFIG,
  rank: 2,
  units: 4,
  obsDim: 4,
  inputDim: 1,
  nonlinearity: 'clipped_relu',
  observation: 'one-to-one',
} as ModelConfig;
/** Rank 36 (the NLB configuration's): R×R noise factors and N×R loadings far beyond the old limit of 8. */
const rank36: ModelConfig = {
  ...DEFAULT_CONFIG,
  rank: 36,
  units: 40,
  obsDim: 3,
  inputDim: 0,
  nonlinearity: 'clipped_relu',
  obs: 'poisson',
  obsNonlinearity: 'softplus',
} as ModelConfig;

const training: TrainingRecord = {
  proposal: 'optimal',
  resampling: 'systematic',
  resampleThreshold: 0.5,
  particles: 16,
  batch: 2,
  window: 20,
  iterations: 4,
  totalIterations: 8,
  seed: 3,
  lr: 0.01,
  lrEnd: 0.001,
  optimizer: 'radam',
  adapter: 'test',
  history: [{ iteration: 2, loss: 1.25, llPerStep: -1.5, lr: 0.01, seconds: 0.5, gradNorm: 3.5, ess: 7.25, latentNoise: 0.125, obsNoise: 0.75 }],
  optimizerState: { kind: 'radam', steps: [4, 4], m: [[0.5, -0.25], [1e-8]], v: [[0.125, 2], [3e-12]] },
};

/** A valid affine file as a plain object, to break one field at a time. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests corrupt arbitrary fields of the file
function fileObj(config: ModelConfig = affine): any {
  return JSON.parse(JSON.stringify(serializeModel(config, initialParams(config, 1), { mean: [0.5, -1, 2], std: [1, 2, 0.5] }, training)));
}
const parse = (obj: unknown) => () => parseModel(JSON.stringify(obj), SRC);
/** parseModel of raw text (to write NaN, huge numbers, strings). */
const parseText = (text: string) => () => parseModel(text, SRC);

describe('parseModel refuses malformed files with the file, field and problem', () => {
  test('not JSON, wrong format string, unknown version', () => {
    expect(parseText('{"format": "lowrank-smc-model", "version": 2, "con')).toThrow(/^models\/m\.json: not valid JSON/);
    expect(parse({ ...fileObj(), format: 'other-model' })).toThrow(
      /^models\/m\.json: not a lowrank-smc model file \(field "format" should be "lowrank-smc-model"\)/,
    );
    const { format: _f, ...noFormat } = fileObj();
    expect(parse(noFormat)).toThrow(/models\/m\.json: not a lowrank-smc model file/);
    expect(parse({ ...fileObj(), version: 99 })).toThrow(
      /^models\/m\.json: model file version 99 is not supported \(this lowrank-smc reads versions 1, 2, 3\)/,
    );
    expect(parse({ ...fileObj(), version: '2' })).toThrow(/models\/m\.json: model file version 2 is not supported/);
    expect(parseText('null')).toThrow(/models\/m\.json: not a lowrank-smc model file/);
  });

  test('missing parameter', () => {
    for (const name of ['m', 'n', 'B', 'Bv', 'logVarX'] as const) {
      const obj = fileObj();
      delete obj.params[name];
      expect(parse(obj), name).toThrow(new RegExp(`^models/m\\.json: params\\.${name} is missing`));
    }
    const o = fileObj(oneToOne);
    delete o.params.Bo;
    expect(parse(o)).toThrow(/^models\/m\.json: params\.Bo is missing/);
  });

  test('parameter of the wrong shape: short row, wrong number of rows, flat matrix, compensating rows', () => {
    // m is [N=5][R=2]
    let obj = fileObj();
    obj.params.m[3] = [1];
    expect(parse(obj)).toThrow(/^models\/m\.json: params\.m\[3\] has 1 values, expected 2 \(m is \[5\]\[2\]\)/);
    obj = fileObj();
    obj.params.m.pop();
    expect(parse(obj)).toThrow(/^models\/m\.json: params\.m has 4 rows, expected \[5\]\[2\]/);
    // n is stored transposed, [R=2][N=5]
    obj = fileObj();
    obj.params.n.push([1, 2, 3, 4, 5]);
    expect(parse(obj)).toThrow(/^models\/m\.json: params\.n has 3 rows, expected \[2\]\[5\]/);
    // the right number of values in the wrong structure: a short row and a long one
    obj = fileObj();
    obj.params.m[0] = [1];
    obj.params.m[1] = [2, 3, 4];
    expect(parse(obj)).toThrow(/params\.m\[0\] has 1 values, expected 2/);
    // 10 values as a flat vector instead of rows
    obj = fileObj();
    obj.params.m = obj.params.m.flat();
    expect(parse(obj)).toThrow(/params\.m has 10 rows, expected \[5\]\[2\]/);
    // B stored [R=2][D=3]: given as [D][R] (the untransposed orientation) it must not pass
    obj = fileObj();
    obj.params.B = [
      [1, 2],
      [3, 4],
      [5, 6],
    ];
    expect(parse(obj)).toThrow(/params\.B has 3 rows, expected \[2\]\[3\]/);
    // vectors
    obj = fileObj();
    obj.params.h = obj.params.h.slice(1);
    expect(parse(obj)).toThrow(/^models\/m\.json: params\.h has 4 values, expected \[5\]/);
    obj = fileObj();
    obj.params.b = 1;
    expect(parse(obj)).toThrow(/params\.b is not an array \(expected \[3\]\)/);
  });

  test('NaN, Infinity, null, strings and numbers beyond float32 in parameters', () => {
    const text = JSON.stringify(fileObj());
    const h = JSON.stringify(fileObj().params.h);
    const withH = (values: string) => text.replace(`"h":${h}`, `"h":${values}`);
    expect(text).toContain(`"h":${h}`);
    // JSON has no NaN / Infinity: JSON.parse refuses the bare words
    expect(parseText(withH('[NaN,0,0,0,0]'))).toThrow(/^models\/m\.json: not valid JSON/);
    expect(parseText(withH('[0,Infinity,0,0,0]'))).toThrow(/^models\/m\.json: not valid JSON/);
    // JSON.stringify writes NaN and ±Infinity as null
    expect(parseText(withH('[0,0,null,0,0]'))).toThrow(/^models\/m\.json: params\.h\[2\] is null, not a finite number/);
    expect(parseText(withH('[0,0,0,"1.5",0]'))).toThrow(/^models\/m\.json: params\.h\[3\] is "1\.5", not a finite number/);
    // 1e400 parses to Infinity; 1e39 is a finite double but Infinity as float32
    expect(parseText(withH('[1e400,0,0,0,0]'))).toThrow(/^models\/m\.json: params\.h\[0\] is Infinity/);
    expect(parseText(withH('[0,-1e39,0,0,0]'))).toThrow(/^models\/m\.json: params\.h\[1\] is -1e\+39, beyond the float32 range, not a finite number/);
    // the largest float32 magnitude is accepted
    expect(parseModel(withH('[3.4e38,0,0,0,0]'), SRC).params.h[0]).toBe(Math.fround(3.4e38));
    // inside a matrix the message names row and column
    const obj = fileObj();
    obj.params.m[4][1] = null;
    expect(parse(obj)).toThrow(/^models\/m\.json: params\.m\[4\]\[1\] is null, not a finite number/);
  });

  test('normalisation: lengths that do not match the channels, non-positive or non-finite std, non-arrays', () => {
    const withNorm = (normalisation: unknown) => parse({ ...fileObj(), normalisation });
    expect(withNorm({ mean: [0, 0], std: [1, 1, 1] })).toThrow(/^models\/m\.json: normalisation\.mean has 2 values, the model has 3 channels/);
    expect(withNorm({ mean: [0, 0, 0], std: [1, 1, 1, 1] })).toThrow(/^models\/m\.json: normalisation\.std has 4 values, the model has 3 channels/);
    expect(withNorm({ mean: [0, 0, 0] })).toThrow(/^models\/m\.json: normalisation\.std must be an array of 3 numbers/);
    expect(withNorm({ mean: 'abc', std: [1, 1, 1] })).toThrow(/^models\/m\.json: normalisation\.mean must be an array of 3 numbers/);
    expect(withNorm({ mean: [0, 0, 0], std: [1, 0, 1] })).toThrow(/^models\/m\.json: normalisation\.std\[1\] is 0, expected a positive number/);
    expect(withNorm({ mean: [0, 0, 0], std: [1, 1, -2] })).toThrow(/^models\/m\.json: normalisation\.std\[2\] is -2, expected a positive number/);
    expect(withNorm({ mean: [0, 0, 0], std: [null, 1, 1] })).toThrow(/^models\/m\.json: normalisation\.std\[0\] is null, expected a positive number/);
    expect(withNorm({ mean: [0, null, 0], std: [1, 1, 1] })).toThrow(/^models\/m\.json: normalisation\.mean\[1\] is null, expected a finite number/);
    expect(withNorm({ mean: [0, 0, Infinity], std: [1, 1, 1] })).toThrow(/^models\/m\.json: normalisation\.mean\[2\] is null, expected a finite number/);
    // null normalisation (Poisson models, --no-zscore) is fine
    expect(parseModel(JSON.stringify({ ...fileObj(), normalisation: null }), SRC).normalisation).toBeNull();
  });
});

describe('serializeModel → JSON → parseModel round trip', () => {
  for (const [label, config] of [
    ['affine (inputs, readout from [v; z])', affine],
    ['one-to-one', oneToOne],
    ['rank 36', rank36],
  ] as const) {
    test(label, () => {
      const params = initialParams(config, 7);
      // awkward float32 values survive the trip exactly
      params.h[0] = Math.fround(1 / 3);
      params.b[1] = Math.fround(-1e-30);
      params.m[1] = Math.fround(3.4e38);
      const normalisation = {
        mean: Array.from({ length: config.obsDim }, (_, i) => 0.1 * i - 1 / 7),
        std: Array.from({ length: config.obsDim }, (_, i) => 1 + i / 3),
      };
      const text = JSON.stringify(serializeModel(config, params, normalisation, training));
      const file = JSON.parse(text);
      expect(file.format).toBe(MODEL_FORMAT);
      expect(file.version).toBe(3);
      const back = parseModel(text, SRC);
      expect(back.config).toEqual(config);
      for (const k of PARAM_NAMES) {
        expect(back.params[k], k).toBeInstanceOf(Float32Array);
        expect(Array.from(back.params[k]), k).toEqual(Array.from(params[k]));
      }
      expect(back.normalisation).toEqual(normalisation);
      expect(back.training).toEqual(training);
      // and a second trip writes the same text
      expect(JSON.stringify(serializeModel(back.config, back.params, back.normalisation, back.training))).toBe(text);
    });
  }

  test('rank: any of 1 … 64; above 64 refused naming the limit', () => {
    expect(parseModel(JSON.stringify(fileObj({ ...rank36, rank: 64 })), SRC).config.rank).toBe(64);
    const obj = fileObj({ ...rank36, rank: 64 });
    obj.config.rank = 65;
    expect(parse(obj)).toThrow(/rank must be an integer in \[1, 64\], got 65/);
  });

  test('one-to-one files hold Bo and no B / Bv', () => {
    const file = fileObj(oneToOne);
    expect(file.params.Bo).toHaveLength(4);
    expect(file.params.B).toBeUndefined();
    expect(file.params.Bv).toBeUndefined();
  });
});

describe('loadModelFile (CLI) names the path', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'model-file-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  // parsing fails before the engine is touched
  const noEngine = {} as Engine;

  test('missing file, truncated file, bad field', async () => {
    const missing = join(dir, 'nope.json');
    await expect(loadModelFile(noEngine, missing)).rejects.toThrow(`${missing}: file not found`);
    const text = JSON.stringify(fileObj());
    const cut = join(dir, 'cut.json');
    await writeFile(cut, text.slice(0, Math.floor(text.length / 2)));
    await expect(loadModelFile(noEngine, cut)).rejects.toThrow(`${cut}: not valid JSON`);
    const bad = join(dir, 'bad.json');
    const obj = fileObj();
    obj.normalisation.std[0] = 0;
    await writeFile(bad, JSON.stringify(obj));
    await expect(loadModelFile(noEngine, bad)).rejects.toThrow(`${bad}: normalisation.std[0] is 0, expected a positive number`);
  });
});
