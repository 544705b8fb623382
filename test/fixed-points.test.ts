// Fixed points on the CPU (float64 reference of the same vertex method) against the brute-force
// oracles, the teacher's known answer, input handling and error messages. GPU runs: test/cases.
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { findFixedPoints, fixedPointsOfModel, teacherToRnn, type PiecewiseLinearRnn } from '../src/analysis/fixed-points.js';
import { bruteForceRegionCount, classify } from '../src/analysis/fp-cpu.js';
import { enumerateRegions } from '../src/analysis/fp-planes.js';
import { evalMap, expandToReluUnits } from '../src/analysis/fp-model.js';
import { checkAgainstBruteForce, degenerateNetwork, randomNetwork } from './cases/fixed-points.cases.js';
import { loadModel, toJson } from '../src/cli/fixed-points.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedData } from './shared-data.js';

const teacher = JSON.parse(readFileSync(sharedData('teacher_reach_rank2.json'), 'utf8'));

describe('fixed points (CPU float64 vertex method)', () => {
  test('equal to brute force on random relu networks, N ≤ 16, R ≤ 3', async () => {
    let points = 0;
    for (const [N, R, seed] of [
      [16, 1, 1],
      [16, 2, 2],
      [14, 2, 3],
      [12, 3, 4],
      [16, 3, 5],
      [9, 3, 6],
    ] as const) {
      points += (await checkAgainstBruteForce(null, `relu N=${N} R=${R}`, randomNetwork(N, R, 'relu', seed))).count;
    }
    expect(points).toBeGreaterThan(3);
  });

  test('equal to brute force on clipped relu networks (two relu units each), with and without input', async () => {
    for (const [N, R, seed] of [
      [8, 2, 11],
      [7, 3, 12],
      [8, 1, 14],
    ] as const) {
      await checkAgainstBruteForce(null, `clipped N=${N} R=${R}`, randomNetwork(N, R, 'clipped_relu', seed));
      const c = Array.from({ length: N }, (_, i) => 0.7 * Math.cos(3 * i + seed));
      await checkAgainstBruteForce(null, `clipped+input N=${N} R=${R}`, { ...randomNetwork(N, R, 'clipped_relu', seed), c });
    }
  });

  test('degenerate networks do not crash and still match brute force', async () => {
    const res = await checkAgainstBruteForce(null, 'degenerate', degenerateNetwork());
    expect(res.singularSubsets).toBeGreaterThan(0);
    expect(res.degenerateSubsets).toBeGreaterThan(0);
    // Every unit through the origin (relu without bias): one central arrangement, 2N regions in 2-D.
    const central = { ...randomNetwork(9, 2, 'relu', 31), h: new Array(9).fill(0) };
    expect((await checkAgainstBruteForce(null, 'central', central)).regions).toBe(18);
    // No units at all, and a singular region system (a = 1, no active units: a line of fixed points).
    const empty: PiecewiseLinearRnn = { R: 2, N: 0, a: 0.5, U: [], V: [], h: [], hz: [0.1, -0.2], nonlinearity: 'relu' };
    const e = await findFixedPoints(null, empty);
    expect(e.regions).toBe(1);
    expect(e.points.map((p) => p.z)).toEqual([[-0.2, 0.4]].map((z) => z.map((x) => expect.closeTo(x, 12))));
    const line: PiecewiseLinearRnn = { R: 2, N: 1, a: 1, U: [1, 0], V: [1, 1], h: [5], nonlinearity: 'relu' };
    const l = await findFixedPoints(null, line);
    expect(l.singularSystems).toBeGreaterThan(0);
  });

  test('region enumerator: general-position counts and non-simple points', () => {
    // 6 generic lines: 1 + 6 + 15 regions; 4 lines through one point plus one more: 8 + 4 = 12... checked by LP.
    const rand = (i: number) => (Math.sin(12.9898 * i) * 43758.5453) % 1;
    const n = Float64Array.from({ length: 12 }, (_, i) => rand(i + 1));
    const t = Float64Array.from({ length: 6 }, (_, i) => rand(i + 50));
    expect(enumerateRegions(n, t, 6, 2, null)).toBe(22);
    const pencil = Float64Array.from([1, 0, 0, 1, 1, 1, 1, -2, 0.3, 0.9]);
    const off = Float64Array.from([0, 0, 0, 0, 0.5]);
    const units = { R: 2, M: 5, U: pencil, V: new Float64Array(10), thr: off, A: new Float64Array(4), b: new Float64Array(2) };
    expect(enumerateRegions(pencil, off, 5, 2, null)).toBe(bruteForceRegionCount(units));
  });

  test('teacher_reach_rank2: 17 fixed points (8 stable, 8 saddle, 1 unstable) in 1831 regions', async () => {
    const res = await findFixedPoints(null, teacherToRnn(teacher));
    const by = (s: string) => res.points.filter((p) => p.stability === s).length;
    expect([res.count, by('stable'), by('saddle'), by('unstable'), res.regions]).toEqual([17, 8, 8, 1, 1831]);
    // The reference counts inverses as C(N, R) + regions = 3601; we solve each region once.
    expect(res.regionSolves).toBe(1831);
    const u = expandToReluUnits(teacherToRnn(teacher));
    for (const p of res.points) {
      const f = evalMap(u, p.z);
      expect(Math.max(...p.z.map((x, q) => Math.abs(f[q] - x)))).toBeLessThan(1e-12);
    }
  });

  test('constant inputs move the fixed points (teacher steady-state input current)', async () => {
    const u = [0.8, -0.3];
    const res = await findFixedPoints(null, teacherToRnn(teacher, u));
    expect(res.count).toBeGreaterThan(0);
    // Check each point against the teacher's own unit dynamics at steady input: x = m z + w_inpᵀu.
    const { N, R, alpha, m, n, b_rec, w_inp } = teacher;
    for (const p of res.points) {
      const next = p.z.map((zk: number, k: number) => {
        let s = (1 - alpha) * zk;
        for (let i = 0; i < N; i++) {
          let x = b_rec[i];
          for (let q = 0; q < R; q++) x += m[i][q] * p.z[q];
          for (let d = 0; d < 2; d++) x += w_inp[d][i] * u[d];
          s += (alpha / N) * n[k][i] * Math.max(x, 0);
        }
        return s;
      });
      next.forEach((x: number, k: number) => expect(x).toBeCloseTo(p.z[k], 10));
    }
  });

  test('fixedPointsOfModel: fitted-model parameters (clipped relu, input weights)', async () => {
    const net = randomNetwork(6, 2, 'clipped_relu', 41);
    const N = 6;
    const Wu = Array.from({ length: N }, (_, i) => 0.3 * Math.sin(i));
    const viaModel = await fixedPointsOfModel(null, { N, R: 2, m: net.U, n: net.V, h: net.h, a: 0.8, nonlinearity: 'clipped_relu', Wu }, [1.5]);
    const direct = await findFixedPoints(null, { ...net, a: 0.8, hz: undefined, c: Wu.map((w) => 1.5 * w) });
    expect(viaModel.points.map((p) => p.z)).toEqual(direct.points.map((p) => p.z));
    expect(viaModel.regions).toBe(direct.regions);
  });

  test('bad input gets clear errors', async () => {
    const net = randomNetwork(4, 2, 'relu', 1);
    await expect(findFixedPoints(null, { ...net, U: [1, 2, 3] })).rejects.toThrow(/"U" has length 3, expected 8/);
    await expect(findFixedPoints(null, { ...net, h: [1, 2, NaN, 4] })).rejects.toThrow(/"h"\[2\] is NaN/);
    await expect(findFixedPoints(null, { ...net, nonlinearity: 'tanh' as 'relu' })).rejects.toThrow(/nonlinearity "tanh"/);
    expect(() => teacherToRnn({ ...teacher, n: teacher.m })).toThrow(/"n" must be a 2×60 array/);
    expect(() => teacherToRnn(teacher, [1, 2, 3])).toThrow(/the inputs have 3 values, the teacher has 2 inputs/);
  });

  test('CLI model loading: teacher file, generic JSON with nested arrays, unknown files', async () => {
    const t = loadModel(sharedData('teacher_reach_rank2.json'));
    expect(t.N).toBe(60);
    const dir = mkdtempSync(join(tmpdir(), 'fp-'));
    const net = randomNetwork(5, 2, 'relu', 3);
    const nested = {
      ...net,
      U: Array.from({ length: 5 }, (_, i) => [net.U[2 * i], net.U[2 * i + 1]]),
      V: [Array.from(net.V).slice(0, 5), Array.from(net.V).slice(5)],
    };
    writeFileSync(join(dir, 'g.json'), JSON.stringify(nested));
    const viaFile = toJson(await findFixedPoints(null, loadModel(join(dir, 'g.json'))));
    const direct = toJson(await findFixedPoints(null, net));
    expect(viaFile.points).toEqual(direct.points);
    expect(Object.keys(viaFile).slice(0, 5)).toEqual(['count', 'points', 'regions', 'solves', 'ms']);
    writeFileSync(join(dir, 'x.json'), '{"weights": []}');
    expect(() => loadModel(join(dir, 'x.json'))).toThrow(/not a lowrank-smc model file, a teacher file .* or a generic description/);
    expect(() => loadModel(join(dir, 'g.json'), [1, 2])).toThrow(/input current c \(length N = 5\)/);
  });

  test('classification by eigenvalue moduli', () => {
    expect(
      classify([
        { re: 0.5, im: 0.5 },
        { re: -0.9, im: 0 },
      ]),
    ).toBe('stable');
    expect(
      classify([
        { re: 1.2, im: 0 },
        { re: 0.1, im: 1.1 },
      ]),
    ).toBe('unstable');
    expect(
      classify([
        { re: 1.2, im: 0 },
        { re: 0.3, im: 0 },
      ]),
    ).toBe('saddle');
  });
});
