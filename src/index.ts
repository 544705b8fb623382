/**
 * lowrank-smc public API — identical in Node and in the browser (the Node-only file helpers, src/io/files.ts
 * and src/plot/files.ts, serve the CLI and are not part of it).
 *
 *   const engine = await createEngine();                 // WebGPU device (Dawn in Node, navigator.gpu in browsers)
 *   const config = { ...DEFAULT_CONFIG, rank: 3, units: 512, obsDim: 64 };
 *   const model = new LowRankRNN(engine, config, initialiseFromData(config, initialParams(config, seed), dataset));
 *   await fit(engine, model, dataset, null, { ...FIT_DEFAULTS, proposal: 'optimal', seed });
 *   const f = await filterDataset(model, dataset, null, { particles: 64 });
 *   const g = await generate(model, { steps: 1000 });
 *   const fp = await fixedPointsOfModel(engine, model);
 */
export { createEngine, Engine, type EngineInfo, type EngineOptions } from './gpu/engine.js';
export { GpuError, GpuDeviceLostError, GpuLimitError, GpuValidationError, ShaderCompileError } from './gpu/errors.js';
export { Tensor } from './autodiff/tensor.js';
export { Tape, record, stopGradient } from './autodiff/tape.js';
export { gradCheck, assertClose } from './autodiff/gradcheck.js';
export { philox4x32, rngNormal4, rngUniform4, seedToKey } from './gpu/rng.js';
export { add, sub, mul, div, scale, addScalar, neg, exp, log, softplus, sigmoid, tanh, square } from './ops/elementwise.js';
export { sum, mean, matmul, reshape, cholFactor, diagExp } from './ops/linalg.js';
export { logsumexp, max } from './ops/reduce.js';
export { cumsum } from './ops/scan.js';
export { lowrankProduct } from './ops/lowrank.js';
export { Adam, RAdam, Optimizer, exponentialDecay, clipGradNorm } from './ops/optim.js';

export { LowRankRNN, DEFAULT_CONFIG, MAX_RANK, parameterCount, initialParams, type ModelConfig, type HostParams } from './models/lowrank-rnn.js';
export { effectiveReadout, readoutReadsInputs, readsRates } from './models/lowrank-rnn.js';
export { serializeModel, parseModel, MODEL_FORMAT, MODEL_VERSION, type ModelFile, type TrainingRecord, type HistoryEntry } from './models/model-file.js';
export { initialiseFromData, staticBaselineLogLikelihood, INIT_KINDS, type InitKind } from './models/data-init.js';
export { fitWarnings, finalLogLikelihood, type FitWarningInput } from './analysis/fit-warnings.js';
export {
  fit,
  FIT_DEFAULTS,
  defaultLrWarmup,
  encoderSwitchedOff,
  ALPHA_SWITCHED_OFF,
  type FitOptions,
  type FitProgress,
  type FitResult,
} from './inference/trainer.js';
export { objective } from './inference/objective.js';
export { filterDataset, filterInBlocks, defaultProposal, type FilterOptions, type FilterOutput, type WeightedParticles } from './inference/filter.js';
export { smcFilter, fusedFits, type SmcConfig, type SmcInputs, type SmcOutputs } from './inference/smc-op.js';
export type { Resampling } from './inference/smc-layout.js';
export type { Proposal, ObsLikelihood, ObsNonlinearity } from './models/theta-layout.js';

export {
  generate,
  forwardRates,
  type GenerateOptions,
  type Generated,
  type InitialState,
  type ForwardOptions,
  type ForwardRates,
} from './analysis/generate.js';
export { findFixedPoints, fixedPointsOfModel, teacherToRnn, isTeacherFile, type FixedPointResult, type FixedPoint } from './analysis/fixed-points.js';
export { findCycles, bruteForceCycles, type Cycle, type CycleSearchOptions, type CycleSearchResult } from './analysis/cycles.js';
export { dStsp, dStspGpu, type DStspOptions, type DStspResult } from './analysis/state-space-divergence.js';
export { dH, type DHOptions, type DHResult } from './analysis/spectral-distance.js';
export { hannSmoothZscore } from './analysis/eeg-smoothing.js';

