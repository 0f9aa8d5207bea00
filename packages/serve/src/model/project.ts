/**
 * projectStep: one engine step of any @tessera/models architecture, costed by running the model graph's launches on a
 * timing-only cluster — buffers carry shape and dtype only, nothing is computed and no weight is materialised. The
 * decoder layer's launches are layer.ts's, the ones LlamaModel serves with; the collectives are the cluster
 * communicator's (its tuner picks the algorithm: the one-sided path is its default for MoE all-to-all).
 *
 * Per rank r of the TP group, per layer (N tokens this step, vLLM's layout):
 *   attention   layer.ts attentionBlock (rmsnorm, q/k/v (+bias), [q/k norms], rope, reshape_and_cache, paged
 *               attention), then o = attn·Wo_r (+ x on rank 0), all-reduce (at TP 1: residual fused, no collective)
 *   MLA         (DeepSeek) the absorbed path: rmsnorm; q_a → rmsnorm → q_b; kv_a → latent (rmsnorm) + RoPE key; q_nope ·
 *               W_UK per head; rope; the latent row cached; paged attention over it (1 KV head of 576); · W_UV per
 *               head; then the O projection and all-reduce as above
 *   dense MLP   layer.ts gatedMlpInput (rmsnorm, gate/up, silu·mul), then down (+ x on rank 0), all-reduce
 *   MoE, ep = 1 (vLLM's default: every expert TP-sharded over the intermediate dimension)
 *               rmsnorm; router GEMM (N, E) f32; moeRouter (top-k, softmax, renormalised when norm_topk_prob);
 *               moePermute; row gather (embedding kernel); groupedGemm gate/up over E groups; silu·mul; groupedGemm
 *               down; moeUnpermute (weighted sum) into the partial sum; shared experts (TP-sharded) add theirs;
 *               rank 0 adds x; all-reduce
 *   MoE, ep = tp (expert parallelism over the TP group; vLLM's --enable-expert-parallel with DeepEP-style dispatch)
 *               rmsnorm (all N rows, replicated); rank r routes its slice of ⌈N/ep⌉ tokens: router GEMM, moeRouter,
 *               moePermute, row gather; dispatch = all-to-all-v of the (token, expert) rows to the experts' owners;
 *               groupedGemm gate/up over its E/ep whole experts; silu·mul; groupedGemm down; combine = the reverse
 *               all-to-all-v; moeUnpermute; x_slice += routed (add); shared experts (replicated) with the residual
 *               fused; all-gather of the slices rebuilds the replicated residual
 * Then the output head on the rows that sample (every decode row; the last row of each prefill chunk), as LlamaModel.
 *
 * Assumptions (see the README): sigmoid routing costed as softmax top-k; uniform routing — every expert gets N·k/E of the (token, expert) pairs (remainder to
 * the first experts), and each rank's slice sends equally to every owner; host input preparation (ids, positions,
 * block tables) is not costed; the KV cache holds batch × contextLen tokens in blocks of `blockSize`; one stream per
 * rank, so kernels and collectives serialise (no overlap).
 */
import { type Cluster, createCluster, type TopologySpec } from '@tessera/cluster';
import { compulsoryBytes, type DeviceBuffer, type DType } from '@tessera/device';
import {
  add,
  embedding,
  gemm,
  groupedGemm,
  moePermute,
  moeRouter,
  moeUnpermute,
  pagedAttention,
  reshapeAndCache,
  rmsnorm,
  rope,
  sample,
  siluAndMul,
  transpose,
} from '@tessera/kernels';
import { isMoeLayer, type ModelArchitecture } from '@tessera/models';
import { type AttentionBuffers, attentionBlock, gatedMlpInput, type Linear, linear, type QuantScratch } from './layer';

export type ProjectedWeightDtype = 'bf16' | 'f16' | 'int8';
export type ProjectedKvDtype = 'bf16' | 'f16';

export interface ProjectStepOptions {
  arch: ModelArchitecture;
  /** A built-in topology name (e.g. 'dgx-h100') or a spec; the TP group is its first `tp` ranks. */
  topology: string | TopologySpec;
  tp: number;
  /** Expert parallelism for MoE layers: 1 (experts TP-sharded) or tp (whole experts spread over the TP group). Default tp. */
  ep?: number;
  /** Sequences in the step. */
  batch: number;
  /** Tokens in each sequence's cache after this step (its context length). */
  contextLen: number;
  /** Weights and GEMM inputs (int8: W8A8, per-token activation scales, dense projections only). Default bf16. */
  weightDtype?: ProjectedWeightDtype;
  /** Default bf16. */
  kvDtype?: ProjectedKvDtype;
  phase: 'decode' | 'prefill';
  /** Prefill: the tokens each sequence computes this step (a chunk ending at contextLen). Default contextLen. */
  prefillChunk?: number;
  /** KV-cache block size (default 16). */
  blockSize?: number;
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
}

