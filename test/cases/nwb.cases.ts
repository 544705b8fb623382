// eval-spikes end to end on NWB sessions simulated from known models: the Poisson oscillator teacher's
// counts become spike times of 40 held-in units, 8 more held-out units fire at exp(linear(z_t)) of the
// same latents, and hand velocity is a linear function of them. Scored with the teacher itself as the
// model, the held-out units must be predicted (co-bps > 0), the continuation past each window too
// (fp-bps > 0) and the velocity decoded (R² close to 1), all from the val trials. The input-driven
// variant is scored with its true condition inputs and with another condition's: the true ones must
// explain the spikes better, in the window and in the forward bins.
import { simulateTeacher } from '../../src/analysis/teacher-simulation.js';
import { oscillatorTeacher, type Teacher } from '../../src/analysis/teachers.js';
import type { Engine } from '../../src/gpu/engine.js';
import { serializeModel } from '../../src/models/model-file.js';
import { mulberry32 } from '../../src/util/random.js';
import { printedBy } from './cli-output.js';
import type { GpuCase } from './types.js';

const TRIALS = 60;
const STEPS = 35; // 30 scored bins + 5 forward bins
const W = 0.02;

/**
 * An NWB session of TRIALS trials of STEPS 20 ms bins simulated from `teacher` (driven by `inputs`
 * [TRIALS, STEPS, DU] when given, written as 1 kHz behaviour series, one per entry of `series`).
 */
async function teacherSession(engine: Engine, teacher: Teacher, series: { name: string; inputs: Float32Array }[] = []): Promise<Uint8Array> {
  const { writeNwb } = await import('../../src/io/nwb.js');
  const sim = await simulateTeacher(engine, teacher, { trials: TRIALS, steps: STEPS, seed: 3, inputs: series[0]?.inputs });
  const D = teacher.config.obsDim;
  const R = teacher.config.rank;
  const DU = teacher.config.inputDim;
  const rand = mulberry32(17);
  const poisson = (rate: number) => {
    const limit = Math.exp(-rate);
    let k = 0;
    for (let p = rand(); p > limit; p *= rand()) k++;
    return k;
  };
  const extra = Array.from({ length: 8 }, () => [2 * rand() - 1, 2 * rand() - 1]);
  const spikeTimes: number[][] = Array.from({ length: D + extra.length }, () => []);
  const start = (k: number) => 1 + k;
  const ms: number[] = [];
  const vel: number[] = [];
  const u: number[][] = series.map(() => []);
  for (let k = 0; k < TRIALS; k++) {
    for (let t = 0; t < STEPS; t++) {
      const z = sim.z.subarray((k * STEPS + t) * R, (k * STEPS + t + 1) * R);
      const lo = start(k) + t * W;
      // each count becomes that many spikes spread uniformly over the bin
      const spread = (unit: number, n: number) => {
        for (let j = 0; j < n; j++) spikeTimes[unit].push(lo + rand() * W);
      };
      for (let d = 0; d < D; d++) spread(d, sim.sample[(k * STEPS + t) * D + d]);
      extra.forEach((g, i) => spread(D + i, poisson(Math.exp(Math.log(0.4) + g[0] * z[0] + g[1] * z[1]))));
      for (let j = 0; j < 20; j++) {
        ms.push(lo + (j + 0.5) / 1000);
        vel.push(3 * z[0] - z[1], z[0] + 2 * z[1]);
        series.forEach((s, i) => u[i].push(...s.inputs.subarray((k * STEPS + t) * DU, (k * STEPS + t + 1) * DU)));
      }
    }
  }
  const starts = Array.from({ length: TRIALS }, (_, k) => start(k));
  return writeNwb({
    identifier: teacher.name,
    description: 'teacher session',
    spikeTimes: spikeTimes.map((s) => s.sort((a, b) => a - b)),
    obsInterval: [0, TRIALS + 2],
    unitColumns: { heldout: spikeTimes.map((_, i) => (i >= D ? 1 : 0)) },
    trials: { start: starts, stop: starts.map((s) => s + STEPS * W) },
    behaviour: [{ name: 'hand_vel', data: vel, dim: 2, timestamps: ms }, ...series.map((s, i) => ({ name: s.name, data: u[i], dim: DU, timestamps: ms }))],
  });
}

