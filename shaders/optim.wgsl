// Adam and RAdam updates in place, with PyTorch's semantics (L2 weight decay added to the gradient).
// The step-dependent factors (bias corrections, RAdam's rectification) are computed on the host in
// float64 from the step count and arrive with the learning rate as uniforms, so a learning-rate
// schedule and the advancing step never recompile the kernel.
override WG: u32 = 256u;

// One dispatch updates elements [offset, offset + n) of flat buffers holding several parameters.
struct OptimParams {
  offset: u32,
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  // 1 − β computed in float64 on the host (as PyTorch does): in f32, 1 − 0.999 is off by 5e-5.
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  weightDecay: f32,
  // 1 − β1^t and sqrt(1 − β2^t)
  bc1: f32,
  bc2Sqrt: f32,
  // RAdam: rectification term r_t, and 1 when ρ_t > 5 (adaptive step) else 0 (plain momentum step)
  rect: f32,
  rectified: u32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> o: OptimParams;

fn flat(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// Updates the moments of element i and returns its new first moment.
fn moments(i: u32) -> vec2<f32> {
  let g = grad[i] + o.weightDecay * param[i];
  let mi = o.beta1 * m[i] + o.oneMinusBeta1 * g;
  let vi = o.beta2 * v[i] + o.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  return vec2<f32>(mi, vi);
}

@compute @workgroup_size(WG)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat(gid, nwg);
  if (j >= o.n) { return; }
  let i = o.offset + j;
  let mv = moments(i);
  let denom = sqrt(mv.y) / o.bc2Sqrt + o.eps;
  param[i] = param[i] - (o.lr / o.bc1) * mv.x / denom;
}

@compute @workgroup_size(WG)
fn radam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat(gid, nwg);
  if (j >= o.n) { return; }
  let i = o.offset + j;
  let mv = moments(i);
  let mhat = mv.x / o.bc1;
  if (o.rectified == 1u) {
    param[i] = param[i] - o.lr * mhat * o.rect * o.bc2Sqrt / (sqrt(mv.y) + o.eps);
  } else {
    param[i] = param[i] - o.lr * mhat;
  }
}
