// The optimal proposal's per-call R×R quantities, with the exact backward.
// Inputs: L (lower Cholesky factor of the latent noise covariance Σ = L Lᵀ) and G = C̃C̃ᵀ (C̃ = B/σ).
// Outputs, packed as [Σq (R×R) | Lq (R×R) | logdet(I + ΣG)]:
//   M = Σ⁻¹ + sym(G),  Σq = M⁻¹ (proposal covariance),  Lq = chol(Σq),
//   logdet(I + ΣG) = logdet Σ + logdet M  (the predictive density's covariance term).
// Backward (both variants):
//   Lq = chol(Σq):  gΣq += sym(Lq⁻ᵀ Φ(Lqᵀ gLq) Lq⁻¹), Φ = lower triangle with the diagonal halved;
//   Σq = M⁻¹ and logdet M:  gM = −Σq sym(gΣq) Σq + gld Σq;  M = Σ⁻¹ + sym(G):  gG = sym(gM);
//   Σ⁻¹ = (L Lᵀ)⁻¹ and logdet Σ:  gL = −2 tril(Σ⁻¹ sym(gM) Σ⁻¹ L) + diag(2 gld / L_ii).
// Two variants (src/ops/kalman.ts chooses):
//   SINGLE: one invocation with the matrices in private arrays (small R only);
//   otherwise one workgroup of NT invocations sharing the row/column loops, the matrices in slots of
//   `ws`: workgroup memory when SHARED (they fit), else a storage scratch buffer of SLOTS·R·R floats.
#const R
#const RR

@group(0) @binding(0) var<storage, read> Lin: array<f32>;
@group(0) @binding(1) var<storage, read> Gin: array<f32>;
@group(0) @binding(2) var<storage, read_write> outp: array<f32>;
@group(0) @binding(3) var<storage, read> gout: array<f32>;
@group(0) @binding(4) var<storage, read_write> gL: array<f32>;
@group(0) @binding(5) var<storage, read_write> gG: array<f32>;

fn ix(i: u32, j: u32) -> u32 { return i * R + j; }

#if SINGLE
fn chol(a: array<f32, RR>) -> array<f32, RR> {
  var l = array<f32, RR>();
  for (var j = 0u; j < R; j++) {
    var s = a[ix(j, j)];
    for (var k = 0u; k < j; k++) { s -= l[ix(j, k)] * l[ix(j, k)]; }
    let d = sqrt(max(s, 1e-30));
    l[ix(j, j)] = d;
    for (var i = j + 1u; i < R; i++) {
      var t = a[ix(i, j)];
      for (var k = 0u; k < j; k++) { t -= l[ix(i, k)] * l[ix(j, k)]; }
      l[ix(i, j)] = t / d;
    }
  }
  return l;
}

// Inverse of a lower-triangular matrix (lower-triangular).
fn tri_inv(l: array<f32, RR>) -> array<f32, RR> {
  var x = array<f32, RR>();
  for (var j = 0u; j < R; j++) {
    x[ix(j, j)] = 1.0 / l[ix(j, j)];
    for (var i = j + 1u; i < R; i++) {
      var s = 0.0;
      for (var k = j; k < i; k++) { s += l[ix(i, k)] * x[ix(k, j)]; }
      x[ix(i, j)] = -s / l[ix(i, i)];
    }
  }
  return x;
}

// Aᵀ A for lower-triangular A (the inverse of (A⁻¹)(A⁻¹)ᵀ).
fn gram_t(a: array<f32, RR>) -> array<f32, RR> {
  var out = array<f32, RR>();
  for (var i = 0u; i < R; i++) {
    for (var j = 0u; j < R; j++) {
      var s = 0.0;
      for (var k = 0u; k < R; k++) { s += a[ix(k, i)] * a[ix(k, j)]; }
      out[ix(i, j)] = s;
    }
  }
  return out;
}

