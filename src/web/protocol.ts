/** Messages between the page (app.ts) and the fitting worker (worker.ts). */
import type { BinnedSession, Dataset, FitProgress, FitSettings, HistoryEntry, Normalisation, SpikeEvaluation } from '../index.js';

/** The fit's model and training settings, as the CLI's option reader (fitSettings) gives them. */
export type { FitSettings };

/** A (trial, time, channel) float32 dataset, already normalised, with where it came from. */
export interface DatasetMessage {
  data: Float32Array;
  trials: number;
  time: number;
  channels: number;
  /** Inputs that drive the model (trial, time, dim), binned from the session's behaviour series (e.g. condition_input), or null. */
  inputs: Dataset | null;
  normalisation: Normalisation | null;
  source: string;
  /** Spike counts (binned from an NWB session) are fitted with Poisson observations; anything else is Gaussian. */
  obs: 'gauss' | 'poisson';
}

export interface FixedPointView {
  z: number[];
  stability: 'stable' | 'saddle' | 'unstable';
  /** Largest eigenvalue modulus of the Jacobian. */
  spectralRadius: number;
}

export interface FixedPointSummary {
  count: number;
  stable: number;
  saddle: number;
  unstable: number;
  regions: number;
  ms: number;
  points: FixedPointView[];
}

/** Everything the page draws about a model: latent paths, fixed points, traces. */
export interface AnalysisMessage {
  type: 'analysis';
  /** What the paths are, e.g. "fitted model" or "teacher_reach_rank2.json". */
  title: string;
  rank: number;
  /** Latent paths, each [T, R] flattened: filtering means of the data, generated runs, or a flow. */
  paths: { label: string; kind: 'posterior' | 'generated' | 'flow'; T: number; z: Float32Array }[];
  /** The proposal the filter ran for the filtering means (the model's own: its encoder's when it has one), or null without data. */
  proposal: 'optimal' | 'bootstrap' | 'encoder' | null;
  fixedPoints: FixedPointSummary | null;
  /** Why there are no fixed points (e.g. a tanh model). */
  fixedPointsNote: string | null;
  /** Generated vs real observations, first channels, [T, C] each (normalised units). */
  traces: { channels: number; T: number; real: Float32Array | null; generated: Float32Array } | null;
}

export type ToWorker =
  | { type: 'fit'; dataset: DatasetMessage; settings: FitSettings }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'simulate'; trials: number; time: number; seed: number }
  /** Score the model on show on a binned NWB session (all its trials; readouts learn on the train split). */
  | { type: 'score'; binned: BinnedSession; source: string }
  | { type: 'load-model'; text: string; name: string; dataset: DatasetMessage | null }
  | { type: 'save-model' };

export type FromWorker =
  | { type: 'ready'; adapter: string; software: boolean }
  | { type: 'fatal'; message: string }
  | { type: 'error'; message: string }
  | { type: 'state'; state: 'fitting' | 'paused' | 'stopping' | 'analysing' | 'scoring' | 'idle' }
  | { type: 'progress'; progress: FitProgress }
  | { type: 'fit-done'; iterations: number; seconds: number; stopped: boolean; history: HistoryEntry[] }
  | { type: 'simulated'; dataset: DatasetMessage; description: string }
  | { type: 'model-loaded'; kind: 'model' | 'teacher'; description: string }
  | { type: 'model-file'; text: string; name: string }
  | { type: 'scores'; scores: SpikeEvaluation['scores']; source: string; seconds: number }
  | AnalysisMessage;
