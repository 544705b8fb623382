// The encoder proposal in the fused particle filter: per step the product of the transition Gaussian
// (diagonal noise) and the encoder's Gaussian, against the float64 reference fed the same random numbers
// (log-likelihood with the GPU's ancestors replayed; gradient to theta and to the encoder outputs by finite
// differences with the ancestors held fixed), and its limit: a huge encoder variance gives the bootstrap filter.
import { smcFilter } from '../../src/inference/smc-op.js';
import type { Engine } from '../../src/gpu/engine.js';
import { forwardMatches, gpuInputs, gradientMatches, makeProblem } from './smc.cases.js';
import type { GpuCase } from './types.js';

const small = { N: 6, D: 3, B: 2, T: 6, resampling: 'systematic', proposal: 'encoder' } as const;

/** The encoder proposal with every encoder log-variance at `logVar` against the bootstrap filter on the same theta and noise. */
async function hugeVarianceIsBootstrap(engine: Engine, logVar: number): Promise<number> {
  const opts = { R: 3, N: 10, D: 4, DU: 1, B: 3, T: 40, K: 16, seed: 21, resampling: 'systematic', obs: 'poisson', obsNonlinearity: 'softplus', nonlinearity: 'tanh' } as const;
  const enc = makeProblem({ ...opts, proposal: 'encoder' });
  const { B, T } = enc.spec;
  const R = enc.spec.layout.dims.R;
  const qs = Float64Array.from(enc.data.qs!);
  qs.fill(logVar, B * T * R);
  enc.data.qs = qs;
  // the same parameters (diagonal L) under the bootstrap proposal; its slots are the encoder's
  const boot = { ...enc, spec: { ...enc.spec, proposal: 'bootstrap' as const }, data: { ...enc.data, qs: undefined } };
  const lls: Float32Array[] = [];
  for (const pr of [enc, boot]) {
    const inp = gpuInputs(engine, pr);
    const out = smcFilter(engine, inp, pr.spec);
    lls.push(await out.ll.readF32());
    for (const t of [inp.theta, inp.y, inp.v, inp.qs, out.ll, out.paths, out.anc]) t?.dispose();
  }
  let worst = 0;
  for (let b = 0; b < B; b++) worst = Math.max(worst, Math.abs(lls[0][b] - lls[1][b]) / Math.max(1, Math.abs(lls[1][b])));
  return worst;
}

export const cases: GpuCase[] = [
  {
    name: 'encoder proposal (Gaussian; Poisson softplus with inputs) matches the float64 reference at T = 60',
    async run(e) {
      await forwardMatches(e, makeProblem({ R: 2, N: 12, D: 4, DU: 0, B: 3, K: 16, T: 60, seed: 11, resampling: 'systematic', proposal: 'encoder', obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'clipped_relu' }));
      await forwardMatches(e, makeProblem({ R: 3, N: 12, D: 4, DU: 2, B: 3, K: 16, T: 60, seed: 12, resampling: 'stratified', proposal: 'encoder', obs: 'poisson', obsNonlinearity: 'softplus', nonlinearity: 'tanh' }));
    },
  },
  {
    name: 'encoder proposal gradient (theta, encoder outputs and inputs; Gaussian softplus) matches finite differences',
    timeoutMs: 120_000,
    run: (e) => gradientMatches(e, makeProblem({ ...small, R: 2, DU: 1, K: 8, seed: 5, obs: 'gauss', obsNonlinearity: 'softplus', nonlinearity: 'tanh' }), true),
  },
  {
    name: 'encoder proposal gradient (theta and encoder outputs; Poisson exp, R = 3) matches finite differences',
    timeoutMs: 120_000,
    run: (e) => gradientMatches(e, makeProblem({ ...small, R: 3, DU: 0, K: 8, T: 5, seed: 7, obs: 'poisson', obsNonlinearity: 'exp', nonlinearity: 'tanh' })),
  },
  {
    // K·R = 300: the particle-parallel loops everywhere
    name: 'encoder proposal gradient on the particle-parallel path (K = 150) matches finite differences',
    run: (e) => gradientMatches(e, makeProblem({ ...small, R: 2, N: 5, D: 2, DU: 1, K: 150, T: 4, seed: 8, obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'softplus' })),
  },
  {
    name: 'encoder proposal with a huge encoder variance gives the bootstrap log-likelihood on the same random numbers',
    async run(e) {
      const huge = await hugeVarianceIsBootstrap(e, 60);
      if (huge > 1e-4) throw new Error(`encoder variance e^60: log-likelihood differs from the bootstrap one by ${huge} (relative)`);
      // and the comparison can fail: an informative encoder changes the estimate
      const informative = await hugeVarianceIsBootstrap(e, Math.log(0.05));
      if (informative < 1e-2) throw new Error(`an informative encoder (variance 0.05) left the log-likelihood within ${informative} of the bootstrap one`);
    },
  },
  {
    name: 'encoder proposal without encoder outputs is a clear error before GPU work',
    async run(e) {
      const pr = makeProblem({ ...small, R: 2, DU: 0, K: 8, seed: 5, obs: 'gauss', obsNonlinearity: 'identity', nonlinearity: 'tanh' });
      const inp = gpuInputs(e, { ...pr, data: { ...pr.data, qs: undefined } });
      let msg = '';
      try {
        smcFilter(e, inp, pr.spec);
      } catch (err) {
        msg = (err as Error).message;
      }
      for (const t of [inp.theta, inp.y, inp.v]) t?.dispose();
      if (!/encoder outputs qs \[mean \(B,T,R\) \| log-variance \(B,T,R\)\] is required/.test(msg)) throw new Error(`expected the missing encoder outputs to be named, got "${msg}"`);
    },
  },
];
