// Prefix sums along the last axis of a [rows, len] array (src/ops/scan.ts).
//
// One workgroup scans one block of BLOCK = WG * ITEMS consecutive elements of a row: a coalesced load
// into workgroup memory, a serial scan of ITEMS elements per invocation, a workgroup-wide exclusive
// scan of the per-invocation totals (subgroup scans when available), then a coalesced store. A row no
// longer than BLOCK is one workgroup (the per-row "segmented" scan, e.g. particle weights of a trial).
//
// Longer rows use reduce-then-scan, which needs no forward-progress guarantee between workgroups:
//   1. FLAG_TOTALS: every block writes only its total to totals[row, block];
//   2. the host scans the totals (exclusively, recursively with this same kernel);
//   3. FLAG_SEED: every block scans again, starting from its scanned total.
// FLAG_REVERSE scans from the end of the row (the adjoint of a forward scan).

const ITEMS: u32 = 8u;
const FLAG_EXCLUSIVE: u32 = 1u;
const FLAG_REVERSE: u32 = 2u;
const FLAG_SEED: u32 = 4u;
const FLAG_TOTALS: u32 = 8u;

struct Params {
  rows: u32,
  len: u32,
  num_blocks: u32, // blocks per row
  flags: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<f32>;        // [rows, num_blocks] block offsets
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> totals: array<f32>; // [rows, num_blocks]
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256;

var<workgroup> tile: array<f32, WG * ITEMS>;
var<workgroup> sh: array<f32, WG>;
var<workgroup> sh_total: f32;

// Exclusive prefix of v over the workgroup (x) and the workgroup total (y). Uniform control flow only.
fn wg_exclusive_scan(v: f32, lid: u32, lane: u32, size: u32) -> vec2<f32> {
#if SUBGROUPS
  let excl = subgroupExclusiveAdd(v);
  let n = max(WG / size, 1u);
  if (lane == size - 1u || lid == WG - 1u) { sh[lid / size] = excl + v; }
  workgroupBarrier();
  // At most WG / 4 subgroup totals: one invocation scans them serially.
  if (lid == 0u) {
    var acc = 0.0;
    for (var i = 0u; i < n; i++) {
      let t = sh[i];
      sh[i] = acc;
      acc += t;
    }
    sh_total = acc;
  }
  workgroupBarrier();
  return vec2<f32>(sh[lid / size] + excl, sh_total);
#else
  // Hillis–Steele inclusive scan in workgroup memory.
  sh[lid] = v;
  workgroupBarrier();
  for (var d = 1u; d < WG; d = d << 1u) {
    var t = 0.0;
    if (lid >= d) { t = sh[lid - d]; }
    workgroupBarrier();
    sh[lid] = sh[lid] + t;
    workgroupBarrier();
  }
  var excl = 0.0;
  if (lid > 0u) { excl = sh[lid - 1u]; }
  return vec2<f32>(excl, sh[WG - 1u]);
#endif
}

@compute @workgroup_size(WG)
fn scan_block(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
#if !SUBGROUPS
  let sg_lane = 0u;
  let sg_size = 1u;
#endif
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.rows * p.num_blocks) { return; }
  let row = w / p.num_blocks;
  let block_start = (w % p.num_blocks) * WG * ITEMS;
  let reverse = (p.flags & FLAG_REVERSE) != 0u;
  let base = row * p.len;

  // Coalesced load; position q counts along the scan direction.
  for (var k = 0u; k < ITEMS; k++) {
    let q = block_start + k * WG + lid;
    var v = 0.0;
    if (q < p.len) { v = x[base + select(q, p.len - 1u - q, reverse)]; }
    tile[k * WG + lid] = v;
  }
  workgroupBarrier();

  var run = 0.0;
  for (var j = 0u; j < ITEMS; j++) { run += tile[lid * ITEMS + j]; }
  let scanned = wg_exclusive_scan(run, lid, sg_lane, sg_size);

  if ((p.flags & FLAG_TOTALS) != 0u) {
    if (lid == 0u) { totals[w] = scanned.y; }
    return;
  }

  var acc = scanned.x;
  if ((p.flags & FLAG_SEED) != 0u) { acc += seed[w]; }
  let exclusive = (p.flags & FLAG_EXCLUSIVE) != 0u;
  for (var j = 0u; j < ITEMS; j++) {
    let v = tile[lid * ITEMS + j];
    if (exclusive) {
      tile[lid * ITEMS + j] = acc;
      acc += v;
    } else {
      acc += v;
      tile[lid * ITEMS + j] = acc;
    }
  }
  workgroupBarrier();
  for (var k = 0u; k < ITEMS; k++) {
    let q = block_start + k * WG + lid;
    if (q < p.len) { out[base + select(q, p.len - 1u - q, reverse)] = tile[k * WG + lid]; }
  }
}
