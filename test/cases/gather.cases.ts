// Gather by ancestor index and its adjoint (segmented sum over sorted indices), against float64
// references, plus the sortedness helper and a gradient check.
import { assertClose, gradCheck } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { assertSortedIndices, gather, gatherAdjointReference, gatherReference } from '../../src/ops/gather.js';
import type { GpuCase } from './types.js';

/** Systematic resampling of random weights: sorted ancestors with repeats and gaps, like the SMC. */
function systematicAncestors(batch: number, jSrc: number, kOut: number, seed: number, peaked = false): Uint32Array {
  const rand = mulberry32(seed);
  const idx = new Uint32Array(batch * kOut);
  for (let b = 0; b < batch; b++) {
    const w = Array.from({ length: jSrc }, () => (peaked ? Math.exp(8 * rand()) : rand()));
    const total = w.reduce((a, c) => a + c, 0);
    const u = rand();
    let j = 0;
    let cum = w[0] / total;
    for (let k = 0; k < kOut; k++) {
      const pos = (k + u) / kOut;
      while (cum < pos && j < jSrc - 1) cum += w[++j] / total;
      idx[b * kOut + k] = j;
    }
  }
  return idx;
}

async function expectRejects(what: string, f: () => unknown, pattern: RegExp): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!pattern.test((e as Error).message)) throw new Error(`${what}: wrong message: ${(e as Error).message}`);
    return;
  }
  throw new Error(`${what}: no error`);
}

export const cases: GpuCase[] = [
  {
    name: 'gather: rows by sorted ancestor index and the segmented-sum adjoint match float64',
    async run(engine) {
      const rand = mulberry32(3);
      const geometries: { batch: number; jSrc: number; kOut: number; rest: number[]; idx?: Uint32Array; label: string }[] = [
        { batch: 3, jSrc: 64, kOut: 64, rest: [5], label: 'systematic' },
        { batch: 2, jSrc: 64, kOut: 64, rest: [3], label: 'peaked weights' },
        { batch: 2, jSrc: 10, kOut: 37, rest: [], label: 'J != K, 2-D x' },
        { batch: 1, jSrc: 8, kOut: 8, rest: [2, 2], idx: new Uint32Array(8).fill(5), label: 'all copies of one row' },
        { batch: 2, jSrc: 6, kOut: 6, rest: [4], idx: Uint32Array.from([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]), label: 'identity' },
        { batch: 4, jSrc: 1024, kOut: 1024, rest: [3], label: 'K = 1024' },
      ];
      for (const [i, g] of geometries.entries()) {
        const width = g.rest.reduce((a, b) => a * b, 1);
        const idxData = g.idx ?? systematicAncestors(g.batch, g.jSrc, g.kOut, 100 + i, g.label === 'peaked weights');
        const xData = Float32Array.from({ length: g.batch * g.jSrc * width }, () => rand() * 2 - 1);
        const gyData = Float32Array.from({ length: g.batch * g.kOut * width }, () => rand() * 2 - 1);
        const x = Tensor.param(engine, xData, [g.batch, g.jSrc, ...g.rest]);
        const idx = Tensor.fromArray(engine, idxData, [g.batch, g.kOut], 'u32');
        await assertSortedIndices(idx, g.jSrc);
        const tape = Tape.begin(engine);
        const out = gather(x, idx);
        tape.end();
        const shape = [...out.shape].join();
        if (shape !== [g.batch, g.kOut, ...g.rest].join()) throw new Error(`gather ${g.label}: output shape [${shape}]`);
        assertClose(await out.readF32(), gatherReference(xData, idxData, g.batch, g.jSrc, g.kOut, width), { atol: 0, rtol: 0, what: `gather ${g.label}` });
        const seed = Tensor.fromArray(engine, gyData, out.shape);
        const [gx] = tape.gradients(out, [x], { seed });
        // Sums of up to K terms in f32 (sequential over the segment).
        assertClose(await gx!.readF32(), gatherAdjointReference(gyData, idxData, g.batch, g.jSrc, g.kOut, width), {
          atol: 1e-5 * g.kOut,
          rtol: 1e-5,
          what: `gather adjoint ${g.label}`,
        });
        tape.dispose();
        for (const t of [x, idx, out, seed, gx!]) t.dispose();
      }
    },
  },
  {
    name: 'gather: gradient matches finite differences; idx gets no gradient',
    async run(engine) {
      const rand = mulberry32(9);
      const batch = 2;
      const jSrc = 7;
      const kOut = 9;
      const width = 3;
      const idxData = systematicAncestors(batch, jSrc, kOut, 4);
      await gradCheck(engine, {
        name: 'gather',
        inputs: [
          { data: Array.from({ length: batch * jSrc * width }, () => rand() * 2 - 1), shape: [batch, jSrc, width] },
          { data: idxData, shape: [batch, kOut], dtype: 'u32' },
        ],
        gpu: (_e, [x, idx]) => gather(x, idx),
        reference: ([x, idx]) => gatherReference(x, idx, batch, jSrc, kOut, width),
      });
    },
  },
  {
    name: 'gather: the sortedness helper rejects unsorted and out-of-range indices; bad shapes are named',
    async run(engine) {
      const unsorted = Tensor.fromArray(engine, [0, 2, 1, 3], [1, 4], 'u32');
      const outside = Tensor.fromArray(engine, [0, 1, 1, 4], [1, 4], 'u32');
      const sorted = Tensor.fromArray(engine, [0, 0, 3, 3, 1, 1, 2, 3], [2, 4], 'u32');
      await expectRejects('unsorted', () => assertSortedIndices(unsorted, 4), /row 0 is not sorted \(idx\[0, 1\] = 2 > idx\[0, 2\] = 1\)/);
      await expectRejects('out of range', () => assertSortedIndices(outside, 4), /idx\[0, 3\] = 4 is outside \[0, 4\)/);
      await assertSortedIndices(sorted, 4);
      const x = Tensor.zeros(engine, [2, 4, 3]);
      const xf = Tensor.zeros(engine, [2, 4], 'f32');
      await expectRejects('f32 idx', () => gather(x, xf), /idx .* is f32, expected u32/);
      await expectRejects('batch', () => gather(x, unsorted), /differ in batch size/);
      const flat = Tensor.zeros(engine, [4]);
      await expectRejects('1-D x', () => gather(flat, sorted), /must have shape \[batch, rows, \.\.\.\]/);
      for (const t of [unsorted, outside, sorted, x, xf, flat]) t.dispose();
    },
  },
];
