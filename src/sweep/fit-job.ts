/**
 * One sweep job: a fit with the options of `lowrank-smc fit` (same names, same defaults, so the model
 * file equals, byte for byte, the one `lowrank-smc fit` writes with those flags), checkpointed to its
 * model file, resumed from that file after a crash, then evaluated. Library calls only.
 */
import { readFile } from 'node:fs/promises';
import { evaluateGenerated } from '../analysis/evaluation.js';
import { finalLogLikelihood } from '../analysis/fit-warnings.js';
import { fixedPointsOfFitted } from '../analysis/model-fixed-points.js';
import { generate } from '../analysis/generate.js';
import type { Engine } from '../gpu/engine.js';
import { fitObservation, fitSettings, fitZscore, trainerOptions, trainingRecord } from '../inference/fit-options.js';
import { fit, type FitProgress } from '../inference/trainer.js';
import { normalisationLogJacobian, normalise, toCanonical, validateObservations, zscore, type Dataset, type Normalisation } from '../io/dataset.js';
import { loadArray, writeFileAtomic } from '../io/files.js';
import { initialiseFromData } from '../models/data-init.js';
import { CnnEncoder } from '../models/encoder.js';
import { LowRankRNN, initialParams } from '../models/lowrank-rnn.js';
import { parseModel, serializeModel, type TrainingRecord } from '../models/model-file.js';
import type { EvalSpec, JobOptions } from './spec.js';

export interface FitJobInput {
  /** Stored data file (already verified against its hash). */
  dataPath: string;
  layout?: string;
  options: JobOptions;
  checkpointEvery: number;
  /** The model file: checkpoints go here atomically; an existing checkpoint here is resumed. */
  modelPath: string;
  eval: EvalSpec;
  onProgress?: (p: FitProgress) => void | Promise<void>;
  /** Polled at each readback; true stops the fit (the job is cancelled). */
  shouldStop?: () => boolean;
}

export interface FitJobResult {
  iterations: number;
  /** Iteration the fit resumed from (0: from scratch). */
  resumedFrom: number;
  ll_per_step: number | null;
  loss: number | null;
  seconds: number;
  metrics?: { d_stsp: number; d_stsp_all_samples: number; d_h: number; mean_rate_error: number; steps: number };
  fixed_points?: { count: number; stable: number; saddle: number; unstable: number };
}

/** The fit's settings from the job options: `lowrank-smc fit`'s (inference/fit-options.ts); throws on a bad combination. */
function settings(o: JobOptions, ds: Dataset) {
  return { ...fitSettings(o, ds, 0), zscore: fitZscore(o) };
}

/** Load the job's data and check its options without touching the GPU (a bad job fails before fitting). */
export async function prepareFitJob(input: Pick<FitJobInput, 'dataPath' | 'layout' | 'options'>) {
  const raw = toCanonical(await loadArray(input.dataPath), input.layout, input.dataPath);
  validateObservations(raw, fitObservation(input.options), input.dataPath);
  return { raw, s: settings(input.options, raw) };
}

/** Check every job's options against the data (model config, proposal) before anything is enqueued. */
export async function checkFitOptions(dataPath: string, layout: string | undefined, jobs: JobOptions[], source: string): Promise<void> {
  const loaded = new Map<string, Dataset>();
  for (const [i, options] of jobs.entries()) {
    try {
      const obs = fitObservation(options);
      let raw = loaded.get(obs);
      if (!raw) {
        raw = (await prepareFitJob({ dataPath, layout, options })).raw;
        loaded.set(obs, raw);
      }
      settings(options, raw);
    } catch (e) {
      throw new Error(`${source}: job ${i} (${JSON.stringify(options)}): ${(e as Error).message}`);
    }
  }
}

async function readCheckpoint(path: string) {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const m = parseModel(text, path);
  return m.training?.optimizerState ? m : null;
}

