import { assertClose, gradCheck } from '../../src/autodiff/gradcheck.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { rateRnnTrials, rateRnnTrialsRef, type RateRnnDims } from '../../src/sparse/bptt-op.js';
import { trainBptt, type BpttOptions } from '../../src/sparse/bptt.js';
import { evaluateSparse, normalisedOutputError, runSparseRnn } from '../../src/sparse/evaluate.js';
import { normalSampler } from '../../src/util/random.js';
import { patternTask, tinyMotorTask, withSimulatedCircuit } from './sparse.cases.js';
import { printedBy } from './cli-output.js';
import type { GpuCase } from './types.js';

/** A small random rate network and trial batch: J, B, W, x_init, inputs (row-major). */
function smallNetwork(d: RateRnnDims, seed: number): number[][] {
  const rng = normalSampler(seed);
  const normal = (count: number, sd: number) => Array.from({ length: count }, () => sd * rng.normal());
  return [normal(d.n * d.n, 1.5 / Math.sqrt(d.n)), normal(d.n * d.nin, 1), normal(d.m * d.n, 0.5), normal(d.n, 0.5), normal(d.trials * d.time * d.nin, 1)];
}

export const cases: GpuCase[] = [
  {
    name: 'bptt: fused rate-RNN op (rates and outputs) matches float64 and finite differences for J, B, W, x_init',
    async run(engine) {
      // N = 8, T = 20; and N = 70 (two units per lane: the lane-ownership loop) over a few steps.
      const sizes: RateRnnDims[] = [
        { trials: 3, time: 20, n: 8, m: 2, nin: 2 },
        { trials: 2, time: 5, n: 70, m: 1, nin: 1 },
      ];
      const dtTau = 0.2;
      for (const d of sizes) {
        const data = smallNetwork(d, 7);
        const shapes = [[d.n, d.n], [d.n, d.nin], [d.m, d.n], [d.n], [d.trials, d.time, d.nin]];
        for (const which of ['rates', 'outputs'] as const) {
          await gradCheck(engine, {
            name: `rateRnnTrials ${which} (n = ${d.n})`,
            inputs: data.map((v, i) => ({ data: v, shape: shapes[i], differentiable: i < 4 })),
            gpu: (_e, [J, B, W, x0, u]) => rateRnnTrials(J, B, W, x0, u, dtTau)[which],
            reference: ([J, B, W, x0, u]) => rateRnnTrialsRef(J, B, W, x0, u, d, dtTau)[which],
          });
        }
      }
    },
  },
];

cases.push({
  name: 'bptt: learns a sine and a two-output pattern; the saved model replays the trained outputs',
  timeoutMs: 90_000,
  async run(engine) {
    for (const outputs of [1, 2] as const) {
      const task = patternTask(outputs);
      const model = await trainBptt(engine, task, { n: 50, iterations: 300, lr: 0.01, seed: 3, logEvery: 50 });
      const run = await runSparseRnn(engine, model, task.inputs, 1, task.time);
      const err = normalisedOutputError(run.outputs, task.outputs, [0], task.time, outputs);
      // The readout starts at 0 (error 1); full-FORCE's test asks for the same bound.
      if (!(err < 0.02)) throw new Error(`${outputs} output(s): normalised output error ${err} (expected < 0.02)`);
      const p = model.progress;
      const last = p[p.length - 1];
      if (p.length !== 300 || !(last.loss < p[0].loss / 10))
        throw new Error(`${p.length} iterations recorded, loss ${p[0].loss} → ${last.loss} (expected 300, a tenfold fall)`);
      // eval-sparse's forward (runSparseRnn) of the saved weights equals the trainer's op.
      const t = (data: Float32Array, shape: number[]) => Tensor.fromArray(engine, data, shape);
      const args = [
        t(model.J, [50, 50]),
        t(model.Uin, [50, 1]),
        t(model.W, [outputs, 50]),
        t(model.xInit, [50]),
        t(Float32Array.from(task.inputs), [1, task.time, 1]),
      ];
      const op = rateRnnTrials(args[0], args[1], args[2], args[3], args[4], model.dt / model.tau);
      assertClose(run.outputs, await op.outputs.readF32(), { atol: 1e-4, rtol: 1e-3, what: 'replayed outputs' });
      assertClose(run.rates, await op.rates.readF32(), { atol: 1e-4, rtol: 1e-3, what: 'replayed rates' });
      for (const x of [...args, op.rates, op.outputs]) x.dispose();
    }
  },
});

