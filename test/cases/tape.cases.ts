/**
 * Tape edge cases with known answers: backward twice (accumulates with retainGraph, refused without),
 * a disposed tape (refused by name, its intermediates freed), and tensors used more than once
 * (gradients from every use add up, for leaves and for intermediates).
 */
import { assertClose } from '../../src/autodiff/gradcheck.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { add, exp, mul } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/linalg.js';
import type { GpuCase } from './types.js';

const X = [0.5, -1, 2];
const Y = [1.5, 0.25, -0.75];
const map = (v: number[], f: (x: number, i: number) => number) => v.map(f);

function expectThrows(f: () => unknown, re: RegExp, what: string): void {
  let msg = '';
  try {
    f();
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!re.test(msg)) throw new Error(`${what}: expected an error matching ${re}, got ${msg ? `"${msg}"` : 'none'}`);
}

export const cases: GpuCase[] = [
  {
    name: 'tape: backward twice adds the gradient again with retainGraph and is refused after the graph is freed',
    async run(engine) {
      const x = Tensor.param(engine, X, [3], 'x');
      const tape = Tape.begin(engine);
      const loss = sum(mul(x, x));
      tape.end();
      tape.backward(loss, { retainGraph: true });
      assertClose(
        await x.grad!.readF32(),
        map(X, (v) => 2 * v),
        { rtol: 1e-6, what: 'first backward: d Σx² / dx' },
      );
      tape.backward(loss);
      assertClose(
        await x.grad!.readF32(),
        map(X, (v) => 4 * v),
        { rtol: 1e-6, what: 'second backward accumulates into x.grad' },
      );
      expectThrows(() => tape.backward(loss), /cannot backward, the tape is disposed: backward already ran .*retainGraph/, 'third backward');
      expectThrows(() => tape.gradients(loss, [x]), /cannot gradients, the tape is disposed/, 'gradients after backward');
      // the refused call left x.grad alone
      assertClose(
        await x.grad!.readF32(),
        map(X, (v) => 4 * v),
        { rtol: 1e-6, what: 'x.grad after the refused call' },
      );
      x.dispose();
    },
  },
  {
    name: 'tape: a disposed tape refuses backward and gradients by name and has freed its intermediates (retained ones survive)',
    async run(engine) {
      const x = Tensor.param(engine, X, [3], 'x');
      const tape = Tape.begin(engine);
      const e = exp(x);
      const prod = mul(e, x);
      const kept = prod.retain();
      const loss = sum(prod);
      tape.end();
      tape.dispose();
      tape.dispose(); // idempotent
      expectThrows(() => tape.backward(loss), /cannot backward, the tape is disposed: dispose\(\) freed it/, 'backward on a disposed tape');
      expectThrows(() => tape.gradients(loss, [x]), /cannot gradients, the tape is disposed/, 'gradients on a disposed tape');
      if (x.grad) throw new Error('x.grad was set by a refused backward');
      if (!e.isDisposed || !prod.isDisposed || !loss.isDisposed) throw new Error('the tape did not free the outputs it recorded');
      if (kept.isDisposed) throw new Error('a retained output was freed with the tape');
      assertClose(
        await kept.readF32(),
        map(X, (v) => v * Math.exp(v)),
        { rtol: 1e-5, what: 'retained x·exp(x)' },
      );
      // a fresh tape works after the disposed one (the engine's active tape was cleared)
      const tape2 = Tape.begin(engine);
      const loss2 = sum(exp(x));
      tape2.end();
      tape2.backward(loss2);
      assertClose(await x.grad!.readF32(), map(X, Math.exp), { rtol: 1e-5, what: 'd Σ exp(x) / dx on a new tape' });
      kept.dispose();
      x.dispose();
    },
  },
  {
    name: 'tape: gradients of a tensor used twice accumulate (same op, two ops, an intermediate, gradients())',
    async run(engine) {
      const x = Tensor.param(engine, X, [3], 'x');
      const y = Tensor.param(engine, Y, [3], 'y');
      // both inputs of one op: d Σ(x + x) / dx = 2
      let tape = Tape.begin(engine);
      let loss = sum(add(x, x));
      tape.end();
      tape.backward(loss);
      assertClose(await x.grad!.readF32(), [2, 2, 2], { rtol: 1e-6, what: 'd Σ(x + x) / dx' });
      x.grad!.dispose();
      x.grad = null;
      // two ops: L = Σ x·y + Σ x → dL/dx = y + 1, dL/dy = x
      tape = Tape.begin(engine);
      loss = add(sum(mul(x, y)), sum(x));
      tape.end();
      tape.backward(loss);
      assertClose(
        await x.grad!.readF32(),
        map(Y, (v) => v + 1),
        { rtol: 1e-6, what: 'd(Σ x·y + Σ x)/dx' },
      );
      assertClose(await y.grad!.readF32(), X, { rtol: 1e-6, what: 'd(Σ x·y + Σ x)/dy' });
      x.grad!.dispose();
      x.grad = null;
      // an intermediate used by two ops: e = exp(x), L = Σ e·e + Σ e → dL/de = 2e + 1, dL/dx = 2e² + e
      tape = Tape.begin(engine);
      const e = exp(x);
      loss = add(sum(mul(e, e)), sum(e));
      tape.end();
      const [ge, gx] = tape.gradients(loss, [e, x]);
      assertClose(
        await ge!.readF32(),
        map(X, (v) => 2 * Math.exp(v) + 1),
        { rtol: 1e-5, what: 'gradients(): dL/de' },
      );
      assertClose(
        await gx!.readF32(),
        map(X, (v) => 2 * Math.exp(2 * v) + Math.exp(v)),
        { rtol: 1e-5, what: 'gradients(): dL/dx' },
      );
      if (x.grad) throw new Error('gradients() must not touch x.grad');
      ge!.dispose();
      gx!.dispose();
      tape.backward(loss);
      assertClose(
        await x.grad!.readF32(),
        map(X, (v) => 2 * Math.exp(2 * v) + Math.exp(v)),
        { rtol: 1e-5, what: 'backward: dL/dx' },
      );
      x.dispose();
      y.dispose();
    },
  },
];
