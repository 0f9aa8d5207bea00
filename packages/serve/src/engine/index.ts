/**
 * createEngine: builds the simulated cluster for the chosen hardware, shards and uploads the weights, sizes the KV
 * cache from what is left of the device memory (vLLM's gpu_memory_utilization), and returns the running engine.
 */
import { AUTO_DEVICE, createCluster, resolveTopology, type TopologySpec } from '@tessera/cluster';
import { EngineError } from '../errors';
import { kvBlockBytes, LlamaModel } from '../model/llama';
import {
  describePrecision,
  PRECISION_PARAM,
  PrecisionError,
  type PrecisionPolicy,
  resolvePrecision,
} from '../model/precision';
import { shardPlan } from '../model/shard';
import type { LoadedModel } from '../types';
import { type KvCacheInfo, LLMEngine } from './engine';
import { KvCacheManager } from './kv-cache';

export {
  EngineCore,
  type EngineDriver,
  type EngineLimits,
  type KvCacheInfo,
  LLMEngine,
  type StepInfo,
} from './engine';
export {
  type BatchItem,
  type FeedRank,
  type FeedWindow,
  OPS_PER_RANK,
  RECENT_STEPS,
  rankOps,
  type StepEvent,
  StepFeed,
  type StepListener,
  type TimelineKind,
  type TimelineOp,
  TRACE_ACTIVITIES,
} from './feed';
export { llamaStepModel, type StepDevices, type StepModel } from './step-model';

export interface EngineOptions {
  model: LoadedModel;
  /** `webgpu`: this machine's WebGPU adapter (real hardware; `webgpu-local`, TP ranks sharing the adapter). */
  backend?: 'nvidia-sim' | 'ascend-sim' | 'webgpu';
  /**
   * Device catalogue id (h100, a100, h200, b200, 910b2, 910b4, 910c); default: the topology's, else h100/910b2 (on
   * webgpu: the adapter).
   */
  device?: string;
  /**
   * Built-in topology name or a JSON/YAML file; default: the natural one for the device (webgpu: `webgpu-local`, or
   * `webgpu-localxN` for TP N — N ranks sharing the adapter, linked through host memory).
   */
  topology?: string;
  tp?: number;
  /** Weights: 'auto' (as stored), 'float32', 'bfloat16', 'float16'. */
  dtype?: string;
  /** Activations: 'auto' (GGUF: float32; other formats: the weights' dtype), 'float32', 'bfloat16', 'float16'. */
  activationDtype?: string;
  /** KV cache: 'auto' (GGUF: float16; other formats: the weights' dtype), 'float32', 'bfloat16', 'float16'. */
  kvCacheDtype?: string;
  /** Sum the row-parallel GEMMs in fixed chunks so that every TP degree dividing 8 gives bit-identical logits. */
  tpInvariant?: boolean;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  maxModelLen?: number;
  blockSize?: number;
  numGpuBlocksOverride?: number;
  enablePrefixCaching?: boolean;
  maxWaiting?: number;
  gpuMemoryUtilization?: number;
  /**
   * Host bytes the simulator may spend on the KV cache, all ranks together (default 256 MiB): the simulated devices
   * hold tens of GB, which functional simulation would have to back with real memory.
   */
  kvHostBudgetBytes?: number;
}

/** The topology each device lives in by default. */
const DEFAULT_TOPOLOGY: Record<string, string> = {
  a100: 'dgx-a100',
  h100: 'dgx-h100',
  h200: 'hgx-h200',
  b200: 'nvl72',
  '910b2': 'atlas-800t-a2',
  '910b4': 'atlas-800t-a2',
  '910c': 'cloudmatrix384',
};

function chooseTopology(o: EngineOptions): TopologySpec {
  const backend = o.backend;
  if (backend === 'webgpu' && !o.topology) {
    // The adapter's device id is known only once it is open: the topology's `auto` device (createCluster resolves it).
    const tp = o.tp ?? 1;
    const spec = resolveTopology(tp > 1 && Number.isInteger(tp) ? `webgpu-localx${tp}` : 'webgpu-local');
    return o.device ? { ...spec, device: o.device } : spec;
  }
  const device = o.device ?? (o.topology ? undefined : backend === 'ascend-sim' ? '910b2' : 'h100');
  const name = o.topology ?? DEFAULT_TOPOLOGY[device!];
  if (!name) {
    throw new EngineError(
      'invalid_request',
      `No default topology for device '${device}'. Pass --topology (one of ${Object.values(DEFAULT_TOPOLOGY).join(', ')}) or a topology file.`,
      'device',
    );
  }
  let spec = resolveTopology(name);
  if (backend && spec.backend !== backend) {
    throw new EngineError(
      'invalid_request',
      `Topology '${spec.name}' is a ${spec.backend} system, but --backend is ${backend}. Pick a ${backend} topology or device.`,
      'topology',
    );
  }
  if (device && device !== spec.device)
    spec = { ...spec, name: spec.device === AUTO_DEVICE ? spec.name : `${spec.name} (${device})`, device };
  return spec;
}

