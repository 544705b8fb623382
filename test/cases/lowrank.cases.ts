import { assertClose, gradCheck } from '../../src/autodiff/gradcheck.js';
import { mulberry32 } from '../../src/util/random.js';
import { Tape } from '../../src/autodiff/tape.js';
import { Tensor } from '../../src/autodiff/tensor.js';
import { lowrankProduct, lowrankProductBackwardRef, lowrankProductRef } from '../../src/ops/lowrank.js';
import { dphiDh, dphiDx, kinks, NONLINEARITIES, phi, type NonlinearityName } from '../../src/ops/nonlin.js';
import { preprocess } from '../../src/gpu/preprocess.js';
import type { GpuCase } from './types.js';

interface Inputs {
  z: number[];
  M: number[];
  c: number[];
  Nmat: number[];
  h: number[];
}

/**
 * Random inputs whose currents x stay at least `margin` away from φ's kinks, so that finite
 * differences are valid: a unit whose x hits a kink for some particle gets a fresh (c, h).
 */
function makeInputs(seed: number, P: number, N: number, R: number, nl: NonlinearityName, margin = 0.01): Inputs {
  const rand = mulberry32(seed);
  const u = (n: number, s: number) => Array.from({ length: n }, () => (rand() * 2 - 1) * s);
  const inp = { z: u(P * R, 1), M: u(N * R, 1 / Math.sqrt(R)), c: u(N, 0.5), Nmat: u(N * R, 1 / Math.sqrt(N)), h: u(N, 0.5) };
  for (let n = 0; n < N; n++) {
    for (let attempt = 0; ; attempt++) {
      let clear = true;
      for (let q = 0; q < P && clear; q++) {
        let x = inp.c[n];
        for (let r = 0; r < R; r++) x += inp.M[n * R + r] * inp.z[q * R + r];
        clear = kinks(nl, inp.h[n]).every((k) => Math.abs(x - k) > margin);
      }
      if (clear) break;
      if (attempt === 1000) throw new Error(`could not draw kink-free inputs for ${nl} (unit ${n}, P=${P})`);
      inp.c[n] = (rand() * 2 - 1) * 0.5;
      inp.h[n] = (rand() * 2 - 1) * 0.5;
    }
  }
  return inp;
}

// Sizes vary per nonlinearity to cover several ranks, partial unit tiles (N not a multiple of the
// workgroup, N above one tile) and several particle chunks in the parameter-gradient pass.
const GRAD_SIZES: Record<NonlinearityName, { P: number; N: number; R: number; chunk: number }> = {
  relu: { P: 6, N: 9, R: 3, chunk: 4 },
  clipped_relu: { P: 5, N: 70, R: 2, chunk: 2 },
  tanh: { P: 4, N: 70, R: 8, chunk: 3 },
  softplus: { P: 7, N: 11, R: 1, chunk: 7 },
  exp: { P: 3, N: 6, R: 4, chunk: 1 },
  identity: { P: 4, N: 65, R: 3, chunk: 64 },
};

const gradCases: GpuCase[] = (Object.keys(NONLINEARITIES) as NonlinearityName[]).map((nl) => ({
  name: `lowrankProduct gradient check (${nl})`,
  async run(engine) {
    const { P, N, R, chunk } = GRAD_SIZES[nl];
    const inp = makeInputs(7 + NONLINEARITIES[nl] * 1000, P, N, R, nl);
    await gradCheck(engine, {
      name: `lowrank.${nl}`,
      inputs: [
        { data: inp.z, shape: [P, R] },
        { data: inp.M, shape: [N, R] },
        { data: inp.c, shape: [N] },
        { data: inp.Nmat, shape: [N, R] },
        { data: inp.h, shape: [N] },
      ],
      gpu: (_e, [z, M, c, Nmat, h]) => lowrankProduct(z, M, c, Nmat, h, nl, { chunk }),
      reference: ([z, M, c, Nmat, h]) => lowrankProductRef(z, M, c, Nmat, h, R, nl),
    });
  },
}));

