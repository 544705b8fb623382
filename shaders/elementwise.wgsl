// Generic elementwise ops for parameter transforms: unary maps and numpy-broadcast binary ops
// (rank ≤ 4, shapes padded with leading 1s), each with its backward kernel.
#include "nonlin"
#include "activation"
#include "shared_constants"

override WG: u32 = 256u;
// Unary op id (UNARY_* in src/gpu/shared-constants.ts): 0 affine αx+β, 1 exp, 2 log, 3 softplus, 4 sigmoid,
// 5 tanh, 6 square, 7 gelu (erf form), 8 leaky relu (slope alpha), 9 clamp to [alpha, beta].
override UNARY: u32 = 0u;
// Binary op id (BINARY_*): 0 add, 1 sub, 2 mul, 3 div.
override BINARY: u32 = 0u;
// binary_grad: 0 for the gradient of a, 1 for b.
override WHICH: u32 = 0u;

struct UnaryParams { n: u32, alpha: f32, beta: f32 }

// Binary ops on a padded 4-D output `shape`; a and b are read through strides that are 0 on their
// broadcast dimensions. For binary_grad: n and tshape describe the operand being differentiated,
// and each of its elements sums `count` output elements laid out by `rshape` (the broadcast dims).
struct BinaryParams {
  n: u32,
  count: u32,
  shape: vec4<u32>,
  aStrides: vec4<u32>,
  bStrides: vec4<u32>,
  outStrides: vec4<u32>,
  tshape: vec4<u32>,
  rshape: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> pu: UnaryParams;
@group(0) @binding(4) var<storage, read> a: array<f32>;
@group(0) @binding(5) var<storage, read> b: array<f32>;
@group(0) @binding(6) var<uniform> pb: BinaryParams;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

fn unflatten(i: u32, shape: vec4<u32>) -> vec4<u32> {
  var r = i;
  var idx: vec4<u32>;
  idx.w = r % shape.w; r = r / shape.w;
  idx.z = r % shape.z; r = r / shape.z;
  idx.y = r % shape.y; r = r / shape.y;
  idx.x = r;
  return idx;
}

fn unary_f(v: f32) -> f32 {
  switch UNARY {
    case UNARY_AFFINE: { return pu.alpha * v + pu.beta; }
    case UNARY_EXP: { return exp(v); }
    case UNARY_LOG: { return log(v); }
    case UNARY_SOFTPLUS: { return nl_softplus(v); }
    case UNARY_SIGMOID: { return nl_sigmoid(v); }
    case UNARY_TANH: { return nl_tanh(v); }
    case UNARY_GELU: { return gelu_f(v); }
    case UNARY_LEAKY_RELU: { return leaky_f(v, pu.alpha); }
    case UNARY_CLAMP: { return clamp(v, pu.alpha, pu.beta); }
    default: { return v * v; }
  }
}

fn unary_df(v: f32) -> f32 {
  switch UNARY {
    case UNARY_AFFINE: { return pu.alpha; }
    case UNARY_EXP: { return exp(v); }
    case UNARY_LOG: { return 1.0 / v; }
    case UNARY_SOFTPLUS: { return nl_sigmoid(v); }
    case UNARY_SIGMOID: { let s = nl_sigmoid(v); return s * (1.0 - s); }
    case UNARY_TANH: { let t = nl_tanh(v); return 1.0 - t * t; }
    case UNARY_GELU: { return gelu_df(v); }
    case UNARY_LEAKY_RELU: { return leaky_df(v, pu.alpha); }
    // zero outside the bounds, one inside and on them (as torch.clamp)
    case UNARY_CLAMP: { return select(0.0, 1.0, v >= pu.alpha && v <= pu.beta); }
    default: { return 2.0 * v; }
  }
}

@compute @workgroup_size(WG)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i < pu.n) { y[i] = unary_f(x[i]); }
}

// y = gy ⊙ f'(x)
@compute @workgroup_size(WG)
fn unary_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i < pu.n) { y[i] = gy[i] * unary_df(x[i]); }
}

fn binary_f(u: f32, v: f32) -> f32 {
  switch BINARY {
    case BINARY_ADD: { return u + v; }
    case BINARY_SUB: { return u - v; }
    case BINARY_MUL: { return u * v; }
    default: { return u / v; }
  }
}

@compute @workgroup_size(WG)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat(gid, nwg);
  if (i >= pb.n) { return; }
  let idx = unflatten(i, pb.shape);
  y[i] = binary_f(a[dot(idx, pb.aStrides)], b[dot(idx, pb.bStrides)]);
}

// d out / d (a or b) times the output gradient g, at one output element.
fn binary_df(g: f32, u: f32, v: f32) -> f32 {
  switch BINARY {
    case BINARY_ADD: { return g; }
    case BINARY_SUB: { return select(-g, g, WHICH == 0u); }
    case BINARY_MUL: { return g * select(u, v, WHICH == 0u); }
    default: { return select(-g * u / (v * v), g / v, WHICH == 0u); }
  }
}

// Gradient of one operand: each of its elements sums over the output elements it was broadcast to.
@compute @workgroup_size(WG)
fn binary_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(gid, nwg);
  if (t >= pb.n) { return; }
  let base = unflatten(t, pb.tshape);
  var s = 0.0;
  for (var k = 0u; k < pb.count; k++) {
    let idx = base + unflatten(k, pb.rshape);
    s += binary_df(gy[dot(idx, pb.outStrides)], a[dot(idx, pb.aStrides)], b[dot(idx, pb.bStrides)]);
  }
  y[t] = s;
}
