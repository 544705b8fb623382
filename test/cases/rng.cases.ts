// GPU Philox (shaders/rng.wgsl) against the TypeScript twin, plus fixed-seed statistics of GPU normals.
import { assertClose } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import type { Engine } from '../../src/gpu/engine.js';
import type { Kernel } from '../../src/gpu/kernel.js';
import { preprocess } from '../../src/gpu/preprocess.js';
import { philox4x32, rngNormal4, rngUniform4, seedToKey, uint32ToUniform } from '../../src/gpu/rng.js';
import type { GpuCase } from './types.js';

// Test kernels that expose the included RNG functions (rng.wgsl itself has no bindings).
const TEST_KERNELS = `
#include "rng"
struct Params { key: vec2<u32>, n: u32, stream: u32 }
@group(0) @binding(0) var<storage, read> ctrs: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> keys: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> bits: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> unif: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> normals: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> words: array<u32>;
@group(0) @binding(6) var<storage, read_write> mapped: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

@compute @workgroup_size(64)
fn blocks(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= p.n) { return; }
  bits[i] = philox4x32(ctrs[i], keys[i]);
  unif[i] = rng_uniform4(keys[i], ctrs[i]);
  normals[i] = rng_normal4(keys[i], ctrs[i]);
}

@compute @workgroup_size(64)
fn to_uniform(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < p.n) { mapped[i] = u32_to_uniform(words[i]); }
}

// Normals of one stream with counters 0..n-1 (the SMC addressing pattern).
@compute @workgroup_size(64)
fn stream_normals(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  normals[i] = rng_normal4(p.key, vec4<u32>(i, p.stream, 0u, 0u));
  unif[i] = rng_uniform4(p.key, vec4<u32>(i, p.stream, 1u, 0u));
}
`;

function testKernel(engine: Engine, entry: string): Kernel {
  return engine.kernelFromSource(`rng-test.${entry}`, preprocess(TEST_KERNELS), entry);
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7: ample for KS at n ≤ 1e6). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Kolmogorov–Smirnov statistic sup |F_n - F| of a sample against a continuous CDF. */
export function ksStatistic(samples: ArrayLike<number>, cdf: (x: number) => number): number {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, f - i / n, (i + 1) / n - f);
  }
  return d;
}

function meanVar(x: ArrayLike<number>): [number, number] {
  let m = 0;
  for (let i = 0; i < x.length; i++) m += x[i];
  m /= x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - m) ** 2;
  return [m, v / (x.length - 1)];
}

