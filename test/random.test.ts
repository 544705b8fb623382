// The host-side normal sampler (src/util/random.ts): its three streams, written out by hand from
// mulberry32 here, and fixed-seed moments.
import { describe, expect, test } from 'vitest';
import { mulberry32, normalSampler, poissonDraw } from '../src/util/random.js';

describe('normalSampler', () => {
  test('default stream: r from 1 − u, the sine of each pair on the next draw; uniform() shares the stream', () => {
    const u = mulberry32(42);
    const want: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = Math.sqrt(-2 * Math.log(1 - u()));
      const th = 2 * Math.PI * u();
      want.push(r * Math.cos(th), r * Math.sin(th));
    }
    want.push(u());
    const s = normalSampler(42);
    expect([...Array.from({ length: 6 }, () => s.normal()), s.uniform()]).toEqual(want);
  });

  test("radius 'direct': r from u, an exact 0 redrawn (the D_stsp sample stream)", () => {
    const u = mulberry32(7);
    const want: number[] = [];
    for (let i = 0; i < 2; i++) {
      let a = 0;
      while (a === 0) a = u();
      const r = Math.sqrt(-2 * Math.log(a));
      const th = 2 * Math.PI * u();
      want.push(r * Math.cos(th), r * Math.sin(th));
    }
    const s = normalSampler(7, { radius: 'direct' });
    expect(Array.from({ length: 4 }, () => s.normal())).toEqual(want);
  });

  test('pairs: false spends a fresh pair on every draw', () => {
    const u = mulberry32(3);
    const want = Array.from({ length: 4 }, () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()));
    const s = normalSampler(3, { pairs: false });
    expect(Array.from({ length: 4 }, () => s.normal())).toEqual(want);
  });

  test.each([{}, { radius: 'direct' as const }, { pairs: false }])('standard normal moments for %o (fixed seed, 4 σ bounds)', (options) => {
    const s = normalSampler(11, options);
    const n = 100_000;
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    for (let i = 0; i < n; i++) {
      const x = s.normal();
      m1 += x;
      m2 += x * x;
      m4 += x ** 4;
    }
    // Standard errors: mean 1/√n, variance √(2/n), fourth moment √(96/n).
    expect(Math.abs(m1 / n)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(m2 / n - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(Math.abs(m4 / n - 3)).toBeLessThan(4 * Math.sqrt(96 / n));
  });
});

describe('poissonDraw', () => {
  test('fixed-seed moments match the Poisson law at small, medium and split (> 30) means; bad means are refused', () => {
    for (const rate of [0.3, 4, 75]) {
      const u = mulberry32(7);
      const n = 20000;
      const xs = Array.from({ length: n }, () => poissonDraw(rate, u));
      const mean = xs.reduce((a, b) => a + b, 0) / n;
      const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
      expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
      expect(Math.abs(mean - rate)).toBeLessThan(4 * Math.sqrt(rate / n));
      expect(Math.abs(variance / rate - 1)).toBeLessThan(0.05);
      if (rate < 1) expect(Math.abs(xs.filter((x) => x === 0).length / n - Math.exp(-rate))).toBeLessThan(0.015);
    }
    expect(poissonDraw(0, mulberry32(1))).toBe(0);
    expect(() => poissonDraw(-1, mulberry32(1))).toThrow(/non-negative/);
    expect(() => poissonDraw(NaN, mulberry32(1))).toThrow(/finite/);
  });
});
