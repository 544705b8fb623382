import { gradCheck } from '../../src/autodiff/gradcheck.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import type { Engine } from '../../src/gpu/engine.js';
import { mulberry32 } from '../../src/util/random.js';
import { KALMAN_SINGLE_MAX_RANK, kalmanPacked, kalmanPackedRef, kalmanProblem, spdInverseRef, type KalmanPath } from '../../src/ops/kalman.js';
import { optimalProjections, optimalProjectionsRef } from '../../src/ops/obs-projection.js';
import { pack } from '../../src/ops/pack.js';
import type { GpuCase } from './types.js';

const U32 = 2 ** -24;

function frobenius(a: Float64Array): number {
  return Math.sqrt(a.reduce((s, v) => s + v * v, 0));
}

/**
 * Normwise relative tolerance for float32 against float64: inverting an SPD matrix A through its
 * Cholesky factor has error ≲ c·R·u·κ(A) relative to ‖A⁻¹‖; here Σ⁻¹ and then M⁻¹ are formed, so the
 * larger of κ(Σ) and κ(M) governs (κ bounded above by ‖A‖_F‖A⁻¹‖_F). c = 8 leaves room for the
 * products and the rounding of the inputs to float32, and a floor of 64u for the roundings that do not
 * grow with κ (logs, the final products). Measured on lavapipe: ≤ 6u at R = 1 (gradient of G), and
 * 300–10 000× below the bound at R = 8 … 64 (normwise errors 1e-7 … 1e-6): this is a worst-case bound,
 * while a wrong formula or a race gives errors of order 1.
 */
function tolerance(L: Float64Array, G: Float64Array, R: number): number {
  const sigma = new Float64Array(R * R);
  for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) for (let k = 0; k <= Math.min(i, j); k++) sigma[i * R + j] += L[i * R + k] * L[j * R + k];
  const sinv = spdInverseRef(sigma, R);
  const M = sinv.map((v, e) => v + G[e]);
  const kappa = Math.max(frobenius(sigma) * frobenius(sinv), frobenius(M) * frobenius(spdInverseRef(M, R)));
  return U32 * (64 + 8 * R * kappa);
}

/** max |a − b| over a block ≤ tol · max |b| (at least tol · floor): normwise, so small entries of a block are judged by its scale. */
function assertBlock(what: string, a: ArrayLike<number>, b: ArrayLike<number>, tol: number, floor = 0): void {
  let err = 0;
  let at = 0;
  let scale = floor;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= err)) [err, at] = [d, i];
  }
  if (!(err <= tol * scale))
    throw new Error(
      `${what}: max error ${err.toExponential(3)} at ${at} (got ${a[at]}, expected ${b[at]}) exceeds ${tol.toExponential(2)} × ${scale.toExponential(3)}`,
    );
}

/**
 * kalmanPacked at rank R against float64: the blocks Σq, Lq and the log-determinant each normwise;
 * with `backward`, the tape's gradient of ⟨c, out⟩ (random c) against central finite differences of
 * the float64 reference, per input normwise (the reference ignores L's upper triangle, so must the op).
 */
async function checkKalman(engine: Engine, R: number, path: KalmanPath | undefined, backward: boolean): Promise<void> {
  const { L, G } = kalmanProblem(R, 10 + R);
  const tol = tolerance(L, G, R);
  const RR = R * R;
  const ref = kalmanPackedRef(L, G, R);
  const l = Tensor.fromArray(engine, L, [R, R]);
  const g = Tensor.fromArray(engine, G, [R, R]);
  l.requiresGrad = g.requiresGrad = backward;
  const tape = Tape.begin(engine);
  const out = kalmanPacked(l, g, path);
  tape.end();
  const got = await out.readF32();
  const tag = `kalman R=${R} ${path ?? 'auto'}`;
  assertBlock(`${tag} Σq`, got.subarray(0, RR), ref.subarray(0, RR), tol);
  assertBlock(`${tag} Lq`, got.subarray(RR, 2 * RR), ref.subarray(RR, 2 * RR), tol);
  // log-determinant errors are absolute: a sum of R relative errors of the pivots
  assertBlock(`${tag} logdet`, got.subarray(2 * RR), ref.subarray(2 * RR), tol, 1);
  if (backward) {
    const rand = mulberry32(99 + R);
    const cot = Float64Array.from(ref, () => 2 * rand() - 1);
    const seed = Tensor.fromArray(engine, cot, out.shape);
    const grads = tape.gradients(out, [l, g], { seed });
    const objective = (lv: Float64Array, gv: Float64Array) => kalmanPackedRef(lv, gv, R).reduce((s, v, i) => s + cot[i] * v, 0);
    const inputs = [L, G];
    for (let k = 0; k < 2; k++) {
      const x = inputs[k];
      const fd = new Float64Array(RR);
      for (let i = 0; i < RR; i++) {
        const h = 1e-4 * Math.max(1, Math.abs(x[i]));
        const orig = x[i];
        x[i] = orig + h;
        const fp = objective(L, G);
        x[i] = orig - h;
        const fm = objective(L, G);
        x[i] = orig;
        fd[i] = (fp - fm) / (2 * h);
      }
      assertBlock(`${tag} gradient of ${k === 0 ? 'L' : 'G'}`, await grads[k]!.readF32(), fd, tol);
      grads[k]!.dispose();
    }
    seed.dispose();
  }
  tape.dispose();
  for (const t of [l, g, out]) t.dispose();
}

