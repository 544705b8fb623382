// eval-spikes end to end on an NWB session simulated from a known model: the Poisson oscillator teacher's
// counts become spike times of 40 held-in units, 8 more held-out units fire at exp(linear(z_t)) of the
// same latents, and hand velocity is a linear function of them. Scored with the teacher itself as the
// model, the held-out units must be predicted (co-bps > 0), the continuation past each window too
// (fp-bps > 0) and the velocity decoded (R² close to 1), all from the val trials.
import { oscillatorTeacher, simulateTeacher } from '../../src/analysis/teachers.js';
import { serializeModel } from '../../src/models/model-file.js';
import { mulberry32 } from '../../src/util/random.js';
import { printedBy } from './cli-output.js';
import type { GpuCase } from './types.js';

export const cases: GpuCase[] = [
  {
    name: 'eval-spikes on a session simulated from the Poisson oscillator teacher: co-bps > 0, fp-bps > 0, velocity R² > 0.9',
    browser: false,
    timeoutMs: 240_000,
    async run(engine) {
      const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { writeNwb } = await import('../../src/io/nwb.js');
      // a computed specifier keeps the CLI (Node-only) out of the browser bundle
      const { run: evalSpikes } = await (import(/* @vite-ignore */ `../../src/cli/${'eval-spikes'}.js`) as Promise<
        typeof import('../../src/cli/eval-spikes.js')
      >);
      const teacher = oscillatorTeacher('poisson');
      const trials = 60;
      const steps = 35; // 30 scored bins + 5 forward bins
      const w = 0.02;
      const sim = await simulateTeacher(engine, teacher, { trials, steps, seed: 3 });
      const D = teacher.config.obsDim;
      const R = teacher.config.rank;
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
      const velT: number[] = [];
      const vel: number[] = [];
      for (let k = 0; k < trials; k++) {
        for (let t = 0; t < steps; t++) {
          const z = sim.z.subarray((k * steps + t) * R, (k * steps + t + 1) * R);
          const lo = start(k) + t * w;
          // each count becomes that many spikes spread uniformly over the bin
          const spread = (u: number, n: number) => {
            for (let j = 0; j < n; j++) spikeTimes[u].push(lo + rand() * w);
          };
          for (let d = 0; d < D; d++) spread(d, sim.sample[(k * steps + t) * D + d]);
          extra.forEach((g, i) => spread(D + i, poisson(Math.exp(Math.log(0.4) + g[0] * z[0] + g[1] * z[1]))));
          for (let j = 0; j < 20; j++) {
            velT.push(lo + (j + 0.5) / 1000);
            vel.push(3 * z[0] - z[1], z[0] + 2 * z[1]);
          }
        }
      }
      const starts = Array.from({ length: trials }, (_, k) => start(k));
      const bytes = await writeNwb({
        identifier: 'osc',
        description: 'oscillator teacher',
        spikeTimes: spikeTimes.map((s) => s.sort((a, b) => a - b)),
        obsInterval: [0, trials + 2],
        unitColumns: { heldout: spikeTimes.map((_, u) => (u >= D ? 1 : 0)) },
        trials: { start: starts, stop: starts.map((s) => s + steps * w) },
        behaviour: [{ name: 'hand_vel', data: vel, dim: 2, timestamps: velT }],
      });
      const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-nwb-gpu-'));
      try {
        writeFileSync(join(dir, 's.nwb'), bytes);
        writeFileSync(join(dir, 'm.json'), JSON.stringify(serializeModel(teacher.config, teacher.params, null, null)));
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
          ]),
        );
        const out = JSON.parse(lines[lines.length - 1]);
        console.log(`eval-spikes on the teacher's session: ${JSON.stringify(out)}`);
        if (out.trials_eval !== 24 || out.held_out !== 8 || out.held_in !== D) throw new Error(`unexpected split: ${lines.join('\n')}`);
        if (!(out.co_bps > 0.02)) throw new Error(`co-bps ${out.co_bps} should be clearly above the mean-rate model`);
        if (!(out.fp_bps > 0)) throw new Error(`fp-bps ${out.fp_bps} should be above the mean-rate model`);
        if (!(out.vel_r2 > 0.9)) throw new Error(`velocity R² ${out.vel_r2} should be close to 1 for velocity linear in the latents`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
