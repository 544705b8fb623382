// CPU checks of the teacher presets, the reach-teacher conversion and the oscillation estimators.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { mulberry32 } from '../src/util/random.js';
import { autocorrelationPeriod, spectralPeak } from '../src/analysis/oscillation.js';
import { serializeModel } from '../src/models/model-file.js';
import { oscillatorTeacher, presetTeacher, reachInputs, teacherFromJson } from '../src/analysis/teachers.js';
import { latentStep, limitCycle, observedTransitionNoise, transitionCovariance } from '../src/analysis/latent-dynamics.js';
import type { HostParams } from '../src/models/lowrank-rnn.js';
import { sharedData } from './shared-data.js';

const REACH = sharedData('teacher_reach_rank2.json');

function sine(S: number, T: number, D: number, freq: number, noise: number, seed: number) {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const data = new Float64Array(S * T * D);
  for (let s = 0; s < S; s++) {
    const phase = 2 * Math.PI * rand();
    for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) data[(s * T + t) * D + d] = 3 + Math.cos(2 * Math.PI * freq * t + phase + d) + noise * gauss();
  }
  return { data, sequences: S, time: T, channels: D };
}

describe('oscillation estimators', () => {
  test('spectral peak and autocorrelation find a known frequency in noise', () => {
    for (const f of [1 / 23.7, 1 / 9.3, 0.2]) {
      const x = sine(4, 500, 3, f, 0.5, 11);
      expect(Math.abs(spectralPeak(x).frequency / f - 1)).toBeLessThan(0.01);
      expect(Math.abs(autocorrelationPeriod(x) * f - 1)).toBeLessThan(0.03);
    }
  });

  test('bad shapes are named', () => {
    expect(() => spectralPeak({ data: new Float64Array(10), sequences: 1, time: 5, channels: 3 })).toThrow(/10 values do not fill \(1, 5, 3\)/);
    expect(() => spectralPeak({ data: new Float64Array(4), sequences: 1, time: 4, channels: 1 })).toThrow(/at least 8 time steps/);
    expect(() => spectralPeak({ data: new Float64Array(40), sequences: 1, time: 40, channels: 1 })).toThrow(/no power/);
  });
});