export const cases: GpuCase[] = [
  // The automatic choice (single up to KALMAN_SINGLE_MAX_RANK, then the workgroup in workgroup memory,
  // then with a storage scratch buffer), and the workgroup variant forced at small R.
  ...[1, 3, 8, 16, 36].map((R): GpuCase => ({
    name: `kalman quantities (Σq, Lq, logdet) and their gradient, R = ${R}`,
    timeoutMs: 180_000,
    run: (engine) => checkKalman(engine, R, undefined, true),
  })),
  ...[1, 3].map((R): GpuCase => ({
    name: `kalman workgroup variant forced at R = ${R}: quantities and gradient`,
    run: (engine) => checkKalman(engine, R, 'workgroup', true),
  })),
  {
    name: 'kalman quantities at R = 64 (storage scratch)',
    timeoutMs: 180_000,
    run: (engine) => checkKalman(engine, 64, undefined, false),
  },
  {
    name: 'kalman refuses R above 64, non-square inputs and the one-invocation variant above its rank',
    async run(engine) {
      const t = (n: number) => Tensor.fromArray(engine, new Float32Array(n), [n]);
      const expect = (what: string, f: () => unknown, re: RegExp) => {
        let msg = '';
        try {
          f();
        } catch (e) {
          msg = (e as Error).message;
        }
        if (!re.test(msg)) throw new Error(`${what}: expected an error matching ${re}, got '${msg}'`);
      };
      const [a65, b65, a6, b9, a25] = [t(65 * 65), t(65 * 65), t(6), t(9), t(25)];
      expect('R = 65', () => kalmanPacked(a65, b65), /rank 65 exceeds the largest supported rank 64/);
      expect('6 elements', () => kalmanPacked(a6, a6), /must be R×R/);
      expect('L 3×3, G 2×2', () => kalmanPacked(b9, t(4)), /must be R×R/);
      expect('single at R = 5', () => kalmanPacked(a25, a25, 'single'), new RegExp(`takes R ≤ ${KALMAN_SINGLE_MAX_RANK}, got R = 5`));
      for (const x of [a65, b65, a6, b9, a25]) x.dispose();
    },
  },
  {
    name: 'pack copies slices into one buffer and slices the gradient back',
    async run(engine) {
      await gradCheck(engine, {
        name: 'pack',
        inputs: [
          { data: [1, 2, 3, 4], shape: [4] },
          { data: [5, 6, 7], shape: [3] },
        ],
        gpu: (e, [a, b]) =>
          pack(
            e,
            [
              { src: a, dstOffset: 6, srcOffset: 1, length: 2 },
              { src: b, dstOffset: 0 },
              { src: a, dstOffset: 3, length: 1 },
            ],
            9,
          ),
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
          return pack(
            e,
            [
              { src: qs, dstOffset: 0 },
              { src: G, dstOffset: BT * (R + 1) },
            ],
            BT * (R + 1) + R * R,
          );
        },
        reference: ([yr, o, l, b]) => optimalProjectionsRef(yr, o, l, b, BT, D, R),
        eps: 1e-3,
        atol: 2e-3,
        rtol: 5e-3,
      });
    },
  })),
);
