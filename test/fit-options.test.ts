// One reading of `fit`'s options for the CLI (flag strings) and sweep jobs (JSON values): same settings,
// same defaults, same errors.
import { expect, test } from 'vitest';
import { fitSettings, fitZscore, trainerOptions, trainingRecord } from '../src/inference/fit-options.js';
import { ENCODER_LR_WARMUP, FIT_DEFAULTS } from '../src/inference/trainer.js';
import { exponentialDecay } from '../src/ops/optim.js';
import { FIT_OPTION_TYPES } from '../src/sweep/spec.js';

const data = { channels: 4, time: 30 };

test('flag strings and JSON values give the same settings; defaults are fit’s', () => {
  const json = {
    rank: 2,
    units: 16,
    particles: 8,
    batch: 3,
    window: 100,
    iters: 7,
    lr: 0.01,
    'lr-end': 0.001,
    'lr-hold': 3,
    'lr-warmup': 2,
    seed: 4,
    'resample-threshold': 0.5,
    noise: 'diag',
  };
  const flags = Object.fromEntries(Object.entries(json).map(([k, v]) => [k, String(v)]));
  const s = fitSettings(json, data, 0);
  expect(fitSettings(flags, data, 0)).toEqual(s);
  expect(s).toMatchObject({
    proposal: 'optimal',
    window: 30,
    iterations: 7,
    lrHold: 3,
    lrWarmup: 2,
    resampleThreshold: 0.5,
    optimizer: FIT_DEFAULTS.optimizer,
    logEvery: 10,
  });
  expect(s.config).toMatchObject({ rank: 2, units: 16, obsDim: 4, noise: 'diag', obs: 'gauss', obsNonlinearity: 'identity' });
  // the trainer's options and the training record the CLI, sweep jobs and the web app build from them carry the schedule
  expect(trainerOptions(s)).toMatchObject({ iterations: 7, lr: 0.01, lrEnd: 0.001, lrHold: 3, lrWarmup: 2, seed: 4, resampleThreshold: 0.5 });
  expect(trainingRecord(s, 'adapter', [], 7)).toMatchObject({ totalIterations: 7, lrHold: 3, lrWarmup: 2, adapter: 'adapter' });
  const d = fitSettings({}, data, 0);
  expect(d).toMatchObject({ particles: FIT_DEFAULTS.particles, batch: FIT_DEFAULTS.batch, iterations: FIT_DEFAULTS.iterations, lr: FIT_DEFAULTS.lr });
  expect(d.config).toMatchObject({ rank: 3, units: 512 });
  expect(fitSettings({ obs: 'poisson' }, data, 0).proposal).toBe('bootstrap');
  expect([fitZscore({}), fitZscore({ zscore: false }), fitZscore({ obs: 'poisson' })]).toEqual([true, false, false]);
});

const encoder = { obs: 'poisson', noise: 'diag', proposal: 'encoder', 'encoder-kernels': '3,2', 'encoder-channels': '4' };

test('an encoder-proposal fit gets a warm-up of min(20, iters / 2) unless one is given; the other proposals none', () => {
  const warmup = (v: Record<string, string | number>) => fitSettings(v, data, 0).lrWarmup;
  expect(warmup(encoder)).toBe(ENCODER_LR_WARMUP);
  expect(ENCODER_LR_WARMUP).toBe(20);
  expect([31, 30, 3, 1].map((iters) => warmup({ ...encoder, iters }))).toEqual([15, 15, 1, 0]);
  expect([warmup({ ...encoder, 'lr-warmup': 0 }), warmup({ ...encoder, 'lr-warmup': '0' }), warmup({ ...encoder, 'lr-warmup': 50 })]).toEqual([0, 0, 50]);
  // bootstrap and optimal fits keep their schedule and their model files' training record
  for (const v of [{}, { obs: 'poisson' }, { obs: 'poisson', proposal: 'bootstrap', noise: 'diag' }]) {
    const s = fitSettings(v, data, 0);
    expect(s.lrWarmup, JSON.stringify(v)).toBe(0);
    expect(trainingRecord(s, 'adapter', [], 0)).not.toHaveProperty('lrWarmup');
  }
  // the warm-up is in the record; a resumed fit keeps the record's (absent: none, as before the default)
  const s = fitSettings(encoder, data, 0);
  const record = trainingRecord(s, 'adapter', [], 10);
  expect(record.lrWarmup).toBe(20);
  const resume = (training: typeof record) => fitSettings({}, data, 0, { config: s.config, training }).lrWarmup;
  expect(resume(record)).toBe(20);
  expect(resume({ ...record, lrWarmup: undefined })).toBe(0);
});

