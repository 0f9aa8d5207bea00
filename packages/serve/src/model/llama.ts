/**
 * The Llama decoder, built only from @tessera/kernels and run tensor-parallel over a @tessera/cluster communicator.
 * One `forward` is one engine step: the new tokens of every scheduled sequence, packed (continuous batching), with
 * their KV written into the paged cache and attention read back through each sequence's block table.
 *
 * Per layer, on every rank r of the TP group (shapes per rank; N tokens this step, D hidden, Hr/KVr heads, Ir MLP;
 * W = weights dtype, A = activation dtype, C = KV-cache dtype — see precision.ts):
 *   h    = rmsnorm(x)                          (N, D)   W        x is the f32 residual stream, replicated
 *   q,k,v = h·Wq_rᵀ, h·Wk_rᵀ, h·Wv_rᵀ            (N, Hr·hd), (N, KVr·hd)   A (v straight to C when A is f32 or C)
 *   q,k  = rope(q), rope(k)                    at each token's position, computed in f32, written in C
 *   cache[slot] = k, v                         reshape_and_cache (C)
 *   a    = pagedAttention(q, cache, tables)    (N, Hr·hd)   W
 *   p    = a·Wo_rᵀ (+ x on rank 0)              (N, D)   f32 partial sum
 *   x    = allReduce(p)                        (N, D)   f32
 *   …the same for the MLP: h = rmsnorm(x); g = h·Wgu_rᵀ (N, 2Ir) A; s = silu(g₁)·g₂ (N, Ir) W; p = s·Wd_rᵀ (+ x);
 *   x = AR(p)
 * Then the rows that sample are gathered, normed, and multiplied by the vocab-parallel head; an all-gather assembles
 * the logits on rank 0, which samples.
 *
 * Numerics: every GEMM accumulates in f32; the residual stream, the partial sums and the all-reduce stay f32, so
 * tensor-parallel degrees differ only by the f32 rounding of the row-parallel reduction (the order in which the K
 * slices of the O and down projections are summed). A 16-bit GEMM input rounded from that residual lands on the
 * neighbouring 16-bit value when the residual sits near a rounding boundary, which turns the f32 difference into a
 * 16-bit one now and then. With TP 1 the residual add is fused into the GEMM epilogue and no collective runs.
 *
 * `tpInvariant`: the row-parallel reduction is made independent of the TP degree. The K dimension of O and down is
 * cut into P fixed chunks (P = `reductionChunks`, a multiple of every supported degree); each rank computes the
 * partial sum of each of its chunks on its own (a batched GEMM over a transposed copy of its input), the chunks are
 * all-gathered in K order, and every rank sums the P partials with one more GEMM (ones(1, P) · partials, sequential
 * f32 in chunk order) with the residual fused. Every rank and every TP degree then does the very same arithmetic, so
 * the logits are bit-identical across degrees that divide P. It costs two launches per row-parallel GEMM and an
 * all-gather of P/2× the all-reduce's bytes.
 */
import type { Cluster, Communicator } from '@tessera/cluster';
import type { Device, DeviceBuffer, DType } from '@tessera/device';
import { embedding, gemm, rmsnorm, sample, transpose } from '@tessera/kernels';
import { EngineError } from '../errors';
import type { HostTensor, LlamaConfig, TensorMap, WeightDType } from '../types';
import { attentionBlock, gatedMlpInput } from './layer';
import type { PrecisionPolicy } from './precision';
import { colSlice, concatRows, rowSlice, type ShardPlan, shardPlan, transposed } from './shard';
import { toDeviceArray } from './weights';

/** One sequence's share of a step. */
export interface BatchEntry {
  /** Token ids computed this step (a prefill chunk, or the one decode token). */
  tokens: readonly number[];
  /** Position of tokens[0] (tokens already in the cache). */
  start: number;
  /** Physical KV blocks of the sequence, in order; must cover start + tokens.length. */
  blockTable: readonly number[];
  /** Sample a token after this step (the chunk ends the known tokens). */
  sample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  /** RNG counter: the index of the token being sampled. */
  step: number;
}

