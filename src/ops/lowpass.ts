/**
 * Low-pass filtered inputs as a tape op (kernels: shaders/lowpass.wgsl): the reference's
 * `simulate_input`. With the model's decay a = exp(−exp θ_a), shared with
 * the latent dynamics and trained, v_0 = 0 and v_t = a v_{t−1} + (1 − a) u_{t−1} along the time axis
 * of u [S,T,C], independently per sequence and channel. Gradients flow to u and to θ_a.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';

function checkShapes(u: { shape: readonly number[] }, thetaA: { size: number }): [number, number, number] {
  if (u.shape.length !== 3) throw new Error(`lowpass: inputs must be [sequences, time, channels], got shape [${u.shape}]`);
  if (thetaA.size !== 1) throw new Error(`lowpass: the decay parameter θ_a must be one value, got ${thetaA.size}`);
  return [u.shape[0], u.shape[1], u.shape[2]];
}

/** v = lowpass(u; a(θ_a)) for u [S,T,C] and θ_a [1]. */
export function lowpass(u: Tensor, thetaA: Tensor): Tensor {
  const [S, T, C] = checkShapes(u, thetaA);
  const engine = u.engine;
  const v = Tensor.empty(engine, u.shape, 'f32', 'lowpass');
  if (u.size === 0) return v;
  const p = { S, T, C };
  const groups = Math.ceil((S * C) / 64);
  engine.dispatch(engine.kernel('lowpass', 'forward'), { p, theta_a: thetaA, u, v }, groups);
  const saved = [u.retain(), thetaA.retain(), v.retain()];
  record(
    'lowpass',
    [u, thetaA],
    [v],
    ([gv]) => {
      if (!gv) return [null, null];
      const [su, sTheta, sv] = saved;
      const gu = Tensor.empty(engine, u.shape, 'f32', 'lowpass.gu');
      const gtheta = Tensor.empty(engine, [1], 'f32', 'lowpass.gtheta');
      const gaPart = engine.alloc(4 * S * C, 'lowpass.ga');
      engine.dispatch(engine.kernel('lowpass', 'backward'), { p, theta_a: sTheta, u: su, v: sv, gv, gu, ga_part: gaPart }, groups);
      engine.dispatch(engine.kernel('lowpass', 'reduce_decay'), { p, theta_a: sTheta, ga_part: gaPart, gtheta }, 1);
      engine.release(gaPart);
      if (!u.requiresGrad) gu.dispose();
      return [u.requiresGrad ? gu : null, gtheta];
    },
    saved,
  );
  return v;
}

/** float64 reference of `lowpass` (also the host filter for generation): u [S,T,C] flat, decay parameter θ_a. */
export function lowpassReference(u: ArrayLike<number>, shape: readonly number[], thetaA: number): Float64Array {
  const [S, T, C] = checkShapes({ shape }, { size: 1 });
  const a = Math.exp(-Math.exp(thetaA));
  const v = new Float64Array(S * T * C);
  for (let s = 0; s < S; s++) {
    for (let c = 0; c < C; c++) {
      let state = 0;
      for (let t = 0; t < T; t++) {
        const i = (s * T + t) * C + c;
        v[i] = state;
        state = a * state + (1 - a) * u[i];
      }
    }
  }
  return v;
}
