// The one-to-one observation model (channel i reads unit i's current, η = B_o ⊙ (m z + Wu v) + b): the
// filter equals that of the affine model with B = diag(B_o) m, Bv = diag(B_o) Wu and the float64
// reference; the objective's gradient reaches m, Wu, B_o and b; frozen gains and bias stay out of the
// optimiser; model files (version 2, and version 1 read as affine); generation; the fit CLI.
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { generate } from '../../src/analysis/generate.js';
import type { Engine } from '../../src/gpu/engine.js';
import { seedToKey } from '../../src/gpu/rng.js';
import type { Proposal } from '../../src/models/theta-layout.js';
import { splitPaths } from '../../src/inference/smc-op.js';
import { objective } from '../../src/inference/objective.js';
import { DEFAULT_CONFIG, LowRankRNN, PARAM_NAMES, initialParams, parameterCount, validateConfig } from '../../src/models/lowrank-rnn.js';
import type { HostParams, ModelConfig } from '../../src/models/lowrank-rnn.js';
import { MODEL_VERSION, parseModel, serializeModel } from '../../src/models/model-file.js';
import { objectiveRef, toHost64 } from '../oracles/reference-objective.js';
import { printedBy } from './cli-output.js';
import { objectiveGradientMatches } from './fit.cases.js';
import type { GpuCase } from './types.js';

const N = 8;
const base: ModelConfig = {
  ...DEFAULT_CONFIG,
  rank: 2,
  units: N,
  obsDim: N,
  inputDim: 0,
  nonlinearity: 'clipped_relu',
  observation: 'one-to-one',
  initNoiseX: 0.4,
  initNoiseZ: 0.2,
};

/** |a − b| ≤ rtol·max(1, |b|) (NaN fails), else throw naming `what`. */
function expectNear(a: number, b: number, rtol: number, what: string): void {
  if (!(Math.abs(a - b) <= rtol * Math.max(1, Math.abs(b)))) throw new Error(`${what}: ${a}, expected ${b}`);
}

/** Throw `what` unless `ok`. */
function expect(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return a.length === b.length && Array.from(a).every((x, i) => x === b[i]);
}

/** Initial parameters moved off the initial gains 1 and bias 0 (so that both matter). */
function hostFor(config: ModelConfig, seed: number): HostParams {
  const host = initialParams(config, seed);
  const rand = mulberry32(seed + 100);
  host.Bo.forEach((_, i) => (host.Bo[i] = 0.6 + 0.8 * rand()));
  host.b.forEach((_, i) => (host.b[i] = (config.obs === 'poisson' ? 0.5 : 0) + 0.4 * (rand() - 0.5)));
  return host;
}

/** The affine model with B = diag(B_o) m and Bv = diag(B_o) Wu, formed here by hand (not with effectiveReadout). */
function equivalentAffine(config: ModelConfig, host: HostParams): { config: ModelConfig; host: HostParams } {
  const { rank: R, units: n, inputDim: DU } = config;
  const B = new Float32Array(n * R);
  const Bv = new Float32Array(n * DU);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < R; r++) B[i * R + r] = host.Bo[i] * host.m[i * R + r];
    for (let j = 0; j < DU; j++) Bv[i * DU + j] = host.Bo[i] * host.wu[i * DU + j];
  }
  return { config: { ...config, observation: 'affine', readoutFromInputs: DU > 0 }, host: { ...host, B, Bv, Bo: new Float32Array(0) } };
}

function problem(config: ModelConfig, seed: number, B: number, T: number) {
  const rand = mulberry32(seed);
  const D = config.obsDim;
  const y = Float32Array.from({ length: B * T * D }, () => (config.obs === 'poisson' ? Math.floor(3 * rand()) : 2 * rand() - 1));
  const u = Float32Array.from({ length: B * T * config.inputDim }, () => 2 * rand() - 1);
  return { y, u };
}

/** Loss, per-trial log-likelihood sums and the resampling record of `objective` (the fused filter). */
interface RunConfig {
  proposal: Proposal;
  B: number;
  T: number;
  K: number;
  seed: number;
}