fn mm(a: array<f32, RR>, b: array<f32, RR>) -> array<f32, RR> {
  var out = array<f32, RR>();
  for (var i = 0u; i < R; i++) {
    for (var j = 0u; j < R; j++) {
      var s = 0.0;
      for (var k = 0u; k < R; k++) { s += a[ix(i, k)] * b[ix(k, j)]; }
      out[ix(i, j)] = s;
    }
  }
  return out;
}

fn tr(a: array<f32, RR>) -> array<f32, RR> {
  var out = array<f32, RR>();
  for (var i = 0u; i < R; i++) { for (var j = 0u; j < R; j++) { out[ix(i, j)] = a[ix(j, i)]; } }
  return out;
}

fn sym(a: array<f32, RR>) -> array<f32, RR> {
  var out = array<f32, RR>();
  for (var i = 0u; i < R; i++) { for (var j = 0u; j < R; j++) { out[ix(i, j)] = 0.5 * (a[ix(i, j)] + a[ix(j, i)]); } }
  return out;
}

struct Fwd { L: array<f32, RR>, Sinv: array<f32, RR>, Lm: array<f32, RR>, Sq: array<f32, RR>, Lq: array<f32, RR>, ld: f32 }

fn forward_values() -> Fwd {
  var f = Fwd();
  var g = array<f32, RR>();
  for (var e = 0u; e < RR; e++) { f.L[e] = Lin[e]; g[e] = Gin[e]; }
  for (var i = 0u; i < R; i++) { for (var j = i + 1u; j < R; j++) { f.L[ix(i, j)] = 0.0; } }
  f.Sinv = gram_t(tri_inv(f.L));
  let gs = sym(g);
  var m = array<f32, RR>();
  for (var e = 0u; e < RR; e++) { m[e] = f.Sinv[e] + gs[e]; }
  f.Lm = chol(m);
  f.Sq = gram_t(tri_inv(f.Lm));
  f.Lq = chol(f.Sq);
  var ld = 0.0;
  for (var i = 0u; i < R; i++) { ld += 2.0 * log(f.L[ix(i, i)]) + 2.0 * log(f.Lm[ix(i, i)]); }
  f.ld = ld;
  return f;
}

@compute @workgroup_size(1)
fn forward() {
  let f = forward_values();
  for (var e = 0u; e < RR; e++) {
    outp[e] = f.Sq[e];
    outp[RR + e] = f.Lq[e];
  }
  outp[2u * RR] = f.ld;
}

@compute @workgroup_size(1)
fn backward() {
  let f = forward_values();
  var gSq = array<f32, RR>();
  var gLq = array<f32, RR>();
  for (var e = 0u; e < RR; e++) { gSq[e] = gout[e]; gLq[e] = gout[RR + e]; }
  let gld = gout[2u * RR];
  var phi = mm(tr(f.Lq), gLq);
  for (var i = 0u; i < R; i++) {
    for (var j = i + 1u; j < R; j++) { phi[ix(i, j)] = 0.0; }
    phi[ix(i, i)] = 0.5 * phi[ix(i, i)];
  }
  let lqi = tri_inv(f.Lq);
  let a = mm(mm(tr(lqi), phi), lqi);
  let gS = sym(a);
  var gSs = sym(gSq);
  for (var e = 0u; e < RR; e++) { gSs[e] += gS[e]; }
  var gM = mm(mm(f.Sq, gSs), f.Sq);
  for (var e = 0u; e < RR; e++) { gM[e] = -gM[e] + gld * f.Sq[e]; }
  let gMs = sym(gM);
  for (var e = 0u; e < RR; e++) { gG[e] = gMs[e]; }
  let gSig = mm(mm(f.Sinv, gMs), f.Sinv);
  let gl = mm(gSig, f.L);
  for (var i = 0u; i < R; i++) {
    for (var j = 0u; j < R; j++) {
      var v = 0.0;
      if (j <= i) { v = -2.0 * gl[ix(i, j)]; }
      if (i == j) { v += 2.0 * gld / f.L[ix(i, i)]; }
      gL[ix(i, j)] = v;
    }
  }
}

