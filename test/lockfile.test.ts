// `npm ci` installs only from a lockfile that lists every optional dependency, also those for other
// platforms (the bundler's native builds): a lockfile written where some were not served lacks them,
// and `npm ci` refuses it everywhere. Checked here without a network.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';

type LockEntry = { optionalDependencies?: Record<string, string> };

test('package-lock.json has an entry for every optional dependency it names', () => {
  const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, LockEntry> };
  const missing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
      // resolved as Node does: the nearest node_modules folder up from the dependent package
      let base = path;
      for (;;) {
        if (`${base ? `${base}/` : ''}node_modules/${dep}` in lock.packages) break;
        if (!base) {
          missing.push(`${dep} (optional dependency of ${path || 'the project'})`);
          break;
        }
        const i = base.lastIndexOf('/node_modules/');
        base = i < 0 ? '' : base.slice(0, i);
      }
    }
  }
  expect(missing).toEqual([]);
});
