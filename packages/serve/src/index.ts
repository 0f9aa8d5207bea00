/**
 * @tessera/serve — the LLM serving engine on simulated clusters: a Llama decoder built from @tessera/kernels and run
 * tensor-parallel over @tessera/cluster, continuous batching over a paged KV cache with prefix caching, requests with
 * stops and incremental text, wall and modelled clocks; and a discrete-event driver that serves a workload in modelled
 * time only. The HTTP server, model loaders and tokenizers are in apps/llm-serve.
 */

export { type DetokenizerOptions, IncrementalDetokenizer } from './engine/detokenizer';
export {
  type BatchItem,
  createEngine,
  EngineCore,
  type EngineDriver,
  type EngineLimits,
  type EngineOptions,
  type FeedRank,
  type FeedWindow,
  type KvCacheInfo,
  LLMEngine,
  llamaStepModel,
  OPS_PER_RANK,
  RECENT_STEPS,
  rankOps,
  type StepDevices,
  type StepEvent,
  StepFeed,
  type StepInfo,
  type StepListener,
  type StepModel,
  type TimelineKind,
  type TimelineOp,
  TRACE_ACTIVITIES,
} from './engine/index';
export { KvCacheManager, type KvRequestState } from './engine/kv-cache';
export { OutputChannel, type Stamp } from './engine/request';
export { type SchedulableRequest, type ScheduledItem, Scheduler, type SchedulerLimits } from './engine/scheduler';
export { EngineError, type EngineErrorCode } from './errors';
export { EMBEDDED_CONFIG, EMBEDDED_SEED, embeddedWeights } from './model/embedded';
export { type BatchEntry, kvBlockBytes, LlamaModel, type ModelOptions, reductionChunks } from './model/llama';
export {
  DTYPE_CHOICES,
  describePrecision,
  PRECISION_PARAM,
  type PrecisionChoice,
  PrecisionError,
  type PrecisionPolicy,
  resolvePrecision,
} from './model/precision';
export {
  CapacityError,
  evenSplit,
  type MemoryPerDevice,
  type ProjectedKvDtype,
  type ProjectedOp,
  type ProjectedSequence,
  type ProjectedWeightDtype,
  ProjectionError,
  type ProjectStepOptions,
  projectStep,
  type RankProjection,
  type SpeculativeOptions,
  type StepProjection,
} from './model/project';
export {
  PROJECTED_TOKEN_TEXT,
  ProjectedStepModel,
  placeholderTokenizer,
  projectedToken,
} from './model/projected-model';
export { type ShardPlan, shardPlan } from './model/shard';
export {
  clearStepCostCache,
  DECODE_CONTEXTS,
  interpolate,
  kvBlockBytesProjected,
  type ProjectedMemory,
  type StepCostBreakdown,
  type StepCostGrid,
  type StepCostOptions,
  StepCostPredictor,
  type StepSequence,
} from './model/step-cost';
export {
  type ProjectionTrace,
  type ProjectionTraceMeta,
  projectionTrace,
  type TraceEvent,
  tracePid,
  traceTid,
} from './model/trace';
export { toDeviceArray } from './model/weights';
export {
  bestRatio,
  type DisaggregatedOptions,
  type DisaggregatedProjection,
  type InstanceOptions,
  kvHandOver,
  MAX_PD_RATIO,
  projectDisaggregated,
} from './project/disaggregate';
export { type ServedRequest, type ServingSummary, summarizeServing, type Timings } from './sim/metrics';
export {
  createProjectedEngine,
  type ProjectedEngine,
  type ProjectedEngineOptions,
  type SimulateProjectedOptions,
  simulateProjected,
} from './sim/projected';
export {
  type SimulatedRequest,
  type SimulationOptions,
  type SimulationResult,
  type SimulationStep,
  simulateServing,
} from './sim/simulate';
export { percentile, type Stats, summarize } from './sim/stats';
export {
  arrivalTimes,
  gamma,
  normal,
  type RandomWorkloadOptions,
  randomPrompt,
  randomWorkload,
  sampleLengths,
  seededRandom,
  type Workload,
  type WorkloadRequest,
} from './sim/workload';
export { SWEEP_THREADS_ENV, type SweepOptions, SweepPool, sweepProjections, sweepThreads } from './sweep/sweep';
export type {
  SweepFailure,
  SweepOutcome,
  SweepRankFigures,
  SweepResult,
  SweepStepFigures,
  SweepTask,
  SweepTaskData,
} from './sweep/types';
export type * from './types';