cases.push({
  name: 'bptt: deterministic from the seed; bad options are rejected with clear errors',
  async run(engine) {
    const task = patternTask(2, 60);
    const opts = { n: 16, iterations: 5, lr: 0.01, seed: 9, logEvery: 5 };
    const a = await trainBptt(engine, task, opts);
    const b = await trainBptt(engine, task, opts);
    for (const key of ['J', 'W', 'Uin', 'xInit'] as const) if (a[key].some((v, i) => v !== b[key][i])) throw new Error(`same seed gave different ${key}`);
    const c = await trainBptt(engine, task, { ...opts, seed: 10 });
    if (c.J.every((v, i) => v === a.J[i])) throw new Error('another seed gave the same J');
    const expectError = async (o: BpttOptions, pattern: RegExp) => {
      try {
        await trainBptt(engine, task, o);
      } catch (e) {
        if (pattern.test((e as Error).message)) return;
        throw e;
      }
      throw new Error(`expected an error matching ${pattern}`);
    };
    await expectError({ ...opts, lr: -1 }, /lr must be a positive number/);
    await expectError({ ...opts, lambda: Number.NaN }, /lambda must be a number/);
    await expectError({ ...opts, iterations: 0 }, /iterations must be a positive integer/);
    await expectError({ ...opts, sampled: [0], designatedUnits: [16] }, /designated units must be distinct integers in \[0, 16\)/);
    await expectError({ ...opts, sampled: [0], designatedUnits: [1, 2] }, /2 designated units for 1 sampled neurons/);
  },
});

// On a tiny simulated circuit with every neuron sampled, matching designated units to the neurons
// (λ = 1) gives the learner more circuit-like population dynamics than output-only training (λ = 0).
cases.push({
  name: 'bptt: with all neurons sampled, λ > 0 gives higher SVCCA than output-only training on the motor circuit',
  timeoutMs: 90_000,
  async run(engine) {
    const nBio = 30;
    const task = tinyMotorTask(nBio);
    const result: Record<number, number> = {};
    for (const lambda of [0, 1]) {
      const model = await trainBptt(engine, task, { n: 40, tau: 50, dt: 4, iterations: 200, lr: 0.02, seed: 1, sampled: nBio, lambda, logEvery: 50 });
      const ev = evaluateSparse(task, model, await runSparseRnn(engine, model, task.inputs, task.conditions, task.time));
      if (!(ev.trainOutputError < 0.3)) throw new Error(`λ = ${lambda}: normalised training output error ${ev.trainOutputError.toFixed(3)} (expected < 0.3)`);
      result[lambda] = ev.svcca.mean;
    }
    if (!(result[1] > result[0] + 0.1))
      throw new Error(`SVCCA with λ = 1 (${result[1].toFixed(3)}) does not exceed output-only training (${result[0].toFixed(3)}) by 0.1`);
  },
});

cases.push({
  name: 'bptt CLI: fit-sparse --method bptt writes a model that eval-sparse evaluates exactly as the fit did',
  browser: false,
  timeoutMs: 90_000,
  async run() {
    await withSimulatedCircuit('bptt', async ({ data, out, fitCli, evalCli, readFile, join }) => {
      const fitArgs = [
        '--data',
        data,
        '--out',
        out,
        '--method',
        'bptt',
        '--neurons',
        '24',
        '--tau',
        '50',
        '--sampled',
        '5',
        '--held-out',
        '3',
        '--iters',
        '20',
        '--lr',
        '0.02',
        '--lambda',
        '2',
        '--json',
      ];
      for (const [args, pattern] of [
        [['--method', 'sgd'], /--method must be rls, ridge, bptt or curbd/],
        [['--lambda=-1'], /lambda must be a number ≥ 0/],
      ] as const) {
        let message = '';
        await fitCli.run([...fitArgs, ...args]).catch((e: Error) => (message = e.message));
        if (!pattern.test(message)) throw new Error(`fit-sparse ${args.join(' ')}: expected ${pattern}, got "${message}"`);
      }
      const fitted = JSON.parse((await printedBy(() => fitCli.run(fitArgs))).at(-1)!);
      const meta = JSON.parse(await readFile(join(out, 'model.json'), 'utf8'));
      if (meta.options.method !== 'bptt' || meta.options.lambda !== 2 || meta.designatedUnits.join() !== '0,1,2,3,4' || meta.heldOut.join() !== '3') {
        throw new Error(
          `model.json does not record the BPTT fit: ${JSON.stringify({ options: meta.options, designatedUnits: meta.designatedUnits, heldOut: meta.heldOut })}`,
        );
      }
      const evaluated = JSON.parse((await printedBy(() => evalCli.run(['--data', data, '--model', out, '--json']))).at(-1)!);
      assertClose(
        [evaluated.svcca.mean, evaluated.trainOutputError, evaluated.heldOutOutputError],
        [fitted.svcca.mean, fitted.trainOutputError, fitted.heldOutOutputError],
        { atol: 1e-6, rtol: 1e-5, what: 'eval-sparse vs fit-sparse metrics' },
      );
    });
  },
});
