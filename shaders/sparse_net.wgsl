// Rate-network step for the sparse-neuron trainers (full-FORCE learner and embedder), one Euler step
// for a batch of networks sharing the weights:
//   cur[b, i]  = mat[i, :] · r_in[b, :]  (+ teaching part of the drive for rows i < n)
//   x[b, i]   += dt/tau (−x[b, i] + mat[i, :] · r_in[b, :] + Σ_k drive[i, k] sig[t, b, k])
//   r_out[b,i] = f(x[b, i]),  f(x) = s tanh(x / s) with s = rate_lo below 0, rate_hi above
// (tanh: s = 1; the CURBD learner's f is the circuit's asymmetric rate function, src/sparse/circuit.ts).
// Rows i ≥ n of `mat` are readout rows: only cur (= z = W r) is computed for them.
// One invocation per (row, batch element), WG rows per workgroup; each dot product runs in one invocation.
// (One workgroup per row with a tree reduction spent most of its time in barriers on CPU adapters.)

struct Params {
  n: u32,          // units
  rows: u32,       // rows of mat (n + readout rows)
  d: u32,          // drive channels
  batch: u32,      // networks in this dispatch
  t: u32,          // time index into sig
  sig_batch: u32,  // batch stride of sig (conditions stored per time step)
  sig_b0: u32,     // first condition of this dispatch in sig
  teach_from: u32, // drive channels k ≥ teach_from also go into cur (embedder teaching current)
  record: u32,     // 1: write [r_in | cur] into rec at time t
  rec_t0: u32,     // time offset subtracted before indexing rec
  dt_tau: f32,
  rate_lo: f32,    // saturation of f below 0 (1 for tanh)
  rate_hi: f32,    // saturation of f above 0 (1 for tanh)
}

@group(0) @binding(0) var<storage, read> mat: array<f32>;
@group(0) @binding(1) var<storage, read> drive: array<f32>;
@group(0) @binding(2) var<storage, read> sig: array<f32>;
@group(0) @binding(3) var<storage, read> r_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> r_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> cur: array<f32>;
@group(0) @binding(7) var<storage, read_write> rec: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn step(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let b = gid.y;
  if (i >= p.rows || b >= p.batch) { return; }
  let row = i * p.n;
  let rb = b * p.n;
  var a = 0.0;
  for (var j = 0u; j < p.n; j++) { a += mat[row + j] * r_in[rb + j]; }
  let rec_stride = p.n + p.rows;
  let rec_base = ((p.t - p.rec_t0) * p.batch + b) * rec_stride;
  let rec_on = p.record != 0u;
  if (i >= p.n) {
    cur[b * p.rows + i] = a;
    if (rec_on) { rec[rec_base + p.n + i] = a; }
    return;
  }
  var ext = 0.0;
  var teach = 0.0;
  let sb = (p.t * p.sig_batch + p.sig_b0 + b) * p.d;
  for (var k = 0u; k < p.d; k++) {
    let v = drive[i * p.d + k] * sig[sb + k];
    ext += v;
    if (k >= p.teach_from) { teach += v; }
  }
  cur[b * p.rows + i] = a + teach;
  if (rec_on) {
    rec[rec_base + i] = r_in[rb + i];
    rec[rec_base + p.n + i] = a + teach;
  }
  let xi = x[rb + i];
  let xn = xi + p.dt_tau * (-xi + a + ext);
  x[rb + i] = xn;
  // Clamped: some drivers compute tanh through exp and overflow to NaN for large arguments.
  let s = select(p.rate_hi, p.rate_lo, xn < 0.0);
  r_out[rb + i] = s * tanh(clamp(xn / s, -15.0, 15.0));
}