test('bad values are refused by the option’s name, for flags and JSON alike', () => {
  for (const [v, message] of [
    [{ rank: 65 }, /--rank must be ≤ 64, got 65/],
    [{ rank: '2.5' }, /--rank must be an integer, got "2.5"/],
    [{ particles: true }, /--particles must be an integer, got "true"/],
    [{ obs: 'poisson', proposal: 'optimal' }, /--proposal optimal needs --obs gauss with --obs-link identity/],
    [{ 'readout-from-inputs': true }, /--readout-from-inputs needs --inputs/],
    [{ zscore: 'no' }, /--zscore must be true or false/],
    [{ iters: 5, 'lr-hold': 5 }, /--lr-hold 5 must be less than --iters 5/],
    [{ 'lr-hold': '2.5' }, /--lr-hold must be an integer, got "2.5"/],
    [{ iters: 5, 'lr-warmup': 5 }, /--lr-warmup 5 must be less than --iters 5/],
    [{ 'lr-warmup': -1 }, /--lr-warmup must be ≥ 0, got -1/],
    [{ ...encoder, iters: 40, 'lr-warmup': 40 }, /--lr-warmup 40 must be less than --iters 40/],
  ] as const) {
    expect(() => (fitZscore(v as never), fitSettings(v as never, data, 0)), JSON.stringify(v)).toThrow(message);
  }
});

test('every option a sweep may set is one fit reads (its type check is the sweep schema’s, its meaning fit’s)', () => {
  // a sweep value outside fit's range would pass the schema only to fail on a worker: the ranges agree
  expect(FIT_OPTION_TYPES.rank).toMatchObject({ max: 64 });
  for (const name of Object.keys(FIT_OPTION_TYPES)) {
    const t = FIT_OPTION_TYPES[name];
    if (t.kind !== 'enum') continue;
    for (const value of t.values) {
      const v = {
        [name]: value,
        ...(name === 'proposal' || name === 'obs-link' ? { obs: value === 'optimal' || value === 'identity' ? 'gauss' : 'poisson' } : {}),
        ...(value === 'encoder' ? { ...encoder, proposal: 'encoder' } : {}),
      };
      expect(() => fitSettings(v, data, 0), `${name} = ${value}`).not.toThrow();
    }
  }
});

test('--lr-hold: lr stays at --lr for the held iterations, then decays exponentially to --lr-end at the last', () => {
  const lr = exponentialDecay(3e-3, 1e-4, 500, 300);
  for (const i of [0, 150, 300]) expect(lr(i)).toBe(3e-3);
  expect(lr(400)).toBeCloseTo(3e-3 * Math.sqrt(1e-4 / 3e-3), 15); // halfway through the decay: the geometric mean
  expect(lr(500)).toBeCloseTo(1e-4, 15);
  expect(exponentialDecay(3e-3, 1e-4, 500)(250)).toBeCloseTo(3e-3 * Math.sqrt(1e-4 / 3e-3), 15); // no hold: as before
  expect(() => exponentialDecay(1, 0.1, 10, 10)).toThrow(/hold must be an integer in \[0, 10\), got 10/);
});

test('--lr-warmup: lr ramps linearly to --lr over the first iterations, then follows the hold and decay as without it', () => {
  const plain = exponentialDecay(1e-2, 1e-4, 100, 30);
  const lr = exponentialDecay(1e-2, 1e-4, 100, 30, 20);
  expect([0, 9, 19].map(lr)).toEqual([1e-2 / 20, 1e-2 / 2, 1e-2]);
  for (const i of [20, 30, 60, 100]) expect(lr(i)).toBe(plain(i));
  // a warmup longer than the hold ramps into the decay
  expect(exponentialDecay(1e-2, 1e-4, 100, 0, 10)(4)).toBeCloseTo(exponentialDecay(1e-2, 1e-4, 100)(4) / 2, 15);
  expect(() => exponentialDecay(1, 0.1, 10, 0, 10)).toThrow(/warmup must be an integer in \[0, 10\), got 10/);
});
