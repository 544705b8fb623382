/**
 * Tape op for the optimal proposal's per-call data projections (shaders/obs_projection.wgsl): from
 * observations y [BT,D], readout offsets o ([D], or [BT,D] when the readout also reads the inputs),
 * log observation variances lv [D] and readout B [D,R] it returns
 *   qs = [q (BT,R) | s (BT)] with q_t = C̃ỹ_t, s_t = |ỹ_t|², ỹ = (y − o)/σ, C̃ = Bᵀ/σ, and G = C̃C̃ᵀ [R,R].
 * One op instead of ~20 small elementwise/matmul dispatches and their [BT,D] intermediates.
 */
import { record } from '../autodiff/tape.js';
import { Tensor } from '../autodiff/tensor.js';

/** Rows per backward invocation: enough work per invocation, enough invocations per channel. */
const CHUNK = 256;

export function optimalProjections(y: Tensor, offset: Tensor, logVar: Tensor, B: Tensor): { qs: Tensor; G: Tensor } {
  if (y.shape.length !== 2) throw new Error(`optimalProjections: y must be [BT,D], got ${y.describe()}`);
  const [BT, D] = y.shape;
  if (logVar.size !== D) throw new Error(`optimalProjections: log variances ${logVar.describe()} do not match D = ${D}`);
  if (B.size % D !== 0 || B.shape[0] !== D) throw new Error(`optimalProjections: readout ${B.describe()} must be [D=${D}, R]`);
  const R = B.size / D;
  const rowOffset = offset.size === BT * D && BT > 1;
  if (!rowOffset && offset.size !== D) throw new Error(`optimalProjections: offset ${offset.describe()} must be [D=${D}] or [BT=${BT}, D]`);
  const engine = y.engine;
  const chunks = Math.max(1, Math.ceil(BT / CHUNK));
  const opts = { defines: { R, ROWOFF: rowOffset, CHUNK }, variant: `R${R}${rowOffset ? 'row' : ''}` };
  const p = { BT, D, chunks };
  const qs = Tensor.empty(engine, [BT * (R + 1)], 'f32', 'qs');
  const G = Tensor.empty(engine, [R, R], 'f32', 'G');
  engine.dispatch(engine.kernel('obs_projection', 'project', opts), { p, y, off: offset, lv: logVar, Bm: B, qs }, engine.grid(BT, 64));
  engine.dispatch(engine.kernel('obs_projection', 'gram', opts), { p, lv: logVar, Bm: B, G }, 1);
  const saved = [y.retain(), offset.retain(), logVar.retain(), B.retain()];
  record(
    'obs_projection',
    [offset, logVar, B],
    [qs, G],
    ([gqsIn, gGIn]) => {
      const gqs = gqsIn ?? Tensor.zeros(engine, [BT * (R + 1)], 'f32', 'gqs.zero');
      const gG = gGIn ?? Tensor.zeros(engine, [R, R], 'f32', 'gG.zero');
      const goff = Tensor.empty(engine, offset.shape, 'f32', 'obs_projection.goff');
      const gB = Tensor.empty(engine, B.shape, 'f32', 'obs_projection.gB');
      const glv = Tensor.empty(engine, logVar.shape, 'f32', 'obs_projection.glv');
      const part = engine.alloc(4 * chunks * D * (R + 2), 'obs_projection.part');
      const [sy, so, slv, sB] = saved;
      const bw = engine.kernel('obs_projection', 'backward_rows', opts);
      const red = engine.kernel('obs_projection', 'reduce', opts);
      const only = (k: typeof bw, b: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(b).filter(([n]) => k.reflection.bindings.some((x) => x.name === n)));
      const all = { p, y: sy, off: so, lv: slv, Bm: sB, gqs, gG, part, goff, gB, glv };
      engine.dispatch(bw, only(bw, all) as never, [Math.ceil(D / 64), chunks]);
      engine.dispatch(red, only(red, all) as never, Math.ceil(D / 64));
      engine.release(part);
      if (!gqsIn) gqs.dispose();
      if (!gGIn) gG.dispose();
      return [goff, glv, gB];
    },
    saved,
  );
  return { qs, G };
}

/** Float64 reference: [qs | G] flattened (the oracle for optimalProjections). */
export function optimalProjectionsRef(
  y: ArrayLike<number>,
  offset: ArrayLike<number>,
  logVar: ArrayLike<number>,
  B: ArrayLike<number>,
  BT: number,
  D: number,
  R: number,
): Float64Array {
  const out = new Float64Array(BT * (R + 1) + R * R);
  const rowOffset = offset.length === BT * D && BT > 1;
  for (let t = 0; t < BT; t++) {
    for (let d = 0; d < D; d++) {
      const lam = Math.exp(-logVar[d]);
      const e = y[t * D + d] - offset[rowOffset ? t * D + d : d];
      out[BT * R + t] += e * e * lam;
      for (let r = 0; r < R; r++) out[t * R + r] += e * lam * B[d * R + r];
    }
  }
  for (let r = 0; r < R; r++)
    for (let c = 0; c < R; c++) for (let d = 0; d < D; d++) out[BT * (R + 1) + r * R + c] += B[d * R + r] * Math.exp(-logVar[d]) * B[d * R + c];
  return out;
}
