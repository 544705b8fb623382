/**
 * `lowrank-smc bench sparse-rls`: RLS update throughput (updates/s) of the sparse-neuron trainers at
 * N = 300 and 1000: the GPU per-step dispatches (gain, coef, rank-1 update), the GPU fused trial kernel
 * (one dispatch runs T learner steps with an update at every step, network step included) and the
 * float64 CPU implementation of the same update (src/sparse/rls-cpu.ts).
 */
import type { BenchContext, BenchLine } from './context.js';
import type { Engine } from '../src/gpu/engine.js';
import { FUSED_TRIAL_MAX_ROWS, fusedTrialBytes, rlsStep, rlsTrial } from '../src/sparse/kernels.js';
import { createRlsState, rlsUpdateCpu } from '../src/sparse/rls-cpu.js';
import { normalSampler } from '../src/util/random.js';
import { median } from '../src/analysis/stats.js';
import { timeGpu } from './timing.js';

export const summary = 'RLS updates/s at N = 300 and 1000: GPU per-step, GPU fused trial, CPU float64';

export const options = {
  sizes: { type: 'string', default: '300,1000' },
  outputs: { type: 'string', default: '4' },
  steps: { type: 'string' },
} as const;

export const usage = `  --sizes 300,1000   network sizes N
  --outputs 4        readout rows (rows of Jw = N + outputs)
  --steps T          updates per timed sample (default 200, 20 on a software adapter)`;

export async function* runBench(engine: Engine, ctx: BenchContext): AsyncIterable<BenchLine> {
  const sizes = String(ctx.values.sizes).split(',').map(Number);
  const m = Number(ctx.values.outputs);
  const steps = ctx.values.steps ? Number(ctx.values.steps) : ctx.software ? 20 : 200;
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 2) throw new Error(`--sizes: ${n} is not an integer ≥ 2`);
    const rows = n + m;
    const rng = normalSampler(n);
    const rHost = Float32Array.from({ length: n }, () => Math.tanh(rng.normal()));
    const P0 = new Float32Array(n * n);
    for (let i = 0; i < n; i++) P0[i * n + i] = 1;
    const buf = {
      P: engine.upload(P0),
      Jw: engine.upload(new Float32Array(rows * n)),
      r: engine.upload(rHost),
      cur: engine.upload(new Float32Array(rows)),
      tcur: engine.upload(Float32Array.from({ length: n }, () => rng.normal())),
      sig: engine.upload(Float32Array.from({ length: m }, () => rng.normal())),
      k: engine.alloc(n * 4),
      e: engine.alloc(rows * 4),
      coef: engine.upload(new Float32Array(4)),
    };
    const perStep = await timeGpu(
      engine,
      () => {
        for (let s = 0; s < steps; s++) rlsStep(engine, buf, { n, rows, teachRows: n, t: 0, sigBatch: 1, sigB0: 0, d: m, sigOff: 0, outFrom: n });
      },
      { runs: ctx.runs, warmup: ctx.warmup },
    );
    yield { bench: 'sparse-rls', impl: 'gpu-per-step', n, rows, updates_per_s: (steps * 1000) / perStep, ms_per_update: perStep / steps };
    for (const b of Object.values(buf)) engine.release(b);

    if (rows <= FUSED_TRIAL_MAX_ROWS && fusedTrialBytes(n, rows) <= engine.limits.maxComputeWorkgroupStorageSize) {
      const nin = 2;
      const fixedHost = Float32Array.from({ length: n * nin + n }, () => 0.5 * rng.normal());
      const fb = {
        JwT: engine.upload(new Float32Array(rows * n)),
        P: engine.upload(P0),
        fixed: engine.upload(fixedHost),
        sigIn: engine.upload(Float32Array.from({ length: steps * nin }, () => rng.normal())),
        rec: engine.upload(Float32Array.from({ length: steps * 2 * n }, () => rng.normal())),
        sigEmb: engine.upload(Float32Array.from({ length: steps * (nin + m) }, () => rng.normal())),
        mask: engine.upload(new Uint32Array(steps).fill(1)),
        stats: engine.alloc(3 * 4),
      };
      const fused = await timeGpu(
        engine,
        () => {
          rlsTrial(engine, fb, { n, rows, nin, time: steps, conds: 1, cond: 0, dEmb: nin + m, outOff: nin, trial: 0, maskOff: 0, dtTau: 0.1 });
        },
        { runs: ctx.runs, warmup: ctx.warmup },
      );
      yield {
        bench: 'sparse-rls',
        impl: 'gpu-fused-trial',
        n,
        rows,
        updates_per_s: (steps * 1000) / fused,
        ms_per_update: fused / steps,
        includes: 'learner step',
      };
      for (const b of Object.values(fb)) engine.release(b);
    } else yield { note: `n = ${n}: the fused trial kernel does not fit one workgroup (rows ${rows} > ${FUSED_TRIAL_MAX_ROWS} or workgroup memory)` };

    const state = createRlsState(n, rows, 1);
    const r64 = Float64Array.from(rHost);
    const target = Float64Array.from({ length: rows }, () => rng.normal());
    const scratch = { k: new Float64Array(n), e: new Float64Array(rows) };
    const cpuSteps = Math.max(2, Math.round(steps / 4));
    const samples: number[] = [];
    for (let run = 0; run < Math.max(1, ctx.runs); run++) {
      const t0 = performance.now();
      for (let s = 0; s < cpuSteps; s++) rlsUpdateCpu(state, r64, target, scratch);
      samples.push((performance.now() - t0) / cpuSteps);
    }
    const cpu = median(samples);
    yield { bench: 'sparse-rls', impl: 'cpu-f64', n, rows, updates_per_s: 1000 / cpu, ms_per_update: cpu };
  }
}
