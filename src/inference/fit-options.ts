/**
 * `fit`'s options — the CLI's flags and a sweep job's options, under the same names — turned into the
 * model configuration and the training settings, with one set of defaults and checks, before any GPU
 * work. A resumed checkpoint's model and training record supply the defaults where given.
 */
import type { InitKind } from '../models/data-init.js';
import { INIT_KINDS } from '../models/data-init.js';
import { checkEncoderWindow, DEFAULT_ENCODER } from '../models/encoder.js';
import { DEFAULT_CONFIG, MAX_RANK, optimalProposalApplies, readsRates, validateConfig, type ModelConfig } from '../models/lowrank-rnn.js';
import type { HistoryEntry, TrainingRecord } from '../models/model-file.js';
import type { OptimizerState } from '../ops/optim.js';
import { PAD_MODES, PAD_PLACEMENTS } from '../ops/conv.js';
import { choiceOption, numberOption, type OptionValue } from '../util/options.js';
import type { Resampling } from './smc-layout.js';
import { defaultLrWarmup, FIT_DEFAULTS, type FitOptions } from './trainer.js';

export type FitOptionValues = Record<string, OptionValue>;

/** A checkpoint being resumed: its model and training record are the defaults. */
export interface FitResume {
  config: ModelConfig;
  training?: TrainingRecord | null;
  /** The checkpoint's file, named in errors about its contents. */
  source?: string;
}

export interface FitSettings {
  config: ModelConfig;
  proposal: 'optimal' | 'bootstrap' | 'encoder';
  particles: number;
  batch: number;
  /** Window length, at most the data's trial length. */
  window: number;
  iterations: number;
  lr: number;
  lrEnd: number;
  /** Iterations at lr before the decay to lrEnd begins. */
  lrHold: number;
  /** Iterations of the linear ramp up to lr at the start (a new encoder-proposal fit: defaultLrWarmup unless given). */
  lrWarmup: number;
  seed: number;
  optimizer: 'adam' | 'radam';
  resampling: Resampling;
  resampleThreshold: number;
  /** Steps at the end of each window predicted from the transition only (encoder proposal). */
  tForward: number;
  logEvery: number;
  clip: number | undefined;
  init: InitKind;
  checkpointEvery: number;
}

/** The observation model (needed to load the data, before the rest): `obs`, else the checkpoint's, else gauss. */
export function fitObservation(v: FitOptionValues, resume?: FitResume | null): 'gauss' | 'poisson' {
  return choiceOption(v.obs, 'obs', ['gauss', 'poisson'] as const, resume?.config.obs ?? 'gauss');
}

/** Whether Gaussian data are z-scored (`zscore`, default true; never when resuming: the checkpoint's normalisation applies). */
export function fitZscore(v: FitOptionValues, resume?: FitResume | null): boolean {
  if (v.zscore !== undefined && typeof v.zscore !== 'boolean') throw new Error(`--zscore must be true or false, got "${v.zscore}"`);
  return fitObservation(v, resume) === 'gauss' && v.zscore !== false && !resume;
}

