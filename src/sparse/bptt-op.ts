/**
 * Tape op for backpropagation through time: the full-FORCE learner's rate network (same equation
 * and nonlinearity as shaders/sparse_net.wgsl) run over a batch of trials in one fused dispatch,
 *   r_t = tanh(x_t),  z_t = W r_t,  x_{t+1} = x_t + dt/τ (−x_t + J r_t + B u_t),  x_0 = x_init,
 * returning the rates r_t and outputs z_t of t = 0 … T−1 of every trial. The hand-written backward
 * (adjoint recursion, shaders/sparse_bptt.wgsl) gives the gradients of J, B, W and x_init; the
 * inputs carry none. Kept states: the rates only (tanh' = 1 − r²).
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';
import { sum } from '../ops/linalg.js';
import { gemmTN } from './kernels.js';
import { rateFunction, TANH_RATE, type RateShape } from './circuit.js';

/** Lanes per trial's workgroup; each lane owns RPT = ⌈n/WG⌉ units. */
const WG = 64;
const pad64 = (v: number) => Math.ceil(v / 64) * 64;

export interface RateRnnDims {
  trials: number;
  time: number;
  n: number;
  m: number;
  nin: number;
}

function dims(J: Tensor, B: Tensor, W: Tensor, xInit: Tensor, inputs: Tensor): RateRnnDims {
  const what = 'rateRnnTrials';
  for (const [name, t] of [
    ['J', J],
    ['B', B],
    ['W', W],
    ['xInit', xInit],
    ['inputs', inputs],
  ] as const) {
    if (t.dtype !== 'f32') throw new Error(`${what}: ${name} ${t.describe()} must be f32, is ${t.dtype}`);
  }
  if (J.shape.length !== 2 || J.shape[0] !== J.shape[1] || J.shape[0] < 1) throw new Error(`${what}: J ${J.describe()} must be square n × n`);
  const n = J.shape[0];
  if (inputs.shape.length !== 3) throw new Error(`${what}: inputs ${inputs.describe()} must be trials × time × inputs`);
  const [trials, time, nin] = inputs.shape;
  if (trials < 1 || time < 1) throw new Error(`${what}: inputs ${inputs.describe()} need at least one trial and one step`);
  if (B.shape.length !== 2 || B.shape[0] !== n || B.shape[1] !== nin) throw new Error(`${what}: B ${B.describe()} must be ${n} × ${nin} (units × inputs)`);
  if (W.shape.length !== 2 || W.shape[1] !== n || W.shape[0] < 1) throw new Error(`${what}: W ${W.describe()} must be outputs × ${n}`);
  if (xInit.size !== n) throw new Error(`${what}: xInit ${xInit.describe()} must have ${n} values`);
  return { trials, time, n, m: W.shape[0], nin };
}

function kernelOptions(d: RateRnnDims, backward: boolean) {
  return { defines: { BACKWARD: backward, RPT: Math.ceil(d.n / WG) }, overrides: { WG, MAXN: pad64(d.n) } };
}

