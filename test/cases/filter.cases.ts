// Filtering a dataset in chunks of trials: every output equals one call over all trials bit for bit
// (the chunks draw each trial's own random numbers), on the fused kernel and on the step path; sizes
// beyond the device are refused before any GPU work; the CLI streams paths to an .npy file.
import type { Engine } from '../../src/gpu/engine.js';
import { filterDataset, type FilterOptions, type FilterOutput } from '../../src/inference/filter.js';
import { DEFAULT_CONFIG, LowRankRNN, initialParams, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import { mulberry32 } from '../../src/util/random.js';
import type { GpuCase } from './types.js';

const config: ModelConfig = { ...DEFAULT_CONFIG, rank: 2, units: 6, obsDim: 3, inputDim: 0, nonlinearity: 'tanh', initNoiseX: 0.5, initNoiseZ: 0.3 };

function data(trials: number, time: number, D: number, poisson = false) {
  const rand = mulberry32(11);
  const out = new Float32Array(trials * time * D);
  for (let i = 0; i < out.length; i++) {
    const x = Math.sin(0.3 * Math.floor(i / D) + (i % D)) + 0.3 * (rand() - 0.5);
    out[i] = poisson ? Math.floor(2 * Math.max(0, x + 1) * rand()) : x;
  }
  return { data: out, trials, time, channels: D };
}

const bits = (a: ArrayLike<number>) => Array.from(Float64Array.from(a), (v) => (Object.is(v, -0) ? '-0' : String(v)));

function expectSame(what: string, a: FilterOutput, b: FilterOutput): void {
  const fields: [string, ArrayLike<number>, ArrayLike<number>][] = [
    ['llPerTrial', a.llPerTrial, b.llPerTrial],
    ['llPerStep, essMean', [a.llPerStep, a.essMean], [b.llPerStep, b.essMean]],
    ['means', a.means, b.means],
    ['paths.z', a.paths!.z, b.paths!.z],
    ['paths.w', a.paths!.w, b.paths!.w],
    ['paths.anc', a.paths!.anc, b.paths!.anc],
  ];
  for (const [name, x, y] of fields) {
    const bx = bits(x);
    const by = bits(y);
    const i = bx.findIndex((v, j) => v !== by[j]);
    if (bx.length !== by.length || i >= 0)
      throw new Error(`${what}: ${name} differs (length ${bx.length} vs ${by.length}, first at ${i}: ${bx[i]} vs ${by[i]})`);
  }
}

/** One call over 5 trials vs chunks of 1 and of 2 (an uneven last chunk), forced through chunkBytes. */
async function chunkedEqualsWhole(engine: Engine, cfg: ModelConfig, K: number, T: number, opts: Partial<FilterOptions> = {}): Promise<void> {
  const B = 5;
  const ds = data(B, T, cfg.obsDim, cfg.obs === 'poisson');
  const model = new LowRankRNN(engine, cfg, initialParams(cfg, 4));
  try {
    const base = { particles: K, seed: 7, keepPaths: true, ...opts };
    const whole = await filterDataset(model, ds, null, base);
    if (whole.trialsPerChunk !== B) throw new Error(`one call expected, got chunks of ${whole.trialsPerChunk}`);
    const perTrial = 4 * (T * K * (2 * cfg.rank + 2) + T);
    for (const trials of [1, 2]) {
      const chunked = await filterDataset(model, ds, null, { ...base, chunkBytes: trials * perTrial });
      if (chunked.trialsPerChunk !== trials) throw new Error(`chunkBytes for ${trials} trial(s) gave chunks of ${chunked.trialsPerChunk}`);
      expectSame(`K = ${K}, chunks of ${trials}`, whole, chunked);
    }
    // what makes them equal: trial 3 filtered on its own (as trial 0 of its batch) draws other numbers
    const alone = await filterDataset(model, { ...ds, trials: 1, data: ds.data.subarray(3 * T * cfg.obsDim, 4 * T * cfg.obsDim) }, null, base);
    if (alone.llPerTrial[0] === whole.llPerTrial[3]) throw new Error('trial 3 alone gave the same log-likelihood as trial 3 of the batch');
    if (!whole.llPerTrial.every(Number.isFinite) || !(whole.essMean >= 1 && whole.essMean <= K))
      throw new Error(`non-finite ll or ESS out of [1, K]: ${whole.llPerTrial}, ESS ${whole.essMean}`);
  } finally {
    model.dispose();
  }
}

export const cases: GpuCase[] = [
  {
    name: 'filterDataset in chunks of 1 and 2 trials equals one call bit for bit (fused kernel, optimal proposal)',
    run: (e) => chunkedEqualsWhole(e, config, 16, 12),
  },
  {
    // each Poisson trial carries its own −Σ log y! (a constant shared out over the batch would differ by chunk)
    name: 'filterDataset in chunks equals one call bit for bit (Poisson counts, stratified resampling, ESS threshold 0.6)',
    run: (e) =>
      chunkedEqualsWhole(e, { ...config, obs: 'poisson', obsNonlinearity: 'softplus', noise: 'diag' }, 12, 10, {
        resampling: 'stratified',
        resampleThreshold: 0.6,
      }),
  },
  {
    // K = 1100 exceeds one workgroup on every WebGPU device: the step path runs it
    name: 'filterDataset in chunks equals one call bit for bit on the step path (K = 1100)',
    run: (e) => chunkedEqualsWhole(e, config, 1100, 4),
    timeoutMs: 120_000,
  },
  {
    name: 'filter: one trial whose paths exceed the binding limit is refused before GPU work, naming the limit and the largest K',
    async run(engine) {
      const { filterChunkTrials } = await import('../../src/inference/filter.js');
      const maxBind = engine.limits.maxStorageBufferBindingSize;
      const T = 10;
      const R = 2;
      const kMax = Math.floor((maxBind / 4 - T) / (T * (2 * R + 1)));
      let message = '';
      try {
        filterChunkTrials(engine, 3, T, kMax + 1, R);
      } catch (e) {
        message = (e as Error).message;
      }
      const mib = (maxBind / 2 ** 20).toFixed(0);
      if (!message.includes(`${mib} MiB storage binding limit`) || !message.includes(`at most K = ${kMax} particles at ${T} steps`)) {
        throw new Error(`unexpected message: "${message}"`);
      }
      if (filterChunkTrials(engine, 3, T, kMax, R) !== 1) throw new Error(`K = ${kMax} should run one trial per chunk`);
    },
  },
  {
    name: 'filter CLI: --paths streams every chunk into one .npy equal to the library’s paths; --json alone writes nothing',
    browser: false,
    async run(engine) {
      const { mkdtemp, readFile, readdir, rm, writeFile } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { saveNpy } = await import('../../src/io/files.js');
      const { encodeNpy } = await import('../../src/io/npy.js');
      const { serializeModel } = await import('../../src/models/model-file.js');
      const { printedBy } = await import('./cli-output.js');
      const filterCli = (await import(/* @vite-ignore */ `../../src/cli/${'filter'}.js`)) as typeof import('../../src/cli/filter.js');
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-filter-'));
      const model = new LowRankRNN(engine, config, initialParams(config, 4));
      try {
        const ds = data(3, 8, 3);
        await saveNpy(join(dir, 'y.npy'), ds.data, [3, 8, 3]);
        await writeFile(join(dir, 'model.json'), JSON.stringify(serializeModel(config, await model.hostParams(), null)));
        const args = ['--model', join(dir, 'model.json'), '--data', join(dir, 'y.npy'), '--layout', 'trial,time,channel', '--particles', '6', '--seed', '2'];
        const printed = await printedBy(() =>
          filterCli.run([...args, '--paths', join(dir, 'paths.npy'), '--out', join(dir, 'means.npy'), '--json', '--proposal', 'bootstrap']),
        );
        const lib = await filterDataset(model, ds, null, { particles: 6, seed: 2, keepPaths: true, proposal: 'bootstrap' });
        const json = JSON.parse(printed[printed.length - 1]);
        if (json.ll_per_step !== lib.llPerStep || json.ess_mean !== lib.essMean) throw new Error(`CLI ${printed} vs library ${lib.llPerStep}, ${lib.essMean}`);
        const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
        if (!same(new Uint8Array(await readFile(join(dir, 'paths.npy'))), encodeNpy(lib.paths!.z, [3, 8, 6, 2]))) throw new Error('--paths file differs');
        if (!same(new Uint8Array(await readFile(join(dir, 'means.npy'))), encodeNpy(lib.means, [3, 8, 2]))) throw new Error('--out file differs');
        const before = (await readdir(dir)).sort();
        const again = await printedBy(() => filterCli.run([...args, '--json', '--proposal', 'bootstrap']));
        if (again[again.length - 1] !== printed[printed.length - 1]) throw new Error(`--json alone printed ${again}, with outputs ${printed}`);
        if ((await readdir(dir)).sort().join() !== before.join()) throw new Error('--json alone wrote files');
        // too many particles for one trial: refused before any output exists
        let message = '';
        await filterCli.run([...args, '--particles', '200000000', '--paths', join(dir, 'big.npy')]).catch((e: Error) => (message = e.message));
        if (!/storage binding limit; at most K = \d+ particles at 8 steps/.test(message)) throw new Error(`unexpected: "${message}"`);
        if ((await readdir(dir)).some((f) => f.startsWith('big') || f.startsWith('.big'))) throw new Error('a refused run left a file');
      } finally {
        model.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    },
    timeoutMs: 120_000,
  },
];
