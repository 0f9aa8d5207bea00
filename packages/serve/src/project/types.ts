/**
 * The projection's public shapes: what `projectStep` is asked (ProjectStepOptions) and what it answers
 * (StepProjection), and the two errors it raises for a configuration it cannot run.
 */

import type { TopologySpec } from '@tessera/cluster';
import type { ModelArchitecture } from '@tessera/models';

export type ProjectedWeightDtype = 'bf16' | 'f16' | 'int8' | 'fp8';
export type ProjectedKvDtype = 'bf16' | 'f16' | 'fp8';

/** One sequence of a mixed step: the tokens it computes now, ending at its context length. */
export interface ProjectedSequence {
  queryLen: number;
  contextLen: number;
}

/** Speculative decoding (DeepSeek's MTP, or an EAGLE-style one-layer draft head where the model has no MTP layers). */
export interface SpeculativeOptions {
  /** Draft tokens proposed per step (vLLM's num_speculative_tokens). */
  tokens: number;
  /** Probability that each draft token is accepted, given the ones before it were (0 ≤ α < 1). */
  acceptance: number;
}

export interface ProjectStepOptions {
  arch: ModelArchitecture;
  /** A built-in topology name (e.g. 'dgx-h100') or a spec; the deployment is its first pp · dp · tp ranks. */
  topology: string | TopologySpec;
  /** Tensor parallelism of attention and dense layers (within one DP group of one stage). */
  tp: number;
  /**
   * Data parallelism of attention (SGLang's --enable-dp-attention, vLLM's data-parallel-size with EP): dp groups of tp
   * ranks each serve their own share of the sequences. Default 1.
   */
  dp?: number;
  /** Pipeline stages: the layers split evenly (as vLLM's PP), one micro-batch in flight per stage. Default 1. */
  pp?: number;
  /**
   * Expert parallelism for MoE layers: 1 (every expert TP-sharded over its group's tp ranks) or dp · tp (whole experts
   * spread over every rank of a stage, dispatch and combine as all-to-all-v). Default dp · tp.
   */
  ep?: number;
  /**
   * Sequences in flight (the deployment's concurrency): split into pp micro-batches (batch must be a multiple of pp),
   * each split over the dp groups.
   */
  batch: number;
  /** Tokens in each sequence's cache after this step (its context length). */
  contextLen: number;
  /**
   * Weights and GEMM inputs: bf16 / f16; int8 = W8A8 (per-token activation scales, per-channel weight scales); fp8 =
   * W8A8 in float8 e4m3 (the same scheme, as vLLM's fp8 dynamic per-token). Default bf16.
   */
  weightDtype?: ProjectedWeightDtype;
  /** Default bf16. */
  kvDtype?: ProjectedKvDtype;
  phase: 'decode' | 'prefill';
  /** Prefill: the tokens each sequence computes this step (a chunk ending at contextLen). Default contextLen. */
  prefillChunk?: number;
  /**
   * A mixed step (vLLM's chunked prefill: prefill chunks and decodes together): one micro-batch, every sequence with
   * its own query and context length. Overrides batch, contextLen, prefillChunk and phase; with pp > 1 the cache holds
   * pp such micro-batches.
   */
  sequences?: readonly ProjectedSequence[];
  /** Decode only: verify `tokens` drafts per sequence, then propose the next ones. */
  speculative?: SpeculativeOptions;
  /**
   * Two-batch overlap (SGLang's --enable-two-batch-overlap, DeepSeek's dual micro-batch): each DP group's sequences
   * split into two halves on two streams, so one half's expert dispatch and combine overlap the other half's kernels.
   * MoE models with expert parallelism, pp = 1, at least two sequences per DP group.
   */
  twoBatchOverlap?: boolean;
  /**
   * MLA (DeepSeek) prefill rows: 'non-absorbed' (default; vLLM's and SGLang's prefill: the latent decompressed by
   * kv_b, flash attention over 192-wide q/k and 128-wide v heads) or 'absorbed' (every row on the decode path: paged
   * attention over the 576-wide latent for every head) — for comparing the two.
   */
  mlaPrefill?: 'non-absorbed' | 'absorbed';
  /**
   * MoE dispatch of prefill passes across scale-up domains: 'hierarchical' (default; DeepEP's normal mode — a token
   * crosses the network once per target domain, to the same-index rank there, which forwards it over NVLink / UB to
   * the experts' ranks, and the combine reduces there before coming back) or 'direct' (every (token, expert) row to
   * its owner, as DeepEP's low-latency mode and every decode pass).
   */
  prefillDispatch?: 'direct' | 'hierarchical';
  /** KV-cache block size (default 16). */
  blockSize?: number;
  /**
   * Issue every rank's launches, instead of one representative per kind of rank (the default; the others copy its
   * timeline). The same figures, slower at high rank counts: for checking the shortcut.
   */
  everyRank?: boolean;
}

