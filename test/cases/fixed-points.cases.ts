/**
 * Fixed points on the GPU: the vertex-method kernel against the brute-force oracles (all 2^M
 * activity patterns; LP region splitting), the teacher's known answer, degenerate networks, and the
 * kernel's overflow/chunking paths.
 */
import { mulberry32 } from '../../src/util/random.js';
import { findFixedPoints, type FixedPointOptions, type FixedPointResult, type PiecewiseLinearRnn } from '../../src/analysis/fixed-points.js';
import { bruteForceFixedPoints, bruteForceRegionCount } from '../../src/analysis/fp-cpu.js';
import { expandToReluUnits, pruneUnits } from '../../src/analysis/fp-model.js';
import type { Engine } from '../../src/gpu/engine.js';
import type { GpuCase } from './types.js';
import { sharedData } from '../shared-data.js';

/** A random network with a few fixed points (fixed seed). */
export function randomNetwork(N: number, R: number, nonlinearity: 'relu' | 'clipped_relu', seed: number): PiecewiseLinearRnn {
  const rand = mulberry32(seed);
  const g = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return {
    R,
    N,
    a: Array.from({ length: R }, () => 0.5 + 0.4 * rand()),
    U: Array.from({ length: N * R }, g),
    V: Array.from({ length: R * N }, () => (2.5 * g()) / Math.sqrt(N)),
    h: Array.from({ length: N }, g),
    hz: Array.from({ length: R }, () => 0.2 * g()),
    nonlinearity,
  };
}

/**
 * Parallel rows, a duplicated row, an opposite duplicate (−U, −h), zero rows (one active, one not)
 * and three lines through one point that is not the origin.
 */
export function degenerateNetwork(): PiecewiseLinearRnn {
  const rows: [number, number, number][] = [
    [1, 0, 0.5],
    [1, 0, -0.7],
    [2, 0, 1.0], // parallel (x = 0.5, x = −0.7) and a scaled duplicate of x = 0.5
    [-1, 0, -0.5], // opposite duplicate of x = 0.5
    [0, 0, 0.3],
    [0, 0, -0.4], // zero rows: never / always active
    [0, 1, 0.2],
    [1, 1, 0.7],
    [1, -1, 0.3], // three lines through (0.5, 0.2)
    [0.6, -0.8, -0.9],
  ];
  const N = rows.length;
  const rand = mulberry32(77);
  return {
    R: 2,
    N,
    a: 0.6,
    U: rows.flatMap(([u, v]) => [u, v]),
    V: Array.from({ length: 2 * N }, () => 1.6 * (rand() - 0.5)),
    h: rows.map((r) => r[2]),
    nonlinearity: 'relu',
  };
}

/** Same point sets (any order) within a relative tolerance. */
export function assertSamePoints(what: string, got: number[][], want: ArrayLike<number>[], rtol = 1e-7): void {
  if (got.length !== want.length) {
    throw new Error(
      `${what}: ${got.length} fixed points, brute force finds ${want.length}\n got ${JSON.stringify(got)}\n want ${JSON.stringify(want.map((w) => Array.from(w)))}`,
    );
  }
  for (const w of want) {
    const scale = 1 + Math.max(...Array.from(w, Math.abs));
    if (!got.some((z) => z.every((x, q) => Math.abs(x - w[q]) <= rtol * scale))) {
      throw new Error(`${what}: brute-force fixed point ${JSON.stringify(Array.from(w))} not found (got ${JSON.stringify(got)})`);
    }
  }
}

/** Compare against both oracles; returns the result. */
export async function checkAgainstBruteForce(
  engine: Engine | null,
  what: string,
  model: PiecewiseLinearRnn,
  options: FixedPointOptions = {},
): Promise<FixedPointResult> {
  const res = await findFixedPoints(engine, model, options);
  const units = expandToReluUnits(model);
  assertSamePoints(
    what,
    res.points.map((p) => p.z),
    bruteForceFixedPoints(units),
  );
  const regions = bruteForceRegionCount(units);
  if (res.regions !== regions) throw new Error(`${what}: ${res.regions} regions, brute force counts ${regions}`);
  return res;
}

