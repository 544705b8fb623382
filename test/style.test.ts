// The formatter and linter configurations hold for the whole code base: prettier formats every source
// file as committed, ESLint reports no problems, and no line of code, comment or shader exceeds 160
// characters (prettier leaves long comments alone; a long message inside one string literal may stay
// on one line, so that it can be found by searching for it).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import * as prettier from 'prettier';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['src', 'test', 'bench', 'scripts', 'web'];
const MAX_LINE = 160;

function sourceFiles(exts: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name === 'node_modules' || name === 'dist' || name === 'shaders.generated.ts') continue;
      if (statSync(path).isDirectory()) walk(path);
      else if (exts.some((e) => name.endsWith(e))) out.push(path);
    }
  };
  for (const d of SOURCE_DIRS) walk(join(root, d));
  return out;
}

test('prettier formats every TypeScript and script file as committed', async () => {
  const unformatted: string[] = [];
  for (const file of sourceFiles(['.ts', '.mjs', '.cjs'])) {
    const options = await prettier.resolveConfig(file);
    if (!(await prettier.check(readFileSync(file, 'utf8'), { ...options, filepath: file }))) unformatted.push(relative(root, file));
  }
  expect(unformatted, 'run `npm run format`').toEqual([]);
}, 120_000);

test('ESLint reports no problems', async () => {
  const eslint = new ESLint({ cwd: root });
  const results = await eslint.lintFiles(SOURCE_DIRS.map((d) => `${d}/**/*.{ts,mjs}`));
  const problems = results.flatMap((r) => r.messages.map((m) => `${relative(root, r.filePath)}:${m.line}:${m.column} ${m.ruleId ?? ''} ${m.message}`));
  expect(problems).toEqual([]);
}, 120_000);

/** The line with the contents of its string and template literals removed (their quotes stay). */
function withoutStrings(line: string): string {
  return line.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, (m) => m[0] + m[0]);
}

test(`no line of code, comment or shader is longer than ${MAX_LINE} characters`, () => {
  const long: string[] = [];
  const check = (file: string, measure: (line: string) => string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const n = [...measure(line)].length;
        if (n > MAX_LINE) long.push(`${relative(root, file)}:${i + 1} (${n})`);
      });
  for (const file of sourceFiles(['.ts', '.mjs', '.cjs'])) check(file, withoutStrings);
  for (const f of readdirSync(join(root, 'shaders'))) check(join(root, 'shaders', f), (line) => line);
  expect(long).toEqual([]);
});
