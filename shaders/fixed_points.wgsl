// Vertex method of the fixed-point finder (src/analysis/fixed-points.ts, fp-planes.ts): one thread
// per k-subset S of the hyperplanes, unranked from its colex index. The thread solves for the point
// where S meets the slice at −∞ along the first r − k generic directions, reads every other plane's
// sign there on the fly, takes the one region around the point whose lowest point (in the next
// direction) it is, and solves that region's fixed-point system. Nothing N-wide is stored. Only
// clear cases are decided in float32; everything else (near-singular, near-tied signs, and every
// candidate fixed point) is written out by rank and redone in float64 on the CPU.

struct Params {
  // Rows of A − I, and −b (the map is z ↦ A z + b + Σ V_i relu(U_i z − thr_i)).
  am0: vec4<f32>,
  am1: vec4<f32>,
  am2: vec4<f32>,
  am3: vec4<f32>,
  nb: vec4<f32>,
  // Generic directions c_1..c_4 in arrangement coordinates.
  c0: vec4<f32>,
  c1: vec4<f32>,
  c2: vec4<f32>,
  c3: vec4<f32>,
  m: u32,
  k: u32,
  base: u32,
  count: u32,
  cap: u32,
  skip_origin: u32,
}

override RD: u32 = 2u;   // arrangement dimension r
override RZ: u32 = 2u;   // latent dimension R
override WG: u32 = 64u;

