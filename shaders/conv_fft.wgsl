// FFT convolution (src/ops/conv.ts, the 'fft' algorithm): for long kernels the padded 'valid' correlation
// y[t] = Σ_k w[k] xpad[t + k] is computed as IFFT(conj(Ŵ) · X̂) with both series zero-filled to N ≥ the padded
// length tp, so the circular products never wrap into the steps kept (t + k < tp ≤ N). Three kernels:
//   forward  the spectrum (bins 0 … N/2 of the real series) of each row of a strided real tensor, read through
//            the padding map of conv_pad (the input) or plainly (weights, output gradients: zeros, padL = 0);
//   mac      C[p, q, f] = Σ_r opA(A[p, r, f]) · opB(B[q, r, f]) over spectra read through strides, opA/opB the
//            identity or the complex conjugate: the forward (X̂·conj Ŵ), the input gradient (dŶ·Ŵ, a convolution)
//            and the weight gradient (conj(dŶ)·X̂ summed over trials) are all of this form;
//   inverse  the real series of each spectrum row (Hermitian: bins N/2+1 … N−1 are conjugates), `len` of its steps
//            written through strides, plus a bias per row;
//   bias_grad the bias gradient from the output gradient's spectra (the DC bin of a row is its sum over steps).
// #if ACT an activation (GELU or leaky ReLU) is fused into the convolution: inverse writes the pre-activation z (kept
// for the backward) and act(z), and forward reads an output gradient ∂act(z) as ∂z = ∂act(z) ⊙ act'(z).
// FFTs are decimation in time on N = 2^m or 3·2^m complex points in workgroup memory (radix-2, -4 and -8 steps, then
// for 3·2^m one radix-3 step), each carrying two real rows (as real and imaginary parts), S of them per workgroup.

#include "conv_pad"
#include "activation"

#const N
// N = NS (a power of two) or 3·NS: NS-point radix-2 transforms, then one radix-3 step
#const NS
#const LOGNS
#const WG
// FFT slots (two real rows each) per workgroup
#const S
#const PT
#const QT

const F: u32 = N / 2u + 1u;

override HAS_BIAS: bool = false;
override CONJ_A: bool = false;
override CONJ_B: bool = false;
// The fused activation (#if ACT): GELU, else leaky ReLU of slope SLOPE.
override GELU: bool = true;
override SLOPE: f32 = 0.1;

fn act(v: f32) -> f32 {
  if (GELU) { return gelu_f(v); }
  return leaky_f(v, SLOPE);
}
fn act_df(v: f32) -> f32 {
  if (GELU) { return gelu_df(v); }
  return leaky_df(v, SLOPE);
}

// Row `row` of `rows` is (r1, r2) = (row / n2, row % n2); its series starts at off + r1·s1 + r2·s2 with step sT.
// forward reads `len` padded positions of a source of `tin` steps (padL before it); inverse writes `len` steps from
// step padL on.
struct FftParams {
  rows: u32,
  n2: u32,
  off: u32,
  s1: u32,
  s2: u32,
  sT: u32,
  tin: u32,
  padL: u32,
  len: u32,
}

@group(0) @binding(0) var<uniform> p: FftParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> spec: array<vec2<f32>>;

// e^{−2πik/N}, k < N/2, computed on the host in float64: software adapters' sin and cos are not accurate enough
// (SwiftShader's cost the transforms three decimal places).
@group(0) @binding(4) var<storage, read> twid: array<vec2<f32>>;

var<workgroup> buf: array<vec2<f32>, S * N>;
var<workgroup> tw: array<vec2<f32>, NS / 2u>;
// Series starts of the workgroup's 2S rows, computed once: the divisions by n2 are not per element (software
// adapters emulate vector integer division lane by lane).
var<workgroup> rbase: array<u32, 2u * S>;

fn bitrev(i: u32) -> u32 { return reverseBits(i) >> (32u - LOGNS); }

// Where point q of a transform is loaded: bit-reversed for N = NS; for N = 3·NS point q goes to sub-transform q mod 3
// (the three NS-point transforms of the points ≡ 0, 1, 2 mod 3), bit-reversed within it.
fn load_pos(q: u32) -> u32 {
  if (N == NS) { return bitrev(q); }
  return (q % 3u) * NS + bitrev(q / 3u);
}

