// `bench smc` checks its flags before it creates an engine: with engine creation replaced by a throw,
// a bad flag gives its own message and good flags reach the engine.
import { expect, test, vi } from 'vitest';

vi.mock('../src/gpu/engine.js', () => ({
  createEngine: () => {
    throw new Error('engine created');
  },
}));

const { run } = await import('../src/cli/bench.js');

test('bench smc: bad flags are refused before the engine is created, naming the flag', async () => {
  const refused: [string[], RegExp][] = [
    [['--rank', '0'], /--rank: '0' is not an integer ≥ 1/],
    [['--rank', '65'], /--rank: 65 is above the largest supported rank 64/],
    [['--particles', '2.5'], /--particles: '2.5' is not an integer ≥ 1/],
    [['--config', 'hc3'], /--config: 'hc3' is not one of eeg, k64, hc2, maze, nlb, sweep, all/],
    [['--config', 'all', '--batch', '2'], /--config all takes no size flags/],
    [['--obs', 'poisson', '--proposal', 'optimal'], /--proposal optimal needs --obs gauss/],
    [['--config', 'hc2', '--proposal', 'optimal'], /--proposal optimal needs --obs gauss/],
    [['--ks', '16,0'], /--ks: '0' is not a positive integer/],
    [['--seeds', 'x'], /--seeds: 'x' is not a positive integer/],
  ];
  for (const [flags, message] of refused) await expect(run(['smc', ...flags]), flags.join(' ')).rejects.toThrow(message);
  await expect(run(['smc', '--config', 'eeg', '--particles', '32'])).rejects.toThrow('engine created');
});
