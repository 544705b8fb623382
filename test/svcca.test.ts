import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition, determinant } from 'ml-matrix';
import { svcca, type Activity } from '../src/analysis/svcca.js';
import { mulberry32 } from '../src/util/random.js';
import { encodeNpy } from '../src/io/npy.js';
import { run as svccaCli } from '../src/cli/svcca.js';

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** time × units activity: `latents` smooth signals mixed into `units` channels. */
function lowDimSignal(rand: () => number, time: number, units: number, latents: number): Activity {
  const freq = Array.from({ length: latents }, () => 0.5 + 3 * rand());
  const phase = Array.from({ length: latents }, () => 2 * Math.PI * rand());
  const mix = Array.from({ length: latents * units }, () => gaussian(rand));
  const data = new Float64Array(time * units);
  for (let t = 0; t < time; t++) {
    for (let l = 0; l < latents; l++) {
      const z = Math.sin((2 * Math.PI * freq[l] * t) / time + phase[l]);
      for (let j = 0; j < units; j++) data[t * units + j] += z * mix[l * units + j];
    }
  }
  return { data, rows: time, cols: units };
}

function noise(rand: () => number, time: number, units: number): Activity {
  return { data: Float64Array.from({ length: time * units }, () => gaussian(rand)), rows: time, cols: units };
}

function randomMatrix(rand: () => number, rows: number, cols: number): Matrix {
  return new Matrix(Array.from({ length: rows }, () => Array.from({ length: cols }, () => gaussian(rand))));
}

function toMatrix(x: Activity): Matrix {
  return new Matrix(Array.from({ length: x.rows }, (_, t) => Array.from(x.data).slice(t * x.cols, (t + 1) * x.cols)));
}

/** x · M + offset, with M (cols × outCols). */
function linearMap(x: Activity, m: Matrix, offset = 0): Activity {
  const out = toMatrix(x).mmul(m);
  return { data: Float64Array.from(out.to1DArray(), (v) => v + offset), rows: x.rows, cols: m.columns };
}

/** Textbook CCA as an independent oracle: singular values of Σaa^{-1/2} Σab Σbb^{-1/2}. */
function ccaReference(a: Matrix, b: Matrix): number[] {
  const centre = (x: Matrix) => x.clone().subRowVector(x.mean('column'));
  const ac = centre(a);
  const bc = centre(b);
  const invSqrt = (s: Matrix) => {
    const e = new EigenvalueDecomposition(s, { assumeSymmetric: true });
    const d = Matrix.diag(e.realEigenvalues.map((v) => 1 / Math.sqrt(v)));
    return e.eigenvectorMatrix.mmul(d).mmul(e.eigenvectorMatrix.transpose());
  };
  const t = invSqrt(ac.transpose().mmul(ac))
    .mmul(ac.transpose().mmul(bc))
    .mmul(invSqrt(bc.transpose().mmul(bc)));
  return new SingularValueDecomposition(t, { autoTranspose: true }).diagonal.sort((x, y) => y - x);
}