// Evaluates the shared WGSL nonlinearities (shaders/nonlin.wgsl) at given (x, h) pairs.
const NONLIN_PROBE = `#include "nonlin"
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> xh: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= p.n) { return; }
  let v = xh[gid.x];
  out[gid.x] = vec4<f32>(phi(v.x, v.y), dphi_dx(v.x, v.y), dphi_dh(v.x, v.y), 0.0);
}`;

export const cases: GpuCase[] = [
  {
    name: "WGSL nonlinearities match the float64 mirror, at kinks (relu'(0) = 0) and at extreme arguments",
    async run(engine) {
      const pairs: [number, number][] = [];
      for (const x of [-90, -30, -2.5, -0.75, -0.3, 0, 0.3, 0.75, 2.5, 30, 80]) for (const hv of [-0.75, 0, 0.3]) pairs.push([x, hv]);
      // Exactly at the kinks: relu at x = h, clipped relu at x = −h and x = 0.
      pairs.push([0.3, 0.3], [-0.3, 0.3], [0.75, -0.75], [0, -0.75]);
      const xh = Tensor.fromArray(engine, pairs.flat(), [pairs.length, 2]);
      const out = Tensor.empty(engine, [pairs.length, 4]);
      for (const nl of Object.keys(NONLINEARITIES) as NonlinearityName[]) {
        // exp overflows f32 beyond ~88; keep its arguments finite.
        const usable = pairs.map(([x, hv]) => (nl === 'exp' && x - hv > 80 ? [0, 0] : [x, hv]));
        engine.write(xh.buffer, Float32Array.from(usable.flat()));
        const code = preprocess(NONLIN_PROBE, {});
        const k = engine.kernelFromSource(`nonlin probe ${nl}`, code, 'main', { NONLIN: NONLINEARITIES[nl] });
        engine.dispatch(k, { xh, out, p: { n: pairs.length } }, Math.ceil(pairs.length / 64));
        const got = await out.readF32();
        const f32 = (v: number) => Math.fround(v);
        const want = usable.flatMap(([x, hv]) => [phi(nl, f32(x), f32(hv)), dphiDx(nl, f32(x), f32(hv)), dphiDh(nl, f32(x), f32(hv)), 0]);
        assertClose(got, want, { atol: 2e-6, rtol: 2e-5, what: `nonlinearity ${nl}` });
      }
      xh.dispose();
      out.dispose();
    },
  },
  ...gradCases,
  {
    name: 'lowrankProduct forward and backward at moderate size match float64 (default chunking)',
    async run(engine) {
      const P = 600,
        N = 150,
        R = 5;
      for (const nl of ['clipped_relu', 'softplus'] as const) {
        const inp = makeInputs(99, P, N, R, nl, 0);
        const rand = mulberry32(5);
        const gyData = Array.from({ length: P * R }, () => rand() * 2 - 1);
        const t = {
          z: Tensor.param(engine, inp.z, [P, R]),
          M: Tensor.param(engine, inp.M, [N, R]),
          c: Tensor.param(engine, inp.c, [N]),
          Nmat: Tensor.param(engine, inp.Nmat, [N, R]),
          h: Tensor.param(engine, inp.h, [N]),
        };
        const tape = Tape.begin(engine);
        const y = lowrankProduct(t.z, t.M, t.c, t.Nmat, t.h, nl);
        tape.end();
        assertClose(await y.readF32(), lowrankProductRef(inp.z, inp.M, inp.c, inp.Nmat, inp.h, R, nl), { atol: 1e-5, rtol: 1e-4, what: `${nl} forward` });
        const gy = Tensor.fromArray(engine, gyData, [P, R]);
        const grads = tape.gradients(y, [t.z, t.M, t.c, t.Nmat, t.h], { seed: gy });
        tape.dispose();
        const ref = lowrankProductBackwardRef(inp.z, inp.M, inp.c, inp.Nmat, inp.h, gyData, R, nl);
        const names = ['gz', 'gM', 'gc', 'gNmat', 'gh'] as const;
        for (let k = 0; k < 5; k++) {
          assertClose(await grads[k]!.readF32(), ref[names[k]], { atol: 1e-4, rtol: 1e-3, what: `${nl} ${names[k]}` });
          grads[k]!.dispose();
        }
        for (const x of [...Object.values(t), y, gy]) x.dispose();
      }
    },
  },
  {
    name: 'lowrankProduct with 2^18 particles (small N, capped chunk count) matches float64, gradients summed over all particles',
    async run(engine) {
      const P = 1 << 18,
        N = 8,
        R = 2;
      const inp = makeInputs(3, P, N, R, 'softplus', 0);
      const gyData = Float32Array.from({ length: P * R }, (_, i) => ((i * 7919) % 2001) / 1000 - 1);
      const t = [
        Tensor.param(engine, inp.z, [P, R]),
        Tensor.param(engine, inp.M, [N, R]),
        Tensor.param(engine, inp.c, [N]),
        Tensor.param(engine, inp.Nmat, [N, R]),
        Tensor.param(engine, inp.h, [N]),
      ];
      const tape = Tape.begin(engine);
      const y = lowrankProduct(t[0], t[1], t[2], t[3], t[4], 'softplus');
      tape.end();
      const zf = Float32Array.from(inp.z);
      assertClose(await y.readF32(), lowrankProductRef(zf, inp.M, inp.c, inp.Nmat, inp.h, R, 'softplus'), {
        atol: 1e-5,
        rtol: 1e-4,
        what: 'forward, 2^18 particles',
      });
      const gy = Tensor.fromArray(engine, gyData, [P, R]);
      const grads = tape.gradients(y, t, { seed: gy });
      tape.dispose();
      const ref = lowrankProductBackwardRef(zf, inp.M, inp.c, inp.Nmat, inp.h, gyData, R, 'softplus');
      assertClose(await grads[0]!.readF32(), ref.gz, { atol: 1e-5, rtol: 1e-4, what: 'gz, 2^18 particles' });
      // Parameter gradients are sums of 2^18 float32 terms: compare relative to their scale.
      const names = ['gM', 'gc', 'gNmat', 'gh'] as const;
      for (let k = 0; k < 4; k++) {
        const want = ref[names[k]];
        const scale = Math.max(...Array.from(want, Math.abs));
        assertClose(await grads[k + 1]!.readF32(), want, { atol: 1e-4 * scale, rtol: 1e-4, what: `${names[k]}, 2^18 particles` });
      }
      for (const x of [...t, y, gy, ...grads]) x?.dispose();
    },
  },
  {
    name: 'lowrankProduct rejects mismatched shapes and unknown nonlinearities with clear errors',
    async run(engine) {
      const z = Tensor.zeros(engine, [4, 3]);
      const M = Tensor.zeros(engine, [10, 2]);
      const c = Tensor.zeros(engine, [10]);
      const N3 = Tensor.zeros(engine, [10, 3]);
      const M3 = Tensor.zeros(engine, [10, 3]);
      const expect = (f: () => unknown, text: string) => {
        try {
          f();
        } catch (e) {
          if (!(e as Error).message.includes(text)) throw new Error(`wrong error: ${(e as Error).message}`);
          return;
        }
        throw new Error(`expected an error mentioning "${text}"`);
      };
      expect(() => lowrankProduct(z, M, c, N3, c, 'relu'), 'M must be [N, 3]');
      expect(() => lowrankProduct(z, M3, z, N3, c, 'relu'), 'c must be [10]');
      expect(() => lowrankProduct(z, M3, c, N3, c, 'sigmoid' as NonlinearityName), 'unknown nonlinearity "sigmoid"');
      for (const t of [z, M, c, N3, M3]) t.dispose();
    },
  },
];
