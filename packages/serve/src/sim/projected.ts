/**
 * simulateProjected: a serving run of any @tessera/models architecture on a projected deployment, in modelled time,
 * with no weights and no token computation. The engine is the real one (EngineCore: the scheduler, the paged KV cache
 * with prefix caching, preemption, the request lifecycle) over a ProjectedStepModel, whose step times come from a
 * StepCostPredictor built on projectStep; the driver is simulateServing's, unchanged. So TTFT, TPOT and ITL under a
 * workload come from the same scheduling decisions the engine makes, with each step timed as the projection of that
 * step on the chosen system.
 *
 * KV capacity as createEngine sizes it (vLLM's gpu_memory_utilization): the device's memory × utilisation, less the
 * weights and the largest step's workspace (the projection's buffers), in blocks of the projection's KV layout.
 */
import { resolveTopology, type TopologySpec } from '@tessera/cluster';
import type { ModelArchitecture } from '@tessera/models';
import { EngineCore } from '../engine/engine';
import { KvCacheManager } from '../engine/kv-cache';
import { EngineError } from '../errors';
import {
  CapacityError,
  type MemoryPerDevice,
  type ProjectedKvDtype,
  type ProjectedWeightDtype,
} from '../model/project';
import { ProjectedStepModel } from '../model/projected-model';
import { StepCostPredictor } from '../model/step-cost';
import { type SimulationOptions, type SimulationResult, simulateServing } from './simulate';
import type { Workload } from './workload';

export interface ProjectedEngineOptions {
  arch: ModelArchitecture;
  /** A built-in topology name (e.g. 'dgx-h100') or a spec; the TP group is its first `tp` ranks. */
  topology: string | TopologySpec;
  tp: number;
  /** MoE: 1 (experts TP-sharded) or tp (expert parallel; the default). */
  ep?: number;
  /** Default bf16. */
  weightDtype?: ProjectedWeightDtype;
  /** Default bf16. */
  kvDtype?: ProjectedKvDtype;
  /** max_num_seqs (default 256). */
  maxNumSeqs?: number;
  /** max_num_batched_tokens (default 2048). */
  maxNumBatchedTokens?: number;
  /** KV-cache block size (default 16). */
  blockSize?: number;
  /** Longest prompt + completion (default: the model's max_position_embeddings, capped by the KV cache). */
  maxModelLen?: number;
  /** Fraction of device memory the engine may use (default 0.9, as createEngine and vLLM). */
  gpuMemoryUtilization?: number;
  /** Default true. */
  enablePrefixCaching?: boolean;
  /** Waiting requests beyond which new ones are refused (default: no limit, as vLLM's queue). */
  maxWaiting?: number;
  /** Seeds the model's pseudo-random tokens (default 0). */
  seed?: number;
  /**
   * Blocks the host-side block manager holds at most (default: all the device's). Fewer change nothing while they
   * cover every block the run can ask for at once (simulateProjected passes the workload's total).
   */
  maxKvBlocks?: number;
}

export interface ProjectedEngine {
  engine: EngineCore;
  model: ProjectedStepModel;
  predictor: StepCostPredictor;
}

/**
 * The engine over a ProjectedStepModel for a deployment. Throws the projection's CapacityError when the model, the
 * largest step's workspace and one KV block do not fit under the memory utilisation, and ProjectionError for what the
 * projection cannot model.
 */
