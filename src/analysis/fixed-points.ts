/**
 * All fixed points of a piecewise-linear low-rank RNN latent map in time polynomial in N, with the
 * enumeration and per-region solves on the GPU (the analytic finder of mackelab/smc_rnns `fixed_points/`).
 *
 * Regions. The ReLU units cut latent space by M hyperplanes {Ur_i z = thr_i} (after merging
 * duplicates and reducing to the r-dimensional row space, fp-model.ts). Fix generic directions
 * c_1..c_r. A region bounded below in c_1 has a unique lowest point, a vertex; for a simple vertex
 * (exactly r hyperplanes S through it) exactly one of its 2^r surrounding cones has that vertex as
 * its lowest point: the cone whose dual contains c_1, i.e. σ_i = sign(y_i) with Ur_Sᵀ y = c_1.
 * Regions unbounded below in c_1 are exactly the regions of the arrangement sliced by
 * {c_1·z = t} for t below every vertex; recursing on that slice (lowest in c_2, …) gives, at level
 * j, the (r − j)-subsets S whose hyperplanes meet the slice at −∞ in a point. So in a simple
 * arrangement every region is visited exactly once over all subsets of sizes r, r−1, …, 0, and the
 * region count is Σ_k #{k-subsets with independent normals} (Whitney's formula for simple
 * arrangements, which is the same sum). Each subset costs one vertex solve and one region solve,
 * and nothing proportional to the number of regions is ever stored.
 *
 * GPU work. Levels k < r run one thread per subset (shaders/fixed_points.wgsl, `enumerate`). The
 * vertex level (the bulk, C(M, r) subsets) runs one thread per line (an (r−1)-subset, `sweep`): the
 * other planes' crossings along the line are sorted, and the sign pattern, hence the region system,
 * changes by one plane per crossing, so a vertex costs O(R³) instead of O(M R²). Per thread that is
 * O(M) private memory for the crossings, never anything per region.
 *
 * Non-simple points (more than r hyperplanes through a point, e.g. the origin of a clipped-ReLU
 * network without input) are handled exactly on the CPU by one subset each, by counting the cones
 * there with two arrangements one dimension lower (fp-planes.ts).
 *
 * Precision. The kernel works in float32 and only decides the clear cases: near-singular subsets,
 * near-tied signs, near-singular region systems and every candidate fixed point (with a loose
 * region check) are written out by subset rank and redone in float64 on the CPU (fp-cpu.ts). Every
 * reported point is re-solved in its region of the original units and checked there.
 */
import type { Engine } from '../gpu/engine.js';
import type { GpuEnumerationOptions } from './fp-gpu.js';
import {
  classify,
  dedupPoints,
  eigenvalues,
  inRegion,
  originGroup,
  processOrigin,
  processSubset,
  solveRegion,
  addOutcome,
  newTally,
  type Tally,
  type Eigenvalue,
  type Stability,
} from './fp-cpu.js';
import { forEachSubset } from './fp-planes.js';
import {
  buildArrangement,
  evalMap,
  expandToReluUnits,
  jacobianAt,
  lowRankModelToRnn,
  type Arrangement,
  type LowRankModelParams,
  type PiecewiseLinearRnn,
  type ReluUnits,
} from './fp-model.js';

export type { PiecewiseLinearRnn, LowRankModelParams, PrunedRnn, PwlNonlinearity, TeacherFile } from './fp-model.js';
export { teacherToRnn, isTeacherFile, lowRankModelToRnn, expandToReluUnits, pruneUnits } from './fp-model.js';
export type { Stability, Eigenvalue } from './fp-cpu.js';

export interface FixedPoint {
  z: number[];
  stability: Stability;
  /** Eigenvalues of the Jacobian, by decreasing modulus. */
  eigenvalues: Eigenvalue[];
}

export interface FixedPointResult {
  count: number;
  points: FixedPoint[];
  /** Linear regions of the arrangement (each visited once; see the header). */
  regions: number;
  /** Subset (vertex) solves + region solves. */
  solves: number;
  subsetSolves: number;
  regionSolves: number;
  /** Subsets whose hyperplanes do not meet in one point (parallel or dependent normals). */
  singularSubsets: number;
  /** Subsets that reached a non-simple point (more planes through it than the dimension). */
  degenerateSubsets: number;
  /** Regions whose fixed-point system is singular (no isolated fixed point there). */
  singularSystems: number;
  /** Subsets the kernel flagged for a float64 re-check (candidates and near-ties). */
  rechecked: number;
  /** Candidates that failed the float64 check against the original units. */
  rejected: number;
  /** Hyperplanes after merging (M) and the arrangement's dimension (r). */
  hyperplanes: number;
  dimension: number;
  backend: 'gpu' | 'cpu';
  ms: number;
}