export interface ModelOptions {
  cluster: Cluster;
  tp: number;
  /** Weights dtype (the projection matrices, embedding and head); also the dtype of every GEMM input. */
  dtype: WeightDType;
  /** Dtype of q/k/v and gate/up as the GEMMs write them (default: `dtype`); f32 or `dtype`. */
  activationDtype?: WeightDType;
  /** Dtype of the paged KV cache (default: `dtype`); queries are rotated into it. */
  kvCacheDtype?: WeightDType;
  /** Make the row-parallel reduction independent of the TP degree (see the file comment). */
  tpInvariant?: boolean;
  /** Token budget of a step (max_num_batched_tokens). */
  maxTokens: number;
  /** Sequences per step at most (max_num_seqs). */
  maxSeqs: number;
  blockSize: number;
  /** Longest sequence (max_model_len): sets the block-table width. */
  maxModelLen: number;
}

interface LayerWeights {
  attnNorm: DeviceBuffer;
  q: DeviceBuffer; // (D, Hr·hd)   stored (in, out)
  k: DeviceBuffer; // (D, KVr·hd)
  v: DeviceBuffer; // (D, KVr·hd)
  o: DeviceBuffer; // (Hr·hd, D)
  ffnNorm: DeviceBuffer;
  gateUp: DeviceBuffer; // (D, 2·Ir): gate columns, then up columns
  down: DeviceBuffer; // (Ir, D)
}

/** Everything one rank holds: weights, step workspace, KV cache. */
interface Rank {
  dev: Device;
  embed: DeviceBuffer; // (V, D)
  layers: LayerWeights[];
  finalNorm: DeviceBuffer; // (D,)
  head: DeviceBuffer; // (Vs, D)
  // Workspace, sized for the step budget.
  ids: DeviceBuffer; // (T,) i32
  positions: DeviceBuffer; // (T,) i32
  slots: DeviceBuffer; // (T,) i32
  tables: DeviceBuffer; // (S, maxBlocks) i32
  lastRows: DeviceBuffer; // (S,) i32
  x: DeviceBuffer; // (T, D) f32 residual
  part: DeviceBuffer; // (T, D) f32 partial sums
  h: DeviceBuffer; // (T, D) W
  q: DeviceBuffer; // (T, Hr·hd) A
  k: DeviceBuffer; // (T, KVr·hd) A
  v: DeviceBuffer; // (T, KVr·hd) A, or C when the GEMM writes it straight into the cache dtype
  qRot: DeviceBuffer; // (T, Hr·hd) C (q itself when A = C)
  kRot: DeviceBuffer; // (T, KVr·hd) C (k itself when A = C)
  vKv: DeviceBuffer; // (T, KVr·hd) C (v itself unless a cast is needed)
  attn: DeviceBuffer; // (T, Hr·hd) W
  gu: DeviceBuffer; // (T, 2·Ir) A
  act: DeviceBuffer; // (T, Ir) W
  xLast: DeviceBuffer; // (S, D) f32
  hLast: DeviceBuffer; // (S, D) W
  // TP-invariant reduction only (1-element placeholders otherwise):
  aT: DeviceBuffer; // (max(Hr·hd, Ir), T) W: the row-parallel GEMM's input, transposed
  chunks: DeviceBuffer; // (P / tp, T, D) f32: this rank's chunk partial sums
  allChunks: DeviceBuffer; // (P, T, D) f32: every chunk, in K order (chunks itself at TP 1)
  ones: DeviceBuffer; // (1, P) f32
  logitsT: DeviceBuffer; // (Vs, S) f32: this rank's vocab rows
  gathered: DeviceBuffer; // (tp·Vs, S) f32 (rank 0 only is read)
  logits: DeviceBuffer; // (S, V) f32
  sampled: DeviceBuffer; // (S,) i32
  kCache: DeviceBuffer[]; // per layer (blocks, blockSize, KVr, hd)
  vCache: DeviceBuffer[];
}

/** An f32 buffer of n ones. */
function onesBuffer(dev: Device, n: number): DeviceBuffer {
  const b = dev.alloc('f32', n);
  dev.memcpyHtoD(b, new Float32Array(n).fill(1));
  return b;
}

