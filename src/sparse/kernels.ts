/**
 * Dispatch wrappers for the sparse-neuron kernels (shaders/sparse_*.wgsl): the batched rate-network
 * Euler step, the three RLS dispatches and the Aᵀ B GEMM of the ridge normal equations.
 */
import type { BufferLike, Engine } from '../gpu/engine.js';
import { TANH_RATE, type RateShape } from './circuit.js';

export interface StepBuffers {
  /** rows × n weights (recurrent rows, then readout rows). */
  mat: BufferLike;
  /** n × d drive matrix. */
  drive: BufferLike;
  /** (time × sigBatch × d) drive signals. */
  sig: BufferLike;
  rIn: BufferLike;
  x: BufferLike;
  rOut: BufferLike;
  /** batch × rows currents written by the step. */
  cur: BufferLike;
  /** (time × batch × (n + rows)) record of [r | cur], or any buffer when not recording. */
  rec: BufferLike;
}

export interface StepParams {
  n: number;
  rows: number;
  d: number;
  batch: number;
  t: number;
  sigBatch: number;
  sigB0: number;
  /** Drive channels from this index on also count into cur (the embedder's teaching current). */
  teachFrom: number;
  record: boolean;
  recT0?: number;
  dtTau: number;
  /** The units' rate function (./circuit.ts rateFunction; default tanh). */
  rate?: RateShape;
}

export function netStep(engine: Engine, b: StepBuffers, p: StepParams): void {
  const k = engine.kernel('sparse_net', 'step');
  const { r0, rmax } = p.rate ?? TANH_RATE;
  engine.dispatch(
    k,
    {
      mat: b.mat,
      drive: b.drive,
      sig: b.sig,
      r_in: b.rIn,
      x: b.x,
      r_out: b.rOut,
      cur: b.cur,
      rec: b.rec,
      p: {
        n: p.n,
        rows: p.rows,
        d: p.d,
        batch: p.batch,
        t: p.t,
        sig_batch: p.sigBatch,
        sig_b0: p.sigB0,
        teach_from: p.teachFrom,
        record: p.record ? 1 : 0,
        rec_t0: p.recT0 ?? 0,
        dt_tau: p.dtTau,
        rate_lo: r0,
        rate_hi: rmax - r0,
      },
    },
    [Math.ceil(p.rows / k.workgroupSize[0]), p.batch],
  );
}

export interface RlsBuffers {
  /** n × n inverse correlation matrix. */
  P: BufferLike;
  /** rows × n learned weights. */
  Jw: BufferLike;
  r: BufferLike;
  /** rows: the learner's a-priori outputs Jw r. */
  cur: BufferLike;
  /** Targets of the first teachRows rows. */
  tcur: BufferLike;
  /** Signals holding the targets of the remaining rows. */
  sig: BufferLike;
  k: BufferLike;
  e: BufferLike;
  /** 4 floats: c, Σ e² (recurrent rows), Σ e² (readout rows), update count. */
  coef: BufferLike;
}

export interface RlsParams {
  n: number;
  rows: number;
  teachRows: number;
  t: number;
  sigBatch: number;
  sigB0: number;
  d: number;
  sigOff: number;
  /** Rows from here on are readout rows (their squared errors are summed separately). */
  outFrom: number;
}

export function rlsStep(engine: Engine, b: RlsBuffers, p: RlsParams): void {
  const groups = Math.max(p.n, p.rows);
  engine.dispatch(
    engine.kernel('sparse_rls', 'gain'),
    {
      pmat: b.P,
      r: b.r,
      cur: b.cur,
      tcur: b.tcur,
      sig: b.sig,
      k: b.k,
      e: b.e,
      p: { n: p.n, rows: p.rows, teach_rows: p.teachRows, t: p.t, sig_batch: p.sigBatch, sig_b0: p.sigB0, d: p.d, sig_off: p.sigOff },
    },
    groups > 65535 ? [65535, Math.ceil(groups / 65535)] : [groups, 1],
  );
  engine.dispatch(
    engine.kernel('sparse_rls_coef', 'coef_main'),
    { r_c: b.r, k_c: b.k, e_c: b.e, coef: b.coef, cp: { n: p.n, rows: p.rows, out_from: p.outFrom } },
    1,
  );
  const total = p.n * p.n + p.rows * p.n;
  engine.dispatch(
    engine.kernel('sparse_rls_update', 'update'),
    { pm_u: b.P, jw: b.Jw, k_u: b.k, e_u: b.e, coef_u: b.coef, up: { n: p.n, rows: p.rows } },
    engine.grid(total, 256),
  );
}

