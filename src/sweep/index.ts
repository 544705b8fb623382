/**
 * Sweeps across machines (Node only): many fits of one data set spread over GPU workers through a
 * BullMQ queue in Redis, with data and results in a shared content-addressed store directory.
 *
 *   const { id } = await submitSweep(await readFile('sweep.json', 'utf8'), { redis: 'redis://127.0.0.1:6379', store: '/shared/store' });
 *   const worker = await runWorker({ redis, store, concurrency: 1 });   // one per GPU, on any machine
 *   const status = await sweepStatus(id, { redis });                    // per job: state, progress, result
 */
export {
  submitSweep,
  sweepStatus,
  cancelSweep,
  resultRows,
  QUEUE_NAME,
  type Connection,
  type JobProgress,
  type JobStatus,
  type SubmitResult,
  type SweepJobData,
  type SweepStatus,
} from './queue.js';
export { runWorker, type WorkerHandle, type WorkerOptions } from './worker.js';
export { parseSweepSpec, expandJobs, sweptOptions, SweepSpecError, FIT_OPTION_TYPES, type SweepSpec, type JobOptions, type EvalSpec } from './spec.js';
export { openStore, addData, dataFile, verifyData, type Store } from './store.js';
export { runFitJob, type FitJobInput, type FitJobResult } from './fit-job.js';
export { checkRedis, redactUrl } from './redis.js';
