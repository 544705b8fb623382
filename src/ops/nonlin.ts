/**
 * Unit nonlinearities φ(x; h) of the low-rank RNN: ids shared with
 * shaders/nonlin.wgsl (its NONLIN override) and float64 references used as test oracles.
 * Kinks follow PyTorch: relu'(0) = 0.
 */
import { NONLIN_CLIPPED_RELU, NONLIN_EXP, NONLIN_IDENTITY, NONLIN_RELU, NONLIN_SOFTPLUS, NONLIN_TANH } from '../gpu/shared-constants.js';

export const NONLINEARITIES = {
  relu: NONLIN_RELU,
  clipped_relu: NONLIN_CLIPPED_RELU,
  tanh: NONLIN_TANH,
  softplus: NONLIN_SOFTPLUS,
  exp: NONLIN_EXP,
  identity: NONLIN_IDENTITY,
} as const;

export type NonlinearityName = keyof typeof NONLINEARITIES;
export type Nonlinearity = NonlinearityName | (typeof NONLINEARITIES)[NonlinearityName];

/** The NONLIN id of a nonlinearity given by name or id; throws naming the valid choices. */
export function nonlinearityId(nl: Nonlinearity): number {
  if (typeof nl === 'number') {
    if (Object.values(NONLINEARITIES).includes(nl)) return nl;
  } else if (Object.prototype.hasOwnProperty.call(NONLINEARITIES, nl)) {
    return NONLINEARITIES[nl];
  }
  throw new Error(`unknown nonlinearity ${JSON.stringify(nl)} (expected one of ${Object.keys(NONLINEARITIES).join(', ')} or ids 0-5)`);
}

function softplus(u: number): number {
  return Math.max(u, 0) + Math.log1p(Math.exp(-Math.abs(u)));
}

function sigmoid(u: number): number {
  return u >= 0 ? 1 / (1 + Math.exp(-u)) : Math.exp(u) / (1 + Math.exp(u));
}

const gt = (x: number, t: number): number => (x > t ? 1 : 0);

export function phi(nl: Nonlinearity, x: number, h: number): number {
  switch (nonlinearityId(nl)) {
    case 0:
      return Math.max(x - h, 0);
    case 1:
      return Math.max(x + h, 0) - Math.max(x, 0);
    case 2:
      return Math.tanh(x - h);
    case 3:
      return softplus(x - h);
    case 4:
      return Math.exp(x - h);
    default:
      return x - h;
  }
}

export function dphiDx(nl: Nonlinearity, x: number, h: number): number {
  switch (nonlinearityId(nl)) {
    case 0:
      return gt(x, h);
    case 1:
      return gt(x, -h) - gt(x, 0);
    case 2:
      return 1 - Math.tanh(x - h) ** 2;
    case 3:
      return sigmoid(x - h);
    case 4:
      return Math.exp(x - h);
    default:
      return 1;
  }
}

export function dphiDh(nl: Nonlinearity, x: number, h: number): number {
  switch (nonlinearityId(nl)) {
    case 0:
      return -gt(x, h);
    case 1:
      return gt(x, -h);
    case 2:
      return Math.tanh(x - h) ** 2 - 1;
    case 3:
      return -sigmoid(x - h);
    case 4:
      return -Math.exp(x - h);
    default:
      return -1;
  }
}

/** Points where φ is not differentiable in x (for choosing gradient-check inputs away from them). */
export function kinks(nl: Nonlinearity, h: number): number[] {
  switch (nonlinearityId(nl)) {
    case 0:
      return [h];
    case 1:
      return [-h, 0];
    default:
      return [];
  }
}