// One hyperplane with its unit: normal in arrangement (r) and latent (R) coordinates, V column.
struct Plane {
  n: vec4<f32>,
  u: vec4<f32>,
  v: vec4<f32>,
  t: f32,
  cls: u32,   // parallel class | ORIGIN_BIT
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<storage, read> units: array<Plane>;
@group(0) @binding(1) var<storage, read> binom: array<u32>;       // C(n, kk) at kk * (m + 1) + n
// [0] flagged, [1] decided (one region solved), [2] singular, [4] skipped (origin), records from 8.
@group(0) @binding(2) var<storage, read_write> outbuf: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

const ORIGIN_BIT: u32 = 0x80000000u;
const NONE: u32 = 0xffffffffu;
const HEADER: u32 = 8u;
const PIV_TOL: f32 = 1e-3;       // on unit-row matrices
// The sweep's lines and vertices only need signs (crossing order, canonical σ), whose error
// bounds already scale with 1 / q; q above this keeps the relative error of the closed-form
// inverse (≈ ε / q) far below 1.
const SWEEP_PIV_TOL: f32 = 1e-4;
const SIGN_TOL: f32 = 1.5e-6;    // ≈ 12 ulp of f32, scaled by 1 / q (see invert)
const SYS_TOL: f32 = 1e-4;       // conditioning q of the region system
const VALID_TOL: f32 = 1e-5;     // loose region check: only clear violations reject

const CODE_NONE: u32 = 0u;
const CODE_DECIDED: u32 = 1u;
const CODE_SINGULAR: u32 = 2u;
const CODE_FLAG: u32 = 3u;
const CODE_SKIP: u32 = 4u;

var<workgroup> wg_counts: array<atomic<u32>, 4>;

fn dir(l: u32) -> vec4<f32> {
  switch l {
    case 0u: { return p.c0; }
    case 1u: { return p.c1; }
    case 2u: { return p.c2; }
    default: { return p.c3; }
  }
}

fn am_row(q: u32) -> vec4<f32> {
  switch q {
    case 0u: { return p.am0; }
    case 1u: { return p.am1; }
    case 2u: { return p.am2; }
    default: { return p.am3; }
  }
}

fn max4(v: vec4<f32>) -> f32 {
  let a = abs(v);
  return max(max(a.x, a.y), max(a.z, a.w));
}

// Inverse of the leading n×n block and its conditioning q (0 = singular; 1 = orthogonal rows):
// n ≤ 3 by the closed form (columns of the inverse are cross products of rows over the
// determinant; rows past n padded with unit vectors) with q = |det| / Π row norms, which is at most
// the smallest Gauss–Jordan pivot of the row-normalised matrix, so tolerances scaled by 1 / q are no
// looser than pivot-based ones. Straight-line code: lavapipe keeps it in registers, where the
// dynamically indexed elimination spilled to memory and dominated the sweep. n = 4: Gauss–Jordan
// with row pivoting, q = smallest pivot / largest row norm.
fn invert(a: ptr<function, array<vec4<f32>, 4>>, inv: ptr<function, array<vec4<f32>, 4>>, n: u32) -> f32 {
  if (n <= 3u) {
    let r0 = (*a)[0].xyz;
    let r1 = select(vec3<f32>(0.0, 1.0, 0.0), (*a)[1].xyz, n >= 2u);
    let r2 = select(vec3<f32>(0.0, 0.0, 1.0), (*a)[2].xyz, n >= 3u);
    let c0 = cross(r1, r2);
    let c1 = cross(r2, r0);
    let c2 = cross(r0, r1);
    let det = dot(r0, c0);
    let norms = length(r0) * length(r1) * length(r2);
    if (det == 0.0 || !(norms > 0.0)) { return 0.0; }
    let id = 1.0 / det;
    (*inv)[0] = vec4<f32>(c0.x, c1.x, c2.x, 0.0) * id;
    (*inv)[1] = vec4<f32>(c0.y, c1.y, c2.y, 0.0) * id;
    (*inv)[2] = vec4<f32>(c0.z, c1.z, c2.z, 0.0) * id;
    (*inv)[3] = vec4<f32>(0.0, 0.0, 0.0, 1.0);
    return abs(det) / norms;
  }
  var scale = 0.0;
  for (var i = 0u; i < 4u; i++) {
    var e = vec4<f32>(0.0);
    e[i] = 1.0;
    (*inv)[i] = e;
    scale = max(scale, length((*a)[i]));
  }
  var minp = 3.0e38;
  for (var col = 0u; col < n; col++) {
    var best = col;
    var bv = abs((*a)[col][col]);
    for (var row = col + 1u; row < n; row++) {
      let v = abs((*a)[row][col]);
      if (v > bv) { bv = v; best = row; }
    }
    if (best != col) {
      let t = (*a)[col]; (*a)[col] = (*a)[best]; (*a)[best] = t;
      let u = (*inv)[col]; (*inv)[col] = (*inv)[best]; (*inv)[best] = u;
    }
    minp = min(minp, bv);
    if (bv == 0.0) { return 0.0; }
    let ip = 1.0 / (*a)[col][col];
    (*a)[col] = (*a)[col] * ip;
    (*inv)[col] = (*inv)[col] * ip;
    for (var row = 0u; row < n; row++) {
      if (row != col) {
        let f = (*a)[row][col];
        (*a)[row] = (*a)[row] - f * (*a)[col];
        (*inv)[row] = (*inv)[row] - f * (*inv)[col];
      }
    }
  }
  return minp / scale;
}

// Loose region check of a candidate z against one plane with activity d: only a violation beyond
// the tolerance counts (the CPU decides everything closer).
fn clearly_outside(un: Plane, d: f32, z: vec4<f32>, ztol: f32, vtol: f32) -> bool {
  let x = dot(un.u, z) - un.t;
  let lim = ztol + vtol * abs(un.t);
  return (d > 0.0 && x < -lim) || (d == 0.0 && x > lim);
}

fn binom_at(kk: u32, n: u32) -> u32 {
  return binom[kk * (p.m + 1u) + n];
}

// The k-subset s_1 < … < s_k of the planes with colex rank idx = C(s_k, k) + … + C(s_1, 1).
fn unrank(idx: u32, k: u32) -> array<u32, 4> {
  var s: array<u32, 4>;
  var rem = idx;
  var hi = p.m;
  for (var kk = k; kk >= 1u; kk--) {
    var lo = kk - 1u;
    var top = hi - 1u;
    while (lo < top) {
      let mid = (lo + top + 1u) / 2u;
      if (binom_at(kk, mid) <= rem) { lo = mid; } else { top = mid - 1u; }
    }
    s[kk - 1u] = lo;
    rem -= binom_at(kk, lo);
    hi = lo;
  }
  return s;
}

// z(t) = z0 + Σ t_l e_l; only e_1 matters here: the first clear coefficient decides the sign.
fn process(idx: u32) -> u32 {
  let k = p.k;
  let j = RD - k;
  var s = unrank(idx, k);
  // Members and their classes as vectors padded with NONE, consumed in order by rotation.
  var sv = vec4<u32>(NONE);
  var cv = vec4<u32>(NONE);
  var all_origin = k == RD && p.skip_origin != 0u;
  for (var a = 0u; a < k; a++) {
    let x = units[s[a]].cls;
    let c = x & ~ORIGIN_BIT;
    if (any(cv == vec4<u32>(c))) { return CODE_SINGULAR; } // parallel planes never meet
    sv[a] = s[a];
    cv[a] = c;
    all_origin = all_origin && (x & ORIGIN_BIT) != 0u;
  }
  if (all_origin) { return CODE_SKIP; }
  var bm: array<vec4<f32>, 4>;
  var hv = vec4<f32>(0.0);
  for (var a = 0u; a < RD; a++) {
    if (a < k) { bm[a] = units[s[a]].n; hv[a] = units[s[a]].t; } else { bm[a] = dir(a - k); }
  }
  var binv: array<vec4<f32>, 4>;
  let minp = invert(&bm, &binv, RD);
  if (minp < PIV_TOL) { return CODE_FLAG; }
  // z(t) = z0 + Σ t_l e_l; only e_1 matters here: the first clear coefficient decides a sign.
  var z0 = vec4<f32>(0.0);
  var e0 = vec4<f32>(0.0);
  for (var q = 0u; q < RD; q++) {
    z0[q] = dot(binv[q], hv);
    if (j > 0u) { e0[q] = binv[q][k]; }
  }
  let tol = SIGN_TOL / minp;
  let z0tol = tol * (1.0 + max4(z0));
  let etol = select(3.0e38, tol * (1.0 + max4(e0)), j > 0u);
  // Canonical signs on S: c_{j+1} must lie in the cone of σ_a Ur_a (and ±c_1..c_j).
  var sg = vec4<f32>(0.0);
  if (k > 0u) {
    let c = dir(j);
    for (var a = 0u; a < k; a++) {
      var y = 0.0;
      for (var q = 0u; q < RD; q++) { y += binv[q][a] * c[q]; }
      if (abs(y) < tol) { return CODE_FLAG; }
      sg[a] = select(0.0, 1.0, y > 0.0);
    }
  }
  // Region system: (A − I + Σ d_i V_i U_iᵀ) z = Σ d_i V_i thr_i − b, accumulated branch-free.
  var m0 = p.am0;
  var m1v = p.am1;
  var m2 = p.am2;
  var m3 = p.am3;
  var rhs = p.nb;
  var next = sv;
  var nsg = sg;
  for (var i = 0u; i < p.m; i++) {
    let un = units[i];
    var d: f32;
    if (i == next.x) {
      d = nsg.x;
      next = next.yzwx;
      nsg = nsg.yzwx;
    } else {
      // Lexicographic sign at z(t): t_1 → −∞ first (planes parallel to S skip it), then the constant.
      let g = dot(un.n, e0);
      let parallel = any(cv == vec4<u32>(un.cls & ~ORIGIN_BIT));
      let v0 = dot(un.n, z0) - un.t;
      var sgn: f32;
      if (j > 0u && !parallel) {
        // Below tolerance: an exact zero would defer to t_2, a tiny nonzero would decide: unclear.
        if (abs(g) <= etol) { return CODE_FLAG; }
        sgn = -g;
      } else {
        if (abs(v0) <= z0tol + tol * abs(un.t)) { return CODE_FLAG; }
        sgn = v0;
      }
      d = select(0.0, 1.0, sgn > 0.0);
    }
    let dv = d * un.v;
    m0 += dv.x * un.u;
    m1v += dv.y * un.u;
    m2 += dv.z * un.u;
    m3 += dv.w * un.u;
    rhs += dv * un.t;
  }
  var mx: array<vec4<f32>, 4>;
  mx[0] = m0;
  mx[1] = m1v;
  mx[2] = m2;
  mx[3] = m3;
  var minv: array<vec4<f32>, 4>;
  let minpz = invert(&mx, &minv, RZ);
  if (minpz < SYS_TOL) { return CODE_FLAG; }
  var z = vec4<f32>(0.0);
  for (var q = 0u; q < RZ; q++) { z[q] = dot(minv[q], rhs); }
  let vtol = VALID_TOL / minpz;
  let ztol = vtol * (1.0 + max4(z));
  // Loose region check: reject only clear violations, the CPU decides the rest.
  next = sv;
  nsg = sg;
  for (var i = 0u; i < p.m; i++) {
    let un = units[i];
    var d: f32;
    if (i == next.x) {
      d = nsg.x;
      next = next.yzwx;
      nsg = nsg.yzwx;
    } else {
      let parallel = any(cv == vec4<u32>(un.cls & ~ORIGIN_BIT));
      let sgn = select(dot(un.n, z0) - un.t, -dot(un.n, e0), j > 0u && !parallel);
      d = select(0.0, 1.0, sgn > 0.0);
    }
    if (clearly_outside(un, d, z, ztol, vtol)) { return CODE_DECIDED; }
  }
  return CODE_FLAG;
}

@compute @workgroup_size(WG)
fn enumerate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (lid < 4u) { atomicStore(&wg_counts[lid], 0u); }
  workgroupBarrier();
  let t = gid.x + gid.y * nwg.x * WG;
  var code = CODE_NONE;
  if (t < p.count) {
    let idx = p.base + t;
    code = process(idx);
    if (code == CODE_FLAG) {
      let slot = atomicAdd(&outbuf[0], 1u);
      if (slot < p.cap) { atomicStore(&outbuf[HEADER + slot], idx); }
    } else if (code != CODE_NONE) {
      atomicAdd(&wg_counts[code - 1u], 1u);
    }
  }
  workgroupBarrier();
  if (lid >= 1u && lid <= 4u) {
    let c = atomicLoad(&wg_counts[lid - 1u]);
    if (c > 0u) { atomicAdd(&outbuf[lid], c); }
  }
}

