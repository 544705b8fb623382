// D_stsp Gaussian-mixture log densities: log Σ_t exp(-½‖s_j − μ_t‖²/σ²) for every Monte-Carlo sample
// s_j against every mixture component μ_t. The (sample × component) squared-distance matrix is GEMM
// shaped, so it is computed in 16-sample × 64-component tiles through workgroup memory, and never stored: each thread
// folds its distances into a running (max, Σexp) pair, the pairs are merged across the tile's
// components, and `combine` merges the per-chunk pairs of a sample. Everything is log-sum-exp, so
// nothing underflows however far a sample lies from the mixture.

struct PartialParams {
  n_samples: u32,
  n_comps: u32,
  dims: u32,
  tiles_per_chunk: u32,
  n_chunks: u32,
  neg_half_inv_var: f32,
}

@group(0) @binding(0) var<storage, read> samples: array<f32>;        // (n_samples, dims)
@group(0) @binding(1) var<storage, read> comps: array<f32>;          // (n_comps, dims)
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;  // (n_samples, n_chunks, 2): max, Σexp(v − max)
@group(0) @binding(3) var<uniform> pp: PartialParams;

const TILE: u32 = 16u;        // samples per tile, and dims per step
const COMPS_PER_THREAD: u32 = 4u;
const TILE_C: u32 = 64u;      // components per tile = TILE × COMPS_PER_THREAD
// "Minus infinity" that stays finite so exp(EMPTY − x) is 0, never NaN.
const EMPTY: f32 = -3.0e38;

var<workgroup> sample_tile: array<f32, 256>;  // [sample in tile][dim in step]
var<workgroup> comp_tile: array<f32, 1024>;   // [component in tile][dim in step]
// Workgroup scratch of WG = 256 lanes: partial_lse's 16 × 16 (WG is combine's size, not overridden here).
#include "wg_reduce"

// Workgroup (x: block of 16 samples, y: chunk of tiles_per_chunk × 64 components).
// Thread (lx, ly) computes the distances of sample ly to components lx, lx+16, lx+32, lx+48 of
// each tile: one sample value read from workgroup memory serves four FMAs.
@compute @workgroup_size(16, 16)
fn partial_lse(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lx = lid.x;
  let ly = lid.y;
  let s = wid.x * TILE + ly;
  let chunk = wid.y;
  var run_max = EMPTY;
  var run_sum = 0.0;
  for (var tile = 0u; tile < pp.tiles_per_chunk; tile++) {
    let t0 = (chunk * pp.tiles_per_chunk + tile) * TILE_C;
    if (t0 >= pp.n_comps) { break; }
    var acc = vec4<f32>(0.0);
    for (var d0 = 0u; d0 < pp.dims; d0 += TILE) {
      let d = d0 + lx;
      var sv = 0.0;
      if (s < pp.n_samples && d < pp.dims) { sv = samples[s * pp.dims + d]; }
      sample_tile[ly * TILE + lx] = sv;
      for (var q = 0u; q < COMPS_PER_THREAD; q++) {
        let row = ly + q * TILE;
        let tl = t0 + row;
        var cv = 0.0;
        if (tl < pp.n_comps && d < pp.dims) { cv = comps[tl * pp.dims + d]; }
        comp_tile[row * TILE + lx] = cv;
      }
      workgroupBarrier();
      let kmax = min(TILE, pp.dims - d0);
      for (var k = 0u; k < kmax; k++) {
        let x = sample_tile[ly * TILE + k];
        let diff = vec4<f32>(x) - vec4<f32>(
          comp_tile[lx * TILE + k],
          comp_tile[(lx + TILE) * TILE + k],
          comp_tile[(lx + 2u * TILE) * TILE + k],
          comp_tile[(lx + 3u * TILE) * TILE + k]);
        acc = fma(diff, diff, acc);
      }
      workgroupBarrier();
    }
    for (var q = 0u; q < COMPS_PER_THREAD; q++) {
      if (t0 + lx + q * TILE < pp.n_comps) {
        let v = acc[q] * pp.neg_half_inv_var;
        if (v > run_max) {
          run_sum = run_sum * exp(run_max - v) + 1.0;
          run_max = v;
        } else {
          run_sum += exp(v - run_max);
        }
      }
    }
  }
  // Merge the 16 lanes of each sample row.
  let r = wg_lse_in(vec2<f32>(run_max, run_sum), ly * TILE + lx, 1u, TILE);
  if (lx == 0u && s < pp.n_samples) {
    let o = (s * pp.n_chunks + chunk) * 2u;
    partial[o] = r.x;
    partial[o + 1u] = r.y;
  }
}

struct CombineParams {
  n_samples: u32,
  n_chunks: u32,
  // −log(number of components) − dims·log σ: the mixture's equal weights and the reference's σ^-dims factor.
  log_offset: f32,
}

// Binding slots are distinct from partial_lse's: reflection keys variables by (group, binding) per file.
@group(0) @binding(4) var<storage, read> partial_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> log_density: array<f32>;  // (n_samples)
@group(0) @binding(6) var<uniform> cp: CombineParams;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = gid.x + gid.y * nwg.x * WG;
  if (s >= cp.n_samples) { return; }
  var m = EMPTY;
  var l = 0.0;
  for (var c = 0u; c < cp.n_chunks; c++) {
    let o = (s * cp.n_chunks + c) * 2u;
    let r = lse_merge(vec2<f32>(m, l), vec2<f32>(partial_in[o], partial_in[o + 1u]));
    m = r.x;
    l = r.y;
  }
  log_density[s] = m + log(l) + cp.log_offset;
}
