/**
 * Waiting for a software adapter without a busy loop.
 *
 * Dawn's Node binding (the `webgpu` package) polls for finished GPU work by queueing `setImmediate` callbacks back to
 * back while any of its promises is pending: a loop that keeps one CPU core busy for as long as the queue runs. On a
 * software adapter the queue runs on this machine's cores, so the loop takes a core from the adapter's own threads
 * (on a 2-core machine lavapipe's two threads and the loop share two cores). While `quietly` waits, the binding's
 * polls (native callbacks; JavaScript callers are left alone) are spaced 1 ms apart by a timer instead, which costs at
 * most about 1 ms per wait. Browsers have no `setImmediate`: there it only awaits.
 */

type SetImmediate = (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown;

let waits = 0;
let original: SetImmediate | null = null;

const isNative = (fn: unknown): boolean => typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');

/** Await `p` with the binding's polling throttled (see the module comment); nested and concurrent waits share one patch. */
export async function quietly<T>(p: Promise<T>): Promise<T> {
  const g = globalThis as { setImmediate?: SetImmediate };
  if (typeof g.setImmediate !== 'function') return p;
  if (waits++ === 0) {
    const orig = g.setImmediate;
    original = orig;
    g.setImmediate = (fn, ...args) => (isNative(fn) ? setTimeout(fn, 1, ...args) : orig(fn, ...args));
  }
  try {
    return await p;
  } finally {
    if (--waits === 0 && original) {
      g.setImmediate = original;
      original = null;
    }
  }
}