// Sparse-neuron RNN training: ground-truth circuit, the three trainers (full-FORCE RLS / ridge, BPTT), evaluation.
export { simulateMotor, type MotorOptions, type MotorData, type SocOptions, type Soc } from './sparse/circuit.js';
export { trainFullForce, type FullForceOptions } from './sparse/fullforce.js';
export { ChaoticEmbedderError } from './sparse/embedder.js';
export type { SparseTask, SparseRnn, SparseCommonOptions } from './sparse/task.js';
export { trainBptt, type BpttOptions, type BpttProgress, type BpttRnn } from './sparse/bptt.js';
export { rateRnnTrials } from './sparse/bptt-op.js';
export { evaluateSparse, runSparseRnn, normalisedOutputError, type SparseEvaluation } from './sparse/evaluate.js';

export { parseNpy, encodeNpy } from './io/npy.js';
export { parseCsv } from './io/csv.js';
export {
  toCanonical,
  validateObservations,
  validateInputs,
  zscore,
  normalise,
  denormalise,
  normalisationLogJacobian,
  type Dataset,
  type Normalisation,
} from './io/dataset.js';
// NWB sessions: the reader loads its HDF5 module (4 MB) on first use, so pages that never open one never fetch it.
export {
  parseNwb,
  writeNwb,
  unitElectrodes,
  type NwbElectrodes,
  type NwbSession,
  type NwbUnits,
  type NwbTrials,
  type NwbTimeSeries,
  type NwbColumn,
  type NwbWriteSpec,
} from './io/nwb.js';
export { binSession, selectTrials, type BinOptions, type BinnedSession, type SplitName } from './io/nwb-bin.js';
export { fixedPointsOfFitted, modelLatentMap } from './analysis/model-fixed-points.js';
export { FitSession, type FitEvent, type FitEventOf, type FitEventType, type FitSessionOptions, type FitSessionState } from './inference/fit-session.js';
export { fitSettings, trainerOptions, trainingRecord, type FitOptionValues, type FitSettings } from './inference/fit-options.js';
export { CnnEncoder, DEFAULT_ENCODER, type EncoderConfig, type EncoderHostParams } from './models/encoder.js';
export { evaluateSpikes, checkSpikeEval, type SpikeEvalOptions, type SpikeEvaluation } from './analysis/spike-eval.js';

// Types that the signatures above refer to (so that they are nameable by users and in the API reference).
export type { Backend, OptionalFeature } from './gpu/acquire.js';
export type { BindingValue, BufferLike, KernelOptions } from './gpu/engine.js';
export type { Defines } from './gpu/preprocess.js';
export type { BindingInfo, Kernel, KernelReflection, UniformValues } from './gpu/kernel.js';
export type { BufferPool, PoolStats } from './gpu/pool.js';
export type { DType } from './autodiff/tensor.js';
export type { BackwardFn, RecordOptions, TapeNode } from './autodiff/tape.js';
export type { GradCheckInput, GradCheckReport, GradCheckSpec } from './autodiff/gradcheck.js';
export { PARAM_NAMES, isOneToOne, type NoiseKind, type ObservationModel, type ParamName, type ReadoutFrom, type ThetaInputs } from './models/lowrank-rnn.js';
export type { SmcDims, ThetaBlock, ThetaLayout } from './models/theta-layout.js';
export { NONLINEARITIES, type Nonlinearity, type NonlinearityName } from './ops/nonlin.js';
export type { OptimizerKind, OptimizerState } from './ops/optim.js';
export type {
  FixedPointOptions,
  Eigenvalue,
  Stability,
  LowRankModelParams,
  PiecewiseLinearRnn,
  PwlNonlinearity,
  TeacherFile,
} from './analysis/fixed-points.js';
export type { NdArray } from './analysis/series.js';
export type { CsvDelimiter, CsvOptions, CsvTable } from './io/csv.js';
export type { ArrayLikeND, Axis, Observation } from './io/dataset.js';
export type { NpyArray, NpyData, NpyDType } from './io/npy.js';