export async function createProjectedEngine(o: ProjectedEngineOptions): Promise<ProjectedEngine> {
  const a = o.arch;
  const maxSeqs = o.maxNumSeqs ?? 256;
  const maxTokens = o.maxNumBatchedTokens ?? 2048;
  const blockSize = o.blockSize ?? 16;
  const util = o.gpuMemoryUtilization ?? 0.9;
  const bad = (param: string, message: string) => new EngineError('invalid_request', message, param);
  if (!Number.isSafeInteger(maxSeqs) || maxSeqs < 1)
    throw bad('max_num_seqs', `maxNumSeqs ${maxSeqs}: an integer ≥ 1.`);
  if (!Number.isSafeInteger(maxTokens) || maxTokens < maxSeqs) {
    throw bad(
      'max_num_batched_tokens',
      `maxNumBatchedTokens (${maxTokens}) must be an integer of at least maxNumSeqs (${maxSeqs}): every running request needs a token per step.`,
    );
  }
  if (![1, 2, 4, 8, 16, 32, 64, 128].includes(blockSize))
    throw bad('block_size', `blockSize ${blockSize} must be a power of two from 1 to 128.`);
  if (!(util > 0 && util <= 1)) throw bad('gpu_memory_utilization', `gpuMemoryUtilization ${util}: in (0, 1].`);
  const wanted = o.maxModelLen ?? a.maxPositionEmbeddings;
  if (!Number.isSafeInteger(wanted) || wanted < 1 || wanted > a.maxPositionEmbeddings) {
    throw bad('max_model_len', `maxModelLen ${wanted}: an integer from 1 to the model's ${a.maxPositionEmbeddings}.`);
  }
  const spec = resolveTopology(o.topology);
  const predictor = await StepCostPredictor.build({
    arch: a,
    topology: spec,
    tp: o.tp,
    ep: o.ep,
    weightDtype: o.weightDtype,
    kvDtype: o.kvDtype,
    blockSize,
    maxSeqs,
    maxTokens,
  });
  const m = predictor.memory;
  // As createEngine: what gpu_memory_utilization leaves after weights and workspace, in blocks.
  const usable = m.capacity * util;
  const deviceBlocks = Math.floor((usable - m.weights - m.workspace) / m.blockBytes);
  if (deviceBlocks < 1) {
    const memory: MemoryPerDevice = {
      weights: m.weights,
      kvCache: m.blockBytes,
      workspace: m.workspace,
      total: m.weights + m.blockBytes + m.workspace,
      capacity: usable,
    };
    throw new CapacityError(memory, memory.total - usable, `${m.device} at gpu-memory-utilization ${util}`);
  }
  const numBlocks = Math.max(1, Math.min(deviceBlocks, o.maxKvBlocks ?? deviceBlocks));
  const model = new ProjectedStepModel(predictor, o.seed ?? 0);
  const kv = new KvCacheManager(numBlocks, blockSize, o.enablePrefixCaching ?? true);
  const wd = o.weightDtype ?? 'bf16';
  const kvd = o.kvDtype ?? 'bf16';
  const ep = a.moe ? (o.ep ?? o.tp) : 1;
  const hardware =
    `${o.tp}× ${m.device}, ${spec.name}, TP ${o.tp}${a.moe ? `, EP ${ep}` : ''}, ${wd} weights, ${kvd} KV cache ` +
    '(projected: no weights, no token computation)';
  const engine = new EngineCore(
    model,
    kv,
    {
      maxSeqs,
      maxTokens,
      maxModelLen: Math.min(wanted, deviceBlocks * blockSize),
      maxWaiting: o.maxWaiting ?? Number.POSITIVE_INFINITY,
    },
    hardware,
    { numBlocks, blockSize, deviceBlocks, blockBytes: m.blockBytes },
  );
  return { engine, model, predictor };
}

export interface SimulateProjectedOptions extends ProjectedEngineOptions {
  workload: Workload;
  /** Passed to simulateServing (the seed is `seed`). */
  sampling?: SimulationOptions['sampling'];
  onStep?: SimulationOptions['onStep'];
  onProgress?: SimulationOptions['onProgress'];
}

/**
 * Serves `workload` on the projected deployment in modelled time (simulateServing over createProjectedEngine's
 * engine). Requests generate exactly their output length (no EOS); `seed` seeds the tokens.
 */
export async function simulateProjected(o: SimulateProjectedOptions): Promise<SimulationResult> {
  const { workload, sampling, onStep, onProgress, ...engineOptions } = o;
  const blockSize = o.blockSize ?? 16;
  // Every block the run could hold at once: more would change nothing but the host's block table.
  const demand = workload.requests.reduce(
    (n, r) => n + Math.ceil((r.promptTokenIds.length + r.outputLen) / blockSize),
    0,
  );
  const { engine } = await createProjectedEngine({ ...engineOptions, maxKvBlocks: o.maxKvBlocks ?? demand + 1 });
  return simulateServing(engine, workload, { seed: o.seed ?? 0, sampling, onStep, onProgress });
}
