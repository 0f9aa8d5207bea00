/**
 * One sweep task → its outcome, as plain data: the module sweepProjections' worker threads load (its default export is
 * piscina's handler), and the function the in-process path (1 thread) calls directly. Nothing here throws: a task
 * that fails (does not fit, cannot be modelled, names an unknown model, …) is a failure outcome.
 */
import { threadId } from 'node:worker_threads';
import { loadShippedModel, type ModelArchitecture, parseModelConfig, type ShippedModelId } from '@tessera/models';
import { projectStep } from '../project/step';
import { CapacityError, ProjectionError, type ProjectStepOptions } from '../project/types';
import type { SweepFailure, SweepResult, SweepTaskData } from './types';

// Shipped models by id, parsed once per thread.
const shipped = new Map<string, ModelArchitecture>();

function resolveArch(arch: SweepTaskData['arch']): ModelArchitecture {
  if (typeof arch === 'string') {
    let a = shipped.get(arch);
    if (!a) {
      a = loadShippedModel(arch as ShippedModelId);
      shipped.set(arch, a);
    }
    return a;
  }
  return parseModelConfig(arch, { source: 'sweep task arch (config.json)' });
}

function failure(e: unknown): SweepFailure {
  if (e instanceof CapacityError)
    return { kind: 'capacity', message: e.message, shortfall: e.shortfall, memory: e.memory };
  if (e instanceof ProjectionError) return { kind: 'projection', message: e.message, param: e.param };
  const err = e instanceof Error ? e : new Error(String(e));
  return { kind: 'error', message: err.message, name: err.name };
}

/** Projects one task; every option other than `arch` is passed to projectStep as given. */
export async function runSweepTask(task: SweepTaskData): Promise<SweepResult> {
  const t0 = performance.now();
  try {
    const { arch, ...rest } = task;
    const p = await projectStep({ ...rest, arch: resolveArch(arch) } as ProjectStepOptions);
    return {
      ok: true,
      wallMs: performance.now() - t0,
      thread: threadId,
      step: { ...p, ranks: p.ranks.map(({ ops: _ops, ...r }) => r) },
    };
  } catch (e) {
    return { ok: false, wallMs: performance.now() - t0, thread: threadId, failure: failure(e) };
  }
}

export default runSweepTask;
