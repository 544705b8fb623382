// RLS gain coefficient c = 1 / (1 + rᵀ k) (k = P r), plus running squared-error sums for monitoring.
struct CoefParams { n: u32, rows: u32, out_from: u32 }

@group(0) @binding(0) var<storage, read> r_c: array<f32>;
@group(0) @binding(1) var<storage, read> k_c: array<f32>;
@group(0) @binding(2) var<storage, read> e_c: array<f32>;
// coef[0] = c; coef[1] += Σ e² over recurrent rows; coef[2] += Σ e² over readout rows; coef[3] += updates
@group(0) @binding(3) var<storage, read_write> coef: array<f32>;
@group(0) @binding(4) var<uniform> cp: CoefParams;
#include "wg_reduce"
const WG: u32 = 256u;

@compute @workgroup_size(256)
fn coef_main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var rk = 0.0;
  var ej = 0.0;
  var ew = 0.0;
  for (var j = lid.x; j < cp.n; j += WG) { rk += r_c[j] * k_c[j]; }
  for (var j = lid.x; j < cp.rows; j += WG) {
    let v = e_c[j] * e_c[j];
    if (j < cp.out_from) { ej += v; } else { ew += v; }
  }
  let sums = wg_sum4(vec4<f32>(rk, ej, ew, 0.0), lid.x);
  if (lid.x == 0u) {
    coef[0] = 1.0 / (1.0 + sums.x);
    coef[1] += sums.y;
    coef[2] += sums.z;
    coef[3] += 1.0;
  }
}