describe('oscillator teachers', () => {
  test('the linearisation at the origin is ρ·Rot(ω): nᵀm = ρRot(ω) − aI', () => {
    const rho = 1.05;
    const omega = (2 * Math.PI) / 20;
    const t = oscillatorTeacher('gauss', { rho, omega });
    const { m, n } = t.params;
    const N = t.config.units;
    const nm = [0, 0, 0, 0];
    for (let i = 0; i < N; i++) for (let r = 0; r < 2; r++) for (let c = 0; c < 2; c++) nm[r * 2 + c] += n[i * 2 + r] * m[i * 2 + c];
    const expected = [rho * Math.cos(omega) - 0.9, -rho * Math.sin(omega), rho * Math.sin(omega), rho * Math.cos(omega) - 0.9];
    nm.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    expect(Math.exp(-Math.exp(t.params.thetaA[0]))).toBeCloseTo(0.9, 6);
    expect(t.config).toMatchObject({ rank: 2, units: 20, obsDim: 20, nonlinearity: 'tanh', obs: 'gauss', obsNonlinearity: 'identity' });
    expect(Array.from(t.params.h).every((v) => v === 0)).toBe(true);
  });

  test('the noiseless map has a limit cycle with a period of 20–30 steps', () => {
    const t = presetTeacher('osc-gauss');
    const lc = limitCycle(t.config, t.params);
    expect(lc.originUnstable).toBe(true);
    expect(lc.period).toBeGreaterThan(20);
    expect(lc.period).toBeLessThan(30);
    expect(lc.radiusMin).toBeGreaterThan(0.5);
    expect(lc.radiusMin / lc.radiusMax).toBeGreaterThan(0.8);
    // below ρ = 1 the origin is stable: no limit cycle
    const stable = oscillatorTeacher('gauss', { rho: 0.95 });
    expect(() => limitCycle(stable.config, stable.params)).toThrow(/no sustained oscillation/);
  });

  test('the Poisson teacher shares the latent dynamics and has rates of about 0.1–1 counts per bin', () => {
    const g = presetTeacher('osc-gauss');
    const p = presetTeacher('osc-poisson');
    expect(p.config).toMatchObject({ obsDim: 40, obs: 'poisson', obsNonlinearity: 'softplus' });
    expect(Array.from(p.params.m)).toEqual(Array.from(g.params.m));
    expect(Array.from(p.params.n)).toEqual(Array.from(g.params.n));
    // mean rate along the noiseless cycle
    let z: Float64Array = Float64Array.from([1, 0]);
    for (let t = 0; t < 1000; t++) z = latentStep(p.config, p.params, z);
    let total = 0;
    const steps = 200;
    for (let t = 0; t < steps; t++) {
      z = latentStep(p.config, p.params, z);
      for (let d = 0; d < 40; d++) {
        const eta = p.params.B[d * 2] * z[0] + p.params.B[d * 2 + 1] * z[1] + p.params.b[d];
        total += Math.log1p(Math.exp(eta));
      }
    }
    const mean = total / (steps * 40);
    expect(mean).toBeGreaterThan(0.1);
    expect(mean).toBeLessThan(1);
  });

  test('the observed transition noise tr(BᵀΣzB) is invariant under a change of latent basis', () => {
    const t = presetTeacher('osc-gauss');
    let sumB2 = 0;
    for (const v of t.params.B) sumB2 += v * v;
    expect(observedTransitionNoise(t.config, t.params)).toBeCloseTo(0.01 * sumB2, 5);
    // z̃ = A z: Σ̃ = AΣAᵀ (stored as a Cholesky factor with log-diagonal), B̃ᵀ = BᵀA⁻¹
    const A = [1.7, -0.4, 0.9, 0.6];
    const det = A[0] * A[3] - A[1] * A[2];
    const Ai = [A[3] / det, -A[1] / det, -A[2] / det, A[0] / det];
    const S = Array.from(transitionCovariance(t.config, t.params));
    const AS = [A[0] * S[0] + A[1] * S[2], A[0] * S[1] + A[1] * S[3], A[2] * S[0] + A[3] * S[2], A[2] * S[1] + A[3] * S[3]];
    const St = [AS[0] * A[0] + AS[1] * A[1], AS[0] * A[2] + AS[1] * A[3], AS[2] * A[0] + AS[3] * A[1], AS[2] * A[2] + AS[3] * A[3]];
    const l00 = Math.sqrt(St[0]);
    const l10 = St[2] / l00;
    const l11 = Math.sqrt(St[3] - l10 * l10);
    const p: HostParams = { ...t.params, noiseZ: Float32Array.from([2 * Math.log(l00), 0, l10, 2 * Math.log(l11)]), B: new Float32Array(t.params.B.length) };
    for (let d = 0; d < t.config.obsDim; d++) {
      const [b0, b1] = [t.params.B[d * 2], t.params.B[d * 2 + 1]];
      p.B[d * 2] = b0 * Ai[0] + b1 * Ai[2];
      p.B[d * 2 + 1] = b0 * Ai[1] + b1 * Ai[3];
    }
    const changed = Array.from(transitionCovariance(t.config, p));
    expect(Math.abs(changed[0] - S[0])).toBeGreaterThan(0.005); // Σz itself is not invariant
    expect(observedTransitionNoise(t.config, p) / observedTransitionNoise(t.config, t.params)).toBeCloseTo(1, 5);
  });

  test('unknown presets and bad options are rejected', () => {
    expect(() => presetTeacher('osc')).toThrow(/unknown teacher preset "osc".*osc-gauss, osc-poisson/);
    expect(() => oscillatorTeacher('gauss', { noiseStd: 0 })).toThrow(/positive/);
    expect(() => oscillatorTeacher('gauss', { units: 1 })).toThrow(/units/);
  });
});