export interface FixedPointOptions extends GpuEnumerationOptions {
  /** 'gpu' (default when an engine is given) or 'cpu' (float64 reference of the same method). */
  backend?: 'gpu' | 'cpu';
  /** Seed of the generic directions. */
  seed?: number;
}

/** Largest rank the kernel handles (private arrays are vec4). */
export const MAX_GPU_RANK = 4;

/** Find all fixed points of the map described by `model` (GPU when `engine` is given). */
export async function findFixedPoints(engine: Engine | null, model: PiecewiseLinearRnn, options: FixedPointOptions = {}): Promise<FixedPointResult> {
  const t0 = performance.now();
  const units = expandToReluUnits(model);
  const arr = buildArrangement(units, options.seed);
  const backend = options.backend ?? (engine ? 'gpu' : 'cpu');
  const tally = newTally();
  if (backend === 'gpu') {
    if (!engine) throw new Error('fixed points: backend "gpu" needs an engine');
    if (arr.R > MAX_GPU_RANK) throw new Error(`fixed points: R = ${arr.R} exceeds the GPU kernel's maximum rank ${MAX_GPU_RANK} (use backend "cpu")`);
    const { runGpuEnumeration } = await import('./fp-gpu.js');
    // The origin, when many planes meet there, is skipped by the kernel and handled once here.
    const g0 = originGroup(arr);
    if (g0) addOutcome(tally, processOrigin(arr, g0));
    await runGpuEnumeration(engine, arr, g0, tally, options);
  } else {
    for (let k = arr.r; k >= 0; k--) forEachSubset(arr.M, k, (S) => addOutcome(tally, processSubset(arr, S)));
  }

  return finish(units, arr, tally, backend, t0);
}

/**
 * Fixed points of a fitted low-rank model (transition z' = a z + n φ(m z + Wu v; h)) with constant
 * inputs held at `inputs` (default none). The model-file loader passes its parameters here.
 */
export async function fixedPointsOfModel(
  engine: Engine | null,
  params: LowRankModelParams,
  inputs?: ArrayLike<number>,
  options: FixedPointOptions = {},
): Promise<FixedPointResult> {
  return findFixedPoints(engine, lowRankModelToRnn(params, inputs), options);
}

// ------------------------------------------------------------------------------------ tallies

function finish(units: ReluUnits, arr: Arrangement, t: Tally, backend: 'gpu' | 'cpu', t0: number): FixedPointResult {
  let rejected = 0;
  const verified: Float64Array[] = [];
  for (const cand of t.candidates) {
    const z = verifyAgainstUnits(units, cand);
    if (z) verified.push(z);
    else rejected++;
  }
  const points = dedupPoints(verified).map((z): FixedPoint => {
    const ev = eigenvalues(jacobianAt(units, z), units.R);
    return { z: Array.from(z), stability: classify(ev), eigenvalues: ev };
  });
  // Stable order: by stability class, then coordinates.
  const rankOf: Record<Stability, number> = { stable: 0, saddle: 1, unstable: 2 };
  points.sort((p, q) => rankOf[p.stability] - rankOf[q.stability] || p.z.reduce((acc, x, i) => acc || x - q.z[i], 0));
  return {
    count: points.length,
    points,
    regions: t.regions,
    solves: t.subsetSolves + t.regionSolves,
    subsetSolves: t.subsetSolves,
    regionSolves: t.regionSolves,
    singularSubsets: t.singularSubsets,
    degenerateSubsets: t.degenerateSubsets,
    singularSystems: t.singularSystems,
    rechecked: t.rechecked,
    rejected,
    hyperplanes: arr.M,
    dimension: arr.r,
    backend,
    ms: performance.now() - t0,
  };
}

/**
 * Check a candidate against the original ReLU units in float64: re-solve the system of the region
 * it lies in, require the solution to lie in that region and to be a fixed point of the map.
 */
function verifyAgainstUnits(u: ReluUnits, cand: Float64Array): Float64Array | null {
  const residual = (z: Float64Array) => {
    const f = evalMap(u, z);
    let m = 0;
    let s = 1;
    for (let p = 0; p < u.R; p++) {
      m = Math.max(m, Math.abs(f[p] - z[p]));
      s = Math.max(s, Math.abs(z[p]));
    }
    return m / s;
  };
  const act = new Uint8Array(u.M);
  for (let i = 0; i < u.M; i++) {
    let x = -u.thr[i];
    for (let q = 0; q < u.R; q++) x += u.U[i * u.R + q] * cand[q];
    act[i] = x > 0 ? 1 : 0;
  }
  const isActive = (i: number) => act[i] === 1;
  const z = solveRegion(u.R, u.M, u.A, u.b, u.U, u.V, u.thr, isActive);
  if (z && inRegion(u.R, u.M, u.U, u.thr, z, isActive) && residual(z) < 1e-9) return z;
  return residual(cand) < 1e-8 ? cand : null;
}
