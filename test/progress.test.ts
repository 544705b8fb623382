// Progress display with a fake stream and a fake clock.
import { describe, expect, test } from 'vitest';
import { formatDuration, formatRate, formatValue, Progress, type ProgressStream } from '../src/util/progress.js';

function fake(isTTY: boolean, columns = 100): ProgressStream & { out: string[] } {
  const out: string[] = [];
  return { isTTY, columns, out, write: (s: string) => out.push(s) };
}

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('plain (non-TTY) output', () => {
  test('at most one line per interval, plus the final one', () => {
    const s = fake(false);
    const c = clock();
    const p = new Progress({ total: 100, label: 'fit', stream: s, intervalMs: 5000, now: c.now });
    for (let i = 1; i <= 100; i++) {
      c.advance(200); // 20 s in all → lines at 0.2 s, 5.2 s, 10.2 s, 15.2 s
      p.update(i, { loss: 1 / i, lr: 1e-3 * 0.99 ** i });
    }
    p.done();
    expect(s.out.length).toBe(5);
    expect(s.out.every((l) => l.endsWith('\n') && !l.includes('\r') && !l.includes('\x1b'))).toBe(true);
    // 26 done after 5.2 s → 5 it/s, 74 left → ETA 14.8 s → 0:15
    expect(s.out[1]).toBe(`fit 26/100 (26%) 5.00 it/s ETA 0:15 loss=${Number((1 / 26).toPrecision(4))} lr=${(1e-3 * 0.99 ** 26).toExponential(3)}\n`);
    expect(s.out[4]).toBe('fit 100/100 (100%) 5.00 it/s in 0:20 loss=0.01 lr=3.660e-4\n');
  });

  test('done() prints the final line even without updates; calls after done are ignored', () => {
    const s = fake(false);
    const c = clock();
    const p = new Progress({ total: 10, stream: s, now: c.now, unit: 'step' });
    c.advance(2000);
    p.done({ ll: -1.25 });
    p.update(5);
    p.done();
    expect(s.out).toEqual(['0/10 (0%) 0.00 step/s in 0:02 ll=-1.25\n']);
  });

  test('unknown total: count and rate, no percentage or ETA', () => {
    const s = fake(false);
    const c = clock();
    const p = new Progress({ label: 'filter', stream: s, now: c.now });
    c.advance(4000);
    p.update(10_000_000, { ess: 512 });
    expect(s.out).toEqual(['filter 10000000 2.50M it/s ess=512\n']);
  });
});

describe('TTY output', () => {
  test('one line redrawn in place with bar, percentage, rate, ETA and fields', () => {
    const s = fake(true, 100);
    const c = clock();
    const p = new Progress({ total: 200, label: 'fit', stream: s, now: c.now, ttyIntervalMs: 100 });
    c.advance(1000);
    p.update(50, { loss: 2.5 });
    c.advance(50);
    p.update(52); // within the redraw interval: skipped
    c.advance(50);
    p.update(55);
    expect(s.out.length).toBe(2);
    for (const w of s.out) {
      expect(w.startsWith('\r')).toBe(true);
      expect(w.endsWith('\x1b[K')).toBe(true);
      expect(w.length).toBeLessThanOrEqual(100 + 4);
    }
    // 50 of 200 after 1 s: 25% of a 30-wide bar is 8 (rounded) '#'
    expect(s.out[0]).toBe(`\rfit [${'#'.repeat(8)}${'.'.repeat(22)}] 50/200 (25%) 50.0 it/s ETA 0:03 loss=2.5\x1b[K`);
    p.done();
    expect(s.out.at(-1)!.endsWith('\n')).toBe(true);
    expect(s.out.at(-1)).toContain(`[${'#'.repeat(8)}`);
  });

  test('narrow terminal: line truncated to the width', () => {
    const s = fake(true, 40);
    const c = clock();
    const p = new Progress({ total: 10, label: 'a-long-label', stream: s, now: c.now });
    c.advance(500);
    p.update(3, { loss: 0.123456, lr: 0.001, ess: 17 });
    const visible = s.out[0].replace('\r', '').replace('\x1b[K', '');
    expect(visible.length).toBe(39);
    expect(visible.startsWith('a-long-label [###.......]')).toBe(true);
  });

  test('log() clears the bar, prints the message, redraws', () => {
    const s = fake(true);
    const c = clock();
    const p = new Progress({ total: 4, stream: s, now: c.now });
    c.advance(1000);
    p.update(1);
    p.log('checkpoint saved');
    expect(s.out[1]).toBe('\r\x1b[Kcheckpoint saved\n');
    expect(s.out[2]).toMatch(/^\r\[.*\] 1\/4 \(25%\)/);
  });
});

describe('formatting', () => {
  test('rates, durations, values', () => {
    expect([formatRate(0.5), formatRate(12.345), formatRate(2.4e5), formatRate(1.5e9)]).toEqual(['0.500', '12.3', '240k', '1.50G']);
    expect([formatDuration(5), formatDuration(65), formatDuration(3725), formatDuration(Infinity)]).toEqual(['0:05', '1:05', '1:02:05', '?']);
    expect([formatValue(3), formatValue(-0.000123456), formatValue(1.23456), formatValue(2e7), formatValue(NaN), formatValue('radam')]).toEqual([
      '3',
      '-1.235e-4',
      '1.235',
      '2.000e+7',
      'NaN',
      'radam',
    ]);
  });
});