/** Write the session and the teacher's model file, run eval-spikes on them, return its JSON. */
async function evalTeacher(teacher: Teacher, bytes: Uint8Array, extraArgs: string[][]): Promise<Record<string, number>[]> {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  // a computed specifier keeps the CLI (Node-only) out of the browser bundle
  const { run: evalSpikes } = await (import(/* @vite-ignore */ `../../src/cli/${'eval-spikes'}.js`) as Promise<typeof import('../../src/cli/eval-spikes.js')>);
  const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-nwb-gpu-'));
  try {
    writeFileSync(join(dir, 's.nwb'), bytes);
    writeFileSync(join(dir, 'm.json'), JSON.stringify(serializeModel(teacher.config, teacher.params, null, null)));
    const outs = [];
    for (const extra of extraArgs) {
      const lines = await printedBy(() =>
        evalSpikes([
          '--model',
          join(dir, 'm.json'),
          '--data',
          join(dir, 's.nwb'),
          '--bin-ms',
          '20',
          '--align',
          'start_time',
          '--align-window',
          '0,600',
          '--forward-ms',
          '100',
          '--held-out-neurons',
          'file',
          '--split',
          '0.6,0.4,0',
          '--particles',
          '64',
          '--json',
          ...extra,
        ]),
      );
      outs.push(JSON.parse(lines[lines.length - 1]));
    }
    return outs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const cases: GpuCase[] = [
  {
    name: 'eval-spikes on a session simulated from the Poisson oscillator teacher: co-bps > 0, fp-bps > 0, velocity R² > 0.9',
    browser: false,
    timeoutMs: 240_000,
    async run(engine) {
      const teacher = oscillatorTeacher('poisson');
      const [out] = await evalTeacher(teacher, await teacherSession(engine, teacher), [[]]);
      console.log(`eval-spikes on the teacher's session: ${JSON.stringify(out)}`);
      if (out.trials_eval !== 24 || out.held_out !== 8 || out.held_in !== teacher.config.obsDim) throw new Error(`unexpected split: ${JSON.stringify(out)}`);
      if (!(out.co_bps > 0.02)) throw new Error(`co-bps ${out.co_bps} should be clearly above the mean-rate model`);
      if (!(out.fp_bps > 0)) throw new Error(`fp-bps ${out.fp_bps} should be above the mean-rate model`);
      if (!(out.vel_r2 > 0.9)) throw new Error(`velocity R² ${out.vel_r2} should be close to 1 for velocity linear in the latents`);
    },
  },
  {
    name: "eval-spikes with condition inputs from the session: the true inputs beat another condition's, in the window and forward",
    browser: false,
    timeoutMs: 300_000,
    async run(engine) {
      // the oscillator driven by 2-d condition pulses (cos θ, sin θ) through Wu = m G, read out also from them (Bv)
      const base = oscillatorTeacher('poisson');
      const { units: N, obsDim: D } = base.config;
      const R = 2;
      const rand = mulberry32(5);
      const wu = new Float32Array(N * 2);
      for (let i = 0; i < N; i++) for (let j = 0; j < 2; j++) wu[i * 2 + j] = 2 * base.params.m[i * R + j];
      const teacher: Teacher = {
        ...base,
        name: 'osc-poisson-inputs',
        config: { ...base.config, inputDim: 2, readoutFromInputs: true },
        params: { ...base.params, wu, Bv: Float32Array.from({ length: D * 2 }, () => rand() - 0.5) },
      };
      // condition k mod 4 at angle θ = kπ/2, on in bins [3, 10) and again in [28, 33) (across the window's end)
      const pulses = (shift: number) => {
        const u = new Float32Array(TRIALS * STEPS * 2);
        for (let k = 0; k < TRIALS; k++) {
          const th = (((k + shift) % 4) * Math.PI) / 2;
          for (let t = 0; t < STEPS; t++) {
            if ((t >= 3 && t < 10) || (t >= 28 && t < 33)) u.set([Math.cos(th), Math.sin(th)], (k * STEPS + t) * 2);
          }
        }
        return u;
      };
      const bytes = await teacherSession(engine, teacher, [
        { name: 'condition_input', inputs: pulses(0) },
        { name: 'other_input', inputs: pulses(2) },
      ]);
      const [right, wrong] = await evalTeacher(teacher, bytes, [
        ['--inputs', 'condition_input'],
        ['--inputs', 'other_input'],
      ]);
      console.log(`eval-spikes with the true inputs: ${JSON.stringify(right)}; with the opposite condition's: ${JSON.stringify(wrong)}`);
      if (!(right.co_bps > 0.02)) throw new Error(`co-bps ${right.co_bps} should be clearly above the mean-rate model`);
      if (!(right.vel_r2 > 0.9)) throw new Error(`velocity R² ${right.vel_r2} should be close to 1 for velocity linear in the latents`);
      if (!(right.ll_per_step > wrong.ll_per_step + 0.05))
        throw new Error(`log-likelihood per step with the true inputs ${right.ll_per_step} should beat the wrong inputs' ${wrong.ll_per_step}`);
      if (!(right.fp_bps > 0 && right.fp_bps > wrong.fp_bps + 0.02))
        throw new Error(`fp-bps with the true inputs ${right.fp_bps} should be > 0 and beat the wrong inputs' ${wrong.fp_bps}`);
    },
  },
];