async function runObjective(engine: Engine, config: ModelConfig, host: HostParams, y: Float32Array, u: Float32Array, cfg: RunConfig) {
  const model = new LowRankRNN(engine, config, host);
  const { B, T, K } = cfg;
  const yt = Tensor.fromArray(engine, y, [B, T, config.obsDim]);
  const ut = config.inputDim > 0 ? Tensor.fromArray(engine, u, [B, T, config.inputDim]) : null;
  const tape = Tape.begin(engine);
  try {
    const { loss, out } = objective(model, yt, ut, { proposal: cfg.proposal, resampling: 'systematic', B, T, K, key: seedToKey(cfg.seed), iter: 1 });
    tape.end();
    const anc = (await out.anc.read()) as Uint32Array;
    const resampled = splitPaths(await out.paths.readF32(), B, T, K, config.rank).resampled;
    return { loss: await loss.item(), ll: await out.ll.readF32(), anc, resampled };
  } finally {
    tape.dispose();
    yt.dispose();
    ut?.dispose();
    model.dispose();
  }
}

async function matchesAffine(engine: Engine, config: ModelConfig, proposal: Proposal, seed: number): Promise<void> {
  validateConfig(config);
  const B = 2,
    T = 30,
    K = 16;
  const host = hostFor(config, seed);
  const { y, u } = problem(config, seed, B, T);
  const cfg = { proposal, B, T, K, seed };
  const mine = await runObjective(engine, config, host, y, u, cfg);
  const eq = equivalentAffine(config, host);
  const affine = await runObjective(engine, eq.config, eq.host, y, u, cfg);
  const what = `${config.obs}/${config.obsNonlinearity}, ${proposal}, DU = ${config.inputDim}${config.inputFilter === 'lowpass' ? ' lowpass' : ''}`;
  if (!Number.isFinite(mine.loss)) throw new Error(`${what}: loss ${mine.loss}`);
  expectNear(mine.loss, affine.loss, 1e-6, `${what}: one-to-one loss against the equivalent affine model's`);
  for (let b = 0; b < B; b++) expectNear(mine.ll[b], affine.ll[b], 1e-5, `${what}: trial ${b} log-likelihood against the affine model's`);
  const sameAnc = mine.anc.reduce((s, a, i) => s + (a === affine.anc[i] ? 1 : 0), 0);
  if (sameAnc < mine.anc.length) throw new Error(`${what}: ${mine.anc.length - sameAnc} ancestors differ from the equivalent affine model's`);
  // the float64 objective (reference filter) with the GPU's ancestors: one-to-one directly, and as the affine model
  const spec = { config, proposal, resampling: 'systematic' as const, B, T, K, key: seedToKey(seed), iter: 1 };
  const ref = objectiveRef(spec, toHost64(config, host), y, u, mine.anc, mine.resampled);
  const refAffine = objectiveRef({ ...spec, config: eq.config }, toHost64(eq.config, eq.host), y, u, mine.anc, mine.resampled);
  if (Math.abs(ref - refAffine) > 1e-9 * Math.max(1, Math.abs(ref))) throw new Error(`${what}: float64 objective one-to-one ${ref} vs affine ${refAffine}`);
  if (Math.abs(mine.loss - ref) > 1e-4 * Math.max(1, Math.abs(ref))) throw new Error(`${what}: loss ${mine.loss} differs from the float64 reference ${ref}`);
}

const tinyO2O: ModelConfig = { ...base, units: 4, obsDim: 4, nonlinearity: 'tanh', initNoiseX: 0.5, initNoiseZ: 0.3 };

