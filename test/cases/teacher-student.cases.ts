/**
 * Teacher–student recovery (issue 3 item 8) and the teacher simulator. Students (rank 2, tanh, our
 * reference initialisation with a latent noise init far from the teacher's) are fitted with `fit` to
 * data sampled from the oscillator teachers and must
 *  (a) recover the latent noise level within 25 %,
 *  (b) generate data whose oscillation frequency (autocorrelation) is within 10 % of the teacher's generated data,
 *  (c) reach a held-out log-likelihood per step within 3 % of the teacher's own under the same filter
 *      (same particles, proposal and random numbers).
 * (c) alone is weak: a Poisson student whose noise ended 87 % above the teacher's was within 3 % on
 * held-out log-likelihood. So each run also scores a copy of the fitted student with its latent noise
 * std scaled by 1.87 and requires the same checks to reject it, by the noise level (a).
 * Sizes and iteration counts are tuned to the software adapter; seeds are fixed.
 */
import { autocorrelationPeriod } from '../../src/analysis/oscillation.js';
import { generate } from '../../src/analysis/generate.js';
import type { Engine } from '../../src/gpu/engine.js';
import { filterDataset } from '../../src/inference/filter.js';
import type { Proposal } from '../../src/models/theta-layout.js';
import { fit } from '../../src/inference/trainer.js';
import type { Dataset } from '../../src/io/dataset.js';
import { parseNpy } from '../../src/io/npy.js';
import { LowRankRNN, type HostParams, type ModelConfig } from '../../src/models/lowrank-rnn.js';
import { CnnEncoder, DEFAULT_ENCODER, type EncoderConfig } from '../../src/models/encoder.js';
import { presetTeacher, teacherFromJson, type Teacher } from '../../src/analysis/teachers.js';
import { latentStep, observedTransitionNoise } from '../../src/analysis/latent-dynamics.js';
import { simulateTeacher } from '../../src/analysis/teacher-simulation.js';
import type { GpuCase } from './types.js';
import { sharedData } from '../shared-data.js';

interface RecoverySpec {
  teacher: Teacher;
  trainTrials: number;
  heldOutTrials: number;
  steps: number;
  proposal: Proposal;
  particles: number;
  batch: number;
  window: number;
  iterations: number;
  lr: number;
  lrEnd: number;
  lrHold?: number;
  lrWarmup?: number;
  /** Clip the gradient's L2 norm (fit's clipGradNorm; default none). */
  clipGradNorm?: number;
  /** Student latent-noise init (the teacher's differs, so recovery is not inherited from the init). */
  studentNoiseInit: number;
  studentObsNoiseInit: number;
  /** Further fits, each from the previous one's parameters (fresh optimiser state); the encoder carries over. */
  refine?: FitPhase[];
  /** The student's CNN encoder (proposal 'encoder'; the student's latent noise is then diagonal). */
  encoder?: Pick<EncoderConfig, 'kernels' | 'channels'> & Partial<EncoderConfig>;
  /** Seed of the student's initialisation and of its fit (default 1; phase i fits with seed + i). */
  seed?: number;
  /** Allowed |noise level error| (default 25 %) and |frequency error| (default 10 %). */
  noiseTolerance?: number;
  freqTolerance?: number;
}

interface FitPhase {
  /** Default: the spec's proposal and window. */
  proposal?: Proposal;
  window?: number;
  particles: number;
  iterations: number;
  lr: number;
  lrEnd: number;
  lrHold?: number;
  lrWarmup?: number;
  clipGradNorm?: number;
}

/** Allowed |noise level error| and |frequency error| (the targets) unless a case sets its own. */
const NOISE_TOLERANCE = 0.25;
const FREQ_TOLERANCE = 0.1;
/** Latent noise std factor of the deliberately wrong student that the checks must reject. */
const PERTURBED_NOISE = 1.87;

export interface RecoveryFigures {
  teacher: string;
  noiseTeacher: number;
  noiseStudent: number;
  /** √(tr BᵀΣzB student / teacher) − 1: relative error of the noise level (a std). */
  noiseLevelError: number;
  /** The same before the fit (the student's initialisation). */
  noiseLevelErrorStart: number;
  freqTeacher: number;
  freqStudent: number;
  freqError: number;
  llTeacher: number;
  llStudent: number;
  /** (student − teacher) / |teacher|. */
  llError: number;
  fitSeconds: number;
  totalSeconds: number;
}

