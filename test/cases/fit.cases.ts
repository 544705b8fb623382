// The training objective end to end (parameter transforms + fused filter + constants) against its
// float64 reference, determinism and bit-for-bit resume of `fit`, divergence handling, and generation.
import { closeness } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { seedToKey } from '../../src/gpu/rng.js';
import { generate } from '../../src/analysis/generate.js';
import { fit, FIT_DEFAULTS } from '../../src/inference/trainer.js';
import { exponentialDecay } from '../../src/ops/optim.js';
import { objective } from '../../src/inference/objective.js';
import type { Proposal } from '../../src/models/theta-layout.js';
import { splitPaths } from '../../src/inference/smc-op.js';
import { DEFAULT_CONFIG, LowRankRNN, PARAM_NAMES, initialParams, parameterCount, validateConfig, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import { parseModel, serializeModel } from '../../src/models/model-file.js';
import { stepResponse } from './lowpass.cases.js';
import { objectiveRef, toHost64 } from '../oracles/reference-objective.js';
import { printedBy } from './cli-output.js';
import type { GpuCase } from './types.js';

/** `K` beyond one workgroup (e.g. 1100) takes the step path's gradient op. */
export async function objectiveGradientMatches(
  engine: Engine,
  config: ModelConfig,
  proposal: Proposal,
  seed: number,
  resampleThreshold = 1,
  K = 4,
): Promise<void> {
  const B = 2,
    T = 5;
  const rand = mulberry32(seed);
  const host = initialParams(config, seed);
  // move away from the symmetric initial point (zero mean, identity noise) so every term is exercised
  for (const k of PARAM_NAMES) host[k].forEach((v, i) => (host[k][i] = v + 0.1 * (rand() - 0.5)));
  const model = new LowRankRNN(engine, config, host);
  const D = config.obsDim;
  const DU = config.inputDim;
  const yArr = Float32Array.from({ length: B * T * D }, () => (config.obs === 'poisson' ? Math.floor(3 * rand()) : rand() * 2 - 1));
  const vArr = Float32Array.from({ length: B * T * DU }, () => rand() * 2 - 1);
  const y = Tensor.fromArray(engine, yArr, [B, T, D]);
  const v = DU > 0 ? Tensor.fromArray(engine, vArr, [B, T, DU]) : null;
  const key = seedToKey(seed);
  const cfg = { proposal, resampling: 'systematic' as const, resampleThreshold, B, T, K, key, iter: 2 };
  const tape = Tape.begin(engine);
  const { loss, out } = objective(model, y, v, cfg);
  tape.end();
  const lossGpu = await loss.item();
  const anc = (await out.anc.read()) as Uint32Array;
  // the ESS decisions, like the ancestors, are constants of the objective: replay them
  const resampled = splitPaths(await out.paths.readF32(), B, T, K, config.rank).resampled;
  const nResampled = resampled.reduce((a, f) => a + f, 0);
  if (resampleThreshold < 1 && (nResampled === 0 || nResampled === B * T))
    throw new Error(`resampled at ${nResampled} of ${B * T} steps; the case needs both kinds`);
  tape.backward(loss);
  const spec = { config, ...cfg };
  const p64 = toHost64(config, host);
  const lossRef = objectiveRef(spec, p64, yArr, vArr, anc, resampled);
  if (Math.abs(lossGpu - lossRef) > 1e-4 * Math.max(1, Math.abs(lossRef))) throw new Error(`loss ${lossGpu} differs from the float64 reference ${lossRef}`);
  for (const k of PARAM_NAMES) {
    const t = model.params[k];
    if (!t.requiresGrad) continue;
    const g = t.grad ? await t.grad.readF32() : new Float32Array(t.size);
    const fd = new Float64Array(t.size);
    for (let i = 0; i < t.size; i++) {
      const x = p64[k][i];
      const h = 1e-5 * Math.max(1, Math.abs(x));
      p64[k][i] = x + h;
      const fp = objectiveRef(spec, p64, yArr, vArr, anc, resampled);
      p64[k][i] = x - h;
      const fm = objectiveRef(spec, p64, yArr, vArr, anc, resampled);
      p64[k][i] = x;
      fd[i] = (fp - fm) / (2 * h);
    }
    const scale = Math.max(1e-3, ...Array.from(fd, Math.abs));
    const c = closeness(g, fd, 2e-3 * scale, 5e-3);
    if (c.ratio > 1) throw new Error(`gradient of ${k}[${c.index}]: gpu ${g[c.index]}, finite differences ${fd[c.index]}`);
  }
  y.dispose();
  v?.dispose();
  model.dispose();
}

export const tiny: ModelConfig = { ...DEFAULT_CONFIG, rank: 2, units: 6, obsDim: 3, inputDim: 0, nonlinearity: 'tanh', initNoiseX: 0.5, initNoiseZ: 0.3 };

function smallData(seed: number, trials: number, time: number, D: number) {
  const rand = mulberry32(seed);
  const data = new Float32Array(trials * time * D);
  for (let k = 0; k < trials; k++)
    for (let t = 0; t < time; t++) for (let d = 0; d < D; d++) data[(k * time + t) * D + d] = Math.sin(0.3 * t + d + k) + 0.2 * (rand() - 0.5);
  return { data, trials, time, channels: D };
}

export const cases: GpuCase[] = [
  {
    name: 'fit CLI: rank 65 and particles beyond the binding limit are refused naming the limits',
    browser: false,
    async run() {
      const { mkdtemp, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { saveNpy } = await import('../../src/io/files.js');
      const fitCli = (await import(/* @vite-ignore */ `../../src/cli/${'fit'}.js`)) as typeof import('../../src/cli/fit.js');
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-rank-'));
      const data = join(dir, 'y.npy');
      const modelPath = join(dir, 'model.json');
      await saveNpy(data, smallData(6, 2, 30, 3).data, [2, 30, 3]);
      const args = (rank: number, K: number) => [
        '--data',
        data,
        '--layout',
        'trial,time,channel',
        '--rank',
        String(rank),
        '--units',
        '20',
        '--particles',
        String(K),
        '--proposal',
        'bootstrap',
        '--batch',
        '2',
        '--window',
        '10',
        '--iters',
        '3',
        '--log-every',
        '1',
        '--out',
        modelPath,
      ];
      try {
        const refused = async (a: string[], pattern: RegExp) => {
          let message = '';
          await fitCli.run(a).catch((e: Error) => (message = e.message));
          if (!pattern.test(message)) throw new Error(`fit ${a.join(' ')}: expected ${pattern}, got "${message}"`);
        };
        await refused(args(65, 8), /rank must be ≤ 64, got 65/);
        // particles whose stored paths exceed a binding: refused before training, naming the largest K
        await refused(args(2, 20_000_000), /more than maxStorageBufferBindingSize \(\d+\); at most K = \d+ at this batch and window/);
        // A fit at rank 16 (3 iterations, N = 20, K = 8) ran past 4 minutes on lavapipe while the rank-16
        // filter case takes seconds: to be added once the slow part of training at rank 16 is found.
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    timeoutMs: 120_000,
  },
  {
    name: 'objective gradient (optimal proposal, full noise, inputs) matches finite differences of the float64 objective',
    run: (e) => objectiveGradientMatches(e, { ...tiny, inputDim: 1 }, 'optimal', 21),
    timeoutMs: 120_000,
  },
  {
    // the optimal proposal's weights are flat here: at 0.5 it would never resample
    name: 'objective gradient with ESS-threshold resampling (0.9; optimal proposal, inputs) matches finite differences',
    run: (e) => objectiveGradientMatches(e, { ...tiny, inputDim: 1 }, 'optimal', 21, 0.9),
    timeoutMs: 120_000,
  },
  {
    name: 'objective gradient with ESS-threshold resampling (0.5; bootstrap) matches finite differences',
    run: (e) => objectiveGradientMatches(e, { ...tiny, noise: 'diag', nonlinearity: 'clipped_relu' }, 'bootstrap', 22, 0.5),
    timeoutMs: 120_000,
  },
  {
    name: 'objective gradient with the readout from [v; z] (optimal proposal: inputs offset the projections) matches finite differences',
    run: (e) => objectiveGradientMatches(e, { ...tiny, inputDim: 2, readoutFromInputs: true }, 'optimal', 24),
    timeoutMs: 120_000,
  },
  {
    // (the Poisson readout is checked at the filter level: SwiftShader's exp/log move the tiny noise gradients here)
    name: 'objective gradient with the readout from [v; z] (bootstrap, Gaussian softplus link) matches finite differences',
    run: (e) => objectiveGradientMatches(e, { ...tiny, inputDim: 1, readoutFromInputs: true, obsNonlinearity: 'softplus', noise: 'diag' }, 'bootstrap', 25),
    timeoutMs: 120_000,
  },
  {
    name: 'generation with the readout from [v; z]: observation means are Bᵀz + Bvᵀu + b of the generated latents and given inputs; model file round trip',
    async run(engine) {
      const config: ModelConfig = { ...tiny, inputDim: 2, readoutFromInputs: true, nonlinearity: 'clipped_relu' };
      const host = initialParams(config, 6);
      if (host.Bv.length !== 3 * 2 || host.Bv.every((x) => x === 0)) throw new Error('Bv is not initialised');
      const file = parseModel(JSON.stringify(serializeModel(config, host, null, null)));
      for (const k of PARAM_NAMES) if (file.params[k].some((x, i) => x !== host[k][i])) throw new Error(`model file round trip changes ${k}`);
      if (parameterCount(config) !== parameterCount({ ...config, readoutFromInputs: false }) + 3 * 2) throw new Error('parameter count does not include Bv');
      const model = new LowRankRNN(engine, config, file.params);
      const S = 2,
        T = 25;
      const rand = mulberry32(4);
      const u = Float32Array.from({ length: S * T * 2 }, () => rand() * 2 - 1);
      const g = await generate(model, { steps: T, inputs: u, seed: 3 });
      const { B, Bv, b } = host;
      for (let st = 0; st < S * T; st++) {
        for (let d = 0; d < 3; d++) {
          let eta = b[d];
          for (let r = 0; r < 2; r++) eta += B[d * 2 + r] * g.z[st * 2 + r];
          for (let j = 0; j < 2; j++) eta += Bv[d * 2 + j] * u[st * 2 + j];
          if (Math.abs(g.mean[st * 3 + d] - eta) > 1e-5 * Math.max(1, Math.abs(eta)))
            throw new Error(`mean [${st}, ${d}] = ${g.mean[st * 3 + d]}, expected ${eta}`);
        }
      }
      model.dispose();
      let message = '';
      try {
        validateConfig({ ...tiny, readoutFromInputs: true });
      } catch (e) {
        message = (e as Error).message;
      }
      if (!/readoutFromInputs .* needs a model with inputs/.test(message))
        throw new Error(`expected an error for a readout from inputs without inputs, got "${message}"`);
    },
  },
  {
    name: 'objective gradient with low-pass filtered inputs (the filter shares the trained decay) matches finite differences',
    run: (e) => objectiveGradientMatches(e, { ...tiny, inputDim: 2, inputFilter: 'lowpass', readoutFromInputs: true }, 'optimal', 26),
    timeoutMs: 120_000,
  },
  {
    name: 'generation low-pass filters given inputs as fitting does: the readout of a step input is its known step response',
    async run(engine) {
      const config: ModelConfig = { ...tiny, obsDim: 2, inputDim: 2, readoutFromInputs: true, inputFilter: 'lowpass' };
      const host = initialParams(config, 7);
      host.B.fill(0);
      host.b.fill(0);
      host.Bv.set([1, 0, 0, 1]); // mean_t = v_t
      const a = Math.exp(-Math.exp(host.thetaA[0]));
      const T = 30,
        t0 = [4, 11];
      const u = Float32Array.from({ length: T * 2 }, (_, i) => (Math.floor(i / 2) >= t0[i % 2] ? 1.5 : 0));
      const model = new LowRankRNN(engine, config, host);
      const g = await generate(model, { steps: T, inputs: u, seed: 1, burnIn: 5 });
      model.dispose();
      for (let t = 0; t < T; t++) {
        for (let c = 0; c < 2; c++) {
          const want = stepResponse(t, t0[c], 1.5, a);
          if (Math.abs(g.mean[t * 2 + c] - want) > 1e-5)
            throw new Error(`generated readout of input ${c} at step ${t}: ${g.mean[t * 2 + c]}, step response ${want}`);
        }
      }
    },
  },
  {
    name: 'objective gradient (bootstrap, diagonal noise, clipped relu) matches finite differences',
    run: (e) => objectiveGradientMatches(e, { ...tiny, noise: 'diag', nonlinearity: 'clipped_relu' }, 'bootstrap', 22),
    timeoutMs: 120_000,
  },
  {
    name: 'objective gradient (Poisson, softplus link, scalar noise) matches finite differences',
    run: (e) => objectiveGradientMatches(e, { ...tiny, obs: 'poisson', obsNonlinearity: 'softplus', noise: 'scalar' }, 'bootstrap', 23),
    timeoutMs: 120_000,
  },
  {
    name: 'objective on the step path equals the fused one (forward only); filterDataset runs K beyond one workgroup through it',
    browser: false,
    timeoutMs: 120_000,
    async run(engine) {
      const ds = smallData(5, 2, 30, 3);
      const model = new LowRankRNN(engine, { ...tiny, rank: 3 }, initialParams({ ...tiny, rank: 3 }, 6));
      const { BatchLoader } = await import('../../src/inference/objective.js');
      const { filterDataset } = await import('../../src/inference/filter.js');
      const loader = new BatchLoader(engine, ds, null, false);
      const batch = loader.batch(
        [
          { trial: 0, start: 0 },
          { trial: 1, start: 0 },
        ],
        30,
      );
      const lossOf = async (path: 'fused' | 'step') => {
        const tape = Tape.begin(engine);
        try {
          const { loss } = objective(
            model,
            batch.y,
            null,
            { proposal: 'optimal', resampling: 'systematic', B: 2, T: 30, K: 64, key: seedToKey(3), iter: 0 },
            path,
          );
          tape.end();
          return await loss.item();
        } finally {
          tape.dispose();
        }
      };
      const [fused, step] = [await lossOf('fused'), await lossOf('step')];
      if (!(Math.abs(fused - step) <= 1e-5 * Math.abs(fused))) throw new Error(`objective: fused ${fused} vs step path ${step}`);
      batch.y.dispose();
      loader.dispose();
      // K = 1100 does not fit one workgroup on any WebGPU device (≤ 1024 invocations): the step path runs it
      const small = await filterDataset(model, ds, null, { particles: 64, seed: 1 });
      const big = await filterDataset(model, ds, null, { particles: 1100, seed: 1 });
      if (big.means.length !== 2 * 30 * 3 || !big.means.every(Number.isFinite)) throw new Error('K = 1100: posterior means missing or not finite');
      if (!(big.essMean > small.essMean)) throw new Error(`ESS did not grow with K: ${small.essMean} (K = 64) vs ${big.essMean} (K = 1100)`);
      if (!(Math.abs(big.llPerStep - small.llPerStep) < 0.02 * Math.abs(small.llPerStep)))
        throw new Error(`ll per step K = 64 ${small.llPerStep} vs K = 1100 ${big.llPerStep}`);
    },
  },
  {
    name: 'fit is deterministic from a seed and resumes bit for bit from a checkpoint',
    browser: false,
    async run(engine) {
      const ds = smallData(1, 2, 40, 3);
      const opts = { iterations: 6, particles: 8, batch: 2, window: 20, proposal: 'optimal' as const, seed: 9, logEvery: 3 };
      const runFrom = async (resumeAt?: number) => {
        const model = new LowRankRNN(engine, tiny, initialParams(tiny, 4));
        let checkpoint: { iteration: number; optimizerState: never; history: never } | undefined;
        let params3: Awaited<ReturnType<LowRankRNN['hostParams']>> | undefined;
        const result = await fit(engine, model, ds, null, {
          ...opts,
          iterations: resumeAt ?? opts.iterations,
          checkpointEvery: 3,
          onCheckpoint: async (c) => {
            if (c.iteration === 3) {
              checkpoint = c as never;
              params3 = await model.hostParams();
            }
          },
        });
        return { model, checkpoint, params3, history: result.history };
      };
      const a = await runFrom();
      // no lrWarmup given: an optimal-proposal fit keeps the plain decay from FIT_DEFAULTS.lr (the warm-up default is the encoder's)
      const lrAt = exponentialDecay(FIT_DEFAULTS.lr, FIT_DEFAULTS.lrEnd, opts.iterations);
      if (a.history.some((h, i) => h.lr !== lrAt(i))) throw new Error(`lr schedule ${a.history.map((h) => h.lr)} is not the plain decay`);
      const b = await runFrom();
      const pa = await a.model.hostParams();
      const pb = await b.model.hostParams();
      for (const k of PARAM_NAMES) if (pa[k].some((v, i) => v !== pb[k][i])) throw new Error(`two runs with the same seed differ in ${k}`);
      // resume from the iteration-3 checkpoint of run a
      const resumed = new LowRankRNN(engine, tiny, a.params3!);
      await fit(engine, resumed, ds, null, { ...opts, resume: a.checkpoint! });
      const pr = await resumed.hostParams();
      for (const k of PARAM_NAMES) if (pa[k].some((v, i) => v !== pr[k][i])) throw new Error(`resumed run differs from the uninterrupted one in ${k}`);
      for (const m of [a.model, b.model, resumed]) m.dispose();
    },
    timeoutMs: 120_000,
  },
  {
    name: 'fit/filter CLI: --resample-threshold, --readout-from-inputs and --input-filter reach the model file and filter; bad values stop before GPU work',
    browser: false,
    async run(engine) {
      const { mkdtemp, readFile, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { saveNpy } = await import('../../src/io/files.js');
      const { normalise } = await import('../../src/io/dataset.js');
      const { filterDataset } = await import('../../src/inference/filter.js');
      // computed specifiers keep the CLI (and its Node-only plotting) out of the browser bundle
      const cliModule = (name: string) => import(/* @vite-ignore */ `../../src/cli/${name}.js`) as Promise<typeof import('../../src/cli/fit.js')>;
      const fitCli = await cliModule('fit');
      const filterCli = await cliModule('filter');
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-cli-'));
      const ds = smallData(3, 2, 30, 3);
      const inputs = smallData(4, 2, 30, 1);
      const data = join(dir, 'y.npy');
      const u = join(dir, 'u.npy');
      const modelPath = join(dir, 'model.json');
      await saveNpy(data, ds.data, [2, 30, 3]);
      await saveNpy(u, inputs.data, [2, 30, 1]);
      try {
        const common = [
          '--data',
          data,
          '--layout',
          'trial,time,channel',
          '--rank',
          '2',
          '--units',
          '8',
          '--particles',
          '8',
          '--batch',
          '2',
          '--window',
          '10',
          '--iters',
          '2',
          '--log-every',
          '1',
          '--out',
          modelPath,
        ];
        const withInputs = [...common, '--inputs', u, '--inputs-layout', 'trial,time,channel'];
        const bad: [string[], RegExp][] = [
          [[...common, '--resample-threshold=1.5'], /--resample-threshold must be ≤ 1, got 1.5/],
          [[...common, '--resample-threshold=-0.1'], /--resample-threshold must be ≥ 0/],
          [[...common, '--resample-threshold=x'], /--resample-threshold must be a number/],
          [[...common, '--readout-from-inputs'], /--readout-from-inputs needs --inputs/],
          [[...common, '--input-filter', 'lowpass'], /--input-filter lowpass needs --inputs/],
          [[...withInputs, '--input-filter', 'band'], /--input-filter must be one of raw, lowpass, got "band"/],
        ];
        for (const [args, pattern] of bad) {
          let message = '';
          await fitCli.run(args).catch((e: Error) => (message = e.message));
          if (!pattern.test(message)) throw new Error(`fit ${args.slice(-2).join(' ')}: expected ${pattern}, got "${message}"`);
        }
        if ((await fitCli.run([...withInputs, '--resample-threshold', '0.5', '--readout-from-inputs', '--input-filter', 'lowpass'])) !== 0)
          throw new Error('fit failed');
        const file = parseModel(await readFile(modelPath, 'utf8'));
        if (file.training?.resampleThreshold !== 0.5) throw new Error(`model file records resampleThreshold ${file.training?.resampleThreshold}, expected 0.5`);
        if (!file.config.readoutFromInputs || file.config.inputFilter !== 'lowpass') throw new Error(`model file config ${JSON.stringify(file.config)}`);
        // filter CLI: by default the threshold the model was fitted with
        const printed = await printedBy(() =>
          filterCli.run([
            '--model',
            modelPath,
            '--data',
            data,
            '--layout',
            'trial,time,channel',
            '--inputs',
            u,
            '--inputs-layout',
            'trial,time,channel',
            '--particles',
            '16',
            '--json',
          ]),
        );
        const cli = JSON.parse(printed[printed.length - 1]) as { ll_per_step: number; ess_mean: number };
        const model = new LowRankRNN(engine, file.config, file.params);
        const y = normalise(ds, file.normalisation!);
        const ess = async (resampleThreshold: number) => (await filterDataset(model, y, inputs, { particles: 16, resampleThreshold, seed: 0 })).essMean;
        const [never, half, always] = [await ess(0), await ess(0.5), await ess(1)];
        model.dispose();
        if (Math.abs(cli.ess_mean - half) > 1e-4 * half)
          throw new Error(`filter CLI mean ESS ${cli.ess_mean}, library with the recorded threshold 0.5: ${half}`);
        // never resampling lets the weights degenerate: a lower mean ESS than resampling every step
        if (!(never < always && half !== always)) throw new Error(`mean ESS: never ${never}, threshold 0.5 ${half}, every step ${always}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    timeoutMs: 120_000,
  },
  {
    name: 'eval CLI: the reference rule drops samples far from every generated point, --keep-underflow keeps them, --repeats reports medians; bad input stops early',
    browser: false,
    async run() {
      const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { saveNpy } = await import('../../src/io/files.js');
      const evalCli = await (import(/* @vite-ignore */ `../../src/cli/${'eval'}.js`) as Promise<typeof import('../../src/cli/eval.js')>);
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-eval-'));
      try {
        const modelPath = join(dir, 'model.json');
        await writeFile(modelPath, JSON.stringify(serializeModel(tiny, initialParams(tiny, 3), null, null)));
        // 200 rows: the first half like the model's output scale, the second half 40 units away in
        // channel 0, where no generated point comes near (float32 densities underflow there).
        const rows = 200;
        const ds = smallData(7, 1, rows, 3);
        for (let t = rows / 2; t < rows; t++) ds.data[t * 3] += 40;
        const data = join(dir, 'y.npy');
        await saveNpy(data, ds.data, [rows, 3]);
        const evaluate = async (extra: string[]) => {
          const printed = await printedBy(() =>
            evalCli.run(['--model', modelPath, '--data', data, '--layout', 'time,channel', '--samples', '400', '--seed', '3', '--json', ...extra]),
          );
          return JSON.parse(printed[printed.length - 1]) as Record<string, number>;
        };
        const reference = await evaluate([]);
        const kept = await evaluate(['--keep-underflow']);
        if (reference.steps !== rows) throw new Error(`eval used ${reference.steps} steps, expected the data's ${rows}`);
        const far = reference.d_stsp_underflow_fraction;
        if (!(far > 0.35 && far < 0.65)) throw new Error(`underflow fraction ${far}, expected about one half`);
        // far samples carry log ratios of order ½·40²: keeping them dominates the estimate
        if (!(kept.d_stsp > 100 && reference.d_stsp < 20)) throw new Error(`d_stsp ${reference.d_stsp} (reference rule), ${kept.d_stsp} (all samples)`);
        if (kept.d_stsp !== reference.d_stsp_all_samples || kept.d_stsp_all_samples !== reference.d_stsp_all_samples)
          throw new Error('both runs must report the same all-sample value');
        if (!(reference.d_h > 0 && reference.d_h === kept.d_h)) throw new Error(`d_h ${reference.d_h} / ${kept.d_h}`);
        // --repeats: repeat 0 is the single evaluation (same seed), the headline figures are medians
        const repeated = (await evaluate(['--repeats', '3'])) as unknown as {
          d_stsp: number;
          d_h: number;
          d_stsp_mad: number;
          repeats: Record<string, number>[];
        };
        const runs = repeated.repeats;
        if (runs.length !== 3 || runs.map((x) => x.seed).join() !== '3,4,5') throw new Error(`repeats ${JSON.stringify(runs)}`);
        if (runs[0].d_stsp !== reference.d_stsp || runs[0].d_h !== reference.d_h) throw new Error('repeat 0 differs from the single evaluation');
        const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[1];
        if (repeated.d_stsp !== mid(runs.map((x) => x.d_stsp)) || repeated.d_h !== mid(runs.map((x) => x.d_h)))
          throw new Error('headline figures are not the medians of the repeats');
        if (new Set(runs.map((x) => x.d_h)).size !== 3) throw new Error('repeats must generate different series');
        const mad = mid(runs.map((x) => Math.abs(x.d_stsp - repeated.d_stsp)));
        if (repeated.d_stsp_mad !== mad) throw new Error(`d_stsp_mad ${repeated.d_stsp_mad}, the repeats give ${mad}`);
        let bad = '';
        await evalCli.run(['--model', modelPath, '--data', data, '--repeats', '0']).catch((e: Error) => (bad = e.message));
        if (!/--repeats must be ≥ 1/.test(bad)) throw new Error(`--repeats 0: "${bad}"`);
        const wide = join(dir, 'wide.npy');
        await saveNpy(wide, new Float32Array(rows * 4), [rows, 4]);
        let message = '';
        await evalCli.run(['--model', modelPath, '--data', wide, '--layout', 'time,channel']).catch((e: Error) => (message = e.message));
        if (!/wide\.npy: 4 channels, the model expects 3/.test(message)) throw new Error(`channel mismatch: "${message}"`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    timeoutMs: 120_000,
  },
  {
    name: 'fit detects divergence, restores the last good parameters and reports it',
    browser: false,
    async run(engine) {
      const ds = smallData(2, 1, 40, 3);
      const model = new LowRankRNN(engine, tiny, initialParams(tiny, 5));
      const before = await model.hostParams();
      let message = '';
      try {
        await fit(engine, model, ds, null, {
          iterations: 4,
          particles: 4,
          batch: 1,
          window: 20,
          proposal: 'bootstrap',
          seed: 1,
          logEvery: 2,
          optimizer: 'adam',
          lr: 1e30,
          lrEnd: 1e30,
        });
      } catch (e) {
        message = (e as Error).message;
      }
      if (!/diverged/.test(message)) throw new Error(`expected a divergence error, got "${message}"`);
      const after = await model.hostParams();
      for (const k of PARAM_NAMES) if (after[k].some((v) => !Number.isFinite(v))) throw new Error(`parameter ${k} is not finite after the rollback`);
      void before;
      model.dispose();
    },
  },
  {
    name: 'generation from a posterior sample: initial states follow the Kalman filtering distribution of given data and inputs (K = 2048)',
    async run(engine) {
      // Linear-Gaussian model with one input: the filtering distribution at the last step is known
      // exactly (Kalman filter, float64); posterior initial states must be draws from it.
      const R = 2,
        D = 2,
        DU = 1,
        N = 4,
        T = 6;
      const config: ModelConfig = { ...DEFAULT_CONFIG, rank: R, units: N, obsDim: D, inputDim: DU, nonlinearity: 'identity', noise: 'diag' };
      const host = initialParams(config, 5);
      host.thetaA[0] = Math.log(-Math.log(0.6));
      host.m.set([1, 0, 0, 1, 0.5, 0.5, 0, 0]);
      host.n.set([0.2, 0.1, -0.1, 0.3, 0, 0, 0, 0]);
      host.h.set([-0.5, 0.25, 0, 0]);
      host.wu.set([1.5, -2, 0.5, 0]);
      host.mu0.set([0.3, -0.2]);
      host.noiseZ.set([Math.log(0.05), Math.log(0.08)]);
      host.noiseZ0.set([Math.log(0.5), Math.log(0.4)]);
      host.B.set([1, 0.3, -0.4, 1]);
      host.b.set([0.1, -0.1]);
      host.logVarX.set([Math.log(0.2), Math.log(0.3)]);
      const rand = mulberry32(12);
      const y = Float32Array.from({ length: T * D }, () => 2 * rand() - 1);
      const v = Float32Array.from({ length: T * DU }, (_, t) => (t % 2 ? 2 : -2));
      const kalman = (inputs: Float32Array) => {
        const a = 0.6;
        const A = [0, 0, 0, 0];
        const c = [0, 0];
        for (let r = 0; r < R; r++) {
          for (let q = 0; q < R; q++) {
            let sum = r === q ? a : 0;
            for (let i = 0; i < N; i++) sum += host.n[i * R + r] * host.m[i * R + q];
            A[r * R + q] = sum;
          }
          for (let i = 0; i < N; i++) c[r] -= host.n[i * R + r] * host.h[i];
        }
        let mu = [host.mu0[0], host.mu0[1]];
        let P = [Math.exp(host.noiseZ0[0]), 0, 0, Math.exp(host.noiseZ0[1])];
        for (let t = 0; t < T; t++) {
          if (t > 0) {
            const drive = [0, 0];
            for (let r = 0; r < R; r++) for (let i = 0; i < N; i++) drive[r] += host.n[i * R + r] * host.wu[i] * inputs[t - 1];
            mu = [A[0] * mu[0] + A[1] * mu[1] + c[0] + drive[0], A[2] * mu[0] + A[3] * mu[1] + c[1] + drive[1]];
            const AP = [A[0] * P[0] + A[1] * P[2], A[0] * P[1] + A[1] * P[3], A[2] * P[0] + A[3] * P[2], A[2] * P[1] + A[3] * P[3]];
            P = [
              AP[0] * A[0] + AP[1] * A[1] + Math.exp(host.noiseZ[0]),
              AP[0] * A[2] + AP[1] * A[3],
              AP[2] * A[0] + AP[3] * A[1],
              AP[2] * A[2] + AP[3] * A[3] + Math.exp(host.noiseZ[1]),
            ];
          }
          // sequential scalar updates (diagonal observation noise)
          for (let d = 0; d < D; d++) {
            const Bd = [host.B[d * R], host.B[d * R + 1]];
            const PB = [P[0] * Bd[0] + P[1] * Bd[1], P[2] * Bd[0] + P[3] * Bd[1]];
            const sVar = Bd[0] * PB[0] + Bd[1] * PB[1] + Math.exp(host.logVarX[d]);
            const innov = y[t * D + d] - (Bd[0] * mu[0] + Bd[1] * mu[1] + host.b[d]);
            mu = [mu[0] + (PB[0] * innov) / sVar, mu[1] + (PB[1] * innov) / sVar];
            P = [P[0] - (PB[0] * PB[0]) / sVar, P[1] - (PB[0] * PB[1]) / sVar, P[2] - (PB[1] * PB[0]) / sVar, P[3] - (PB[1] * PB[1]) / sVar];
          }
        }
        return { mu, P };
      };
      const exact = kalman(v);
      const withoutInputs = kalman(new Float32Array(T * DU));
      const model = new LowRankRNN(engine, config, host);
      try {
        const S = 4000,
          K = 2048;
        const g = await generate(model, { steps: 1, sequences: S, seed: 4, initial: { posteriorOf: { y, steps: T, particles: K, inputs: v } } });
        for (let r = 0; r < R; r++) {
          let m1 = 0,
            m2 = 0;
          for (let s = 0; s < S; s++) m1 += g.z[s * R + r] / S;
          for (let s = 0; s < S; s++) m2 += (g.z[s * R + r] - m1) ** 2 / S;
          const sd = Math.sqrt(exact.P[r * R + r]);
          const tol = (6 * sd) / Math.sqrt(K / 4); // draws share particles: count the particles, not the draws
          if (Math.abs(m1 - exact.mu[r]) > tol)
            throw new Error(`posterior z${r} mean ${m1.toFixed(4)}, Kalman ${exact.mu[r].toFixed(4)} (tolerance ${tol.toFixed(4)})`);
          if (Math.abs(m2 / exact.P[r * R + r] - 1) > 0.15)
            throw new Error(`posterior z${r} variance ${m2.toFixed(5)}, Kalman ${exact.P[r * R + r].toFixed(5)}`);
          // the inputs move the posterior far more than the tolerance, so the check above tells given inputs from zeros
          if (!(Math.abs(withoutInputs.mu[r] - exact.mu[r]) > 4 * tol))
            throw new Error(
              `the test inputs move the posterior of z${r} by only ${Math.abs(withoutInputs.mu[r] - exact.mu[r]).toFixed(4)} (tolerance ${tol.toFixed(4)})`,
            );
        }
        let message = '';
        try {
          await generate(model, { steps: 1, initial: { posteriorOf: { y, steps: T, inputs: v.subarray(1) } } });
        } catch (e) {
          message = (e as Error).message;
        }
        if (!/posterior inputs have 5 values, expected steps × input channels = 6 × 1/.test(message))
          throw new Error(`wrong-length posterior inputs: got "${message}"`);
      } finally {
        model.dispose();
      }
    },
  },
  {
    name: 'generation reproduces the stationary mean and variance of a linear-Gaussian model',
    async run(engine) {
      const R = 2;
      const config: ModelConfig = { ...DEFAULT_CONFIG, rank: R, units: 4, obsDim: 2, nonlinearity: 'identity', noise: 'diag' };
      const host = initialParams(config, 3);
      // A = a I + Σ_i n_i m_iᵀ with a = 0.5, chosen contraction; offset c = −Σ n_i h_i
      host.thetaA[0] = Math.log(-Math.log(0.5));
      host.m.set([1, 0, 0, 1, 0.5, 0.5, 0, 0]);
      host.n.set([0.2, 0.1, -0.1, 0.3, 0, 0, 0, 0]); // nᵀ rows per unit
      host.h.set([-0.5, 0.25, 0, 0]);
      host.noiseZ.set([Math.log(0.04), Math.log(0.09)]);
      const A = [0.5 + 0.2 * 1 + -0.1 * 0, 0.2 * 0 + -0.1 * 1, 0.1 * 1 + 0.3 * 0, 0.5 + 0.1 * 0 + 0.3 * 1];
      // A[r][c] = a δ + Σ_i n_i[r] m_i[c]
      const nT = host.n;
      const m = host.m;
      for (let r = 0; r < R; r++)
        for (let c = 0; c < R; c++) {
          let s = r === c ? 0.5 : 0;
          for (let i = 0; i < 4; i++) s += nT[i * R + r] * m[i * R + c];
          A[r * R + c] = s;
        }
      const cvec = [0, 0];
      for (let r = 0; r < R; r++) for (let i = 0; i < 4; i++) cvec[r] -= nT[i * R + r] * host.h[i];
      // μ = (I − A)⁻¹ c
      const I_A = [1 - A[0], -A[1], -A[2], 1 - A[3]];
      const det = I_A[0] * I_A[3] - I_A[1] * I_A[2];
      const mu = [(I_A[3] * cvec[0] - I_A[1] * cvec[1]) / det, (-I_A[2] * cvec[0] + I_A[0] * cvec[1]) / det];
      // Σ = A Σ Aᵀ + Q by fixed-point iteration
      let S = [0, 0, 0, 0];
      const Q = [0.04, 0, 0, 0.09];
      for (let it = 0; it < 500; it++) {
        const AS = [A[0] * S[0] + A[1] * S[2], A[0] * S[1] + A[1] * S[3], A[2] * S[0] + A[3] * S[2], A[2] * S[1] + A[3] * S[3]];
        S = [AS[0] * A[0] + AS[1] * A[1] + Q[0], AS[0] * A[2] + AS[1] * A[3] + Q[1], AS[2] * A[0] + AS[3] * A[1] + Q[2], AS[2] * A[2] + AS[3] * A[3] + Q[3]];
      }
      const model = new LowRankRNN(engine, config, host);
      const S_ = 16;
      const T = 1500;
      const g = await generate(model, { steps: T, sequences: S_, burnIn: 200, seed: 8 });
      const n = S_ * T;
      const mean = [0, 0];
      for (let i = 0; i < n; i++) for (let r = 0; r < R; r++) mean[r] += g.z[i * R + r] / n;
      const v = [0, 0];
      for (let i = 0; i < n; i++) for (let r = 0; r < R; r++) v[r] += (g.z[i * R + r] - mean[r]) ** 2 / n;
      for (let r = 0; r < R; r++) {
        // autocorrelated samples: allow a generous multiple of the iid standard error
        const seMean = Math.sqrt(S[r * R + r] / n) * 6;
        if (Math.abs(mean[r] - mu[r]) > seMean + 1e-3) throw new Error(`stationary mean of z${r}: ${mean[r]} vs analytic ${mu[r]}`);
        if (Math.abs(v[r] / S[r * R + r] - 1) > 0.08) throw new Error(`stationary variance of z${r}: ${v[r]} vs analytic ${S[r * R + r]}`);
      }
      model.dispose();
    },
  },
];
