import { parseArgs } from 'node:util';
import type { Backend } from '../gpu/acquire.js';
import { runWorker } from '../sweep/index.js';
import { choiceOption, numberOption } from './common.js';

export const summary = 'take sweep jobs from the Redis queue and fit them (one per GPU; runs until SIGINT/SIGTERM)';

const USAGE = `lowrank-smc worker --redis URL --store DIR [options]
  --redis URL          redis://[user:password@]host:port or rediss://... (default $LOWRANK_SMC_REDIS or redis://127.0.0.1:6379)
  --store DIR          the store directory the submitter used (shared file system)
  --concurrency N (1)  jobs at once in this process (one GPU: keep 1; start one worker per GPU instead)
  --backend auto|vulkan|opengles
  --name NAME          shown in sweep status (default host:pid)
  --lock-ms MS (30000) a job whose worker stops renewing its lock for this long (crash, SIGKILL) is
                       handed to another worker, which resumes it from its last checkpoint (fits run in a
                       child process, so kernel compilation does not delay the renewals)
  --stalled-check-ms MS (30000)  how often this worker looks for such jobs`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      redis: { type: 'string' },
      store: { type: 'string' },
      concurrency: { type: 'string' },
      backend: { type: 'string' },
      name: { type: 'string' },
      'lock-ms': { type: 'string' },
      'stalled-check-ms': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.store) throw new Error('--store DIR is required\n\n' + USAGE);
  const worker = await runWorker({
    redis: values.redis ?? process.env.LOWRANK_SMC_REDIS ?? 'redis://127.0.0.1:6379',
    store: values.store,
    concurrency: numberOption(values.concurrency, 'concurrency', { int: true, min: 1, default: 1 }),
    backend: choiceOption(values.backend, 'backend', ['auto', 'vulkan', 'opengles'] as const, 'auto') as Backend,
    name: values.name,
    lockDurationMs: numberOption(values['lock-ms'], 'lock-ms', { int: true, min: 1000, default: 30_000 }),
    stalledIntervalMs: numberOption(values['stalled-check-ms'], 'stalled-check-ms', { int: true, min: 500, default: 30_000 }),
    log: (line) => console.error(`[${new Date().toISOString()}] ${line}`),
  });
  console.error(`worker ${worker.name}: waiting for jobs (Ctrl-C stops after the running jobs)`);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
  });
  console.error(`worker ${worker.name}: stopping`);
  await worker.close();
  return 0;
}
