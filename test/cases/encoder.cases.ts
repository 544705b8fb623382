// The CNN encoder (src/models/encoder.ts): the reference's parameter counts, PyTorch's default
// initialisation with the log-variance shift, the whole forward against the float64 reference and its
// parameter gradients against finite differences (causal GELU with a log-variance head, acausal leaky
// ReLU with a constant log-variance, windowed reflect), and encoder model files (version 3; older
// files still load).
import { gradCheck } from '../../src/autodiff/gradcheck.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { DEFAULT_CONFIG, initialParams, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import {
  CnnEncoder,
  DEFAULT_ENCODER,
  encode,
  encodeRef,
  encoderOutputSteps,
  encoderParamShapes,
  encoderParameterCount,
  encoderReceptiveField,
  initialEncoderParams,
  type EncoderConfig,
} from '../../src/models/encoder.js';
import { MODEL_VERSION, parseModel, serializeModel } from '../../src/models/model-file.js';
import { mulberry32 } from '../../src/util/random.js';
import type { GpuCase } from './types.js';

const enc = (over: Partial<EncoderConfig> & Pick<EncoderConfig, 'kernels' | 'channels' | 'inChannels'>): EncoderConfig => ({ ...DEFAULT_ENCODER, ...over });

function expectThrows(what: string, f: () => unknown, pattern: RegExp): void {
  let message = '';
  try {
    f();
  } catch (e) {
    message = (e as Error).message;
  }
  if (!pattern.test(message)) throw new Error(`${what}: expected an error matching ${pattern}, got "${message}"`);
}

/** Encoder settings for the forward / gradient checks: each placement, both activations, both variance kinds. */
const VARIANTS: { label: string; e: EncoderConfig; T: number; steps?: number }[] = [
  { label: 'causal zeros GELU, log-variance head', e: enc({ kernels: [4, 3, 2], channels: [5, 4], inChannels: 3 }), T: 10 },
  {
    label: 'acausal circular leaky ReLU, constant log-variance, first 8 of 10 steps',
    e: enc({ kernels: [3, 2, 1], channels: [4, 3], inChannels: 3, placement: 'acausal', padMode: 'circular', activation: 'leaky_relu', constantVar: true }),
    T: 10,
    steps: 8,
  },
  {
    label: 'windowed reflect GELU (odd kernels lose a step each)',
    e: enc({ kernels: [5, 3], channels: [4], inChannels: 2, placement: 'windowed', padMode: 'reflect' }),
    T: 11,
  },
];

const R = 2;
const B = 2;
const D = 4; // data channels; the encoder reads the first inChannels

const variantCases: GpuCase[] = VARIANTS.map(({ label, e, T, steps }, vi) => ({
  name: `encoder ${label}: mean and log-variance match the float64 reference; parameter gradients match finite differences`,
  timeoutMs: 180_000,
  async run(engine) {
    const rand = mulberry32(100 + vi);
    const y = Float64Array.from({ length: B * T * D }, () => Math.floor(rand() * 4)); // spike counts
    const host = initialEncoderParams(e, R, 7 + vi);
    const names = [...encoderParamShapes(e, R).keys()];
    const shapes = [...encoderParamShapes(e, R).values()];
    const outSteps = encoderOutputSteps(e, steps ?? T);
    for (const which of ['mean', 'logVar'] as const) {
      await gradCheck(engine, {
        name: `encoder ${label} ${which}`,
        inputs: [{ data: y, shape: [B, T, D], differentiable: false }, ...names.map((n, i) => ({ data: host[n], shape: shapes[i] }))],
        gpu: (_e, [yt, ...ps]) => {
          const params = Object.fromEntries(names.map((n, i) => [n, ps[i]]));
          const out = encode(e, params, yt, { steps });
          if (out.mean.shape.join() !== [B, outSteps, R].join()) throw new Error(`mean shape [${out.mean.shape}], expected [${B}, ${outSteps}, ${R}]`);
          return out[which];
        },
        reference: ([yv, ...ps]) => encodeRef(e, Object.fromEntries(names.map((n, i) => [n, ps[i]])), R, yv, [B, T, D], { steps })[which],
        atol: 1e-3,
        rtol: 1e-3,
        // float64 differences with a small step: a larger one lets some of the leaky ReLU's inputs cross its kink
        eps: 1e-6,
      });
    }
  },
}));