export const cases: GpuCase[] = [
  {
    name:
      'one-to-one filter equals the affine model with B = diag(B_o) m, Bv = diag(B_o) Wu and the float64 reference ' +
      '(Gaussian: optimal and bootstrap, with and without inputs)',
    timeoutMs: 120_000,
    async run(e) {
      for (const proposal of ['optimal', 'bootstrap'] as const) {
        await matchesAffine(e, base, proposal, 31);
        await matchesAffine(e, { ...base, inputDim: 2 }, proposal, 32);
      }
      await matchesAffine(e, { ...base, inputDim: 2, inputFilter: 'lowpass' }, 'optimal', 33);
    },
  },
  {
    name: 'one-to-one filter equals the equivalent affine model and the float64 reference (Poisson softplus, bootstrap, with and without inputs)',
    timeoutMs: 120_000,
    async run(e) {
      const poisson: ModelConfig = { ...base, obs: 'poisson', obsNonlinearity: 'softplus' };
      await matchesAffine(e, poisson, 'bootstrap', 34);
      await matchesAffine(e, { ...poisson, inputDim: 1 }, 'bootstrap', 35);
    },
  },
  {
    name: 'one-to-one objective gradient w.r.t. m, Wu, B_o, b (optimal proposal, inputs) matches finite differences',
    run: (e) => objectiveGradientMatches(e, { ...tinyO2O, inputDim: 2 }, 'optimal', 41),
    timeoutMs: 120_000,
  },
  {
    name: 'one-to-one objective gradient (bootstrap, Gaussian softplus link, inputs; Poisson softplus) matches finite differences',
    async run(e) {
      await objectiveGradientMatches(e, { ...tinyO2O, inputDim: 1, obsNonlinearity: 'softplus', noise: 'diag' }, 'bootstrap', 42);
      await objectiveGradientMatches(e, { ...tinyO2O, obs: 'poisson', obsNonlinearity: 'softplus', noise: 'scalar' }, 'bootstrap', 43);
    },
    timeoutMs: 120_000,
  },
  {
    name: 'one-to-one with frozen gains and bias: not trained, no gradient, the rest matches finite differences',
    async run(e) {
      const config: ModelConfig = { ...tinyO2O, inputDim: 1, trainObsGain: false, trainObsBias: false };
      const model = LowRankRNN.create(e, config, 1);
      const names = model.trainable().map((t) => t.name);
      if (names.includes('Bo') || names.includes('b') || !names.includes('m') || !names.includes('wu')) throw new Error(`trainable: ${names.join(', ')}`);
      const host = await model.hostParams();
      const initial = host.Bo.length === 4 && host.Bo.every((v) => v === 1) && host.b.every((v) => v === 0);
      expect(initial, 'frozen gains / bias are not read back at their initial values');
      model.dispose();
      await objectiveGradientMatches(e, config, 'optimal', 44);
    },
    timeoutMs: 120_000,
  },
  {
    name: 'one-to-one config: obsDim must equal units, readoutFrom rates only for one-to-one, parameter counts follow the reference (129 for the SW20 student)',
    onceOnly: true, // compiles and dispatches the same kernels under GPU tuning
    async run() {
      const expectError = (c: ModelConfig, pattern: RegExp) => {
        let message = '';
        try {
          validateConfig(c);
        } catch (err) {
          message = (err as Error).message;
        }
        if (!pattern.test(message)) throw new Error(`expected ${pattern}, got "${message}"`);
      };
      expectError({ ...base, obsDim: N - 1 }, /one-to-one .*obsDim must equal units, got obsDim 7 and units 8/);
      validateConfig({ ...base, readoutFrom: 'rates' }); // implemented (test/cases/one-to-one-rates.cases.ts); affine models refuse it
      expectError({ ...base, observation: 'affine', obsDim: 3, readoutFrom: 'rates' }, /readoutFrom "rates" is an option of the one-to-one observation model/);
      expectError({ ...base, inputDim: 1, readoutFromInputs: true }, /readoutFromInputs is an affine option/);
      // reference §1.9: N = 20, R = 2, dx = 20, B_o and b frozen, R_x trained → 129
      const sw20: ModelConfig = { ...base, units: 20, obsDim: 20, trainObsGain: false, trainObsBias: false };
      if (parameterCount(sw20) !== 129) throw new Error(`SW20 student: ${parameterCount(sw20)} parameters, the reference counts 129`);
      if (parameterCount({ ...sw20, trainObsGain: true, trainObsBias: true }) !== 169) throw new Error('trained gains and bias should add 2 × 20');
      const p = initialParams(base, 3);
      const initial = p.B.length === 0 && p.Bv.length === 0 && p.Bo.length === N && p.Bo.every((v) => v === 1) && p.b.every((v) => v === 0);
      expect(initial, 'one-to-one initial readout: B, Bv empty, B_o = 1, b = 0');
      // affine models draw the same initial parameters as before B_o existed
      const affine = initialParams({ ...base, observation: 'affine' }, 3);
      if (affine.Bo.length !== 0 || affine.B.length !== N * 2) throw new Error('affine: B [D,R] and no B_o');
      for (const k of ['m', 'n', 'h', 'wu'] as const) expect(sameValues(affine[k], p[k]), `initial ${k} depends on the observation model`);
    },
  },
  {
    name: 'one-to-one model files: current-version round trip (observation, flags, B_o); version-1 files load as affine; unknown versions are refused',
    onceOnly: true, // compiles and dispatches the same kernels under GPU tuning
    async run() {
      const config: ModelConfig = { ...base, inputDim: 2, trainObsGain: false };
      const host = hostFor(config, 5);
      const text = JSON.stringify(serializeModel(config, host, null, null));
      const obj = JSON.parse(text);
      if (obj.version !== MODEL_VERSION || MODEL_VERSION !== 3) throw new Error(`written as version ${obj.version}`);
      expect(!('B' in obj.params) && !('Bv' in obj.params) && obj.params.Bo.length === N, `one-to-one file params: ${Object.keys(obj.params).join(', ')}`);
      const file = parseModel(text);
      const c = file.config;
      const fields = c.observation === 'one-to-one' && c.readoutFrom === 'currents' && c.trainObsGain === false && c.trainObsBias === true;
      expect(fields, `config after the round trip: ${JSON.stringify(c)}`);
      for (const k of PARAM_NAMES) expect(sameValues(file.params[k], host[k]), `round trip changes ${k}`);
      // a version-1 file: what the previous release wrote for an affine model (no observation fields, no Bo)
      const affine: ModelConfig = { ...DEFAULT_CONFIG, rank: 2, units: 6, obsDim: 3, inputDim: 1, readoutFromInputs: true };
      const affineHost = initialParams(affine, 8);
      type Loose = { version: number; config: Record<string, unknown>; params: Record<string, unknown> };
      const v1 = serializeModel(affine, affineHost, null, null) as unknown as Loose;
      v1.version = 1;
      for (const k of ['observation', 'readoutFrom', 'trainObsGain', 'trainObsBias']) delete v1.config[k];
      delete v1.params.Bo;
      const old = parseModel(JSON.stringify(v1), 'v1.json');
      const asAffine = old.config.observation === 'affine' && old.config.trainObsBias === true && !!old.config.readoutFromInputs;
      expect(asAffine, `version-1 config read as ${JSON.stringify(old.config)}`);
      for (const k of PARAM_NAMES) expect(sameValues(old.params[k], affineHost[k]), `version-1 file: ${k} changed`);
      let message = '';
      try {
        parseModel(JSON.stringify({ ...v1, version: 4 }), 'v4.json');
      } catch (err) {
        message = (err as Error).message;
      }
      if (!/v4.json: model file version 4 is not supported .*reads versions 1, 2, 3/.test(message)) throw new Error(`version 4: "${message}"`);
      message = '';
      try {
        parseModel(JSON.stringify({ ...obj, config: { ...obj.config, obsDim: 3 } }), 'bad.json');
      } catch (err) {
        message = (err as Error).message;
      }
      if (!/bad.json: .*obsDim must equal units/.test(message)) throw new Error(`one-to-one file with obsDim ≠ units: "${message}"`);
    },
  },
  {
    name: 'generation from a one-to-one model: means are B_o ⊙ (m z + Wu u) + b and equal the equivalent affine model (raw and low-pass inputs)',
    onceOnly: true, // compiles and dispatches the same kernels under GPU tuning
    async run(engine) {
      for (const inputFilter of ['raw', 'lowpass'] as const) {
        const config: ModelConfig = { ...base, inputDim: 2, inputFilter };
        const host = hostFor(config, 9);
        const S = 2,
          T = 40,
          R = 2,
          DU = 2;
        const rand = mulberry32(10);
        const u = Float32Array.from({ length: S * T * DU }, () => 2 * rand() - 1);
        const model = new LowRankRNN(engine, config, host);
        const g = await generate(model, { steps: T, inputs: u, seed: 4, burnIn: 10 });
        model.dispose();
        const eq = equivalentAffine(config, host);
        const affine = new LowRankRNN(engine, eq.config, eq.host);
        const ga = await generate(affine, { steps: T, inputs: u, seed: 4, burnIn: 10 });
        affine.dispose();
        for (let i = 0; i < g.z.length; i++) expectNear(g.z[i], ga.z[i], 1e-6, `${inputFilter}: latent ${i} against the affine model's`);
        for (let i = 0; i < g.mean.length; i++) {
          expectNear(g.mean[i], ga.mean[i], 1e-5, `${inputFilter}: mean ${i} against the affine model's`);
          expectNear(g.sample[i], ga.sample[i], 1e-5, `${inputFilter}: sample ${i} against the affine model's`);
        }
        if (inputFilter !== 'raw') continue;
        for (let st = 0; st < S * T; st++) {
          for (let i = 0; i < N; i++) {
            let x = 0;
            for (let r = 0; r < R; r++) x += host.m[i * R + r] * g.z[st * R + r];
            for (let j = 0; j < DU; j++) x += host.wu[i * DU + j] * u[st * DU + j];
            const eta = host.Bo[i] * x + host.b[i];
            expectNear(g.mean[st * N + i], eta, 1e-5, `mean [${st}, ${i}]`);
          }
        }
      }
    },
  },
  {
    name: 'fit CLI --observation one-to-one (units = channels) writes a version-3 model that generate and fixed-points read; bad combinations stop early',
    onceOnly: true, // compiles and dispatches the same kernels under GPU tuning
    browser: false,
    timeoutMs: 120_000,
    async run() {
      const { mkdtemp, readFile, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { saveNpy, loadArray } = await import('../../src/io/files.js');
      const cliModule = (name: string) => import(/* @vite-ignore */ `../../src/cli/${name}.js`) as Promise<typeof import('../../src/cli/fit.js')>;
      const [fitCli, generateCli, fpCli] = [await cliModule('fit'), await cliModule('generate'), await cliModule('fixed-points')];
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-o2o-'));
      const D = 5,
        T = 30;
      const rand = mulberry32(12);
      const y = Float32Array.from({ length: 2 * T * D }, (_, i) => Math.sin(0.3 * Math.floor(i / D) + (i % D)) + 0.2 * (rand() - 0.5));
      const u = Float32Array.from({ length: 2 * T }, () => rand() - 0.5);
      const data = join(dir, 'y.npy');
      const inputs = join(dir, 'u.npy');
      const modelPath = join(dir, 'model.json');
      await saveNpy(data, y, [2, T, D]);
      await saveNpy(inputs, u, [2, T, 1]);
      try {
        const common = [
          '--data',
          data,
          '--layout',
          'trial,time,channel',
          '--inputs',
          inputs,
          '--inputs-layout',
          'trial,time,channel',
          '--rank',
          '2',
          '--particles',
          '8',
          '--batch',
          '2',
          '--window',
          '10',
          '--iters',
          '3',
          '--log-every',
          '1',
          '--nonlinearity',
          'relu',
          '--observation',
          'one-to-one',
          '--out',
          modelPath,
        ];
        const bad: [string[], RegExp][] = [
          [[...common, '--units', '7'], /obsDim must equal units, got obsDim 5 and units 7/],
          [[...common, '--readout-from', 'rates', '--proposal', 'optimal'], /--proposal optimal .*--readout-from rates .*use --proposal bootstrap/],
          [[...common, '--observation', 'diagonal'], /--observation must be one of affine, one-to-one, got "diagonal"/],
        ];
        for (const [args, pattern] of bad) {
          let message = '';
          await fitCli.run(args).catch((err: Error) => (message = err.message));
          if (!pattern.test(message)) throw new Error(`fit ${args.slice(-2).join(' ')}: expected ${pattern}, got "${message}"`);
        }
        if ((await fitCli.run([...common, '--freeze-obs-bias'])) !== 0) throw new Error('fit failed');
        const text = await readFile(modelPath, 'utf8');
        const file = parseModel(text);
        const c = file.config;
        const written = JSON.parse(text).version === 3 && c.observation === 'one-to-one' && c.units === D && !c.trainObsBias && file.params.Bo.length === D;
        expect(written, `model file: ${JSON.stringify(c)}`);
        if (file.params.b.some((v) => v !== 0)) throw new Error('a frozen bias changed during fitting');
        if (file.params.Bo.every((v) => v === 1)) throw new Error('the trained gains did not move');
        const gen = join(dir, 'gen.npy');
        await generateCli.run(['--model', modelPath, '--steps', '20', '--trials', '2', '--out', gen]);
        const g = await loadArray(gen);
        if (g.shape.join() !== '2,20,5' || !Array.from(g.data).every(Number.isFinite)) throw new Error(`generated ${g.shape}`);
        const printed = await printedBy(() => fpCli.run(['--model', modelPath, '--inputs', '0', '--json', '--cpu']));
        const fp = JSON.parse(printed[printed.length - 1]) as { count: number };
        if (!(fp.count >= 1)) throw new Error(`fixed points of the one-to-one model: ${printed.join('\n')}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
];
