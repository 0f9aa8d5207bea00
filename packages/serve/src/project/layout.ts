/**
 * resolveLayout: validates a ProjectStepOptions and derives everything the buffers and the launches need — per-rank
 * shapes under TP, the DP groups and pipeline stages, the micro-batch's sequences, MoE routing counts under EP, and the
 * passes of one step (the target forward, then the draft passes of speculative decoding).
 *
 * Ranks: rank = stage · (dp · tp) + group · tp + t, so a stage's ranks are contiguous (a stage on as few nodes as it
 * can) and a DP group's TP ranks are neighbours (NVLink / UB peers), as vLLM and SGLang place them.
 */
import type { DType } from '@tessera/device';
import { type GqaAttention, isMoeLayer, type MlaAttention, type ModelArchitecture, type Moe } from '@tessera/models';
import { evenSplit, type ProjectedSequence, ProjectionError, type ProjectStepOptions } from './types';

/** One forward pass of a micro-batch: per DP group, its sequences' query and context lengths. */
export interface Pass {
  kind: 'target' | 'draft';
  /** groups[g] = the sequences of DP group g. */
  groups: ProjectedSequence[][];
  /** Every row samples (speculative verification) or one row per sequence. */
  sampleAll: boolean;
}

export interface Layout {
  a: ModelArchitecture;
  gqa: GqaAttention | null;
  mla: MlaAttention | null;
  moe: Moe | null;
  tp: number;
  dp: number;
  pp: number;
  ep: number;
  /** pp · dp · tp. */
  devices: number;
  /** Ranks of one stage: dp · tp. */
  stageRanks: number;
  /** Layer indices per stage. */
  stages: number[][];
  weightDtype: 'bf16' | 'f16' | 'int8' | 'fp8';
  kvDtype: 'bf16' | 'f16' | 'fp8';
  /** Stored weight dtype, activations (GEMM inputs and outputs), KV cache. */
  W: DType;
  A: DType;
  C: DType;
  /**
   * The dtype of the rows on their way into the cache (v, rotated q and k, MLA's latent): the cache's own for bf16/f16
   * (the GEMM and RoPE write it directly), the activations' for an fp8 cache (reshape_and_cache quantises with its
   * scales, and paged attention dequantises K/V tiles on load, as vLLM's fp8 KV path).
   */
  Cw: DType;
  /** Quantised GEMM inputs: null, or the dtype activations are quantised to per token. */
  Q: DType | null;
  D: number;
  V: number;
  /** Per rank: query heads, KV heads, the cached head width, the attention output's per-head width. */
  heads: number;
  kvHeads: number;
  hd: number;
  vd: number;
  /** MLA: q/k head width (nope + rope). */
  qk: number;
  /** Dense MLP intermediate per rank. */
  inter: number;
  /** LM head rows per rank (vocab-parallel). */
  Vs: number;
  /** MoE: experts per token, experts, expert slots per rank (⌈E / ep⌉), expert / shared intermediate per rank. */
  k: number;
  E: number;
  El: number;
  /** MoE with EP: slots holding a replica of an expert another rank also holds (El · ep − E; 0 when ep divides E). */
  redundantExperts: number;
  eInter: number;
  shInter: number;
  blockSize: number;
  /** Sequences whose KV one rank holds (its DP group's share of every micro-batch in flight) and their context. */
  kvSequences: ProjectedSequence[];
  passes: Pass[];
  /** Speculative: draft tokens and the expected tokens emitted per sequence and step. */
  draftTokens: number;
  tokensPerSequenceStep: number;
  /** Sequences in flight (every micro-batch). */
  sequencesInFlight: number;
  /** The draft head: 'mtp' (the model's own MTP layer) or 'eagle' (one dense decoder layer). */
  draft: 'mtp' | 'eagle' | null;
  /** Two-batch overlap: each pass's two halves (every group's first ⌈n/2⌉ sequences, then the rest); else null. */
  halves: Map<Pass, [Pass, Pass]> | null;
  /** Ranks of one scale-up domain (NVLink / UB), capped at a stage: where DeepEP's normal mode forwards. */
  domain: number;
  /** Dispatch of prefill passes: 'direct' (every (token, expert) row to its owner) or 'hierarchical' (DeepEP normal). */
  prefillDispatch: 'direct' | 'hierarchical';
  /**
   * MLA: sequences with at most this many query tokens take the absorbed (decode) path, longer ones the non-absorbed
   * prefill path (vLLM's decode threshold: 1 + the draft tokens verified); Infinity with mlaPrefill 'absorbed'.
   */
  mlaDecodeQueryLen: number;
}

