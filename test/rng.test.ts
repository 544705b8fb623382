// CPU tests of the TypeScript Philox-4x32-10 (the GPU twin is checked against it in cases/rng.cases.ts).
import { describe, expect, test } from 'vitest';
import { mulhi32, philox4x32, rngNormal4, rngUniform4, seedToKey, uint32ToUniform } from '../src/gpu/rng.js';
import { mulberry32 } from '../src/util/random.js';
import { ksStatistic, normalCdf } from './cases/rng.cases.js';

// Random123 kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> output[4].
const KAT: [number[], number[], number[]][] = [
  [
    [0, 0, 0, 0],
    [0, 0],
    [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
  ],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

describe('philox4x32-10', () => {
  test('matches the Random123 known-answer vectors', () => {
    for (const [ctr, key, want] of KAT) expect([...philox4x32(ctr, key)]).toEqual(want);
  });

  test('mulhi32 from 16-bit halves equals the 64-bit product high word', () => {
    const rand = mulberry32(7);
    const edge = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xd2511f53, 0xcd9e8d57];
    const values = [...edge, ...Array.from({ length: 2000 }, () => Math.floor(rand() * 2 ** 32))];
    for (let i = 0; i < values.length; i++) {
      const a = values[i];
      const b = values[(i * 7 + 3) % values.length];
      expect(mulhi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
    }
  });

  test('one flipped counter bit changes about half of the 128 output bits', () => {
    const key = seedToKey(12345);
    let flipped = 0;
    let trials = 0;
    for (let c = 0; c < 64; c++) {
      for (let bit = 0; bit < 128; bit += 5) {
        const ctr = [c, 3, 1, 0];
        const base = philox4x32(ctr, key);
        ctr[bit >> 5] = (ctr[bit >> 5] ^ (1 << (bit & 31))) >>> 0;
        const other = philox4x32(ctr, key);
        for (let w = 0; w < 4; w++) flipped += popcount(base[w] ^ other[w]);
        trials++;
      }
    }
    const mean = flipped / trials;
    // Binomial(128, 1/2) per trial: mean 64, sd of the mean 5.66/sqrt(1664) ≈ 0.14.
    expect(Math.abs(mean - 64)).toBeLessThan(1);
  });

  test('rejects malformed counters and keys with a clear error', () => {
    expect(() => philox4x32([0, 0, 0], [0, 0])).toThrow(/counter must have 4 words/);
    expect(() => philox4x32([0, 0, 0, -1], [0, 0])).toThrow(/counter\[3\] = -1 is not a u32/);
    expect(() => philox4x32([0, 0, 0, 0], [0, 2 ** 32])).toThrow(/key\[1\]/);
  });
});

describe('uniforms, normals, seeds', () => {
  test('uint32ToUniform maps the extremes strictly inside (0, 1) and is monotone', () => {
    expect(uint32ToUniform(0)).toBe(2 ** -25);
    expect(uint32ToUniform(0xffffffff)).toBe(1 - 2 ** -25);
    expect(uint32ToUniform(0xffffffff)).toBeLessThan(1);
    expect(uint32ToUniform(0x80000000)).toBe(0.5 + 2 ** -25);
    let prev = -1;
    for (let k = 0; k < 2 ** 24; k += 4099) {
      const u = uint32ToUniform(k << 8);
      expect(u).toBeGreaterThan(prev);
      prev = u;
    }
  });

  test('rngUniform4 and rngNormal4 are Box–Muller pairs of the same block', () => {
    const key = seedToKey(99n);
    const ctr = [5, 6, 7, 8];
    const u = rngUniform4(key, ctr);
    const z = rngNormal4(key, ctr);
    expect(Math.hypot(z[0], z[1])).toBeCloseTo(Math.sqrt(-2 * Math.log(u[0])), 12);
    expect(Math.hypot(z[2], z[3])).toBeCloseTo(Math.sqrt(-2 * Math.log(u[2])), 12);
    expect(Math.atan2(z[1], z[0])).toBeCloseTo(Math.PI * (2 * u[1] - 1), 12);
  });

  test('TS normals pass mean, variance and Kolmogorov–Smirnov checks (fixed seed)', () => {
    const key = seedToKey(2024);
    const n = 4 * 20000;
    const z = new Float64Array(n);
    for (let c = 0; c < n / 4; c++) z.set(rngNormal4(key, [c, 0, 0, 0]), 4 * c);
    const mean = z.reduce((a, b) => a + b, 0) / n;
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    // KS 0.1% critical value ≈ 1.95 / sqrt(n).
    expect(ksStatistic(z, normalCdf)).toBeLessThan(1.95 / Math.sqrt(n));
  });

  test('seedToKey splits 64-bit seeds into (low, high) words', () => {
    expect(seedToKey(0)).toEqual([0, 0]);
    expect(seedToKey(0x1234_5678_9abc)).toEqual([0x56789abc, 0x1234]);
    expect(seedToKey(Number.MAX_SAFE_INTEGER)).toEqual([0xffffffff, 0x1fffff]);
    expect(seedToKey(0xfedcba9876543210n)).toEqual([0x76543210, 0xfedcba98]);
    expect(seedToKey((1n << 64n) - 1n)).toEqual([0xffffffff, 0xffffffff]);
    expect(() => seedToKey(-1)).toThrow(/non-negative safe integer/);
    expect(() => seedToKey(1.5)).toThrow(/non-negative safe integer/);
    expect(() => seedToKey(1n << 64n)).toThrow(/outside \[0, 2\^64\)/);
  });
});

function popcount(x: number): number {
  let c = 0;
  for (let v = x >>> 0; v; v &= v - 1) c++;
  return c;
}
