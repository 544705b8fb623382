/**
 * Sparse-neuron RNN training (Salatiello & Giese 2020, reconstructed): full-FORCE with an embedder
 * (target-generating) network driven by the task inputs, the circuit's outputs and hint signals made
 * from a few sampled neurons. The learner's recurrent currents J r are trained to match the
 * embedder's teaching current s = J_D r_D + U_out f_out + U_hint f_hint and its readout W r to match
 * f_out, either online by recursive least squares (shared P, P₀ = I/α; ./fullforce-rls.ts) or in one
 * batch ridge solve on teacher-forced embedder rates (here). The embedder is ./embedder.ts; simulation
 * and RLS run on the GPU (shaders/sparse_*.wgsl).
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import type { Engine } from '../gpu/engine.js';
import { checkNotChaotic, createEmbedder, type Embedder } from './embedder.js';
import { trainRls } from './fullforce-rls.js';
import { gemmTN, OwnedBuffers } from './kernels.js';
import { resolveSparseSetup, type SparseCommonOptions, type SparseRnn, type SparseTask } from './task.js';

export interface FullForceOptions extends SparseCommonOptions {
  /** 'rls' (online, default) or 'ridge' (batch on teacher-forced embedder rates). */
  method?: 'rls' | 'ridge';
  /** P₀ = I/α for RLS; also the ridge penalty λ (default 1). */
  alpha?: number;
  /** Embedder recurrent gain g: J_D ~ N(0, g²/n) (default 1.5). */
  g?: number;
  /**
   * Scales of the uniform(−1, 1) input, output and hint drive matrices (defaults 1, 2, 1: strong enough
   * to suppress the embedder's chaos on the tasks tested). The hint matrix is further divided by √k.
   */
  gainIn?: number;
  gainOut?: number;
  gainHint?: number;
  /** Hint scale (default 5) and length of the smooth decay to 0 at the end of each trial (default 110 samples). */
  hintScale?: number;
  hintTail?: number;
  /**
   * Drive the embedder with h + τ dh/dt (default false), so that its state follows the hints instead of
   * a low-pass of them at the learner's τ (which lags and smooths the circuit's transients).
   */
  hintLead?: boolean;
  /**
   * Orthogonal columns for the hint drive matrix (default false: uniform entries). With all neurons
   * hinted this keeps the circuit's principal directions in the embedder (needs sampled ≤ n).
   */
  hintOrthogonal?: boolean;
  /** RLS: training trials (default 100), update probability 1/updateEvery per step (default 2). */
  trials?: number;
  updateEvery?: number;
  /** RLS: one fused dispatch per trial (default when the network fits one workgroup's memory) or per-step dispatches. */
  fused?: boolean;
  /** Standard deviation of the shared initial state of every trial (default 0.5). */
  initScale?: number;
  /** Check that the driven embedder is not chaotic (default true); tolerance of the distance ratio (default 0.01). */
  chaosCheck?: boolean;
  chaosTolerance?: number;
  /** Called after every RLS trial with the a-priori output and recurrent mean squared errors. */
  onTrial?: (info: { trial: number; condition: number; outputMse: number; recurrentMse: number }) => void;
}

/**
 * Ridge full-FORCE: regress the teaching current and the outputs on the embedder's own teacher-forced
 * rates, Jwᵀ = (RᵀR + αI)⁻¹ Rᵀ[S | F], with the normal matrices built on the GPU. Writes Jw (rows × n).
 */