export interface RankProjection {
  rank: number;
  kernelsMs: number;
  collectivesMs: number;
  /** Time this rank's stream waited (a collective waiting for a slower rank). */
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
  /** The step's modelled time: from its first launch to the last rank's end. */
  ms: number;
  /** The rank whose stream ends last. */
  criticalRank: number;
  ranks: RankProjection[];
  /** Tokens computed this step, and rows sampled. */
  tokens: number;
  sampledRows: number;
  /** Bytes of weights per rank as allocated (the step's GEMMs read every projection weight once). */
  memory: MemoryPerDevice;
  /** What was assumed, in words. */
  assumptions: string[];
}

/** The model (or the step) does not fit a device: `shortfall` bytes are missing on every rank of the TP group. */
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

const prefix = (xs: readonly number[]): number[] => {
  const out = [0];
  for (const x of xs) out.push(out[out.length - 1]! + x);
  return out;
};

const isMoe = (a: ModelArchitecture, i: number): boolean => a.moe !== null && isMoeLayer(a, i);

type Kind = 'weights' | 'kv' | 'workspace';
interface Plan {
  name: string;
  kind: Kind;
  dtype: DType;
  n: number;
}
const BYTES: Partial<Record<DType, number>> = { f32: 4, i32: 4, bf16: 2, f16: 2, i8: 1 };
const bytesOf = (p: Plan) => p.n * BYTES[p.dtype]!;