/** Rates (trials × time × n) and outputs (trials × time × m) of the rate RNN on every trial's inputs; see the module note. */
export function rateRnnTrials(J: Tensor, B: Tensor, W: Tensor, xInit: Tensor, inputs: Tensor, dtTau: number): { rates: Tensor; outputs: Tensor } {
  const d = dims(J, B, W, xInit, inputs);
  if (!(dtTau > 0 && Number.isFinite(dtTau))) throw new Error(`rateRnnTrials: dt/tau must be a positive number (got ${dtTau})`);
  const engine = J.engine;
  const bytes = 4 * pad64(d.n);
  const limit = engine.limits.maxComputeWorkgroupStorageSize;
  if (bytes > limit) throw new Error(`rateRnnTrials: ${d.n} units need ${bytes} bytes of workgroup memory, the device allows ${limit}`);
  const { trials, time, n, m } = d;
  const p = { n, m, nin: d.nin, time, dt_tau: dtTau };
  const rates = Tensor.empty(engine, [trials, time, n], 'f32', 'bptt.rates');
  const outputs = Tensor.empty(engine, [trials, time, m], 'f32', 'bptt.outputs');
  // Jᵀ (linalg's strided copy): the forward's lanes then read J's columns contiguously.
  const Jt = Tensor.empty(engine, [n, n], 'f32', 'bptt.Jt');
  engine.dispatch(
    engine.kernel('linalg', 'expand', { overrides: { WG: 256 } }),
    { src: J, dst: Jt, pe: { n: n * n, shape: [1, 1, n, n], srcStrides: [0, 0, 1, n] } },
    engine.grid(n * n, 256),
  );
  engine.dispatch(
    engine.kernel('sparse_bptt', 'forward', kernelOptions(d, false)),
    { jmat_t: Jt, wout: W, bin: B, x_init: xInit, inputs, rates, outputs, p },
    trials,
  );
  Jt.dispose();
  const saved = [J.retain(), W.retain(), inputs.retain(), rates.retain()];
  record(
    'rateRnnTrials',
    [J, B, W, xInit, inputs],
    [rates, outputs],
    ([gRates, gOutputs]) => {
      const [Js, Ws, us, rs] = saved;
      const samples = trials * time;
      const zeros = (shape: number[]) => Tensor.zeros(engine, shape, 'f32', 'bptt.zero-grad');
      const gR = gRates ?? zeros([trials, time, n]);
      const gZ = gOutputs ?? zeros([trials, time, m]);
      const e = Tensor.empty(engine, [samples, n], 'f32', 'bptt.e');
      const dx0 = Tensor.empty(engine, [trials, n], 'f32', 'bptt.dx0');
      engine.dispatch(
        engine.kernel('sparse_bptt', 'backward', kernelOptions(d, true)),
        { jmat: Js, wout: Ws, rates: rs, g_rates: gR, g_outs: gZ, e_seq: e, dx0, p },
        trials,
      );
      // c = Aᵀ B over all (trial, step) samples.
      const gemm = (a: Tensor, b: Tensor, ca: number, cb: number, label: string) => {
        const c = Tensor.empty(engine, [ca, cb], 'f32', label);
        gemmTN(engine, a, b, c, { samples, ca, cb, lda: ca, ldb: cb });
        return c;
      };
      const gJ = J.requiresGrad ? gemm(e, rs, n, n, 'bptt.gJ') : null;
      const gB = B.requiresGrad && d.nin > 0 ? gemm(e, us, n, d.nin, 'bptt.gB') : null;
      const gW = W.requiresGrad && gOutputs ? gemm(gOutputs, rs, m, n, 'bptt.gW') : null;
      const gx0 = xInit.requiresGrad ? sum(dx0, 0) : null;
      for (const t of [e, dx0, ...(gRates ? [] : [gR]), ...(gOutputs ? [] : [gZ])]) t.dispose();
      return [gJ, gB, gW, gx0, null];
    },
    saved,
  );
  return { rates, outputs };
}

/**
 * Float64 reference of `rateRnnTrials` (row-major arrays as in the op). `rate` replaces tanh by another
 * rate function of the circuit's family (the CURBD learner's; the GPU op has tanh only).
 */
export function rateRnnTrialsRef(
  J: ArrayLike<number>,
  B: ArrayLike<number>,
  W: ArrayLike<number>,
  xInit: ArrayLike<number>,
  inputs: ArrayLike<number>,
  d: RateRnnDims,
  dtTau: number,
  rate: RateShape = TANH_RATE,
): { rates: Float64Array; outputs: Float64Array } {
  const { r0, rmax } = rate;
  const { trials, time, n, m, nin } = d;
  const rates = new Float64Array(trials * time * n);
  const outputs = new Float64Array(trials * time * m);
  const x = new Float64Array(n);
  const r = new Float64Array(n);
  for (let c = 0; c < trials; c++) {
    for (let i = 0; i < n; i++) x[i] = xInit[i];
    for (let t = 0; t < time; t++) {
      const s = c * time + t;
      for (let i = 0; i < n; i++) r[i] = rateFunction(x[i], r0, rmax);
      rates.set(r, s * n);
      for (let q = 0; q < m; q++) {
        let z = 0;
        for (let j = 0; j < n; j++) z += W[q * n + j] * r[j];
        outputs[s * m + q] = z;
      }
      for (let i = 0; i < n; i++) {
        let drive = 0;
        for (let j = 0; j < n; j++) drive += J[i * n + j] * r[j];
        for (let k = 0; k < nin; k++) drive += B[i * nin + k] * inputs[s * nin + k];
        x[i] += dtTau * (-x[i] + drive);
      }
    }
  }
  return { rates, outputs };
}