export interface GemmParams {
  samples: number;
  ca: number;
  cb: number;
  lda: number;
  ldb: number;
  aoff?: number;
  boff?: number;
}

/**
 * c (ca × cb) = Aᵀ B over `samples` rows of a and b (strided column blocks). The register-blocked
 * kernel (gemm_tn_cols) sums in the same order as the tiled one and is ~10× faster on lavapipe.
 */
export function gemmTN(engine: Engine, a: BufferLike, b: BufferLike, c: BufferLike, p: GemmParams): void {
  engine.dispatch(
    engine.kernel('sparse_gemm', 'gemm_tn_cols'),
    { a, b, c, p: { samples: p.samples, ca: p.ca, cb: p.cb, lda: p.lda, ldb: p.ldb, aoff: p.aoff ?? 0, boff: p.boff ?? 0 } },
    [Math.ceil(p.ca / 64), Math.ceil(p.cb / 4)],
  );
}

export interface TrialBuffers {
  /** Learned weights, transposed: n × rows. */
  JwT: BufferLike;
  P: BufferLike;
  /** [Uin (n × nin) | x_init (n)] */
  fixed: BufferLike;
  /** time × conds × nin learner inputs. */
  sigIn: BufferLike;
  /** Teacher-forced embedder record, time × conds × 2n ([r_D | s]). */
  rec: BufferLike;
  /** time × conds × dEmb embedder signals (outputs at outOff). */
  sigEmb: BufferLike;
  /** u32 update flags, `time` per trial starting at maskOff. */
  mask: BufferLike;
  /** 3 floats per trial: Σ e² recurrent, Σ e² readout, updates. */
  stats: BufferLike;
}

export interface TrialParams {
  n: number;
  rows: number;
  nin: number;
  time: number;
  conds: number;
  cond: number;
  dEmb: number;
  outOff: number;
  trial: number;
  maskOff: number;
  dtTau: number;
}

/** Rows one workgroup of the fused trial kernel can own (RPT · WG in sparse_trial.wgsl). */
export const FUSED_TRIAL_MAX_ROWS = 4 * 256;

const pad64 = (v: number) => Math.ceil(v / 64) * 64;

/** Workgroup memory (bytes) the fused trial kernel needs: r and k (n), e (rows), a 256-float reduction. */
export function fusedTrialBytes(n: number, rows: number): number {
  return 4 * (2 * pad64(n) + pad64(rows) + 256);
}

/** One whole RLS training trial of the learner in a single workgroup (shaders/sparse_trial.wgsl). */
export function rlsTrial(engine: Engine, b: TrialBuffers, p: TrialParams): void {
  const k = engine.kernel('sparse_trial', 'trial', { overrides: { MAXN: pad64(p.n), MAXROWS: pad64(p.rows) } });
  engine.dispatch(
    k,
    {
      jwt: b.JwT,
      pm: b.P,
      fixed: b.fixed,
      sig_in: b.sigIn,
      rec: b.rec,
      sig_emb: b.sigEmb,
      mask: b.mask,
      stats: b.stats,
      p: {
        n: p.n,
        rows: p.rows,
        nin: p.nin,
        time: p.time,
        conds: p.conds,
        cond: p.cond,
        d_emb: p.dEmb,
        out_off: p.outOff,
        trial: p.trial,
        dt_tau: p.dtTau,
        mask_off: p.maskOff,
      },
    },
    1,
  );
}

/** GPU buffers a trainer or runner allocates for one call, released together at the end. */
export class OwnedBuffers {
  private readonly owned: GPUBuffer[] = [];

  constructor(private readonly engine: Engine) {}

  /** Upload `a` (an empty array becomes one float, so bindings stay valid). */
  upload(a: Float32Array | Uint32Array, label?: string): GPUBuffer {
    return this.keep(this.engine.upload(a.length ? a : new Float32Array(1), label));
  }

  /** A buffer of `floats` 32-bit values (at least one), contents undefined. */
  alloc(floats: number, label?: string): GPUBuffer {
    return this.keep(this.engine.alloc(Math.max(4, floats * 4), label));
  }

  releaseAll(): void {
    for (const b of this.owned.splice(0)) this.engine.release(b);
  }

  private keep(b: GPUBuffer): GPUBuffer {
    this.owned.push(b);
    return b;
  }
}
