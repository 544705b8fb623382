// Tuning choices that need no GPU: the tuning option / LOWRANK_SMC_TUNING, and the unit-parallel
// plan's bounds (K·R per adapter kind, rank on software adapters).
import { afterEach, describe, expect, test } from 'vitest';
import { tuningFrom } from '../src/gpu/engine.js';
import { unitParallelPlan } from '../src/inference/smc-layout.js';

describe('engine tuning', () => {
  const saved = process.env.LOWRANK_SMC_TUNING;
  afterEach(() => {
    if (saved === undefined) delete process.env.LOWRANK_SMC_TUNING;
    else process.env.LOWRANK_SMC_TUNING = saved;
  });

  test('the option wins over LOWRANK_SMC_TUNING; unset means auto; a bad value is refused by name', () => {
    delete process.env.LOWRANK_SMC_TUNING;
    expect(tuningFrom()).toBe('auto');
    expect(tuningFrom('gpu')).toBe('gpu');
    process.env.LOWRANK_SMC_TUNING = 'gpu';
    expect(tuningFrom()).toBe('gpu');
    expect(tuningFrom('auto')).toBe('auto');
    process.env.LOWRANK_SMC_TUNING = 'fast';
    expect(() => tuningFrom()).toThrow(/tuning must be auto or gpu, got "fast" \(LOWRANK_SMC_TUNING/);
  });
});

describe('unit-parallel plan', () => {
  const lavapipeWorkgroupBytes = 32768;
  test('software adapters: up to K·R = 256 at rank ≤ 8, never beyond rank 8; GPUs: K·R ≤ 64', () => {
    expect(unitParallelPlan(32, 8, 64, lavapipeWorkgroupBytes, true).use).toBe(true);
    expect(unitParallelPlan(64, 3, 128, lavapipeWorkgroupBytes, true).use).toBe(true);
    expect(unitParallelPlan(16, 16, 32, lavapipeWorkgroupBytes, true).use).toBe(false);
    expect(unitParallelPlan(2, 36, 16, lavapipeWorkgroupBytes, true).use).toBe(false);
    expect(unitParallelPlan(4, 16, 64, lavapipeWorkgroupBytes, false).use).toBe(true);
    expect(unitParallelPlan(32, 3, 64, lavapipeWorkgroupBytes, false).use).toBe(false);
  });
});
