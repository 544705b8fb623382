import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../gpu/engine.js';
import type { Backend } from '../gpu/acquire.js';
import { loadDataset, saveNpy, writeFileAtomic } from '../io/files.js';
import { serializeModel } from '../models/model-file.js';
import { presetTeacher, teacherFromJson, TEACHER_PRESETS, type Teacher } from '../analysis/teachers.js';
import { describeTeacher, simulateTeacher } from '../analysis/teacher-simulation.js';

export const summary = 'sample .npy data (trial, time, channel) from a teacher model (oscillator presets, reach teacher, model files)';

const USAGE = `lowrank-smc simulate --teacher <${TEACHER_PRESETS.join('|')}|file.json> --trials K --steps T --out data.npy
                     [--seed S] [--inputs u.npy] [--latents z.npy] [--teacher-out t.json] [--json] [--backend auto|vulkan|opengles]

  --teacher  osc-gauss    rank-2 tanh oscillator, 20 Gaussian channels (σ = 0.1), latent noise std 0.1
             osc-poisson  the same latents, 40 Poisson channels, rates softplus(Bᵀz − 1.5)
             osc-units    the same oscillator's 20 units are the 20 channels (their currents m z, σ = 0.1):
                          the reference tutorial's kind of data
             file.json    a teacher RNN file (N, R, alpha, m, n, b_rec, ...; e.g. teacher_reach_rank2.json)
                          or a lowrank-smc model file
  --inputs   inputs (trials, time, channel) or (time, channel) for every trial; the reach teacher
             defaults to its 8 reach stimuli (target k mod 8, on for steps [25, 50))
  --out      observations (trials, steps, channels) float32; a sidecar <out>.teacher.json describes
             the teacher (preset, true noise, frequency)
  --latents  also write the true latents (trials, steps, rank)
  --teacher-out  also write the teacher as a lowrank-smc model file (e.g. to score it with \`filter\`
             under the same filter as a fitted student)
  --json     print the sidecar to stdout`;

function positiveInt(name: string, v: string | undefined): number {
  if (v === undefined) throw new Error(`--${name} is required\n\n${USAGE}`);
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1) throw new Error(`--${name} must be a positive integer, got "${v}"`);
  return x;
}

async function checkWritable(path: string, what: string, ext = '.npy'): Promise<void> {
  if (!path.toLowerCase().endsWith(ext)) throw new Error(`--${what} ${path}: must end in ${ext}`);
  const dir = dirname(path);
  const ok = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!ok) throw new Error(`--${what} ${path}: directory ${dir} does not exist`);
}

export async function loadTeacher(spec: string): Promise<Teacher> {
  if ((TEACHER_PRESETS as readonly string[]).includes(spec)) return presetTeacher(spec);
  if (!spec.toLowerCase().endsWith('.json')) throw new Error(`--teacher "${spec}" is neither a preset (${TEACHER_PRESETS.join(', ')}) nor a .json file`);
  let text: string;
  try {
    text = await readFile(spec, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`--teacher ${spec}: ${code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
  return teacherFromJson(text, spec);
}

export function sidecarPath(out: string): string {
  return out.replace(/\.npy$/i, '') + '.teacher.json';
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      teacher: { type: 'string' },
      trials: { type: 'string' },
      steps: { type: 'string' },
      seed: { type: 'string', default: '0' },
      inputs: { type: 'string' },
      out: { type: 'string' },
      latents: { type: 'string' },
      'teacher-out': { type: 'string' },
      json: { type: 'boolean' },
      backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  // Everything is checked before the GPU starts.
  if (!values.teacher) throw new Error(`--teacher is required\n\n${USAGE}`);
  const trials = positiveInt('trials', values.trials);
  const steps = positiveInt('steps', values.steps);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got "${values.seed}"`);
  if (!values.out) throw new Error(`--out is required\n\n${USAGE}`);
  await checkWritable(values.out, 'out');
  if (values.latents) {
    await checkWritable(values.latents, 'latents');
    if (resolve(values.latents) === resolve(values.out)) throw new Error('--latents and --out name the same file');
  }
  if (values['teacher-out']) await checkWritable(values['teacher-out'], 'teacher-out', '.json');
  const teacher = await loadTeacher(values.teacher);
  const DU = teacher.config.inputDim;
  let inputs: Float32Array | undefined;
  if (values.inputs) {
    if (DU === 0) throw new Error(`--inputs ${values.inputs}: teacher ${teacher.name} takes no inputs`);
    const u = await loadDataset(values.inputs);
    if (u.channels !== DU) throw new Error(`--inputs ${values.inputs}: ${u.channels} input channel(s), the teacher has ${DU}`);
    if (u.time !== steps) throw new Error(`--inputs ${values.inputs}: ${u.time} time steps, --steps is ${steps}`);
    if (u.trials !== 1 && u.trials !== trials) {
      throw new Error(`--inputs ${values.inputs}: ${u.trials} trials, --trials is ${trials} (give one trial to use it for all)`);
    }
    inputs = new Float32Array(trials * steps * DU);
    for (let k = 0; k < trials; k++) inputs.set(u.trials === 1 ? u.data : u.data.subarray(k * steps * DU, (k + 1) * steps * DU), k * steps * DU);
  }

  const engine = await createEngine({ backend: values.backend as Backend });
  try {
    const sim = await simulateTeacher(engine, teacher, { trials, steps, seed, inputs });
    const D = teacher.config.obsDim;
    await saveNpy(values.out, sim.sample, [trials, steps, D]);
    if (values.latents) await saveNpy(values.latents, sim.z, [trials, steps, teacher.config.rank]);
    const side = {
      ...describeTeacher(teacher, sim),
      data: {
        file: values.out,
        shape: [trials, steps, D],
        layout: 'trial,time,channel',
        seed,
        inputs: values.inputs ?? (sim.inputs ? 'teacher default' : null),
      },
      latents: values.latents ? { file: values.latents, shape: [trials, steps, teacher.config.rank] } : null,
    };
    const text = JSON.stringify(side, null, 2);
    await writeFileAtomic(sidecarPath(values.out), text + '\n');
    if (values['teacher-out']) {
      const file = serializeModel(teacher.config, teacher.params, teacher.normalisation, null);
      await writeFileAtomic(values['teacher-out'], JSON.stringify(file) + '\n');
    }
    if (values.json) console.log(JSON.stringify(side));
    else
      console.log(
        `wrote ${values.out} (${trials} × ${steps} × ${D}) from ${teacher.name}${values.latents ? ` and latents ${values.latents}` : ''}; ` +
          `teacher described in ${sidecarPath(values.out)}`,
      );
  } finally {
    engine.destroy();
  }
  return 0;
}
