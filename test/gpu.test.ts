// Runs every GPU case module (test/cases/*.cases.ts) on one engine under Node; then the SMC modules a
// second time on an engine with the hardware adapter's tuning (workgroup sizes, path thresholds), so
// the choices only GPUs make are tested on a software adapter too.
import { afterAll, beforeAll, describe, test } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runCase } from './cases/run-case.js';
import type { CaseModule } from './cases/types.js';

const modules = import.meta.glob<CaseModule>('./cases/*.cases.ts', { eager: true });
const backend = (process.env.LOWRANK_SMC_BACKEND as 'auto') ?? 'auto';
/** The SMC modules, whose kernels and paths depend on the tuning (on a GPU both runs tune alike). */
const GPU_TUNED = ['smc', 'smc-step', 'one-to-one', 'poisson-inputs', 'kalman-reference'];
let engine: Engine;
let gpuTuned: Engine;

beforeAll(async () => {
  engine = await createEngine({ backend });
});
afterAll(() => {
  engine?.destroy();
  gpuTuned?.destroy();
});

const sorted = Object.entries(modules)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([path, mod]) => [path.replace(/^.*\//, '').replace('.cases.ts', ''), mod] as const);
for (const [name, mod] of sorted) {
  describe(name, () => {
    for (const c of mod.cases) test(c.name, () => runCase(engine, c), c.timeoutMs ?? 60_000);
  });
}
for (const [name, mod] of sorted.filter(([n]) => GPU_TUNED.includes(n))) {
  describe(`${name} (GPU tuning)`, () => {
    beforeAll(async () => {
      gpuTuned ??= await createEngine({ backend, tuning: 'gpu' });
    });
    for (const c of mod.cases.filter((c) => !c.onceOnly)) test(c.name, () => runCase(gpuTuned, c), c.timeoutMs ?? 60_000);
  });
}
