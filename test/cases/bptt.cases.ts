import { gradCheck } from '../../src/autodiff/gradcheck.js';
import { rateRnnTrials, rateRnnTrialsRef, type RateRnnDims } from '../../src/sparse/bptt-op.js';
import { normalSampler } from '../../src/sparse/linalg.js';
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
      const sizes: RateRnnDims[] = [{ trials: 3, time: 20, n: 8, m: 2, nin: 2 }, { trials: 2, time: 5, n: 70, m: 1, nin: 1 }];
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