export const cases: GpuCase[] = [
  {
    name: 'rng: WGSL philox4x32 equals the TS twin bit for bit (KATs and 4096 random counters/keys)',
    async run(engine) {
      const rand = mulberry32(42);
      const u32 = () => Math.floor(rand() * 2 ** 32);
      const ctrs: number[][] = [
        [0, 0, 0, 0],
        [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      ];
      const keys: number[][] = [
        [0, 0],
        [0xffffffff, 0xffffffff],
        [0xa4093822, 0x299f31d0],
      ];
      for (let i = 0; i < 4096; i++) {
        // Mix small structured counters (the common case) with arbitrary words.
        ctrs.push(i % 2 ? [u32(), u32(), u32(), u32()] : [i, i % 7, 3, 0]);
        keys.push(i % 3 ? [u32(), u32()] : seedToKey(i));
      }
      const n = ctrs.length;
      const ctrBuf = engine.upload(Uint32Array.from(ctrs.flat()));
      const keyBuf = engine.upload(Uint32Array.from(keys.flat()));
      const bits = engine.alloc(n * 16);
      const unif = engine.alloc(n * 16);
      const normals = engine.alloc(n * 16);
      engine.dispatch(testKernel(engine, 'blocks'), { ctrs: ctrBuf, keys: keyBuf, bits, unif, normals, p: { key: [0, 0], n, stream: 0 } }, Math.ceil(n / 64));
      const gotBits = await engine.readU32(bits, n * 4);
      const gotUnif = await engine.readF32(unif, n * 4);
      const gotNormals = await engine.readF32(normals, n * 4);
      const wantBits = new Uint32Array(n * 4);
      const wantUnif = new Float64Array(n * 4);
      const wantNormals = new Float64Array(n * 4);
      for (let i = 0; i < n; i++) {
        wantBits.set(philox4x32(ctrs[i], keys[i]), 4 * i);
        wantUnif.set(rngUniform4(keys[i], ctrs[i]), 4 * i);
        wantNormals.set(rngNormal4(keys[i], ctrs[i]), 4 * i);
      }
      for (let i = 0; i < n * 4; i++) {
        if (gotBits[i] !== wantBits[i]) {
          const b = i >> 2;
          throw new Error(
            `philox mismatch at block ${b} word ${i & 3} (ctr ${ctrs[b]}, key ${keys[b]}): gpu ${gotBits[i].toString(16)}, ts ${wantBits[i].toString(16)}`,
          );
        }
      }
      // Uniforms: the GPU rounds (k + 0.5) 2^-24 to float32, i.e. at most 2^-25 away.
      assertClose(gotUnif, wantUnif, { atol: 2 ** -25, rtol: 0, what: 'uniforms' });
      // Normals: float32 log/sqrt and the kernel's own sin/cos (not WGSL's, which may be off by 2^-11)
      // against float64. WGSL allows log an absolute 2^-21 near 1, which moves r = sqrt(-2 ln u) by 2^-21 / r.
      for (let i = 0; i < n * 4; i++) {
        const pair = i & ~1;
        const r = Math.hypot(wantNormals[pair], wantNormals[pair + 1]);
        const bound = 2e-6 * (1 + r) + 2 ** -21 / r;
        if (!(Math.abs(gotNormals[i] - wantNormals[i]) <= bound)) {
          throw new Error(`normal ${i} (block ${i >> 2}): gpu ${gotNormals[i]}, ts ${wantNormals[i]}, bound ${bound.toExponential(2)}`);
        }
      }
      for (const b of [ctrBuf, keyBuf, bits, unif, normals]) engine.release(b);
    },
  },
  {
    name: 'rng: u32_to_uniform stays strictly inside (0, 1) at the extremes',
    async run(engine) {
      const words = Uint32Array.of(0, 0xff, 0x100, 0x7fffffff, 0x80000000, 0x800000ff, 0xfffffe00, 0xffffff00, 0xffffffff);
      const wordBuf = engine.upload(words);
      const mapped = engine.alloc(words.length * 4);
      engine.dispatch(testKernel(engine, 'to_uniform'), { words: wordBuf, mapped, p: { key: [0, 0], n: words.length, stream: 0 } }, 1);
      const got = await engine.readF32(mapped, words.length);
      for (let i = 0; i < words.length; i++) {
        if (!(got[i] > 0 && got[i] < 1)) throw new Error(`u32_to_uniform(${words[i].toString(16)}) = ${got[i]} is not inside (0, 1)`);
      }
      assertClose(got, Array.from(words, uint32ToUniform), { atol: 2 ** -24, rtol: 0, what: 'u32_to_uniform' });
      if (got[0] !== 2 ** -25) throw new Error(`u32_to_uniform(0) = ${got[0]}, expected 2^-25`);
      engine.release(wordBuf);
      engine.release(mapped);
    },
  },
  {
    name: 'rng: GPU normals and uniforms pass fixed-seed mean, variance, KS and cross-stream checks',
    async run(engine) {
      const blocks = 1 << 15; // 131072 normals per stream
      const n = blocks * 4;
      const key = seedToKey(0x5eed_1234_5678n);
      const k = testKernel(engine, 'stream_normals');
      const draw = async (stream: number) => {
        const normals = engine.alloc(n * 4);
        const unif = engine.alloc(n * 4);
        engine.dispatch(k, { normals, unif, p: { key, n: blocks, stream } }, engine.grid(blocks, 64));
        const z = await engine.readF32(normals, n);
        const u = await engine.readF32(unif, n);
        engine.release(normals);
        engine.release(unif);
        return { z, u };
      };
      const a = await draw(0);
      const b = await draw(1);
      const [mean, variance] = meanVar(a.z);
      // 4-sigma bounds; KS at the 0.1% critical value 1.95/sqrt(n).
      if (Math.abs(mean) > 4 / Math.sqrt(n)) throw new Error(`normal mean ${mean} too far from 0`);
      if (Math.abs(variance - 1) > 4 * Math.sqrt(2 / n)) throw new Error(`normal variance ${variance} too far from 1`);
      const ksZ = ksStatistic(a.z, normalCdf);
      if (ksZ > 1.95 / Math.sqrt(n)) throw new Error(`normal KS statistic ${ksZ} exceeds ${1.95 / Math.sqrt(n)}`);
      const ksU = ksStatistic(a.u, (x) => Math.min(1, Math.max(0, x)));
      if (ksU > 1.95 / Math.sqrt(n)) throw new Error(`uniform KS statistic ${ksU} exceeds ${1.95 / Math.sqrt(n)}`);
      let fourth = 0;
      for (let i = 0; i < n; i++) fourth += a.z[i] ** 4;
      // E z^4 = 3, Var z^4 = 96.
      if (Math.abs(fourth / n - 3) > 4 * Math.sqrt(96 / n)) throw new Error(`normal fourth moment ${fourth / n} too far from 3`);
      // Streams must be independent: correlation of matching draws, and of neighbours within a stream.
      let cross = 0;
      let lag = 0;
      for (let i = 0; i < n; i++) {
        cross += a.z[i] * b.z[i];
        if (i + 1 < n) lag += a.z[i] * a.z[i + 1];
      }
      if (Math.abs(cross / n) > 4 / Math.sqrt(n)) throw new Error(`streams 0 and 1 correlate: ${cross / n}`);
      if (Math.abs(lag / n) > 4 / Math.sqrt(n)) throw new Error(`lag-1 correlation within a stream: ${lag / n}`);
    },
  },
];
