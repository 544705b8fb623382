// The one-to-one readout from the rates (readoutFrom 'rates'): η_i = B_o,i φ(x_i; h_i) + b_i with
// x = m z + Wu v_t, the transition's nonlinearity. The kernels' RATES variant (fused filter forward and
// backward, step path) against the float64 reference; objective gradients w.r.t. m, h, Wu, B_o, b by
// finite differences; generation means; the optimal proposal refused by name; the fit CLI.
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { generate } from '../../src/analysis/generate.js';
import type { Engine } from '../../src/gpu/engine.js';
import { seedToKey } from '../../src/gpu/rng.js';
import { defaultProposal } from '../../src/inference/filter.js';
import { psiRef } from '../../src/inference/reference-filter.js';
import { splitPaths } from '../../src/inference/smc-op.js';
import { objective } from '../../src/inference/objective.js';
import { DEFAULT_CONFIG, LowRankRNN, initialParams, readoutReadsInputs, readsRates, validateConfig } from '../../src/models/lowrank-rnn.js';
import type { HostParams, ModelConfig } from '../../src/models/lowrank-rnn.js';
import { parseModel } from '../../src/models/model-file.js';
import { objectiveRef, toHost64 } from '../oracles/reference-objective.js';
import { phi } from '../../src/ops/nonlin.js';
import { objectiveGradientMatches } from './fit.cases.js';
import type { GpuCase } from './types.js';

const N = 6;
const base: ModelConfig = {
  ...DEFAULT_CONFIG,
  rank: 2,
  units: N,
  obsDim: N,
  inputDim: 0,
  nonlinearity: 'tanh',
  observation: 'one-to-one',
  readoutFrom: 'rates',
  initNoiseX: 0.4,
  initNoiseZ: 0.3,
};

