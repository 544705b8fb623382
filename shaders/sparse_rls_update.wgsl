// RLS rank-1 updates P ← P − c k kᵀ and Jw ← Jw − c e kᵀ (see sparse_rls.wgsl).
struct UpdParams { n: u32, rows: u32 }
@group(0) @binding(0) var<storage, read_write> pm_u: array<f32>;
@group(0) @binding(1) var<storage, read_write> jw: array<f32>;
@group(0) @binding(2) var<storage, read> k_u: array<f32>;
@group(0) @binding(3) var<storage, read> e_u: array<f32>;
@group(0) @binding(4) var<storage, read> coef_u: array<f32>;
@group(0) @binding(5) var<uniform> up: UpdParams;

override UWG: u32 = 256;

// Flat index over the n·n entries of P, then the rows·n entries of Jw.
@compute @workgroup_size(UWG)
fn update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * UWG;
  let nn = up.n * up.n;
  let c = coef_u[0];
  if (idx < nn) {
    let i = idx / up.n;
    let j = idx - i * up.n;
    // k_i k_j is computed in the same order for (i, j) and (j, i): P stays exactly symmetric.
    pm_u[idx] -= c * (k_u[i] * k_u[j]);
  } else if (idx < nn + up.rows * up.n) {
    let q = idx - nn;
    let i = q / up.n;
    let j = q - i * up.n;
    jw[q] -= c * e_u[i] * k_u[j];
  }
}