/** Bytes of KV cache one block takes on one rank (all layers, keys and values), for a cache of `dtype`. */
export function kvBlockBytes(c: LlamaConfig, plan: ShardPlan, dtype: DType, blockSize: number): number {
  const bytes = dtype === 'f32' ? 4 : 2;
  return 2 * c.numLayers * blockSize * plan.kvHeads * c.headDim * bytes;
}

/** Largest TP degree this model shards into, at most 8: the number of fixed reduction chunks of `tpInvariant`. */
export function reductionChunks(c: LlamaConfig): number {
  let p = 1;
  for (const t of [2, 4, 8]) {
    if (c.numHeads % t === 0 && c.intermediateSize % t === 0 && (c.numKvHeads % t === 0 || t % c.numKvHeads === 0))
      p = t;
  }
  return p;
}

export class LlamaModel {
  readonly plan: ShardPlan;
  readonly ranks: Rank[];
  readonly comm: Communicator | null;
  readonly maxBlocksPerSeq: number;
  /** The precision policy in force (weights, activations, KV cache). */
  readonly precision: PrecisionPolicy;
  /** Fixed reduction chunks P of the TP-invariant mode (0 when it is off). */
  readonly chunks: number;
  numBlocks = 0;
  /** Rows sampled by the last step (for logits()). */
  private lastRows = 0;

  constructor(
    readonly config: LlamaConfig,
    tensors: TensorMap,
    readonly options: ModelOptions,
  ) {
    const c = config;
    this.plan = shardPlan(c, options.tp);
    const p = this.plan;
    this.comm = options.tp > 1 ? options.cluster.communicator([...Array(options.tp).keys()]) : null;
    this.maxBlocksPerSeq = Math.ceil(options.maxModelLen / options.blockSize);
    const get = (name: string): HostTensor => {
      const t = tensors.get(name);
      if (!t) throw new Error(`LlamaModel: tensor '${name}' is missing (the loader should have checked).`);
      return t;
    };
    const dt = options.dtype;
    const act = options.activationDtype ?? dt;
    const kvd = options.kvCacheDtype ?? dt;
    for (const [name, d] of [
      ['dtype', dt],
      ['activationDtype', act],
      ['kvCacheDtype', kvd],
    ] as const) {
      if (d !== 'f32' && d !== 'f16' && d !== 'bf16')
        throw new Error(`LlamaModel: ${name} ${d} is not a float dtype (f32, f16, bf16).`);
    }
    if (act !== 'f32' && act !== dt) {
      throw new Error(`LlamaModel: activations in ${act} with ${dt} weights: activations must be f32 or ${dt}.`);
    }
    this.precision = { weights: dt, activations: act, kvCache: kvd };
    const P = options.tpInvariant ? reductionChunks(c) : 0;
    if (options.tpInvariant && P % options.tp !== 0) {
      throw new EngineError(
        'invalid_request',
        `--tp-invariant sums the row-parallel GEMMs in ${P} fixed chunks, so the TP degree must divide ${P} (got ${options.tp}).`,
        'tp',
      );
    }
    this.chunks = P;
    const { maxTokens: T, maxSeqs: S } = options;
    const hd = c.headDim;
    this.ranks = options.cluster.devices.slice(0, options.tp).map((dev, r) => {
      const up = (t: HostTensor, dtype: DType = dt) => {
        const b = dev.alloc(dtype, t.data.length);
        dev.memcpyHtoD(b, toDeviceArray(t, dtype));
        return b;
      };
      // Norm weights in f32: their stored values exactly (GGUF stores them in F32, as llama.cpp computes with them).
      const upNorm = (t: HostTensor) => up(t, 'f32');
      // Projection matrices go to the device as (in, out): the GEMMs then read B row-major, with no transpose per tile.
      const upT = (t: HostTensor) => up(transposed(t));
      const ws = (dtype: DType, n: number) => dev.alloc(dtype, Math.max(1, n));
      const qRows = p.heads * hd;
      const kvRows = p.kvHeads * hd;
      const kv0 = p.kvHeadStart[r]! * hd;
      const layers: LayerWeights[] = [];
      for (let l = 0; l < c.numLayers; l++) {
        const w = (n: string) => get(`layers.${l}.${n}`);
        layers.push({
          attnNorm: upNorm(w('attn_norm')),
          q: upT(rowSlice(w('q'), r * qRows, qRows)),
          k: upT(rowSlice(w('k'), kv0, kvRows)),
          v: upT(rowSlice(w('v'), kv0, kvRows)),
          o: upT(colSlice(w('o'), r * qRows, qRows)),
          ffnNorm: upNorm(w('ffn_norm')),
          gateUp: upT(
            concatRows(
              rowSlice(w('gate'), r * p.intermediate, p.intermediate),
              rowSlice(w('up'), r * p.intermediate, p.intermediate),
            ),
          ),
          down: upT(colSlice(w('down'), r * p.intermediate, p.intermediate)),
        });
      }
      const embed = get('embed');
      // v goes straight into the cache dtype when that is one rounding of the f32 accumulator either way.
      const vDirect = act === 'f32' || act === kvd;
      const q = ws(act, T * qRows);
      const k = ws(act, T * kvRows);
      const v = ws(vDirect ? kvd : act, T * kvRows);
      const K = Math.max(qRows, p.intermediate);
      const headT = c.tieWordEmbeddings ? embed : get('lm_head');
      return {
        dev,
        embed: up(embed),
        layers,
        finalNorm: upNorm(get('final_norm')),
        head: up(rowSlice(headT, r * p.vocabShard, p.vocabShard)),
        ids: ws('i32', T),
        positions: ws('i32', T),
        slots: ws('i32', T),
        tables: ws('i32', S * this.maxBlocksPerSeq),
        lastRows: ws('i32', S),
        x: ws('f32', T * c.hiddenSize),
        part: ws('f32', T * c.hiddenSize),
        h: ws(dt, T * c.hiddenSize),
        q,
        k,
        v,
        qRot: act === kvd ? q : ws(kvd, T * qRows),
        kRot: act === kvd ? k : ws(kvd, T * kvRows),
        vKv: vDirect ? v : ws(kvd, T * kvRows),
        attn: ws(dt, T * qRows),
        gu: ws(act, T * 2 * p.intermediate),
        act: ws(dt, T * p.intermediate),
        xLast: ws('f32', S * c.hiddenSize),
        hLast: ws(dt, S * c.hiddenSize),
        aT: ws(dt, P ? K * T : 1),
        chunks: ws('f32', P ? (P / options.tp) * T * c.hiddenSize : 1),
        allChunks: ws('f32', P && options.tp > 1 ? P * T * c.hiddenSize : 1),
        ones: P ? onesBuffer(dev, P) : ws('f32', 1),
        logitsT: ws('f32', p.vocabShard * S),
        gathered: ws('f32', options.tp > 1 ? options.tp * p.vocabShard * S : 1),
        logits: ws('f32', r === 0 ? S * c.vocabSize : 1),
        sampled: ws('i32', S),
        kCache: [],
        vCache: [],
      };
    });
  }

