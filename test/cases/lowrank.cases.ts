import { assertClose, gradCheck, mulberry32 } from '../../src/autodiff/gradcheck.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { lowrankProduct, lowrankProductBackwardRef, lowrankProductRef } from '../../src/ops/lowrank.js';
import { kinks, NONLINEARITIES, type NonlinearityName } from '../../src/ops/nonlin.js';
import type { GpuCase } from './types.js';

interface Inputs { z: number[]; M: number[]; c: number[]; Nmat: number[]; h: number[] }

/**
 * Random inputs whose currents x stay at least `margin` away from φ's kinks, so that finite
 * differences are valid: a unit whose x hits a kink for some particle gets a fresh (c, h).
 */
function makeInputs(seed: number, P: number, N: number, R: number, nl: NonlinearityName, margin = 0.01): Inputs {
  const rand = mulberry32(seed);
  const u = (n: number, s: number) => Array.from({ length: n }, () => (rand() * 2 - 1) * s);
  const inp = { z: u(P * R, 1), M: u(N * R, 1 / Math.sqrt(R)), c: u(N, 0.5), Nmat: u(N * R, 1 / Math.sqrt(N)), h: u(N, 0.5) };
  for (let n = 0; n < N; n++) {
    for (let attempt = 0; ; attempt++) {
      let clear = true;
      for (let q = 0; q < P && clear; q++) {
        let x = inp.c[n];
        for (let r = 0; r < R; r++) x += inp.M[n * R + r] * inp.z[q * R + r];
        clear = kinks(nl, inp.h[n]).every((k) => Math.abs(x - k) > margin);
      }
      if (clear) break;
      if (attempt === 1000) throw new Error(`could not draw kink-free inputs for ${nl} (unit ${n}, P=${P})`);
      inp.c[n] = (rand() * 2 - 1) * 0.5;
      inp.h[n] = (rand() * 2 - 1) * 0.5;
    }
  }
  return inp;
}

// Sizes vary per nonlinearity to cover several ranks, partial unit tiles (N not a multiple of the
// workgroup, N above one tile) and several particle chunks in the parameter-gradient pass.
const GRAD_SIZES: Record<NonlinearityName, { P: number; N: number; R: number; chunk: number }> = {
  relu: { P: 6, N: 9, R: 3, chunk: 4 },
  clipped_relu: { P: 5, N: 70, R: 2, chunk: 2 },
  tanh: { P: 4, N: 70, R: 8, chunk: 3 },
  softplus: { P: 7, N: 11, R: 1, chunk: 7 },
  exp: { P: 3, N: 6, R: 4, chunk: 1 },
  identity: { P: 4, N: 65, R: 3, chunk: 64 },
};

const gradCases: GpuCase[] = (Object.keys(NONLINEARITIES) as NonlinearityName[]).map((nl) => ({
  name: `lowrankProduct gradient check (${nl})`,
  async run(engine) {
    const { P, N, R, chunk } = GRAD_SIZES[nl];
    const inp = makeInputs(7 + NONLINEARITIES[nl] * 1000, P, N, R, nl);
    await gradCheck(engine, {
      name: `lowrank.${nl}`,
      inputs: [
        { data: inp.z, shape: [P, R] },
        { data: inp.M, shape: [N, R] },
        { data: inp.c, shape: [N] },
        { data: inp.Nmat, shape: [N, R] },
        { data: inp.h, shape: [N] },
      ],
      gpu: (_e, [z, M, c, Nmat, h]) => lowrankProduct(z, M, c, Nmat, h, nl, { chunk }),
      reference: ([z, M, c, Nmat, h]) => lowrankProductRef(z, M, c, Nmat, h, R, nl),
    });
  },
}));

export const cases: GpuCase[] = [
  ...gradCases,
  {
    name: 'lowrankProduct forward and backward at moderate size match float64 (default chunking)',
    async run(engine) {
      const P = 1000, N = 300, R = 5;
      for (const nl of ['clipped_relu', 'softplus'] as const) {
        const inp = makeInputs(99, P, N, R, nl, 0);
        const rand = mulberry32(5);
        const gyData = Array.from({ length: P * R }, () => rand() * 2 - 1);
        const t = {
          z: Tensor.param(engine, inp.z, [P, R]), M: Tensor.param(engine, inp.M, [N, R]), c: Tensor.param(engine, inp.c, [N]),
          Nmat: Tensor.param(engine, inp.Nmat, [N, R]), h: Tensor.param(engine, inp.h, [N]),
        };
        const tape = Tape.begin(engine);
        const y = lowrankProduct(t.z, t.M, t.c, t.Nmat, t.h, nl);
        tape.end();
        assertClose(await y.readF32(), lowrankProductRef(inp.z, inp.M, inp.c, inp.Nmat, inp.h, R, nl), { atol: 1e-5, rtol: 1e-4, what: `${nl} forward` });
        const gy = Tensor.fromArray(engine, gyData, [P, R]);
        const grads = tape.gradients(y, [t.z, t.M, t.c, t.Nmat, t.h], { seed: gy });
        tape.dispose();
        const ref = lowrankProductBackwardRef(inp.z, inp.M, inp.c, inp.Nmat, inp.h, gyData, R, nl);
        const names = ['gz', 'gM', 'gc', 'gNmat', 'gh'] as const;
        for (let k = 0; k < 5; k++) {
          assertClose(await grads[k]!.readF32(), ref[names[k]], { atol: 1e-4, rtol: 1e-3, what: `${nl} ${names[k]}` });
          grads[k]!.dispose();
        }
        for (const x of [...Object.values(t), y, gy]) x.dispose();
      }
    },
  },
  {
    name: 'lowrankProduct rejects mismatched shapes and unknown nonlinearities with clear errors',
    async run(engine) {
      const z = Tensor.zeros(engine, [4, 3]);
      const M = Tensor.zeros(engine, [10, 2]);
      const c = Tensor.zeros(engine, [10]);
      const N3 = Tensor.zeros(engine, [10, 3]);
      const M3 = Tensor.zeros(engine, [10, 3]);
      const expect = (f: () => unknown, text: string) => {
        try {
          f();
        } catch (e) {
          if (!(e as Error).message.includes(text)) throw new Error(`wrong error: ${(e as Error).message}`);
          return;
        }
        throw new Error(`expected an error mentioning "${text}"`);
      };
      expect(() => lowrankProduct(z, M, c, N3, c, 'relu'), 'M must be [N, 3]');
      expect(() => lowrankProduct(z, M3, z, N3, c, 'relu'), 'c must be [10]');
      expect(() => lowrankProduct(z, M3, c, N3, c, 'sigmoid' as NonlinearityName), 'unknown nonlinearity "sigmoid"');
      for (const t of [z, M, c, N3, M3]) t.dispose();
    },
  },
];