export const isMoe = (a: ModelArchitecture, i: number): boolean => a.moe !== null && isMoeLayer(a, i);

const positiveInt = (param: string, v: number) => {
  if (!Number.isInteger(v) || v < 1) throw new ProjectionError(param, `${param} = ${v} must be an integer ≥ 1.`);
};

/** Rows of a pass in group g, rows it samples. */
export const rowsOf = (seqs: readonly ProjectedSequence[]) => seqs.reduce((s, q) => s + q.queryLen, 0);
export const sampledOf = (p: Pass, g: number) => (p.sampleAll ? rowsOf(p.groups[g]!) : p.groups[g]!.length);

/** Tokens each rank of a group routes (its slice of the group's rows) under EP; the group's rows without. */
export const routedRows = (L: Layout, rows: number) => (L.ep > 1 ? Math.ceil(rows / L.tp) : rows);

/** `domain`: ranks of one scale-up domain of the topology (for the dispatch's hierarchy; default: the whole stage). */
export function resolveLayout(o: ProjectStepOptions, domain = Number.POSITIVE_INFINITY): Layout {
  const a = o.arch;
  const att = a.attention;
  const mla = att.kind === 'mla' ? att : null;
  const gqa = att.kind === 'gqa' ? att : null;
  const moe = a.moe;
  const tp = o.tp;
  const dp = o.dp ?? 1;
  const pp = o.pp ?? 1;
  for (const [k, v] of [
    ['tp', tp],
    ['dp', dp],
    ['pp', pp],
  ] as const)
    positiveInt(k, v);
  const wd = o.weightDtype ?? 'bf16';
  const kvd = o.kvDtype ?? 'bf16';
  if (!['bf16', 'f16', 'int8', 'fp8'].includes(wd))
    throw new ProjectionError('weightDtype', `weightDtype ${wd}: bf16, f16, int8 (W8A8) or fp8 (W8A8, e4m3).`);
  if (!['bf16', 'f16', 'fp8'].includes(kvd))
    throw new ProjectionError('kvDtype', `kvDtype ${kvd}: bf16, f16 or fp8 (e4m3, per-tensor scales).`);
  if (o.mlaPrefill !== undefined && !['non-absorbed', 'absorbed'].includes(o.mlaPrefill))
    throw new ProjectionError('mlaPrefill', `mlaPrefill ${o.mlaPrefill}: non-absorbed or absorbed.`);
  const ep = moe ? (o.ep ?? dp * tp) : 1;
  if (moe && ep !== 1 && ep !== dp * tp)
    throw new ProjectionError(
      'ep',
      `ep = ${ep}: 1 (experts TP-sharded in each group) or dp · tp = ${dp * tp} (whole experts over every rank of a stage).`,
    );
  if (!moe && dp > 1)
    throw new ProjectionError(
      'dp',
      `dp = ${dp}: attention data parallelism pairs with expert parallelism in MoE models; for ${a.modelType}, run ${dp} replicas instead (the per-chip figures are the same).`,
    );
  const H = att.numHeads;
  // MLA caches one latent "head" of kvLoraRank + qkRopeHeadDim per token, replicated on every TP rank, and attention
  // runs over it for every query head (vLLM's and SGLang's absorbed decode path; FlashMLA's head size 576).
  const KV = gqa ? gqa.numKvHeads : 1;
  const hd = gqa ? gqa.headDim : mla!.kvLoraRank + mla!.qkRopeHeadDim;
  const why =
    H % tp !== 0
      ? `num_attention_heads (${H}) is not divisible by it`
      : KV % tp !== 0 && tp % KV !== 0
        ? `num_key_value_heads (${KV}) neither divides nor is divisible by it`
        : a.mlp.intermediateSize % tp !== 0
          ? `intermediate_size (${a.mlp.intermediateSize}) is not divisible by it`
          : moe && ep === 1 && moe.expertIntermediateSize % tp !== 0
            ? `moe_intermediate_size (${moe.expertIntermediateSize}) is not divisible by it`
            : null;
  if (why) throw new ProjectionError('tp', `TP degree ${tp} does not fit ${a.modelType}: ${why}.`);
  // EP need not divide the experts: every rank holds ⌈E / ep⌉ expert slots, the E experts once each and the slots left
  // over filled with replicas of the busiest ones (redundant experts, as DeepSeek's EPLB and CloudMatrix-Infer's EP320
  // place 256 routed experts on 320 dies), so routing stays balanced over the ranks.
  if (pp > a.numLayers) throw new ProjectionError('pp', `pp = ${pp} exceeds the model's ${a.numLayers} layers.`);
  const blockSize = o.blockSize ?? 16;
  positiveInt('blockSize', blockSize);

  // ---- The micro-batch. ----
  let micro: ProjectedSequence[];
  let phase = o.phase;
  if (o.sequences) {
    if (o.sequences.length === 0) throw new ProjectionError('sequences', 'sequences: give at least one.');
    for (const [i, s] of o.sequences.entries()) {
      positiveInt(`sequences[${i}].queryLen`, s.queryLen);
      positiveInt(`sequences[${i}].contextLen`, s.contextLen);
      if (s.queryLen > s.contextLen)
        throw new ProjectionError(
          'sequences',
          `sequences[${i}]: queryLen ${s.queryLen} exceeds contextLen ${s.contextLen}.`,
        );
    }
    micro = o.sequences.map((s) => ({ ...s }));
    phase = micro.every((s) => s.queryLen === 1) ? 'decode' : 'prefill';
  } else {
    positiveInt('batch', o.batch);
    positiveInt('contextLen', o.contextLen);
    const chunk = o.phase === 'decode' ? 1 : (o.prefillChunk ?? o.contextLen);
    positiveInt('prefillChunk', chunk);
    if (chunk > o.contextLen)
      throw new ProjectionError('prefillChunk', `prefillChunk ${chunk} exceeds contextLen ${o.contextLen}.`);
    if (o.batch % pp !== 0)
      throw new ProjectionError(
        'batch',
        `batch ${o.batch} is not a multiple of pp = ${pp}: each stage takes one micro-batch of batch / pp sequences.`,
      );
    micro = Array.from({ length: o.batch / pp }, () => ({ queryLen: chunk, contextLen: o.contextLen }));
  }
  if (micro.length < dp)
    throw new ProjectionError(
      'dp',
      `dp = ${dp} exceeds the ${micro.length} sequences of a micro-batch: every DP group needs one.`,
    );
  const split = (seqs: ProjectedSequence[]) => {
    const sizes = evenSplit(seqs.length, dp);
    let at = 0;
    return sizes.map((n) => seqs.slice(at, (at += n)));
  };

  // ---- Speculative decoding. ----
  const spec = o.speculative;
  let draftTokens = 0;
  let tokensPerSequenceStep = 1;
  let draft: Layout['draft'] = null;
  if (spec) {
    if (phase !== 'decode') throw new ProjectionError('speculative', 'speculative decoding applies to decode steps.');
    positiveInt('speculative.tokens', spec.tokens);
    if (!(spec.acceptance >= 0 && spec.acceptance < 1))
      throw new ProjectionError('speculative.acceptance', `acceptance ${spec.acceptance} must lie in [0, 1).`);
    draftTokens = spec.tokens;
    const al = spec.acceptance;
    tokensPerSequenceStep = (1 - al ** (spec.tokens + 1)) / (1 - al);
    draft = (a.mtp?.numLayers ?? 0) > 0 ? 'mtp' : 'eagle';
    for (const s of micro) s.queryLen = spec.tokens + 1; // verify the drafts and the token before them
    for (const s of micro)
      if (s.contextLen < s.queryLen)
        throw new ProjectionError(
          'contextLen',
          `contextLen ${s.contextLen} is shorter than the ${s.queryLen} tokens verified.`,
        );
  }
  const target: Pass = { kind: 'target', groups: split(micro), sampleAll: draftTokens > 0 };
  const passes: Pass[] = [target];
  for (let i = 0; i < draftTokens; i++)
    passes.push({
      kind: 'draft',
      groups: target.groups.map((g) => g.map((s) => ({ queryLen: 1, contextLen: s.contextLen }))),
      sampleAll: false,
    });
  let halves: Layout['halves'] = null;
  if (o.twoBatchOverlap) {
    const why = !moe
      ? `${a.modelType} has no expert layers to overlap`
      : ep === 1
        ? 'it overlaps expert dispatch and combine, so it needs expert parallelism (ep > 1)'
        : pp > 1
          ? 'it is modelled for pp = 1'
          : target.groups.some((g) => g.length < 2)
            ? 'every DP group needs at least two sequences to split'
            : null;
    if (why) throw new ProjectionError('twoBatchOverlap', `Two-batch overlap: ${why}.`);
    halves = new Map();
    for (const p of passes) {
      const half = (k: 0 | 1): Pass => ({
        kind: p.kind,
        sampleAll: p.sampleAll,
        groups: p.groups.map((g) => (k === 0 ? g.slice(0, Math.ceil(g.length / 2)) : g.slice(Math.ceil(g.length / 2)))),
      });
      halves.set(p, [half(0), half(1)]);
    }
  }
  // One rank's KV: its group's sequences of every micro-batch in flight (the largest group's share).
  const largest = target.groups.reduce((m, g) => (g.length > m.length ? g : m), [] as ProjectedSequence[]);
  const kvSequences = Array.from({ length: pp }, () => largest).flat();

  const W: DType = wd === 'int8' ? 'i8' : wd === 'fp8' ? 'fp8e4m3' : wd;
  const A: DType = wd === 'int8' || wd === 'fp8' ? 'bf16' : wd;
  const k = moe?.numExpertsPerToken ?? 0;
  const E = moe?.numExperts ?? 0;
  return {
    a,
    gqa,
    mla,
    moe,
    tp,
    dp,
    pp,
    ep,
    devices: pp * dp * tp,
    stageRanks: dp * tp,
    stages: (() => {
      let at = 0;
      return evenSplit(a.numLayers, pp).map((n) => Array.from({ length: n }, () => at++));
    })(),
    weightDtype: wd,
    kvDtype: kvd,
    W,
    A,
    C: kvd === 'fp8' ? 'fp8e4m3' : kvd,
    Cw: kvd === 'fp8' ? (wd === 'int8' || wd === 'fp8' ? 'bf16' : wd) : kvd,
    Q: wd === 'int8' ? 'i8' : wd === 'fp8' ? 'fp8e4m3' : null,
    D: a.hiddenSize,
    V: a.vocabSize,
    heads: H / tp,
    kvHeads: Math.max(1, KV / tp),
    hd,
    vd: gqa ? hd : mla!.vHeadDim,
    qk: mla ? mla.qkNopeHeadDim + mla.qkRopeHeadDim : 0,
    inter: a.mlp.intermediateSize / tp,
    Vs: Math.ceil(a.vocabSize / tp),
    k,
    E,
    El: moe ? Math.ceil(E / ep) : 0,
    redundantExperts: moe && ep > 1 ? Math.ceil(E / ep) * ep - E : 0,
    eInter: moe ? (ep === 1 ? moe.expertIntermediateSize / tp : moe.expertIntermediateSize) : 0,
    shInter: moe ? (moe.numSharedExperts * moe.expertIntermediateSize) / (ep === 1 ? tp : 1) : 0,
    blockSize,
    kvSequences,
    passes,
    draftTokens,
    tokensPerSequenceStep,
    sequencesInFlight: micro.length * pp,
    draft,
    halves,
    domain: Math.max(1, Math.min(domain, dp * tp)),
    prefillDispatch: o.prefillDispatch ?? 'hierarchical',
    mlaDecodeQueryLen: o.mlaPrefill === 'absorbed' ? Number.POSITIVE_INFINITY : 1 + draftTokens,
  };
}
