// Spike-score plots (src/plot/spike-charts.ts): they render, draw one path per trial and source, and
// refuse inputs that do not match.
import { describe, expect, test } from 'vitest';
import { psthPlot, rasterPlot, reachTrajectories } from '../src/plot/spike-charts.js';

const arr = (data: number[], trials: number, time: number, channels: number) => ({ data: Float64Array.from(data), trials, time, channels });

describe('spike-score plots', () => {
  test('reach trajectories: one line per trial in each panel, integrated from velocity', async () => {
    const v = arr([1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1], 3, 2, 2);
    const p = await reachTrajectories(v, v, ['a', 'b', 'b'], 0.5);
    expect(p.width).toBeGreaterThan(400);
    expect(p.svg).toContain('decoded');
    expect((p.svg.match(/<path[^>]*aria-roledescription="line mark"/g) ?? []).length).toBe(6);
    await expect(reachTrajectories(v, arr([1, 0], 1, 1, 2), null, 0.5)).rejects.toThrow(/must match/);
  });

  test('PSTH and raster plots render and check their inputs', async () => {
    const psth = new Map([
      ['x', Float64Array.of(1, 2, 3, 4)],
      ['y', Float64Array.of(0, 1, 0, 1)],
    ]);
    const p = await psthPlot(psth, psth, 2, 2, [0, 1], 20);
    expect(p.svg).toContain('unit 1');
    await expect(psthPlot(psth, psth, 2, 2, [2], 20)).rejects.toThrow(/unit 2 out of range/);
    const counts = arr([0, 1, 2, 3], 1, 2, 2);
    const r = await rasterPlot(counts, counts, 0, 20);
    expect(r.svg).toContain('model rates');
    await expect(rasterPlot(counts, counts, 1, 20)).rejects.toThrow(/trial 1 out of range/);
  });
});