export interface ProjectedOp {
  kind: 'kernel' | 'collective';
  name: string;
  /** Start on the step's clock (ms after its first launch), and duration. */
  startMs: number;
  ms: number;
  /** Kernels: matrix-unit FLOPs (its cost record). */
  flops?: number;
  /** Kernels: compulsory bytes read and written — every buffer it touches, once (the cost record's buffers). */
  bytesRead?: number;
  bytesWritten?: number;
  /** Kernels: the bytes the timing model sends to DRAM (compulsory + the re-reads L2 misses). */
  dramBytes?: number;
  /** Collectives: the message size as nccl-tests counts it. */
  bytes?: number;
  /** Collectives: the algorithm and protocol the communicator's tuner chose, and the link that bounds it. */
  algorithm?: string;
  protocol?: string;
  bottleneck?: string | null;
}

export interface RankProjection {
  rank: number;
  /** Its pipeline stage and DP group. */
  stage: number;
  group: number;
  kernelsMs: number;
  collectivesMs: number;
  /** Time this rank's stream waited (a collective waiting for a slower rank, a stage waiting for the one before). */
  idleMs: number;
  /** Kernels and collectives in issue order. */
  ops: ProjectedOp[];
}

export interface MemoryPerDevice {
  weights: number;
  kvCache: number;
  workspace: number;
  total: number;
  /** The device's memory. */
  capacity: number;
}

export interface StepProjection {
  /**
   * The step's modelled time: how often every sequence in flight gets its next tokens. pp = 1: from the first launch
   * to the last rank's end. pp > 1: max(latencyMs, pp × the busiest stage), as the pp micro-batches take turns.
   */
  ms: number;
  /** One micro-batch from its first launch to the last rank's end (all stages). */
  latencyMs: number;
  /** Per stage: its busiest rank's kernels + collectives (what bounds the pipeline's rate). */
  stageMs: number[];
  /** The rank whose stream ends last. */
  criticalRank: number;
  ranks: RankProjection[];
  /** Tokens computed per step (every micro-batch), and rows sampled. */
  tokens: number;
  sampledRows: number;
  /** Tokens the step emits: decode, batch × the expected accepted tokens per sequence (1 without speculation). */
  outputTokens: number;
  /** Speculative decoding: expected tokens per sequence and step, (1 − α^(n+1)) / (1 − α); else 1. */
  tokensPerSequenceStep: number;
  /** Per device, the fullest stage (every rank of a stage holds the same). */
  memory: MemoryPerDevice;
  /** The deployment: pp · dp · tp ranks. */
  devices: number;
  /** What was assumed, in words. */
  assumptions: string[];
}

/** The model (or the step) does not fit a device: `shortfall` bytes are missing on every rank of the fullest stage. */
export class CapacityError extends Error {
  readonly code = 'capacity';
  constructor(
    readonly memory: MemoryPerDevice,
    readonly shortfall: number,
    readonly device: string,
  ) {
    const g = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    super(
      `Does not fit on ${device}: weights ${g(memory.weights)} + KV cache ${g(memory.kvCache)} + workspace ` +
        `${g(memory.workspace)} = ${g(memory.total)} per device, but the device has ${g(memory.capacity)}: ` +
        `${g(shortfall)} short.`,
    );
    this.name = 'CapacityError';
  }
}

/** An option the projection cannot model (say which, and why). */
export class ProjectionError extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProjectionError';
  }
}

/** Splits `total` into `parts` integers differing by at most one (the remainder to the first parts). */
export function evenSplit(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}
