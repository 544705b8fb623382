/**
 * Teacher–student recovery with the encoder proposal alone: a rank-2 student with a causal CNN encoder (a mean and a
 * log-variance head, as the reference's Poisson teacher–student run) is fitted at K = 16 to spikes sampled from the
 * Poisson oscillator teacher and must recover the latent noise level within 20 % and the frequency of its generated
 * data within 5 % (the bootstrap proposal at K = 16 ends +56 % off in noise). Two things made it robust: a 20-iteration
 * lr warmup (fit's default for the encoder proposal, which this case relies on), without which Adam's first full-size
 * steps switch the variance head off (α → 0; with lrWarmup 0 seed 1 ends at noise +125 %), and with which the head
 * fit moves far faster than one trained constant variance; and a schedule that ends at lr 1e-4 (hold 1e-2, then
 * decay), because at lr ≥ 2e-3 the fitted frequency wanders by ±5–9 %. With those alone (500 iterations, hold 300) one
 * start in five still failed: student seed 5 switched its head off at iteration ~180 (+123 %), and a build that rounded
 * differently sent seed 1 to +47.8 % (not rerun here). Seed 5's switch-off is absorbing and came with a gradient spike;
 * clipping the gradient norm at 4 (usual norms 1–4) prevented it for every start tried. Student seeds 1–8 with the clip (400 iterations, hold 250):
 * noise +6.6/+1.5/−4.5/+10.8/+0.7/+0.1/+7.8/+6.6 %, frequency −1.7 … −0.6 %; seed 1 from three starts perturbed by
 * 1e-6 (relative): +10.3/+6.0/+7.8 %. An encoder whose mean is zeroed fails (+53 %), one whose gradient is cut fails
 * on frequency (−16 %). (bench/RESULTS.md, branch `suite`.)
 */
