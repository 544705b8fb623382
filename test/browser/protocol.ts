/**
 * What the browser test page (runner.ts) exposes on `window` and the Node side (browser.test.ts)
 * reads back through Playwright.
 */
import type { EngineInfo } from '../../src/gpu/engine.js';

export interface BrowserCaseResult {
  /** Case module name, e.g. "runtime" for test/cases/runtime.cases.ts. */
  module: string;
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

export interface BrowserRunState {
  /** Set once the engine exists and cases have started. */
  started: boolean;
  done: boolean;
  /** Anything that stopped the whole run, e.g. a module that failed to load. */
  fatal: string | null;
  /** Set instead of starting when the page has no WebGPU (no navigator.gpu, no adapter): why. */
  unavailable: string | null;
  adapter: EngineInfo | null;
  results: BrowserCaseResult[];
}

export const STATE_KEY = '__lowrankSmcTests';

/** SwiftShader in Chromium is about 4x slower than lavapipe, for which case timeouts are sized. */
export const BROWSER_SLOWDOWN = 4;
export const DEFAULT_CASE_TIMEOUT_MS = 60_000;

/** "../cases/runtime.cases.ts" -> "runtime" (the same naming as test/gpu.test.ts). */
export function caseModuleName(path: string): string {
  return path.replace(/^.*\//, '').replace(/\.cases\.ts$/, '');
}
