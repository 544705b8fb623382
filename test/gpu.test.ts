// Runs every GPU case module (test/cases/*.cases.ts) on one engine under Node.
import { afterAll, beforeAll, describe, test } from 'vitest';
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { runCase } from './cases/run-case.js';
import type { CaseModule } from './cases/types.js';

const modules = import.meta.glob<CaseModule>('./cases/*.cases.ts', { eager: true });
let engine: Engine;

beforeAll(async () => {
  engine = await createEngine({ backend: (process.env.LOWRANK_SMC_BACKEND as 'auto') ?? 'auto' });
});
afterAll(() => engine?.destroy());

for (const [path, mod] of Object.entries(modules).sort(([a], [b]) => a.localeCompare(b))) {
  describe(path.replace(/^.*\//, '').replace('.cases.ts', ''), () => {
    for (const c of mod.cases) test(c.name, () => runCase(engine, c), c.timeoutMs ?? 60_000);
  });
}
