/**
 * Teacher–student recovery with the encoder proposal alone: a rank-2 student with a causal CNN encoder is fitted
 * at K = 16 to spikes sampled from the Poisson oscillator teacher and must recover the latent noise level within
 * 20 % and the frequency of its generated data within 5 % (the bootstrap proposal at K = 16 ends +56 % off in
 * noise). The K = 16 bound is not what held earlier fits at +40 % noise (at such a fit it peaks near +3 %): the
 * noise falls slowly, so the fit needs 1000 iterations at a gently decaying lr. Student seeds 1/2/3 (lavapipe):
 * noise +18.3/+0.9/+15.0 %, frequency −0.8/−3.7/−7.9 % — seed 3 misses the frequency bound, and seed 1's noise
 * margin is thin (bench/RESULTS.md, "Teacher–student Poisson oscillator with the encoder proposal alone").
 */
import { presetTeacher } from '../../src/analysis/teachers.js';
import type { GpuCase } from './types.js';
import { teacherStudentRecovery } from './teacher-student.cases.js';

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
      // the shared recovery also checks the held-out log-likelihood (3 %) and that a student with its noise × 1.87 fails
      const r = await teacherStudentRecovery(engine, {
        teacher: presetTeacher('osc-poisson'),
        trainTrials: 32,
        heldOutTrials: 16,
        steps: 100,
        proposal: 'encoder',
        encoder: { kernels: [21, 11, 1], channels: [32, 32], padMode: 'circular', constantVar: true, initScale: 0.3 },
        particles: 16,
        batch: 8,
        window: 100,
        iterations: 1000,
        lr: 0.01,
        lrEnd: 0.004,
        studentNoiseInit: 0.3,
        studentObsNoiseInit: 0.3,
        noiseTolerance: NOISE_TOLERANCE,
        freqTolerance: FREQ_TOLERANCE,
      });
      // the start is far off, so passing is the fit's doing
      if (!(Math.abs(r.noiseLevelErrorStart) > 2 * NOISE_TOLERANCE))
        throw new Error(`the student starts with noise level ${(100 * r.noiseLevelErrorStart).toFixed(1)} % off`);
    },
  },
];
