// Gradient clipping by the joint L2 norm of several tensors (torch.nn.utils.clip_grad_norm_), on the
// GPU without a readback. sq_norm: one workgroup sums g² of one tensor into sums[slot] (fixed order,
// so the result is deterministic). scale: multiplies one tensor by min(1, max_norm / (‖g‖ + 1e-6)),
// ‖g‖² = Σ_{s < count} sums[s]; invocation 0 also stores ‖g‖ in sums[count] for the caller.
#include "wg_reduce"

override WG: u32 = 256u;

struct ClipParams {
  n: u32,
  slot: u32,
  count: u32,
  max_norm: f32,
}

@group(0) @binding(0) var<storage, read_write> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;
@group(0) @binding(2) var<uniform> cp: ClipParams;

@compute @workgroup_size(WG)
fn sq_norm(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < cp.n; i += WG) { s += grad[i] * grad[i]; }
  let total = wg_sum(s, lid.x);
  if (lid.x == 0u) { sums[cp.slot] = total; }
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  var total = 0.0;
  for (var s = 0u; s < cp.count; s++) { total += sums[s]; }
  let norm = sqrt(total);
  if (i == 0u) { sums[cp.count] = norm; }
  if (i >= cp.n) { return; }
  grad[i] = grad[i] * min(1.0, cp.max_norm / (norm + 1e-6));
}
