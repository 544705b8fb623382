// CPU tests of the on-disk cache of the stability-optimised circuit (src/sparse/circuit-cache.ts): the
// cached circuit is the optimised one bit for bit, and a file made with other options is not reused.
import { describe, expect, test } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedCircuit } from '../src/sparse/circuit-cache.js';
import { stabilityOptimisedCircuit } from '../src/sparse/circuit.js';

describe('circuit cache', () => {
  test('the second call loads the first one’s circuit exactly; other options are a different file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'soc-cache-'));
    try {
      const options = { n: 16, seed: 3, maxIterations: 40 };
      const direct = stabilityOptimisedCircuit(options);
      const first = await cachedCircuit(options, dir);
      expect(first.cached).toBe(false);
      const second = await cachedCircuit(options, dir);
      expect(second.cached).toBe(true);
      expect(second.path).toBe(first.path);
      expect(Array.from(second.soc.w)).toEqual(Array.from(direct.w));
      expect(second.soc).toMatchObject({ n: 16, ne: direct.ne, abscissa: direct.abscissa, iterations: direct.iterations });
      const other = await cachedCircuit({ ...options, seed: 4 }, dir);
      expect(other.cached).toBe(false);
      expect(other.path).not.toBe(first.path);
      // No temporary files are left behind by the atomic writes.
      expect(readdirSync(dir).sort()).toEqual([first.path, other.path].map((p) => p.slice(dir.length + 1)).sort());
      // A damaged file is recomputed and rewritten, not trusted.
      writeFileSync(first.path, '{"key": {"format": 1}, "n": 16, "w": [1, 2]}');
      const again = await cachedCircuit(options, dir);
      expect(again.cached).toBe(false);
      expect(Array.from(again.soc.w)).toEqual(Array.from(direct.w));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
