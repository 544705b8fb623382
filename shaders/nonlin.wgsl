// Unit nonlinearities φ(x; h) of the low-rank RNN and their derivatives, shared by the low-rank
// product kernels and the fused particle filter (`#include "nonlin"`). The choice is an override
// constant so each pipeline is specialised and the switch folds away.
// Ids (NONLIN_* in src/gpu/shared-constants.ts): 0 relu max(x−h,0); 1 clipped relu max(x+h,0)−max(x,0);
// 2 tanh(x−h); 3 softplus log(1+exp(x−h)); 4 exp(x−h); 5 identity x−h.
// Kinks follow PyTorch: relu'(0) = 0.
#include "shared_constants"
override NONLIN: u32 = 0u;

// log(1 + exp(u)) without overflow for large u and without cancellation for very negative u.
fn nl_softplus(u: f32) -> f32 {
  return max(u, 0.0) + log(1.0 + exp(-abs(u)));
}

fn nl_sigmoid(u: f32) -> f32 {
  let e = exp(-abs(u));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), u >= 0.0);
}

// tanh through exp(−2|u|): some backends evaluate tanh as a ratio of exponentials that overflows.
fn nl_tanh(u: f32) -> f32 {
  let e = exp(-2.0 * abs(u));
  return sign(u) * (1.0 - e) / (1.0 + e);
}

fn nl_step_gt(x: f32, t: f32) -> f32 { return select(0.0, 1.0, x > t); }

fn phi(x: f32, h: f32) -> f32 {
  switch NONLIN {
    case NONLIN_RELU: { return max(x - h, 0.0); }
    case NONLIN_CLIPPED_RELU: { return max(x + h, 0.0) - max(x, 0.0); }
    case NONLIN_TANH: { return nl_tanh(x - h); }
    case NONLIN_SOFTPLUS: { return nl_softplus(x - h); }
    case NONLIN_EXP: { return exp(x - h); }
    default: { return x - h; }
  }
}

fn dphi_dx(x: f32, h: f32) -> f32 {
  switch NONLIN {
    case NONLIN_RELU: { return nl_step_gt(x, h); }
    case NONLIN_CLIPPED_RELU: { return nl_step_gt(x, -h) - nl_step_gt(x, 0.0); }
    case NONLIN_TANH: { let t = nl_tanh(x - h); return 1.0 - t * t; }
    case NONLIN_SOFTPLUS: { return nl_sigmoid(x - h); }
    case NONLIN_EXP: { return exp(x - h); }
    default: { return 1.0; }
  }
}

fn dphi_dh(x: f32, h: f32) -> f32 {
  switch NONLIN {
    case NONLIN_RELU: { return -nl_step_gt(x, h); }
    case NONLIN_CLIPPED_RELU: { return nl_step_gt(x, -h); }
    case NONLIN_TANH: { let t = nl_tanh(x - h); return t * t - 1.0; }
    case NONLIN_SOFTPLUS: { return -nl_sigmoid(x - h); }
    case NONLIN_EXP: { return -exp(x - h); }
    default: { return -1.0; }
  }
}
