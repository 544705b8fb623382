// The optimal proposal's data projections in one op (replaces a chain of small elementwise ops and
// matmuls, each a dispatch and an [BT,D] intermediate). With precisions λ_d = exp(−lv_d), readout
// B [D,R] and residuals e_td = y_td − o_td (o = b, or b + Bvᵀv_t per row):
//   q_tr = Σ_d e_td λ_d B_dr,   s_t = Σ_d e_td² λ_d,   G_rs = Σ_d B_dr λ_d B_ds,
// i.e. q = C̃ỹ, s = |ỹ|², G = C̃C̃ᵀ with C̃ = Bᵀ/σ and ỹ = e/σ. Output qs packed [q (BT,R) | s (BT)].
// Backward, given gq, gs, gG, per channel d (rows split into chunks, partials summed by `reduce`):
//   ∂/∂e_td = λ_d (Σ_r gq_tr B_dr + 2 gs_t e_td)        (offset gradient: its negative)
//   ∂/∂B_dr = λ_d (Σ_t gq_tr e_td + Σ_s (gG_rs + gG_sr) B_ds)
//   ∂/∂lv_d = −(Σ_t e_td ∂q·s terms) − λ_d Σ_rs gG_rs B_dr B_ds
// Defines: ROWOFF (the offset is per row [BT,D], else one per channel [D]); CHUNK rows per backward invocation.
#const R
#const CHUNK

struct Params { BT: u32, D: u32, chunks: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> off: array<f32>;
@group(0) @binding(3) var<storage, read> lv: array<f32>;
@group(0) @binding(4) var<storage, read> Bm: array<f32>;
@group(0) @binding(5) var<storage, read_write> qs: array<f32>;
@group(0) @binding(6) var<storage, read_write> G: array<f32>;

fn offset_at(t: u32, d: u32) -> f32 {
#if ROWOFF
  return off[t * p.D + d];
#else
  return off[d];
#endif
}

// One invocation per row t (flat index over a 2-D grid).
@compute @workgroup_size(64)
fn project(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 64u;
  if (t >= p.BT) { return; }
  var q = array<f32, R>();
  var s = 0.0;
  for (var d = 0u; d < p.D; d++) {
    let lam = exp(-lv[d]);
    let e = y[t * p.D + d] - offset_at(t, d);
    s += e * e * lam;
    for (var r = 0u; r < R; r++) { q[r] += e * lam * Bm[d * R + r]; }
  }
  for (var r = 0u; r < R; r++) { qs[t * R + r] = q[r]; }
  qs[p.BT * R + t] = s;
}

// G (R×R), one invocation per entry.
@compute @workgroup_size(64)
fn gram(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= R * R) { return; }
  let r = e / R;
  let c = e % R;
  var g = 0.0;
  for (var d = 0u; d < p.D; d++) { g += Bm[d * R + r] * exp(-lv[d]) * Bm[d * R + c]; }
  G[e] = g;
}

@group(0) @binding(7) var<storage, read> gqs: array<f32>;
@group(0) @binding(8) var<storage, read> gG: array<f32>;
// per (chunk, channel): [gB (R) | glv | goff] partial sums over the chunk's rows
@group(0) @binding(9) var<storage, read_write> part: array<f32>;
@group(0) @binding(10) var<storage, read_write> goff: array<f32>;
@group(0) @binding(11) var<storage, read_write> gB: array<f32>;
@group(0) @binding(12) var<storage, read_write> glv: array<f32>;

const PW: u32 = R + 2u;

// Invocation (chunk c, channel d): sums over rows [c·CHUNK, (c+1)·CHUNK).
@compute @workgroup_size(64)
fn backward_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d = gid.x;
  let c = gid.y;
  if (d >= p.D) { return; }
  let lam = exp(-lv[d]);
  var brow = array<f32, R>();
  for (var r = 0u; r < R; r++) { brow[r] = Bm[d * R + r]; }
  var gb = array<f32, R>();
  var glam = 0.0; // Σ_t ∂/∂λ_d of the q, s terms
  var go = 0.0;
  let t1 = min(p.BT, (c + 1u) * CHUNK);
  for (var t = c * CHUNK; t < t1; t++) {
    let e = y[t * p.D + d] - offset_at(t, d);
    let gs = gqs[p.BT * R + t];
    var gqb = 0.0;
    for (var r = 0u; r < R; r++) {
      let gq = gqs[t * R + r];
      gqb += gq * brow[r];
      gb[r] += gq * e;
    }
    glam += e * gqb + gs * e * e;
    let ge = lam * (gqb + 2.0 * gs * e);
#if ROWOFF
    goff[t * p.D + d] = -ge;
#else
    go -= ge;
#endif
  }
  let base = (c * p.D + d) * PW;
  for (var r = 0u; r < R; r++) { part[base + r] = lam * gb[r]; }
  part[base + R] = -lam * glam;
  part[base + R + 1u] = go;
}

// One invocation per channel: sums the chunks' partials and adds the G terms.
@compute @workgroup_size(64)
fn reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d = gid.x;
  if (d >= p.D) { return; }
  var acc = array<f32, PW>();
  for (var c = 0u; c < p.chunks; c++) {
    for (var e = 0u; e < PW; e++) { acc[e] += part[(c * p.D + d) * PW + e]; }
  }
  let lam = exp(-lv[d]);
  var gl = acc[R];
  for (var r = 0u; r < R; r++) {
    var s = 0.0;
    for (var c = 0u; c < R; c++) { s += (gG[r * R + c] + gG[c * R + r]) * Bm[d * R + c]; }
    gB[d * R + r] = acc[r] + lam * s;
    gl -= 0.5 * lam * s * Bm[d * R + r];
  }
  glv[d] = gl;
#if !ROWOFF
  goff[d] = acc[R + 1u];
#endif
}
