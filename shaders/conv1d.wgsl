// Batched 1-D convolution (cross-correlation, as PyTorch's Conv1d) over strided [trials, channels, time]
// views, with the time axis padded first (src/ops/conv.ts; lowrank-smc-model.md §2.4):
//   y[b, o, t] = bias[o] + Σ_i Σ_k W(o, i, k) · xpad[b, i, t + k],   t < tout = tp − klen + 1
// where xpad[b, i, p] reads x at the source step of padded position p (padL steps before the data; tp
// is the padded length, which may be shorter than tin + padL when the right "padding" crops). Every
// tensor is read and written through element strides, so the same kernel serves three roles:
//   forward          x = input, W = weights;
//   input gradient   x = output gradient zero-padded by klen − 1 on both sides, W = the weights with
//                    in/out channels swapped and taps reversed (FLIP); gives ∂/∂xpad, folded back onto
//                    the source steps by `fold`;
//   weight gradient  x = input with trials and channels swapped (trial ↔ input channel), W = the output
//                    gradient read as (out channel, trial, step): ∂W[o, i, k] = Σ_b Σ_t gy[b, o, t] xpad[b, i, t + k].
// Tiling: a workgroup computes C_TILE output channels × T_TILE steps of one trial; per chunk of CI_C
// input channels × KC taps it stages the weights and the padded input strip (T_TILE + KC − 1 steps) in
// workgroup memory. Each invocation holds CPT channels × TPT consecutive steps in registers and slides a
// window of TPT input values along the taps, so one tap costs CPT + 1 workgroup loads for CPT·TPT FMAs
// (loops over channels and steps are unrolled: constant indices keep the arrays in registers).

#const TX
#const TY
#const CPT
#const TPT
#const CI_C
#const KC
#const TPT1

#include "conv_pad"

const NT: u32 = TX * TY;
const T_TILE: u32 = TX * TPT;
const C_TILE: u32 = TY * CPT;
const STRIP: u32 = T_TILE + KC - 1u;

override HAS_BIAS: bool = true;
// Read the taps reversed (the input-gradient role).
override FLIP: bool = false;