#if SWEEP
// Level k = r (true vertices) by sweeping lines: one thread per (r−1)-subset T, whose planes meet
// in the line z0 + τ e0 (e0 from line_direction). Every other plane crosses it at τ_i; sorted, consecutive
// crossings differ by one plane's activity, so the region system is updated in O(R²) per vertex
// instead of being rebuilt in O(N R²). The thread owns the vertices T ∪ {c} with c > max(T), so
// each r-subset is visited once. Records are pairs (kind, rank): kind 0 = an r-subset to re-check,
// kind 1 = a whole line (all its owned r-subsets) to re-check.
#const MAXN
const KIND_VERTEX: u32 = 0u;
const KIND_LINE: u32 = 1u;

fn emit(kind: u32, rank: u32) {
  let slot = atomicAdd(&outbuf[0], 1u);
  if (slot < p.cap) {
    atomicStore(&outbuf[HEADER + 2u * slot], kind);
    atomicStore(&outbuf[HEADER + 2u * slot + 1u], rank);
  }
}

// The line's parameter direction, unit and orthogonal to its planes where that is closed-form (r = 2,
// 3), else c_1. Any direction orders the crossings; parametrising along c_1 instead would make the
// crossing positions, hence the tie intervals, ill-conditioned on lines nearly orthogonal to c_1.
fn line_direction(n0: vec4<f32>, n1: vec4<f32>) -> vec4<f32> {
  if (RD == 2u) { return vec4<f32>(-n0.y, n0.x, 0.0, 0.0); }
  if (RD == 3u) {
    let e = cross(n0.xyz, n1.xyz);
    let len = length(e);
    if (len > 0.0) { return vec4<f32>(e / len, 0.0); }
  }
  return p.c0;
}

