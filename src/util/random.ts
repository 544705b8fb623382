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

/** Seeded standard normal draws (Box–Muller on mulberry32). */
export function normalSampler(seed: number): { normal(): number; uniform(): number } {
  const uniform = mulberry32(seed);
  let spare: number | null = null;
  return {
    uniform,
    normal() {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      const r = Math.sqrt(-2 * Math.log(1 - uniform()));
      const th = 2 * Math.PI * uniform();
      spare = r * Math.sin(th);
      return r * Math.cos(th);
    },
  };
}
