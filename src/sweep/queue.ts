/**
 * Sweeps on a BullMQ queue in Redis: submission (validate everything, then enqueue one job per fit),
 * status, results and cancellation. Job ids are `<sweep id>-<index>` and the sweep id is a hash of
 * the resolved sweep, so submitting the same sweep twice enqueues nothing new.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { writeFileAtomic } from '../io/files.js';
import { checkFitOptions } from './fit-job.js';
import { checkRedis, redisClient } from './redis.js';
import { expandJobs, parseSweepSpec, sweptOptions, type EvalSpec, type JobOptions, type SweepSpec } from './spec.js';
import { addData, dataFile, insideStore, openStore, sweepDir, type Store } from './store.js';

/** The one BullMQ queue all sweeps share (workers serve any sweep whose store they reach). */
export const QUEUE_NAME = 'lowrank-smc-fits';
const metaKey = (id: string) => `lowrank-smc:sweep:${id}`;

export interface SweepJobData {
  sweepId: string;
  index: number;
  data: { sha256: string; layout?: string };
  options: JobOptions;
  checkpointEvery: number;
  eval: EvalSpec;
}

export interface Connection {
  /** redis:// or rediss:// URL (user and password in the URL). */
  redis: string;
  /** Store directory (shared file system). */
  store: string;
}

/** The queue and a client on a checked connection (the same client serves the sweep metadata). */
async function openQueue(redis: string): Promise<{ queue: Queue<SweepJobData>; client: Redis; close(): Promise<void> }> {
  await checkRedis(redis);
  const client = redisClient(redis);
  const queue = new Queue<SweepJobData>(QUEUE_NAME, { connection: client });
  return {
    queue,
    client,
    async close() {
      await queue.close();
      client.disconnect();
    },
  };
}

export interface SubmitResult {
  id: string;
  jobs: number;
  /** Jobs that were already queued (a resubmission of the same sweep). */
  existing: number;
  dataSha256: string;
}

/** The stored data hash of a sweep's data, adding `data.path` to the store by its hash. */
async function resolveData(store: Store, spec: SweepSpec, source: string): Promise<{ sha256: string; path: string }> {
  if (spec.data.path !== undefined) {
    const abs = await insideStore(store, spec.data.path).catch((e: Error) => {
      throw new Error(`${source}: data.path: ${e.message}`);
    });
    const added = await addData(store, abs);
    if (spec.data.sha256 && spec.data.sha256 !== added.sha256)
      throw new Error(`${source}: data.path ${spec.data.path} has sha256 ${added.sha256}, data.sha256 says ${spec.data.sha256}`);
    return added;
  }
  const path = await dataFile(store, spec.data.sha256!).catch((e: Error) => {
    throw new Error(`${source}: ${e.message}`);
  });
  return { sha256: spec.data.sha256!, path };
}

/**
 * Validate a sweep (its file, data, every job's options) and enqueue its jobs. Nothing reaches Redis
 * unless all of it is valid. `sweep` is the file's text (JSON data; never evaluated).
 */
export async function submitSweep(sweep: string, conn: Connection, source = 'sweep file'): Promise<SubmitResult> {
  const spec = parseSweepSpec(sweep, source);
  const store = await openStore(conn.store);
  const data = await resolveData(store, spec, source);
  const jobs = expandJobs(spec);
  await checkFitOptions(data.path, spec.data.layout, jobs, source);
  const resolved = {
    name: spec.name,
    data: { sha256: data.sha256, layout: spec.data.layout },
    jobs,
    eval: spec.eval,
    checkpointEvery: spec.checkpointEvery,
    swept: sweptOptions(spec),
  };
  const id = createHash('sha256').update(JSON.stringify(resolved)).digest('hex').slice(0, 16);
  const { queue, client, close } = await openQueue(conn.redis);
  try {
    await mkdir(join(sweepDir(store, id), 'jobs'), { recursive: true });
    await writeFileAtomic(join(sweepDir(store, id), 'sweep.json'), JSON.stringify({ id, ...resolved }, null, 1));
    await client.hset(metaKey(id), {
      jobs: String(jobs.length),
      options: JSON.stringify(jobs),
      submitted: new Date().toISOString(),
      swept: JSON.stringify(resolved.swept),
      name: spec.name ?? '',
    });
    const existing = (await Promise.all(jobs.map((_, i) => queue.getJob(`${id}-${i}`)))).filter(Boolean).length;
    await queue.addBulk(
      jobs.map((options, index) => ({
        name: 'fit',
        data: { sweepId: id, index, data: resolved.data, options, checkpointEvery: spec.checkpointEvery, eval: spec.eval },
        // one attempt: a job that throws failed for a real reason (bad data, divergence); crashed
        // workers are handled by stalled-job detection, which does not count attempts
        opts: { jobId: `${id}-${index}`, attempts: 1, removeOnComplete: false, removeOnFail: false },
      })),
    );
    return { id, jobs: jobs.length, existing, dataSha256: data.sha256 };
  } finally {
    await close();
  }
}

