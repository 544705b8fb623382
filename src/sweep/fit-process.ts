/**
 * Fits in child processes (fit-child.ts), one per job a worker runs at once, kept for the next job
 * (their engines keep their compiled kernels). The worker's process then only talks to Redis, so its
 * job locks are renewed on time however long a kernel compiles, and the lock can be short.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FitProgress } from '../inference/trainer.js';
import type { FitChildRequest } from './fit-child.js';
import type { FitJobResult } from './fit-job.js';

type ChildMessage = { progress?: FitProgress; result?: FitJobResult; error?: string };

export class FitProcesses {
  private idle: ChildProcess[] = [];
  private all = new Set<ChildProcess>();

  /** Run one fit in a child; `onProgress` returns true to cancel it (the fit then fails with "cancelled ..."). */
  async run(request: FitChildRequest, onProgress: (p: FitProgress) => Promise<boolean>): Promise<FitJobResult> {
    const child = this.idle.pop() ?? this.start();
    // progress reports are handled one after another, and all of them before the result
    let reports = Promise.resolve();
    return new Promise<FitJobResult>((resolve, reject) => {
      const done = (ok: boolean) => {
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (ok) this.idle.push(child);
      };
      const onMessage = (msg: ChildMessage) => {
        const { progress, result, error } = msg;
        if (progress) {
          reports = reports
            .then(() => onProgress(progress))
            .then((cancel) => void (cancel && child.connected && child.send({ cancel: true })))
            .catch(() => {}); // a lost progress report does not stop the fit
        } else if (result) {
          done(true);
          void reports.then(() => resolve(result));
        } else if (error !== undefined) {
          done(true);
          void reports.then(() => reject(new Error(error)));
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        done(false);
        reject(new Error(`the fit process exited during the fit (${signal ?? `code ${code}`})`));
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ run: request });
    });
  }

  /** Stop every child (their running fits end with the worker). */
  close(): void {
    for (const c of this.all) if (c.connected) c.disconnect();
    this.all.clear();
    this.idle = [];
  }

  private start(): ChildProcess {
    const file = fileURLToPath(new URL('./fit-child.js', import.meta.url));
    if (!existsSync(file)) throw new Error(`${file} not found: sweep workers run fits from the built package (npm run build)`);
    const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.all.add(child);
    child.on('exit', () => {
      this.all.delete(child);
      this.idle = this.idle.filter((c) => c !== child);
    });
    return child;
  }
}
