/**
 * Philox-4x32-10 counter-based RNG (Salmon et al., SC'11), the TypeScript twin of shaders/rng.wgsl.
 *
 * A draw is a pure function of (key, counter), so any particle's noise at any step can be regenerated
 * on the GPU or the CPU. Addressing contract shared with the WGSL side:
 *   key = (seed low 32 bits, seed high 32 bits)            see seedToKey
 *   ctr = (counter, stream, purpose, extra)                 each a u32
 * Each block gives four u32 words, hence four uniforms or four normals.
 *
 * Agreement with the GPU: `philox4x32` is bit-identical. `uint32ToUniform` is computed exactly in
 * float64; the WGSL version rounds it to float32 (and clamps the single value that would round to 1),
 * so `Math.fround(uint32ToUniform(x))` equals the GPU value to within one float32 ulp.
 * `rngNormal4` uses float64 log/sqrt/cos/sin; the GPU normals agree to float32 rounding of those
 * functions (measured max |difference| 1.7e-6 on lavapipe; WGSL only promises ~2^-11 absolute
 * accuracy for cos/sin on [-π, π]: SwiftShader in Chromium differs by up to 8e-4 at r ≈ 4).
 */

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;
const PHILOX_ROUNDS = 10;

/** High 32 bits of the 64-bit product a*b of two u32, from 16-bit halves (as the WGSL does). */
export function mulhi32(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const ll = aLo * bLo;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const hh = aHi * bHi;
  // Carry out of the low word: bits 16..31 of ll plus the low halves of the cross terms.
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

function checkWords(what: string, words: ArrayLike<number>, n: number): void {
  if (words.length !== n) throw new Error(`philox4x32: ${what} must have ${n} words, got ${words.length}`);
  for (let i = 0; i < n; i++) {
    const w = words[i];
    if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) throw new Error(`philox4x32: ${what}[${i}] = ${w} is not a u32`);
  }
}

/** Philox-4x32-10 block: four u32 words from a 4-word counter and a 2-word key. */
export function philox4x32(ctr: ArrayLike<number>, key: ArrayLike<number>): Uint32Array {
  checkWords('counter', ctr, 4);
  checkWords('key', key, 2);
  let x0 = ctr[0] >>> 0;
  let x1 = ctr[1] >>> 0;
  let x2 = ctr[2] >>> 0;
  let x3 = ctr[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < PHILOX_ROUNDS; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulhi32(PHILOX_M0, x0);
    const lo0 = Math.imul(PHILOX_M0, x0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, x2);
    const lo1 = Math.imul(PHILOX_M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ k0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ k1) >>> 0;
    x3 = lo0;
  }
  return Uint32Array.of(x0, x1, x2, x3);
}

/** (top 24 bits + 0.5) / 2^24: strictly inside (0, 1), exact in float64. */
export function uint32ToUniform(x: number): number {
  return ((x >>> 8) + 0.5) * 5.9604644775390625e-8; // 2^-24
}

/** Four uniforms in (0, 1) for one (key, counter). Note the argument order: key first, as in WGSL. */
export function rngUniform4(key: ArrayLike<number>, ctr: ArrayLike<number>): Float64Array {
  const w = philox4x32(ctr, key);
  return Float64Array.from(w, uint32ToUniform);
}

/**
 * Four standard normals by Box–Muller on the pairs (u0, u1) and (u2, u3):
 * r = sqrt(-2 ln u_even), θ = π (2 u_odd - 1) ∈ (-π, π), normals r cos θ and r sin θ.
 * (θ is centred on 0 because WGSL's cos/sin accuracy is specified on [-π, π].)
 */
export function rngNormal4(key: ArrayLike<number>, ctr: ArrayLike<number>): Float64Array {
  const u = rngUniform4(key, ctr);
  const out = new Float64Array(4);
  for (let p = 0; p < 2; p++) {
    const r = Math.sqrt(-2 * Math.log(u[2 * p]));
    const theta = Math.PI * (2 * u[2 * p + 1] - 1);
    out[2 * p] = r * Math.cos(theta);
    out[2 * p + 1] = r * Math.sin(theta);
  }
  return out;
}

/** Split a 64-bit seed into the Philox key (low word, high word). */
export function seedToKey(seed: number | bigint): [number, number] {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed >= 1n << 64n) throw new Error(`seedToKey: seed ${seed} is outside [0, 2^64)`);
    return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`seedToKey: seed ${seed} must be a non-negative safe integer (use a bigint for 64-bit seeds)`);
  }
  return [seed % 0x100000000, Math.floor(seed / 0x100000000)];
}
