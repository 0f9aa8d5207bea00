/** The sweep's data: what a task sends to a worker thread and what comes back (structured-cloneable, plain data). */
import type { MemoryPerDevice, ProjectStepOptions, RankProjection, StepProjection } from '../project/types';

/**
 * A configuration to project: projectStep's options with `arch` as a shipped model id (`loadShippedModel`) or a
 * config.json object (`parseModelConfig`), parsed in the thread that projects it. Every other field goes to
 * projectStep as given (options this module does not know included), so it must be structured-cloneable.
 */
export type SweepTaskData = Omit<ProjectStepOptions, 'arch'> & {
  arch: string | Record<string, unknown>;
};

/** A task and an opaque `key` that comes back with its outcome; the key stays in the calling thread (never cloned). */
export type SweepTask<K = unknown> = SweepTaskData & { key?: K };

/** One rank of a projected step: its totals, without the per-op list (it stays in the worker). */
export type SweepRankFigures = Omit<RankProjection, 'ops'>;

/**
 * A StepProjection without the per-op lists (huge: every launch of every rank): `ms`, `tokens`, `sampledRows`,
 * `memory`, `criticalRank`, the ranks' totals, `assumptions`, and whatever else projectStep answers.
 */
export type SweepStepFigures = Omit<StepProjection, 'ranks'> & { ranks: SweepRankFigures[] };

/**
 * Why a task failed: `capacity` (CapacityError: `shortfall` bytes per device, and the memory), `projection`
 * (ProjectionError: the option named by `param`), or `error` (anything else: an unknown model id, a config.json that
 * does not parse, a task that could not be sent to a worker, a worker that died).
 */
export interface SweepFailure {
  kind: 'capacity' | 'projection' | 'error';
  message: string;
  shortfall?: number;
  memory?: MemoryPerDevice;
  param?: string;
  /** `error`: the error's name (ModelArgumentError, DataCloneError, …). */
  name?: string;
}

/**
 * What a thread returns for one task: `wallMs` is the task's wall time in its thread, `thread` that thread's
 * worker_threads.threadId (with 1 thread, the caller's; -1: the task never reached a thread, or its thread died).
 */
export type SweepResult =
  | { ok: true; wallMs: number; thread: number; step: SweepStepFigures }
  | { ok: false; wallMs: number; thread: number; failure: SweepFailure };

/** A task's outcome, in task order: the thread's result with the task's key and index. */
export type SweepOutcome<K = unknown> = SweepResult & { key: K; index: number };