/** Model configuration and training settings for data of `channels` channels and trials of `time` steps, with `inputChannels` inputs. */
export function fitSettings(v: FitOptionValues, data: { channels: number; time: number }, inputChannels: number, resume?: FitResume | null): FitSettings {
  const obs = fitObservation(v, resume);
  const flag = (k: string) => v[k] === true;
  if (flag('readout-from-inputs') && !resume && !inputChannels) throw new Error('--readout-from-inputs needs --inputs (the readout is from [v; z])');
  const inputFilter = choiceOption(v['input-filter'], 'input-filter', ['raw', 'lowpass'] as const, 'raw');
  if (inputFilter === 'lowpass' && !resume && !inputChannels) throw new Error('--input-filter lowpass needs --inputs');
  const observation = choiceOption(v.observation, 'observation', ['affine', 'one-to-one'] as const, 'affine');
  const config: ModelConfig = resume?.config ?? {
    ...DEFAULT_CONFIG,
    rank: numberOption(v.rank, 'rank', { int: true, min: 1, max: MAX_RANK, default: 3 }),
    units: numberOption(v.units, 'units', { int: true, min: 1, default: observation === 'one-to-one' ? data.channels : 512 }),
    obsDim: data.channels,
    inputDim: inputChannels,
    nonlinearity: choiceOption(v.nonlinearity, 'nonlinearity', ['clipped_relu', 'relu', 'tanh', 'identity'] as const, 'clipped_relu'),
    obs,
    obsNonlinearity: choiceOption(v['obs-link'], 'obs-link', ['identity', 'softplus', 'exp', 'relu'] as const, obs === 'gauss' ? 'identity' : 'softplus'),
    noise: choiceOption(v.noise, 'noise', ['full', 'diag', 'scalar'] as const, 'full'),
    readoutFromInputs: flag('readout-from-inputs'),
    inputFilter,
    observation,
    readoutFrom: choiceOption(v['readout-from'], 'readout-from', ['currents', 'rates'] as const, 'currents'),
    trainObsGain: !flag('freeze-obs-gain'),
    trainObsBias: !flag('freeze-obs-bias'),
  };
  const t = resume?.training;
  if ((v.proposal ?? t?.proposal) === 'encoder' && !resume) {
    const ints = (x: OptionValue, name: string) => {
      if (x === undefined || x === '') throw new Error(`--proposal encoder needs --${name} (a comma-separated list of integers)`);
      return String(x)
        .split(',')
        .map((s) => numberOption(s.trim(), name, { int: true, min: 1 }));
    };
    config.encoder = {
      ...DEFAULT_ENCODER,
      kernels: ints(v['encoder-kernels'], 'encoder-kernels'),
      channels: ints(v['encoder-channels'], 'encoder-channels'),
      inChannels: numberOption(v['held-in-channels'], 'held-in-channels', { int: true, min: 1, default: data.channels }),
      placement: choiceOption(v['encoder-padding'], 'encoder-padding', PAD_PLACEMENTS, DEFAULT_ENCODER.placement),
      padMode: choiceOption(v['encoder-pad-mode'], 'encoder-pad-mode', Object.keys(PAD_MODES) as (keyof typeof PAD_MODES)[], DEFAULT_ENCODER.padMode),
      constantVar: flag('encoder-constant-var'),
    };
  }
  if (config.encoder && config.encoder.inChannels > data.channels) {
    throw new Error(`--held-in-channels ${config.encoder.inChannels} is more than the data's ${data.channels} channels`);
  }
  if (v['held-in-channels'] !== undefined && !config.encoder) throw new Error('--held-in-channels needs --proposal encoder (it is what the encoder reads)');
  validateConfig(config); // e.g. one-to-one with --units ≠ channels
  const linearGauss = optimalProposalApplies(config);
  const proposal = choiceOption(
    v.proposal,
    'proposal',
    ['optimal', 'bootstrap', 'encoder'] as const,
    (t?.proposal as 'optimal') ?? (linearGauss ? 'optimal' : 'bootstrap'),
  );
  if (proposal === 'optimal' && readsRates(config)) {
    throw new Error('--proposal optimal needs observations linear in the latents; --readout-from rates reads φ(m z + Wu v; h): use --proposal bootstrap');
  }
  if (proposal === 'optimal' && !linearGauss) throw new Error('--proposal optimal needs --obs gauss with --obs-link identity; use --proposal bootstrap');
  const from = resume?.source ? `${resume.source}: ` : '';
  if (proposal === 'encoder' && !config.encoder) throw new Error(`${from}the checkpoint's model has no CNN encoder; resume it with its own proposal`);
  if (proposal === 'encoder' && config.noise === 'full') throw new Error('--proposal encoder combines diagonal Gaussians: it needs --noise diag or scalar');
  const window = Math.min(numberOption(v.window, 'window', { int: true, min: 1, default: t?.window ?? FIT_DEFAULTS.window }), data.time);
  const tForward = numberOption(v['t-forward'], 't-forward', { int: true, min: 0, default: t?.tForward ?? 0 });
  if (tForward >= window) throw new Error(`--t-forward ${tForward} must be shorter than the window (${window} steps)`);
  if (tForward > 0 && proposal !== 'encoder') throw new Error(`--t-forward needs --proposal encoder (forward prediction follows the encoder's steps)`);
  if (proposal === 'encoder') checkEncoderWindow(config.encoder!, window, tForward, `--encoder-kernels ${config.encoder!.kernels}`);
  // a resumed fit keeps the checkpoint's clipping unless clip is given
  const clip = v.clip === undefined ? t?.clip : numberOption(v.clip, 'clip', { positive: true });
  if (clip !== undefined && !(typeof clip === 'number' && clip > 0))
    throw new Error(`${from}training.clip must be a positive number, got ${JSON.stringify(clip)}`);
  const iterations = numberOption(v.iters, 'iters', { int: true, min: 1, default: t?.totalIterations ?? FIT_DEFAULTS.iterations });
  const lrHold = numberOption(v['lr-hold'], 'lr-hold', { int: true, min: 0, default: t?.lrHold ?? 0 });
  if (lrHold >= iterations) throw new Error(`--lr-hold ${lrHold} must be less than --iters ${iterations} (the decay to --lr-end needs iterations)`);
  // a resumed fit keeps its record's warm-up (absent: none, as files written before the default)
  const lrWarmup = numberOption(v['lr-warmup'], 'lr-warmup', { int: true, min: 0, default: t ? (t.lrWarmup ?? 0) : defaultLrWarmup(proposal, iterations) });
  if (lrWarmup >= iterations) throw new Error(`--lr-warmup ${lrWarmup} must be less than --iters ${iterations}`);
  return {
    config,
    proposal,
    particles: numberOption(v.particles, 'particles', { int: true, min: 1, default: t?.particles ?? FIT_DEFAULTS.particles }),
    batch: numberOption(v.batch, 'batch', { int: true, min: 1, default: t?.batch ?? FIT_DEFAULTS.batch }),
    window,
    iterations,
    lr: numberOption(v.lr, 'lr', { positive: true, default: t?.lr ?? FIT_DEFAULTS.lr }),
    lrEnd: numberOption(v['lr-end'], 'lr-end', { positive: true, default: t?.lrEnd ?? FIT_DEFAULTS.lrEnd }),
    lrHold,
    lrWarmup,
    seed: numberOption(v.seed, 'seed', { int: true, min: 0, default: t?.seed ?? FIT_DEFAULTS.seed }),
    optimizer: choiceOption(v.optimizer, 'optimizer', ['radam', 'adam'] as const, (t?.optimizer as 'adam') ?? FIT_DEFAULTS.optimizer),
    resampling: choiceOption(v.resampling, 'resampling', ['systematic', 'stratified', 'multinomial'] as const, (t?.resampling as 'systematic') ?? 'systematic'),
    resampleThreshold: numberOption(v['resample-threshold'], 'resample-threshold', { min: 0, max: 1, default: t?.resampleThreshold ?? 1 }),
    tForward,
    logEvery: numberOption(v['log-every'], 'log-every', { int: true, min: 1, default: 10 }),
    clip,
    init: choiceOption(v.init, 'init', INIT_KINDS, 'data'),
    checkpointEvery: numberOption(v['checkpoint-every'], 'checkpoint-every', { int: true, min: 1, default: 100 }),
  };
}

