/**
 * sweepProjections: many projectStep configurations spread over a pool of worker threads (piscina), outcomes in task
 * order. Each thread imports the projection once and keeps its kernel caches across the tasks it runs; a task that
 * fails (does not fit, cannot be modelled, names an unknown model, or even kills its thread) is a failure outcome and
 * the others go on. The pool is destroyed before the promise settles, so nothing keeps the process alive; a process
 * that sweeps again and again (a server) keeps one SweepPool instead.
 *
 * Threads: `options.threads`, else the env `TESSERA_SWEEP_THREADS`, else `os.availableParallelism()`; never more than
 * one per `options.minTasksPerThread` tasks (default 1). 1 runs every task in this thread, in order, without workers.
 *
 * The worker module: from source (vitest, or node with `--import tsx`), src/sweep/worker.ts beside this module, run
 * with `--conditions=@tessera/source --import tsx`; from the build, dist/sweep-worker.js (tsup's second entry) beside
 * dist/index.js (where this module is bundled), run with the parent's execArgv.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import type { SweepOutcome, SweepResult, SweepTask, SweepTaskData } from './types';
import { runSweepTask } from './worker';

export const SWEEP_THREADS_ENV = 'TESSERA_SWEEP_THREADS';

export interface SweepOptions<K = unknown> {
  /** Worker threads (1: in this thread). Default: env TESSERA_SWEEP_THREADS, else os.availableParallelism(). */
  threads?: number;
  /**
   * At least this many tasks per thread (default 1): fewer threads for a small sweep, where starting a thread (and
   * compiling the kernels again in it) costs more than it saves. A sweep that comes to 1 thread runs in this one.
   */
  minTasksPerThread?: number;
  /** Called as each task's outcome arrives (completion order, not task order). */
  onResult?: (outcome: SweepOutcome<K>, task: SweepTask<K>) => void;
}

/**
 * The thread count a sweep of `tasks` tasks uses: the option, else the env, else the cores; at most one per
 * `minTasksPerThread` tasks, at least 1.
 */
