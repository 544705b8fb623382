// Training a relu model with raw inputs on Poisson counts (the issue "rank-5 relu model with 2 raw inputs
// on Poisson counts stops with NaN at iteration 3"): the maze-like configuration (R 5, 182 channels of
// counts with mean ≈ 0.3 per bin, T 35, 2 reach-like inputs, softplus link, lr 1e-3), shrunk to 64 units,
// 64 particles (K·R = 320: on software adapters the step path's gradient op, as K 128; on GPUs the
// particle-parallel fused kernels) and one trial per
// batch to run on a software adapter. RAdam's first five updates used to be plain momentum steps lr·m̂
// (PyTorch's): at the start the gradient on n has norm ~7e3 (the input-driven relu units fire strongly),
// so step 1 moved n to 16× its initial scale, the relu latents grew without bound (|z| ~ 2e31 within the
// window) and the loss was NaN at iteration 3. fit now trains RAdam with those steps skipped and
// defaults to Adam (normalised from step 1); both run here, from the default data-driven start.
import { mulberry32 } from '../../src/util/random.js';
import type { Dataset } from '../../src/io/dataset.js';
import { fit } from '../../src/inference/trainer.js';
import { initialiseFromData } from '../../src/models/data-init.js';
import { DEFAULT_CONFIG, LowRankRNN, initialParams, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import type { GpuCase } from './types.js';

/**
 * Reach-like trials: target k mod 8 at angle θ_k; inputs (cos θ, sin θ) on for steps [10, 25);
 * 182 channels of Poisson counts with log-rate log 0.3 ± 0.25 plus a cosine tuning to the target that
 * ramps up while the input is on and decays after it.
 */
function reachCounts(seed: number, trials: number, time: number, D: number): { counts: Dataset; inputs: Dataset } {
  const rand = mulberry32(seed);
  const poisson = (rate: number) => {
    const limit = Math.exp(-rate);
    let k = 0;
    for (let p = rand(); p > limit; p *= rand()) k++;
    return k;
  };
  const tuning = Array.from({ length: D }, () => [2 * rand() - 1, 2 * rand() - 1, Math.log(0.3) + 0.5 * (rand() - 0.5)]);
  const y = new Float32Array(trials * time * D);
  const u = new Float32Array(trials * time * 2);
  for (let k = 0; k < trials; k++) {
    const th = (2 * Math.PI * (k % 8)) / 8;
    for (let t = 0; t < time; t++) {
      const on = t >= 10 && t < 25 ? 1 : 0;
      u[(k * time + t) * 2] = on * Math.cos(th);
      u[(k * time + t) * 2 + 1] = on * Math.sin(th);
      const drive = t < 10 ? 0 : Math.min(1, (t - 10) / 8) * Math.exp(-Math.max(0, t - 25) / 10);
      for (let d = 0; d < D; d++) {
        const [cx, cy, base] = tuning[d];
        y[(k * time + t) * D + d] = poisson(Math.exp(base + 0.8 * drive * (cx * Math.cos(th) + cy * Math.sin(th))));
      }
    }
  }
  return { counts: { data: y, trials, time, channels: D }, inputs: { data: u, trials, time, channels: 2 } };
}

export const cases: GpuCase[] = [
  {
    name: 'a rank-5 relu model with 2 raw inputs trains 200 iterations on Poisson counts (182 channels, mean ≈ 0.3, K 64, lr 1e-3; Adam and RAdam) with every loss finite',
    browser: false,
    async run(engine) {
      const T = 35;
      const { counts, inputs } = reachCounts(1, 16, T, 182);
      const mean = counts.data.reduce((a, v) => a + v, 0) / counts.data.length;
      if (!(mean > 0.2 && mean < 0.45)) throw new Error(`test data: mean count ${mean}, expected about 0.3`);
      const config: ModelConfig = {
        ...DEFAULT_CONFIG,
        rank: 5,
        units: 64,
        obsDim: 182,
        inputDim: 2,
        nonlinearity: 'relu',
        obs: 'poisson',
        obsNonlinearity: 'softplus',
      };
      for (const optimizer of ['adam', 'radam'] as const) {
        const model = new LowRankRNN(engine, config, initialiseFromData(config, initialParams(config, 0), counts));
        try {
          const iterations = 200;
          const result = await fit(engine, model, counts, inputs, {
            iterations,
            particles: 64,
            batch: 1,
            window: T,
            proposal: 'bootstrap',
            optimizer,
            lr: 1e-3,
            lrEnd: 1e-5,
            seed: 0,
            logEvery: 20,
          });
          if (result.history.length !== iterations) throw new Error(`${optimizer}: ${result.history.length} of ${iterations} iterations logged`);
          const bad = result.history.find((h) => !Number.isFinite(h.loss) || !Number.isFinite(h.llPerStep));
          if (bad) throw new Error(`${optimizer}: loss ${bad.loss} at iteration ${bad.iteration}`);
          const params = await model.hostParams();
          for (const [k, v] of Object.entries(params))
            if (!v.every(Number.isFinite)) throw new Error(`${optimizer}: parameter ${k} is not finite after training`);
        } finally {
          model.dispose();
        }
      }
    },
    timeoutMs: 240_000,
  },
];
