// CPU tests of the CURBD-style learner (src/sparse/curbd.ts): the adjoint gradient of the free-running
// loss against central finite differences (tanh and the circuit's asymmetric rate function); on the small
// motor circuit of the GPU case the refinement lifting every unit's R² above 0.9 where the teacher-forced
// fit alone leaves the worst unit at 0.84; on the same circuit driven at 20 Hz the learner with the
// circuit's rate function reaching 0.9 for every unit where the tanh learner does not (float64 runs,
// the same Euler step as the GPU kernel).
import { describe, expect, test } from 'vitest';
import { curbdFreeRunLoss, curbdUnitR2, trainCurbd } from '../src/sparse/curbd.js';
import { rateRnnTrialsRef } from '../src/sparse/bptt-op.js';
import type { SparseTask } from '../src/sparse/task.js';
import { normalSampler } from '../src/util/random.js';
import { TANH_RATE } from '../src/sparse/circuit.js';
import { tinyMotorTask } from './cases/sparse.cases.js';

describe('CURBD free-running refinement', () => {
  // tanh, and an asymmetric function of the circuit's shape (saturating at −0.3 and +1.2).
  test.each([
    ['tanh', TANH_RATE],
    ['the asymmetric rate function', { r0: 0.3, rmax: 1.5 }],
  ])('the adjoint gradient of the free-running loss equals central finite differences (%s)', (_, rate) => {
    const d = { trials: 3, time: 25, n: 6, nin: 2 };
    const rng = normalSampler(5);
    const normal = (count: number, sd: number) => Float64Array.from({ length: count }, () => sd * rng.normal());
    const J = normal(d.n * d.n, 1.5 / Math.sqrt(d.n));
    const U = normal(d.n * d.nin, 1);
    const x0 = normal(d.n, 0.5);
    const inputs = normal(d.trials * d.time * d.nin, 1);
    const targets = normal(d.trials * d.time * d.n, 0.3);
    const dtTau = 0.1;
    const { gJ, gU, gx0 } = curbdFreeRunLoss(J, U, x0, inputs, targets, d, dtTau, rate);
    // Both sides of the asymmetric function are visited (its slope differs there).
    const { rates } = rateRnnTrialsRef(J, U, [], x0, inputs, { ...d, m: 0 }, dtTau, rate);
    expect(Math.min(...rates)).toBeLessThan(-0.5 * rate.r0);
    expect(Math.max(...rates)).toBeGreaterThan(0.5 * rate.r0);
    const eps = 1e-6;
    for (const [p, g] of [
      [J, gJ],
      [U, gU],
      [x0, gx0],
    ] as const) {
      for (let i = 0; i < p.length; i++) {
        const v = p[i];
        p[i] = v + eps;
        const up = curbdFreeRunLoss(J, U, x0, inputs, targets, d, dtTau, rate).loss;
        p[i] = v - eps;
        const down = curbdFreeRunLoss(J, U, x0, inputs, targets, d, dtTau, rate).loss;
        p[i] = v;
        expect(Math.abs(g[i] - (up - down) / (2 * eps))).toBeLessThan(1e-7 + 1e-5 * Math.abs(g[i]));
      }
    }
  });

  /** Worst unit's R² of a CURBD learner on the 30-neuron circuit (directions 1 and 4 held out), float64 run. */
  const worstR2 = (task: SparseTask, rate: 'tanh' | 'circuit', refineIterations: number) => {
    const model = trainCurbd(task, { tau: 200, dt: 4, sampled: 30, heldOut: [1, 4], refineIterations, rate });
    const d = { trials: task.conditions, time: task.time, n: model.n, m: 0, nin: 2 };
    const { rates } = rateRnnTrialsRef(model.J, model.Uin, [], model.xInit, task.inputs, d, model.dt / model.tau, model.rate);
    return Math.min(...curbdUnitR2(task, model, rates));
  };

  test('on a 30-neuron circuit the refinement lifts every unit to R² ≥ 0.9 (teacher-forced fit alone: worst < 0.9)', () => {
    const task = tinyMotorTask(30, 10);
    expect(worstR2(task, 'tanh', 0)).toBeLessThan(0.9); // 0.844
    expect(worstR2(task, 'tanh', 100)).toBeGreaterThanOrEqual(0.9); // 0.923
  });

  test("driven at 20 Hz, the learner with the circuit's rate function reaches R² ≥ 0.9 for every unit; the tanh learner does not", () => {
    const task = tinyMotorTask(30, 20);
    expect(worstR2(task, 'tanh', 100)).toBeLessThan(0.9); // 0.850
    expect(worstR2(task, 'circuit', 100)).toBeGreaterThanOrEqual(0.9); // 0.938
  });

  test('bad refinement options are refused by name', () => {
    const task: SparseTask = {
      conditions: 1,
      time: 10,
      inputs: new Float64Array(10),
      nInputs: 1,
      outputs: new Float64Array(10),
      nOutputs: 1,
      rates: Float64Array.from({ length: 20 }, (_, i) => Math.sin(i)),
      nNeurons: 2,
    };
    expect(() => trainCurbd(task, { sampled: 2, refineIterations: 1.5 })).toThrow(/refineIterations must be an integer ≥ 0/);
    expect(() => trainCurbd(task, { sampled: 2, refineLr: 0 })).toThrow(/refineLr must be a positive number/);
    expect(() => trainCurbd(task, { sampled: 2, rate: 'circuit' })).toThrow(/rate 'circuit' needs the task's rate function/);
    expect(() => trainCurbd({ ...task, rateFunction: { r0: 2, rmax: 1 } }, { sampled: 2 })).toThrow(/0 < r0 < rmax/);
    expect(() => trainCurbd(task, { sampled: 2, rate: 'relu' as 'tanh' })).toThrow(/rate must be 'tanh' or 'circuit'/);
  });
});
