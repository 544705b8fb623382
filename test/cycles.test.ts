// k-cycles of piecewise-linear maps (src/analysis/cycles.ts): a known answer and the brute-force oracle.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { mulberry32 } from '../src/util/random.js';
import { bruteForceCycles, findCycles, type Cycle } from '../src/analysis/cycles.js';
import type { ReluUnits } from '../src/analysis/fp-model.js';
import { run as fixedPointsCli } from '../src/cli/fixed-points.js';

/** Tent map F(z) = 1 − 2|z| = 1 − 2 relu(z) − 2 relu(−z). */
const tent: ReluUnits = {
  R: 1,
  M: 2,
  U: Float64Array.from([1, -1]),
  V: Float64Array.from([-2, -2]),
  thr: Float64Array.from([0, 0]),
  A: Float64Array.from([0]),
  b: Float64Array.from([1]),
};

/** A damped rotation by `angle` plus M random ReLU units (R = 2). */
function rotatingNet(seed: number, M: number, angle: number): ReluUnits {
  const rand = mulberry32(seed);
  const g = () => 2 * rand() - 1;
  const rho = 1.1;
  return {
    R: 2,
    M,
    A: Float64Array.from([rho * Math.cos(angle), -rho * Math.sin(angle), rho * Math.sin(angle), rho * Math.cos(angle)]),
    b: Float64Array.from([0.1 * g(), 0.1 * g()]),
    U: Float64Array.from({ length: 2 * M }, g),
    V: Float64Array.from({ length: 2 * M }, () => 0.8 * g()),
    thr: Float64Array.from({ length: M }, () => 0.5 * g()),
  };
}

const key = (c: Cycle) => c.points.map((z) => z.map((x) => x.toFixed(6)).join(',')).join(' | ');

describe('k-cycles (SCYFI-style search)', () => {
  it('tent map: the one 2-cycle {−1/5, 3/5} (unstable, multiplier −4) and the two fixed points', () => {
    const two = findCycles(tent, 2, { restarts: 50, seed: 3 });
    expect(two.cycles).toHaveLength(1);
    const c = two.cycles[0];
    expect(c.order).toBe(2);
    expect(c.points[0][0]).toBeCloseTo(-0.2, 12);
    expect(c.points[1][0]).toBeCloseTo(0.6, 12);
    expect(c.stability).toBe('unstable');
    expect(c.eigenvalues[0].re).toBeCloseTo(-4, 10);
    const one = findCycles(tent, 1, { restarts: 50, seed: 3 });
    expect(one.cycles.map((x) => x.points[0][0]).sort((a, b) => a - b)).toEqual([expect.closeTo(-1, 12), expect.closeTo(1 / 3, 12)]);
  });

  it('finds every cycle the brute-force oracle finds on random rotating networks (k = 2, 3)', () => {
    let total = 0;
    for (const [seed, M, k] of [
      [1, 5, 2],
      [2, 5, 3],
      [3, 4, 3],
      [4, 6, 2],
      [5, 5, 3],
    ] as const) {
      const net = rotatingNet(seed, M, (2 * Math.PI) / k + 0.05);
      const oracle = bruteForceCycles(net, k).map(key).sort();
      const found = findCycles(net, k, { restarts: 400, seed }).cycles;
      for (const c of found) {
        expect(c.order).toBe(k);
        expect(c.points).toHaveLength(k);
      }
      expect(found.map(key).sort()).toEqual(oracle);
      total += oracle.length;
      console.log(`seed ${seed} M ${M} k ${k}: ${oracle.length} cycles (${found.map((c) => c.stability).join(', ')})`);
    }
    expect(total).toBeGreaterThan(2); // the cases do have cycles to find
  });

  it('rejects a non-positive or fractional order', () => {
    expect(() => findCycles(tent, 0)).toThrow(/order k must be a positive integer/);
    expect(() => findCycles(tent, 1.5)).toThrow(/order k must be a positive integer/);
  });

  it('fixed-points --cycles 3 --cpu --json on the tent map as a generic model file: both 3-cycles (2³ − 2 points)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-cycles-'));
    const file = join(dir, 'tent.json');
    writeFileSync(file, JSON.stringify({ R: 1, N: 2, a: 0, U: [[1], [-1]], V: [[-2, -2]], h: [0, 0], hz: [-1], nonlinearity: 'relu' }));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await fixedPointsCli(['--model', file, '--cycles', '3', '--cpu', '--json'])).toBe(0);
      const out = JSON.parse(String(log.mock.calls.at(-1)?.[0]));
      expect(out.count).toBe(2);
      const orders = out.cycles.map((c: Cycle) => c.order).sort();
      expect(orders).toEqual([2, 3, 3]);
      const three = out.cycles.filter((c: Cycle) => c.order === 3).map((c: Cycle) => c.points.map((z) => z[0]));
      expect(three.flat().sort((a: number, b: number) => a - b)).toEqual([-5 / 9, -3 / 7, -1 / 9, 1 / 7, 5 / 7, 7 / 9].map((x) => expect.closeTo(x, 10)));
    } finally {
      log.mockRestore();
    }
    await expect(fixedPointsCli(['--model', file, '--cycles', '0', '--cpu'])).rejects.toThrow(/--cycles: expected a positive integer/);
  });
});