export const cases: GpuCase[] = [
  {
    name: 'encoder parameter counts match the reference (Poisson student 99,204; hc2 247,174); receptive field and output steps; bad configs are refused',
    async run() {
      // §1.9: Poisson student dx 40, R 2, [21, 11, 1], ch [64, 64]; hc2 dx 21, R 3, [150, 11, 1], ch [64, 64]
      const student = encoderParameterCount(enc({ kernels: [21, 11, 1], channels: [64, 64], inChannels: 40 }), 2);
      const hc2 = encoderParameterCount(enc({ kernels: [150, 11, 1], channels: [64, 64], inChannels: 21 }), 3);
      if (student !== 99_204 || hc2 !== 247_174) throw new Error(`parameter counts ${student}, ${hc2}`);
      // a constant log-variance replaces the head's R·c·k + R values by R
      const cv = encoderParameterCount(enc({ kernels: [21, 11, 1], channels: [64, 64], inChannels: 40, constantVar: true }), 2);
      if (cv !== 99_204 - (2 * 64 + 2) + 2) throw new Error(`constant variance count ${cv}`);
      if (encoderReceptiveField({ kernels: [150, 11, 1] }) !== 160) throw new Error('receptive field of [150, 11, 1]');
      if (encoderOutputSteps({ kernels: [21, 11, 1], placement: 'windowed' }, 100) !== 97) throw new Error('windowed [21, 11, 1] over 100 steps');
      if (encoderOutputSteps({ kernels: [14, 4, 2], placement: 'windowed' }, 35) !== 35) throw new Error('windowed even kernels keep the length');
      if (encoderOutputSteps({ kernels: [21, 11, 1], placement: 'causal' }, 100) !== 100) throw new Error('causal keeps the length');
      const ok = enc({ kernels: [4, 2], channels: [3], inChannels: 2 });
      expectThrows('one kernel', () => initialEncoderParams({ ...ok, kernels: [4], channels: [] }, 2, 1), /encoder.kernels needs at least two kernel lengths/);
      expectThrows('channels', () => initialEncoderParams({ ...ok, channels: [3, 3] }, 2, 1), /2 kernels need 1 hidden channel counts/);
      expectThrows('activation', () => initialEncoderParams({ ...ok, activation: 'relu' as never }, 2, 1), /activation "relu" is not one of gelu, leaky_relu/);
      expectThrows('init scale', () => initialEncoderParams({ ...ok, initScale: 0 }, 2, 1), /initScale must be a positive number/);
      const model: ModelConfig = {
        ...DEFAULT_CONFIG,
        rank: 2,
        units: 8,
        obsDim: 3,
        obs: 'poisson',
        obsNonlinearity: 'softplus',
        noise: 'diag',
        encoder: { ...ok, inChannels: 4 },
      } as ModelConfig;
      expectThrows('in channels', () => initialParams(model, 1), /encoder.inChannels \(4\) is larger than the model's 3 observed channels/);
    },
  },
  {
    name: 'encoder initialisation is PyTorch Conv1d default: U(±1/√fan_in) for weights and biases, log-variance bias shifted by 2 log(initScale)',
    async run() {
      const e = enc({ kernels: [21, 11, 1], channels: [64, 64], inChannels: 40, initScale: 0.05 });
      const p = initialEncoderParams(e, 3, 11);
      for (const [name, shape] of encoderParamShapes(e, 3)) {
        const w = shape.length === 3 ? shape : encoderParamShapes(e, 3).get(name.replace(/bias$/, 'weight'))!;
        const bound = 1 / Math.sqrt(w[1] * w[2]);
        const shift = name === 'logVar.bias' ? 2 * Math.log(0.05) : 0;
        const v = Array.from(p[name], (x) => x - shift);
        if (v.some((x) => Math.abs(x) > bound * (1 + 1e-6))) throw new Error(`${name}: values beyond ±${bound}`);
        if (v.length >= 1000) {
          // uniform on ±bound: mean 0 (sd bound/√(3n)), variance bound²/3
          const n = v.length;
          const mean = v.reduce((a, b) => a + b, 0) / n;
          const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
          if (Math.abs(mean) > (4 * bound) / Math.sqrt(3 * n)) throw new Error(`${name}: mean ${mean}`);
          if (Math.abs(variance / ((bound * bound) / 3) - 1) > 0.1) throw new Error(`${name}: variance ${variance}, expected ${(bound * bound) / 3}`);
        }
      }
      const cv = initialEncoderParams({ ...e, constantVar: true }, 3, 11);
      if (!cv.logVar.every((x) => Math.abs(x - 2 * Math.log(0.05)) < 1e-6)) throw new Error(`constant log-variance starts at [${cv.logVar}]`);
      // same seed, same parameters; another seed, others
      const again = initialEncoderParams(e, 3, 11);
      const other = initialEncoderParams(e, 3, 12);
      if (again['hidden0.weight'].some((x, i) => x !== p['hidden0.weight'][i])) throw new Error('initialisation is not reproducible');
      if (other['hidden0.weight'].every((x, i) => x === p['hidden0.weight'][i])) throw new Error('the seed does not change the initialisation');
    },
  },
  ...variantCases,
  {
    name: 'CnnEncoder forward without a tape frees its intermediates and gives the reference values on a data window with extra channels',
    async run(engine) {
      const e = enc({ kernels: [6, 3, 1], channels: [8, 6], inChannels: 3, padMode: 'replicate' });
      const model = CnnEncoder.create(engine, e, R, 5);
      const T = 30;
      const rand = mulberry32(9);
      const y = Float32Array.from({ length: B * T * D }, () => Math.floor(rand() * 3));
      const yt = Tensor.fromArray(engine, y, [B, T, D]);
      const before = engine.pool.stats().buffersInUse;
      const out = model.forward(yt);
      const mean = await out.mean.readF32();
      const logVar = await out.logVar.readF32();
      out.mean.dispose();
      out.logVar.dispose();
      const after = engine.pool.stats().buffersInUse;
      if (after !== before) throw new Error(`forward left ${after - before} buffers behind`);
      const ref = encodeRef(e, await model.hostParams(), R, y, [B, T, D]);
      for (const [name, got, want] of [
        ['mean', mean, ref.mean],
        ['logVar', logVar, ref.logVar],
      ] as const) {
        for (let i = 0; i < want.length; i++)
          if (!(Math.abs(got[i] - want[i]) <= 1e-4 + 1e-4 * Math.abs(want[i]))) throw new Error(`${name}[${i}] = ${got[i]}, expected ${want[i]}`);
      }
      yt.dispose();
      model.dispose();
    },
  },
  {
    name: 'encoder model files: version-3 round trip of config and parameters; version-2 files load without an encoder; malformed encoder parameters are refused',
    async run() {
      const e = enc({
        kernels: [5, 3, 2],
        channels: [4, 3],
        inChannels: 3,
        placement: 'acausal',
        padMode: 'reflect',
        activation: 'leaky_relu',
        initScale: 0.2,
      });
      const config: ModelConfig = {
        ...DEFAULT_CONFIG,
        rank: 2,
        units: 6,
        obsDim: 4,
        obs: 'poisson',
        obsNonlinearity: 'softplus',
        noise: 'diag',
        encoder: e,
      } as ModelConfig;
      const params = initialParams(config, 2);
      const encoder = initialEncoderParams(e, 2, 3);
      encoder['mean.bias'][0] = Math.fround(1 / 3);
      const text = JSON.stringify(serializeModel(config, params, null, null, encoder));
      const obj = JSON.parse(text);
      if (obj.version !== MODEL_VERSION || MODEL_VERSION !== 3) throw new Error(`written as version ${obj.version}`);
      if (
        obj.encoderParams['hidden0.weight'].length !== 4 ||
        obj.encoderParams['hidden0.weight'][0].length !== 3 ||
        obj.encoderParams['hidden0.weight'][0][0].length !== 5
      ) {
        throw new Error('conv weights are not stored as [out][in][k]');
      }
      const back = parseModel(text, 'enc.json');
      if (JSON.stringify(back.config.encoder) !== JSON.stringify(e)) throw new Error(`encoder config after the trip: ${JSON.stringify(back.config.encoder)}`);
      for (const [name, v] of Object.entries(encoder)) {
        const got = back.encoder?.[name];
        if (!got || got.length !== v.length || got.some((x, i) => x !== v[i])) throw new Error(`encoder parameter ${name} changed in the round trip`);
      }
      expectThrows(
        'no encoder parameters given',
        () => serializeModel(config, params, null, null),
        /has an encoder \(config.encoder\) but no encoder parameters/,
      );
      // a version-2 file (what the previous release wrote): no encoder
      const plain: ModelConfig = { ...config };
      delete plain.encoder;
      const v2 = { ...serializeModel(plain, params, null, null), version: 2 };
      const old = parseModel(JSON.stringify(v2), 'v2.json');
      if (old.encoder !== null || old.config.encoder !== undefined) throw new Error('version-2 file read with an encoder');
      // malformed encoder parameters name the field
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the cases corrupt arbitrary fields of the file
      const broken = (f: (p: Record<string, any>) => void) => {
        const o = JSON.parse(text);
        f(o.encoderParams);
        return () => parseModel(JSON.stringify(o), 'enc.json');
      };
      expectThrows(
        'missing',
        broken((p) => delete p['logVar.bias']),
        /enc.json: encoderParams\["logVar.bias"\] is missing/,
      );
      expectThrows(
        'short row',
        broken((p) => p['hidden1.weight'][2][1].pop()),
        /enc.json: encoderParams\["hidden1.weight"\]\[2\]\[1\] has 2 entries, expected 3 \(hidden1.weight is \[3\]\[4\]\[3\]\)/,
      );
      expectThrows(
        'not a number',
        broken((p) => (p['mean.weight'][1][0][1] = 'x')),
        /encoderParams\["mean.weight"\]\[1\]\[0\]\[1\] is "x", not a finite float32 number/,
      );
      const noParams = JSON.parse(text);
      delete noParams.encoderParams;
      expectThrows('no encoderParams', () => parseModel(JSON.stringify(noParams), 'enc.json'), /enc.json: config.encoder is set but encoderParams is missing/);
    },
  },
];