export function sweepThreads(threads?: number, tasks = Number.POSITIVE_INFINITY, minTasksPerThread = 1): number {
  let n = threads;
  if (n === undefined) {
    const env = process.env[SWEEP_THREADS_ENV]?.trim();
    if (env) {
      n = Number(env);
      if (!Number.isInteger(n) || n < 1)
        throw new RangeError(`${SWEEP_THREADS_ENV}='${env}': the sweep's worker threads, an integer ≥ 1.`);
    } else n = availableParallelism();
  } else if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads = ${n}: an integer ≥ 1.`);
  if (!(minTasksPerThread >= 1)) throw new RangeError(`minTasksPerThread = ${minTasksPerThread}: a number ≥ 1.`);
  return Math.max(1, Math.min(n, Math.floor(tasks / minTasksPerThread)));
}

/** Where the worker module is, and how a thread runs it (see the module comment). */
function workerModule(): { filename: string; execArgv?: string[] } {
  const here = import.meta.url;
  if (!/\.[cm]?ts$/.test(new URL(here).pathname)) return { filename: new URL('./sweep-worker.js', here).href };
  let tsx = 'tsx';
  try {
    tsx = pathToFileURL(createRequire(here).resolve('tsx')).href;
  } catch {
    // Not resolvable from here: leave it to the thread's resolution from the working directory.
  }
  return {
    filename: new URL('./worker.ts', here).href,
    execArgv: ['--conditions=@tessera/source', '--import', tsx],
  };
}

function strip<K>(task: SweepTask<K>): SweepTaskData {
  const { key: _key, ...data } = task;
  return data;
}

const lost = (e: unknown): SweepResult => {
  const err = e instanceof Error ? e : new Error(String(e));
  return { ok: false, wallMs: 0, thread: -1, failure: { kind: 'error', message: err.message, name: err.name } };
};

/** Settles each task's outcome in task order's slot and reports it; after an onResult throws, reports nothing more. */
function collector<K>(tasks: readonly SweepTask<K>[], options: SweepOptions<K>) {
  const out = new Array<SweepOutcome<K>>(tasks.length);
  let abandoned = false; // an onResult threw: the sweep rejects, and the tasks the pool cancels are not reported
  const settle = (i: number, r: SweepResult) => {
    if (abandoned) return;
    const task = tasks[i]!;
    const o = { ...r, key: task.key as K, index: i };
    out[i] = o;
    try {
      options.onResult?.(o, task);
    } catch (e) {
      abandoned = true;
      throw e;
    }
  };
  return { out, settle };
}

/**
 * Runs every task on `pool`. An error outside any task (a worker that cannot load its module, or throws between
 * tasks) is the pool's: piscina emits it and stops replacing workers that fail to start, so every task not yet
 * settled fails with it, and `onBroken` hears of it.
 */
async function runOnPool<K>(
  pool: Piscina<SweepTaskData, SweepResult>,
  tasks: readonly SweepTask<K>[],
  settle: (i: number, r: SweepResult) => void,
  onBroken: () => void = () => {},
): Promise<void> {
  let onError: (e: unknown) => void = () => {};
  const broken = new Promise<never>((_, reject) => {
    onError = (e) => {
      onBroken();
      reject(e);
    };
    pool.on('error', onError);
  });
  broken.catch(() => {});
  try {
    await Promise.all(
      tasks.map(async (task, i) => {
        let r: SweepResult;
        try {
          r = await Promise.race([pool.run(strip(task)), broken]);
        } catch (e) {
          r = lost(e);
        }
        settle(i, r);
      }),
    );
  } finally {
    pool.off('error', onError);
  }
}

/** Projects every task; outcomes in task order. Rejects only for a bad thread count or an onResult that throws, never for a task. */
export async function sweepProjections<K = unknown>(
  tasks: readonly SweepTask<K>[],
  options: SweepOptions<K> = {},
): Promise<SweepOutcome<K>[]> {
  const threads = sweepThreads(options.threads, tasks.length, options.minTasksPerThread);
  const { out, settle } = collector(tasks, options);
  if (tasks.length === 0) return out;
  if (threads === 1) {
    for (let i = 0; i < tasks.length; i++) {
      let r: SweepResult;
      try {
        r = await runSweepTask(strip(tasks[i]!));
      } catch (e) {
        r = lost(e);
      }
      settle(i, r);
    }
    return out;
  }
  const pool = new Piscina<SweepTaskData, SweepResult>({
    ...workerModule(),
    minThreads: threads,
    maxThreads: threads,
  });
  try {
    await runOnPool(pool, tasks, settle);
  } finally {
    await pool.destroy();
  }
  return out;
}

/**
 * Sweep threads kept between sweeps, for a process that answers projection requests (the dashboard's /api/project):
 * the threads start once and keep their compiled kernels, so a later sweep pays neither (a one-off sweep's pool spends
 * most of a small search starting threads). Threads start on demand, exit after `idleTimeoutMs` without work, and an
 * idle thread does not keep the process alive (piscina unrefs it). A pool broken by a worker that cannot start is
 * replaced at the next sweep.
 */
export class SweepPool {
  readonly threads: number;
  private readonly idleTimeoutMs: number;
  private pool: Piscina<SweepTaskData, SweepResult> | null = null;

  constructor(options: { threads?: number; idleTimeoutMs?: number } = {}) {
    this.threads = sweepThreads(options.threads);
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  }

  /** Projects every task on the pool's threads; outcomes in task order (as sweepProjections). */
  async sweep<K = unknown>(
    tasks: readonly SweepTask<K>[],
    options: Omit<SweepOptions<K>, 'threads' | 'minTasksPerThread'> = {},
  ): Promise<SweepOutcome<K>[]> {
    const { out, settle } = collector(tasks, options);
    if (tasks.length === 0) return out;
    this.pool ??= new Piscina<SweepTaskData, SweepResult>({
      ...workerModule(),
      minThreads: 0,
      maxThreads: this.threads,
      idleTimeout: this.idleTimeoutMs,
    });
    const pool = this.pool;
    await runOnPool(pool, tasks, settle, () => {
      if (this.pool === pool) this.pool = null;
      void pool.destroy();
    });
    return out;
  }

  /** Ends the threads (a later sweep starts new ones). */
  async destroy(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.destroy();
  }
}
