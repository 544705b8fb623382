// Builds the real-browser test page (index.html + runner.ts) from the same sources as the Node suite.
// browser.test.ts builds it into a temp dir; `npx vite test/browser` serves it for a manual look.
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const STUB_PREFIX = '\0node-builtin-stub:';

/**
 * Case modules may import Node-only code for their `browser: false` cases (e.g. src/io reading files).
 * Vite cannot bundle Node built-ins, and named imports of them fail the build; resolve them to a stub
 * whose every export throws a clear error when used, so only the cases that really need Node break.
 */
function nodeBuiltinStubs(): Plugin {
  const builtins = new Set(builtinModules);
  return {
    name: 'lowrank-smc:node-builtin-stubs',
    enforce: 'pre',
    resolveId(id) {
      const bare = id.startsWith('node:') ? id.slice(5) : id;
      return id.startsWith('node:') || builtins.has(bare) ? STUB_PREFIX + id : null;
    },
    load(id) {
      if (!id.startsWith(STUB_PREFIX)) return null;
      const name = id.slice(STUB_PREFIX.length);
      const code = `
        function stub(path) {
          const fail = () => { throw new Error(path + ' is a Node.js API and does not exist in the browser (mark the case \`browser: false\`)'); };
          return new Proxy(fail, {
            // "then" stays undefined so that awaiting the module namespace does not treat it as a promise.
            get: (_, key) => (typeof key === 'symbol' || key === 'then' ? undefined : stub(path + '.' + key)),
            apply: fail,
            construct: fail,
          });
        }
        export default stub(${JSON.stringify(name)});`;
      return { code, syntheticNamedExports: true };
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  logLevel: 'warn',
  plugins: [nodeBuiltinStubs()],
  server: { fs: { allow: [resolve(here, '../..')] } },
  build: {
    target: 'es2022',
    sourcemap: true,
    minify: false, // readable stack traces in failure messages
    emptyOutDir: true,
    chunkSizeWarningLimit: 4096,
    // The Node WebGPU binding must never reach the page (acquire.ts imports it by a variable name).
    rollupOptions: { external: ['webgpu'] },
  },
});