fn series_base(row: u32) -> u32 { return p.off + (row / p.n2) * p.s1 + (row % p.n2) * p.s2; }

// Fills rbase for rows row0 … row0 + 2S − 1 (the callers' first barrier is in fft_stages).
fn row_bases(lid: u32, row0: u32) {
  if (lid < 2u * S) { rbase[lid] = series_base(row0 + lid); }
  workgroupBarrier();
}

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> { return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }

// In-place FFTs of the S slots of buf, each loaded in bit-reversed order; the twiddles are staged in workgroup memory first.
// Decimation in time, several radix-2 stages per pass over workgroup memory (the passes' loads and stores, not the
// arithmetic, are what costs on software adapters): one twiddle-free radix-2 stage or one radix-4 step when log₂N is
// not a multiple of 3, then radix-8 steps, each three stages on 8 points held in registers.
fn fft_stages(lid: u32) {
  for (var k = lid; k < NS / 2u; k += WG) { tw[k] = twid[k]; }
  var lh = 0u;
  if (LOGNS % 3u == 1u) {
    workgroupBarrier();
    for (var j = lid; j < S * N / 2u; j += WG) {
      let a = buf[2u * j];
      let b = buf[2u * j + 1u];
      buf[2u * j] = a + b;
      buf[2u * j + 1u] = a - b;
    }
    lh = 1u;
  }
  if (LOGNS % 3u == 2u) {
    // four transforms of 1 point at base … base + 3 (h = 1) merged into one of 4: twiddles 1 and −i
    workgroupBarrier();
    for (var j = lid; j < S * N / 4u; j += WG) {
      let base = 4u * j;
      let a0 = buf[base];
      let a1 = buf[base + 1u];
      let a2 = buf[base + 2u];
      let a3 = buf[base + 3u];
      let b0 = a0 + a1;
      let b1 = a0 - a1;
      let u2 = a2 + a3;
      let u3 = a2 - a3;
      let v3 = vec2<f32>(u3.y, -u3.x);
      buf[base] = b0 + u2;
      buf[base + 2u] = b0 - u2;
      buf[base + 1u] = b1 + v3;
      buf[base + 3u] = b1 - v3;
    }
    lh = 2u;
  }
  // A radix-8 step merges eight transforms of h points at base + m·h (m < 8) into one of 8h: the stage to 2h
  // (twiddle e^{−2πi·pos/2h}), to 4h (e^{−2πi·pos/4h}, times −i for the second pair) and to 8h (e^{−2πi·(pos + m·h)/8h}
  // for pair m).
  for (; lh < LOGNS; lh += 3u) {
    workgroupBarrier();
    let h = 1u << lh;
    for (var j = lid; j < S * N / 8u; j += WG) {
      let jj = j & (NS / 8u - 1u);
      let pos = jj & (h - 1u);
      let base = (j >> (max(LOGNS, 3u) - 3u)) * NS + ((jj >> lh) << (lh + 3u)) + pos;
      var a: array<vec2<f32>, 8>;
#unroll M 8
      a[M] = buf[base + M * h];
#endunroll
      let wa = tw[pos * (NS >> (lh + 1u))];
#unroll M 4
      {
        let t = cmul(wa, a[2 * M + 1]);
        a[2 * M + 1] = a[2 * M] - t;
        a[2 * M] = a[2 * M] + t;
      }
#endunroll
      let wb0 = tw[pos * (NS >> (lh + 2u))];
      let wb1 = vec2<f32>(wb0.y, -wb0.x);
#unroll M 2
      {
        let t0 = cmul(wb0, a[4 * M + 2]);
        a[4 * M + 2] = a[4 * M] - t0;
        a[4 * M] = a[4 * M] + t0;
        let t1 = cmul(wb1, a[4 * M + 3]);
        a[4 * M + 3] = a[4 * M + 1] - t1;
        a[4 * M + 1] = a[4 * M + 1] + t1;
      }
#endunroll
#unroll M 4
      {
        // from the table, not e^{−2πi·pos/8h} times a constant: the same rounding as stage by stage
        let t = cmul(tw[(pos + M * h) * (NS >> (lh + 3u))], a[M + 4]);
        buf[base + (M + 4) * h] = a[M] - t;
        buf[base + M * h] = a[M] + t;
      }
#endunroll
    }
  }
  workgroupBarrier();
  if (N != NS) {
    // X[k + m·NS] = Σ_j e^{−2πi·j(k + m·NS)/N} Y_j[k]: twiddles e^{−2πi·jk/N} from the table's second part (N entries
    // after the NS/2 of the sub-transforms), times the cube roots of unity
    let c = vec2<f32>(-0.5, -0.86602540378443865);
    for (var j = lid; j < S * NS; j += WG) {
      let k = j % NS;
      let base = (j / NS) * N + k;
      let y0 = buf[base];
      let t1 = cmul(twid[NS / 2u + k], buf[base + NS]);
      let t2 = cmul(twid[NS / 2u + 2u * k], buf[base + 2u * NS]);
      let s12 = t1 + t2;
      let d12 = cmul(vec2<f32>(0.0, c.y), t1 - t2);
      let m = y0 + c.x * s12;
      buf[base] = y0 + s12;
      buf[base + NS] = m + d12;
      buf[base + 2u * NS] = m - d12;
    }
    workgroupBarrier();
  }
}