  /** Bytes of KV cache one block takes on one rank (all layers, keys and values). */
  get blockBytes(): number {
    return kvBlockBytes(this.config, this.plan, this.precision.kvCache, this.options.blockSize);
  }

  /** Free device memory per rank now (the smallest over ranks). */
  freeBytes(): number {
    return Math.min(...this.ranks.map((k) => k.dev.memGetInfo().free));
  }

  /** Allocates the paged KV cache: `blocks` blocks on every rank. */
  allocateKvCache(blocks: number): void {
    const { blockSize } = this.options;
    const n = blocks * blockSize * this.plan.kvHeads * this.config.headDim;
    for (const k of this.ranks) {
      for (let l = 0; l < this.config.numLayers; l++) {
        k.kCache.push(k.dev.alloc(this.precision.kvCache, n));
        k.vCache.push(k.dev.alloc(this.precision.kvCache, n));
      }
    }
    this.numBlocks = blocks;
  }

  /** Runs one step; returns the sampled token of each entry with `sample` set, in order. */
  forward(batch: readonly BatchEntry[]): Int32Array {
    const c = this.config;
    const p = this.plan;
    const { blockSize } = this.options;
    const D = c.hiddenSize;
    const hd = c.headDim;
    const N = batch.reduce((s, e) => s + e.tokens.length, 0);
    const S = batch.length;
    if (N > this.options.maxTokens || S > this.options.maxSeqs) {
      throw new Error(
        `forward: ${N} tokens / ${S} sequences exceed the workspace (${this.options.maxTokens} / ${this.options.maxSeqs}).`,
      );
    }
    // Host-side step inputs (vLLM's input preparation): ids, positions, KV slots, block tables, rows that sample.
    const ids = new Int32Array(N);
    const positions = new Int32Array(N);
    const slots = new Int32Array(N);
    const tables = new Int32Array(S * this.maxBlocksPerSeq);
    const lastRows: number[] = [];
    const queryLens: number[] = [];
    const contextLens: number[] = [];
    let i = 0;
    batch.forEach((e, s) => {
      tables.set(e.blockTable, s * this.maxBlocksPerSeq);
      for (let j = 0; j < e.tokens.length; j++, i++) {
        const pos = e.start + j;
        ids[i] = e.tokens[j]!;
        positions[i] = pos;
        slots[i] = e.blockTable[Math.floor(pos / blockSize)]! * blockSize + (pos % blockSize);
      }
      if (e.sample) lastRows.push(i - 1);
      queryLens.push(e.tokens.length);
      contextLens.push(e.start + e.tokens.length);
    });
    const R = lastRows.length;
    const sampleRows = Int32Array.from(lastRows);
    for (const k of this.ranks) {
      k.dev.memcpyHtoD(k.ids, ids);
      k.dev.memcpyHtoD(k.positions, positions);
      k.dev.memcpyHtoD(k.slots, slots);
      k.dev.memcpyHtoD(k.tables, tables);
      if (R > 0) k.dev.memcpyHtoD(k.lastRows, sampleRows);
      embedding(k.dev, { table: k.embed, ids: k.ids, out: k.x, tokens: N, vocab: c.vocabSize, dim: D });
    }
    const tp1 = this.comm === null;
    // x ← x + a·W summed over the ranks' K slices of the row-parallel GEMM (O or down).
    const rowParallel = (input: (k: Rank) => DeviceBuffer, weight: (k: Rank) => DeviceBuffer, K: number) => {
      if (this.chunks > 0) {
        this.rowParallelInvariant(input, weight, K, N);
        return;
      }
      // With TP 1 the residual is fused into the GEMM; otherwise rank 0 adds x and an all-reduce sums.
      for (const [r, k] of this.ranks.entries()) {
        gemm(k.dev, { a: input(k), b: weight(k), c: k.part, residual: r === 0 ? k.x : undefined, M: N, N: D, K });
      }
      if (tp1) this.swapResidual();
      else {
        this.comm!.allReduce(
          this.ranks.map((k) => k.part),
          this.ranks.map((k) => k.x),
          { count: N * D },
        );
      }
    };
    const shape = {
      N,
      D,
      heads: p.heads,
      kvHeads: p.kvHeads,
      headDim: hd,
      eps: c.rmsNormEps,
      theta: c.ropeTheta,
      convention: c.ropeConvention,
      queryLens,
      contextLens,
      maxBlocksPerSeq: this.maxBlocksPerSeq,
      blockSize,
    };
    for (let l = 0; l < c.numLayers; l++) {
      for (const k of this.ranks) {
        const w = k.layers[l]!;
        attentionBlock(
          k.dev,
          { norm: w.attnNorm, q: { w: w.q }, k: { w: w.k }, v: { w: w.v } },
          { ...k, kCache: k.kCache[l]!, vCache: k.vCache[l]! },
          shape,
        );
      }
      rowParallel(
        (k) => k.attn,
        (k) => k.layers[l]!.o,
        p.heads * hd,
      );
      for (const k of this.ranks) {
        const w = k.layers[l]!;
        gatedMlpInput(k.dev, w.ffnNorm, { w: w.gateUp }, k, {
          N,
          D,
          intermediate: p.intermediate,
          eps: c.rmsNormEps,
        });
      }
      rowParallel(
        (k) => k.act,
        (k) => k.layers[l]!.down,
        p.intermediate,
      );
    }
    if (R === 0) {
      this.synchronize();
      return new Int32Array(0);
    }
    // Output head on the rows that sample: gather their residual rows, norm, then (Vs, R) = W_head_r · h_lastᵀ.
    for (const k of this.ranks) {
      embedding(k.dev, { table: k.x, ids: k.lastRows, out: k.xLast, tokens: R, vocab: N, dim: D });
      rmsnorm(k.dev, { x: k.xLast, weight: k.finalNorm, out: k.hLast, rows: R, cols: D, eps: c.rmsNormEps });
      gemm(k.dev, { a: k.head, b: k.hLast, c: k.logitsT, M: p.vocabShard, N: R, K: D, transB: true });
    }
    const r0 = this.ranks[0]!;
    if (tp1) {
      transpose(r0.dev, { x: r0.logitsT, out: r0.logits, rows: c.vocabSize, cols: R });
    } else {
      // (tp·Vs, R) on rank 0: shards stack along the vocabulary; padding rows sit past vocabSize and are left out.
      const sendCount = p.vocabShard * R;
      this.comm!.allGather(
        this.ranks.map((k) => k.logitsT),
        this.ranks.map((k) => k.gathered),
        { count: sendCount },
      );
      transpose(r0.dev, { x: r0.gathered, out: r0.logits, rows: c.vocabSize, cols: R });
    }
    this.lastRows = R;
    const rows = batch.filter((e) => e.sample);
    sample(r0.dev, {
      logits: r0.logits,
      out: r0.sampled,
      rows: R,
      vocab: c.vocabSize,
      temperature: rows.map((e) => e.temperature),
      topK: rows.map((e) => Math.max(0, e.topK)),
      topP: rows.map((e) => e.topP),
      seeds: rows.map((e) => e.seed),
      steps: rows.map((e) => e.step),
    });
    const out = new Int32Array(R);
    r0.dev.memcpyDtoH(out, r0.sampled.view(0, R));
    this.synchronize();
    return out;
  }

