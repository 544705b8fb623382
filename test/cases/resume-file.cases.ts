// `fit --resume FILE` through the CLI: a checkpoint file written by one run continues bit for bit
// like an uninterrupted run, with the gradient clipping it was written with; truncated files and model files without optimiser state are refused
// before any GPU work and left untouched. And divergence: the parameters after the error are the
// ones at the last successful readback, exactly.
import { mulberry32 } from '../../src/util/random.js';
import type { Engine } from '../../src/gpu/engine.js';
import { fit } from '../../src/inference/trainer.js';
import { DEFAULT_CONFIG, LowRankRNN, PARAM_NAMES, initialParams, type HostParams, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import { parseModel } from '../../src/models/model-file.js';
import { printedBy } from './cli-output.js';
import type { GpuCase } from './types.js';

const tiny: ModelConfig = {
  ...DEFAULT_CONFIG,
  rank: 2,
  units: 6,
  obsDim: 3,
  inputDim: 0,
  nonlinearity: 'tanh',
  initNoiseX: 0.5,
  initNoiseZ: 0.3,
} as ModelConfig;

function smallData(seed: number, trials: number, time: number, D: number) {
  const rand = mulberry32(seed);
  const data = new Float32Array(trials * time * D);
  for (let k = 0; k < trials; k++)
    for (let t = 0; t < time; t++) for (let d = 0; d < D; d++) data[(k * time + t) * D + d] = Math.sin(0.3 * t + d + k) + 0.2 * (rand() - 0.5);
  return { data, trials, time, channels: D };
}

const copyParams = (p: HostParams): HostParams => Object.fromEntries(PARAM_NAMES.map((k) => [k, Float32Array.from(p[k])])) as HostParams;

/**
 * Train `tiny` with a huge learning rate until fit reports a divergence, and assert that the parameters
 * afterwards equal, bit for bit, those at the last successful readback (or at the start when
 * `fromStart`, for a first step that already overflows), and are finite.
 */
async function expectExactRollback(engine: Engine, lr: number, fromStart: boolean): Promise<void> {
  const ds = smallData(2, 1, 40, 3);
  const model = new LowRankRNN(engine, tiny, initialParams(tiny, 5));
  try {
    const readbacks: { iteration: number; params: HostParams }[] = fromStart ? [{ iteration: 0, params: copyParams(await model.hostParams()) }] : [];
    let message = '';
    try {
      await fit(engine, model, ds, null, {
        iterations: 6,
        particles: 4,
        batch: 1,
        window: 20,
        proposal: 'bootstrap',
        seed: 1,
        logEvery: 1,
        optimizer: 'adam',
        lr,
        lrEnd: lr,
        onProgress: async (p) => void readbacks.push({ iteration: p.iteration, params: copyParams(await model.hostParams()) }),
      });
    } catch (e) {
      message = (e as Error).message;
    }
    const m = /training diverged: (?:loss is \S+ at iteration|a parameter is \S+ after iteration) (\d+); parameters were restored to iteration (\d+)/.exec(
      message,
    );
    if (!m) throw new Error(`expected a divergence error, got "${message}"`);
    const last = readbacks[readbacks.length - 1];
    if (!last) throw new Error(`no readback succeeded before the divergence ("${message}"): the case needs one`);
    if (Number(m[2]) !== last.iteration)
      throw new Error(`error says restored to iteration ${m[2]}, the last successful readback was iteration ${last.iteration}`);
    const after = await model.hostParams();
    for (const k of PARAM_NAMES) {
      const i = after[k].findIndex((v, j) => !Object.is(v, last.params[k][j]));
      if (i >= 0)
        throw new Error(
          `after the divergence ${k}[${i}] is ${after[k][i]}, at the last good readback (iteration ${last.iteration}) it was ${last.params[k][i]}`,
        );
      const bad = after[k].findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new Error(`restored parameter ${k}[${bad}] is ${after[k][bad]}, not finite`);
    }
  } finally {
    model.dispose();
  }
}

export const cases: GpuCase[] = [
  {
    name: 'fit --resume FILE continues bit for bit like an uninterrupted run; truncated or optimizer-less files are refused before GPU work and left untouched',
    browser: false,
    async run() {
      const { mkdtemp, readFile, rm, writeFile } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { saveNpy } = await import('../../src/io/files.js');
      // computed specifier keeps the CLI (and its Node-only plotting) out of the browser bundle
      const fitCli = (await import(/* @vite-ignore */ `../../src/cli/${'fit'}.js`)) as typeof import('../../src/cli/fit.js');
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-resume-'));
      try {
        const ds = smallData(5, 2, 30, 3);
        const data = join(dir, 'y.npy');
        await saveNpy(data, ds.data, [2, 30, 3]);
        const N = 3;
        // constant learning rate: the decay schedule spans --iters, so a run of N then 2N would differ from 2N otherwise
        const common = [
          '--data',
          data,
          '--layout',
          'trial,time,channel',
          '--rank',
          '2',
          '--units',
          '6',
          '--particles',
          '8',
          '--batch',
          '2',
          '--window',
          '10',
          '--lr',
          '0.02',
          '--lr-end',
          '0.02',
          '--seed',
          '11',
          '--log-every',
          '1',
          '--checkpoint-every',
          '1',
          '--json',
        ];
        const fitTo = async (args: string[]) => {
          const code = await printedBy(() => fitCli.run(args));
          return code;
        };
        const ckpt = join(dir, 'ckpt.json');
        const resumed = join(dir, 'resumed.json');
        const straight = join(dir, 'straight.json');
        await fitTo([...common, '--iters', String(N), '--out', ckpt]);
        const ckptText = await readFile(ckpt, 'utf8');
        const c = JSON.parse(ckptText);
        if (c.training?.iterations !== N || !c.training.optimizerState)
          throw new Error(`checkpoint after ${N} iterations records ${c.training?.iterations} iterations, optimizer state ${!!c.training?.optimizerState}`);
        await fitTo([...common, '--iters', String(2 * N), '--resume', ckpt, '--out', resumed]);
        await fitTo([...common, '--iters', String(2 * N), '--out', straight]);
        if ((await readFile(ckpt, 'utf8')) !== ckptText) throw new Error('resuming changed the checkpoint file (--out was another file)');
        const a = JSON.parse(await readFile(resumed, 'utf8'));
        const b = JSON.parse(await readFile(straight, 'utf8'));
        if (a.training.iterations !== 2 * N || b.training.iterations !== 2 * N)
          throw new Error(`iterations: resumed ${a.training.iterations}, straight ${b.training.iterations}`);
        // bit for bit: the JSON text of the parameters (shortest round-trip decimal of each float32)
        type Params = { params: Record<string, unknown> };
        const expectSameParams = (a: Params, b: Params, what: string) => {
          for (const k of Object.keys(b.params)) {
            if (JSON.stringify(a.params[k]) !== JSON.stringify(b.params[k]))
              throw new Error(
                `${what}: resumed run differs from the uninterrupted one in params.${k}:\n${JSON.stringify(a.params[k])}\n${JSON.stringify(b.params[k])}`,
              );
          }
          if (JSON.stringify(Object.keys(a.params).sort()) !== JSON.stringify(Object.keys(b.params).sort()))
            throw new Error(`${what}: resumed and uninterrupted files hold different parameters`);
        };
        expectSameParams(a, b, 'no clipping');
        if (JSON.stringify(a.params) === JSON.stringify(c.params)) throw new Error('the resumed run did not move the parameters');
        if (JSON.stringify(a.training.optimizerState) !== JSON.stringify(b.training.optimizerState))
          throw new Error('optimizer state differs between resumed and uninterrupted runs');
        if (JSON.stringify(a.normalisation) !== JSON.stringify(b.normalisation))
          throw new Error('normalisation differs between resumed and uninterrupted runs');
        const hist = (f: { training: { history: { iteration: number; loss: number; llPerStep: number; gradNorm: number }[] } }) =>
          JSON.stringify(f.training.history.map((e) => [e.iteration, e.loss, e.llPerStep, e.gradNorm]));
        if (hist(a) !== hist(b)) throw new Error(`training history differs:\n${hist(a)}\n${hist(b)}`);
        if (a.training.history.length !== 2 * N) throw new Error(`resumed history has ${a.training.history.length} entries, expected ${2 * N}`);

        // failed resumes: refused while validating (a bogus --backend would fail at engine creation, after),
        // and the file resumed from (also the --out here, as when resuming in place) is left as it was
        const failing = async (file: string, pattern: RegExp) => {
          const before = await readFile(file, 'utf8');
          let message = '';
          await fitCli
            .run([...common, '--iters', String(2 * N), '--resume', file, '--out', file, '--backend', 'no-such-backend'])
            .catch((e: Error) => (message = e.message));
          if (!pattern.test(message)) throw new Error(`resume from ${file}: expected ${pattern}, got "${message}"`);
          if ((await readFile(file, 'utf8')) !== before) throw new Error(`the failed resume changed ${file}`);
        };
        const cut = join(dir, 'cut.json');
        await writeFile(cut, ckptText.slice(0, Math.floor(ckptText.length / 2)));
        await failing(cut, new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON`));
        const noState = join(dir, 'final-model.json');
        const m = JSON.parse(ckptText);
        delete m.training.optimizerState;
        await writeFile(noState, JSON.stringify(m));
        await failing(noState, /final-model\.json: not a checkpoint \(no optimizer state\)/);
        const noTraining = join(dir, 'no-training.json');
        await writeFile(noTraining, JSON.stringify({ ...JSON.parse(ckptText), training: null }));
        await failing(noTraining, /no-training\.json: not a checkpoint \(no optimizer state\)/);
        // the parsed checkpoint is still a valid model file
        parseModel(ckptText, ckpt);

        // --clip is part of the training record: resuming without the flag clips like the uninterrupted run
        const CLIP = 0.05;
        const clipped = [...common, '--clip', String(CLIP)];
        const ckptClip = join(dir, 'ckpt-clip.json');
        await fitTo([...clipped, '--iters', String(N), '--out', ckptClip]);
        const ckptClipText = await readFile(ckptClip, 'utf8');
        if (JSON.parse(ckptClipText).training.clip !== CLIP)
          throw new Error(`checkpoint of a --clip ${CLIP} fit records clip ${JSON.parse(ckptClipText).training.clip}`);
        const resumedClip = join(dir, 'resumed-clip.json');
        const straightClip = join(dir, 'straight-clip.json');
        await fitTo([...common, '--iters', String(2 * N), '--resume', ckptClip, '--out', resumedClip]);
        await fitTo([...clipped, '--iters', String(2 * N), '--out', straightClip]);
        const ac = JSON.parse(await readFile(resumedClip, 'utf8'));
        const bc = JSON.parse(await readFile(straightClip, 'utf8'));
        // the clip binds at every resumed step (norms are recorded before clipping), so dropping it would change them
        const norms = bc.training.history.slice(N).map((e: { gradNorm: number }) => e.gradNorm);
        if (!(norms.length === N && norms.every((g: number) => g > 2 * CLIP)))
          throw new Error(`gradient norms after iteration ${N}: ${norms}; the case needs them well above --clip ${CLIP}`);
        if (ac.training.clip !== CLIP) throw new Error(`the resumed file records clip ${ac.training.clip}, not ${CLIP}`);
        expectSameParams(ac, bc, `--clip ${CLIP}`);
        if (JSON.stringify(ac.params) === JSON.stringify(b.params)) throw new Error('clipped and unclipped runs ended at the same parameters');
        const badClip = join(dir, 'bad-clip.json');
        await writeFile(badClip, JSON.stringify({ ...JSON.parse(ckptClipText), training: { ...JSON.parse(ckptClipText).training, clip: -1 } }));
        await failing(badClip, /bad-clip\.json: training\.clip must be a positive number, got -1/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    timeoutMs: 120_000,
  },
  {
    name: 'fit divergence: the parameters after the error equal, bit for bit, those at the last successful readback, and are finite',
    browser: false,
    run: (engine) => expectExactRollback(engine, 1e30, false),
    timeoutMs: 60_000,
  },
  {
    name: 'fit divergence to non-finite parameters (lr 3e38; the loss before the step was finite): the parameters after the error equal, bit for bit, those at the last successful readback, and are finite',
    browser: false,
    run: (engine) => expectExactRollback(engine, 3e38, true),
    timeoutMs: 60_000,
  },
];