#if ACT
// the pre-activations z, laid out as x (an output gradient ∂act(z))
@group(0) @binding(5) var<storage, read> zact: array<f32>;
#endif

// Padded position q of row `row` = row0 + j (zero past the rows, past len and in zero padding).
fn padded(row: u32, j: u32, q: u32) -> f32 {
  if (row >= p.rows || q >= p.len) { return 0.0; }
  let s = source_step(q, p.tin, p.padL);
  if (s < 0) { return 0.0; }
  let i = rbase[j] + u32(s) * p.sT;
#if ACT
  return x[i] * act_df(zact[i]);
#else
  return x[i];
#endif
}

// Workgroup g transforms rows 2S·g … 2S·g + 2S − 1, two real rows per complex FFT (slot): row 2j as the real
// part, row 2j + 1 as the imaginary part; their spectra are (Z[k] + conj Z[N−k]) / 2 and −i (Z[k] − conj Z[N−k]) / 2.
@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row0 = (wid.x + wid.y * nwg.x) * 2u * S;
  row_bases(lid, row0);
  for (var e = lid; e < S * N; e += WG) {
    let j = 2u * (e / N);
    let q = e % N;
    buf[(e / N) * N + load_pos(q)] = vec2<f32>(padded(row0 + j, j, q), padded(row0 + j + 1u, j + 1u, q));
  }
  fft_stages(lid);
  for (var e = lid; e < S * F; e += WG) {
    let slot = e / F;
    let k = e % F;
    let r = row0 + 2u * slot;
    let z = buf[slot * N + k];
    let zc = buf[slot * N + (N - k) % N];
    let sum = vec2<f32>(z.x + zc.x, z.y - zc.y);
    let dif = vec2<f32>(z.x - zc.x, z.y + zc.y);
    if (r < p.rows) { spec[r * F + k] = 0.5 * sum; }
    if (r + 1u < p.rows) { spec[(r + 1u) * F + k] = 0.5 * vec2<f32>(dif.y, -dif.x); }
  }
}

@group(0) @binding(1) var<storage, read> spec_in: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
// the bias of each of the workgroup's rows
var<workgroup> rbias: array<f32, 2u * S>;
#if ACT
// act(z), laid out as y (which receives z)
@group(0) @binding(5) var<storage, read_write> ya: array<f32>;
#endif

// Writes step value v (pre-activation) of a row at index i.
fn put(i: u32, v: f32) {
  y[i] = v;
#if ACT
  ya[i] = act(v);
#endif
}

// Bin k < N of the Hermitian spectrum of row `row` (zero past the rows).
fn bin(row: u32, k: u32) -> vec2<f32> {
  if (row >= p.rows) { return vec2<f32>(0.0, 0.0); }
  if (k < F) { return spec_in[row * F + k]; }
  let v = spec_in[row * F + N - k];
  return vec2<f32>(v.x, -v.y);
}

