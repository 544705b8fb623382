/**
 * GPU driver of the vertex method (shaders/fixed_points.wgsl): uploads the arrangement once, runs
 * the vertex level as line sweeps and the levels k = r − 1 … 0 one thread per subset, in chunks,
 * and re-checks in float64 every subset (or line) the kernels flag. Device memory is O(M + capacity),
 * independent of the number of regions; the flag buffer grows (and the chunk is re-run) only if it
 * overflows, and once it reaches the storage-binding limit an overflowing chunk is split instead.
 */
import type { Engine } from '../gpu/engine.js';
import type { Arrangement } from './fp-model.js';
import { binomial, unrankColex } from './fp-planes.js';
import { recheckSubset, type Tally } from './fp-cpu.js';

const HEADER = 8;
const ORIGIN_BIT = 0x80000000;
const WG = 64;

/** The GPU enumeration's settings (part of FixedPointOptions). */
export interface GpuEnumerationOptions {
  /** Subsets per kernel dispatch. */
  chunk?: number;
  /** Initial capacity of the flagged-subset buffer (grown and re-run on overflow). */
  capacity?: number;
  /** Largest capacity it grows to (default: what one storage binding holds); beyond, chunks are split. */
  maxCapacity?: number;
  /** Vertices by line sweeps (default) instead of one thread per vertex subset. */
  sweep?: boolean;
  /**
   * Called after each chunk with work done and total work (a line sweep counts as many units as there
   * are planes, a subset as one), float64 re-checks included.
   */
  onProgress?: (done: number, total: number) => void;
}

