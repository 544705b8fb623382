import { parseArgs } from 'node:util';
import { createEngine } from '../gpu/engine.js';
import type { Backend } from '../gpu/acquire.js';

export const summary = 'describe the WebGPU adapter and device the engine gets';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean' }, backend: { type: 'string', default: 'auto' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    console.log('lowrank-smc info [--json] [--backend auto|vulkan|opengles|null]');
    return 0;
  }
  const engine = await createEngine({ backend: values.backend as Backend });
  const i = engine.info;
  const out = {
    backend: i.backend,
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    featureLevel: i.featureLevel,
    software: i.software,
    features: i.features,
    limits: i.limits,
  };
  if (values.json) console.log(JSON.stringify(out));
  else {
    console.log(`backend      ${out.backend} (${out.featureLevel})`);
    console.log(`adapter      ${out.vendor} ${out.architecture} ${out.description}${out.software ? ' [software]' : ''}`);
    console.log(`features     ${out.features.join(', ')}`);
    for (const [k, v] of Object.entries(out.limits)) console.log(`  ${k.padEnd(44)} ${v}`);
  }
  engine.destroy();
  return 0;
}
