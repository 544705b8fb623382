// Generation from the low-rank RNN: one workgroup per sequence, the units split over the invocations
// and the nᵀφ(·) sums reduced in workgroup memory every step, so a single long rollout still uses the
// whole workgroup. Records z, the observation mean ψ(Bᵀz + b) (ψ(Bᵀz + Bvᵀv_t + b) with the readout
// from [v; z], p.readout_v; B_o φ(m z + Wu v_t; h) + b for the one-to-one readout from the rates, p.rates)
// and a sampled observation.
#include "shared_constants"
#include "rng"
#include "nonlin"
#include "obs_link"
#include "wg_reduce"

#const R
#const WG

struct Params {
  S: u32, T: u32, burn: u32, N: u32, D: u32, DU: u32,
  seed_lo: u32, seed_hi: u32, iter: u32, poisson: u32, noise_scale: f32,
  off_m: u32, off_n: u32, off_h: u32, off_a: u32, off_wu: u32,
  off_L: u32, off_B: u32, off_b: u32, off_lv: u32, off_Bv: u32, readout_v: u32, off_Bo: u32, rates: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> inputs: array<f32>;   // [S, T, DU] (used after burn-in)
@group(0) @binding(3) var<storage, read> z0: array<f32>;       // [S, R]
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // z [S,T,R] | mean [S,T,D] | sample [S,T,D]

var<workgroup> zs: array<f32, R>;

// Poisson draw by inversion for small means, normal approximation for large ones.
fn poisson_sample(lam: f32, u: f32, n: f32) -> f32 {
  if (lam > 30.0) { return max(0.0, round(lam + sqrt(lam) * n)); }
  var k = 0.0;
  var pk = exp(-lam);
  var cdf = pk;
  for (var i = 0u; i < 200u && u > cdf; i++) {
    k += 1.0;
    pk = pk * lam / k;
    cdf += pk;
  }
  return k;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let s = wid.x;
  let tid = lid.x;
  let key = vec2<u32>(p.seed_lo, p.seed_hi);
  let a = exp(-exp(theta[p.off_a]));
  let chunks = (R + 3u) / 4u;
  if (tid < R) { zs[tid] = z0[s * R + tid]; }
  workgroupBarrier();
  let total = p.burn + p.T;
  let zBase = 0u;
  let meanBase = p.S * p.T * R;
  let sampleBase = meanBase + p.S * p.T * p.D;
  for (var step = 0u; step < total; step++) {
    // record observation of the current state (after burn-in)
    if (step >= p.burn) {
      let t = step - p.burn;
      if (tid < R) { out[zBase + (s * p.T + t) * R + tid] = zs[tid]; }
      for (var d = tid; d < p.D; d += WG) {
        var eta = theta[p.off_b + d];
        if (p.rates == 1u) {
          // channel d is unit d: its rate at the recorded step's input (as the filter's readout)
          var x = 0.0;
          for (var j = 0u; j < p.DU; j++) { x += theta[p.off_wu + d * p.DU + j] * inputs[(s * p.T + t) * p.DU + j]; }
          for (var r = 0u; r < R; r++) { x += theta[p.off_m + d * R + r] * zs[r]; }
          eta += theta[p.off_Bo + d] * phi(x, theta[p.off_h + d]);
        } else {
          for (var r = 0u; r < R; r++) { eta += theta[p.off_B + d * R + r] * zs[r]; }
        }
        if (p.readout_v == 1u) {
          for (var j = 0u; j < p.DU; j++) { eta += theta[p.off_Bv + d * p.DU + j] * inputs[(s * p.T + t) * p.DU + j]; }
        }
        let lam = psi(eta);
        let idx = (s * p.T + t) * p.D + d;
        out[meanBase + idx] = lam;
        let u4 = rng_uniform4(key, vec4<u32>(t * p.D + d, s, PURPOSE_GEN_OBS, p.iter));
        let n4 = rng_normal4(key, vec4<u32>(t * p.D + d, s, PURPOSE_GEN_OBS_NORMAL, p.iter));
        if (p.poisson == 1u) {
          out[sampleBase + idx] = poisson_sample(lam, u4.x, n4.x);
        } else {
          out[sampleBase + idx] = lam + exp(0.5 * theta[p.off_lv + d]) * n4.x;
        }
      }
    }
    if (step + 1u == total) { break; }
    // partial sums of nᵀφ(m z + Wu v; h) over this invocation's units
    var acc = array<f32, R>();
    let inputT = select(0u, step - p.burn, step >= p.burn);
    let useInput = step >= p.burn;
    for (var i = tid; i < p.N; i += WG) {
      var x = 0.0;
      for (var r = 0u; r < R; r++) { x += theta[p.off_m + i * R + r] * zs[r]; }
      if (useInput) {
        for (var j = 0u; j < p.DU; j++) { x += theta[p.off_wu + i * p.DU + j] * inputs[(s * p.T + inputT) * p.DU + j]; }
      }
      let f = phi(x, theta[p.off_h + i]);
      for (var r = 0u; r < R; r++) { acc[r] += theta[p.off_n + i * R + r] * f; }
    }
    var sums = array<f32, R>();
    for (var c = 0u; c < chunks; c++) {
      var v = vec4<f32>(0.0);
      for (var j = 0u; j < 4u; j++) { if (c * 4u + j < R) { v[j] = acc[c * 4u + j]; } }
      let s4 = wg_sum4(v, tid);
      for (var j = 0u; j < 4u; j++) { if (c * 4u + j < R) { sums[c * 4u + j] = s4[j]; } }
    }
    if (tid == 0u) {
      var xi = array<f32, R>();
      for (var c = 0u; c < chunks; c++) {
        let n4 = rng_normal4(key, vec4<u32>(step * chunks + c, s, PURPOSE_GEN_LATENT, p.iter));
        for (var j = 0u; j < 4u; j++) { if (c * 4u + j < R) { xi[c * 4u + j] = n4[j]; } }
      }
      var zn = array<f32, R>();
      for (var r = 0u; r < R; r++) {
        var noise = 0.0;
        for (var c = 0u; c <= r; c++) { noise += theta[p.off_L + r * R + c] * xi[c]; }
        zn[r] = a * zs[r] + sums[r] + p.noise_scale * noise;
      }
      for (var r = 0u; r < R; r++) { zs[r] = zn[r]; }
    }
    workgroupBarrier();
  }
}
