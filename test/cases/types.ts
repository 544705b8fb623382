/**
 * GPU test cases shared by the Node suite (test/gpu.test.ts) and the real-browser suite
 * (test/browser/): each `*.cases.ts` module exports `cases: GpuCase[]`. Cases use no test-runner
 * API, only throw on failure (see assertClose / gradCheck in src/autodiff/gradcheck.ts).
 */
import type { Engine } from '../../src/gpu/engine.js';

export interface GpuCase {
  name: string;
  run(engine: Engine): Promise<void>;
  /** Set false for cases that need Node APIs (files, processes). Default true. */
  browser?: boolean;
  /** Per-case timeout in ms on the software adapter (default 60 s). */
  timeoutMs?: number;
  /**
   * Not repeated on the GPU-tuned engine of test/gpu.test.ts: too slow on a software adapter to run twice,
   * or it compiles and dispatches the same kernels under either tuning (the second run would repeat the first).
   */
  onceOnly?: boolean;
}

export type CaseModule = { cases: GpuCase[] };