struct ConvParams {
  trials: u32,
  cin: u32,
  cout: u32,
  tin: u32,
  tout: u32,
  klen: u32,
  padL: u32,
  tp: u32,
  xOff: u32,
  xsB: u32,
  xsC: u32,
  xsT: u32,
  wsO: u32,
  wsI: u32,
  wsK: u32,
  ysB: u32,
  ysC: u32,
  ysT: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> ws: array<f32, CI_C * KC * C_TILE>;
// one spare element: the window's last slide reads one past the strip (the value is never used)
var<workgroup> xs: array<f32, CI_C * STRIP + 1u>;

fn xpad(b: u32, c: u32, q: u32) -> f32 {
  if (c >= p.cin || q >= p.tp) { return 0.0; }
  let s = source_step(q, p.tin, p.padL);
  if (s < 0) { return 0.0; }
  return x[p.xOff + b * p.xsB + c * p.xsC + u32(s) * p.xsT];
}

@compute @workgroup_size(NT)
fn conv(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let lx = lid % TX;
  let ly = lid / TX;
  let t0 = wid.x * T_TILE;
  let c0 = wid.y * C_TILE;
  let b = wid.z;
  var acc: array<f32, CPT * TPT>;
  for (var ci0 = 0u; ci0 < p.cin; ci0 += CI_C) {
    for (var k0 = 0u; k0 < p.klen; k0 += KC) {
      workgroupBarrier();
      for (var e = lid; e < CI_C * KC * C_TILE; e += NT) {
        let cl = e % C_TILE;
        let k = (e / C_TILE) % KC;
        let ci = ci0 + e / (C_TILE * KC);
        let o = c0 + cl;
        let kk = k0 + k;
        var v = 0.0;
        if (o < p.cout && ci < p.cin && kk < p.klen) {
          let kidx = select(kk, p.klen - 1u - kk, FLIP);
          v = w[o * p.wsO + ci * p.wsI + kidx * p.wsK];
        }
        ws[e] = v;
      }
      for (var e = lid; e < CI_C * STRIP; e += NT) {
        xs[e] = xpad(b, ci0 + e / STRIP, t0 + k0 + e % STRIP);
      }
      workgroupBarrier();
      let kn = min(KC, p.klen - k0);
      // a chunk past the last input channel is zeros: skip it (the heads' input gradient reads 3–5 channels)
      let cn = min(CI_C, p.cin - ci0);
      for (var ci = 0u; ci < cn; ci++) {
        let xbase = ci * STRIP + lx * TPT;
        var win: array<f32, TPT>;
#unroll J TPT
        win[J] = xs[xbase + J];
#endunroll
        for (var k = 0u; k < kn; k++) {
          let wbase = (ci * KC + k) * C_TILE + ly * CPT;
#unroll C CPT
          {
            let wv = ws[wbase + C];
#unroll J TPT
            acc[C * TPT + J] = fma(wv, win[J], acc[C * TPT + J]);
#endunroll
          }
#endunroll
          // slide the window one tap on (at the chunk's last tap this reads the spare element)
#unroll J TPT1
          win[J] = win[J + 1u];
#endunroll
          win[TPT1] = xs[xbase + TPT + k];
        }
      }
    }
  }
#unroll C CPT
  {
    let o = c0 + ly * CPT + C;
    if (o < p.cout) {
      var bo = 0.0;
      if (HAS_BIAS) { bo = bias[o]; }
#unroll J TPT
      {
        let t = t0 + lx * TPT + J;
        if (t < p.tout) { y[b * p.ysB + o * p.ysC + t * p.ysT] = acc[C * TPT + J] + bo; }
      }
#endunroll
    }
  }
#endunroll
}

// ∂/∂x from ∂/∂xpad (g, contiguous [trials, cin, tp]): each source step sums the padded positions that
// read it. One invocation per source element (trial, channel, step), written through x's strides (p.xs*).
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(64)
fn fold(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.trials * p.cin * p.tin) { return; }
  let s = i % p.tin;
  let bc = i / p.tin; // b * cin + c
  let row = bc * p.tp;
  var sum = 0.0;
  let q = s + p.padL;
  if (q < p.tp) { sum = g[row + q]; }
  if (MODE != 0u) {
    // padded positions outside the data: the left padding and any right padding
    for (var r = 0u; r < p.padL; r++) {
      if (source_step(r, p.tin, p.padL) == i32(s)) { sum += g[row + r]; }
    }
    for (var r = p.padL + p.tin; r < p.tp; r++) {
      if (source_step(r, p.tin, p.padL) == i32(s)) { sum += g[row + r]; }
    }
  }
  let c = bc % p.cin;
  let b = bc / p.cin;
  gx[p.xOff + b * p.xsB + c * p.xsC + s * p.xsT] = sum;
}

// Gradient sums, one workgroup per output element e = (o · cin + i) · klen + k (folded into x and y of the grid):
//   WEIGHTED   ∂w[o, i, k] = Σ_b Σ_t gy[b, o, t] xpad[b, i, t + k], for kernels too short for the tiled weight
//              gradient (its output, K taps long, would leave most of a tile idle); x through p.xs*;
//   otherwise  ∂bias[o] = Σ_b Σ_t gy[b, o, t] (cin = klen = 1).
// gy is read through the output strides p.ys*.
override WEIGHTED: bool = false;

@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gsum: array<f32>;
@group(0) @binding(3) var<storage, read> xsum: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn grad_sum(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = wid.x + wid.y * nwg.x;
  if (e >= p.cout * p.cin * p.klen) { return; }
  let k = e % p.klen;
  let i = (e / p.klen) % p.cin;
  let o = e / (p.klen * p.cin);
  var s = 0.0;
  // (b, t) of j = lid, lid + 64, … stepped on without a division per element
  var b = lid / p.tout;
  var t = lid % p.tout;
  let db = 64u / p.tout;
  let dt = 64u % p.tout;
  for (; b < p.trials; ) {
    let gyv = gy[b * p.ysB + o * p.ysC + t * p.ysT];
    if (WEIGHTED) {
      let src = source_step(t + k, p.tin, p.padL);
      if (src >= 0) { s += gyv * xsum[p.xOff + b * p.xsB + i * p.xsC + u32(src) * p.xsT]; }
    } else {
      s += gyv;
    }
    t += dt;
    b += db;
    if (t >= p.tout) {
      t -= p.tout;
      b += 1u;
    }
  }
  red[lid] = s;
  workgroupBarrier();
  for (var m = 32u; m > 0u; m = m / 2u) {
    if (lid < m) { red[lid] += red[lid + m]; }
    workgroupBarrier();
  }
  if (lid == 0u) { gsum[e] = red[0]; }
}
