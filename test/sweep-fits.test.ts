// A sweep of 12 real (tiny) fits over three `lowrank-smc worker` processes on the software adapter,
// with 4-second job locks: the workers fit in child processes, so kernel compilation (tens of seconds
// on a loaded software adapter) never stops the lock renewal and every job runs exactly once, except
// the one whose worker is SIGKILLed mid-fit. That job is handed to another worker by BullMQ's
// stalled-job check, resumes from the last checkpoint, and every job's model file equals — apart from
// the wall-clock `seconds` of each history entry — the file `lowrank-smc fit` writes with the same
// options run directly; the sweep's eval metrics equal `lowrank-smc eval` on that file. Needs the
// built CLI (dist/).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { encodeNpy } from '../src/io/npy.js';
import { mulberry32 } from '../src/util/random.js';
import { createEngine } from '../src/gpu/engine.js';
import { runFitJob } from '../src/sweep/fit-job.js';
import { submitSweep, sweepStatus, type SweepStatus } from '../src/sweep/queue.js';
import { addData, openStore } from '../src/sweep/store.js';
import { printedBy } from './cases/cli-output.js';
import { startRedis, type TestRedis } from './redis-server.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let redis: TestRedis;
let work: string;
const workers = new Map<string, ChildProcess>();

beforeAll(async () => {
  redis = await startRedis();
  work = await mkdtemp(join(tmpdir(), 'lowrank-smc-sweepfit-'));
});
afterAll(async () => {
  for (const w of workers.values()) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  await redis?.stop();
  await rm(work, { recursive: true, force: true });
});