import { presetTeacher } from '../../src/analysis/teachers.js';
import { simulateTeacher } from '../../src/analysis/teacher-simulation.js';
import { fitWarnings } from '../../src/analysis/fit-warnings.js';
import { defaultLrWarmup, fit } from '../../src/inference/trainer.js';
import { CnnEncoder, DEFAULT_ENCODER, type EncoderConfig } from '../../src/models/encoder.js';
import { LowRankRNN, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import type { GpuCase } from './types.js';
import { teacherStudentRecovery } from './teacher-student.cases.js';

const NOISE_TOLERANCE = 0.2;
const FREQ_TOLERANCE = 0.05;

export const cases: GpuCase[] = [
  {
    // Adam's first update moves every parameter by the full lr, whatever its gradient: at lr 1e-2 the ~38,000
    // weights of this encoder (fan-in 840 and 352) move its log-variances by ±3 and its means by up to −8 in one
    // step; the fit then raises every variance to the 100 bound (α → 0.001 by iteration 10), where the clamp passes no
    // gradient and the encoder stays off. The reference (RAdam, lr 1e-3) takes small first steps; the linear lr warm-up
    // an encoder-proposal fit gets by default (min(20, iterations / 2): 15 here) does the same for Adam at lr 1e-2.
    name: 'encoder with a log-variance head (acausal) at lr 1e-2: with lrWarmup 0 the fit switches it off (α → 0) and warns once; the default warm-up keeps it on',
    browser: false,
    // ~15 s of process CPU time on lavapipe
    timeoutMs: 600_000,
    async run(engine) {
      const t = presetTeacher('osc-poisson');
      const [trials, T, D] = [32, 100, t.config.obsDim];
      const data = (await simulateTeacher(engine, t, { trials, steps: T, seed: 1 })).sample;
      const enc: EncoderConfig = {
        ...DEFAULT_ENCODER,
        inChannels: D,
        kernels: [21, 11, 1],
        channels: [32, 32],
        placement: 'acausal',
        padMode: 'circular',
        initScale: 0.3,
      };
      const config: ModelConfig = { ...t.config, noise: 'diag', encoder: enc, initNoiseZ: 0.3, initNoiseZ0: 1, initNoiseX: 0.3, initDecay: 0.9 };
      const iterations = 30;
      const run = async (lrWarmup: number | undefined) => {
        const model = LowRankRNN.create(engine, config, 1);
        const encoder = CnnEncoder.create(engine, enc, config.rank, 1);
        const warnings: string[] = [];
        try {
          const r = await fit(engine, model, { data, trials, time: T, channels: D }, null, {
            iterations,
            particles: 16,
            batch: 8,
            window: T,
            proposal: 'encoder',
            encoder,
            optimizer: 'adam',
            lr: 0.01,
            lrEnd: 0.01,
            lrWarmup,
            seed: 1,
            logEvery: 10,
            onProgress: (p) => void (p.warning && warnings.push(p.warning)),
          });
          return { history: r.history, alphas: r.history.filter((h) => h.alpha !== undefined).map((h) => h.alpha!), warnings };
        } finally {
          model.dispose();
          encoder.dispose();
        }
      };
      const off = await run(0);
      const on = await run(undefined);
      const fmt = (a: number[]) => a.map((x) => x.toFixed(4));
      console.log(`encoder α at iterations 10/20/30: lrWarmup 0 ${fmt(off.alphas)}; default warm-up ${fmt(on.alphas)}`);
      // the start gives α ≈ 0.5 (encoder std 0.3 against latent noise 0.3)
      if (!(off.alphas.length === 3 && off.alphas[2] < 0.01)) throw new Error(`with lrWarmup 0 the encoder was expected to be switched off (α ${off.alphas})`);
      if (!(on.alphas.length === 3 && on.alphas.every((a) => a > 0.15))) throw new Error(`with the default warm-up the encoder's α fell to ${on.alphas}`);
      // the default is the 15-iteration ramp: lr 0.01·(i + 1)/15, then 0.01
      const ramp = Array.from({ length: iterations }, (_, i) => 0.01 * Math.min(1, (i + 1) / defaultLrWarmup('encoder', iterations)));
      if (defaultLrWarmup('encoder', iterations) !== 15 || on.history.some((h, i) => Math.abs(h.lr - ramp[i]) > 1e-15))
        throw new Error(`default warm-up schedule ${on.history.map((h) => h.lr)}`);
      // the collapse is reported once, at the first report below 5e-3, and again by the end-of-fit warnings; a healthy fit reports nothing
      const first = off.history.find((h) => h.alpha !== undefined && h.alpha < 5e-3);
      if (!(off.warnings.length === 1 && first && off.warnings[0].includes(`at iteration ${first.iteration} `)))
        throw new Error(`expected one warning naming iteration ${first?.iteration}, got ${JSON.stringify(off.warnings)}`);
      if (!/switched itself off/.test(off.warnings[0]) || !fitWarnings({ history: off.history, particles: 16 }).includes(off.warnings[0]))
        throw new Error(`the warning ${off.warnings[0]} is not the end-of-fit one`);
      if (on.warnings.length || fitWarnings({ history: on.history, particles: 16 }).some((w) => /encoder/.test(w)))
        throw new Error(`a healthy encoder fit warned: ${on.warnings}`);
    },
  },
  {
    name: 'teacher–student: Poisson oscillator, encoder proposal alone at K = 16, recovers the latent noise (20 %) and the frequency (5 %)',
    // A statistical fixed-seed fit: Node only (SwiftShader's coarser transcendentals take another path, several times slower).
    browser: false,
    // ~21–25 s of process CPU time for the fit on lavapipe, plus the scoring
    timeoutMs: 600_000,
    async run(engine) {
      // the shared recovery also checks the held-out log-likelihood (3 %) and that a student with its noise × 1.87 fails
      const r = await teacherStudentRecovery(engine, {
        teacher: presetTeacher('osc-poisson'),
        trainTrials: 32,
        heldOutTrials: 16,
        steps: 100,
        proposal: 'encoder',
        encoder: { kernels: [21, 11, 1], channels: [32, 32], padMode: 'circular', constantVar: false, initScale: 0.3 },
        particles: 16,
        batch: 8,
        window: 100,
        iterations: 400,
        lr: 0.01,
        // no lrWarmup: the default, 20 iterations here
        lrHold: 250,
        lrEnd: 1e-4,
        // the head's switch-off is absorbing (no gradient passes the variance clamp): without a clip, one gradient spike at
        // lr 1e-2 (norm ~8 where the usual is 1–4) switched student seed 5 off at iteration ~180 (noise +123 %)
        clipGradNorm: 4,
        seed: 1,
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
