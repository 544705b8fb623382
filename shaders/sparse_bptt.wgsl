// Rate RNN over a batch of trials for backpropagation through time (the full-FORCE learner's
// network, see sparse_net.wgsl), one workgroup per trial, the whole time loop in one dispatch:
//   r_t = tanh(x_t),  z_t = W r_t,  x_{t+1} = x_t + a (−x_t + J r_t + B u_t),  x_0 = x_init,  a = dt/τ
// for t = 0 … T−1. The forward stores r_t and z_t (the backward needs only r_t, as tanh' = 1 − r²).
// The backward runs the adjoint recursion backwards in time,
//   δr_t = g_r[t] + Wᵀ g_z[t] + Jᵀ e_t,   δx_t = δr_t (1 − r_t²) + (1 − a) δx_{t+1},   e_t = a δx_{t+1}
// (δx_T = 0), and stores e_t for every t and δx_0: the weight gradients are then the GEMMs
// ∂J = Σ e_t r_tᵀ, ∂B = Σ e_t u_tᵀ, ∂W = Σ g_z[t] r_tᵀ (sparse_gemm.wgsl) and ∂x_init = Σ_trials δx_0.
// Units are owned by lanes (i = lid + q·WG, q < RPT); r and e are shared through workgroup memory.
// The forward reads Jᵀ and the backward J, so that in both the lanes read contiguous memory.

struct Params {
  n: u32,       // units
  m: u32,       // outputs
  nin: u32,     // inputs
  time: u32,    // steps per trial
  dt_tau: f32,
}

@group(0) @binding(1) var<storage, read> wout: array<f32>;  // m × n
#if !BACKWARD
@group(0) @binding(0) var<storage, read> jmat_t: array<f32>; // n × n, Jᵀ
@group(0) @binding(2) var<storage, read> bin: array<f32>;    // n × nin
@group(0) @binding(3) var<storage, read> x_init: array<f32>; // n
@group(0) @binding(4) var<storage, read> inputs: array<f32>; // trials × T × nin
@group(0) @binding(5) var<storage, read_write> rates: array<f32>;   // trials × T × n
@group(0) @binding(6) var<storage, read_write> outputs: array<f32>; // trials × T × m
#else
@group(0) @binding(0) var<storage, read> jmat: array<f32>;     // n × n
@group(0) @binding(2) var<storage, read> rates: array<f32>;    // trials × T × n (forward's)
@group(0) @binding(3) var<storage, read> g_rates: array<f32>;  // trials × T × n
@group(0) @binding(4) var<storage, read> g_outs: array<f32>;   // trials × T × m
@group(0) @binding(5) var<storage, read_write> e_seq: array<f32>; // trials × T × n: e_t
@group(0) @binding(6) var<storage, read_write> dx0: array<f32>;   // trials × n: δx_0
#endif
@group(0) @binding(7) var<uniform> p: Params;

override WG: u32 = 64u;
override MAXN: u32 = 1024u;
#const RPT

var<workgroup> shared_v: array<f32, MAXN>;

#if !BACKWARD
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let n = p.n;
  let m = p.m;
  let rows = n + m;
  let trial0 = wid.x * p.time;
  var x = array<f32, RPT>();
  var cur = array<f32, RPT>();
  for (var q = 0u; q < RPT; q++) {
    let i = lid + q * WG;
    if (i < n) {
      x[q] = x_init[i];
      // Clamped as in sparse_net.wgsl: some drivers compute tanh through exp and overflow.
      shared_v[i] = tanh(clamp(x[q], -15.0, 15.0));
    }
  }
  workgroupBarrier();
  for (var t = 0u; t < p.time; t++) {
    let s = trial0 + t;
    // Recurrent currents of this lane's units; each r_j is read once for all of them. Lanes past
    // the last unit compute a clamped duplicate that is never used.
    for (var q = 0u; q < RPT; q++) { cur[q] = 0.0; }
    for (var j = 0u; j < n; j++) {
      let rj = shared_v[j];
      let row = j * n;
      for (var q = 0u; q < RPT; q++) { cur[q] += jmat_t[row + min(lid + q * WG, n - 1u)] * rj; }
    }
    for (var q = 0u; q < RPT; q++) {
      let i = lid + q * WG;
      if (i < n) { rates[s * n + i] = shared_v[i]; }
    }
    // Outputs z_t = W r_t, one lane per readout row.
    for (var o = lid; o < m; o += WG) {
      var acc = 0.0;
      for (var j = 0u; j < n; j++) { acc += wout[o * n + j] * shared_v[j]; }
      outputs[s * m + o] = acc;
    }
    workgroupBarrier();
    for (var q = 0u; q < RPT; q++) {
      let i = lid + q * WG;
      if (i < n) {
        var drive = 0.0;
        for (var k = 0u; k < p.nin; k++) { drive += bin[i * p.nin + k] * inputs[s * p.nin + k]; }
        x[q] += p.dt_tau * (-x[q] + cur[q] + drive);
        shared_v[i] = tanh(clamp(x[q], -15.0, 15.0));
      }
    }
    workgroupBarrier();
  }
}

#else
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let n = p.n;
  let m = p.m;
  let a = p.dt_tau;
  let trial0 = wid.x * p.time;
  // dx[q] holds δx_{t+1} of unit lid + q·WG; shared_v holds e_t = a δx_{t+1} of every unit.
  var dx = array<f32, RPT>();
  for (var q = 0u; q < RPT; q++) {
    let j = lid + q * WG;
    if (j < n) {
      shared_v[j] = 0.0;
      e_seq[(trial0 + p.time - 1u) * n + j] = 0.0;
    }
  }
  workgroupBarrier();
  for (var back = 0u; back < p.time; back++) {
    let t = p.time - 1u - back;
    let s = trial0 + t;
    // Jᵀ e_t for this lane's units; each e_i is read once for all of them.
    var dr = array<f32, RPT>();
    for (var i = 0u; i < n; i++) {
      let ei = shared_v[i];
      let row = i * n;
      for (var q = 0u; q < RPT; q++) { dr[q] += jmat[row + min(lid + q * WG, n - 1u)] * ei; }
    }
    for (var q = 0u; q < RPT; q++) {
      let j = lid + q * WG;
      if (j < n) {
        var d = dr[q] + g_rates[s * n + j];
        for (var k = 0u; k < m; k++) { d += wout[k * n + j] * g_outs[s * m + k]; }
        let r = rates[s * n + j];
        dx[q] = d * (1.0 - r * r) + (1.0 - a) * dx[q];
      }
    }
    // Every lane has read e_{t} before it is overwritten with e_{t−1} = a δx_t.
    workgroupBarrier();
    for (var q = 0u; q < RPT; q++) {
      let j = lid + q * WG;
      if (j < n) {
        let e = a * dx[q];
        shared_v[j] = e;
        if (t > 0u) { e_seq[(s - 1u) * n + j] = e; }
      }
    }
    workgroupBarrier();
  }
  for (var q = 0u; q < RPT; q++) {
    let j = lid + q * WG;
    if (j < n) { dx0[wid.x * n + j] = dx[q]; }
  }
}
#endif