describe('teacher files', () => {
  const text = readFileSync(REACH, 'utf8');
  const file = JSON.parse(text);

  test('the reach teacher is the latent reduction of the file', () => {
    const t = teacherFromJson(text, 'reach.json');
    const { N, R, alpha } = file;
    expect(t.kind).toBe('reach');
    expect(t.config).toMatchObject({ rank: R, units: N, obsDim: N, inputDim: 2, nonlinearity: 'relu', obs: 'gauss' });
    const rand = mulberry32(5);
    for (let trial = 0; trial < 5; trial++) {
      const z = [2 * rand() - 1, 2 * rand() - 1];
      const u = trial < 2 ? [0, 0] : [Math.cos(trial), Math.sin(trial)];
      // z' = (1−α) z + (α/N) n relu(m z + b_rec + w_inp_scale·w_inpᵀ u), straight from the file
      const expected = z.map((v) => (1 - alpha) * v);
      for (let i = 0; i < N; i++) {
        let x = file.b_rec[i];
        for (let r = 0; r < R; r++) x += file.m[i][r] * z[r];
        for (let j = 0; j < 2; j++) x += file.w_inp_scale * file.w_inp[j][i] * u[j];
        for (let r = 0; r < R; r++) expected[r] += (alpha / N) * file.n[r][i] * Math.max(x, 0);
      }
      const got = latentStep(t.config, t.params, z, u);
      expected.forEach((v, r) => expect(got[r]).toBeCloseTo(v, 5));
    }
    // currents observed: Bᵀ = m, noise 0.05
    expect(Array.from(t.params.B)).toEqual(Array.from(t.params.m));
    expect(Math.exp(t.params.logVarX[0] / 2)).toBeCloseTo(0.05, 6);
    expect(Math.sqrt(transitionCovariance(t.config, t.params)[0])).toBeCloseTo(0.05, 6);
  });

  test('reach stimuli: 8 targets, on for steps [25, 50)', () => {
    const u = reachInputs(9, 60);
    const at = (k: number, t: number) => [u[(k * 60 + t) * 2], u[(k * 60 + t) * 2 + 1]];
    expect(at(0, 24)).toEqual([0, 0]);
    expect(at(0, 25)[0]).toBeCloseTo(1, 6);
    expect(at(2, 30)[1]).toBeCloseTo(1, 6);
    expect(at(8, 49)[0]).toBeCloseTo(1, 6); // trial 8 repeats target 0
    expect(at(3, 50)).toEqual([0, 0]);
  });

  test('a model file is accepted as a teacher unchanged', () => {
    const t = presetTeacher('osc-poisson');
    const json = JSON.stringify(serializeModel(t.config, t.params, null, null));
    const back = teacherFromJson(json, 'model.json');
    expect(back.kind).toBe('model-file');
    expect(back.config).toEqual(t.config);
    for (const k of ['m', 'n', 'B', 'b', 'noiseZ', 'thetaA'] as const) expect(Array.from(back.params[k])).toEqual(Array.from(t.params[k]));
  });

  test('bad teacher files name the problem', () => {
    expect(() => teacherFromJson('{', 'x.json')).toThrow(/x.json: not valid JSON/);
    expect(() => teacherFromJson('{"a": 1}', 'x.json')).toThrow(/x.json: neither a teacher RNN file/);
    expect(() => teacherFromJson(JSON.stringify({ ...file, m: file.m.slice(1) }), 'x.json')).toThrow(/x.json: field "m" must be a 60×2 array/);
    expect(() => teacherFromJson(JSON.stringify({ ...file, nonlinearity: 'tanh' }), 'x.json')).toThrow(/nonlinearity "tanh"/);
    expect(() => teacherFromJson(JSON.stringify({ ...file, b_rec: [1, 2] }), 'x.json')).toThrow(/b_rec/);
  });
});
