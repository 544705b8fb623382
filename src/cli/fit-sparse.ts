import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../gpu/engine.js';
import type { Backend } from '../gpu/acquire.js';
import { parseNpy } from '../io/npy.js';
import { saveNpy, writeFileAtomic } from '../io/files.js';
import { trainFullForce } from '../sparse/fullforce.js';
import { ChaoticEmbedderError } from '../sparse/embedder.js';
import type { SparseRnn, SparseTask } from '../sparse/task.js';
import { trainBptt } from '../sparse/bptt.js';
import { trainCurbd } from '../sparse/curbd.js';
import { evaluateSparse, runSparseRnn } from '../sparse/evaluate.js';

export const summary = "train an RNN on a circuit's outputs and a few sampled neurons (full-FORCE: RLS or ridge; or BPTT)";

const HELP = `lowrank-smc fit-sparse --data DIR --out DIR [options]

DIR is a simulate-motor output (rates.npy, outputs.npy, inputs.npy, circuit.json).
  --method rls|ridge|bptt|curbd  full-FORCE with online RLS (default) or batch ridge on teacher-forced embedder
                         rates, backpropagation through time (Adam on the GPU), or a CURBD-style learner with
                         one unit per sampled neuron (ridge on the neurons' rates; --neurons ignored; use the
                         circuit's --tau 200; --alpha is its per-sample ridge penalty, default 1e-4; then
                         --refine-iters 100 Adam steps on its free-running error, CPU float64; 0: off;
                         --curbd-rate circuit|tanh: its units' rate function, the circuit's own from
                         circuit.json (default when recorded there) or tanh)
  --neurons 300          learner size        --tau 10 (ms)     --dt (ms, default: the data's step)
  --sampled 0            number of circuit neurons used as hints (random, seeded)
  --sampled-indices 1,2  explicit sampled neurons (overrides --sampled)
  --held-out 1,5         held-out conditions (default none)
  --trials 100           RLS training trials  --update-every 2  --alpha 1 (P0 = I/alpha; ridge λ)
  --g 1.5 --gain-in 1 --gain-out 2 --gain-hint 1 (divided by √sampled) --hint-scale 5 --hint-tail 110
  --hint-lead            drive the embedder with h + τ dh/dt, so it follows the hints rather than lagging them
  --hint-orthogonal      hint drive matrix with orthogonal columns (keeps the circuit's principal directions)
  --init-scale 0.5       spread of the shared initial state of every trial
  --chaos-tolerance 0.01  embedder convergence check (distance ratio of two copies; raise for slow τ)
  --per-step             RLS with per-step dispatches instead of one fused dispatch per trial
  On the simulated motor circuit, RLS with --tau 50 --g 1.2 --chaos-tolerance 0.3 --trials 300 converge (see docs/sparse-results.md).
  BPTT: loss = output MSE + lambda · MSE of designated learner units against the sampled neurons
  (normalised to peak |r| = 1 as the hints, times --target-scale; no tail). J starts N(0, g²/n), the
  input weights uniform(±gain-in), the readout at 0; J, input weights, readout and initial state train.
  --lambda 1  --iters 300  --lr 0.01  --clip 1 (joint gradient norm; 0: off)  --target-scale 0.5
  --designated 0,1       learner units matched to the sampled neurons, in order (default 0 … k−1)
  --log-every 10         progress line every this many iterations
  --seed 1  --dims 5 (SVCCA)  --backend auto  --json
Writes DIR/model.json (options, metrics), J.npy, W.npy, Uin.npy, xinit.npy, rnn_rates.npy, rnn_outputs.npy.`;

const list = (s: string | undefined): number[] | undefined =>
  s === undefined || s === ''
    ? undefined
    : s.split(',').map((v) => {
        const x = Number(v);
        if (!Number.isInteger(x)) throw new Error(`expected a comma-separated list of integers, got "${s}"`);
        return x;
      });

