// `bench kernels`: records are well-formed and consistent, missing modules are skipped, bad flags fail.
import { loadBench, runBench } from '../../src/cli/bench-kernels.js';
import { run as benchCli } from '../../src/cli/bench.js';
import { runSmcBench } from '../../bench/smc.js';
import type { GpuCase } from './types.js';

export const cases: GpuCase[] = [
  {
    name: 'bench smc --profile: fwd_profile counts one propagate dispatch per step of the forward filter and a final one (its combine)',
    browser: false,
    async run(engine) {
      const T = 3;
      const opts = {
        software: true,
        runs: 1,
        warmup: 0,
        config: 'custom',
        overrides: { K: 300, B: 1, T },
        seeds: 1,
        trainPath: 'fused',
        profile: true,
      } as const;
      const lines = [];
      for await (const l of runSmcBench(engine, opts)) if ('K' in l) lines.push(l);
      if (lines.length !== 1) throw new Error(`expected one line, got ${lines.length}`);
      const prof = lines[0].fwd_profile ?? [];
      const count = (name: string) => prof.filter((p) => p.kernel.startsWith(`smc_step.${name}[`)).reduce((a, p) => a + p.dispatches, 0);
      if (lines[0].fwd_path !== 'step' || count('propagate') !== T + 1 || prof.length !== 1)
        throw new Error(`fwd_profile of a ${lines[0].fwd_path} forward: ${JSON.stringify(prof)}`);
      if (!prof.every((p) => p.ms > 0 && p.cpu_ms >= 0)) throw new Error(`fwd_profile times: ${JSON.stringify(prof)}`);
    },
  },
  {
    name: 'bench kernels --only copy: one record per size, gbps = 8·size/ms',
    browser: false, // lazy import of bench/ by path is a Node-side feature
    async run(engine) {
      const sizes = [1000, 70_003]; // not multiples of the workgroup size: the bench checks the tail
      const lines = [];
      for await (const l of runBench(engine, { software: true, runs: 2, warmup: 0, values: { only: 'copy', sizes: sizes.join(',') } })) lines.push(l);
      if (lines.length !== sizes.length) throw new Error(`expected ${sizes.length} records, got ${JSON.stringify(lines)}`);
      lines.forEach((l, i) => {
        const { name, size, ms, gflops, gbps } = l as Record<string, number | string>;
        if (name !== 'copy' || size !== sizes[i]) throw new Error(`record ${i}: ${JSON.stringify(l)}`);
        if (!(typeof ms === 'number' && ms > 0 && Number.isFinite(ms))) throw new Error(`record ${i}: bad ms ${ms}`);
        if (gflops !== 0) throw new Error(`copy does no flops, got ${gflops}`);
        const want = (8 * sizes[i]) / ((ms as number) * 1e6);
        if (Math.abs((gbps as number) - want) > 1e-9 * want) throw new Error(`record ${i}: gbps ${gbps} != ${want}`);
      });
    },
  },
  {
    name: 'bench modules: a missing one is skipped, a broken one throws, bad flags are rejected',
    browser: false,
    async run(engine) {
      if ((await loadBench('../../bench/kernels-does-not-exist.js')) !== undefined) throw new Error('missing module not reported as missing');
      const copy = await loadBench('../../bench/kernels-copy.js');
      if (typeof copy !== 'function') throw new Error('kernels-copy.js: runBench not found');
      const expectReject = async (what: string, p: Promise<unknown>, re: RegExp) => {
        try {
          await p;
        } catch (e) {
          if (!re.test((e as Error).message)) throw new Error(`${what}: wrong error: ${(e as Error).message}`);
          return;
        }
        throw new Error(`${what}: expected an error`);
      };
      // A module that exists but is not a bench module.
      await expectReject('not a bench', loadBench('../../bench/timing.js'), /does not export runBench/);
      const consume = async (values: Record<string, unknown>) => {
        for await (const _ of runBench(engine, { software: true, runs: 1, warmup: 0, values })) void _;
      };
      await expectReject('--only', consume({ only: 'copy,fft' }), /unknown benchmark\(s\) fft/);
      await expectReject('--sizes', consume({ only: 'copy', sizes: '10,-3' }), /--sizes: '-3' is not a positive integer/);
      await expectReject('--runs', benchCli(['kernels', '--runs', '0']), /--runs: '0' is not a positive integer/);
      await expectReject('unknown flag', benchCli(['kernels', '--particles', '3']), /particles/);
      if ((await benchCli(['fft'])) !== 2) throw new Error('unknown sub-command should exit with 2');
    },
  },
];
