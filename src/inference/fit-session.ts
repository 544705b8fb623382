/**
 * A fit you can watch and steer: wraps `fit` with pause / resume / stop and delivers typed events to
 * listeners (`on`) or to an async iterator (`for await (const e of session)`). No DOM or Node APIs,
 * so the same class runs the web app's worker and Node scripts.
 *
 *   const session = new FitSession(engine, model, data, null, { iterations: 500, particles: 10, batch: 10, proposal: 'optimal', seed: 1 });
 *   session.start();
 *   for await (const e of session) if (e.type === 'progress') console.log(e.progress.iteration, e.progress.loss);
 *
 * Pause, resume and stop take effect at the fit's next readback (every `logEvery` iterations).
 */
import type { Engine } from '../gpu/engine.js';
import type { Dataset } from '../io/dataset.js';
import type { LowRankRNN } from '../models/lowrank-rnn.js';
import { fit, type FitOptions, type FitProgress, type FitResult } from './trainer.js';

export type FitSessionState = 'ready' | 'running' | 'paused' | 'stopping' | 'done' | 'failed';

export type FitEvent =
  | { type: 'progress'; progress: FitProgress }
  | { type: 'paused'; iteration: number }
  | { type: 'resumed'; iteration: number }
  /** The fit ended: all iterations ran, or `stop()` ended it early (`stopped`). */
  | { type: 'done'; result: FitResult; stopped: boolean }
  | { type: 'failed'; error: Error };

export type FitEventType = FitEvent['type'];
/** The event of one type. */
export type FitEventOf<K extends FitEventType> = Extract<FitEvent, { type: K }>;

/** `fit`'s options without the callbacks the session owns. */
export type FitSessionOptions = Omit<FitOptions, 'onProgress' | 'shouldStop'>;

export class FitSession implements AsyncIterable<FitEvent> {
  private listeners = new Set<(e: FitEvent) => void>();
  private current: FitSessionState = 'ready';
  private pauseRequested = false;
  private stopRequested = false;
  private wakeFromPause: (() => void) | null = null;
  private lastIteration = 0;
  private running: Promise<FitResult> | null = null;

  constructor(
    readonly engine: Engine,
    readonly model: LowRankRNN,
    readonly data: Dataset,
    readonly inputs: Dataset | null,
    readonly options: FitSessionOptions,
  ) {}

  get state(): FitSessionState {
    return this.current;
  }

  /** Start the fit (once; later calls return the same promise). Rejects if the fit fails. */
  start(): Promise<FitResult> {
    this.running ??= this.run();
    return this.running;
  }

  /** Hold the fit at its next readback until `resume()` or `stop()`. */
  pause(): void {
    if (this.current === 'running') this.pauseRequested = true;
  }

  resume(): void {
    this.pauseRequested = false;
    this.wakeFromPause?.();
  }

  /** End the fit at its next readback; the parameters keep their values from that point. */
  stop(): void {
    if (this.current === 'done' || this.current === 'failed') return;
    this.stopRequested = true;
    if (this.current !== 'ready') this.current = 'stopping';
    this.wakeFromPause?.();
  }

  /** Listen to one kind of event; returns the function that removes the listener. */
  on<K extends FitEventType>(type: K, listener: (e: FitEventOf<K>) => void): () => void {
    const wrapped = (e: FitEvent) => {
      if (e.type === type) listener(e as FitEventOf<K>);
    };
    this.listeners.add(wrapped);
    return () => this.listeners.delete(wrapped);
  }

  /**
   * Events from now on, ending after 'done' (the iterator throws the error after 'failed'). Events
   * are buffered, so a slow consumer sees every one.
   */
  [Symbol.asyncIterator](): AsyncIterator<FitEvent> {
    const queue: FitEvent[] = [];
    let notify: (() => void) | null = null;
    let finished = this.current === 'done' || this.current === 'failed';
    const listener = (e: FitEvent) => {
      queue.push(e);
      notify?.();
    };
    this.listeners.add(listener);
    const close = () => {
      finished = true;
      this.listeners.delete(listener);
    };
    return {
      next: async (): Promise<IteratorResult<FitEvent>> => {
        while (queue.length === 0 && !finished) await new Promise<void>((ok) => (notify = ok));
        notify = null;
        const e = queue.shift();
        if (!e) return { done: true, value: undefined };
        if (e.type === 'failed') {
          close();
          throw e.error;
        }
        if (e.type === 'done') close();
        return { done: false, value: e };
      },
      return: async (): Promise<IteratorResult<FitEvent>> => {
        close();
        return { done: true, value: undefined };
      },
    };
  }

  private emit(e: FitEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  private async run(): Promise<FitResult> {
    if (this.stopRequested) this.current = 'stopping';
    else this.current = 'running';
    try {
      const result = await fit(this.engine, this.model, this.data, this.inputs, {
        ...this.options,
        onProgress: async (progress) => {
          this.lastIteration = progress.iteration;
          this.emit({ type: 'progress', progress });
          await this.holdWhilePaused();
        },
        shouldStop: () => this.stopRequested,
      });
      const stopped = this.stopRequested && result.iterations < this.options.iterations;
      this.current = 'done';
      this.emit({ type: 'done', result, stopped });
      return result;
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.current = 'failed';
      this.emit({ type: 'failed', error });
      throw error;
    }
  }

  private async holdWhilePaused(): Promise<void> {
    if (!this.pauseRequested || this.stopRequested) return;
    this.current = 'paused';
    this.emit({ type: 'paused', iteration: this.lastIteration });
    while (this.pauseRequested && !this.stopRequested) await new Promise<void>((ok) => (this.wakeFromPause = ok));
    this.wakeFromPause = null;
    if (this.stopRequested) return;
    this.current = 'running';
    this.emit({ type: 'resumed', iteration: this.lastIteration });
  }
}