export async function createEngine(o: EngineOptions): Promise<LLMEngine> {
  const { model } = o;
  const c = model.config;
  const tp = o.tp ?? 1;
  const spec = chooseTopology(o);
  const ranksAvailable = spec.nodes * spec.devicesPerNode;
  if (!Number.isInteger(tp) || tp < 1 || tp > ranksAvailable) {
    throw new EngineError(
      'invalid_request',
      `--tp ${tp}: topology '${spec.name}' has ${ranksAvailable} devices.`,
      'tp',
    );
  }
  const cluster = await createCluster({ topology: spec, ranks: tp, mode: 'functional', hostMemoryLimit: 16 * 2 ** 30 });
  const blockSize = o.blockSize ?? 16;
  if (![1, 2, 4, 8, 16, 32, 64, 128].includes(blockSize)) {
    throw new EngineError(
      'invalid_request',
      `--block-size ${blockSize} must be a power of two from 1 to 128.`,
      'block_size',
    );
  }
  if (o.maxModelLen !== undefined && o.maxModelLen > c.maxPositionEmbeddings) {
    throw new EngineError(
      'invalid_request',
      `--max-model-len ${o.maxModelLen} exceeds the model's context length (${c.maxPositionEmbeddings}).`,
      'max_model_len',
    );
  }
  const maxModelLenWanted = o.maxModelLen ?? c.maxPositionEmbeddings;
  const maxSeqs = o.maxNumSeqs ?? 256;
  const maxTokens = o.maxNumBatchedTokens ?? 2048;
  if (maxTokens < maxSeqs) {
    throw new EngineError(
      'invalid_request',
      `--max-num-batched-tokens (${maxTokens}) must be at least --max-num-seqs (${maxSeqs}): every running request needs a token per step.`,
      'max_num_batched_tokens',
    );
  }
  let precision: PrecisionPolicy;
  try {
    precision = resolvePrecision(model, o);
  } catch (e) {
    if (e instanceof PrecisionError) throw new EngineError('invalid_request', e.message, PRECISION_PARAM[e.field]);
    throw e;
  }
  // The KV cache can hold at most `hostBlocks` blocks (or the override): size the block tables for no longer a
  // sequence than that, so a model file claiming a huge context (GGUF context_length 2³¹−1) cannot make them huge.
  const hostBudget = o.kvHostBudgetBytes ?? 256 * 2 ** 20;
  const hostBlocks = Math.max(
    1,
    Math.floor(hostBudget / (kvBlockBytes(c, shardPlan(c, tp), precision.kvCache, blockSize) * tp)),
  );
  const blocksAtMost = o.numGpuBlocksOverride ?? hostBlocks;
  const llama = new LlamaModel(c, model.tensors, {
    cluster,
    tp,
    dtype: precision.weights,
    activationDtype: precision.activations,
    kvCacheDtype: precision.kvCache,
    tpInvariant: o.tpInvariant ?? false,
    maxTokens,
    maxSeqs,
    blockSize,
    maxModelLen: Math.min(maxModelLenWanted, blocksAtMost * blockSize),
  });
  // KV capacity: what gpu_memory_utilization leaves after weights and step workspace, per rank.
  const props = cluster.devices[0]!.properties;
  const util = o.gpuMemoryUtilization ?? 0.9;
  const reserved = props.memoryBytes * (1 - util);
  const deviceBlocks = Math.floor((llama.freeBytes() - reserved) / llama.blockBytes);
  if (deviceBlocks < 1) {
    throw new EngineError(
      'invalid_request',
      `No memory left for the KV cache on ${props.name}: the weights and workspace leave ${((llama.freeBytes() - reserved) / 2 ** 30).toFixed(2)} GiB ` +
        `under --gpu-memory-utilization ${util}. Use a larger --tp, a device with more memory, or a higher utilisation.`,
      'tp',
    );
  }
  const numBlocks = o.numGpuBlocksOverride ?? Math.min(deviceBlocks, hostBlocks);
  llama.allocateKvCache(numBlocks);
  const kv = new KvCacheManager(numBlocks, blockSize, o.enablePrefixCaching ?? true);
  const maxModelLen = Math.min(maxModelLenWanted, numBlocks * blockSize);
  const kvInfo: KvCacheInfo = { numBlocks, blockSize, deviceBlocks, blockBytes: llama.blockBytes };
  const hardware = `${tp}× ${props.name}, ${cluster.spec.name}, TP ${tp}${o.tpInvariant ? ' (TP-invariant)' : ''}, ${describePrecision(precision)}`;
  return new LLMEngine(
    model,
    llama,
    cluster.runtime,
    kv,
    { maxSeqs, maxTokens, maxModelLen, maxWaiting: o.maxWaiting ?? 256 },
    hardware,
    kvInfo,
  );
}
