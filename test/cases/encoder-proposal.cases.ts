// The encoder proposal in the fused particle filter: per step the product of the transition Gaussian
// (diagonal noise) and the encoder's Gaussian, against the float64 reference fed the same random numbers
// (log-likelihood with the GPU's ancestors replayed; gradient to theta and to the encoder outputs by finite
// differences with the ancestors held fixed), and its limit: a huge encoder variance gives the bootstrap filter.
// The objective with a CNN encoder on the tape: its loss against encodeRef + the reference filter, and the
// encoder's parameter gradients against finite differences of that float64 pipeline.
import { closeness } from '../../src/autodiff/gradcheck.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { seedToKey } from '../../src/gpu/rng.js';
import { objective } from '../../src/inference/objective.js';
import { fit } from '../../src/inference/trainer.js';
import { referenceFilter, type FilterSpec } from '../../src/inference/reference-filter.js';
import { smcFilter, splitPaths } from '../../src/inference/smc-op.js';
import { smcFilterSteps } from '../../src/inference/smc-step.js';
import type { Engine } from '../../src/gpu/engine.js';
import { CnnEncoder, DEFAULT_ENCODER, ENCODER_LOG_VAR_BOUNDS, encodeRef, encoderAlpha } from '../../src/models/encoder.js';
import { DEFAULT_CONFIG, LowRankRNN, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import type { PadPlacement } from '../../src/ops/conv.js';
import { mulberry32 } from '../../src/util/random.js';
import { forwardMatches, gpuInputs, gradientMatches, makeProblem } from './smc.cases.js';
import { printedBy } from './cli-output.js';
import type { GpuCase } from './types.js';

const small = { N: 6, D: 3, B: 2, T: 6, resampling: 'systematic', proposal: 'encoder' } as const;

/** The encoder proposal with every encoder log-variance at `logVar` against the bootstrap filter on the same theta and noise. */
async function hugeVarianceIsBootstrap(engine: Engine, logVar: number): Promise<number> {
  const opts = {
    R: 3,
    N: 10,
    D: 4,
    DU: 1,
    B: 3,
    T: 40,
    K: 16,
    seed: 21,
    resampling: 'systematic',
    obs: 'poisson',
    obsNonlinearity: 'softplus',
    nonlinearity: 'tanh',
  } as const;
  const enc = makeProblem({ ...opts, proposal: 'encoder' });
  const { B, T } = enc.spec;
  const R = enc.spec.layout.dims.R;
  const qs = Float64Array.from(enc.data.qs!);
  qs.fill(logVar, B * T * R);
  enc.data.qs = qs;
  // the same parameters (diagonal L) under the bootstrap proposal; its slots are the encoder's
  const boot = { ...enc, spec: { ...enc.spec, proposal: 'bootstrap' as const }, data: { ...enc.data, qs: undefined } };
  const lls: Float32Array[] = [];
  for (const pr of [enc, boot]) {
    const inp = gpuInputs(engine, pr);
    const out = smcFilter(engine, inp, pr.spec);
    lls.push(await out.ll.readF32());
    for (const t of [inp.theta, inp.y, inp.v, inp.qs, out.ll, out.paths, out.anc]) t?.dispose();
  }
  let worst = 0;
  for (let b = 0; b < B; b++) worst = Math.max(worst, Math.abs(lls[0][b] - lls[1][b]) / Math.max(1, Math.abs(lls[1][b])));
  return worst;
}

const encoderModel = (placement: PadPlacement, noise: ModelConfig['noise'] = 'diag', inChannels = 3, obsDim = 3): ModelConfig => ({
  ...DEFAULT_CONFIG,
  rank: 2,
  units: 6,
  obsDim,
  obs: 'poisson',
  obsNonlinearity: 'softplus',
  nonlinearity: 'tanh',
  noise,
  encoder: { ...DEFAULT_ENCODER, kernels: [3, 2], channels: [4], inChannels, placement, initScale: 0.4 },
});

/**
 * The objective's loss and encoder gradients against the float64 pipeline (encodeRef → reference filter) with the
 * GPU's ancestors. `heldIn` < 4 of the 4 channels: the encoder reads only those (co-smoothing); `tForward`: the last
 * steps are forward prediction (the encoder reads the steps before them).
 */
async function objectiveMatches(engine: Engine, placement: PadPlacement, heldIn = 3, tForward = 0): Promise<void> {
  const config = encoderModel(placement, 'diag', heldIn, heldIn < 3 ? 4 : 3);
  const model = LowRankRNN.create(engine, config, 3);
  const encoder = CnnEncoder.create(engine, config.encoder!, config.rank, 4);
  const B = 2;
  const T = 8;
  const K = 8;
  const D = config.obsDim;
  const rand = mulberry32(31);
  const y = Float64Array.from({ length: B * T * D }, () => Math.floor(rand() * 3));
  const yT = Tensor.fromArray(engine, y, [B, T, D], 'f32', 'y');
  const cfg = { proposal: 'encoder', resampling: 'systematic', B, T, K, key: seedToKey(17), iter: 2, tForward } as const;
  const where = `${placement}, ${heldIn} of ${D} channels held in, t_forward ${tForward}`;
  const tape = Tape.begin(engine);
  const { loss, out } = objective(model, yT, null, cfg, 'fused', encoder);
  tape.end();
  const wrt = encoder.trainable();
  const grads = tape.gradients(loss, wrt);
  const lossGpu = (await loss.readF32())[0];
  const anc = (await out.anc.read()) as Uint32Array;
  const flags = splitPaths(await out.paths.readF32(), B, T, K, config.rank).resampled;
  const gpuGrads = await Promise.all(grads.map((g) => g!.readF32()));
  tape.dispose();
  // the packed parameters as the kernel saw them
  const th = model.theta('encoder');
  const theta = Float64Array.from(await th.theta.readF32());
  th.theta.dispose();
  const host = await encoder.hostParams();
  const params = Object.fromEntries(Object.entries(host).map(([k, v]) => [k, Float64Array.from(v)]));
  const spec: FilterSpec = {
    ...cfg,
    layout: model.layoutFor('encoder'),
    obs: config.obs,
    obsNonlinearity: config.obsNonlinearity,
    nonlinearity: config.nonlinearity,
  };
  const R = config.rank;
  const tIn = T - tForward;
  const refLoss = () => {
    const g = encodeRef(config.encoder!, params, R, y, [B, T, D], { steps: tIn });
    // [B, tIn, R] into the filter's [B, T, R] (forward-prediction steps do not read it)
    const qs = new Float64Array(2 * B * T * R);
    for (let b = 0; b < B; b++) {
      qs.set(g.mean.subarray(b * tIn * R, (b + 1) * tIn * R), b * T * R);
      qs.set(g.logVar.subarray(b * tIn * R, (b + 1) * tIn * R), B * T * R + b * T * R);
    }
    const r = referenceFilter(spec, theta, { y, v: [], qs }, anc, flags);
    return -r.ll.reduce((a, b) => a + b, 0) / (B * T);
  };
  const ref = refLoss();
  if (Math.abs(lossGpu - ref) > 1e-4 * Math.max(1, Math.abs(ref))) throw new Error(`${where}: objective ${lossGpu}, float64 pipeline ${ref}`);
  if (tForward > 0) {
    for (let b = 0; b < B; b++) {
      for (let t = tIn - 1; t < T; t++) {
        if (flags[b * T + t] !== (t === tIn - 1 ? 1 : 0)) throw new Error(`${where}: resampling flag ${flags[b * T + t]} at step ${t}`);
      }
    }
  }
  const names = Object.keys(encoder.params);
  names.forEach((name, i) => {
    const arr = params[name];
    const fd = Float64Array.from(arr, (x, j) => {
      const h = 1e-5 * Math.max(1, Math.abs(x));
      arr[j] = x + h;
      const fp = refLoss();
      arr[j] = x - h;
      const fm = refLoss();
      arr[j] = x;
      return (fp - fm) / (2 * h);
    });
    const scale = Math.max(1e-3, ...Array.from(fd, Math.abs));
    const c = closeness(gpuGrads[i], fd, 2e-3 * scale, 5e-3);
    if (c.ratio > 1) throw new Error(`${where}: gradient of encoder ${name}[${c.index}]: gpu ${gpuGrads[i][c.index]}, fd ${fd[c.index]}`);
  });
  for (const t of [yT, ...encoder.trainable()]) t.dispose();
  model.dispose();
}

/**
 * The objective (acausal encoder with a log-variance head) with every head output at `bias` (weights zeroed): the
 * loss, the encoder's log-variances and the gradients of every encoder tensor.
 */
async function logVarHeadAt(engine: Engine, bias: number) {
  const config = encoderModel('acausal');
  const model = LowRankRNN.create(engine, config, 3);
  const encoder = CnnEncoder.create(engine, config.encoder!, config.rank, 4);
  const host = await encoder.hostParams();
  encoder.setHostParams({ ...host, 'logVar.weight': new Float32Array(host['logVar.weight'].length), 'logVar.bias': new Float32Array(config.rank).fill(bias) });
  const [B, T, K, D] = [2, 8, 8, config.obsDim];
  const rand = mulberry32(37);
  const yT = Tensor.fromArray(
    engine,
    Float32Array.from({ length: B * T * D }, () => Math.floor(rand() * 3)),
    [B, T, D],
    'f32',
    'y',
  );
  const tape = Tape.begin(engine);
  const { loss, encoderLogVar } = objective(
    model,
    yT,
    null,
    { proposal: 'encoder', resampling: 'systematic', B, T, K, key: seedToKey(17), iter: 2 },
    'fused',
    encoder,
  );
  tape.end();
  const names = Object.keys(encoder.params);
  const grads = tape.gradients(loss, encoder.trainable());
  const out = {
    loss: (await loss.readF32())[0],
    logVar: await encoderLogVar!.readF32(),
    grads: {} as Record<string, Float32Array>,
  };
  for (const [i, n] of names.entries()) out.grads[n] = await grads[i]!.readF32();
  tape.dispose();
  for (const t of [yT, ...encoder.trainable()]) t.dispose();
  model.dispose();
  return out;
}

/** Node-only CLI cases: random spike counts (0–2) of shape [trials, time, channels] as y.npy in a new temporary folder. */
async function countsInTempDir(prefix: string, seed: number, shape: [number, number, number]) {
  const { mkdtemp, readFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { saveNpy } = await import('../../src/io/files.js');
  const { parseModel } = await import('../../src/models/model-file.js');
  // a computed specifier keeps the CLI out of the browser bundle
  const fitCli = (await import(/* @vite-ignore */ `../../src/cli/${'fit'}.js`)) as typeof import('../../src/cli/fit.js');
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const rand = mulberry32(seed);
  const data = path.join(dir, 'y.npy');
  await saveNpy(
    data,
    Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => Math.floor(rand() * 3)),
    shape,
  );
  return { data, join: (file: string) => path.join(dir, file), readFile, parseModel, fitCli, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const cases: GpuCase[] = [
  {
    // Regression: a fit that switched the encoder off drove its log-variance head to 87 within 65 iterations,
    // and exp overflowed into a NaN gradient (0 · ∞). The head is clamped to the reference's variance bounds.
    name: 'encoder log-variance far outside [log 1e-8, log 100] is clamped: finite loss and gradients, none through the clamped head',
    async run(e) {
      const [lo, hi] = ENCODER_LOG_VAR_BOUNDS.map(Math.fround);
      const runs: [number, Awaited<ReturnType<typeof logVarHeadAt>>][] = [];
      for (const b of [200, 300, -200, 4]) runs.push([b, await logVarHeadAt(e, b)]);
      for (const [bias, r] of runs) {
        const want = bias > hi ? hi : bias < lo ? lo : Math.fround(bias);
        if (r.logVar.some((v) => v !== want)) throw new Error(`log-variance head at ${bias}: encoder log-variances ${r.logVar.slice(0, 4)}…, expected ${want}`);
        if (!Number.isFinite(r.loss)) throw new Error(`log-variance head at ${bias}: loss ${r.loss}`);
        for (const [name, g] of Object.entries(r.grads)) {
          if (g.some((v) => !Number.isFinite(v))) throw new Error(`log-variance head at ${bias}: gradient of encoder ${name} is not finite`);
          const clamped = bias !== 4 && name.startsWith('logVar');
          if (clamped && g.some((v) => v !== 0)) throw new Error(`log-variance head at ${bias}: the clamped head's ${name} has gradient ${g.slice(0, 4)}…`);
          if (!clamped && name === 'logVar.bias' && g.every((v) => v === 0))
            throw new Error('log-variance head at 4 (inside the bounds): no gradient reaches it');
        }
      }
      // beyond the bound the value does not matter
      if (runs[0][1].loss !== runs[1][1].loss) throw new Error(`log-variance head at 200 and 300: losses ${runs[0][1].loss} and ${runs[1][1].loss}`);
    },
  },
  {
    name: 'encoder proposal (Gaussian; Poisson softplus with inputs) matches the float64 reference at T = 60',
    async run(e) {
      await forwardMatches(
        e,
        makeProblem({
          R: 2,
          N: 12,
          D: 4,
          DU: 0,
          B: 3,
          K: 16,
          T: 60,
          seed: 11,
          resampling: 'systematic',
          proposal: 'encoder',
          obs: 'gauss',
          obsNonlinearity: 'identity',
          nonlinearity: 'clipped_relu',
        }),
      );
      await forwardMatches(
        e,
        makeProblem({
          R: 3,
          N: 12,
          D: 4,
          DU: 2,
          B: 3,
          K: 16,
          T: 60,
          seed: 12,
          resampling: 'stratified',
          proposal: 'encoder',
          obs: 'poisson',
          obsNonlinearity: 'softplus',
          nonlinearity: 'tanh',
        }),
      );
    },
  },
  {
    name: 'encoder proposal gradient (theta, encoder outputs and inputs; Gaussian softplus) matches finite differences',
    timeoutMs: 120_000,
    run: (e) =>
      gradientMatches(e, makeProblem({ ...small, R: 2, DU: 1, K: 8, seed: 5, obs: 'gauss', obsNonlinearity: 'softplus', nonlinearity: 'tanh' }), true),
  },
  {
    name: 'encoder proposal gradient (theta and encoder outputs; Poisson exp, R = 3) matches finite differences',
    timeoutMs: 120_000,
    run: (e) => gradientMatches(e, makeProblem({ ...small, R: 3, DU: 0, K: 8, T: 5, seed: 7, obs: 'poisson', obsNonlinearity: 'exp', nonlinearity: 'tanh' })),
  },
  {
    // K·R = 300: the particle-parallel loops everywhere
    name: 'encoder proposal gradient on the particle-parallel path (K = 150) matches finite differences',
    run: (e) =>
      gradientMatches(
        e,
        makeProblem({ ...small, R: 2, N: 5, D: 2, DU: 1, K: 150, T: 4, seed: 8, obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'softplus' }),
      ),
  },
  {
    name: 'encoder proposal with a huge encoder variance gives the bootstrap log-likelihood on the same random numbers',
    async run(e) {
      const huge = await hugeVarianceIsBootstrap(e, 60);
      if (huge > 1e-4) throw new Error(`encoder variance e^60: log-likelihood differs from the bootstrap one by ${huge} (relative)`);
      // and the comparison can fail: an informative encoder changes the estimate
      const informative = await hugeVarianceIsBootstrap(e, Math.log(0.05));
      if (informative < 1e-2) throw new Error(`an informative encoder (variance 0.05) left the log-likelihood within ${informative} of the bootstrap one`);
    },
  },
  {
    name: 'objective with a causal and an acausal CNN encoder: loss and encoder gradients match the float64 pipeline (fixed ancestors)',
    timeoutMs: 180_000,
    async run(e) {
      await objectiveMatches(e, 'causal');
      await objectiveMatches(e, 'acausal');
    },
  },
  {
    name: 'forward prediction (t_forward) in the encoder proposal matches the float64 reference: fused filter and step path, log-likelihood and gradients',
    browser: false,
    timeoutMs: 180_000,
    async run(e) {
      const pr = makeProblem({ ...small, R: 2, DU: 1, K: 16, T: 12, tForward: 4, seed: 61, obs: 'poisson', obsNonlinearity: 'softplus', nonlinearity: 'tanh' });
      await forwardMatches(e, pr);
      // the step path's forward (same counters) gives the fused one's log-likelihood and ancestors
      const inp = gpuInputs(e, pr);
      const fused = smcFilter(e, inp, pr.spec);
      const step = smcFilterSteps(e, inp, pr.spec, { paths: true });
      const [llF, llS] = [await fused.ll.readF32(), await step.ll.readF32()];
      const c = closeness(llS, llF, 0, 1e-5);
      if (c.ratio > 1) throw new Error(`t_forward: log-likelihood of trial ${c.index}: step ${llS[c.index]} fused ${llF[c.index]}`);
      const [ancF, ancS] = [(await fused.anc.read()) as Uint32Array, (await step.anc!.read()) as Uint32Array];
      if (ancF.some((a, i) => a !== ancS[i])) throw new Error('t_forward: the step path chose other ancestors than the fused filter');
      for (const t of [inp.theta, inp.y, inp.v, inp.qs, fused.ll, fused.paths, fused.anc, step.ll, step.paths, step.anc]) t?.dispose();
      // and the forward-prediction steps change the estimate (the case can fail)
      const none = referenceFilter({ ...pr.spec, tForward: 0 }, pr.theta, pr.data);
      const withF = referenceFilter(pr.spec, pr.theta, pr.data);
      if (Math.abs(none.ll[0] - withF.ll[0]) < 1e-3) throw new Error(`t_forward 4 left the float64 log-likelihood at ${withF.ll[0]} (without: ${none.ll[0]})`);
      await gradientMatches(
        e,
        makeProblem({ ...small, R: 2, DU: 1, K: 8, T: 6, tForward: 2, seed: 62, obs: 'gauss', obsNonlinearity: 'softplus', nonlinearity: 'tanh' }),
        true,
      );
    },
  },
  {
    name: 'objective with held-out channels (2 of 4 held in) and t_forward 3: the encoder reads the held-in channels of the first steps; loss and encoder gradients match the float64 pipeline',
    timeoutMs: 180_000,
    async run(e) {
      await objectiveMatches(e, 'causal', 2, 3);
      await objectiveMatches(e, 'acausal', 3, 2);
    },
  },
  {
    name: 'objective: the encoder proposal with full latent noise, or without an encoder, is a clear error',
    async run(e) {
      const y = Tensor.zeros(e, [2, 8, 3], 'f32', 'y');
      const cfg = { proposal: 'encoder', resampling: 'systematic', B: 2, T: 8, K: 4, key: seedToKey(1), iter: 0 } as const;
      const expect = (what: string, f: () => unknown, pattern: RegExp) => {
        let msg = '';
        try {
          f();
        } catch (err) {
          msg = (err as Error).message;
        }
        if (!pattern.test(msg)) throw new Error(`${what}: expected ${pattern}, got "${msg}"`);
      };
      for (const [noise, pattern] of [
        ['full', /needs noise 'diag' or 'scalar', not 'full'/],
        ['diag', /needs the model's CNN encoder/],
      ] as const) {
        const config = encoderModel('causal', noise);
        const model = LowRankRNN.create(e, config, 3);
        const encoder = noise === 'full' ? CnnEncoder.create(e, config.encoder!, config.rank, 4) : undefined;
        expect(`noise ${noise}`, () => objective(model, y, null, cfg, 'fused', encoder), pattern);
        for (const t of encoder?.trainable() ?? []) t.dispose();
        model.dispose();
      }
      y.dispose();
    },
  },
  {
    name: 'fit with the encoder proposal trains the encoder with the model (every encoder tensor moves, losses finite)',
    timeoutMs: 180_000,
    async run(e) {
      const config = encoderModel('causal');
      const model = LowRankRNN.create(e, config, 3);
      const encoder = CnnEncoder.create(e, config.encoder!, config.rank, 4);
      const rand = mulberry32(41);
      const ds = { trials: 4, time: 20, channels: 3, data: Float32Array.from({ length: 4 * 20 * 3 }, () => Math.floor(rand() * 3)) };
      const before = await encoder.hostParams();
      const res = await fit(e, model, ds, null, {
        iterations: 3,
        particles: 8,
        batch: 2,
        window: 10,
        proposal: 'encoder',
        encoder,
        lr: 1e-2,
        lrEnd: 1e-2,
        seed: 5,
        logEvery: 1,
      });
      const after = await encoder.hostParams();
      for (const [name, v] of Object.entries(before)) {
        const moved = v.some((x, i) => x !== after[name][i]);
        if (!moved) throw new Error(`encoder ${name} did not change in training`);
      }
      if (res.history.length !== 3 || res.history.some((h) => !Number.isFinite(h.loss))) throw new Error(`history ${JSON.stringify(res.history)}`);
      // the logged mixing weight α: the encoder starts with std 0.4 against the latent noise 0.1 (and 1 at t = 0)
      if (res.history.some((h) => !(h.alpha! > 0.01 && h.alpha! < 0.99))) throw new Error(`logged α ${res.history.map((h) => h.alpha)}`);
      // step 0 against the initial-state variance, later steps against the transition's
      const alpha = encoderAlpha(Float32Array.of(Math.log(0.25), Math.log(0.75)), 2, [9], [0.25]);
      if (Math.abs(alpha - (9 / 9.25 + 0.25) / 2) > 1e-7) throw new Error(`encoderAlpha ${alpha}`);
      for (const t of encoder.trainable()) t.dispose();
      model.dispose();
    },
  },
  {
    name: 'fit CLI --proposal encoder: the encoder is saved in the model file and resumed from it; bad encoder options stop before GPU work',
    browser: false,
    timeoutMs: 240_000,
    async run() {
      const { data, join, readFile, parseModel, fitCli, cleanup } = await countsInTempDir('lowrank-smc-enc-', 51, [2, 30, 3]);
      const modelPath = join('model.json');
      try {
        const common = [
          '--data',
          data,
          '--layout',
          'trial,time,channel',
          '--obs',
          'poisson',
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
          '--log-every',
          '1',
          '--out',
          modelPath,
          '--proposal',
          'encoder',
        ];
        const enc = ['--encoder-kernels', '3,2', '--encoder-channels', '4'];
        const bad: [string[], RegExp][] = [
          [[...common, ...enc, '--iters', '1'], /--proposal encoder combines diagonal Gaussians: it needs --noise diag or scalar/],
          [[...common, '--noise', 'diag', '--iters', '1'], /--proposal encoder needs --encoder-kernels/],
          [
            [...common, '--noise', 'diag', '--encoder-kernels', '8,4', '--encoder-channels', '4', '--iters', '1'],
            /receptive field \(11 steps\) is longer than the window \(10 steps\)/,
          ],
          [
            [...common, ...enc, '--noise', 'diag', '--encoder-padding', 'windowed', '--iters', '1'],
            /windowed padding gives 9 encoder outputs for the window \(10 steps\)/,
          ],
          [[...common, ...enc, '--noise', 'diag', '--t-forward', '10', '--iters', '1'], /--t-forward 10 must be shorter than the window \(10 steps\)/],
          [
            [...common, '--noise', 'diag', '--encoder-kernels', '6,3', '--encoder-channels', '4', '--t-forward', '3', '--iters', '1'],
            /receptive field \(8 steps\) is longer than the window's first 7 steps \(10 less 3 of forward prediction\)/,
          ],
          [[...common, ...enc, '--noise', 'diag', '--held-in-channels', '4', '--iters', '1'], /--held-in-channels 4 is more than the data's 3 channels/],
          [[...common.slice(0, -2), '--proposal', 'bootstrap', '--noise', 'diag', '--t-forward', '2', '--iters', '1'], /--t-forward needs --proposal encoder/],
          [
            [...common, ...enc, '--noise', 'diag', '--encoder-pad-mode', 'mirror', '--iters', '1'],
            /--encoder-pad-mode must be one of zeros, reflect, replicate, circular/,
          ],
        ];
        for (const [args, pattern] of bad) {
          let message = '';
          await fitCli.run(args).catch((e: Error) => (message = e.message));
          if (!pattern.test(message)) throw new Error(`fit ${args.join(' ')}: expected ${pattern}, got "${message}"`);
        }
        // co-smoothing training: the encoder reads 2 of the 3 channels, the last 2 steps are forward prediction
        const args = [
          ...common,
          ...enc,
          '--noise',
          'diag',
          '--encoder-pad-mode',
          'replicate',
          '--encoder-constant-var',
          '--held-in-channels',
          '2',
          '--t-forward',
          '2',
          '--lr',
          '1e-3',
          '--lr-end',
          '1e-3',
        ];
        const printed = await printedBy(() => fitCli.run([...args, '--iters', '2', '--json']));
        if (printed.length === 0) throw new Error('fit printed nothing');
        const first = parseModel(await readFile(modelPath, 'utf8'));
        // the summary carries the last logged α, the model file's history every one
        const summaryAlpha = JSON.parse(printed[0]).alpha;
        if (!(summaryAlpha > 0 && summaryAlpha === first.training?.history.at(-1)?.alpha)) throw new Error(`summary α ${summaryAlpha}`);
        const e = first.config.encoder;
        if (!e || e.padMode !== 'replicate' || !e.constantVar || e.kernels.join() !== '3,2' || e.inChannels !== 2 || !first.encoder) {
          throw new Error(`model file encoder ${JSON.stringify(e)}, parameters ${first.encoder ? 'present' : 'missing'}`);
        }
        // the encoder's default warm-up, min(20, iters / 2), is applied and recorded
        if (first.training?.lrWarmup !== 1) throw new Error(`training record's lrWarmup ${first.training?.lrWarmup}, expected the default 1`);
        await printedBy(() =>
          fitCli.run(['--data', data, '--layout', 'trial,time,channel', '--resume', modelPath, '--out', modelPath, '--iters', '3', '--json']),
        );
        const second = parseModel(await readFile(modelPath, 'utf8'));
        if (second.training?.proposal !== 'encoder' || second.training.iterations !== 3 || second.training.tForward !== 2)
          throw new Error(`resumed training record ${second.training?.proposal} at ${second.training?.iterations}, t_forward ${second.training?.tForward}`);
        if (second.training.lrWarmup !== 1) throw new Error(`the resumed fit's lrWarmup is ${second.training.lrWarmup}, not its checkpoint's 1`);
        // one more Adam step at lr 1e-3 moves each encoder parameter by about 1e-3: resumed, not drawn anew
        let moved = 0;
        for (const [name, v] of Object.entries(first.encoder)) {
          v.forEach((x, i) => (moved = Math.max(moved, Math.abs(second.encoder![name][i] - x))));
        }
        if (!(moved > 0 && moved < 5e-3)) throw new Error(`resuming moved the encoder parameters by up to ${moved}, expected one small step`);
      } finally {
        await cleanup();
      }
    },
  },
  {
    name: 'sweep job with the encoder proposal: same model file as fit with the same flags (encoder, default warm-up), resumed from its checkpoint',
    browser: false,
    timeoutMs: 240_000,
    async run(engine) {
      const { data: dataPath, join, readFile, parseModel, fitCli, cleanup } = await countsInTempDir('lowrank-smc-enc-sweep-', 52, [2, 20, 3]);
      // a computed specifier keeps the sweep (node:fs) out of the browser bundle
      const { runFitJob } = (await import(/* @vite-ignore */ `../../src/sweep/${'fit-job'}.js`)) as typeof import('../../src/sweep/fit-job.js');
      try {
        const options = {
          obs: 'poisson',
          noise: 'diag',
          proposal: 'encoder',
          'encoder-kernels': '3,2',
          'encoder-channels': 4,
          rank: 2,
          units: 8,
          particles: 8,
          batch: 2,
          window: 10,
          iters: 4,
          lr: 0.01,
          'log-every': 2,
        };
        const job = (modelPath: string, iters: number) =>
          runFitJob(engine, { dataPath, layout: 'trial,time,channel', options: { ...options, iters }, checkpointEvery: 2, modelPath, eval: {} });
        const swept = join('swept.json');
        await job(swept, 4);
        const flags = Object.entries(options).flatMap(([k, v]) => [`--${k}`, String(v)]);
        const direct = join('direct.json');
        await printedBy(() => fitCli.run(['--data', dataPath, '--layout', 'trial,time,channel', ...flags, '--out', direct, '--json']));
        const [a, b] = [parseModel(await readFile(swept, 'utf8')), parseModel(await readFile(direct, 'utf8'))];
        if (!a.encoder || a.training?.lrWarmup !== 2 || a.training.history.at(-1)?.alpha === undefined)
          throw new Error(`swept model: encoder ${a.encoder ? 'saved' : 'missing'}, lrWarmup ${a.training?.lrWarmup}`);
        const same = (x: Record<string, ArrayLike<number>>, y: Record<string, ArrayLike<number>>) =>
          Object.keys(x).every((k) => Array.from(x[k]).every((v, i) => v === y[k][i]));
        if (
          !same(a.encoder, b.encoder!) ||
          !same(a.params as never, b.params as never) ||
          JSON.stringify(a.training) !== JSON.stringify({ ...b.training, adapter: a.training.adapter, history: a.training.history })
        )
          throw new Error('the sweep job and fit with the same flags wrote different models');
        // two more iterations resume the checkpoint, encoder included (the first run's encoder moves on, not drawn anew)
        const r = await job(swept, 6);
        const c = parseModel(await readFile(swept, 'utf8'));
        let moved = 0;
        for (const [k, v] of Object.entries(a.encoder)) v.forEach((x, i) => (moved = Math.max(moved, Math.abs(c.encoder![k][i] - x))));
        if (!(r.resumedFrom === 4 && c.training?.iterations === 6 && moved > 0 && moved < 0.05))
          throw new Error(`resumed from ${r.resumedFrom} to ${c.training?.iterations}; the encoder moved by up to ${moved}`);
      } finally {
        await cleanup();
      }
    },
  },
  {
    name: 'filter, generate and eval CLIs load an encoder model file (v3): filter and generate --init posterior use the encoder proposal',
    browser: false,
    timeoutMs: 240_000,
    async run() {
      const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { saveNpy, loadArray } = await import('../../src/io/files.js');
      const { serializeModel } = await import('../../src/models/model-file.js');
      const { initialParams } = await import('../../src/models/lowrank-rnn.js');
      const { initialEncoderParams } = await import('../../src/models/encoder.js');
      // computed specifiers keep the CLIs out of the browser bundle
      const cli = async (name: string) => (await import(/* @vite-ignore */ `../../src/cli/${name}.js`)) as { run(argv: string[]): Promise<number> };
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-encload-'));
      try {
        const config = encoderModel('causal');
        const modelPath = join(dir, 'model.json');
        await writeFile(
          modelPath,
          JSON.stringify(serializeModel(config, initialParams(config, 2), null, null, initialEncoderParams(config.encoder!, config.rank, 3))),
        );
        const rand = mulberry32(71);
        const data = join(dir, 'y.npy');
        await saveNpy(
          data,
          Float32Array.from({ length: 2 * 12 * 3 }, () => Math.floor(rand() * 3)),
          [2, 12, 3],
        );
        const filter = await cli('filter');
        const common = ['--model', modelPath, '--data', data, '--layout', 'trial,time,channel', '--particles', '8', '--json'];
        const llOf = async (extra: string[]) => JSON.parse((await printedBy(() => filter.run([...common, ...extra]))).join('')).ll_per_step as number;
        const encLl = await llOf([]);
        const bootLl = await llOf(['--proposal', 'bootstrap']);
        if (!Number.isFinite(encLl) || !Number.isFinite(bootLl) || encLl === bootLl) {
          throw new Error(`filter: encoder-proposal ll ${encLl}, bootstrap ${bootLl} (the default must be the encoder proposal)`);
        }
        const gen = join(dir, 'gen.npy');
        const latents = join(dir, 'z.npy');
        await (await cli('generate')).run(['--model', modelPath, '--steps', '20', '--out', gen, '--latents', latents, '--init', 'posterior', '--data', data]);
        const g = await loadArray(gen);
        if (g.shape.join() !== '1,20,3' || !Array.from(g.data).every(Number.isFinite)) throw new Error(`generate wrote shape [${g.shape}]`);
        const ev = JSON.parse(
          (
            await printedBy(async () =>
              (await cli('eval')).run(['--model', modelPath, '--data', data, '--layout', 'trial,time,channel', '--samples', '50', '--json']),
            )
          ).join(''),
        );
        if (!Number.isFinite(ev.d_h)) throw new Error(`eval: ${JSON.stringify(ev)}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
  {
    // the large-K step path shares the proposal (smc_common.wgsl): forward only
    name: 'encoder proposal on the step path (K = 64, Poisson softplus, inputs) = fused filter: same log-likelihood and ancestors',
    async run(e) {
      const pr = makeProblem({
        R: 2,
        N: 12,
        D: 4,
        DU: 1,
        B: 2,
        T: 30,
        K: 64,
        seed: 21,
        resampling: 'systematic',
        proposal: 'encoder',
        obs: 'poisson',
        obsNonlinearity: 'softplus',
        nonlinearity: 'tanh',
      });
      const inp = gpuInputs(e, pr);
      const fused = smcFilter(e, inp, pr.spec);
      const step = smcFilterSteps(e, inp, pr.spec, { paths: true });
      const [llF, llS] = [await fused.ll.readF32(), await step.ll.readF32()];
      const c = closeness(llS, llF, 0, 1e-5);
      if (c.ratio > 1) throw new Error(`log-likelihood of trial ${c.index}: step ${llS[c.index]} fused ${llF[c.index]}`);
      const [ancF, ancS] = [(await fused.anc.read()) as Uint32Array, (await step.anc!.read()) as Uint32Array];
      const bad = ancF.reduce((n, a, i) => n + (a !== ancS[i] ? 1 : 0), 0);
      if (bad > 0) throw new Error(`${bad} of ${ancF.length} ancestors differ from the fused kernel`);
      for (const t of [inp.theta, inp.y, inp.v, inp.qs, fused.ll, fused.paths, fused.anc, step.ll, step.paths, step.anc]) t?.dispose();
    },
  },
  {
    name: 'encoder proposal without encoder outputs is a clear error before GPU work',
    async run(e) {
      const pr = makeProblem({ ...small, R: 2, DU: 0, K: 8, seed: 5, obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'tanh' });
      const inp = gpuInputs(e, { ...pr, data: { ...pr.data, qs: undefined } });
      let msg = '';
      try {
        smcFilter(e, inp, pr.spec);
      } catch (err) {
        msg = (err as Error).message;
      }
      for (const t of [inp.theta, inp.y, inp.v]) t?.dispose();
      if (!/encoder outputs qs \[mean \(B,T,R\) \| log-variance \(B,T,R\)\] is required/.test(msg))
        throw new Error(`expected the missing encoder outputs to be named, got "${msg}"`);
    },
  },
];