#else
#const NT
// Matrix slots in ws: the forward's values, kept for the backward, then three temporaries.
const S_L = 0u;
const S_SINV = 1u;
const S_LM = 2u;
const S_SQ = 3u;
const S_LQ = 4u;
const T1 = 5u;
const T2 = 6u;
const T3 = 7u;
const SLOTS = 8u;

#if SHARED
var<workgroup> ws: array<f32, SLOTS * RR>;
fn sync() { workgroupBarrier(); }
#else
@group(0) @binding(6) var<storage, read_write> ws: array<f32>;
fn sync() { storageBarrier(); }
#endif

fn at(s: u32, i: u32, j: u32) -> u32 { return s * RR + i * R + j; }

// dst = op(a) · op(b), op transposing where the flag is set; one output element per invocation turn,
// walking a's row and b's column by strides.
fn p_mm(dst: u32, a: u32, ta: bool, b: u32, tb: bool, lid: u32) {
  let ak = select(1u, R, ta);
  let bk = select(R, 1u, tb);
  for (var e = lid; e < RR; e += NT) {
    let i = e / R;
    let j = e % R;
    var ia = select(at(a, i, 0u), at(a, 0u, i), ta);
    var ib = select(at(b, 0u, j), at(b, j, 0u), tb);
    var s = 0.0;
    for (var k = 0u; k < R; k++) {
      s += ws[ia] * ws[ib];
      ia += ak;
      ib += bk;
    }
    ws[at(dst, i, j)] = s;
  }
  sync();
}

// dst = xᵀ x for lower-triangular x (rows below max(i, j) only).
fn p_gram_t(dst: u32, x: u32, lid: u32) {
  for (var e = lid; e < RR; e += NT) {
    let i = e / R;
    let j = e % R;
    var s = 0.0;
    for (var k = max(i, j); k < R; k++) { s += ws[at(x, k, i)] * ws[at(x, k, j)]; }
    ws[at(dst, i, j)] = s;
  }
  sync();
}

// dst = l⁻¹ for lower-triangular l: each column is its own forward substitution, one per invocation.
fn p_tri_inv(dst: u32, l: u32, lid: u32) {
  for (var j = lid; j < R; j += NT) {
    for (var i = 0u; i < j; i++) { ws[at(dst, i, j)] = 0.0; }
    ws[at(dst, j, j)] = 1.0 / ws[at(l, j, j)];
    for (var i = j + 1u; i < R; i++) {
      var s = 0.0;
      for (var k = j; k < i; k++) { s += ws[at(l, i, k)] * ws[at(dst, k, j)]; }
      ws[at(dst, i, j)] = -s / ws[at(l, i, i)];
    }
  }
  sync();
}

// dst = chol(a), column by column: the rows of column j in parallel once columns < j are done; every
// invocation recomputes the pivot rather than waiting on another barrier for it.
fn p_chol(dst: u32, a: u32, lid: u32) {
  for (var e = lid; e < RR; e += NT) {
    if (e % R > e / R) { ws[dst * RR + e] = 0.0; }
  }
  for (var j = 0u; j < R; j++) {
    for (var i = j + lid; i < R; i += NT) {
      var s = ws[at(a, j, j)];
      for (var k = 0u; k < j; k++) { s -= ws[at(dst, j, k)] * ws[at(dst, j, k)]; }
      let d = sqrt(max(s, 1e-30));
      if (i == j) {
        ws[at(dst, j, j)] = d;
      } else {
        var t = ws[at(a, i, j)];
        for (var k = 0u; k < j; k++) { t -= ws[at(dst, i, k)] * ws[at(dst, j, k)]; }
        ws[at(dst, i, j)] = t / d;
      }
    }
    sync();
  }
}

