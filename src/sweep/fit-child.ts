/**
 * The child process a sweep worker runs its fits in (fit-process.ts). Kernel compilation and GPU
 * submission block this process's event loop for seconds at a time; the worker's own loop, which
 * renews its BullMQ job locks, keeps running. One fit at a time; the engine lives across jobs.
 *
 * Messages: parent → child { run: FitChildRequest } | { cancel: true };
 * child → parent { progress: FitProgress } | { result: FitJobResult } | { error: string }.
 */
import type { Backend } from '../gpu/acquire.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import { runFitJob, type FitJobInput } from './fit-job.js';

export interface FitChildRequest {
  backend: Backend;
  input: Omit<FitJobInput, 'onProgress' | 'shouldStop'>;
}

let engine: Promise<Engine> | null = null;
let cancelled = false;
const send = (msg: unknown) => process.send?.(msg);

// the worker is gone (killed): stop at once, so no checkpoint is written after another worker took the job over
process.on('disconnect', () => process.exit(1));
process.on('message', (msg: { run?: FitChildRequest; cancel?: boolean }) => {
  if (msg.cancel) cancelled = true;
  if (!msg.run) return;
  const { backend, input } = msg.run;
  cancelled = false;
  void (async () => {
    try {
      const e = await (engine ??= createEngine({ backend }));
      const result = await runFitJob(e, { ...input, onProgress: (p) => void send({ progress: p }), shouldStop: () => cancelled });
      send({ result });
    } catch (err) {
      send({ error: (err as Error).message });
    }
  })();
});