// Two rows per slot again: Z = X₁ + i X₂, IFFT(Z) = x₁ + i x₂, computed as conj(FFT(conj Z)) / N.
@compute @workgroup_size(WG)
fn inverse(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row0 = (wid.x + wid.y * nwg.x) * 2u * S;
  for (var e = lid; e < S * N; e += WG) {
    let r = row0 + 2u * (e / N);
    let k = e % N;
    let a = bin(r, k);
    let b = bin(r + 1u, k);
    buf[(e / N) * N + load_pos(k)] = vec2<f32>(a.x - b.y, -(a.y + b.x));
  }
  if (lid < 2u * S) {
    rbase[lid] = series_base(row0 + lid);
    if (HAS_BIAS) { rbias[lid] = bias[(row0 + lid) % p.n2]; }
  }
  fft_stages(lid);
  let scale = 1.0 / f32(N);
  // slot-major over the len steps kept, without dividing by len per element
  var slot = lid / p.len;
  var t = lid % p.len;
  let dslot = WG / p.len;
  let dt = WG % p.len;
  for (; slot < S; ) {
    let r = row0 + 2u * slot;
    let v = buf[slot * N + p.padL + t] * scale;
    if (r < p.rows) {
      var b0 = 0.0;
      if (HAS_BIAS) { b0 = rbias[2u * slot]; }
      put(rbase[2u * slot] + t * p.sT, v.x + b0);
    }
    if (r + 1u < p.rows) {
      var b1 = 0.0;
      if (HAS_BIAS) { b1 = rbias[2u * slot + 1u]; }
      put(rbase[2u * slot + 1u] + t * p.sT, -v.y + b1);
    }
    t += dt;
    slot += dslot;
    if (t >= p.len) {
      t -= p.len;
      slot += 1u;
    }
  }
}

// gb[o] = Σ_j Re spec_in[j·n2 + o, bin 0] over the rows / n2 rows j of output channel o < n2 (a row's DC bin is its
// sum over the steps).
@compute @workgroup_size(WG)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  if (o >= p.n2) { return; }
  var s = 0.0;
  for (var j = 0u; j < p.rows / p.n2; j++) { s += spec_in[(j * p.n2 + o) * F].x; }
  y[o] = s;
}

struct MacParams {
  P: u32,
  Q: u32,
  R: u32,
  aP: u32,
  aR: u32,
  bQ: u32,
  bR: u32,
}

@group(0) @binding(0) var<uniform> m: MacParams;
@group(0) @binding(1) var<storage, read> sa: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> sb: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> sc: array<vec2<f32>>;

// One bin f of a PT × QT block of (p, q) per invocation: each r loads PT + QT spectra for PT·QT complex products.
// Invocation x runs bin x % F of q block x / F, so the workgroups are full however few bins there are.
// C is contiguous [P, Q, F] (the rows inverse reads with n2 = Q).
@compute @workgroup_size(WG)
fn mac(@builtin(global_invocation_id) gid: vec3<u32>) {
  let f = gid.x % F;
  let q0 = (gid.x / F) * QT;
  if (q0 >= m.Q) { return; }
  let p0 = gid.z * PT;
  var acc: array<vec2<f32>, PT * QT>;
  for (var r = 0u; r < m.R; r++) {
    var a: array<vec2<f32>, PT>;
    var b: array<vec2<f32>, QT>;
#unroll UA PT
    a[UA] = sa[min(p0 + UA, m.P - 1u) * m.aP + r * m.aR + f];
#endunroll
#unroll UB QT
    b[UB] = sb[min(q0 + UB, m.Q - 1u) * m.bQ + r * m.bR + f];
#endunroll
    if (CONJ_A) {
#unroll UA PT
      a[UA].y = -a[UA].y;
#endunroll
    }
    if (CONJ_B) {
#unroll UB QT
      b[UB].y = -b[UB].y;
#endunroll
    }
#unroll UA PT
#unroll UB QT
    acc[UA * QT + UB] += vec2<f32>(a[UA].x * b[UB].x - a[UA].y * b[UB].y, a[UA].x * b[UB].y + a[UA].y * b[UB].x);
#endunroll
#endunroll
  }
#unroll UA PT
#unroll UB QT
  if (p0 + UA < m.P && q0 + UB < m.Q) { sc[((p0 + UA) * m.Q + q0 + UB) * F + f] = acc[UA * QT + UB]; }
#endunroll
#endunroll
}
