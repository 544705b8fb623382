/**
 * A sweep worker: takes fit jobs from the BullMQ queue and runs each fit in a child process
 * (fit-process.ts), so kernel compilation never pauses the renewal of its job locks. Crash
 * safety comes from BullMQ: a worker holds a lock on its job, renewed while it runs; when a worker
 * dies (SIGKILL, machine loss) the lock expires, the stalled-job check moves the job back to the
 * queue, and the next worker resumes it from the job's last checkpoint in the store. A job that
 * throws (bad data, divergence, cancellation) fails at once with its message, without retries.
 */
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Backend } from '../gpu/acquire.js';
import type { FitProgress } from '../inference/trainer.js';
import { writeFileAtomic } from '../io/files.js';
import type { FitChildRequest } from './fit-child.js';
import type { FitJobResult } from './fit-job.js';
import { FitProcesses } from './fit-process.js';
import { QUEUE_NAME, isCancelled, type JobProgress, type SweepJobData } from './queue.js';
import { checkRedis, redisClient } from './redis.js';
import { dataFile, jobDir, openStore, verifyData, type Store } from './store.js';

export interface WorkerOptions {
  redis: string;
  store: string;
  /** Jobs run at once by this process (default 1: one fit per GPU). */
  concurrency?: number;
  backend?: Backend;
  /** Shown in progress and results (default host:pid). */
  name?: string;
  /**
   * How long a job's lock lasts without renewal (ms, default 30 s; renewed every half). A killed
   * worker's job is handed on after about this long. Fits run in child processes, so this process's
   * event loop (which renews the lock) is never blocked by kernel compilation or GPU work.
   */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (ms, default 30 s). */
  stalledIntervalMs?: number;
  /** Times a job may be taken back from dead workers before it fails (default 5). */
  maxStalledCount?: number;
  /** Replaces the fit (tests of the queue itself, custom job kinds); gets the job and the worker's name. */
  process?: (job: Job<SweepJobData>, worker: string) => Promise<Record<string, unknown>>;
  /** Log lines (job started / done / failed). */
  log?: (line: string) => void;
}

export interface WorkerHandle {
  name: string;
  /** Stop taking jobs, let running ones finish, disconnect and release the GPU. */
  close(): Promise<void>;
}

/** Start a worker; it runs until close(). Redis and the store are checked first. */
export async function runWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  await checkRedis(opts.redis);
  const store = await openStore(opts.store);
  const name = opts.name ?? `${hostname()}:${process.pid}`;
  const log = opts.log ?? (() => {});
  const client = redisClient(opts.redis);
  const fits = new FitProcesses();
  const backend = opts.backend ?? 'auto';
  const process_ = opts.process ?? ((job: Job<SweepJobData>) => fitJob(job, store, name, (r, p) => fits.run({ backend, input: r }, p), client));
  const worker = new Worker<SweepJobData>(
    QUEUE_NAME,
    async (job) => {
      log(`${job.id}: started (${JSON.stringify(job.data.options)})`);
      try {
        const result = await process_(job, name);
        log(`${job.id}: done`);
        return { ...result, worker: name };
      } catch (e) {
        const message = (e as Error).message;
        log(`${job.id}: failed: ${message}`);
        throw new UnrecoverableError(message);
      }
    },
    {
      connection: client,
      concurrency: opts.concurrency ?? 1,
      lockDuration: opts.lockDurationMs ?? 30_000,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      maxStalledCount: opts.maxStalledCount ?? 5,
      name,
    },
  );
  worker.on('error', (e) => log(`queue error: ${e.message}`));
  await worker.waitUntilReady();
  return {
    name,
    async close() {
      await worker.close();
      client.disconnect();
      fits.close();
    },
  };
}

/** The default job: verify the data, fit (resuming a checkpoint), evaluate, store the result. */
async function fitJob(
  job: Job<SweepJobData>,
  store: Store,
  worker: string,
  runFit: (input: FitChildRequest['input'], onProgress: (p: FitProgress) => Promise<boolean>) => Promise<FitJobResult>,
  client: Parameters<typeof isCancelled>[0],
): Promise<Record<string, unknown>> {
  const d = job.data;
  if (await isCancelled(client, d.sweepId)) throw new Error('cancelled');
  const dataPath = await dataFile(store, d.data.sha256);
  await verifyData(dataPath, d.data.sha256);
  const dir = jobDir(store, d.sweepId, d.index);
  await mkdir(dir, { recursive: true });
  const modelPath = join(dir, 'model.json');
  let first: { iteration: number; at: number } | null = null;
  const request = { dataPath, layout: d.data.layout, options: d.options, checkpointEvery: d.checkpointEvery, modelPath, eval: d.eval };
  const result = await runFit(request, async (p) => {
    // the rate since this worker's first readback (a resumed job's earlier iterations are not counted)
    first ??= { iteration: p.iteration, at: Date.now() };
    const rate = (p.iteration - first.iteration) / Math.max(1e-3, (Date.now() - first.at) / 1000);
    const progress: JobProgress = {
      iteration: p.iteration,
      iterations: p.iterations,
      loss: p.loss,
      ll_per_step: p.llPerStep,
      eta_s: rate > 0 ? (p.iterations - p.iteration) / rate : null,
      worker,
    };
    await job.updateProgress(progress as unknown as Record<string, unknown>);
    return isCancelled(client, d.sweepId);
  });
  const out = { ...result, model: relative(store.root, modelPath), worker };
  await writeFileAtomic(join(dir, 'result.json'), JSON.stringify(out));
  return out;
}
