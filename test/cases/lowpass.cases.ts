// Low-pass filtered inputs (src/ops/lowpass.ts): the known step response, and the gradient with respect
// to the inputs and the decay parameter against finite differences of the float64 reference.
import { gradCheck } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { lowpass, lowpassReference } from '../../src/ops/lowpass.js';
import type { GpuCase } from './types.js';

/** Step of height h at step t0: v_t = 0 for t ≤ t0, h (1 − a^(t−t0)) after (v_t sees u up to t − 1). */
export function stepResponse(t: number, t0: number, h: number, a: number): number {
  return t <= t0 ? 0 : h * (1 - a ** (t - t0));
}

export const cases: GpuCase[] = [
  {
    name: 'lowpass: the response to a step input is h (1 − a^(t − t0)) from the step on, per sequence and channel',
    async run(engine) {
      const S = 2,
        T = 40,
        C = 3;
      const decays = [0.9, 0.5];
      const u = new Float32Array(S * T * C);
      const t0 = (s: number, c: number) => 3 + 5 * c + s;
      const h = (s: number, c: number) => (c - 1) * 2 + s; // includes a zero step
      for (let s = 0; s < S; s++) for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) u[(s * T + t) * C + c] = t >= t0(s, c) ? h(s, c) : 0;
      const ut = Tensor.fromArray(engine, u, [S, T, C]);
      for (const a of decays) {
        const theta = Tensor.fromArray(engine, [Math.log(-Math.log(a))], [1]);
        const v = await lowpass(ut, theta).readF32();
        const aF = Math.exp(-Math.exp(Math.fround(Math.log(-Math.log(a)))));
        for (let s = 0; s < S; s++) {
          for (let t = 0; t < T; t++) {
            for (let c = 0; c < C; c++) {
              const want = stepResponse(t, t0(s, c), h(s, c), aF);
              const got = v[(s * T + t) * C + c];
              if (Math.abs(got - want) > 1e-5 * Math.max(1, Math.abs(want)))
                throw new Error(`a = ${a}, sequence ${s}, channel ${c}, step ${t}: ${got}, expected ${want}`);
            }
          }
        }
        theta.dispose();
      }
      ut.dispose();
    },
  },
  {
    name: 'lowpass: gradient with respect to the inputs and θ_a matches finite differences',
    async run(engine) {
      const rand = mulberry32(13);
      const shape = [3, 17, 2];
      const u = Float64Array.from({ length: 3 * 17 * 2 }, () => rand() * 2 - 1);
      await gradCheck(engine, {
        name: 'lowpass',
        inputs: [
          { data: u, shape },
          { data: [Math.log(-Math.log(0.8))], shape: [1] },
        ],
        gpu: (_e, [x, th]) => lowpass(x, th),
        reference: ([x, th]) => lowpassReference(x, shape, th[0]),
        atol: 1e-3,
      });
    },
  },
  {
    name: 'lowpass: bad shapes get an error naming the problem',
    async run(engine) {
      const u = Tensor.fromArray(engine, [1, 2, 3, 4], [4]);
      const th = Tensor.fromArray(engine, [0], [1]);
      let message = '';
      try {
        lowpass(u, th);
      } catch (e) {
        message = (e as Error).message;
      }
      if (!/lowpass: inputs must be \[sequences, time, channels\], got shape \[4\]/.test(message)) throw new Error(`unexpected error "${message}"`);
      u.dispose();
      th.dispose();
    },
  },
];
