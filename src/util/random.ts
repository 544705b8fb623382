/**
 * Small seeded host-side randomness for CPU code (tests, simulators, benches, random directions):
 * deterministic and dependency-free, so CPU-only code need not load the GPU or the tape. The GPU's
 * streams are Philox (src/gpu/rng.ts), not this.
 */

/** mulberry32: a 32-bit-state generator of uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface NormalOptions {
  /**
   * Where the Box–Muller radius √(−2 log ·) takes its uniform u: 'complement' (default) uses 1 − u,
   * never 0; 'direct' uses u and redraws an exact 0 (the stream of the D_stsp Monte-Carlo samples,
   * kept so that metric figures stay reproducible).
   */
  radius?: 'complement' | 'direct';
  /** Keep the sine of each pair for the next draw (default true); false spends a fresh pair on every draw. */
  pairs?: boolean;
}

/**
 * Seeded standard normal draws, Box–Muller on mulberry32: a pair of uniforms (u, v) gives r cos 2πv
 * and, on the next draw, r sin 2πv. `uniform` draws from the same stream.
 */
export function normalSampler(seed: number, options: NormalOptions = {}): { normal(): number; uniform(): number } {
  const uniform = mulberry32(seed);
  const direct = options.radius === 'direct';
  const pairs = options.pairs ?? true;
  let spare: number | null = null;
  return {
    uniform,
    normal() {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = uniform();
      if (direct) while (u === 0) u = uniform();
      const r = Math.sqrt(-2 * Math.log(direct ? u : 1 - u));
      const th = 2 * Math.PI * uniform();
      if (pairs) spare = r * Math.sin(th);
      return r * Math.cos(th);
    },
  };
}

/**
 * A Poisson draw with mean `rate` (Knuth's product of uniforms; a large mean is split into parts of at
 * most 30, whose draws sum to a draw of the whole, so the product never underflows).
 */
export function poissonDraw(rate: number, uniform: () => number): number {
  if (!(rate >= 0) || !Number.isFinite(rate)) throw new Error(`Poisson draw: the mean must be finite and non-negative, got ${rate}`);
  let k = 0;
  for (let left = rate; left > 0; left -= 30) {
    const limit = Math.exp(-Math.min(left, 30));
    for (let p = uniform(); p > limit; p *= uniform()) k++;
  }
  return k;
}
