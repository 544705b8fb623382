/**
 * Teacher–student recovery with the encoder proposal alone: a rank-2 student with a causal CNN encoder is fitted
 * at K = 16 to spikes sampled from the Poisson oscillator teacher and must recover the latent noise level within
 * 20 % and the frequency of its generated data within 5 % (the bootstrap proposal at K = 16 ends +56 % off in
 * noise). The K = 16 bound is not what held earlier fits at +40 % noise (at such a fit it peaks near +3 %): the
 * noise falls slowly, so the fit needs 1000 iterations at a gently decaying lr. Student seeds 1/2/3 (lavapipe):
 * noise +18.3/+0.9/+15.0 %, frequency −0.8/−3.7/−7.9 % — seed 3 misses the frequency bound, and seed 1's noise
 * margin is thin (bench/RESULTS.md, "Teacher–student Poisson oscillator with the encoder proposal alone").
 */
import { observedTransitionNoise } from '../../src/analysis/latent-dynamics.js';
import { simulateTeacher } from '../../src/analysis/teacher-simulation.js';
import { presetTeacher } from '../../src/analysis/teachers.js';
import type { Engine } from '../../src/gpu/engine.js';
import { fit } from '../../src/inference/trainer.js';
import { CnnEncoder, DEFAULT_ENCODER, type EncoderConfig } from '../../src/models/encoder.js';
import { LowRankRNN, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import type { GpuCase } from './types.js';
import { generatedFrequency } from './teacher-student.cases.js';

export interface EncoderRecoverySpec {
  /** Student seed (model and encoder initialisation, minibatches and particles). */
  seed: number;
  trials: number;
  steps: number;
  encoder: Pick<EncoderConfig, 'kernels' | 'channels'> & Partial<EncoderConfig>;
  particles: number;
  batch: number;
  iterations: number;
  lr: number;
  lrEnd: number;
  /** Student latent noise std at the start (the teacher's is 0.1: recovery is not inherited from the init). */
  noiseInit: number;
}

export interface EncoderRecovery {
  /** √(tr BᵀΣzB student / teacher) − 1, at the start and after the fit. */
  noiseErrorStart: number;
  noiseError: number;
  freqTeacher: number;
  freqStudent: number;
  freqError: number;
  /** Encoder's share α of the proposal mean at the last logged iteration. */
  alpha: number;
  cpuSeconds: number;
}

/** Fits the encoder proposal alone to the osc-poisson teacher's spikes; returns the recovery figures. */
export async function encoderRecovery(engine: Engine, spec: EncoderRecoverySpec): Promise<EncoderRecovery> {
  const cpu0 = process.cpuUsage();
  const t = presetTeacher('osc-poisson');
  const D = t.config.obsDim;
  const sim = await simulateTeacher(engine, t, { trials: spec.trials, steps: spec.steps, seed: 1 });
  const encoder: EncoderConfig = { ...DEFAULT_ENCODER, inChannels: D, ...spec.encoder };
  // the encoder proposal combines diagonal Gaussians (the teacher's noise has zero correlations)
  const config: ModelConfig = { ...t.config, noise: 'diag', encoder, initNoiseZ: spec.noiseInit, initNoiseZ0: 1, initNoiseX: 0.3, initDecay: 0.9 };
  const student = LowRankRNN.create(engine, config, spec.seed);
  const cnn = CnnEncoder.create(engine, encoder, config.rank, spec.seed);
  const teacher = new LowRankRNN(engine, t.config, t.params);
  const noiseTeacher = observedTransitionNoise(t.config, t.params);
  const noiseError = async () => Math.sqrt(observedTransitionNoise(config, await student.hostParams()) / noiseTeacher) - 1;
  try {
    const noiseErrorStart = await noiseError();
    const res = await fit(engine, student, { data: sim.sample, trials: spec.trials, time: spec.steps, channels: D }, null, {
      iterations: spec.iterations,
      particles: spec.particles,
      batch: spec.batch,
      proposal: 'encoder',
      encoder: cnn,
      optimizer: 'adam',
      lr: spec.lr,
      lrEnd: spec.lrEnd,
      seed: spec.seed,
      logEvery: 100,
    });
    const freqTeacher = await generatedFrequency(teacher);
    const freqStudent = await generatedFrequency(student);
    const cpu = process.cpuUsage(cpu0);
    return {
      noiseErrorStart,
      noiseError: await noiseError(),
      freqTeacher,
      freqStudent,
      freqError: freqStudent / freqTeacher - 1,
      alpha: res.history[res.history.length - 1].alpha!,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  } finally {
    student.dispose();
    cnn.dispose();
    teacher.dispose();
  }
}

const NOISE_TOLERANCE = 0.2;
const FREQ_TOLERANCE = 0.05;

export const cases: GpuCase[] = [
  {
    name: 'teacher–student: Poisson oscillator, encoder proposal alone at K = 16, recovers the latent noise (20 %) and the frequency (5 %)',
    // A statistical fixed-seed fit: Node only (SwiftShader's coarser transcendentals take another path, several times slower).
    browser: false,
    // ~130 s of process CPU time on lavapipe
    timeoutMs: 600_000,
    async run(engine) {
      const r = await encoderRecovery(engine, {
        seed: 1,
        trials: 32,
        steps: 100,
        encoder: { kernels: [21, 11, 1], channels: [32, 32], padMode: 'circular', constantVar: true, initScale: 0.3 },
        particles: 16,
        batch: 8,
        iterations: 1000,
        lr: 0.01,
        lrEnd: 0.004,
        noiseInit: 0.3,
      });
      console.log(`teacher-student encoder: ${JSON.stringify(r)}`);
      // the start is far off, so passing is the fit's doing
      if (!(Math.abs(r.noiseErrorStart) > 2 * NOISE_TOLERANCE))
        throw new Error(`the student starts with noise level ${(100 * r.noiseErrorStart).toFixed(1)} % off`);
      const problems: string[] = [];
      if (!(Math.abs(r.noiseError) <= NOISE_TOLERANCE)) problems.push(`noise level off by ${(100 * r.noiseError).toFixed(1)} %`);
      if (!(Math.abs(r.freqError) <= FREQ_TOLERANCE))
        problems.push(`frequency off by ${(100 * r.freqError).toFixed(1)} % (${r.freqStudent.toFixed(4)} vs ${r.freqTeacher.toFixed(4)} cycles/step)`);
      if (problems.length) throw new Error(`encoder-proposal student: ${problems.join('; ')}`);
    },
  },
];
