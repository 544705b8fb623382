// Runs the GPU cases (test/cases/*.cases.ts) in real headless Chromium (WebGPU on SwiftShader): builds
// the page in this folder with Vite, serves it on 127.0.0.1 and registers one test per case.
// Chromium is found on PATH (or CHROMIUM_PATH); without it, or without WebGPU in it, every case is
// reported as skipped with the reason, or the run fails under CI.
// LOWRANK_SMC_BROWSER_GREP=text runs only the cases whose "module/name" contains the text.
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, test } from 'vitest';
import type { CaseModule } from '../cases/types.js';
import { CHROMIUM_ARGS, findChromium, serveStatic } from './harness.js';
import { BROWSER_SLOWDOWN, DEFAULT_CASE_TIMEOUT_MS, STATE_KEY, caseModuleName, type BrowserCaseResult, type BrowserRunState } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const modules = import.meta.glob<CaseModule>('../cases/*.cases.ts', { eager: true });
const grep = process.env.LOWRANK_SMC_BROWSER_GREP ?? '';

const entries = Object.entries(modules)
  .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  .map(([path, mod]) => ({
    module: caseModuleName(path),
    cases: mod.cases.filter((c) => c.browser !== false && (!grep || `${caseModuleName(path)}/${c.name}`.includes(grep))),
  }))
  .filter((e) => e.cases.length > 0);

const chromiumPath = findChromium();
/**
 * Why the cases cannot run here (no Chromium, Chromium does not start, or no WebGPU in it); outside CI
 * each case is then reported as skipped with this reason, under CI the run fails instead.
 */
let unavailable: string | null = null;
let page: Page;
const pageErrors: string[] = [];

function cannotRun(why: string): void {
  if (process.env.CI) throw new Error(why);
  console.warn(`[browser tests skipped] ${why}`);
  unavailable = why;
}

if (!chromiumPath) {
  const why = process.env.CHROMIUM_PATH
    ? `Chromium not found: CHROMIUM_PATH=${process.env.CHROMIUM_PATH} does not exist.`
    : `Chromium not found (looked for chromium, chromium-browser, google-chrome on PATH; set CHROMIUM_PATH to override). Run \`npm run setup\` to install it.`;
  if (process.env.CI) {
    test('browser: Chromium is installed', () => {
      throw new Error(why);
    });
  } else cannotRun(why);
} else {
  let outDir = '';
  let server: Server | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'lowrank-smc-browser-'));
    await build({ configFile: join(here, 'vite.config.ts'), logLevel: 'error', build: { outDir } });
    const served = await serveStatic(outDir);
    server = served.server;
    try {
      browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    } catch (e) {
      return cannotRun(`Chromium (${chromiumPath}) did not start: ${(e as Error).message.split('\n')[0]}`);
    }
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.stack ?? e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(served.url + (grep ? `?grep=${encodeURIComponent(grep)}` : ''));
    await page.waitForFunction(
      (key) => {
        const s = (window as unknown as Record<string, BrowserRunState>)[key];
        return s.started || s.fatal !== null || s.unavailable !== null;
      },
      STATE_KEY,
      { timeout: 60_000, polling: 100 },
    );
    const state = await readState();
    if (state.unavailable) return cannotRun(`no WebGPU in Chromium ${browser.version()}: ${state.unavailable}`);
    if (state.fatal) throw new Error(`browser test page failed: ${state.fatal}`);
    const a = state.adapter!;
    console.log(
      `[browser] Chromium ${browser.version()}, adapter ${a.vendor} ${a.architecture} ${a.description} (${a.featureLevel}; ${a.features.join(', ')})`,
    );
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });
}

function readState(): Promise<BrowserRunState> {
  return page.evaluate((key) => (window as unknown as Record<string, BrowserRunState>)[key], STATE_KEY);
}

/** Waits until the page has a result for this case (cases run in registration order). */
async function resultOf(module: string, name: string, timeoutMs: number): Promise<BrowserCaseResult> {
  await page.waitForFunction(
    ([key, module, name]) => {
      const s = (window as unknown as Record<string, BrowserRunState>)[key];
      return s.fatal !== null || s.done || s.results.some((r) => r.module === module && r.name === name);
    },
    [STATE_KEY, module, name] as const,
    { timeout: timeoutMs, polling: 100 },
  );
  const state = await readState();
  const r = state.results.find((x) => x.module === module && x.name === name);
  if (r) return r;
  const errors = pageErrors.length ? `\npage errors:\n${pageErrors.slice(-5).join('\n')}` : '';
  throw new Error(state.fatal ? `browser run stopped: ${state.fatal}${errors}` : `the page finished without running this case${errors}`);
}

// One test per case, also when they cannot run here: each is then reported as skipped, with the reason.
if (chromiumPath || !process.env.CI) {
  for (const { module, cases } of entries) {
    describe(`browser: ${module}`, () => {
      for (const c of cases) {
        // The page enforces its own per-case timeout; this one only guards against a hung page.
        const timeoutMs = (c.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS) * BROWSER_SLOWDOWN + 15_000;
        test(
          c.name,
          async (ctx) => {
            if (unavailable) ctx.skip(unavailable);
            const r = await resultOf(module, c.name, timeoutMs);
            if (!r.ok) throw new Error(`failed in Chromium after ${r.ms.toFixed(0)} ms: ${r.error}`);
          },
          timeoutMs + 5_000,
        );
      }
    });
  }
}
