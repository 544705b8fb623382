// Filtering beyond one binding: 1024 particles × 80 trials × 200 steps at rank 2 (313 MiB of particle
// paths, more than lavapipe's 128 MiB binding limit) through `lowrank-smc filter --out --paths --json`,
// which filters in chunks of trials and streams the paths to disk. Prints the wall and process CPU
// time, the chunking and the output sizes. Needs the built CLI (npm run build).
//   node scripts/filter-large.mjs [--particles K] [--trials B] [--steps T] [--units N]
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { run as filterCli } from '../dist/src/cli/filter.js';
import { encodeNpy } from '../dist/src/io/npy.js';
import { DEFAULT_CONFIG, initialParams } from '../dist/src/models/lowrank-rnn.js';
import { serializeModel } from '../dist/src/models/model-file.js';

const { values } = parseArgs({ options: { particles: { type: 'string' }, trials: { type: 'string' }, steps: { type: 'string' }, units: { type: 'string' } } });
const K = Number(values.particles ?? 1024);
const B = Number(values.trials ?? 80);
const T = Number(values.steps ?? 200);
const N = Number(values.units ?? 64);
const R = 2;
const D = 8;
const dir = mkdtempSync(join(tmpdir(), 'lowrank-smc-filter-large-'));
try {
  const config = { ...DEFAULT_CONFIG, rank: R, units: N, obsDim: D, inputDim: 0, nonlinearity: 'tanh' };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(serializeModel(config, initialParams(config, 1), null)));
  const y = Float32Array.from({ length: B * T * D }, (_, i) => Math.sin(0.1 * Math.floor(i / D) + (i % D)));
  writeFileSync(join(dir, 'y.npy'), encodeNpy(y, [B, T, D]));
  const pathBytes = 4 * (B * T * K * (2 * R + 1) + B * T);
  console.log(JSON.stringify({ K, B, T, R, N, D, path_mib: +(pathBytes / 2 ** 20).toFixed(1) }));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const args = ['--model', join(dir, 'model.json'), '--data', join(dir, 'y.npy'), '--layout', 'trial,time,channel', '--particles', String(K)];
  await filterCli([...args, '--proposal', 'bootstrap', '--out', join(dir, 'means.npy'), '--paths', join(dir, 'paths.npy'), '--json']);
  const cpu = process.cpuUsage(cpu0);
  console.log(
    JSON.stringify({
      wall_s: +((performance.now() - t0) / 1000).toFixed(1),
      cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(1),
      particle_steps: B * T * K,
      paths_file_mib: +(statSync(join(dir, 'paths.npy')).size / 2 ** 20).toFixed(1),
      means_file_bytes: statSync(join(dir, 'means.npy')).size,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