function startWorker(name: string, store: string): ChildProcess {
  const w = spawn(
    process.execPath,
    [join(root, 'bin', 'lowrank-smc.js'), 'worker', '--redis', redis.url, '--store', store, '--name', name, '--lock-ms', '4000', '--stalled-check-ms', '1000'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  w.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  w.on('exit', (code, sig) => {
    if (code && !sig) console.error(`worker ${name} exited with ${code}:\n${log}`);
  });
  workers.set(name, w);
  return w;
}

async function waitFor(id: string, done: (s: SweepStatus) => boolean, what: string, ms: number): Promise<SweepStatus> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await sweepStatus(id, { redis: redis.url });
    if (done(s)) return s;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s.jobs.map((j) => [j.state, j.progress?.iteration, j.worker, j.error]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A model file's text without the wall-clock time of each history entry (the only field that may differ). */
const comparable = (text: string) => JSON.stringify(JSON.parse(text), (k, v) => (k === 'seconds' ? undefined : v));

test('12 jobs over three worker processes with short locks: each runs once, a SIGKILLed worker’s job resumes elsewhere; models and metrics equal direct `fit` / `eval` runs', async () => {
  const store = join(work, 'store');
  await mkdir(store);
  const rand = mulberry32(3);
  const y = new Float32Array(2 * 40 * 3).map((_, i) => Math.sin(0.3 * Math.floor(i / 3) + (i % 3)) + 0.2 * (rand() - 0.5));
  await writeFile(join(work, 'y.npy'), encodeNpy(y, [2, 40, 3]));
  const { sha256 } = await addData(await openStore(store), join(work, 'y.npy'));
  const fit = { rank: 2, units: 6, nonlinearity: 'relu', batch: 2, window: 10, particles: 8, lr: 0.02, 'lr-end': 0.002, 'log-every': 1 };
  // six short jobs (each worker compiles its kernels on one) and six long ones, one of which is killed
  const spec = {
    data: { sha256, layout: 'trial,time,channel' },
    fit,
    grid: { iters: [4, 60], seed: [0, 1, 2, 3, 4, 5] },
    eval: { metrics: { steps: 80, samples: 200 } },
    'checkpoint-every': 5,
  };
  const { id } = await submitSweep(JSON.stringify(spec), { redis: redis.url, store }, 'sweep.json');
  startWorker('A', store);
  startWorker('B', store);
  startWorker('C', store);

  // kill whichever worker holds a long job once that job is past a checkpoint
  const running = await waitFor(
    id,
    (s) => s.jobs.some((j) => j.options.iters === 60 && j.state === 'active' && (j.progress?.iteration ?? 0) >= 12),
    'a long job at iteration 12',
    300_000,
  );
  const victim = running.jobs.find((j) => j.options.iters === 60 && j.state === 'active' && (j.progress?.iteration ?? 0) >= 12)!;
  const killedAt = victim.progress!.iteration;
  workers.get(victim.progress!.worker)!.kill('SIGKILL');
  const t0 = performance.now();

  const final = await waitFor(id, (s) => s.jobs.every((j) => j.state === 'completed' || j.state === 'failed'), 'all jobs', 300_000);
  expect(final.counts).toEqual({ completed: 12 });
  console.log(
    `killed worker ${victim.progress!.worker} at iteration ${killedAt} of job ${victim.index}; the sweep finished ${((performance.now() - t0) / 1000).toFixed(1)} s later`,
  );
  const resumed = final.jobs[victim.index];
  expect(resumed.worker).not.toBe(victim.progress!.worker);
  expect(resumed.stalled).toBe(1);
  const resumedFrom = resumed.result!.resumedFrom as number;
  expect(resumedFrom % 5).toBe(0);
  expect(resumedFrom).toBeGreaterThanOrEqual(10);
  // killedAt is the last progress the test saw; the fit process runs ahead of its reports (they travel through the
  // worker and Redis, polled every 100 ms) and may write further checkpoints before it notices its worker is gone,
  // so the only upper bound is that the job had not finished
  expect(resumedFrom).toBeLessThan(60);
  // the other jobs ran once each, from scratch: no lock was lost while kernels compiled
  for (const j of final.jobs) if (j.index !== victim.index) expect([j.result!.resumedFrom, j.stalled], `job ${j.index}`).toEqual([0, 0]);

  // every job again, directly (the fit-job library call on this process's engine, no queue): same model, same metrics
  const engine = await createEngine();
  try {
    for (const j of final.jobs) {
      const modelPath = join(work, `lib-${j.index}.json`);
      const r = await runFitJob(engine, {
        dataPath: join(work, 'y.npy'),
        layout: 'trial,time,channel',
        options: j.options,
        checkpointEvery: 5,
        modelPath,
        eval: spec.eval,
      });
      const swept = await readFile(join(store, j.result!.model as string), 'utf8');
      expect(comparable(swept), `job ${j.index} (${JSON.stringify(j.options)})`).toBe(comparable(await readFile(modelPath, 'utf8')));
      expect(j.result!.metrics, `job ${j.index}`).toEqual(r.metrics);
    }
  } finally {
    engine.destroy();
  }

  // the killed job and a short one through the CLI: `fit` with the same flags, `eval` on its file
  const fitCli = await import('../src/cli/fit.js');
  const evalCli = await import('../src/cli/eval.js');
  const flags = Object.entries(fit).flatMap(([k, v]) => [`--${k}`, String(v)]);
  for (const j of [final.jobs[victim.index], final.jobs.find((j) => j.options.iters === 4)!]) {
    const out = join(work, `direct-${j.index}.json`);
    await printedBy(() =>
      fitCli.run([
        '--data',
        join(work, 'y.npy'),
        '--layout',
        'trial,time,channel',
        ...flags,
        '--iters',
        String(j.options.iters),
        '--seed',
        String(j.options.seed),
        '--checkpoint-every',
        '5',
        '--out',
        out,
        '--json',
      ]),
    );
    const swept = await readFile(join(store, j.result!.model as string), 'utf8');
    expect(comparable(swept), `job ${j.index} (${JSON.stringify(j.options)})`).toBe(comparable(await readFile(out, 'utf8')));
    const printed = await printedBy(() =>
      evalCli.run(['--model', out, '--data', join(work, 'y.npy'), '--layout', 'trial,time,channel', '--steps', '80', '--samples', '200', '--json']),
    );
    const direct = JSON.parse(printed[printed.length - 1]);
    expect(j.result!.metrics).toMatchObject({ d_stsp: direct.d_stsp, d_h: direct.d_h, mean_rate_error: direct.mean_rate_error });
  }
}, 900_000);
