// Builds the browser app (src/web/) into dist/web/: a static index.html with relative asset paths, so
// any static file server (or a sub-folder of one) can serve it. The bundled EEG demo is a small slice
// of ../shared/data/eeg_s001r01_smoothed.npy with its Hann smoothing undone (as scripts/example.sh
// trains), made at build time (and served by `vite` in dev mode).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { hannDeconvolveZscore } from '../src/analysis/eeg-smoothing.js';
import { encodeNpy, parseNpy } from '../src/io/npy.js';
import { EEG_DEMO, sliceRows } from '../src/web/demo.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EEG_SOURCE = resolve(repo, '../shared/data/eeg_s001r01_smoothed.npy');

function eegDemoSlice(): Uint8Array {
  if (!existsSync(EEG_SOURCE)) {
    throw new Error(`web app: the EEG demo source ${EEG_SOURCE} is missing (expected ../shared/data/eeg_s001r01_smoothed.npy next to the repository)`);
  }
  const arr = parseNpy(readFileSync(EEG_SOURCE), EEG_SOURCE);
  const [time, channels] = arr.shape;
  if (arr.shape.length !== 2 || channels !== EEG_DEMO.channels || time < EEG_DEMO.start + EEG_DEMO.steps) {
    throw new Error(`web app: ${EEG_SOURCE} has shape (${arr.shape.join(', ')}), expected (≥ ${EEG_DEMO.start + EEG_DEMO.steps}, ${EEG_DEMO.channels})`);
  }
  // deconvolve the whole recording, then cut: the slice keeps no artificial boundary
  const training = hannDeconvolveZscore(arr);
  return encodeNpy(sliceRows(training.data, channels, EEG_DEMO.start, EEG_DEMO.steps), [EEG_DEMO.steps, channels]);
}

function eegDemo(): Plugin {
  return {
    name: 'lowrank-smc:eeg-demo',
    configureServer(server) {
      server.middlewares.use(`/${EEG_DEMO.file}`, (_req, res) => {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(eegDemoSlice());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: EEG_DEMO.file, source: eegDemoSlice() });
    },
  };
}

export default defineConfig({
  root: resolve(repo, 'src/web'),
  base: './',
  logLevel: 'warn',
  plugins: [eegDemo()],
  build: {
    outDir: resolve(repo, 'dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 4096,
    // The Node WebGPU binding never reaches the page (acquire.ts imports it by a variable name).
    rollupOptions: { external: ['webgpu'] },
  },
  // The worker code-splits (dynamic imports), which needs module workers.
  worker: { format: 'es' },
});
