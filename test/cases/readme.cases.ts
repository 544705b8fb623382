// The README's "define a function and take its gradient" example, verbatim apart from the import path.
import { Tape, Tensor, exp, mul, sum } from '../../src/index.js';
import { assertClose } from '../../src/autodiff/gradcheck.js';
import type { GpuCase } from './types.js';

export const cases: GpuCase[] = [
  {
    name: 'README example: gradient of Σ x·exp(x) is (1 + x)·exp(x)',
    async run(engine) {
      const x = Tensor.param(engine, [0.5, -1, 2], [3], 'x');
      const tape = Tape.begin(engine);
      const y = sum(mul(x, exp(x)));
      tape.end();
      tape.backward(y);
      const g = await x.grad!.readF32();
      assertClose(
        g,
        [0.5, -1, 2].map((v) => (1 + v) * Math.exp(v)),
        { rtol: 1e-5, what: 'x.grad' },
      );
    },
  },
];
