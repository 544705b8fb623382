// Runs one GPU case on the engine all cases share (test/gpu.test.ts under Node, the browser page).
import { Tape } from '../../src/autodiff/tape.js';
import type { Engine } from '../../src/gpu/engine.js';
import type { GpuCase } from './types.js';

/**
 * A case that left a tape recording on the shared engine would record (and leak) the ops of whichever
 * case runs next: fail the case that left it, and stop the recording either way.
 */
export async function runCase(engine: Engine, c: GpuCase): Promise<void> {
  try {
    await c.run(engine);
  } catch (e) {
    Tape.active(engine)?.dispose();
    throw e;
  }
  const tape = Tape.active(engine);
  tape?.dispose();
  if (tape) throw new Error('the case left a tape recording on the shared engine (Tape.begin without end)');
}