@compute @workgroup_size(WG)
fn sweep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= p.count) { return; }
  let line = p.base + t;
  let k = RD - 1u;
  // T from its colex rank; rank(T ∪ {c}) = line + C(c, r) for c > max T.
  var s = unrank(line, k);
  var first_owned = 0u;
  if (k > 0u) { first_owned = s[k - 1u] + 1u; }
  if (first_owned >= p.m) { return; }
  var sv = vec4<u32>(NONE);
  var cv = vec4<u32>(NONE);
  var t_origin = p.skip_origin != 0u;
  for (var a = 0u; a < k; a++) {
    let x = units[s[a]].cls;
    let c = x & ~ORIGIN_BIT;
    if (any(cv == vec4<u32>(c))) { return; } // parallel members: no line, all its subsets singular
    sv[a] = s[a];
    cv[a] = c;
    t_origin = t_origin && (x & ORIGIN_BIT) != 0u;
  }
  var bm: array<vec4<f32>, 4>;
  var hv = vec4<f32>(0.0);
  for (var a = 0u; a < RD; a++) {
    if (a < k) { bm[a] = units[s[a]].n; hv[a] = units[s[a]].t; } else { bm[a] = line_direction(bm[0], bm[1]); }
  }
  var binv: array<vec4<f32>, 4>;
  let minp = invert(&bm, &binv, RD);
  if (minp < SWEEP_PIV_TOL) { emit(KIND_LINE, line); return; }
  var z0 = vec4<f32>(0.0);
  var e0 = vec4<f32>(0.0);
  for (var q = 0u; q < RD; q++) {
    z0[q] = dot(binv[q], hv);
    e0[q] = binv[q][k];
  }
  let tol = SIGN_TOL / minp;
  let z0s = max4(z0);
  let e0s = max4(e0);
  let etol = tol * (1.0 + e0s);
  // Crossings, the activity at τ → −∞, and the widest uncertainty of a crossing.
  var tau: array<f32, MAXN>;
  var ord: array<u32, MAXN>;
  var cnt = 0u;
  var par_limit = 3.0e38; // |τ| within which the planes nearly parallel to the line keep their sign
  var far = vec4<u32>(NONE); // owned vertices with those planes: far out, re-checked on the CPU
  var nfar = 0u;
  var m0 = p.am0;
  var m1v = p.am1;
  var m2 = p.am2;
  var m3 = p.am3;
  var rhs = p.nb;
  var next = sv;
  for (var i = 0u; i < p.m; i++) {
    if (i == next.x) { next = next.yzwx; continue; }
    let un = units[i];
    let g = dot(un.n, e0);
    let v0 = dot(un.n, z0) - un.t;
    var act: f32;
    if (any(cv == vec4<u32>(un.cls & ~ORIGIN_BIT))) {
      // Parallel to a member: parallel to the line, constant sign along it.
      if (abs(v0) <= tol * (1.0 + z0s + abs(un.t))) { emit(KIND_LINE, line); return; }
      act = select(0.0, 1.0, v0 > 0.0);
    } else if (abs(g) <= etol) {
      // Nearly parallel to the line (even the sign of g is unsure): v0 + τ g keeps the sign of v0
      // while |τ| · 2 etol stays below |v0|'s margin, which the sorted crossings are checked against.
      let margin = abs(v0) - tol * (1.0 + z0s + abs(un.t));
      if (margin <= 0.0) { emit(KIND_LINE, line); return; }
      par_limit = min(par_limit, margin / (2.0 * etol));
      act = select(0.0, 1.0, v0 > 0.0);
      if (i >= first_owned) {
        if (nfar == 4u) { emit(KIND_LINE, line); return; }
        far[nfar] = i;
        nfar++;
      }
    } else {
      let tc = -v0 / g;
      tau[cnt] = tc;
      ord[cnt] = i;
      cnt++;
      act = select(0.0, 1.0, g < 0.0);
    }
    let dv = act * un.v;
    m0 += dv.x * un.u;
    m1v += dv.y * un.u;
    m2 += dv.z * un.u;
    m3 += dv.w * un.u;
    rhs += dv * un.t;
  }
  // Bitonic sort of the crossings by τ, padded to MAXN with +∞. The network is data-independent,
  // so all invocations index the same entries in lockstep and swap branch-free; a heapsort's
  // divergent, data-dependent indexing of these private arrays dominated the sweep on lavapipe.
  for (var n = cnt; n < MAXN; n++) {
    tau[n] = 3.0e38;
    ord[n] = NONE;
  }
  for (var size = 2u; size <= MAXN; size <<= 1u) {
    for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
      for (var pair = 0u; pair < MAXN / 2u; pair++) {
        let i = ((pair & ~(stride - 1u)) << 1u) | (pair & (stride - 1u));
        let l = i | stride;
        let ti = tau[i];
        let tl = tau[l];
        let oi = ord[i];
        let ol = ord[l];
        let swap = (ti > tl) == ((i & size) == 0u);
        tau[i] = select(ti, tl, swap);
        tau[l] = select(tl, ti, swap);
        ord[i] = select(oi, ol, swap);
        ord[l] = select(ol, oi, swap);
      }
    }
  }
  if (cnt > 0u && max(abs(tau[0]), abs(tau[cnt - 1u])) * 1.001 >= par_limit) { emit(KIND_LINE, line); return; }
  for (var a = 0u; a < nfar; a++) { emit(KIND_VERTEX, line + binom_at(RD, far[a])); }
  // Each crossing is known to ±δ; a vertex is unclear if its interval meets another one. Suffix
  // minima of τ − δ (the right side) are stored, prefix maxima of τ + δ kept while sweeping.
  var after: array<f32, MAXN>;
  var lowest = 3.0e38;
  for (var n = cnt; n > 0u; n--) {
    after[n - 1u] = lowest;
    let un = units[ord[n - 1u]];
    let tn = tau[n - 1u];
    lowest = min(lowest, tn - tol * (1.0 + z0s + abs(un.t) + abs(tn) * e0s) / abs(dot(un.n, e0)));
  }
  var reach = -3.0e38;
  var decided = 0u;
  var skipped = 0u;
  for (var n = 0u; n < cnt; n++) {
    let c = ord[n];
    let tc = tau[n];
    let uc = units[c];
    let gc = dot(uc.n, e0);
    let before = select(0.0, 1.0, gc < 0.0);
    let dcv = uc.v;
    let my = tol * (1.0 + z0s + abs(uc.t) + abs(tc) * e0s) / abs(gc);
    let tie = reach >= tc - my || after[n] <= tc + my;
    reach = max(reach, tc + my);
    if (c >= first_owned) {
      let rank = line + binom_at(RD, c);
      if (t_origin && (uc.cls & ORIGIN_BIT) != 0u) {
        skipped++;
      } else if (tie) {
        emit(KIND_VERTEX, rank);
      } else {
        // Canonical signs at the vertex T ∪ {c}: c_1 in the cone of σ_a Ur_a.
        var bv: array<vec4<f32>, 4>;
        for (var a = 0u; a < RD; a++) { bv[a] = select(uc.n, units[s[min(a, 3u)]].n, a < k); }
        var bvi: array<vec4<f32>, 4>;
        let mp = invert(&bv, &bvi, RD);
        var sg = vec4<f32>(0.0);
        var ok = mp >= SWEEP_PIV_TOL;
        for (var a = 0u; a < RD; a++) {
          var y = 0.0;
          for (var q = 0u; q < RD; q++) { y += bvi[q][a] * p.c0[q]; }
          ok = ok && abs(y) >= SIGN_TOL / max(mp, 1e-30);
          sg[a] = select(0.0, 1.0, y > 0.0);
        }
        // Others as on the line just before c, c itself and T from σ.
        var mx: array<vec4<f32>, 4>;
        let dc = sg[k] - before;
        mx[0] = m0 + (dc * dcv.x) * uc.u;
        mx[1] = m1v + (dc * dcv.y) * uc.u;
        mx[2] = m2 + (dc * dcv.z) * uc.u;
        mx[3] = m3 + (dc * dcv.w) * uc.u;
        var rr = rhs + (dc * uc.t) * dcv;
        for (var a = 0u; a < k; a++) {
          let ua = units[s[a]];
          let dv = sg[a] * ua.v;
          mx[0] += dv.x * ua.u;
          mx[1] += dv.y * ua.u;
          mx[2] += dv.z * ua.u;
          mx[3] += dv.w * ua.u;
          rr += dv * ua.t;
        }
        var minv: array<vec4<f32>, 4>;
        let minpz = invert(&mx, &minv, RZ);
        // Decided here only when well conditioned and the candidate clearly violates some plane; an
        // unclear case or a candidate that passes goes to the CPU.
        var rejected = false;
        if (ok && minpz >= SYS_TOL) {
          var z = vec4<f32>(0.0);
          for (var q = 0u; q < RZ; q++) { z[q] = dot(minv[q], rr); }
          let vtol = VALID_TOL / minpz;
          let ztol = vtol * (1.0 + max4(z));
          // Loose region check with every plane's activity at the vertex; stop at a clear violation.
          var nt = sv;
          var ns = sg;
          for (var i = 0u; i < p.m; i++) {
            let un = units[i];
            var d: f32;
            if (i == nt.x) {
              d = ns.x;
              nt = nt.yzwx;
              ns = ns.yzwx;
            } else if (i == c) {
              d = sg[k];
            } else {
              let g = dot(un.n, e0);
              let v0 = dot(un.n, z0) - un.t;
              let par = any(cv == vec4<u32>(un.cls & ~ORIGIN_BIT));
              // Activity at τ_c: sign of v0 + τ_c g (parallel planes: v0).
              d = select(0.0, 1.0, select(v0 + tc * g, v0, par) > 0.0);
            }
            if (clearly_outside(un, d, z, ztol, vtol)) { rejected = true; break; }
          }
        }
        if (rejected) { decided++; } else { emit(KIND_VERTEX, rank); }
      }
    }
    // Cross c: its activity flips.
    let flip = 1.0 - 2.0 * before;
    let fv = flip * dcv;
    m0 += fv.x * uc.u;
    m1v += fv.y * uc.u;
    m2 += fv.z * uc.u;
    m3 += fv.w * uc.u;
    rhs += fv * uc.t;
  }
  if (decided > 0u) { atomicAdd(&outbuf[1], decided); }
  if (skipped > 0u) { atomicAdd(&outbuf[4], skipped); }
}
#endif
