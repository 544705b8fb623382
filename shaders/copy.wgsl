// Plain copy: the bandwidth roof for benchmarks, and a minimal kernel for runtime tests.
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // 2-D grid so that large arrays stay under maxComputeWorkgroupsPerDimension.
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) { dst[i] = src[i]; }
}
