/**
 * What a benchmark module gets and yields (`lowrank-smc bench`, src/cli/bench.ts): kept apart from the
 * CLI so the bench modules the CLI loads do not import it back.
 */
import type { ParseArgsConfig } from 'node:util';
import type { Engine } from '../src/gpu/engine.js';

export type BenchLine = Record<string, unknown>;

export interface BenchContext {
  software: boolean;
  runs: number;
  warmup: number;
  /** Parsed values of the common and the sub-command's own options. */
  values: Record<string, unknown>;
}

export interface BenchSubcommand {
  summary: string;
  options?: ParseArgsConfig['options'];
  usage?: string;
  /** Throws a clear error for bad flag values; called before the engine is created. */
  validate?(values: Record<string, unknown>): void;
  runBench(engine: Engine, ctx: BenchContext): AsyncIterable<BenchLine>;
}
