/**
 * Browser test page: runs every GPU case module (test/cases/*.cases.ts) on one engine acquired from
 * navigator.gpu, and exposes the results on `window` (see protocol.ts) for browser.test.ts.
 * Open the page by hand with `npx vite test/browser`; `?grep=text` runs only cases whose
 * "module/name" contains the text.
 */
import { createEngine, type Engine } from '../../src/gpu/engine.js';
import { runCase } from '../cases/run-case.js';
import type { CaseModule, GpuCase } from '../cases/types.js';
import { BROWSER_SLOWDOWN, DEFAULT_CASE_TIMEOUT_MS, STATE_KEY, caseModuleName, type BrowserCaseResult, type BrowserRunState } from './protocol.js';

const modules = import.meta.glob<CaseModule>('../cases/*.cases.ts', { eager: true });
const state = (window as unknown as Record<string, BrowserRunState>)[STATE_KEY];

function errorText(e: unknown): string {
  if (e instanceof Error) return e.stack && !e.stack.includes(e.message) ? `${e.message}\n${e.stack}` : (e.stack ?? e.message);
  return String(e);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms in the browser`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function show(r: BrowserCaseResult): void {
  const li = document.createElement('li');
  li.className = r.ok ? 'ok' : 'fail';
  li.textContent = `${r.module} / ${r.name}: ${r.ok ? 'ok' : 'FAILED'} (${r.ms.toFixed(0)} ms)${r.error ? `\n${r.error}` : ''}`;
  document.getElementById('results')?.append(li);
}

async function runTimed(engine: Engine, module: string, c: GpuCase): Promise<BrowserCaseResult> {
  const t0 = performance.now();
  try {
    await withTimeout(runCase(engine, c), (c.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS) * BROWSER_SLOWDOWN, `case "${c.name}"`);
    return { module, name: c.name, ok: true, ms: performance.now() - t0 };
  } catch (e) {
    return { module, name: c.name, ok: false, error: errorText(e), ms: performance.now() - t0 };
  }
}

async function main(): Promise<void> {
  const grep = new URLSearchParams(location.search).get('grep');
  let engine: Engine;
  try {
    engine = await createEngine({ backend: 'browser' });
  } catch (e) {
    state.unavailable = `could not create the engine: ${errorText(e)}`;
    document.getElementById('adapter')!.textContent = state.unavailable;
    return;
  }
  const i = engine.info;
  state.adapter = i;
  document.getElementById('adapter')!.textContent = `${i.vendor} ${i.architecture} ${i.description} (${i.featureLevel}; ${i.features.join(', ')})`;
  state.started = true;
  for (const [path, mod] of Object.entries(modules).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const module = caseModuleName(path);
    for (const c of mod.cases) {
      if (c.browser === false || (grep && !`${module}/${c.name}`.includes(grep))) continue;
      const r = await runTimed(engine, module, c);
      state.results.push(r);
      show(r);
    }
  }
  engine.destroy();
  state.done = true;
}

main().catch((e) => {
  state.fatal = `runner crashed: ${errorText(e)}`;
});
