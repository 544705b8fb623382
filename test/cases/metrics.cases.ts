// GPU cases for the D_stsp mixture-density kernel (shaders/dstsp.wgsl) against the float64 CPU reference.
import { assertClose } from '../../src/autodiff/gradcheck.js';
import { mulberry32, normalSampler } from '../../src/util/random.js';
import { dStsp, dStspGpu, gmmLogDensity, gmmLogDensityGpu } from '../../src/analysis/state-space-divergence.js';
import type { Rows } from '../../src/analysis/series.js';
import type { GpuCase } from './types.js';

function randomRows(rows: number, cols: number, scale: number, seed: number): Rows {
  const g = normalSampler(seed, { radius: 'direct' });
  return { data: Float64Array.from({ length: rows * cols }, () => scale * g.normal()), rows, cols };
}

export const cases: GpuCase[] = [
  {
    name: 'dstsp kernel: log mixture densities match float64 for ragged tiles (dims, samples, components not multiples of 16)',
    async run(engine) {
      for (const [n, T, d, sigma] of [
        [37, 300, 5, 1],
        [16, 257, 16, 1],
        [50, 600, 37, 0.8],
        [1, 1, 1, 1],
        [20, 4100, 3, 1],
      ] as const) {
        const samples = randomRows(n, d, 1.2, n * 7 + d);
        const comps = randomRows(T, d, 1, T + d);
        const want = gmmLogDensity(samples, comps, sigma);
        const got = await gmmLogDensityGpu(engine, samples, comps, sigma);
        // float32 distances: relative 1e-6 of ‖s − μ‖² ~ d, so ~1e-5·d absolute in the log density.
        assertClose(got, want, { atol: 2e-5 * d + 1e-5, rtol: 1e-5, what: `log density n=${n} T=${T} d=${d}` });
      }
    },
  },
  {
    name: 'dstsp kernel: log-sum-exp keeps samples whose float32 density underflows',
    async run(engine) {
      const d = 64;
      const comps = randomRows(200, d, 1, 3);
      // Samples 20 units away in every coordinate: ½‖s − μ‖² ≈ 12800, far below float32's exp range.
      const samples = randomRows(10, d, 1, 4);
      for (let i = 0; i < samples.data.length; i++) samples.data[i] += 20;
      const want = gmmLogDensity(samples, comps, 1);
      const got = await gmmLogDensityGpu(engine, samples, comps, 1);
      for (const v of got) if (!Number.isFinite(v) || v > -1e4) throw new Error(`expected a finite log density below −1e4, got ${v}`);
      assertClose(got, want, { atol: 0, rtol: 1e-5, what: 'far log densities' });
    },
  },
  {
    name: 'D_stsp on the GPU equals the CPU estimate with the same seed (EEG-sized dims)',
    async run(engine) {
      const d = 64;
      const rows = 1500;
      const trueRows = randomRows(rows, d, 1, 11);
      const genRows = randomRows(rows, d, 1, 12);
      const shift = mulberry32(5);
      for (let i = 0; i < genRows.data.length; i++) genRows.data[i] = 1.1 * genRows.data[i] + 0.3 * shift();
      const a = { data: trueRows.data, shape: [rows, d] };
      const b = { data: genRows.data, shape: [rows, d] };
      const opts = { samples: 200, seed: 3 };
      const cpu = dStsp(a, b, opts);
      const gpu = await dStspGpu(engine, a, b, opts);
      if (Math.abs(gpu.value - cpu.value) > 1e-3 * Math.max(1, Math.abs(cpu.value))) {
        throw new Error(`D_stsp GPU ${gpu.value} vs CPU ${cpu.value}`);
      }
      if (!(cpu.value > 0)) throw new Error(`expected a positive KL between different clouds, got ${cpu.value}`);
      const same = await dStspGpu(engine, a, a, opts);
      if (Math.abs(same.value) > 1e-6) throw new Error(`identical series: D_stsp ${same.value}, expected 0`);
    },
  },
];