function expect(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function expectNear(a: number, b: number, rtol: number, what: string): void {
  if (!(Math.abs(a - b) <= rtol * Math.max(1, Math.abs(b)))) throw new Error(`${what}: ${a}, expected ${b}`);
}

async function expectThrows(f: () => unknown, pattern: RegExp, what: string): Promise<void> {
  let message = '';
  try {
    await f();
  } catch (err) {
    message = (err as Error).message;
  }
  if (!pattern.test(message)) throw new Error(`${what}: expected ${pattern}, got "${message}"`);
}

/** Initial parameters with gains, bias and thresholds moved off their initial values (so that all matter). */
function hostFor(config: ModelConfig, seed: number): HostParams {
  const host = initialParams(config, seed);
  const rand = mulberry32(seed + 100);
  host.Bo.forEach((_, i) => (host.Bo[i] = 0.6 + 0.8 * rand()));
  host.b.forEach((_, i) => (host.b[i] = (config.obs === 'poisson' ? 0.5 : 0) + 0.4 * (rand() - 0.5)));
  host.h.forEach((_, i) => (host.h[i] = 0.4 * (rand() - 0.5)));
  host.m.forEach((v, i) => (host.m[i] = 2 * v));
  return host;
}

/**
 * The objective's loss on the fused or the step path equals the float64 reference (same noise, the GPU's
 * ancestors and ESS decisions replayed); returns the per-trial log-likelihoods.
 */
async function matchesReference(engine: Engine, config: ModelConfig, path: 'fused' | 'step', seed: number): Promise<Float32Array> {
  validateConfig(config);
  const B = 2,
    T = 25,
    K = 16;
  const host = hostFor(config, seed);
  const rand = mulberry32(seed);
  const y = Float32Array.from({ length: B * T * N }, () => (config.obs === 'poisson' ? Math.floor(3 * rand()) : 2 * rand() - 1));
  const u = Float32Array.from({ length: B * T * config.inputDim }, () => 2 * rand() - 1);
  const model = new LowRankRNN(engine, config, host);
  const yt = Tensor.fromArray(engine, y, [B, T, N]);
  const ut = config.inputDim > 0 ? Tensor.fromArray(engine, u, [B, T, config.inputDim]) : null;
  const what = `${config.obs}/${config.obsNonlinearity}, DU = ${config.inputDim}, ${path} path`;
  const tape = Tape.begin(engine);
  try {
    const cfg = { proposal: 'bootstrap' as const, resampling: 'systematic' as const, B, T, K, key: seedToKey(seed), iter: 1 };
    const { loss, out } = objective(model, yt, ut, cfg, path);
    tape.end();
    const lossGpu = await loss.item();
    const anc = (await out.anc.read()) as Uint32Array;
    const resampled = splitPaths(await out.paths.readF32(), B, T, K, config.rank).resampled;
    const ref = objectiveRef({ config, ...cfg }, toHost64(config, host), y, u, anc, resampled);
    expect(Number.isFinite(lossGpu), `${what}: loss ${lossGpu}`);
    if (Math.abs(lossGpu - ref) > 1e-4 * Math.max(1, Math.abs(ref))) throw new Error(`${what}: loss ${lossGpu} differs from the float64 reference ${ref}`);
    // the readout matters: the same model reading the currents gives another likelihood
    const currents = { ...config, readoutFrom: 'currents' as const };
    const refCurrents = objectiveRef({ config: currents, ...cfg }, toHost64(currents, host), y, u, anc, resampled);
    expect(Math.abs(refCurrents - ref) > 1e-3, `${what}: the rates readout gives the currents readout's objective ${ref}`);
    return await out.ll.readF32();
  } finally {
    tape.dispose();
    yt.dispose();
    ut?.dispose();
    model.dispose();
  }
}

const gauss = base;
const poisson: ModelConfig = { ...base, obs: 'poisson', obsNonlinearity: 'softplus' };

export const cases: GpuCase[] = [
  {
    name: 'rates readout: fused and step-path filters match the float64 reference (Gaussian identity, Poisson softplus; with and without inputs)',
    timeoutMs: 180_000,
    async run(e) {
      const configs = [
        [gauss, 51],
        [{ ...gauss, inputDim: 2 }, 52],
        [poisson, 53],
        [{ ...poisson, inputDim: 1, nonlinearity: 'relu' }, 54],
      ] as const;
      for (const [config, seed] of configs) {
        const fused = await matchesReference(e, config, 'fused', seed);
        const step = await matchesReference(e, config, 'step', seed);
        // same counters: the two paths agree up to float32 rounding (and the rare near-tie resampling flip)
        for (let b = 0; b < fused.length; b++) {
          expectNear(step[b], fused[b], 0.05, `${config.obs}, DU = ${config.inputDim}: step vs fused log-likelihood, trial ${b}`);
        }
      }
    },
  },
  {
    name:
      'rates readout: objective gradient w.r.t. m, h, Wu, B_o, b (and the rest) matches finite differences ' +
      '(Gaussian identity with inputs, Poisson softplus)',
    timeoutMs: 180_000,
    async run(e) {
      await objectiveGradientMatches(e, { ...gauss, units: 4, obsDim: 4, inputDim: 2 }, 'bootstrap', 61);
      await objectiveGradientMatches(e, { ...poisson, units: 4, obsDim: 4, noise: 'diag' }, 'bootstrap', 62);
    },
  },
  {
    name: 'rates readout: gradient with low-pass inputs (their gradient reaches the decay through the readout) and a Gaussian softplus link',
    timeoutMs: 180_000,
    async run(e) {
      const config: ModelConfig = { ...gauss, units: 4, obsDim: 4, inputDim: 1, inputFilter: 'lowpass', obsNonlinearity: 'softplus', noise: 'scalar' };
      await objectiveGradientMatches(e, config, 'bootstrap', 63);
    },
  },
  {
    name: 'rates readout: generation means are ψ(B_o ⊙ φ(m z + Wu u; h) + b) (Gaussian identity with inputs; Poisson softplus)',
    async run(engine) {
      for (const config of [{ ...gauss, inputDim: 2 }, poisson]) {
        const host = hostFor(config, 9);
        const S = 2,
          T = 30,
          R = config.rank,
          DU = config.inputDim;
        const rand = mulberry32(10);
        const u = DU > 0 ? Float32Array.from({ length: S * T * DU }, () => 2 * rand() - 1) : undefined;
        const model = new LowRankRNN(engine, config, host);
        const g = await generate(model, { steps: T, sequences: S, inputs: u, seed: 4, burnIn: 5 });
        model.dispose();
        for (let st = 0; st < S * T; st++) {
          for (let i = 0; i < N; i++) {
            let x = 0;
            for (let r = 0; r < R; r++) x += host.m[i * R + r] * g.z[st * R + r];
            for (let j = 0; j < DU; j++) x += host.wu[i * DU + j] * u![st * DU + j];
            const eta = host.Bo[i] * phi(config.nonlinearity, x, host.h[i]) + host.b[i];
            expectNear(g.mean[st * N + i], psiRef(config.obsNonlinearity, eta), 1e-4, `${config.obs}: mean [${st}, ${i}]`);
            if (config.obs === 'poisson') expect(Number.isInteger(g.sample[st * N + i]) && g.sample[st * N + i] >= 0, `Poisson sample ${g.sample[st * N + i]}`);
          }
        }
      }
    },
  },
  {
    name: 'rates readout: the optimal proposal is refused by name (model, filter, reference), the default proposal is bootstrap, config checks',
    async run(engine) {
      expect(readsRates(gauss) && !readoutReadsInputs({ ...gauss, inputDim: 2 }), 'readsRates / readoutReadsInputs');
      const affine: ModelConfig = { ...gauss, observation: 'affine', obsDim: 3 };
      await expectThrows(() => validateConfig(affine), /readoutFrom "rates" is an option of the one-to-one/, 'affine + rates');
      const model = new LowRankRNN(engine, gauss, hostFor(gauss, 3));
      try {
        expect(defaultProposal(model) === 'bootstrap', `default proposal ${defaultProposal(model)}`);
        expect(model.layout.rates && model.layout.sizes.Bo === N, 'layout: Bo block');
        const B = 1,
          T = 4;
        const y = Tensor.fromArray(engine, new Float32Array(B * T * N), [B, T, N]);
        const cfg = { proposal: 'optimal' as const, resampling: 'systematic' as const, B, T, K: 4, key: seedToKey(1), iter: 0 };
        await expectThrows(() => objective(model, y, null, cfg), /optimal proposal .*readoutFrom 'rates'.*bootstrap/, 'objective with the optimal proposal');
        y.dispose();
        const spec = { config: gauss, ...cfg };
        const p64 = toHost64(gauss, hostFor(gauss, 3));
        await expectThrows(() => objectiveRef(spec, p64, new Float32Array(B * T * N), []), /readoutFrom 'rates' needs the bootstrap proposal/, 'objectiveRef');
      } finally {
        model.dispose();
      }
    },
  },
  {
    name: 'fit CLI --observation one-to-one --readout-from rates runs (bootstrap by default), writes a model generate reads; --proposal optimal is refused',
    browser: false,
    timeoutMs: 120_000,
    async run() {
      const { mkdtemp, readFile, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { saveNpy, loadArray } = await import('../../src/io/files.js');
      const cliModule = (name: string) => import(/* @vite-ignore */ `../../src/cli/${name}.js`) as Promise<typeof import('../../src/cli/fit.js')>;
      const [fitCli, generateCli] = [await cliModule('fit'), await cliModule('generate')];
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-rates-'));
      const D = 4,
        T = 20;
      const rand = mulberry32(12);
      const y = Float32Array.from({ length: 2 * T * D }, (_, i) => Math.sin(0.3 * Math.floor(i / D) + (i % D)) + 0.2 * (rand() - 0.5));
      const data = join(dir, 'y.npy');
      const modelPath = join(dir, 'model.json');
      await saveNpy(data, y, [2, T, D]);
      try {
        const common = [
          '--data',
          data,
          '--layout',
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
          'tanh',
          '--observation',
          'one-to-one',
          '--readout-from',
          'rates',
          '--out',
          modelPath,
          '--json',
        ];
        let message = '';
        await fitCli.run([...common, '--proposal', 'optimal']).catch((err: Error) => (message = err.message));
        expect(/--proposal optimal .*--readout-from rates .*--proposal bootstrap/.test(message), `--proposal optimal with rates: "${message}"`);
        if ((await fitCli.run(common)) !== 0) throw new Error('fit failed');
        const text = await readFile(modelPath, 'utf8');
        const file = parseModel(text);
        const c = file.config;
        expect(c.observation === 'one-to-one' && c.readoutFrom === 'rates' && file.params.Bo.length === D, `model file: ${JSON.stringify(c)}`);
        expect((JSON.parse(text).training?.proposal ?? 'bootstrap') === 'bootstrap', `trained with ${JSON.parse(text).training?.proposal}`);
        expect(
          file.params.Bo.some((v) => v !== 1),
          'the trained gains did not move',
        );
        const gen = join(dir, 'gen.npy');
        await generateCli.run(['--model', modelPath, '--steps', '15', '--trials', '2', '--out', gen]);
        const g = await loadArray(gen);
        if (g.shape.join() !== '2,15,4' || !Array.from(g.data).every(Number.isFinite)) throw new Error(`generated ${g.shape}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
];
