// 1-D convolution (src/ops/conv.ts): the padding construction against torch's documented results, the
// windowed variant's lost step, forward and gradients (input, weights, bias) against the float64
// reference and finite differences for every padding placement and mode, in both layouts with
// strided views (held-in channels, leading steps), a shape large enough to cross every tile and chunk
// edge, and the errors for bad shapes and paddings.
import { assertClose, gradCheck } from '../../src/autodiff/gradcheck.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import {
  CONV_ALGORITHMS,
  PAD_MODES,
  PAD_PLACEMENTS,
  conv1d,
  conv1dRef,
  convAlgorithm,
  convOutputLength,
  fftLength,
  padSeriesRef,
  type Conv1dOptions,
  type PadMode,
} from '../../src/ops/conv.js';
import { unaryRef } from '../../src/ops/elementwise.js';
import { mulberry32 } from '../../src/util/random.js';
import type { GpuCase } from './types.js';

const uniform = (seed: number, n: number, lo = -1, hi = 1): number[] => {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * rand());
};
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const MODES = Object.keys(PAD_MODES) as PadMode[];

async function expectError(what: string, f: () => unknown, pattern: RegExp): Promise<void> {
  let message = '';
  try {
    await f();
  } catch (e) {
    message = (e as Error).message;
  }
  if (!pattern.test(message)) throw new Error(`${what}: expected an error matching ${pattern}, got "${message}"`);
}

/** Input shape of B trials × C channels × T steps in a layout, with extra channels / steps not read. */
function inputShape(o: Conv1dOptions, B: number, C: number, T: number, extraC: number, extraT: number): number[] {
  return o.layout === 'btc' ? [B, T + extraT, C + extraC] : [B, C + extraC, T + extraT];
}

const gradCases: GpuCase[] = PAD_PLACEMENTS.flatMap((placement, pi) =>
  MODES.map((mode, mi): GpuCase => {
    const i = pi * MODES.length + mi;
    // alternate layouts, odd and even kernels, and strided views (unread channels and steps)
    const btc = i % 2 === 1;
    const K = [5, 4, 3][i % 3];
    const B = 2,
      C = 3,
      Cout = 4,
      T = 9;
    const options: Conv1dOptions = btc
      ? { placement, mode, layout: 'btc', channels: C, steps: T, outLayout: i % 4 === 1 ? 'bct' : 'btc' }
      : { placement, mode, ...(i % 4 === 2 ? { steps: T, outLayout: 'btc' as const } : {}) };
    const xShape = inputShape(options, B, C, T, btc ? 2 : 0, btc || i % 4 === 2 ? 3 : 0);
    return {
      name: `${placement} ${mode} (kernel ${K}, ${btc ? `[trials, time, channels] reading ${C} of ${C + 2} channels` : 'bct'}, output ${options.outLayout ?? options.layout ?? 'bct'}): forward and gradients of input, weights and bias match finite differences, direct and FFT`,
      async run(engine) {
        const wShape = [Cout, C, K];
        for (const algorithm of CONV_ALGORITHMS) {
          await gradCheck(engine, {
            name: `conv1d ${placement} ${mode} ${algorithm}`,
            inputs: [
              { data: uniform(10 + i, size(xShape)), shape: xShape },
              { data: uniform(40 + i, size(wShape)), shape: wShape },
              { data: uniform(70 + i, Cout), shape: [Cout] },
            ],
            gpu: (_e, [x, w, b]) => conv1d(x, w, b, { ...options, algorithm }),
            reference: ([x, w, b]) => conv1dRef(x, xShape, w, wShape, b, options),
            atol: 1e-3,
            rtol: 1e-3,
          });
        }
      },
    };
  }),
);

/** <c, f> for the directional checks of the large case. */
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