const toDataset = (data: Float32Array, trials: number, time: number, channels: number): Dataset => ({ data, trials, time, channels });

/**
 * Frequency of generated observations: 1 / the autocorrelation's first peak over 16 long sequences after a
 * burn-in (same seed for both models). The spectral peak of 4 sequences was too noisy for a student with
 * more noise than the teacher: one fitted Poisson student gave −8.3 / +1.4 / +1.1 % with generator seeds
 * 5 / 6 / 7, where the autocorrelation over 16 sequences gives −1.8 / −1.9 / −1.5 % (the teacher's own
 * estimates agree within 1 % with either).
 */
export async function generatedFrequency(model: LowRankRNN): Promise<number> {
  const steps = 2048;
  const sequences = 16;
  const g = await generate(model, { steps, sequences, burnIn: 100, seed: 5 });
  // lags up to ~7 teacher periods: the first peak lies well inside
  return 1 / autocorrelationPeriod({ data: g.sample, sequences, time: steps, channels: model.config.obsDim }, 200);
}

export async function teacherStudentRecovery(engine: Engine, spec: RecoverySpec): Promise<RecoveryFigures> {
  const t0 = performance.now();
  const { teacher: t, steps: T } = spec;
  const D = t.config.obsDim;
  const train = await simulateTeacher(engine, t, { trials: spec.trainTrials, steps: T, seed: 1 });
  const heldOut = await simulateTeacher(engine, t, { trials: spec.heldOutTrials, steps: T, seed: 2 });
  const trainDs = toDataset(train.sample, spec.trainTrials, T, D);
  const heldOutDs = toDataset(heldOut.sample, spec.heldOutTrials, T, D);
  const teacherModel = new LowRankRNN(engine, t.config, t.params);
  const encoderConfig: EncoderConfig | undefined = spec.encoder && { ...DEFAULT_ENCODER, inChannels: D, ...spec.encoder };
  const studentConfig: ModelConfig = {
    ...t.config,
    // the encoder proposal combines diagonal Gaussians (the teacher's full noise has zero correlations)
    ...(encoderConfig ? { noise: 'diag' as const, encoder: encoderConfig } : {}),
    initNoiseZ: spec.studentNoiseInit,
    initNoiseZ0: 1,
    initNoiseX: spec.studentObsNoiseInit,
    initDecay: 0.9,
  };
  const seed = spec.seed ?? 1;
  const student = LowRankRNN.create(engine, studentConfig, seed);
  const encoder = encoderConfig && CnnEncoder.create(engine, encoderConfig, t.config.rank, seed);
  const noiseTolerance = spec.noiseTolerance ?? NOISE_TOLERANCE;
  const freqTolerance = spec.freqTolerance ?? FREQ_TOLERANCE;
  const noiseLevelError = async (model: LowRankRNN) =>
    Math.sqrt(observedTransitionNoise(studentConfig, await model.hostParams()) / observedTransitionNoise(t.config, t.params)) - 1;
  try {
    const noiseLevelErrorStart = await noiseLevelError(student);
    const f0 = performance.now();
    const phases: FitPhase[] = [spec, ...(spec.refine ?? [])];
    for (const [i, ph] of phases.entries()) {
      await fit(engine, student, trainDs, null, {
        iterations: ph.iterations,
        particles: ph.particles,
        batch: spec.batch,
        window: ph.window ?? spec.window,
        proposal: ph.proposal ?? spec.proposal,
        encoder: (ph.proposal ?? spec.proposal) === 'encoder' ? encoder : undefined,
        optimizer: 'adam',
        lr: ph.lr,
        lrEnd: ph.lrEnd,
        lrHold: ph.lrHold,
        lrWarmup: ph.lrWarmup,
        clipGradNorm: ph.clipGradNorm,
        seed: seed + i,
        logEvery: 100,
      });
      const err = await noiseLevelError(student);
      console.log(`teacher-student ${t.name} phase ${i + 1} (K = ${ph.particles}, ${ph.iterations} iterations): noise level ${(100 * err).toFixed(1)} %`);
    }
    const fitSeconds = (performance.now() - f0) / 1000;
    // the teacher has no encoder: an encoder-trained student is scored, like the teacher, under the bootstrap proposal
    const filterOpts = { particles: spec.particles, proposal: spec.proposal === 'encoder' ? ('bootstrap' as const) : spec.proposal, seed: 9 };
    const teacherScores = {
      noise: observedTransitionNoise(t.config, t.params),
      freq: await generatedFrequency(teacherModel),
      // (c) held-out log-likelihood per step, same filter settings and seed for every model
      ll: (await filterDataset(teacherModel, heldOutDs, null, filterOpts)).llPerStep,
    };
    /** Scores a student against the teacher; returns the figures and what is out of tolerance. */
    const score = async (model: LowRankRNN) => {
      // (a) latents are identified only up to an invertible linear map (z → A z changes Σz but not
      // BᵀΣzB), so the noise level is compared in observation space.
      const noiseStudent = observedTransitionNoise(studentConfig, await model.hostParams());
      // (b) frequencies of generated data
      const freqStudent = await generatedFrequency(model);
      const llStudent = (await filterDataset(model, heldOutDs, null, filterOpts)).llPerStep;
      const { noise: noiseTeacher, freq: freqTeacher, ll: llTeacher } = teacherScores;
      const fig: RecoveryFigures = {
        teacher: t.name,
        noiseTeacher,
        noiseStudent,
        noiseLevelError: Math.sqrt(noiseStudent / noiseTeacher) - 1,
        noiseLevelErrorStart,
        freqTeacher,
        freqStudent,
        freqError: freqStudent / freqTeacher - 1,
        llTeacher,
        llStudent,
        llError: (llStudent - llTeacher) / Math.abs(llTeacher),
        fitSeconds,
        totalSeconds: (performance.now() - t0) / 1000,
      };
      const problems: string[] = [];
      if (!(Math.abs(fig.noiseLevelError) <= noiseTolerance))
        problems.push(`noise level off by ${(100 * fig.noiseLevelError).toFixed(1)} % (tr BᵀΣzB ${noiseStudent.toFixed(4)} vs ${noiseTeacher.toFixed(4)})`);
      if (!(Math.abs(fig.freqError) <= freqTolerance))
        problems.push(`frequency off by ${(100 * fig.freqError).toFixed(1)} % (${freqStudent.toFixed(4)} vs ${freqTeacher.toFixed(4)} cycles/step)`);
      if (!(Math.abs(fig.llError) <= 0.03))
        problems.push(`held-out ll per step off by ${(100 * fig.llError).toFixed(2)} % (${llStudent.toFixed(3)} vs ${llTeacher.toFixed(3)})`);
      return { fig, problems };
    };
    const { fig, problems } = await score(student);
    console.log(`teacher-student ${JSON.stringify(fig)}`);
    if (problems.length) throw new Error(`${t.name} student: ${problems.join('; ')}`);
    // The checks must also be able to fail: the fitted student with its latent noise std × 1.87.
    const perturbed = new LowRankRNN(engine, studentConfig, scaleLatentNoise(studentConfig, await student.hostParams(), PERTURBED_NOISE));
    try {
      const bad = await score(perturbed);
      console.log(`teacher-student perturbed (latent noise std × ${PERTURBED_NOISE}) ${JSON.stringify(bad.fig)}: ${bad.problems.join('; ') || 'accepted'}`);
      if (!bad.problems.some((p) => p.startsWith('noise level'))) {
        throw new Error(
          `${t.name}: a student with its latent noise std × ${PERTURBED_NOISE} passed the noise check (${(100 * bad.fig.noiseLevelError).toFixed(1)} %)`,
        );
      }
    } finally {
      perturbed.dispose();
    }
    return fig;
  } finally {
    teacherModel.dispose();
    student.dispose();
    encoder?.dispose();
  }
}