export async function runGpuEnumeration(engine: Engine, arr: Arrangement, g0: number[] | null, tally: Tally, options: GpuEnumerationOptions): Promise<void> {
  const { M, r, R } = arr;
  if (r > 4 || R > 4) throw new Error(`fixed points: the GPU kernel handles R ≤ 4 (got R = ${R})`);
  const total = binomial(M, r);
  if (total > 0xffffffff) throw new Error(`fixed points: C(${M}, ${r}) = ${total} subsets exceed the kernel's 32-bit ranks`);
  if (M === 0) {
    // No hyperplanes: one region, the whole space.
    recheckSubset(arr, tally, 0, 0);
    return;
  }
  // One 64-byte record per plane (shaders/fixed_points.wgsl, struct Plane).
  const planes = new Float32Array(M * 16);
  const bits = new Uint32Array(planes.buffer);
  const origin = new Set(g0 ?? []);
  for (let i = 0; i < M; i++) {
    const o = i * 16;
    for (let q = 0; q < r; q++) planes[o + q] = arr.Ur[i * r + q];
    for (let q = 0; q < R; q++) {
      planes[o + 4 + q] = arr.U[i * R + q];
      planes[o + 8 + q] = arr.V[i * R + q];
    }
    planes[o + 12] = arr.thr[i];
    bits[o + 13] = (arr.cls[i] | (origin.has(i) ? ORIGIN_BIT : 0)) >>> 0;
  }
  const binom = new Uint32Array(5 * (M + 1));
  for (let kk = 0; kk <= 4; kk++) for (let n = 0; n <= M; n++) binom[kk * (M + 1) + n] = Math.min(binomial(n, kk), 0xffffffff);
  const buffers = {
    units: engine.upload(planes, 'fixed_points.units'),
    binom: engine.upload(binom, 'fixed_points.binom'),
  };
  // One sweep thread flags at most M + 4 records, so a cap of that always makes progress.
  const maxCap = Math.max(M + 4, Math.min(options.maxCapacity ?? Infinity, Math.floor((engine.limits.maxStorageBufferBindingSize / 4 - HEADER) / 2)));
  let cap = Math.min(maxCap, options.capacity ?? 1 << 14);
  let out = engine.alloc((HEADER + 2 * cap) * 4, 'fixed_points.out');
  const row = (src: Float64Array, n: number, i: number) => Array.from({ length: 4 }, (_, q) => (q < n ? src[i * n + q] : 0));
  const amI = Array.from({ length: 4 }, (_, p) => {
    const v = p < R ? row(arr.A, R, p) : [0, 0, 0, 0];
    if (p < R) v[p] -= 1;
    return v;
  });
  const dirs = Array.from({ length: 4 }, (_, l) => (l < r ? row(arr.dirs, r, l) : [0, 0, 0, 0]));
  const nb = Array.from({ length: 4 }, (_, p) => (p < R ? -arr.b[p] : 0));
  const maxThreads = engine.limits.maxComputeWorkgroupsPerDimension * WG * 64;
  const chunk = Math.max(WG, Math.min(options.chunk ?? 1 << 22, maxThreads));
  const useSweep = options.sweep ?? true;
  // Private arrays of the sweep kernel hold one crossing per plane.
  const maxN = Math.max(64, 2 ** Math.ceil(Math.log2(M)));
  const enumerate = engine.kernel('fixed_points', 'enumerate', { overrides: { RD: r, RZ: R, WG } });
  const sweep = useSweep
    ? engine.kernel('fixed_points', 'sweep', { defines: { SWEEP: true, MAXN: maxN }, overrides: { RD: r, RZ: R, WG }, variant: `n${maxN}` })
    : null;

  // Progress: a sweep thread tests every plane, a subset thread one subset.
  const sweepWork = useSweep ? binomial(M, r - 1) * M : 0;
  let lowerWork = 0;
  for (let k = useSweep ? r - 1 : r; k >= 0; k--) lowerWork += binomial(M, k);
  const totalWork = sweepWork + lowerWork;
  let workDone = 0;
  /** Run `kernel` over `n` threads of level k in chunks; hand each flagged record to `onRecord`. */
  const runLevel = async (kernel: typeof enumerate, k: number, n: number, width: number, onRecord: (rec: Uint32Array) => void): Promise<number> => {
    let decided = 0;
    // A sweep thread does O(M) vertices. Large levels run in ≥ 32 chunks so progress reports keep
    // coming; small ones in few, since every chunk costs a submit and a readback.
    const most = width === 2 ? chunk >> 6 : chunk;
    const least = width === 2 ? 1 << 14 : 1 << 18;
    const threads = Math.max(WG, Math.min(most, Math.max(least, Math.ceil(n / 32))));
    for (let base = 0; base < n;) {
      let count = Math.min(threads, n - base);
      for (;;) {
        engine.clear(out, 0, HEADER * 4);
        engine.dispatch(
          kernel,
          {
            units: buffers.units,
            binom: buffers.binom,
            outbuf: out,
            p: {
              am0: amI[0],
              am1: amI[1],
              am2: amI[2],
              am3: amI[3],
              nb,
              c0: dirs[0],
              c1: dirs[1],
              c2: dirs[2],
              c3: dirs[3],
              m: M,
              k,
              base,
              count,
              cap,
              skip_origin: g0 ? 1 : 0,
            },
          },
          engine.grid(count, WG),
        );
        const head = await engine.readU32(out, HEADER);
        const flagged = head[0];
        if (flagged > cap) {
          // Overflow: grow the record buffer and run this chunk again, or run half of it when the
          // buffer is already as large as one binding may be (degenerate arrangements, e.g. many
          // planes through nearly one point, flag most vertices of a chunk).
          if (cap < maxCap) {
            engine.release(out);
            cap = Math.min(maxCap, Math.max(cap * 2, flagged + (flagged >> 2)));
            out = engine.alloc((HEADER + 2 * cap) * 4, 'fixed_points.out');
          } else if (count > 1) {
            count = Math.ceil(count / 2);
          } else {
            throw new Error(`fixed points: one subset flagged ${flagged} records, more than the ${cap} a storage binding holds`);
          }
          continue;
        }
        decided += head[1];
        tally.regions += head[1];
        tally.subsetSolves += head[1];
        tally.regionSolves += head[1];
        tally.singularSubsets += head[2];
        skipped += head[4];
        if (flagged > 0) {
          const recs = await engine.readU32(out, flagged * width, HEADER);
          for (let f = 0; f < flagged; f++) onRecord(recs.subarray(f * width, f * width + width));
        }
        break;
      }
      base += count;
      workDone += width === 2 ? count * M : count;
      options.onProgress?.(workDone, totalWork);
    }
    return decided;
  };
  let skipped = 0;
  options.onProgress?.(0, totalWork);
  try {
    let kStart = r;
    if (sweep) {
      // Vertices (k = r) by line sweeps over the (r − 1)-subsets; singular r-subsets are the rest.
      let handed = 0;
      const decided = await runLevel(sweep, r - 1, binomial(M, r - 1), 2, (rec) => {
        if (rec[0] === 0) {
          handed++;
          recheckSubset(arr, tally, r, rec[1]);
        } else {
          // A whole line: every r-subset T ∪ {c} with c > max T.
          const T = unrankColex(rec[1], r - 1, M);
          for (let c = r > 1 ? T[r - 2] + 1 : 0; c < M; c++) {
            handed++;
            recheckSubset(arr, tally, r, rec[1] + binomial(c, r));
          }
        }
      });
      tally.singularSubsets += binomial(M, r) - handed - skipped - decided;
      kStart = r - 1;
    }
    for (let k = kStart; k >= 0; k--) {
      await runLevel(enumerate, k, binomial(M, k), 1, (rec) => recheckSubset(arr, tally, k, rec[0]));
    }
  } finally {
    engine.release(out);
    for (const b of Object.values(buffers)) engine.release(b);
  }
}
