// Low-pass filtered inputs (the reference implementation's simulate_input): with the model's
// decay a = exp(−exp θ_a), v_0 = 0 and v_t = a v_{t−1} + (1 − a) u_{t−1}, per sequence and channel of
// [S,T,C] arrays; one invocation per (sequence, channel). Backward: the reverse recurrence of the
// adjoint, per-sequence partial sums of ∂/∂a, and one workgroup reducing them into ∂/∂θ_a.

struct Params { S: u32, T: u32, C: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> theta_a: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> gv: array<f32>;
@group(0) @binding(5) var<storage, read_write> gu: array<f32>;
@group(0) @binding(6) var<storage, read_write> ga_part: array<f32>;
@group(0) @binding(7) var<storage, read_write> gtheta: array<f32>;

#include "wg_reduce"
const WG: u32 = 64u;

fn decay() -> f32 { return exp(-exp(theta_a[0])); }

fn index(q: u32, t: u32) -> u32 { return ((q / p.C) * p.T + t) * p.C + q % p.C; }

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let q = gid.x;
  if (q >= p.S * p.C) { return; }
  let a = decay();
  var state = 0.0;
  for (var t = 0u; t < p.T; t++) {
    let i = index(q, t);
    v[i] = state;
    state = a * state + (1.0 - a) * u[i];
  }
}

@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let q = gid.x;
  if (q >= p.S * p.C) { return; }
  let a = decay();
  var lam = 0.0; // adjoint of v_{t+1}
  var ga = 0.0;
  for (var tt = 0u; tt < p.T; tt++) {
    let t = p.T - 1u - tt;
    let i = index(q, t);
    gu[i] = (1.0 - a) * lam;
    ga += lam * (v[i] - u[i]);
    lam = gv[i] + a * lam;
  }
  ga_part[q] = ga;
}

@compute @workgroup_size(64)
fn reduce_decay(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var q = lid.x; q < p.S * p.C; q += WG) { s += ga_part[q]; }
  let total = wg_sum(s, lid.x);
  if (lid.x == 0u) { gtheta[0] = total * (-decay() * exp(theta_a[0])); }
}