/** Parameters with the latent transition noise std scaled by `factor` (Σz → factor² Σz; Σz0 kept). */
function scaleLatentNoise(config: ModelConfig, params: HostParams, factor: number): HostParams {
  const R = config.rank;
  const noiseZ = Float32Array.from(params.noiseZ);
  // raw holds log variances on the diagonal (and, for full noise, the Cholesky factor below it)
  const logVar = 2 * Math.log(factor);
  if (config.noise === 'full') {
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < r; c++) noiseZ[r * R + c] *= factor;
      noiseZ[r * R + r] += logVar;
    }
  } else for (let i = 0; i < noiseZ.length; i++) noiseZ[i] += logVar;
  return { ...params, noiseZ };
}

function std(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m += x[i];
  m /= x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - m) ** 2;
  return Math.sqrt(v / x.length);
}

function expectNear(actual: number, expected: number, rtol: number, what: string): void {
  if (!(Math.abs(actual - expected) <= rtol * Math.abs(expected))) throw new Error(`${what}: ${actual} is not within ${100 * rtol} % of ${expected}`);
}

/** Residuals of simulated data against the teacher: observation noise and latent transition noise. */
function residuals(t: Teacher, z: Float32Array, y: Float32Array, trials: number, T: number, u?: Float32Array | null) {
  const { rank: R, obsDim: D, inputDim: DU } = t.config;
  const obs: number[] = [];
  const lat: number[] = [];
  let rate = 0;
  let counts = 0;
  for (let k = 0; k < trials; k++) {
    for (let s = 0; s < T; s++) {
      const zt = z.subarray((k * T + s) * R, (k * T + s + 1) * R);
      for (let d = 0; d < D; d++) {
        let eta = t.params.b[d];
        for (let r = 0; r < R; r++) eta += t.params.B[d * R + r] * zt[r];
        const yv = y[(k * T + s) * D + d];
        if (t.config.obs === 'gauss') obs.push(yv - eta);
        else {
          rate += Math.log1p(Math.exp(eta));
          counts += yv;
        }
      }
      if (s + 1 < T) {
        const next = latentStep(t.config, t.params, zt, u && DU ? u.subarray((k * T + s) * DU, (k * T + s + 1) * DU) : undefined);
        for (let r = 0; r < R; r++) lat.push(z[(k * T + s + 1) * R + r] - next[r]);
      }
    }
  }
  return { obsStd: obs.length ? std(obs) : NaN, latentStd: std(lat), rate, counts };
}