/** One step of `arch` on `tp` ranks of `topology`, costed with the kernels' and communicator's models. */
export async function projectStep(o: ProjectStepOptions): Promise<StepProjection> {
  const a = o.arch;
  const att = a.attention;
  const mla = att.kind === 'mla' ? att : null;
  const gqa = att.kind === 'gqa' ? att : null;
  const tp = o.tp;
  const wd = o.weightDtype ?? 'bf16';
  const kvd = o.kvDtype ?? 'bf16';
  if (!['bf16', 'f16', 'int8'].includes(wd))
    throw new ProjectionError('weightDtype', `weightDtype ${wd}: the kernels' GEMMs take bf16, f16 or int8 (W8A8).`);
  if (!['bf16', 'f16'].includes(kvd)) throw new ProjectionError('kvDtype', `kvDtype ${kvd}: bf16 or f16.`);
  const moe = a.moe;
  const ep = moe ? (o.ep ?? tp) : 1;
  if (moe && ep !== 1 && ep !== tp) throw new ProjectionError('ep', `ep = ${ep}: 1 or the TP degree (${tp}).`);
  if (moe && wd === 'int8')
    throw new ProjectionError(
      'weightDtype',
      'int8 experts: groupedGemm has no W8A8 epilogue; use bf16 for MoE models.',
    );
  if (mla && wd === 'int8')
    throw new ProjectionError('weightDtype', 'int8 with MLA: the absorbed per-head GEMMs are bf16/f16 only.');
  const H = att.numHeads;
  // MLA caches one latent "head" of kvLoraRank + qkRopeHeadDim per token, replicated on every TP rank, and attention
  // runs over it for every query head (vLLM's and SGLang's absorbed decode path; FlashMLA's head size 576).
  const KV = gqa ? gqa.numKvHeads : 1;
  const hd = gqa ? gqa.headDim : mla!.kvLoraRank + mla!.qkRopeHeadDim;
  const why =
    !Number.isInteger(tp) || tp < 1
      ? 'it must be an integer ≥ 1'
      : H % tp !== 0
        ? `num_attention_heads (${H}) is not divisible by it`
        : KV % tp !== 0 && tp % KV !== 0
          ? `num_key_value_heads (${KV}) neither divides nor is divisible by it`
          : a.mlp.intermediateSize % tp !== 0
            ? `intermediate_size (${a.mlp.intermediateSize}) is not divisible by it`
            : moe && ep === 1 && moe.expertIntermediateSize % tp !== 0
              ? `moe_intermediate_size (${moe.expertIntermediateSize}) is not divisible by it`
              : moe && ep > 1 && moe.numExperts % ep !== 0
                ? `the ${moe.numExperts} experts do not split over ep = ${ep}`
                : null;
  if (why) throw new ProjectionError('tp', `TP degree ${tp} does not fit ${a.modelType}: ${why}.`);
  const phase = o.phase;
  const S = o.batch;
  const ctx = o.contextLen;
  const chunk = phase === 'decode' ? 1 : (o.prefillChunk ?? ctx);
  for (const [k, v] of [
    ['batch', S],
    ['contextLen', ctx],
    ['prefillChunk', chunk],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ProjectionError(k, `${k} = ${v} must be an integer ≥ 1.`);
  }
  if (chunk > ctx) throw new ProjectionError('prefillChunk', `prefillChunk ${chunk} exceeds contextLen ${ctx}.`);
  const blockSize = o.blockSize ?? 16;
  const N = S * chunk;
  const R = S; // rows that sample: every decode row; the last token of each prefill chunk
  const D = a.hiddenSize;
  const V = a.vocabSize;
  const heads = H / tp;
  const kvHeads = Math.max(1, KV / tp);
  const inter = a.mlp.intermediateSize / tp;
  const vd = gqa ? hd : mla!.vHeadDim; // per-head width of the attention output (the O projection's K / heads)
  const qk = mla ? mla.qkNopeHeadDim + mla.qkRopeHeadDim : 0;
  const Vs = Math.ceil(V / tp);
  const maxBlocksPerSeq = Math.ceil(ctx / blockSize);
  const blocks = S * maxBlocksPerSeq;
  const W: DType = wd === 'int8' ? 'i8' : wd;
  const A: DType = wd === 'int8' ? 'bf16' : wd; // activations (and GEMM outputs)
  const C: DType = kvd;
  const k = moe?.numExpertsPerToken ?? 0;
  const E = moe?.numExperts ?? 0;
  const El = moe ? E / ep : 0;
  const eInter = moe ? (ep === 1 ? moe.expertIntermediateSize / tp : moe.expertIntermediateSize) : 0;
  const shInter = moe ? (moe.numSharedExperts * moe.expertIntermediateSize) / (ep === 1 ? tp : 1) : 0;
  const Ns = ep > 1 ? Math.ceil(N / ep) : N; // tokens each rank routes
  const Np = ep > 1 ? Ns * ep : N; // padded rows of the replicated residual
  // Uniform routing: rows rank i sends to rank j (ep > 1), and rows per local expert.
  const sendRows = ep > 1 ? evenSplit(Ns * k, ep) : [];
  // Every rank sends sendRows[j] rows to owner j, so rank j receives ep · sendRows[j] (N·k with ep = 1).
  const recvOf = (r: number) => (ep > 1 ? ep * sendRows[r]! : N * k);
  const recvRows = recvOf(0);
  const offsetsOf = (r: number) => (moe ? prefix(evenSplit(recvOf(r), ep > 1 ? El : E)) : []);

  // ---- The buffers of one rank (shape and dtype), then the capacity check, then the allocation. ----
  const plans: Plan[] = [];
  const plan = (name: string, kind: Kind, dtype: DType, n: number) =>
    plans.push({ name, kind, dtype, n: Math.max(1, n) });
  const wlin = (name: string, K: number, Nout: number, bias: boolean) => {
    plan(name, 'weights', W, K * Nout);
    if (wd === 'int8') plan(`${name}.scale`, 'weights', 'f32', Nout);
    if (bias) plan(`${name}.bias`, 'weights', A, Nout);
  };
  plan('embed', 'weights', A, V * D); // replicated, as LlamaModel keeps it
  plan('finalNorm', 'weights', 'f32', D);
  plan('head', 'weights', A, Vs * D);
  for (let l = 0; l < a.numLayers; l++) {
    const p = `layers.${l}`;
    plan(`${p}.attnNorm`, 'weights', 'f32', D);
    if (gqa) {
      wlin(`${p}.q`, D, heads * hd, gqa.qkvBias);
      wlin(`${p}.k`, D, kvHeads * hd, gqa.qkvBias);
      wlin(`${p}.v`, D, kvHeads * hd, gqa.qkvBias);
      if (gqa.qkNorm) {
        plan(`${p}.qNorm`, 'weights', 'f32', hd);
        plan(`${p}.kNorm`, 'weights', 'f32', hd);
      }
      wlin(`${p}.o`, heads * hd, D, gqa.outputBias);
    } else {
      const m = mla!;
      if (m.qLoraRank !== null) {
        wlin(`${p}.qa`, D, m.qLoraRank, m.bias); // replicated, as vLLM's ReplicatedLinear
        plan(`${p}.qaNorm`, 'weights', 'f32', m.qLoraRank);
        wlin(`${p}.qb`, m.qLoraRank, heads * qk, false);
      } else wlin(`${p}.qb`, D, heads * qk, false);
      wlin(`${p}.kva`, D, hd, m.bias); // replicated: the latent and the shared RoPE key
      plan(`${p}.kvaNorm`, 'weights', 'f32', m.kvLoraRank);
      // kv_b_proj, absorbed: W_UK (heads, nope, latent) into the query, W_UV (heads, latent, v) after attention.
      plan(`${p}.wuk`, 'weights', W, heads * m.qkNopeHeadDim * m.kvLoraRank);
      plan(`${p}.wuv`, 'weights', W, heads * m.kvLoraRank * vd);
      wlin(`${p}.o`, heads * vd, D, m.bias);
    }
    plan(`${p}.ffnNorm`, 'weights', 'f32', D);
    if (moe && isMoe(a, l)) {
      plan(`${p}.router`, 'weights', A, D * E);
      plan(`${p}.experts.gateUp`, 'weights', W, (ep > 1 ? El : E) * D * 2 * eInter);
      plan(`${p}.experts.down`, 'weights', W, (ep > 1 ? El : E) * eInter * D);
      if (shInter > 0) {
        wlin(`${p}.shared.gateUp`, D, 2 * shInter, false);
        wlin(`${p}.shared.down`, shInter, D, false);
      }
    } else {
      wlin(`${p}.gateUp`, D, 2 * inter, a.mlp.bias);
      wlin(`${p}.down`, inter, D, a.mlp.bias);
    }
    plan(`${p}.kCache`, 'kv', C, blocks * blockSize * kvHeads * hd);
    if (gqa) plan(`${p}.vCache`, 'kv', C, blocks * blockSize * kvHeads * hd); // MLA: values are the latent itself
  }
  const ws = (name: string, dtype: DType, n: number) => plan(name, 'workspace', dtype, n);
  const T = Np;
  const Imax = Math.max(inter, shInter, 1);
  ws('ids', 'i32', T);
  ws('positions', 'i32', T);
  ws('slots', 'i32', T);
  ws('tables', 'i32', S * maxBlocksPerSeq);
  ws('lastRows', 'i32', S);
  ws('x', 'f32', T * D);
  ws('part', 'f32', T * D);
  ws('h', A, T * D);
  ws('q', A, T * heads * hd);
  ws('k', A, T * kvHeads * hd);
  ws('v', C, T * kvHeads * hd); // the GEMM writes v straight in the cache dtype
  if (C !== A) {
    ws('qRot', C, T * heads * hd);
    ws('kRot', C, T * kvHeads * hd);
  }
  ws('attn', A, T * heads * hd);
  if (mla) {
    ws('mla.qa', A, T * (mla.qLoraRank ?? 1));
    ws('mla.qaN', A, T * (mla.qLoraRank ?? 1));
    ws('mla.q', A, T * heads * qk);
    ws('mla.kv', C, T * hd);
    ws('mla.ckv', A, T * mla.kvLoraRank);
    ws('mla.qPe', C, T * heads * mla.qkRopeHeadDim);
    ws('mla.kPe', C, T * mla.qkRopeHeadDim);
    ws('mla.qAtt', C, T * heads * hd);
    ws('mla.out', A, T * heads * hd);
  }
  ws('gu', A, T * 2 * Imax);
  ws('act', A, T * Imax);
  if (wd === 'int8') {
    ws('quant.x', 'i8', T * Math.max(D, heads * hd, Imax));
    ws('quant.scales', 'f32', T);
  }
  if (moe) {
    ws('moe.logits', 'f32', Ns * E);
    ws('moe.weights', 'f32', Ns * k);
    ws('moe.ids', 'i32', Ns * k);
    ws('moe.permuted', 'i32', Ns * k);
    ws('moe.offsets', 'i32', E + 1);
    ws('moe.positions', 'i32', Ns * k);
    ws('moe.rows', A, Ns * k * D); // gathered (token, expert) rows, in expert order
    ws('moe.recv', A, recvRows * D);
    ws('moe.gu', A, recvRows * 2 * eInter);
    ws('moe.act', A, recvRows * eInter);
    ws('moe.y', ep > 1 ? A : 'f32', recvRows * D);
    ws('moe.back', ep > 1 ? A : 'f32', Ns * k * D);
    ws('moe.out', 'f32', Ns * D);
    ws('moe.xs', 'f32', Ns * D);
  }
  ws('xLast', 'f32', R * D);
  ws('hLast', A, R * D);
  ws('logitsT', 'f32', Vs * R);
  ws('gathered', 'f32', tp > 1 ? tp * Vs * R : 1);
  ws('logits', 'f32', R * V);
  ws('sampled', 'i32', R);

  const cluster: Cluster = await createCluster({ topology: o.topology, ranks: tp, mode: 'timing', profile: true });
  const dev0 = cluster.devices[0]!;
  // The device charges each allocation rounded up to its granularity (cudaMalloc's): measure it with one byte.
  const before = dev0.memGetInfo().free;
  const probe = dev0.alloc('u8', 1);
  const gran = before - dev0.memGetInfo().free;
  dev0.free(probe);
  const charged = (p: Plan) => Math.max(gran, Math.ceil(bytesOf(p) / gran) * gran);
  const sum = (kind: Kind) => plans.filter((p) => p.kind === kind).reduce((s, p) => s + charged(p), 0);
  const memory: MemoryPerDevice = {
    weights: sum('weights'),
    kvCache: sum('kv'),
    workspace: sum('workspace'),
    total: 0,
    capacity: dev0.memGetInfo().free,
  };
  memory.total = memory.weights + memory.kvCache + memory.workspace;
  if (memory.total > memory.capacity) {
    throw new CapacityError(memory, memory.total - memory.capacity, dev0.properties.name);
  }
  const ranks = cluster.devices.map((dev) => {
    const m = new Map<string, DeviceBuffer>();
    for (const p of plans) m.set(p.name, dev.alloc(p.dtype, p.n));
    return { dev, m, b: (name: string) => m.get(name)! };
  });
  type RankState = (typeof ranks)[number];
  const comm = tp > 1 ? cluster.communicator([...Array(tp).keys()]) : null;
  const lin = (rk: RankState, name: string): Linear => ({
    w: rk.b(name),
    scale: rk.m.get(`${name}.scale`),
    bias: rk.m.get(`${name}.bias`),
  });
  const quant = (rk: RankState): QuantScratch | undefined =>
    wd === 'int8' ? { x: rk.b('quant.x'), scales: rk.b('quant.scales') } : undefined;

  const queryLens = Array.from({ length: S }, () => chunk);
  const contextLens = Array.from({ length: S }, () => ctx);
  const shape = {
    N,
    D,
    heads,
    kvHeads,
    headDim: hd,
    rotaryDim: a.rope.rotaryDim,
    eps: a.rmsNormEps,
    theta: a.rope.theta,
    convention: 'half' as const,
    queryLens,
    contextLens,
    maxBlocksPerSeq,
    blockSize,
  };
  const prof = cluster.runtime.profiler;
  prof.clear();
  for (const rk of ranks) {
    embedding(rk.dev, { table: rk.b('embed'), ids: rk.b('ids'), out: rk.b('x'), tokens: N, vocab: V, dim: D });
  }
  // x ← x + partial sums of a row-parallel projection (residual fused at TP 1; rank 0 adds it before the all-reduce).
  const reduce = (count: number) => {
    if (comm) {
      comm.allReduce(
        ranks.map((r) => r.b('part')),
        ranks.map((r) => r.b('x')),
        { count },
      );
    } else {
      for (const rk of ranks) {
        const x = rk.b('x');
        rk.m.set('x', rk.b('part'));
        rk.m.set('part', x);
      }
    }
  };
  const rowParallel = (input: string, weight: string, K: number) => {
    for (const [r, rk] of ranks.entries()) {
      linear(rk.dev, rk.b(input), lin(rk, weight), rk.b('part'), N, D, K, {
        residual: r === 0 ? rk.b('x') : undefined,
        quant: quant(rk),
      });
    }
    reduce(N * D);
  };
  /**
   * MLA's absorbed path on one rank (vLLM / SGLang decode): h = rmsnorm(x); q = (q_b ∘ rmsnorm ∘ q_a)(h); [c_KV, k_R] =
   * kv_a(h), c_KV normed; the query's no-RoPE part absorbed into the latent space per head (q_nope · W_UK); RoPE on
   * q_R and k_R; the latent row cached; attention over the latent for every head (head size kvLoraRank +
   * qkRopeHeadDim, values = the latent); per head, the latent output · W_UV → (N, heads · v_head_dim).
   */
  const mlaAttention = (rk: RankState, p: string): void => {
    const m = mla!;
    const dev = rk.dev;
    const lat = m.kvLoraRank;
    const nope = m.qkNopeHeadDim;
    const rd = m.qkRopeHeadDim;
    rmsnorm(dev, { x: rk.b('x'), weight: rk.b(`${p}.attnNorm`), out: rk.b('h'), rows: N, cols: D, eps: a.rmsNormEps });
    if (m.qLoraRank !== null) {
      linear(dev, rk.b('h'), lin(rk, `${p}.qa`), rk.b('mla.qa'), N, m.qLoraRank, D);
      rmsnorm(dev, {
        x: rk.b('mla.qa'),
        weight: rk.b(`${p}.qaNorm`),
        out: rk.b('mla.qaN'),
        rows: N,
        cols: m.qLoraRank,
        eps: a.rmsNormEps,
      });
      linear(dev, rk.b('mla.qaN'), lin(rk, `${p}.qb`), rk.b('mla.q'), N, heads * qk, m.qLoraRank);
    } else linear(dev, rk.b('h'), lin(rk, `${p}.qb`), rk.b('mla.q'), N, heads * qk, D);
    linear(dev, rk.b('h'), lin(rk, `${p}.kva`), rk.b('mla.kv'), N, hd, D);
    rmsnorm(dev, {
      x: rk.b('mla.kv'),
      weight: rk.b(`${p}.kvaNorm`),
      out: rk.b('mla.ckv'),
      rows: N,
      cols: lat,
      eps: a.rmsNormEps,
    });
    // q_nope (heads, N, nope) · W_UK (heads, nope, lat) → the attention query's latent part, per head.
    gemm(dev, {
      a: rk.b('mla.q'),
      b: rk.b(`${p}.wuk`),
      c: rk.b('mla.qAtt'),
      M: N,
      N: lat,
      K: nope,
      batch: heads,
      strideA: N * nope,
      strideB: nope * lat,
      strideC: N * hd,
    });
    const ropeArgs = {
      positions: rk.b('positions'),
      tokens: N,
      headDim: rd,
      theta: a.rope.theta,
      convention: 'half' as const,
    };
    rope(dev, { ...ropeArgs, x: rk.b('mla.qPe'), out: rk.b('mla.qPe'), heads });
    rope(dev, { ...ropeArgs, x: rk.b('mla.kPe'), out: rk.b('mla.kPe'), heads: 1 });
    const cache = rk.b(`${p}.kCache`);
    reshapeAndCache(dev, {
      key: rk.b('mla.kv'),
      value: rk.b('mla.kv'),
      keyCache: cache,
      valueCache: cache,
      slotMapping: rk.b('slots'),
      tokens: N,
      kvHeads: 1,
      headDim: hd,
    });
    pagedAttention(dev, {
      q: rk.b('mla.qAtt'),
      keyCache: cache,
      valueCache: cache,
      blockTables: rk.b('tables'),
      out: rk.b('mla.out'),
      queryLens,
      contextLens,
      maxBlocksPerSeq,
      blockSize,
      heads,
      kvHeads: 1,
      headDim: hd,
      scale: 1 / Math.sqrt(qk),
    });
    // The latent output (heads, N, lat) · W_UV (heads, lat, v) → (N, heads · v).
    gemm(dev, {
      a: rk.b('mla.out'),
      b: rk.b(`${p}.wuv`),
      c: rk.b('attn'),
      M: N,
      N: vd,
      K: lat,
      batch: heads,
      strideA: N * hd,
      strideB: lat * vd,
      strideC: N * vd,
    });
  };
  for (let l = 0; l < a.numLayers; l++) {
    const p = `layers.${l}`;
    for (const rk of ranks) {
      if (mla) {
        mlaAttention(rk, p);
        continue;
      }
      const bufs: AttentionBuffers = {
        x: rk.b('x'),
        h: rk.b('h'),
        q: rk.b('q'),
        k: rk.b('k'),
        v: rk.b('v'),
        qRot: rk.m.get('qRot') ?? rk.b('q'),
        kRot: rk.m.get('kRot') ?? rk.b('k'),
        vKv: rk.b('v'),
        attn: rk.b('attn'),
        positions: rk.b('positions'),
        slots: rk.b('slots'),
        tables: rk.b('tables'),
        kCache: rk.b(`${p}.kCache`),
        vCache: rk.b(`${p}.vCache`),
        quant: quant(rk),
      };
      attentionBlock(
        rk.dev,
        {
          norm: rk.b(`${p}.attnNorm`),
          q: lin(rk, `${p}.q`),
          k: lin(rk, `${p}.k`),
          v: lin(rk, `${p}.v`),
          qNorm: rk.m.get(`${p}.qNorm`),
          kNorm: rk.m.get(`${p}.kNorm`),
        },
        bufs,
        shape,
      );
    }
    rowParallel('attn', `${p}.o`, heads * vd);
    if (!moe || !isMoe(a, l)) {
      for (const rk of ranks) {
        gatedMlpInput(
          rk.dev,
          rk.b(`${p}.ffnNorm`),
          lin(rk, `${p}.gateUp`),
          { x: rk.b('x'), h: rk.b('h'), gu: rk.b('gu'), act: rk.b('act'), quant: quant(rk) },
          { N, D, intermediate: inter, eps: a.rmsNormEps },
        );
      }
      rowParallel('act', `${p}.down`, inter);
      continue;
    }
    // ---- MoE layer ----
    // With ep > 1, rank r routes rows [r·Ns, (r+1)·Ns) of the normed tokens (a view: no launch).
    const slice = (rk: RankState, r: number, name: string) =>
      ep > 1 ? rk.b(name).view(r * Ns * D, Ns * D) : rk.b(name);
    for (const [r, rk] of ranks.entries()) {
      const dev = rk.dev;
      rmsnorm(dev, { x: rk.b('x'), weight: rk.b(`${p}.ffnNorm`), out: rk.b('h'), rows: N, cols: D, eps: a.rmsNormEps });
      rk.m.set('moe.h', slice(rk, r, 'h'));
      gemm(dev, { a: rk.b('moe.h'), b: rk.b(`${p}.router`), c: rk.b('moe.logits'), M: Ns, N: E, K: D });
      moeRouter(dev, {
        logits: rk.b('moe.logits'),
        weights: rk.b('moe.weights'),
        ids: rk.b('moe.ids'),
        tokens: Ns,
        experts: E,
        k,
        renormalize: moe.normTopkProb,
      });
      moePermute(dev, {
        ids: rk.b('moe.ids'),
        tokens: Ns,
        k,
        experts: E,
        permuted: rk.b('moe.permuted'),
        expertOffsets: rk.b('moe.offsets'),
        positions: rk.b('moe.positions'),
      });
      embedding(dev, {
        table: rk.b('moe.h'),
        ids: rk.b('moe.permuted'),
        out: rk.b(ep > 1 ? 'moe.rows' : 'moe.recv'),
        tokens: Ns * k,
        vocab: Ns,
        dim: D,
      });
    }
    // Dispatch: rank i sends sendRows[j] rows to j; combine: j sends them back (the transpose). One token row per write.
    const a2a = (from: string, to: string, combine: boolean) =>
      comm!.allToAllv(
        ranks.map((r) => r.b(from)),
        ranks.map((r) => r.b(to)),
        {
          sendCounts: ranks.map((_, i) => ranks.map((_, j) => sendRows[combine ? i : j]! * D)),
          messageBytes: D * 2,
        },
      );
    if (ep > 1) a2a('moe.rows', 'moe.recv', false);
    for (const [r, rk] of ranks.entries()) {
      const dev = rk.dev;
      const expertOffsets = offsetsOf(r);
      groupedGemm(dev, {
        a: rk.b('moe.recv'),
        b: rk.b(`${p}.experts.gateUp`),
        c: rk.b('moe.gu'),
        offsets: expertOffsets,
        N: 2 * eInter,
        K: D,
      });
      siluAndMul(dev, { x: rk.b('moe.gu'), out: rk.b('moe.act'), rows: recvOf(r), d: eInter });
      groupedGemm(dev, {
        a: rk.b('moe.act'),
        b: rk.b(`${p}.experts.down`),
        c: rk.b('moe.y'),
        offsets: expertOffsets,
        N: D,
        K: eInter,
      });
    }
    if (ep > 1) a2a('moe.y', 'moe.back', true);
    for (const [r, rk] of ranks.entries()) {
      const dev = rk.dev;
      const out = ep > 1 ? 'moe.out' : 'part';
      moeUnpermute(dev, {
        y: rk.b(ep > 1 ? 'moe.back' : 'moe.y'),
        positions: rk.b('moe.positions'),
        weights: rk.b('moe.weights'),
        out: rk.b(out),
        tokens: Ns,
        k,
        hidden: D,
      });
      // The residual: rank 0 adds x before the all-reduce (ep = 1); each rank adds its slice of x (ep > 1).
      const resid = ep > 1 ? 'moe.xs' : 'part';
      if (ep > 1 || r === 0) add(dev, { a: rk.b(out), b: slice(rk, r, 'x'), out: rk.b(resid), rows: Ns, cols: D });
      if (shInter > 0) {
        gatedMlpInput(
          dev,
          null,
          lin(rk, `${p}.shared.gateUp`),
          { x: rk.b('x'), h: rk.b('moe.h'), gu: rk.b('gu'), act: rk.b('act') },
          { N: Ns, D, intermediate: shInter, eps: a.rmsNormEps },
        );
        linear(dev, rk.b('act'), lin(rk, `${p}.shared.down`), rk.b(resid), Ns, D, shInter, {
          residual: rk.b(resid),
        });
      }
    }
    if (ep > 1) {
      comm!.allGather(
        ranks.map((r) => r.b('moe.xs')),
        ranks.map((r) => r.b('x')),
        { count: Ns * D },
      );
    } else reduce(N * D);
  }
  // Output head on the rows that sample, as LlamaModel.
  for (const rk of ranks) {
    const dev = rk.dev;
    embedding(dev, { table: rk.b('x'), ids: rk.b('lastRows'), out: rk.b('xLast'), tokens: R, vocab: N, dim: D });
    rmsnorm(dev, {
      x: rk.b('xLast'),
      weight: rk.b('finalNorm'),
      out: rk.b('hLast'),
      rows: R,
      cols: D,
      eps: a.rmsNormEps,
    });
    gemm(dev, { a: rk.b('head'), b: rk.b('hLast'), c: rk.b('logitsT'), M: Vs, N: R, K: D, transB: true });
  }
  const r0 = ranks[0]!;
  if (comm) {
    comm.allGather(
      ranks.map((r) => r.b('logitsT')),
      ranks.map((r) => r.b('gathered')),
      { count: Vs * R },
    );
  }
  transpose(r0.dev, { x: r0.b(comm ? 'gathered' : 'logitsT'), out: r0.b('logits'), rows: V, cols: R });
  const zeros = Array.from({ length: R }, () => 0);
  sample(r0.dev, {
    logits: r0.b('logits'),
    out: r0.b('sampled'),
    rows: R,
    vocab: V,
    temperature: zeros,
    topK: zeros,
    topP: zeros.map(() => 1),
    seeds: zeros,
    steps: zeros,
  });
  for (const rk of ranks) rk.dev.synchronize();

  // ---- The timeline, per rank. ----
  const records = prof.records.filter((r) => r.kind === 'kernel' || r.kind === 'collective');
  const t0 = earliestStart(records);
  const perRank: RankProjection[] = ranks.map((_, rank) => ({
    rank,
    kernelsMs: 0,
    collectivesMs: 0,
    idleMs: 0,
    ops: [],
  }));
  const ends = ranks.map(() => t0);
  for (const rec of records) {
    const rp = perRank[rec.deviceOrdinal]!;
    const ms = rec.endMs - rec.startMs;
    rp.idleMs += Math.max(0, rec.startMs - ends[rec.deviceOrdinal]!);
    ends[rec.deviceOrdinal] = Math.max(ends[rec.deviceOrdinal]!, rec.endMs);
    if (rec.kind === 'kernel') {
      rp.kernelsMs += ms;
      const c = rec.cost;
      rp.ops.push({
        kind: 'kernel',
        name: rec.name,
        startMs: rec.startMs - t0,
        ms,
        flops: c ? c.total.matrixFlops.reduce((s, x) => s + x, 0) : 0,
        bytesRead: c ? compulsoryBytes(c).read : 0,
        bytesWritten: c ? compulsoryBytes(c).written : 0,
        dramBytes: rec.timing?.breakdown.dramBytes ?? 0,
      });
    } else {
      rp.collectivesMs += ms;
      rp.ops.push({ kind: 'collective', name: rec.name, startMs: rec.startMs - t0, ms, bytes: rec.bytes ?? 0 });
    }
  }
  const end = Math.max(...ends);
  const criticalRank = ends.indexOf(end);
  const assumptions = [
    'one stream per rank: kernels and collectives serialise, no compute/communication overlap',
    'host input preparation (ids, positions, block tables, sampling parameters) is not costed',
    `KV cache: ${S} sequences × ${ctx} tokens in blocks of ${blockSize}, ${kvd}`,
    'the embedding table is replicated on every rank (as LlamaModel keeps it); the LM head is vocab-parallel',
  ];
  if (mla) {
    assumptions.push(
      `MLA, absorbed: the latent cache (${hd} per token and layer) is replicated on every rank; attention reads it as keys and as values (head size ${hd} for both, as FlashMLA's 576), so the P·V side counts ${hd} rather than ${mla.kvLoraRank} columns`,
    );
  }
  if (moe && moe.scoringFunc !== 'softmax') {
    assumptions.push(
      `${moe.scoringFunc} routing${moe.numExpertGroups ? ' with group-limited top-k' : ''} is costed as moeRouter's softmax top-k (the same shapes and one launch)`,
    );
  }
  if (moe) {
    assumptions.push(
      `uniform routing: each of the ${E} experts gets an equal share (±1) of the ${N}·${k} (token, expert) pairs`,
      ep > 1
        ? `expert parallelism over the ${tp} ranks: ${El} whole experts each; every rank routes ⌈N/ep⌉ = ${Ns} tokens and sends an equal share to every owner (dispatch and combine: all-to-all-v)`
        : 'experts TP-sharded over their intermediate dimension (vLLM without --enable-expert-parallel)',
    );
  }
  return {
    ms: end - t0,
    criticalRank,
    ranks: perRank,
    tokens: N,
    sampledRows: R,
    memory,
    assumptions,
  };
}

/**
 * The earliest start among a step's records. A loop, not Math.min(...): a step at high TP (DeepSeek-R1 at TP 128 on
 * CloudMatrix384) has hundreds of thousands of records, past the engine's argument limit.
 */
export function earliestStart(records: readonly { startMs: number }[]): number {
  let t0 = Number.POSITIVE_INFINITY;
  for (const r of records) if (r.startMs < t0) t0 = r.startMs;
  return t0;
}