export async function loadMotorTask(dir: string): Promise<{ task: SparseTask; dt: number }> {
  const load = async (name: string) => parseNpy(await readFile(join(dir, name)), join(dir, name));
  const [rates, outputs, inputs] = await Promise.all([load('rates.npy'), load('outputs.npy'), load('inputs.npy')]);
  for (const [name, a] of [
    ['rates.npy', rates],
    ['outputs.npy', outputs],
    ['inputs.npy', inputs],
  ] as const) {
    if (a.shape.length !== 3) throw new Error(`${join(dir, name)}: expected conditions × time × channels, got shape [${a.shape.join(', ')}]`);
    if (a.shape[0] !== rates.shape[0] || a.shape[1] !== rates.shape[1]) {
      throw new Error(`${join(dir, name)}: shape [${a.shape.join(', ')}] does not match rates.npy [${rates.shape.join(', ')}] in conditions × time`);
    }
  }
  let dt = 2;
  let rateFunction: SparseTask['rateFunction'];
  try {
    const circuit = JSON.parse(await readFile(join(dir, 'circuit.json'), 'utf8'));
    dt = circuit.dtMs ?? 2;
    rateFunction = circuit.rateFunction;
  } catch {
    // circuit.json is optional; dt then defaults to 2 ms and the rate function is unknown
  }
  const [C, T] = rates.shape;
  return {
    task: {
      conditions: C,
      time: T,
      inputs: inputs.data,
      nInputs: inputs.shape[2],
      outputs: outputs.data,
      nOutputs: outputs.shape[2],
      rates: rates.data,
      nNeurons: rates.shape[2],
      ...(rateFunction ? { rateFunction } : {}),
    },
    dt,
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      out: { type: 'string' },
      method: { type: 'string', default: 'rls' },
      neurons: { type: 'string', default: '300' },
      tau: { type: 'string', default: '10' },
      dt: { type: 'string' },
      sampled: { type: 'string', default: '0' },
      'sampled-indices': { type: 'string' },
      'held-out': { type: 'string' },
      trials: { type: 'string', default: '100' },
      'update-every': { type: 'string', default: '2' },
      alpha: { type: 'string' },
      g: { type: 'string', default: '1.5' },
      'gain-in': { type: 'string', default: '1' },
      'gain-out': { type: 'string', default: '2' },
      'gain-hint': { type: 'string', default: '1' },
      'hint-scale': { type: 'string', default: '5' },
      'hint-tail': { type: 'string', default: '110' },
      'chaos-tolerance': { type: 'string', default: '0.01' },
      'per-step': { type: 'boolean' },
      'hint-lead': { type: 'boolean' },
      'hint-orthogonal': { type: 'boolean' },
      'init-scale': { type: 'string', default: '0.5' },
      lambda: { type: 'string', default: '1' },
      iters: { type: 'string', default: '300' },
      lr: { type: 'string', default: '0.01' },
      clip: { type: 'string', default: '1' },
      'target-scale': { type: 'string', default: '0.5' },
      'refine-iters': { type: 'string', default: '100' },
      'curbd-rate': { type: 'string' },
      designated: { type: 'string' },
      'log-every': { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
      dims: { type: 'string', default: '5' },
      backend: { type: 'string', default: 'auto' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.data || !values.out) throw new Error('--data DIR and --out DIR are required');
  const num = (name: keyof typeof values): number => {
    const v = Number(values[name]);
    if (!Number.isFinite(v)) throw new Error(`--${name} must be a number (got "${values[name]}")`);
    return v;
  };
  const method = values.method;
  if (method !== 'rls' && method !== 'ridge' && method !== 'bptt' && method !== 'curbd') {
    throw new Error(`--method must be rls, ridge, bptt or curbd (got "${method}")`);
  }
  const curbdRate = values['curbd-rate'];
  if (curbdRate !== undefined && curbdRate !== 'circuit' && curbdRate !== 'tanh') throw new Error(`--curbd-rate must be circuit or tanh (got "${curbdRate}")`);
  const { task, dt } = await loadMotorTask(values.data);
  const common = {
    n: num('neurons'),
    tau: num('tau'),
    dt: values.dt ? num('dt') : dt,
    g: num('g'),
    gainIn: num('gain-in'),
    sampled: list(values['sampled-indices']) ?? num('sampled'),
    heldOut: list(values['held-out']) ?? [],
    seed: num('seed'),
  };
  const options =
    method === 'curbd'
      ? {
          method: 'curbd' as const,
          ...common,
          lambda: values.alpha === undefined ? undefined : num('alpha'),
          targetScale: num('target-scale'),
          refineIterations: num('refine-iters'),
          rate: curbdRate as 'circuit' | 'tanh' | undefined,
        }
      : method === 'bptt'
        ? {
            method: 'bptt' as const,
            ...common,
            lambda: num('lambda'),
            iterations: num('iters'),
            lr: num('lr'),
            clip: num('clip'),
            targetScale: num('target-scale'),
            logEvery: num('log-every'),
            ...(values.designated !== undefined ? { designatedUnits: list(values.designated) } : {}),
          }
        : {
            method: method as 'rls' | 'ridge',
            ...common,
            alpha: values.alpha === undefined ? 1 : num('alpha'),
            gainOut: num('gain-out'),
            gainHint: num('gain-hint'),
            hintScale: num('hint-scale'),
            hintTail: num('hint-tail'),
            trials: num('trials'),
            updateEvery: num('update-every'),
            chaosTolerance: num('chaos-tolerance'),
            hintLead: values['hint-lead'] ?? false,
            hintOrthogonal: values['hint-orthogonal'] ?? false,
            initScale: num('init-scale'),
            ...(values['per-step'] ? { fused: false } : {}),
          };
  const engine = await createEngine({ backend: values.backend as Backend });
  try {
    let model: SparseRnn;
    let training: Record<string, unknown> = {};
    if (options.method === 'curbd') {
      model = trainCurbd(task, options);
    } else if (options.method === 'bptt') {
      const fit = await trainBptt(engine, task, {
        ...options,
        onProgress: values.json
          ? undefined
          : (p) =>
              console.log(
                `iteration ${p.iteration}  loss ${p.loss.toExponential(3)}  output mse ` +
                  `${p.outputMse.toExponential(3)}  unit mse ${Number.isNaN(p.unitMse) ? '-' : p.unitMse.toExponential(3)}  grad norm ` +
                  `${Number.isNaN(p.gradNorm) ? '-' : p.gradNorm.toExponential(2)}  ${p.seconds.toFixed(1)} s`,
              ),
      });
      const last = fit.progress[fit.progress.length - 1];
      training = {
        designatedUnits: fit.designatedUnits,
        finalLoss: last.loss,
        finalOutputMse: last.outputMse,
        finalUnitMse: Number.isNaN(last.unitMse) ? null : last.unitMse,
        seconds: last.seconds,
      };
      model = fit;
    } else {
      model = await trainFullForce(engine, task, {
        ...options,
        onTrial: values.json
          ? undefined
          : (i) => {
              if (i.trial % 10 === 0)
                console.log(
                  `trial ${i.trial}  condition ${i.condition}  output mse ` +
                    `${i.outputMse.toExponential(3)}  recurrent mse ${i.recurrentMse.toExponential(3)}`,
                );
            },
      }).catch((e: unknown) => {
        // The library names its options; point to the flags that set them.
        if (e instanceof ChaoticEmbedderError) e.message += ' (flags --gain-out, --gain-hint, --gain-in, --g)';
        throw e;
      });
      training = { chaosRatio: model.chaosRatio };
    }
    const result = await runSparseRnn(engine, model, task.inputs, task.conditions, task.time);
    const metrics = evaluateSparse(task, model, result, num('dims'));
    await mkdir(values.out, { recursive: true });
    const o = values.out;
    await saveNpy(join(o, 'J.npy'), model.J, [model.n, model.n]);
    await saveNpy(join(o, 'W.npy'), model.W, [model.nOutputs, model.n]);
    await saveNpy(join(o, 'Uin.npy'), model.Uin, [model.n, model.nInputs]);
    await saveNpy(join(o, 'xinit.npy'), model.xInit, [model.n]);
    await saveNpy(join(o, 'rnn_rates.npy'), result.rates, [task.conditions, task.time, model.n]);
    await saveNpy(join(o, 'rnn_outputs.npy'), result.outputs, [task.conditions, task.time, model.nOutputs]);
    const summaryJson = {
      options,
      ...(model.rate ? { rate: model.rate } : {}),
      sampled: model.sampled,
      trainConditions: model.trainConditions,
      heldOut: model.heldOut,
      ...training,
      metrics,
      device: engine.info.description,
    };
    await writeFileAtomic(join(o, 'model.json'), JSON.stringify(summaryJson, null, 2) + '\n');
    if (values.json) console.log(JSON.stringify(metrics));
    else
      console.log(
        `SVCCA ${metrics.svcca.mean.toFixed(4)}  train output error ${metrics.trainOutputError.toExponential(3)}  held-out ` +
          `${metrics.heldOutOutputError?.toExponential(3) ?? '-'}`,
      );
  } finally {
    engine.destroy();
  }
  return 0;
}