export async function runFitJob(engine: Engine, input: FitJobInput): Promise<FitJobResult> {
  const { raw, s } = await prepareFitJob(input);
  const ckpt = await readCheckpoint(input.modelPath);
  // Resuming applies the checkpoint's stored normalisation, as `fit --resume` does (bit for bit).
  let normalisation: Normalisation | null = ckpt ? ckpt.normalisation : null;
  let ds = raw;
  if (ckpt?.normalisation) ds = normalise(raw, ckpt.normalisation);
  else if (!ckpt && s.zscore) ({ data: ds, normalisation } = zscore(raw));
  const start = ckpt?.params ?? initialParams(s.config, s.seed);
  if (!ckpt && s.init === 'data') initialiseFromData(s.config, start, ds);
  const model = new LowRankRNN(engine, ckpt?.config ?? s.config, start);
  const encoder = CnnEncoder.forFit(engine, model.config.encoder, model.config.rank, ckpt?.encoder, s.seed);
  try {
    const adapter = `${engine.info.backend} ${engine.info.description}${engine.info.software ? ' (software)' : ''}`;
    const record = (history: TrainingRecord['history'], done: number, optimizerState?: TrainingRecord['optimizerState']) =>
      trainingRecord(s, adapter, history, done, optimizerState);
    const save = async (r: TrainingRecord) =>
      writeFileAtomic(
        input.modelPath,
        JSON.stringify(serializeModel(model.config, await model.hostParams(), normalisation, r, encoder ? await encoder.hostParams() : null)),
      );
    const resumedFrom = ckpt?.training?.iterations ?? 0;
    let history = ckpt?.training?.history ?? [];
    let seconds = 0;
    if (resumedFrom < s.iterations) {
      let stopped = false;
      const result = await fit(engine, model, ds, null, {
        ...trainerOptions(s),
        encoder: s.proposal === 'encoder' ? encoder! : undefined,
        checkpointEvery: input.checkpointEvery,
        llOffsetPerStep: normalisationLogJacobian(normalisation),
        resume: ckpt ? { iteration: resumedFrom, optimizerState: ckpt.training!.optimizerState!, history: ckpt.training!.history } : undefined,
        onProgress: input.onProgress,
        onCheckpoint: async (c) => save(record(c.history, c.iteration, c.optimizerState)),
        shouldStop: () => (stopped ||= input.shouldStop?.() ?? false),
      });
      if (stopped) throw new Error(`cancelled at iteration ${result.iterations}`);
      await save(record(result.history, result.iterations, result.optimizerState));
      history = result.history;
      seconds = result.seconds;
    }
    const last = history[history.length - 1];
    const out: FitJobResult = {
      iterations: s.iterations,
      resumedFrom,
      ll_per_step: history.length ? finalLogLikelihood(history) : null,
      loss: last?.loss ?? null,
      seconds,
    };
    if (input.eval.metrics) out.metrics = await evaluate(model, ds, input.eval.metrics);
    if (input.eval.fixedPoints) {
      const fp = await fixedPointsOfFitted(engine, model);
      const n = (k: string) => fp.points.filter((p) => p.stability === k).length;
      out.fixed_points = { count: fp.count, stable: n('stable'), saddle: n('saddle'), unstable: n('unstable') };
    }
    return out;
  } finally {
    model.dispose();
    encoder?.dispose();
  }
}

/** `lowrank-smc eval`'s protocol and defaults (posterior start, one generated series) in the model's units. */
async function evaluate(model: LowRankRNN, ds: Dataset, m: NonNullable<EvalSpec['metrics']>): Promise<NonNullable<FitJobResult['metrics']>> {
  const c = model.config;
  const total = ds.trials * ds.time;
  const rows = Math.min(total, m.steps ?? Math.min(total, 10000));
  const seed = m.seed ?? 0;
  const g = await generate(model, {
    steps: m.steps ?? rows,
    burnIn: m['cut-off'] ?? 0,
    seed,
    initial: { posteriorOf: { y: ds.data.subarray(0, c.obsDim), steps: 1, particles: 64 } },
  });
  const ev = await evaluateGenerated(
    { data: ds.data.subarray(0, rows * c.obsDim), shape: [rows, c.obsDim] },
    { data: g.sample.subarray(0, rows * c.obsDim), shape: [rows, c.obsDim] },
    {
      smoothGenerated: !!m['smooth-at-eval'],
      smoothing: m.smoothing ?? 20,
      freqCutOff: 10000,
      samples: m.samples ?? 1000,
      sigma: m.sigma ?? 1,
      mimicFloat32Underflow: true,
      seed,
    },
  );
  return { d_stsp: ev.dStsp, d_stsp_all_samples: ev.dStspAllSamples, d_h: ev.dH, mean_rate_error: ev.meanRateError, steps: rows };
}