export interface JobProgress {
  iteration: number;
  iterations: number;
  loss: number;
  ll_per_step: number;
  eta_s: number | null;
  worker: string;
}

export interface JobStatus {
  index: number;
  id: string;
  state: string;
  options: JobOptions;
  progress: JobProgress | null;
  worker: string | null;
  result: Record<string, unknown> | null;
  error: string | null;
  /** Times the job was taken back from a worker that stopped answering (crash, SIGKILL). */
  stalled: number;
}

export interface SweepStatus {
  id: string;
  name?: string;
  jobs: JobStatus[];
  counts: Record<string, number>;
  cancelled: boolean;
  /** Options that vary across jobs (the columns of results and the x axes of plots). */
  swept: string[];
}

/** A job's status; the state is read before the job, so a finished state always comes with its result or error. */
async function jobStatus(queue: Queue<SweepJobData>, id: string, index: number, options: JobOptions): Promise<JobStatus> {
  const state = await queue.getJobState(id);
  const job = await queue.getJob(id);
  if (!job) return { index, id, state: 'removed', options, progress: null, worker: null, result: null, error: null, stalled: 0 };
  const progress = typeof job.progress === 'object' && job.progress !== null ? (job.progress as unknown as JobProgress) : null;
  const result = (job.returnvalue ?? null) as Record<string, unknown> | null;
  const worker = (result?.worker as string | undefined) ?? progress?.worker ?? null;
  return {
    index,
    id,
    state,
    options: job.data.options,
    progress,
    worker,
    result,
    error: job.failedReason || null,
    stalled: (job as unknown as { stalledCounter?: number }).stalledCounter ?? 0,
  };
}

/** Every job of a sweep with its state, latest progress, result or failure. */
export async function sweepStatus(id: string, conn: Pick<Connection, 'redis'>): Promise<SweepStatus> {
  const { queue, client, close } = await openQueue(conn.redis);
  try {
    const meta = await client.hgetall(metaKey(id));
    if (!meta.jobs) throw new Error(`no sweep ${id} in this Redis (submitted with \`lowrank-smc sweep submit\`?)`);
    const n = Number(meta.jobs);
    const options: JobOptions[] = JSON.parse(meta.options ?? '[]');
    const jobs = await Promise.all(Array.from({ length: n }, (_, i) => jobStatus(queue, `${id}-${i}`, i, options[i] ?? {})));
    const counts: Record<string, number> = {};
    for (const j of jobs) counts[j.state] = (counts[j.state] ?? 0) + 1;
    return { id, name: meta.name || undefined, jobs, counts, cancelled: meta.cancelled === '1', swept: JSON.parse(meta.swept ?? '[]') };
  } finally {
    await close();
  }
}

/** Cancel a sweep: queued jobs are removed, running ones stop at their next readback and fail as cancelled. */
export async function cancelSweep(id: string, conn: Pick<Connection, 'redis'>): Promise<{ removed: number; running: number }> {
  const { queue, client, close } = await openQueue(conn.redis);
  try {
    const n = Number(await client.hget(metaKey(id), 'jobs'));
    if (!n) throw new Error(`no sweep ${id} in this Redis`);
    await client.hset(metaKey(id), 'cancelled', '1');
    let removed = 0;
    let running = 0;
    for (let i = 0; i < n; i++) {
      const job = await queue.getJob(`${id}-${i}`);
      const state = job ? await job.getState() : 'removed';
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
        await job!.remove().then(
          () => removed++,
          () => running++,
        ); // taken by a worker meanwhile
      } else if (state === 'active') running++;
    }
    return { removed, running };
  } finally {
    await close();
  }
}

/** Whether a sweep was cancelled (workers poll this between readbacks). */
export async function isCancelled(client: { hget(k: string, f: string): Promise<string | null> }, id: string): Promise<boolean> {
  return (await client.hget(metaKey(id), 'cancelled')) === '1';
}

/** One flat row per job (options, state, result fields, worker): for --json / --csv and plots. */
export function resultRows(status: SweepStatus): Record<string, string | number | boolean | null>[] {
  return status.jobs.map((j) => {
    const row: Record<string, string | number | boolean | null> = { job: j.index, state: j.state };
    for (const [k, v] of Object.entries(j.options)) row[k] = v;
    const r = j.result ?? {};
    for (const [k, v] of Object.entries(r)) {
      if (v !== null && typeof v === 'object') for (const [k2, v2] of Object.entries(v)) row[`${k}.${k2}`] = v2 as number;
      else row[k] = v as number | string;
    }
    row.worker = j.worker;
    if (j.error) row.error = j.error;
    return row;
  });
}