/** The trainer's options that fit's settings fix (sizes, proposal, schedule): one list for the CLI, sweep jobs and the web app. */
export function trainerOptions(s: FitSettings) {
  return {
    iterations: s.iterations,
    particles: s.particles,
    batch: s.batch,
    window: s.window,
    proposal: s.proposal,
    tForward: s.tForward,
    resampling: s.resampling,
    resampleThreshold: s.resampleThreshold,
    optimizer: s.optimizer,
    lr: s.lr,
    lrEnd: s.lrEnd,
    lrHold: s.lrHold,
    lrWarmup: s.lrWarmup,
    seed: s.seed,
    logEvery: s.logEvery,
    clipGradNorm: s.clip,
  } satisfies Partial<FitOptions>;
}

/** The model file's training record of a fit with settings `s` after `done` iterations (checkpoints carry the optimizer state). */
export function trainingRecord(s: FitSettings, adapter: string, history: HistoryEntry[], done: number, optimizerState?: OptimizerState): TrainingRecord {
  return {
    proposal: s.proposal,
    resampling: s.resampling,
    resampleThreshold: s.resampleThreshold,
    ...(s.tForward > 0 ? { tForward: s.tForward } : {}),
    particles: s.particles,
    batch: s.batch,
    window: s.window,
    iterations: done,
    totalIterations: s.iterations,
    seed: s.seed,
    lr: s.lr,
    lrEnd: s.lrEnd,
    ...(s.lrHold > 0 ? { lrHold: s.lrHold } : {}),
    ...(s.lrWarmup > 0 ? { lrWarmup: s.lrWarmup } : {}),
    optimizer: s.optimizer,
    clip: s.clip,
    history,
    adapter,
    optimizerState,
  };
}