async function solveRidge(engine: Engine, buffers: OwnedBuffers, emb: Embedder, Jw: GPUBuffer, alpha: number): Promise<Float32Array> {
  const { n, m, nin, T, ctr, dEmb } = emb;
  const rows = n + m;
  const recStride = 2 * n;
  const { rec, rates } = await emb.recordTeacherForced();
  const samples = T * ctr;
  const G = buffers.alloc(n * n, 'ridge.G');
  const H = buffers.alloc(n * n, 'ridge.H');
  const F = buffers.alloc(n * Math.max(1, m), 'ridge.F');
  gemmTN(engine, rec, rec, G, { samples, ca: n, cb: n, lda: recStride, ldb: recStride });
  gemmTN(engine, rec, rec, H, { samples, ca: n, cb: n, lda: recStride, ldb: recStride, boff: n });
  gemmTN(engine, rec, emb.sigEmb, F, { samples, ca: n, cb: m, lda: recStride, ldb: dEmb, boff: nin });
  const [g32, h32, f32] = [await engine.readF32(G, n * n), await engine.readF32(H, n * n), await engine.readF32(F, n * m)];
  const gm = new Matrix(n, n);
  const rhs = new Matrix(n, rows);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      gm.set(i, j, 0.5 * (g32[i * n + j] + g32[j * n + i]) + (i === j ? alpha : 0));
      rhs.set(i, j, h32[i * n + j]);
    }
    for (let q = 0; q < m; q++) rhs.set(i, n + q, f32[i * m + q]);
  }
  const chol = new CholeskyDecomposition(gm);
  if (!chol.isPositiveDefinite()) throw new Error('full-FORCE ridge: the normal matrix is not positive definite (raise alpha)');
  const sol = chol.solve(rhs); // n × rows = Jwᵀ
  const jw = new Float32Array(rows * n);
  for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) jw[i * n + j] = sol.get(j, i);
  engine.write(Jw, jw);
  return rates;
}

/** Train a learner RNN on `task` with full-FORCE (RLS or ridge) on the GPU. */
export async function trainFullForce(engine: Engine, task: SparseTask, options: FullForceOptions = {}): Promise<SparseRnn> {
  const { n, tau, dt, seed, heldOut, trainConds, sampled } = resolveSparseSetup(task, options);
  const alpha = options.alpha ?? 1;
  const g = options.g ?? 1.5;
  const method = options.method ?? 'rls';
  const initScale = options.initScale ?? 0.5;
  const hintTail = options.hintTail ?? 110;
  if (!(alpha > 0)) throw new Error(`full-FORCE: alpha must be positive (got ${alpha})`);
  if (method !== 'rls' && method !== 'ridge') throw new Error(`full-FORCE: unknown method "${method}" (rls or ridge)`);
  const buffers = new OwnedBuffers(engine);
  try {
    const emb = createEmbedder(engine, buffers, task, {
      n,
      seed,
      dtTau: dt / tau,
      trainConds,
      sampled,
      g,
      gainIn: options.gainIn ?? 1,
      gainOut: options.gainOut ?? 2,
      gainHint: options.gainHint ?? 1,
      initScale,
      hintScale: options.hintScale ?? 5,
      hintTail,
      hintLead: options.hintLead ?? false,
      hintOrthogonal: options.hintOrthogonal ?? false,
    });
    const chaosRatio =
      (options.chaosCheck ?? true)
        ? await checkNotChaotic(engine, buffers, emb, {
            window: emb.k > 0 ? task.time - hintTail : task.time,
            tolerance: options.chaosTolerance ?? 0.01,
            initScale,
            g,
          })
        : NaN;
    const rows = n + emb.m;
    const Jw = buffers.alloc(rows * n, 'sparse.Jw');
    engine.clear(Jw, 0, rows * n * 4);
    const trained =
      method === 'ridge'
        ? { history: [], jwTransposed: false, embedderRates: await solveRidge(engine, buffers, emb, Jw, alpha) }
        : await trainRls(engine, buffers, task, emb, Jw, {
            alpha,
            trials: options.trials ?? 100,
            updateEvery: options.updateEvery ?? 2,
            fused: options.fused,
            seed,
            trainConds,
            onTrial: options.onTrial,
          });
    let jw = await engine.readF32(Jw, rows * n);
    if (trained.jwTransposed) {
      const t = new Float32Array(rows * n);
      for (let j = 0; j < n; j++) for (let i = 0; i < rows; i++) t[i * n + j] = jw[j * rows + i];
      jw = t;
    }
    return {
      n,
      tau,
      dt,
      nInputs: task.nInputs,
      nOutputs: task.nOutputs,
      J: jw.slice(0, n * n),
      W: jw.slice(n * n),
      Uin: emb.Uin,
      xInit: emb.xInit,
      sampled,
      trainConditions: trainConds,
      heldOut,
      history: trained.history,
      chaosRatio,
      embedderRates: trained.embedderRates,
    };
  } finally {
    buffers.releaseAll();
  }
}
