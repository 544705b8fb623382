// Philox-4x32-10 counter-based RNG (twin of src/gpu/rng.ts; include with `#include "rng"`).
// key = (seed low 32 bits, seed high 32 bits); ctr = (counter, stream, purpose, extra).
// No bindings here: this file is only included by kernels.

const PHILOX_M0: u32 = 0xd2511f53u;
const PHILOX_M1: u32 = 0xcd9e8d57u;
const PHILOX_W0: u32 = 0x9e3779b9u;
const PHILOX_W1: u32 = 0xbb67ae85u;

// High word of the 32x32 -> 64-bit product; WGSL has no 64-bit integers, so build it from 16-bit halves.
fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let ll = a_lo * b_lo;
  let lh = a_lo * b_hi;
  let hl = a_hi * b_lo;
  let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox_round(x: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
  let hi0 = philox_mulhi(PHILOX_M0, x.x);
  let lo0 = PHILOX_M0 * x.x;
  let hi1 = philox_mulhi(PHILOX_M1, x.z);
  let lo1 = PHILOX_M1 * x.z;
  return vec4<u32>(hi1 ^ x.y ^ k.x, lo1, hi0 ^ x.w ^ k.y, lo0);
}

fn philox4x32(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var x = ctr;
  var k = key;
  x = philox_round(x, k);
  for (var r = 1u; r < 10u; r++) {
    k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
    x = philox_round(x, k);
  }
  return x;
}

// (top 24 bits + 0.5) * 2^-24. In f32 the +0.5 rounds for the upper half of the range; the clamp keeps
// the one value that could round up to 1.0 strictly below it (so log(u) and log(1-u) stay finite).
fn u32_to_uniform(x: u32) -> f32 {
  return min((f32(x >> 8u) + 0.5) * 5.9604644775390625e-8, 0.99999994);
}

fn rng_uniform4(key: vec2<u32>, ctr: vec4<u32>) -> vec4<f32> {
  let w = philox4x32(ctr, key);
  return vec4<f32>(u32_to_uniform(w.x), u32_to_uniform(w.y), u32_to_uniform(w.z), u32_to_uniform(w.w));
}

// sin(pi t), cos(pi t) for t in [-1, 1] to ~1e-7, on every adapter: WGSL lets cos/sin be off by 2^-11
// (SwiftShader is off by ~2e-4), which moved normals, and through them filter results, between adapters.
// t = q/2 + f with |f| <= 1/4 (exact in f32), Taylor series of the reduced angle, then the quadrant turn.
fn sincos_pi(t: f32) -> vec2<f32> {
  let q = round(2.0 * t);
  let x = 3.14159265358979 * (t - 0.5 * q);
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
  let c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0)))));
  switch (i32(q) & 3) {
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    case 3: { return vec2<f32>(-c, s); }
    default: { return vec2<f32>(s, c); }
  }
}

// Box–Muller on (u0, u1) and (u2, u3): r = sqrt(-2 ln u_even), angle pi (2 u_odd - 1) in (-pi, pi).
fn rng_normal4(key: vec2<u32>, ctr: vec4<u32>) -> vec4<f32> {
  let u = rng_uniform4(key, ctr);
  let r = sqrt(-2.0 * log(vec2<f32>(u.x, u.z)));
  let a = sincos_pi(2.0 * u.y - 1.0);
  let b = sincos_pi(2.0 * u.w - 1.0);
  return vec4<f32>(r.x * a.y, r.x * a.x, r.y * b.y, r.y * b.x);
}