// Fills the slots S_L … S_LQ.
fn p_forward(lid: u32) {
  for (var e = lid; e < RR; e += NT) { ws[S_L * RR + e] = select(0.0, Lin[e], e % R <= e / R); }
  sync();
  p_tri_inv(T1, S_L, lid);
  p_gram_t(S_SINV, T1, lid);
  for (var e = lid; e < RR; e += NT) {
    let i = e / R;
    let j = e % R;
    ws[at(T2, i, j)] = ws[at(S_SINV, i, j)] + 0.5 * (Gin[ix(i, j)] + Gin[ix(j, i)]);
  }
  sync();
  p_chol(S_LM, T2, lid);
  p_tri_inv(T1, S_LM, lid);
  p_gram_t(S_SQ, T1, lid);
  p_chol(S_LQ, S_SQ, lid);
}

fn logdet() -> f32 {
  var ld = 0.0;
  for (var i = 0u; i < R; i++) { ld += 2.0 * log(ws[at(S_L, i, i)]) + 2.0 * log(ws[at(S_LM, i, i)]); }
  return ld;
}

@compute @workgroup_size(NT)
fn forward(@builtin(local_invocation_index) lid: u32) {
  p_forward(lid);
  for (var e = lid; e < RR; e += NT) {
    outp[e] = ws[S_SQ * RR + e];
    outp[RR + e] = ws[S_LQ * RR + e];
  }
  if (lid == 0u) { outp[2u * RR] = logdet(); }
}

@compute @workgroup_size(NT)
fn backward(@builtin(local_invocation_index) lid: u32) {
  p_forward(lid);
  let gld = gout[2u * RR];
  // Φ(Lqᵀ gLq) → T2 (Lq is lower: only rows k ≥ i contribute)
  for (var e = lid; e < RR; e += NT) {
    let i = e / R;
    let j = e % R;
    var s = 0.0;
    if (j <= i) {
      for (var k = i; k < R; k++) { s += ws[at(S_LQ, k, i)] * gout[RR + ix(k, j)]; }
      if (i == j) { s *= 0.5; }
    }
    ws[at(T2, i, j)] = s;
  }
  p_tri_inv(T1, S_LQ, lid);
  p_mm(T3, T2, false, T1, false, lid);
  p_mm(T2, T1, true, T3, false, lid);
  // sym(gΣq) + sym(Lq⁻ᵀ Φ Lq⁻¹) → T1
  for (var e = lid; e < RR; e += NT) {
    let i = e / R;
    let j = e % R;
    ws[at(T1, i, j)] = 0.5 * (ws[at(T2, i, j)] + ws[at(T2, j, i)]) + 0.5 * (gout[ix(i, j)] + gout[ix(j, i)]);
  }
  sync();
  p_mm(T3, S_SQ, false, T1, false, lid);
  p_mm(T2, T3, false, S_SQ, false, lid);
  // sym(gM) → T1 and gG
  for (var e = lid; e < RR; e += NT) {
    let i = e / R;
    let j = e % R;
    let v = 0.5 * ((gld * ws[at(S_SQ, i, j)] - ws[at(T2, i, j)]) + (gld * ws[at(S_SQ, j, i)] - ws[at(T2, j, i)]));
    ws[at(T1, i, j)] = v;
    gG[e] = v;
  }
  sync();
  p_mm(T3, S_SINV, false, T1, false, lid);
  p_mm(T2, T3, false, S_SINV, false, lid);
  // gL = −2 tril(T2 · L) + diag(2 gld / L_ii)  (L is lower: only k ≥ j contribute)
  for (var e = lid; e < RR; e += NT) {
    let i = e / R;
    let j = e % R;
    var v = 0.0;
    if (j <= i) {
      var s = 0.0;
      for (var k = j; k < R; k++) { s += ws[at(T2, i, k)] * ws[at(S_L, k, j)]; }
      v = -2.0 * s;
    }
    if (i == j) { v += 2.0 * gld / ws[at(S_L, i, i)]; }
    gL[e] = v;
  }
}
#endif
