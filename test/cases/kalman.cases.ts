import { gradCheck } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { kalmanPacked, kalmanPackedRef } from '../../src/ops/kalman.js';
import { optimalProjections, optimalProjectionsRef } from '../../src/ops/obs-projection.js';
import { pack } from '../../src/ops/pack.js';
import type { GpuCase } from './types.js';

function problem(R: number, seed: number) {
  const rand = mulberry32(seed);
  const L = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j <= i; j++) L[i * R + j] = i === j ? 0.3 + rand() : 0.3 * (rand() - 0.5);
  // G = C Cᵀ for a random R×D C (symmetric positive semi-definite, like the model's)
  const D = R + 2;
  const C = Float64Array.from({ length: R * D }, () => rand() - 0.5);
  const G = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) for (let d = 0; d < D; d++) G[i * R + j] += 2 * C[i * D + d] * C[j * D + d];
  return { L, G };
}

export const cases: GpuCase[] = [
  ...[1, 2, 3, 5].map((R): GpuCase => ({
    name: `kalman quantities (Σq, Lq, logdet) and their gradient, R = ${R}`,
    async run(engine) {
      const { L, G } = problem(R, 10 + R);
      await gradCheck(engine, {
        name: `kalman R=${R}`,
        inputs: [{ data: L, shape: [R, R] }, { data: G, shape: [R, R] }],
        gpu: (_e, [l, g]) => kalmanPacked(l, g),
        reference: ([l, g]) => kalmanPackedRef(l, g, R),
        eps: 1e-4,
        atol: 5e-4,
        rtol: 5e-3,
      });
    },
  })),
  {
    name: 'pack copies slices into one buffer and slices the gradient back',
    async run(engine) {
      await gradCheck(engine, {
        name: 'pack',
        inputs: [{ data: [1, 2, 3, 4], shape: [4] }, { data: [5, 6, 7], shape: [3] }],
        gpu: (e, [a, b]) => pack(e, [{ src: a, dstOffset: 6, srcOffset: 1, length: 2 }, { src: b, dstOffset: 0 }, { src: a, dstOffset: 3, length: 1 }], 9),
        reference: ([a, b]) => Float64Array.from([b[0], b[1], b[2], a[0], 0, 0, a[1], a[2], 0]),
      });
    },
  },
];

// Optimal-proposal data projections [q | s | G] against float64, with per-channel and per-row offsets;
// BT > 256 so the backward sums over more than one chunk of rows.
function projectionProblem(BT: number, D: number, R: number, rowOffset: boolean, seed: number) {
  const rand = mulberry32(seed);
  const y = Float64Array.from({ length: BT * D }, () => 2 * rand() - 1);
  const off = Float64Array.from({ length: rowOffset ? BT * D : D }, () => 0.3 * (rand() - 0.5));
  const lv = Float64Array.from({ length: D }, () => 0.5 * (rand() - 0.5));
  const B = Float64Array.from({ length: D * R }, () => rand() - 0.5);
  return { y, off, lv, B };
}

cases.push(
  ...[
    { BT: 300, D: 5, R: 3, rowOffset: false },
    { BT: 7, D: 4, R: 2, rowOffset: true },
  ].map(({ BT, D, R, rowOffset }): GpuCase => ({
    name: `optimal-proposal projections q, s, G and their gradient (BT = ${BT}, D = ${D}, R = ${R}, ${rowOffset ? 'per-row' : 'per-channel'} offset)`,
    async run(engine) {
      const { y, off, lv, B } = projectionProblem(BT, D, R, rowOffset, 40 + BT);
      await gradCheck(engine, {
        name: `optimalProjections BT=${BT}`,
        inputs: [
          { data: y, shape: [BT, D], differentiable: false },
          { data: off, shape: rowOffset ? [BT, D] : [D] },
          { data: lv, shape: [D] },
          { data: B, shape: [D, R] },
        ],
        gpu: (e, [yt, o, l, b]) => {
          const { qs, G } = optimalProjections(yt, o, l, b);
          return pack(e, [{ src: qs, dstOffset: 0 }, { src: G, dstOffset: BT * (R + 1) }], BT * (R + 1) + R * R);
        },
        reference: ([yr, o, l, b]) => optimalProjectionsRef(yr, o, l, b, BT, D, R),
        eps: 1e-3,
        atol: 2e-3,
        rtol: 5e-3,
      });
    },
  })),
);
