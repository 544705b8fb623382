import { Matrix, inverse } from 'ml-matrix';
import { assertClose } from '../../src/autodiff/gradcheck.js';
import { normalSampler } from '../../src/sparse/linalg.js';
import { netStep, rlsStep } from '../../src/sparse/kernels.js';
import type { GpuCase } from './types.js';

export const cases: GpuCase[] = [
  {
    name: 'sparse: GPU RLS with shared P equals the closed-form ridge solution',
    async run(engine) {
      const n = 8;
      const outs = 2;
      const rows = n + outs;
      const steps = 40;
      const alpha = 0.5;
      const rng = normalSampler(5);
      const r = Float32Array.from({ length: steps * n }, () => 2 * rng.uniform() - 1);
      const y = Float32Array.from({ length: steps * rows }, () => rng.normal());
      const targetsRec = new Float32Array(steps * n);
      const targetsOut = new Float32Array(steps * outs);
      for (let t = 0; t < steps; t++) {
        for (let i = 0; i < n; i++) targetsRec[t * n + i] = y[t * rows + i];
        for (let i = 0; i < outs; i++) targetsOut[t * outs + i] = y[t * rows + n + i];
      }
      const P0 = new Float32Array(n * n);
      for (let i = 0; i < n; i++) P0[i * n + i] = 1 / alpha;
      const P = engine.upload(P0);
      const Jw = engine.upload(new Float32Array(rows * n));
      const R = engine.upload(r);
      const tgt = engine.upload(targetsRec);
      const sig = engine.upload(targetsOut);
      const rIn = engine.alloc(n * 4);
      const tcur = engine.alloc(n * 4);
      const x = engine.upload(new Float32Array(n));
      const rOut = engine.alloc(n * 4);
      const cur = engine.alloc(rows * 4);
      const k = engine.alloc(n * 4);
      const e = engine.alloc(rows * 4);
      const coef = engine.upload(new Float32Array(4));
      const dummy = engine.upload(new Float32Array(1));
      const dummyRec = engine.upload(new Float32Array(1));
      for (let t = 0; t < steps; t++) {
        engine.copy(R, rIn, n * 4, t * n * 4);
        engine.copy(tgt, tcur, n * 4, t * n * 4);
        // The step kernel gives the a-priori outputs Jw r (no drive: d = 0).
        netStep(engine, { mat: Jw, drive: dummy, sig: dummy, rIn, x, rOut, cur, rec: dummyRec }, { n, rows, d: 0, batch: 1, t: 0, sigBatch: 1, sigB0: 0, teachFrom: 0, record: false, dtTau: 0.1 });
        rlsStep(engine, { P, Jw, r: rIn, cur, tcur, sig, k, e, coef }, { n, rows, teachRows: n, t, sigBatch: 1, sigB0: 0, d: outs, sigOff: 0, outFrom: n });
      }
      const gotJ = await engine.readF32(Jw, rows * n);
      const gotP = await engine.readF32(P, n * n);
      const stats = await engine.readF32(coef, 4);
      // Closed form: Jw = Y Rᵀ (R Rᵀ + αI)⁻¹ and P = (R Rᵀ + αI)⁻¹ (R: n × steps, Y: rows × steps).
      const Rm = new Matrix(Array.from({ length: steps }, (_, t) => Array.from(r.subarray(t * n, (t + 1) * n))));
      const Ym = new Matrix(Array.from({ length: steps }, (_, t) => Array.from(y.subarray(t * rows, (t + 1) * rows))));
      const G = Rm.transpose().mmul(Rm).add(Matrix.eye(n).mul(alpha));
      const Ginv = inverse(G);
      const Jref = Ym.transpose().mmul(Rm).mmul(Ginv);
      assertClose(gotP, Ginv.to1DArray(), { atol: 2e-5, rtol: 2e-4, what: 'P' });
      assertClose(gotJ, Jref.to1DArray(), { atol: 2e-4, rtol: 2e-3, what: 'Jw' });
      if (stats[3] !== steps) throw new Error(`update counter ${stats[3]}, expected ${steps}`);
      for (const b of [P, Jw, R, tgt, sig, rIn, tcur, x, rOut, cur, k, e, coef, dummy, dummyRec]) engine.release(b);
    },
  },
];
