/** Fixed points of a fitted LowRankRNN (relu / clipped relu), via the vertex-method finder. */
import type { Engine } from '../gpu/engine.js';
import type { HostParams, LowRankRNN, ModelConfig } from '../models/lowrank-rnn.js';
import { fixedPointsOfModel, type FixedPointOptions, type FixedPointResult, type LowRankModelParams } from './fixed-points.js';

/** The fitted model's latent map in the finder's form (n transposed back to [R,N], a from θ_a). */
export async function modelLatentMap(model: LowRankRNN): Promise<LowRankModelParams> {
  return latentMapFromHost(model.config, await model.hostParams());
}

/** The same from host parameters (e.g. a parsed model file; no GPU needed). */
export function latentMapFromHost(c: ModelConfig, p: HostParams): LowRankModelParams {
  if (c.nonlinearity !== 'relu' && c.nonlinearity !== 'clipped_relu') {
    throw new Error(`fixed points: the analytic finder needs a piecewise-linear model (relu or clipped_relu), this one uses ${c.nonlinearity}`);
  }
  const { units: N, rank: R } = c;
  const n = new Float64Array(R * N);
  for (let i = 0; i < N; i++) for (let r = 0; r < R; r++) n[r * N + i] = p.n[i * R + r];
  return { N, R, m: p.m, n, h: p.h, a: Math.exp(-Math.exp(p.thetaA[0])), nonlinearity: c.nonlinearity, Wu: c.inputDim > 0 ? p.wu : undefined };
}

export async function fixedPointsOfFitted(
  engine: Engine | null,
  model: LowRankRNN,
  inputs?: ArrayLike<number>,
  options: FixedPointOptions = {},
): Promise<FixedPointResult> {
  return fixedPointsOfModel(engine, await modelLatentMap(model), inputs, options);
}
