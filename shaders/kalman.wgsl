// The optimal proposal's per-call R×R quantities (one invocation; R ≤ 8), with the exact backward.
// Inputs: L (lower Cholesky factor of the latent noise covariance Σ = L Lᵀ) and G = C̃C̃ᵀ (C̃ = B/σ).
// Outputs, packed as [Σq (R×R) | Lq (R×R) | logdet(I + ΣG)]:
//   M = Σ⁻¹ + sym(G),  Σq = M⁻¹ (proposal covariance),  Lq = chol(Σq),
//   logdet(I + ΣG) = logdet Σ + logdet M  (the predictive density's covariance term).
#const R
#const RR

@group(0) @binding(0) var<storage, read> Lin: array<f32>;
@group(0) @binding(1) var<storage, read> Gin: array<f32>;
@group(0) @binding(2) var<storage, read_write> outp: array<f32>;
@group(0) @binding(3) var<storage, read> gout: array<f32>;
@group(0) @binding(4) var<storage, read_write> gL: array<f32>;
@group(0) @binding(5) var<storage, read_write> gG: array<f32>;

fn ix(i: u32, j: u32) -> u32 { return i * R + j; }

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
  // Lq = chol(Σq): symmetric gradient  sym(Lq⁻ᵀ Φ(Lqᵀ gLq) Lq⁻¹), Φ = lower triangle, diagonal halved
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
  // Σq = M⁻¹ and logdet M: gM = −Σq gΣq Σq + gld Σq
  var gM = mm(mm(f.Sq, gSs), f.Sq);
  for (var e = 0u; e < RR; e++) { gM[e] = -gM[e] + gld * f.Sq[e]; }
  // M = Σ⁻¹ + sym(G)
  let gMs = sym(gM);
  for (var e = 0u; e < RR; e++) { gG[e] = gMs[e]; }
  // Σ⁻¹: gΣ = −Σ⁻¹ gM Σ⁻¹;  Σ = L Lᵀ: gL = (gΣ + gΣᵀ) L;  logdet Σ: 2 gld / L_ii
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