export const cases: GpuCase[] = [
  {
    name: 'fixed points: GPU vertex method equals brute force on random relu networks (R = 1, 2, 3)',
    timeoutMs: 180_000,
    async run(engine) {
      let total = 0;
      for (const [N, R, seed] of [
        [10, 1, 1],
        [16, 2, 2],
        [13, 2, 3],
        [12, 3, 4],
        [16, 3, 5],
      ] as const) {
        const res = await checkAgainstBruteForce(engine, `relu N=${N} R=${R}`, randomNetwork(N, R, 'relu', seed));
        if (res.backend !== 'gpu') throw new Error('expected the GPU backend');
        total += res.count;
      }
      if (total === 0) throw new Error('random networks without any fixed point: the comparison is vacuous');
    },
  },
  {
    name: 'fixed points: GPU vertex method equals brute force on clipped relu networks (origin is non-simple)',
    timeoutMs: 180_000,
    async run(engine) {
      for (const [N, R, seed] of [
        [8, 2, 11],
        [6, 3, 12],
      ] as const) {
        const res = await checkAgainstBruteForce(engine, `clipped N=${N} R=${R}`, randomNetwork(N, R, 'clipped_relu', seed));
        if (res.degenerateSubsets === 0) throw new Error('clipped relu without input should meet a non-simple vertex at the origin');
      }
      // With an input current the origin is no longer shared: a simple arrangement with parallel pairs.
      const withInput = { ...randomNetwork(8, 2, 'clipped_relu', 13), c: Array.from({ length: 8 }, (_, i) => Math.sin(i + 1)) };
      await checkAgainstBruteForce(engine, 'clipped with input', withInput);
    },
  },
  {
    name: 'fixed points: degenerate network (parallel, duplicate, zero rows, concurrent lines) matches brute force',
    async run(engine) {
      const res = await checkAgainstBruteForce(engine, 'degenerate', degenerateNetwork());
      if (res.singularSubsets === 0 || res.degenerateSubsets === 0)
        throw new Error(`degenerate network: expected singular and non-simple subsets, got ${JSON.stringify(res)}`);
      // Rank-deficient U (all rows parallel): regions are slabs, counted in one dimension.
      const flat: PiecewiseLinearRnn = {
        R: 2,
        N: 4,
        a: [0.5, 0.9],
        U: [1, 2, -2, -4, 0.5, 1, 3, 6],
        V: [0.3, -1, 2, 0.4, 0.1, 0.2, -0.5, 1],
        h: [0.1, 0.3, -0.2, 0.9],
        nonlinearity: 'relu',
      };
      const r2 = await checkAgainstBruteForce(engine, 'rank-deficient', flat);
      if (r2.dimension !== 1 || r2.regions !== 5) throw new Error(`rank-deficient: dimension ${r2.dimension}, ${r2.regions} regions (want 1, 5)`);
    },
  },
  {
    name: 'fixed points: a plane nearly parallel to the line of two others (crossing ~1e7 out) gives the float64 answer',
    timeoutMs: 120_000,
    async run(engine) {
      // Plane 10 leans off the direction of the line of planes 0 and 1 by 1e-7: in float32 even the
      // sign of its slope along that line is unsure. (Brute-force region counting misses regions this
      // thin, so the reference is the float64 CPU vertex method; fixed points also by brute force.)
      const net = randomNetwork(12, 3, 'relu', 26);
      const U = net.U as number[];
      const [n0, n1] = [U.slice(0, 3), U.slice(3, 6)];
      const e = [n0[1] * n1[2] - n0[2] * n1[1], n0[2] * n1[0] - n0[0] * n1[2], n0[0] * n1[1] - n0[1] * n1[0]];
      for (let q = 0; q < 3; q++) U[30 + q] = n0[q] - 0.5 * n1[q] + 1e-7 * e[q];
      const gpu = await findFixedPoints(engine, net);
      const cpu = await findFixedPoints(null, net);
      if (gpu.backend !== 'gpu') throw new Error('expected the GPU backend');
      if (gpu.regions !== cpu.regions || gpu.singularSubsets !== cpu.singularSubsets) {
        throw new Error(`nearly parallel: GPU ${gpu.regions} regions / ${gpu.singularSubsets} singular, CPU ${cpu.regions} / ${cpu.singularSubsets}`);
      }
      assertSamePoints(
        'nearly parallel (GPU vs CPU)',
        gpu.points.map((p) => p.z),
        cpu.points.map((p) => p.z),
      );
      assertSamePoints(
        'nearly parallel (GPU vs brute force)',
        gpu.points.map((p) => p.z),
        bruteForceFixedPoints(expandToReluUnits(net)),
      );
      if (gpu.count === 0) throw new Error('nearly parallel: no fixed point, the comparison is vacuous');
    },
  },
  {
    name: 'fixed points: tiny flag buffer and chunks (overflow, regrow, re-run) and the per-vertex kernel give the same answer; progress reaches the total',
    timeoutMs: 120_000,
    async run(engine) {
      const model = randomNetwork(16, 2, 'relu', 21);
      const ref = await findFixedPoints(engine, model);
      const want = ref.points.map((p) => Float64Array.from(p.z));
      const calls: [number, number][] = [];
      const small = await findFixedPoints(engine, model, { capacity: 1, chunk: 64, onProgress: (done, total) => calls.push([done, total]) });
      // progress: one call per chunk, increasing, ending at the total work
      const [lastDone, total] = calls[calls.length - 1] ?? [0, 0];
      if (calls.length < 3 || lastDone !== total || calls.some(([d, t], i) => t !== total || (i > 0 && d <= calls[i - 1][0]))) {
        throw new Error(`progress calls ${JSON.stringify(calls)}`);
      }
      assertSamePoints(
        'small buffers',
        small.points.map((p) => p.z),
        want,
      );
      if (small.regions !== ref.regions || small.rechecked !== ref.rechecked) {
        throw new Error(`small buffers: regions ${small.regions} vs ${ref.regions}, rechecked ${small.rechecked} vs ${ref.rechecked}`);
      }
      // Vertices one thread per subset instead of by line sweeps.
      const perVertex = await findFixedPoints(engine, model, { sweep: false });
      assertSamePoints(
        'per-vertex kernel',
        perVertex.points.map((p) => p.z),
        want,
      );
      if (perVertex.regions !== ref.regions || perVertex.singularSubsets !== ref.singularSubsets) {
        throw new Error(`per-vertex kernel: regions ${perVertex.regions} vs ${ref.regions}, singular ${perVertex.singularSubsets} vs ${ref.singularSubsets}`);
      }
    },
  },
  {
    // Fitted EEG models look like this: units the fit left unused keep h ≈ 0, so hundreds of planes
    // pass within float32 resolution of one point and the kernels flag most vertices for the CPU.
    name: 'fixed points: planes through nearly one point (most vertices flagged); at the buffer-size limit chunks are split, same answer as the CPU',
    timeoutMs: 120_000,
    async run(engine) {
      const net = randomNetwork(24, 3, 'relu', 31);
      net.h = net.h.map((v) => 1e-7 * v);
      const cpu = await findFixedPoints(null, net);
      const grown = await findFixedPoints(engine, net, { chunk: 4096 });
      // a cap of 40 records (M = 24 planes; one line flags at most M + 4) forces splits
      const split = await findFixedPoints(engine, net, { chunk: 4096, capacity: 8, maxCapacity: 40 });
      if (grown.rechecked < 100) throw new Error(`only ${grown.rechecked} subsets re-checked: not the degenerate case this test is about`);
      for (const [what, r] of [
        ['grown buffer', grown],
        ['split chunks', split],
      ] as const) {
        assertSamePoints(
          what,
          r.points.map((p) => p.z),
          cpu.points.map((p) => p.z),
        );
        if (r.regions !== cpu.regions || r.singularSubsets !== cpu.singularSubsets) {
          throw new Error(`${what}: regions ${r.regions} vs CPU ${cpu.regions}, singular ${r.singularSubsets} vs ${cpu.singularSubsets}`);
        }
      }
      if (split.rechecked !== grown.rechecked) throw new Error(`split chunks re-checked ${split.rechecked}, the grown buffer ${grown.rechecked}`);
    },
  },
  {
    name: 'fixed points: pruning unused clipped-relu units keeps every fixed point (within the bound) and its stability; ε = 0 changes nothing',
    timeoutMs: 120_000,
    async run() {
      // 20 units, 8 of them left "unused" as a fit leaves them: V_i and h_i both scaled by 1e-4.
      const net = randomNetwork(20, 2, 'clipped_relu', 41);
      const V = Array.from(net.V);
      const h = Array.from(net.h);
      for (let i = 0; i < 8; i++) {
        h[i] *= 1e-4;
        for (let p = 0; p < net.R; p++) V[p * net.N + i] *= 1e-4;
      }
      const used = { ...net, V, h };
      const exact = await findFixedPoints(null, used);
      if (exact.count === 0) throw new Error('no fixed point: the comparison is vacuous');
      const pruned = pruneUnits(used, 1e-6);
      if (pruned.kept !== 12) throw new Error(`kept ${pruned.kept} units, expected the 12 used ones`);
      if (!(pruned.bound > 0 && pruned.bound < 8e-6)) throw new Error(`bound ${pruned.bound}`);
      const approx = await findFixedPoints(null, pruned.model);
      assertSamePoints(
        'pruned',
        approx.points.map((p) => p.z),
        exact.points.map((p) => Float64Array.from(p.z)),
        1e-5,
      );
      const classes = (r: FixedPointResult) =>
        r.points
          .map((p) => p.stability)
          .sort()
          .join();
      if (classes(approx) !== classes(exact)) throw new Error(`stability ${classes(approx)} vs ${classes(exact)}`);
      if (!(approx.regions < exact.regions)) throw new Error(`pruning left ${approx.regions} of ${exact.regions} regions`);
      const none = pruneUnits(used, 0);
      if (none.kept !== 20 || none.bound !== 0) throw new Error(`ε = 0 pruned to ${none.kept} units`);
      assertSamePoints(
        'ε = 0',
        (await findFixedPoints(null, none.model)).points.map((p) => p.z),
        exact.points.map((p) => Float64Array.from(p.z)),
        0,
      );
      for (const [bad, pattern] of [
        [() => pruneUnits(randomNetwork(4, 2, 'relu', 1), 1e-6), /needs clipped relu/],
        [() => pruneUnits(used, -1), /≥ 0/],
      ] as const) {
        let message = '';
        try {
          bad();
        } catch (e) {
          message = (e as Error).message;
        }
        if (!pattern.test(message)) throw new Error(`expected ${pattern}, got "${message}"`);
      }
    },
  },
  {
    name: 'fixed points: teacher_reach_rank2 has 17 fixed points (8 stable, 8 saddle, 1 unstable) in 1831 regions',
    browser: false,
    async run(engine) {
      const { readFileSync } = await import('node:fs');
      const { teacherToRnn } = await import('../../src/analysis/fixed-points.js');
      const teacher = JSON.parse(readFileSync(sharedData('teacher_reach_rank2.json'), 'utf8'));
      const res = await findFixedPoints(engine, teacherToRnn(teacher));
      const by = (s: string) => res.points.filter((p) => p.stability === s).length;
      const got = { count: res.count, stable: by('stable'), saddle: by('saddle'), unstable: by('unstable'), regions: res.regions };
      const want = { count: 17, stable: 8, saddle: 8, unstable: 1, regions: 1831 };
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`teacher: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      // Stability must agree with the eigenvalues reported.
      for (const p of res.points) {
        const mods = p.eigenvalues.map((e) => Math.hypot(e.re, e.im));
        const ok =
          p.stability === 'stable'
            ? mods.every((x) => x < 1)
            : p.stability === 'unstable'
              ? mods.every((x) => x > 1)
              : mods.some((x) => x < 1) && mods.some((x) => x >= 1);
        if (!ok || p.eigenvalues.length !== 2) throw new Error(`teacher: ${p.stability} point with eigenvalue moduli ${mods}`);
      }
    },
  },
];