export const cases: GpuCase[] = [
  {
    name: 'simulate CLI: osc-gauss data, latents and sidecar agree with the teacher (noise 0.1 / 0.1)',
    browser: false,
    async run() {
      const { mkdtemp, readFile, rm } = await import('node:fs/promises');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const dir = await mkdtemp(join(tmpdir(), 'lowrank-smc-simulate-'));
      try {
        const { run } = await import('../../src/cli/simulate.js');
        const out = join(dir, 'data.npy');
        const lat = join(dir, 'z.npy');
        const code = await run(['--teacher', 'osc-gauss', '--trials', '4', '--steps', '128', '--seed', '3', '--out', out, '--latents', lat]);
        if (code !== 0) throw new Error(`simulate exited with ${code}`);
        const y = parseNpy(await readFile(out));
        const z = parseNpy(await readFile(lat));
        if (y.shape.join() !== '4,128,20' || z.shape.join() !== '4,128,2') throw new Error(`shapes ${y.shape} / ${z.shape}`);
        const side = JSON.parse(await readFile(join(dir, 'data.teacher.json'), 'utf8'));
        if (side.teacher !== 'osc-gauss' || side.data.shape.join() !== '4,128,20') throw new Error(`sidecar: ${JSON.stringify(side).slice(0, 200)}`);
        const t = presetTeacher('osc-gauss');
        expectNear(side.noise.observedTransitionNoise, observedTransitionNoise(t.config, t.params), 1e-9, 'sidecar noise');
        if (!(side.frequency.limitCyclePeriod > 20 && side.frequency.limitCyclePeriod < 30))
          throw new Error(`sidecar period ${side.frequency.limitCyclePeriod}`);
        const r = residuals(t, z.data as Float32Array, y.data as Float32Array, 4, 128);
        expectNear(r.obsStd, 0.1, 0.05, 'observation residual std');
        expectNear(r.latentStd, 0.1, 0.1, 'latent transition residual std');
        // bad arguments stop before any GPU work, naming the problem
        const bad: [string[], RegExp][] = [
          [['--teacher', 'osc-gauss', '--trials', '0', '--steps', '5', '--out', out], /--trials must be a positive integer, got "0"/],
          [['--teacher', 'osc-gauss', '--trials', '2', '--steps', '5'], /--out is required/],
          [['--teacher', 'osc', '--trials', '2', '--steps', '5', '--out', out], /neither a preset/],
          [['--teacher', 'osc-gauss', '--trials', '2', '--steps', '5', '--out', join(dir, 'missing', 'x.npy')], /does not exist/],
          [['--teacher', 'osc-gauss', '--trials', '2', '--steps', '5', '--out', out, '--inputs', lat], /takes no inputs/],
          [['--teacher', join(dir, 'nope.json'), '--trials', '2', '--steps', '5', '--out', out], /file not found/],
        ];
        for (const [args, re] of bad) {
          let msg = '';
          try {
            await run(args);
          } catch (e) {
            msg = (e as Error).message;
          }
          if (!re.test(msg)) throw new Error(`simulate ${args.join(' ')}: expected ${re}, got "${msg}"`);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'simulate: osc-poisson counts match the softplus rates (latent noise 0.1)',
    async run(engine) {
      const p = presetTeacher('osc-poisson');
      const sp = await simulateTeacher(engine, p, { trials: 4, steps: 128, seed: 4 });
      const rp = residuals(p, sp.z, sp.sample, 4, 128);
      if (sp.sample.some((v) => v < 0 || !Number.isInteger(v))) throw new Error('Poisson samples must be non-negative integers');
      expectNear(rp.counts, rp.rate, 0.05, 'total counts vs total rate');
      expectNear(rp.latentStd, 0.1, 0.1, 'Poisson teacher latent transition residual std');
    },
  },
  {
    name: 'simulate: the reach teacher responds to its 8 default stimuli; residuals match R_x = R_z = 0.05',
    browser: false,
    async run(engine) {
      const { readFile } = await import('node:fs/promises');
      const reach = teacherFromJson(await readFile(sharedData('teacher_reach_rank2.json'), 'utf8'), 'teacher_reach_rank2.json');
      const T = 80;
      const s = await simulateTeacher(engine, reach, { trials: 8, steps: T, seed: 6 });
      if (!s.inputs) throw new Error('the reach teacher should default to its stimuli');
      const rr = residuals(reach, s.z, s.sample, 8, T, s.inputs);
      expectNear(rr.obsStd, 0.05, 0.05, 'reach observation residual std');
      expectNear(rr.latentStd, 0.05, 0.1, 'reach latent transition residual std');
      // before the stimulus the 8 trials differ by noise only; the stimuli drive them apart
      const spread = (t: number) => {
        const c = [0, 0];
        for (let k = 0; k < 8; k++) for (let r = 0; r < 2; r++) c[r] += s.z[(k * T + t) * 2 + r] / 8;
        let d = 0;
        for (let k = 0; k < 8; k++) d += Math.hypot(s.z[(k * T + t) * 2] - c[0], s.z[(k * T + t) * 2 + 1] - c[1]) / 8;
        return d;
      };
      const [before, during, after] = [spread(24), spread(49), spread(79)];
      console.log(`reach teacher: latent spread across targets ${before.toFixed(3)} (t = 24), ${during.toFixed(3)} (t = 49), ${after.toFixed(3)} (t = 79)`);
      if (!(during > 1.8 * before))
        throw new Error(`reach latents: spread across the 8 targets is ${before.toFixed(3)} before and ${during.toFixed(3)} at the end of the stimulus`);
    },
  },
  {
    name: 'teacher–student: Gaussian oscillator (optimal proposal) recovers noise, frequency and held-out ll',
    // Statistical, fixed-seed fits of 600 iterations: run under Node; SwiftShader's coarser float32
    // transcendentals send the optimisation down another path and it is 6× slower.
    browser: false,
    timeoutMs: 150_000,
    async run(engine) {
      await teacherStudentRecovery(engine, {
        teacher: presetTeacher('osc-gauss'),
        trainTrials: 32,
        heldOutTrials: 16,
        steps: 100,
        proposal: 'optimal',
        particles: 16,
        batch: 8,
        window: 50,
        iterations: 600,
        lr: 0.05,
        lrEnd: 0.02,
        studentNoiseInit: 0.3,
        studentObsNoiseInit: 0.3,
      });
    },
  },
  {
    // The bootstrap bound with K = 16 is maximised at a larger noise than the teacher's: scaling the
    // teacher's own noise std by 0.5/0.7/1/1.4/2 gives held-out ll per step −26.76/−26.48/−26.37/
    // −26.35/−26.40 (K = 64: −26.37/−26.27/−26.22/−26.23/−26.30), so students fitted at K = 16 end
    // at +37 … +56 %, and K = 64 from the start is too slow. Worse, the bootstrap K = 16 fit does not
    // reliably learn the oscillation at all: moving every normal by ~1e-6 (the RNG's own sin/cos) sent
    // it to a slow, noise-driven solution (frequency −80 % after K = 16; noise +136 %, frequency −93 %
    // after the K = 64 phase). The encoder proposal (the published method for spike data) learns the
    // dynamics from every seed tried: its first phase reads the spikes, whole trials, with one trained
    // encoder variance. Then 500 bootstrap iterations at K = 64 move the noise toward that tighter bound's
    // optimum. That phase must end at a small learning rate: at lr 2e-3 the fitted limit cycle's frequency
    // moves by ±5 % between readbacks 50 iterations apart, so where the fit stops decided the frequency
    // (+2.3 % on one build, +11.7 % on another with other rounding). It holds lr 3e-3 for 300 iterations
    // (the noise travels as before), then decays to 1e-4 (a decay over all 500 iterations left the noise
    // at +28.8 % for seed 1). That phase ends where the K = 64 bootstrap bound peaks, at the 25 % bound (seeds
    // 1/2/3: +23.8/+27.8/+23.6 %), so a last phase of 250 encoder iterations at K = 16 (lr 5e-3 held 150, then
    // decayed to 1e-4; that bound peaks near the teacher's noise) brings the noise to +16.2/+15.4/+17.3 %, frequency
    // −2.3/−3.6/−4.7 % (bench/RESULTS.md). It costs about 30 s. Those figures predate the encoder phases' default lr
    // warm-up (20 iterations, fit's default for the encoder proposal): with it, seed 1's first phase ends at −1.9 %
    // instead of +40.7 %; seeds 1/2/3 end at noise −1.2/+0.5/−2.4 %, frequency −0.4/+0.2/−0.7 %. Since the first phase
    // now ends near the teacher's noise, the later phases are shorter (K = 64: 200 iterations, hold 100; last: 150, hold
    // 75; they were 500 and 250): seeds 1/2/3 end at noise 0.0/−1.8/−1.4 %, frequency −0.9/−0.4/−0.1 %, held-out ll
    // +0.09/+0.05/−0.09 % (branch `suite` in bench/RESULTS.md).
    name: 'teacher–student: Poisson oscillator (encoder proposal at K = 16, bootstrap at K = 64, encoder again) recovers noise, frequency and held-out ll',
    // Statistical, fixed-seed fits: run under Node; SwiftShader is several times slower.
    // ~70–85 s of process CPU time on lavapipe (the first encoder phase is most of it).
    browser: false,
    timeoutMs: 600_000,
    async run(engine) {
      await teacherStudentRecovery(engine, {
        teacher: presetTeacher('osc-poisson'),
        trainTrials: 32,
        heldOutTrials: 16,
        steps: 100,
        proposal: 'encoder',
        encoder: { kernels: [21, 11, 1], channels: [32, 32], padMode: 'circular', constantVar: true, initScale: 0.3 },
        particles: 16,
        batch: 8,
        window: 100,
        iterations: 600,
        lr: 0.01,
        lrEnd: 0.003,
        refine: [
          { proposal: 'bootstrap', window: 50, particles: 64, iterations: 200, lr: 0.003, lrEnd: 1e-4, lrHold: 100 },
          { proposal: 'encoder', particles: 16, iterations: 150, lr: 0.005, lrEnd: 1e-4, lrHold: 75 },
        ],
        studentNoiseInit: 0.3,
        studentObsNoiseInit: 0.3,
      });
    },
  },
];