  /** The last step's logits, (rows that sampled, vocab), from rank 0 (for tests and log-probabilities). */
  logits(): Float32Array {
    const r0 = this.ranks[0]!;
    const out = new Float32Array(this.lastRows * this.config.vocabSize);
    r0.dev.memcpyDtoH(out, r0.logits.view(0, out.length));
    return out;
  }

  /** Waits for every rank (the modelled host clock then stands at the step's end). */
  private synchronize(): void {
    for (const k of this.ranks) k.dev.synchronize();
  }

  /**
   * x ← x + Σ_chunks a[:, chunk]·W[chunk, :] with P fixed chunks of K, the same arithmetic at every TP degree: each rank
   * transposes its input (N, Kr) so that a chunk is a contiguous row block, computes its P/tp chunk partials with one
   * batched GEMM, the partials are all-gathered in K order, and every rank sums them (sequential f32, chunk order) with
   * the residual fused, in a GEMM by ones(1, P).
   */
  private rowParallelInvariant(
    input: (k: Rank) => DeviceBuffer,
    weight: (k: Rank) => DeviceBuffer,
    Kr: number,
    N: number,
  ): void {
    const D = this.config.hiddenSize;
    const P = this.chunks;
    const local = P / this.options.tp;
    const Kc = Kr / local;
    for (const k of this.ranks) {
      transpose(k.dev, { x: input(k), out: k.aT, rows: N, cols: Kr });
      gemm(k.dev, {
        a: k.aT,
        transA: true,
        b: weight(k),
        c: k.chunks,
        M: N,
        N: D,
        K: Kc,
        batch: local,
        strideA: Kc * N,
        strideB: Kc * D,
        strideC: N * D,
      });
    }
    if (this.comm) {
      this.comm.allGather(
        this.ranks.map((k) => k.chunks),
        this.ranks.map((k) => k.allChunks),
        { count: local * N * D },
      );
    }
    for (const k of this.ranks) {
      const all = this.comm ? k.allChunks : k.chunks;
      gemm(k.dev, { a: k.ones, b: all, c: k.part, residual: k.x, M: 1, N: N * D, K: P });
    }
    this.swapResidual();
  }

  private swapResidual(): void {
    for (const k of this.ranks) [k.x, k.part] = [k.part, k.x];
  }
}