export const cases: GpuCase[] = [
  {
    name: 'padding builds the series as torch F.pad does (zeros, reflect, replicate, circular; a negative right pad crops); windowed odd kernels lose one step',
    async run() {
      const s = [1, 2, 3, 4];
      const want: [PadMode, number, number, number[]][] = [
        ['zeros', 1, 2, [0, 1, 2, 3, 4, 0, 0]],
        ['reflect', 2, 2, [3, 2, 1, 2, 3, 4, 3, 2]],
        ['reflect', 3, 0, [4, 3, 2, 1, 2, 3, 4]],
        ['replicate', 2, 1, [1, 1, 1, 2, 3, 4, 4]],
        ['circular', 2, 1, [3, 4, 1, 2, 3, 4, 1]],
        ['circular', 4, 4, [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]],
        ['zeros', 0, -1, [1, 2, 3]],
        ['reflect', 1, -1, [2, 1, 2, 3]],
      ];
      for (const [mode, l, r, v] of want) {
        const got = Array.from(padSeriesRef(s, l, r, mode));
        if (got.join() !== v.join()) throw new Error(`${mode} (${l}, ${r}): [${got}], expected [${v}]`);
      }
      // windowed (⌊k/2⌋, ⌊k/2⌋ − 1): odd kernels lose a step, even ones keep the length; causal / acausal keep it
      for (const [k, T, out] of [
        [1, 10, 9],
        [3, 10, 9],
        [21, 100, 99],
        [4, 10, 10],
        [150, 219, 219],
      ]) {
        if (convOutputLength(T, k, 'windowed') !== out)
          throw new Error(`windowed k = ${k} over ${T}: ${convOutputLength(T, k, 'windowed')} steps, expected ${out}`);
        for (const p of ['causal', 'acausal'] as const) if (convOutputLength(T, k, p) !== T) throw new Error(`${p} k = ${k} changes the length`);
      }
    },
  },
  {
    name: 'causal output at t sees inputs up to t only, acausal from t on; causal circular sees the end of the window at its start',
    async run(engine) {
      // a unit impulse at step 6 of 10, kernel of ones (length 3): which outputs it reaches tells the placement
      const T = 10,
        K = 3;
      const x = Tensor.fromArray(
        engine,
        Array.from({ length: T }, (_, t) => (t === 6 ? 1 : 0)),
        [1, 1, T],
      );
      const w = Tensor.fromArray(engine, [1, 1, 1], [1, 1, K]);
      const reach = async (o: Conv1dOptions) => Array.from(await conv1d(x, w, null, o).readF32()).flatMap((v, t) => (v !== 0 ? [t] : []));
      const causal = await reach({ placement: 'causal', mode: 'zeros' });
      const acausal = await reach({ placement: 'acausal', mode: 'zeros' });
      if (causal.join() !== '6,7,8' || acausal.join() !== '4,5,6') throw new Error(`impulse reaches causal [${causal}], acausal [${acausal}]`);
      x.dispose();
      const late = Tensor.fromArray(
        engine,
        Array.from({ length: T }, (_, t) => (t === T - 1 ? 1 : 0)),
        [1, 1, T],
      );
      const wrap = Array.from(await conv1d(late, w, null, { placement: 'causal', mode: 'circular' }).readF32()).flatMap((v, t) => (v !== 0 ? [t] : []));
      if (wrap.join() !== `0,1,${T - 1}`) throw new Error(`causal circular: the last step reaches [${wrap}]`);
      late.dispose();
      w.dispose();
    },
  },
  ...gradCases,
  {
    name: 'windowed kernel of length 1 (crops the last step; also zero padding from a [trials, time, channels] view, whose input gradient is written straight) and 2: gradients match finite differences',
    async run(engine) {
      for (const [K, mode, layout] of [
        [1, 'reflect', 'bct'],
        [1, 'zeros', 'btc'],
        [2, 'circular', 'bct'],
      ] as const) {
        // btc: 3 of 4 channels read
        const xShape = layout === 'btc' ? [2, 6, 4] : [2, 3, 6];
        const wShape = [2, 3, K];
        const options: Conv1dOptions = { placement: 'windowed', mode, layout, channels: 3 };
        await gradCheck(engine, {
          name: `conv1d windowed k=${K} ${mode} ${layout}`,
          inputs: [
            { data: uniform(K, size(xShape)), shape: xShape },
            { data: uniform(K + 5, size(wShape)), shape: wShape },
            { data: [0.5, -0.25], shape: [2] },
          ],
          gpu: (_e, [x, w, b]) => conv1d(x, w, b, options),
          reference: ([x, w, b]) => conv1dRef(x, xShape, w, wShape, b, options),
          atol: 1e-3,
          rtol: 1e-3,
        });
      }
    },
  },
  {
    name: 'shapes across every tile, chunk and FFT block edge (direct: 21 → 37 channels; FFT: 5 → 6; kernel 40, 150 steps, 3 trials): forward matches float64, gradients match directional finite differences',
    timeoutMs: 180_000,
    async run(engine) {
      const B = 3,
        T = 150,
        K = 40;
      // the FFT's blocks of 4 × 4 channel pairs are crossed by fewer channels than the direct kernel's tiles
      for (const [C, Cout, options] of [
        [21, 37, { placement: 'causal', mode: 'reflect', layout: 'btc', channels: 21, outLayout: 'bct', algorithm: 'direct' }],
        [21, 37, { placement: 'windowed', mode: 'replicate', algorithm: 'direct' }],
        // the first 80 of the 150 steps, FFTs of 128 points (log₂ odd); zero padding: ∂x straight from the inverse FFT
        [5, 6, { placement: 'causal', mode: 'zeros', layout: 'btc', channels: 5, steps: 80, outLayout: 'bct', algorithm: 'fft' }],
        [5, 6, { placement: 'acausal', mode: 'circular', steps: 80, algorithm: 'fft' }],
      ] as [number, number, Conv1dOptions][]) {
        const xShape = options.layout === 'btc' ? [B, T, C + 1] : [B, C, T];
        const wShape = [Cout, C, K];
        const xv = uniform(1, size(xShape));
        const wv = uniform(2, size(wShape), -0.2, 0.2);
        const bv = uniform(3, Cout);
        const x = Tensor.fromArray(engine, xv, xShape);
        const w = Tensor.fromArray(engine, wv, wShape);
        const b = Tensor.fromArray(engine, bv, [Cout]);
        for (const t of [x, w, b]) t.requiresGrad = true;
        const ref = conv1dRef(xv, xShape, wv, wShape, bv, options);
        const cot = uniform(4, ref.length);
        const seed = Tensor.fromArray(engine, cot, [ref.length]);
        // forward and backward upload nothing (the FFT's twiddle tables are made once): no submit until read back
        const submits = engine.submitCount;
        const tape = Tape.begin(engine);
        const y = conv1d(x, w, b, options);
        tape.end();
        const seedY = seed.view(y.shape);
        const grads = tape.gradients(y, [x, w, b], { seed: seedY });
        if (engine.submitCount !== submits) throw new Error(`${options.algorithm}: ${engine.submitCount - submits} submits before any read-back`);
        assertClose(await y.readF32(), ref, { atol: 1e-4, rtol: 1e-4, what: `forward ${options.placement} ${options.mode} ${options.algorithm}` });
        // d/dh <c, f(p + h d)> at h = 0 against <∇, d>, one random direction per argument (f is linear in each)
        const args = [xv, wv, bv];
        for (let a = 0; a < 3; a++) {
          const d = uniform(20 + a, args[a].length);
          const plus = args.map((v, j) => (j === a ? v.map((u, i) => u + d[i]) : v));
          const fd = dot(cot, conv1dRef(plus[0], xShape, plus[1], wShape, plus[2], options)) - dot(cot, ref);
          const g = await grads[a]!.readF32();
          const got = dot(g, d);
          if (!(Math.abs(got - fd) <= 1e-3 * Math.abs(fd) + 1e-3))
            throw new Error(
              `${options.placement} ${options.mode} ${options.algorithm}: directional derivative of argument ${a}: ${got}, finite difference ${fd}`,
            );
          // the held-in view: the channel that is not read gets a zero gradient
          if (a === 0 && options.layout === 'btc') {
            for (let i = C; i < g.length; i += C + 1) if (g[i] !== 0) throw new Error(`unread channel: gradient ${g[i]} at element ${i}`);
          }
          grads[a]!.dispose();
        }
        tape.dispose();
        for (const t of [x, w, b, seed, seedY]) t.dispose();
      }
    },
  },
  {
    name: 'FFT lengths: the smaller of the power of two and three times a power of two ≥ the padded length; lengths 3 · 2^m of each order of radix-2, -4 and -8 steps before the radix-3 one (6, 12, 24, 48, 384) match float64',
    async run(engine) {
      const limits = engine.limits.maxComputeWorkgroupStorageSize;
      const lengths = [4, 5, 7, 9, 13, 33, 48, 49, 229, 368, 385].map((tp) => fftLength(tp, limits));
      if (lengths.join() !== '4,6,8,12,16,48,48,64,256,384,512') throw new Error(`FFT lengths ${lengths}`);
      const B = 2,
        C = 3,
        Cout = 2,
        K = 3;
      for (const N of [6, 12, 24, 48, 384]) {
        // causal padding of K − 1 steps: N − K + 1 steps pad to exactly N
        const T = N - K + 1;
        const options: Conv1dOptions = { placement: 'causal', mode: 'reflect', algorithm: 'fft' };
        const xv = uniform(N, B * C * T);
        const wv = uniform(N + 1, Cout * C * K);
        const bv = uniform(N + 2, Cout);
        const x = Tensor.fromArray(engine, xv, [B, C, T]);
        const w = Tensor.fromArray(engine, wv, [Cout, C, K]);
        const b = Tensor.fromArray(engine, bv, [Cout]);
        const y = conv1d(x, w, b, options);
        assertClose(await y.readF32(), conv1dRef(xv, [B, C, T], wv, [Cout, C, K], bv, options), { atol: 1e-5, rtol: 1e-4, what: `FFT of ${N} points` });
        for (const t of [x, w, b, y]) t.dispose();
      }
    },
  },
  {
    name: 'activation fused into the FFT convolution (GELU, causal reflect; leaky ReLU, acausal zeros; 5 output channels across a MAC block): forward matches float64, gradients (bias from the spectra) match finite differences',
    async run(engine) {
      const B = 2,
        C = 3,
        Cout = 5,
        K = 6,
        T = 20;
      for (const options of [
        { placement: 'causal', mode: 'reflect', activation: 'gelu' },
        { placement: 'acausal', mode: 'zeros', activation: 'leaky_relu', slope: 0.1, layout: 'btc', outLayout: 'btc' },
      ] as Conv1dOptions[]) {
        const xShape = options.layout === 'btc' ? [B, T, C] : [B, C, T];
        const wShape = [Cout, C, K];
        const args = [uniform(31, size(xShape)), uniform(32, size(wShape), -0.5, 0.5), uniform(33, Cout)];
        const f64 = (a: number[][]) => {
          const z = conv1dRef(a[0], xShape, a[1], wShape, a[2], { ...options, activation: undefined });
          return options.activation === 'gelu' ? unaryRef('gelu', z) : unaryRef('leaky_relu', z, 0.1);
        };
        const ref = f64(args);
        const cot = uniform(34, ref.length);
        const [x, w, b] = args.map((v, a) => Tensor.fromArray(engine, v, [xShape, wShape, [Cout]][a]));
        for (const t of [x, w, b]) t.requiresGrad = true;
        const seed = Tensor.fromArray(engine, cot, [ref.length]);
        const what = `${options.activation} ${options.placement} ${options.mode}`;
        // the FFT path (the direct one applies the elementwise op, tested with it)
        const algorithm = 'fft';
        const tape = Tape.begin(engine);
        const y = conv1d(x, w, b, { ...options, algorithm });
        tape.end();
        const seedY = seed.view(y.shape);
        const grads = tape.gradients(y, [x, w, b], { seed: seedY });
        assertClose(await y.readF32(), ref, { atol: 1e-5, rtol: 1e-4, what: `${what} ${algorithm} forward` });
        // central differences of <c, act(conv(p))> along one random direction per argument, in float64
        for (let a = 0; a < 3; a++) {
          const d = uniform(40 + a, args[a].length);
          const eps = 1e-4;
          const at = (sgn: number) => dot(cot, f64(args.map((v, j) => (j === a ? v.map((u, i) => u + sgn * eps * d[i]) : v))));
          const fd = (at(1) - at(-1)) / (2 * eps);
          const got = dot(await grads[a]!.readF32(), d);
          if (!(Math.abs(got - fd) <= 1e-3 * Math.abs(fd) + 1e-3))
            throw new Error(`${what} ${algorithm}: directional derivative of argument ${a}: ${got}, finite difference ${fd}`);
          grads[a]!.dispose();
        }
        tape.dispose();
        seedY.dispose();
        for (const t of [x, w, b, seed]) t.dispose();
      }
    },
  },
  {
    name: "'auto' takes the FFT for the hc2 and maze encoders' long kernels and the direct kernel for their heads and FFTs too large for workgroup memory or a binding",
    async run() {
      const at = (B: number, Cin: number, Cout: number, K: number, T: number, wg = 32768, binding = 2 ** 27) =>
        convAlgorithm({ B, Cin, Cout, K, Tout: T, tp: T + K - 1 }, { maxComputeWorkgroupStorageSize: wg, maxStorageBufferBindingSize: binding });
      // hc2's first and second layers, maze's first, maze's heads (kernel 2), 1-tap heads; too little workgroup memory
      // for an FFT of 384 points (3 KiB of points, 0.5 KiB of twiddles), spectra of 64 · 64 rows × 193 bins larger than a binding
      const got = [
        at(64, 21, 64, 150, 219),
        at(64, 64, 64, 11, 219),
        at(16, 182, 128, 14, 35),
        at(16, 64, 5, 2, 35),
        at(64, 64, 3, 1, 219),
        at(64, 21, 64, 150, 219, 3583),
        at(64, 21, 64, 150, 219, 32768, 64 * 64 * 193 * 8 - 1),
      ];
      if (got.join() !== 'fft,fft,fft,direct,direct,direct,direct') throw new Error(`algorithms ${got}`);
    },
  },
  {
    name: 'bad shapes, options and paddings get an error naming the problem before any GPU work',
    async run(engine) {
      const x = Tensor.zeros(engine, [2, 3, 8]);
      const w = Tensor.zeros(engine, [4, 3, 5]);
      const o: Conv1dOptions = { placement: 'causal', mode: 'zeros' };
      await expectError('rank', () => conv1d(Tensor.zeros(engine, [3, 8]), w, null, o), /conv1d: input must be \[trials, channels, time\], got shape \[3,8\]/);
      await expectError('in channels', () => conv1d(x, Tensor.zeros(engine, [4, 2, 5]), null, o), /weights \[4,2,5\] take 2 input channels, the input has 3/);
      await expectError('bias', () => conv1d(x, w, Tensor.zeros(engine, [3]), o), /bias must be \[4\]/);
      await expectError(
        'placement',
        () => conv1d(x, w, null, { ...o, placement: 'centred' as never }),
        /placement "centred" is not one of causal, acausal, windowed/,
      );
      await expectError(
        'mode',
        () => conv1d(x, w, null, { ...o, mode: 'mirror' as never }),
        /padding mode "mirror" is not one of zeros, reflect, replicate, circular/,
      );
      await expectError(
        'reflect',
        () => conv1d(Tensor.zeros(engine, [2, 3, 4]), w, null, { ...o, mode: 'reflect' }),
        /reflect padding of 4 steps \(causal, kernel 5\) needs more than 4 steps, the input has 4/,
      );
      await expectError(
        'circular',
        () => conv1d(Tensor.zeros(engine, [2, 3, 3]), w, null, { ...o, mode: 'circular' }),
        /circular padding of 4 steps .* wraps more than once over 3 steps/,
      );
      await expectError('channels', () => conv1d(x, w, null, { ...o, layout: 'btc', channels: 9 }), /channels 9 must be an integer in \[1, 8\]/);
      await expectError(
        'algorithm',
        () => conv1d(x, w, null, { ...o, algorithm: 'winograd' as never }),
        /algorithm "winograd" is not one of auto, direct, fft/,
      );
      const wgBytes = engine.limits.maxComputeWorkgroupStorageSize;
      const long = Math.floor(wgBytes / 9) + 1; // its FFT length's arrays (≥ 8 + 4/3 bytes a point) overflow workgroup memory
      await expectError(
        'fft too long',
        () => conv1d(Tensor.zeros(engine, [1, 1, long]), Tensor.zeros(engine, [1, 1, 1]), null, { ...o, algorithm: 'fft' }),
        new RegExp(`an FFT over ${long} padded steps needs more workgroup memory than the device's ${wgBytes} bytes`),
      );
      await expectError(
        'no output',
        () => conv1d(Tensor.zeros(engine, [2, 3, 1]), Tensor.zeros(engine, [4, 3, 3]), null, { placement: 'windowed', mode: 'zeros' }),
        /kernel length 3 with windowed padding leaves no output over 1 steps/,
      );
    },
  },
];
