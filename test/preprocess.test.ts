import { describe, expect, it } from 'vitest';
import { preprocess } from '../src/gpu/preprocess.js';

const lines = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);

describe('WGSL preprocessor', () => {
  it('keeps #if / #else branches by the defines and emits #const', () => {
    const src = ['#const N', '#if A', 'a();', '#else', 'notA();', '#endif', '#if !B', 'notB();', '#endif'].join('\n');
    expect(lines(preprocess(src, { N: 7, A: true, B: true }, {}))).toEqual(['const N: u32 = 7u;', 'a();']);
    expect(lines(preprocess(src, { N: 0, A: false }, {}))).toEqual(['const N: u32 = 0u;', 'notA();', 'notB();']);
  });

  it('#unroll repeats the body with the loop word replaced, nested and with #if inside', () => {
    const src = ['#unroll I 2', '#unroll J C', 'x[I * 3u + J] += KI;', '#if F', 'f(I);', '#endif', '#endunroll', '#endunroll'].join('\n');
    expect(lines(preprocess(src, { C: 2, F: false }, {}))).toEqual([
      'x[0u * 3u + 0u] += KI;',
      'x[0u * 3u + 1u] += KI;',
      'x[1u * 3u + 0u] += KI;',
      'x[1u * 3u + 1u] += KI;',
    ]);
    expect(lines(preprocess(src, { C: 1, F: true }, {}))).toEqual(['x[0u * 3u + 0u] += KI;', 'f(0u);', 'x[1u * 3u + 0u] += KI;', 'f(1u);']);
  });

  it('skips an #unroll inside an inactive block even when its count is undefined', () => {
    expect(lines(preprocess(['#if X', '#unroll I MISSING', 'y();', '#endunroll', '#endif', 'z();'].join('\n'), {}, {}))).toEqual(['z();']);
  });

  it('rejects a malformed or unterminated #unroll and a count that is not a non-negative integer', () => {
    expect(() => preprocess('#unroll I 2\nx();', {}, {})).toThrow(/no #endunroll/);
    expect(() => preprocess('#unroll 2\nx();\n#endunroll', {}, {})).toThrow(/malformed #unroll/);
    expect(() => preprocess('#unroll I C\nx();\n#endunroll', { C: 1.5 }, {})).toThrow(/count C needs a non-negative integer/);
    expect(() => preprocess('#endunroll', {}, {})).toThrow(/without #unroll/);
  });
});
