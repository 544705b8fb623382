import { describe, expect, test } from 'vitest';
import { quietly } from '../src/gpu/quiet-wait.js';

// A native callback, as Dawn's binding passes to setImmediate (a bound function prints as native code).
const nativeCallback = (f: () => void) => f.bind(null);

describe('quietly (software adapters: the binding polls through setImmediate)', () => {
  test('while waiting, native callbacks are deferred by a timer, JavaScript ones keep setImmediate; restored after', async () => {
    const original = globalThis.setImmediate;
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const waiting = quietly(gate.then(() => 'done'));
    expect(globalThis.setImmediate).not.toBe(original);
    // the native callback goes to a 1 ms timer, the JavaScript one to the original setImmediate
    const timers: unknown[] = [];
    const setTimeoutOriginal = globalThis.setTimeout;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      timers.push(ms);
      return setTimeoutOriginal(fn, ms);
    }) as typeof setTimeout;
    try {
      globalThis.setImmediate(nativeCallback(() => order.push('native')));
      globalThis.setImmediate(() => order.push('js'));
    } finally {
      globalThis.setTimeout = setTimeoutOriginal;
    }
    expect(timers).toEqual([1]);
    await new Promise((r) => setTimeout(r, 20));
    expect(order.sort()).toEqual(['js', 'native']);
    // nested waits share the patch; the last one out restores setImmediate
    const inner = quietly(Promise.resolve(1));
    expect(await inner).toBe(1);
    expect(globalThis.setImmediate).not.toBe(original);
    release();
    expect(await waiting).toBe('done');
    expect(globalThis.setImmediate).toBe(original);
  });

  test('a rejected wait restores setImmediate and passes the error on', async () => {
    const original = globalThis.setImmediate;
    await expect(quietly(Promise.reject(new Error('device lost')))).rejects.toThrow('device lost');
    expect(globalThis.setImmediate).toBe(original);
  });
});