describe('svcca', () => {
  test('an invertible linear transform of a signal gives correlation 1', () => {
    const rand = mulberry32(11);
    const a = lowDimSignal(rand, 400, 30, 5);
    // Random square mixing (invertible with probability 1), plus an offset (removed by centring).
    const m = randomMatrix(rand, 30, 30);
    expect(Math.abs(determinant(m))).toBeGreaterThan(1e-6);
    const b = linearMap(a, m, 3.5);
    const r = svcca(a, b, { dims: 5 });
    expect(r.dims).toBe(5);
    for (const c of r.correlations) expect(c).toBeGreaterThan(1 - 1e-8);
    expect(r.mean).toBeGreaterThan(1 - 1e-8);
    expect(r.varianceExplained[0]).toBeGreaterThan(1 - 1e-8);
    // A wider transform (30 → 50 units) spans the same subspace: still 1.
    const wide = randomMatrix(rand, 30, 50);
    expect(svcca(a, linearMap(a, wide)).mean).toBeGreaterThan(1 - 1e-8);
  });

  test('independent noise gives low correlations', () => {
    const rand = mulberry32(12);
    const r = svcca(noise(rand, 2000, 40), noise(rand, 2000, 60), { dims: 5 });
    // Chance level for 5 × 5 directions over 2000 samples is about sqrt(5/2000) ≈ 0.05.
    expect(r.mean).toBeLessThan(0.15);
    expect(r.correlations[0]).toBeLessThan(0.2);
  });

  test('matches textbook CCA on the reduced subspaces and is symmetric', () => {
    const rand = mulberry32(13);
    const sig = lowDimSignal(rand, 300, 8, 3);
    const a: Activity = { data: Float64Array.from(sig.data, (v) => v + 0.8 * gaussian(rand)), rows: 300, cols: 8 };
    const b: Activity = { data: Float64Array.from(sig.data, (v) => -v + 0.8 * gaussian(rand)), rows: 300, cols: 8 };
    // With dims = number of units, SVCCA reduces to plain CCA.
    const r = svcca(a, b, { dims: 8 });
    const ref = ccaReference(toMatrix(a), toMatrix(b));
    r.correlations.forEach((c, i) => expect(c).toBeCloseTo(ref[i], 9));
    const back = svcca(b, a, { dims: 8 });
    back.correlations.forEach((c, i) => expect(c).toBeCloseTo(r.correlations[i], 9));
    // Fewer time points than units uses the time-space Gram matrix: same answer.
    const short = (x: Activity): Activity => ({ data: Array.from(x.data).slice(0, 48), rows: 6, cols: 8 });
    const s1 = svcca(short(a), short(b), { dims: 3 });
    const s2 = ccaReference(toMatrix(short(a)).mmul(pcs(toMatrix(short(a)), 3)), toMatrix(short(b)).mmul(pcs(toMatrix(short(b)), 3)));
    s1.correlations.forEach((c, i) => expect(c).toBeCloseTo(s2[i], 6));
  });

  test('rejects bad input with a clear message', () => {
    const a: Activity = { data: new Float64Array(20), rows: 10, cols: 2 };
    expect(() => svcca(a, { data: new Float64Array(22), rows: 11, cols: 2 })).toThrow(/share time points/);
    expect(() => svcca({ data: new Float64Array(19), rows: 10, cols: 2 }, a)).toThrow(/19 values/);
    expect(() => svcca(a, a)).toThrow(/zero variance/);
  });
});

/** Top-k principal axes (units × k) of centred x. */
function pcs(x: Matrix, k: number): Matrix {
  const c = x.clone().subRowVector(x.mean('column'));
  const svd = new SingularValueDecomposition(c, { autoTranspose: true });
  return svd.rightSingularVectors.subMatrix(0, x.columns - 1, 0, k - 1);
}

describe('svcca CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svcca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('prints {mean, correlations, dims} as JSON for .npy inputs', async () => {
    const rand = mulberry32(14);
    const a = lowDimSignal(rand, 200, 12, 4);
    const m = randomMatrix(rand, 12, 12);
    const b = linearMap(a, m);
    // A as conditions × time × units (rank 3), B as float32 time × units.
    writeFileSync(join(dir, 'a.npy'), encodeNpy(Float64Array.from(a.data), [4, 50, 12]));
    writeFileSync(join(dir, 'b.npy'), encodeNpy(Float32Array.from(b.data), [200, 12]));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const code = await svccaCli([join(dir, 'a.npy'), join(dir, 'b.npy'), '--dims', '4', '--json']);
    const out = JSON.parse(String(log.mock.calls[0][0]));
    log.mockRestore();
    expect(code).toBe(0);
    expect(out.dims).toBe(4);
    expect(out.correlations).toHaveLength(4);
    expect(out.mean).toBeGreaterThan(0.9999);
    writeFileSync(join(dir, 'c.npy'), encodeNpy(new Float64Array(30), [15, 2]));
    await expect(svccaCli([join(dir, 'a.npy'), join(dir, 'c.npy')])).rejects.toThrow(/has 200 time points but .*c\.npy has 15/);
  });
});
