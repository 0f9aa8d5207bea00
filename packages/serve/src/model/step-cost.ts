/**
 * StepCostPredictor: the time of any engine step, predicted from a small grid of projected steps (Vidur's approach:
 * profile, then predict — here the "profile" is projectStep, the kernels' and collectives' cost models run on a
 * timing-only cluster). Projecting every step of a serving run would cost ~0.2–0.3 s of host time per step for
 * Llama-3.1-70B at TP 8; the grid costs a few dozen much cheaper projections once, and each step is then a few
 * interpolations.
 *
 * Two observations make the grid small:
 *
 * 1. Layers repeat. A step is embedding, then the same layer L times (per layer kind: dense, MoE), then the head, and
 *    every layer's launches have the same shapes and, with each layer ending on a collective (or on one stream at
 *    TP 1), the same duration on the critical path. So the grid projects a ONE-layer model (the architecture with
 *    numLayers = 1, its layer of the kind wanted), reads off rank 0's timeline where the layer starts and where the
 *    head starts (the layer's op count comes from a 2-layer projection), and rebuilds the full step as
 *    embedding + Σ_kinds count × layer + head: exact, to float rounding (a test checks it against the full model).
 *    A point then costs one layer's launches, not L layers' (new shapes still cost their kernels' cost analysis).
 * 2. The step separates into parts that depend on different quantities:
 *      - every GEMM, collective, norm, RoPE, cache write and the embedding act on the step's N tokens, whatever
 *        sequences they belong to: token time T(N), per layer kind;
 *      - the head (row gather, final norm, vocab-parallel GEMM, logits all-gather, sampling) acts on the R rows that
 *        sample: head time H(R);
 *      - paged attention is the only kernel that sees sequences, and its cost is set by their query and context
 *        lengths: per sequence its programs loop over the pages up to its context, and the launch is bounded by
 *        its longest program and by the KV traffic of all of them (the timing model: launch + max(makespan,
 *        DRAM time)). At a fixed batch, decode attention is linear in the context length; a prefill chunk of q
 *        tokens is linear in its context C ≥ q. So:
 *          decode (q = 1), b sequences of mean context L̄ and longest L_max: max(A_d(1, L_max), A_d(b, L̄)), with
 *            A_d(b, L) = α(b) + β(b)·L from two contexts per batch size;
 *          a prefill chunk (q, C): A_p(q, q) + β_p(q)·(C − q), from contexts q and 2q;
 *          a step's one launch: its fixed cost (launch, pipeline fill: α(1), a lone decode's zero-context
 *            intercept) once, plus the longer of the decodes' part and the prefill chunks' parts summed — chunks
 *            are compute-bound and share the units, while decode attention is bound by KV traffic, which the
 *            timing model overlaps with compute (a launch takes the longer of its makespan and its DRAM time).
 *    Each function is tabulated at the grid's points and interpolated piecewise linearly. GEMMs are flat in N while
 *    they read weights and grow once compute-bound, in steps: tile counts step up just past each power of two
 *    (every tile size divides it), so the prefill grid holds both sides of those edges; between grid points the
 *    smaller tile and wave steps are averaged (the source of the few-% error off the grid).
 *
 * The grid (for max_num_seqs S, max_num_batched_tokens T):
 *   decode  b ∈ {1, 2, 4, …, S} (and S), contexts {256, 4096}: T(b), H(b), A_d(b, ·)
 *   prefill q ∈ {16, 32, 64, …, T} (and T), one sequence, contexts {q, 2q}: T(q), A_p(q, ·); and q = 2^k + 1 for
 *           each 2^k ≥ 128 below T, context q only
 *   (S = 256, T = 2048: 9 batch sizes, 12 chunks, 40 projections of a one-layer model, a dense model)
 *   plus, for a second layer kind (DeepSeek's dense layers beside its MoE layers), its T at every b and q; and two or
 *   three memory probes (1- and 2-layer models at the largest step: S sequences, T tokens) for the weights, the
 *   workspace and the op counts.
 * Points are cached per process (keyed by architecture, system, parallelism, dtypes and shape), so a second predictor
 * for the same deployment projects nothing.
 */
import { createCluster, type TopologySpec } from '@tessera/cluster';
import type { ModelArchitecture } from '@tessera/models';
import {
  CapacityError,
  type MemoryPerDevice,
  type ProjectedKvDtype,
  type ProjectedWeightDtype,
  type ProjectStepOptions,
  projectStep,
} from './project';

export interface StepCostOptions {
  arch: ModelArchitecture;
  /** A built-in topology name or a spec; the TP group is its first `tp` ranks. */
  topology: string | TopologySpec;
  tp: number;
  /** MoE: 1 (experts TP-sharded) or tp (expert parallel, projectStep's default). */
  ep?: number;
  weightDtype?: ProjectedWeightDtype;
  kvDtype?: ProjectedKvDtype;
  blockSize?: number;
  /** The largest step the engine schedules: sequences (max_num_seqs) and tokens (max_num_batched_tokens). */
  maxSeqs: number;
  maxTokens: number;
}

/** One sequence's share of a step: the tokens it computes, ending at its context length. */
export interface StepSequence {
  queryLen: number;
  contextLen: number;
}

/** Memory per device of the full model, from the projection's buffers. */
export interface ProjectedMemory {
  /** Weights as allocated on each rank. */
  weights: number;
  /** The largest step's workspace (max_num_seqs sequences, max_num_batched_tokens tokens). */
  workspace: number;
  /** Bytes of one KV block (blockSize tokens, every layer) on each rank. */
  blockBytes: number;
  /** The device's memory. */
  capacity: number;
  /** The device's name. */
  device: string;
}

/** The grid a predictor was built from. */
export interface StepCostGrid {
  /** Decode batch sizes, each at both `decodeContexts`. */
  decodeBatches: number[];
  decodeContexts: number[];
  /** Prefill chunk sizes (one sequence), each at context q and 2q. */
  prefillChunks: number[];
  /** Layer kinds and how many of each the model has. */
  layers: { dense: number; moe: number };
  /** Points projected for this predictor, and how many of them the cache already held. */
  points: number;
  cachedPoints: number;
}

/** A step's predicted time and its parts, ms. */
export interface StepCostBreakdown {
  ms: number;
  /** Embedding and every layer's token-bound work (GEMMs, collectives, norms, RoPE, cache writes). */
  tokensMs: number;
  /** Paged attention, all layers. */
  attentionMs: number;
  /** The head on the rows that sample. */
  headMs: number;
}

type Kind = 'dense' | 'moe';
interface Shape {
  phase: 'decode' | 'prefill';
  batch: number;
  contextLen: number;
  prefillChunk?: number;
}
/** What one projection of a 1- or 2-layer model leaves: rank 0's op starts, its attention time, the memory. */
interface RawPoint {
  /** null when the sliced model itself does not fit (memory is then the CapacityError's). */
  ms: number | null;
  starts: number[];
  attentionMs: number;
  memory: MemoryPerDevice;
}
/** A 1-layer point's parts, ms. */
interface Parts {
  embed: number;
  /** The layer minus its attention. */
  rest: number;
  attention: number;
  head: number;
}

/** Decode grid contexts: decode attention is linear in the context at a fixed batch, so two suffice. */
export const DECODE_CONTEXTS = [256, 4096] as const;
const ATTENTION_OP = 'paged_attention';
/** Powers of two from which the prefill grid also holds 2^k + 1 (below, steps are weight-bound and smooth). */
const EDGE_FROM = 128;
const KV_BYTES: Record<ProjectedKvDtype, number> = { bf16: 2, f16: 2, fp8: 1 };

const cache = new Map<string, Promise<RawPoint>>();
const CACHE_LIMIT = 20_000;
const archKeys = new WeakMap<ModelArchitecture, string>();
const archKey = (a: ModelArchitecture): string => {
  let k = archKeys.get(a);
  if (k === undefined) archKeys.set(a, (k = JSON.stringify(a)));
  return k;
};

/** Drops every cached grid point (tests that count projections). */
export function clearStepCostCache(): void {
  cache.clear();
}

/** The architecture with the given layers only (dense ones first), for a grid point. */
function sliced(a: ModelArchitecture, kinds: readonly Kind[]): ModelArchitecture {
  const dense = kinds.filter((k) => k === 'dense').length;
  return {
    ...a,
    numLayers: kinds.length,
    layers: { dense, moe: kinds.length - dense },
    moe: a.moe && { ...a.moe, layout: { kind: 'first-k-dense', firstKDense: dense, layerFreq: 1 } },
  };
}

/** Piecewise-linear interpolation over ascending xs; linear extrapolation past either end. */
export function interpolate(xs: readonly number[], ys: readonly number[], x: number): number {
  const n = xs.length;
  if (n === 1) return ys[0]!;
  let i = 1;
  while (i < n - 1 && x > xs[i]!) i++;
  const [x0, x1, y0, y1] = [xs[i - 1]!, xs[i]!, ys[i - 1]!, ys[i]!];
  return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
}

const powersUpTo = (from: number, max: number): number[] => {
  const out: number[] = [];
  for (let x = from; x < max; x *= 2) out.push(x);
  out.push(max);
  return out;
};

export class StepCostPredictor {
  private constructor(
    readonly arch: ModelArchitecture,
    readonly memory: ProjectedMemory,
    readonly grid: StepCostGrid,
    /** N grid: T(N) per kind (and the embedding), ms. */
    private readonly tokenN: number[],
    private readonly embedT: number[],
    private readonly restT: Record<Kind, number[]>,
    /** R grid: H(R). */
    private readonly headR: number[],
    private readonly headT: number[],
    /** Decode attention per batch size: α + β·L (per layer). */
    private readonly decB: number[],
    private readonly decAlpha: number[],
    private readonly decBeta: number[],
    /** Prefill attention per chunk q: A_p(q, q), and the slope in C (per layer), on their own q grids. */
    private readonly preAQ: number[],
    private readonly preAlpha: number[],
    private readonly preBQ: number[],
    private readonly preBeta: number[],
  ) {}

  /**
   * Projects the grid (and the memory probes) for a deployment. Throws the projection's CapacityError when the model
   * and the largest step's workspace do not fit a device, and ProjectionError for what the projection cannot model.
   */
  static async build(o: StepCostOptions): Promise<StepCostPredictor> {
    const a = o.arch;
    const S = o.maxSeqs;
    const T = o.maxTokens;
    for (const [k, v] of [
      ['maxSeqs', S],
      ['maxTokens', T],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`StepCostPredictor: ${k} must be an integer ≥ 1.`);
    }
    const counts = a.moe ? a.layers : { dense: a.numLayers, moe: 0 };
    const k0: Kind = counts.dense > 0 ? 'dense' : 'moe';
    const kinds: Kind[] = counts.dense > 0 && counts.moe > 0 ? ['dense', 'moe'] : [k0];
    const base = {
      topology: o.topology,
      tp: o.tp,
      ep: o.ep,
      weightDtype: o.weightDtype,
      kvDtype: o.kvDtype,
      blockSize: o.blockSize,
    };
    const prefix = JSON.stringify([archKey(a), o.topology, o.tp, o.ep, o.weightDtype, o.kvDtype, o.blockSize]);
    let points = 0;
    let cachedPoints = 0;
    const project = (layers: readonly Kind[], shape: Shape): Promise<RawPoint> => {
      const key = `${prefix}|${layers.join(',')}|${JSON.stringify(shape)}`;
      points++;
      const hit = cache.get(key);
      if (hit) {
        cachedPoints++;
        return hit;
      }
      if (cache.size >= CACHE_LIMIT) cache.clear();
      const p = runPoint({ ...base, ...shape, arch: sliced(a, layers) } as ProjectStepOptions);
      cache.set(key, p);
      p.catch(() => cache.delete(key));
      return p;
    };

    // ---- Memory probes at the largest step, and the op count of a layer of each kind. ----
    const chunk = Math.max(1, Math.floor(T / S));
    const probe: Shape = { phase: 'prefill', batch: S, contextLen: chunk, prefillChunk: chunk };
    const p1 = await project([k0], probe);
    const p2 = await project([k0, k0], probe);
    const p3 = kinds.length > 1 ? await project(['dense', 'moe'], probe) : null;
    const layerW: Record<Kind, number> = { dense: 0, moe: 0 };
    layerW[k0] = p2.memory.weights - p1.memory.weights;
    if (p3) layerW.moe = p3.memory.weights - p1.memory.weights;
    const weights = p1.memory.weights - layerW[k0] + counts.dense * layerW.dense + counts.moe * layerW.moe;
    const dev = await createCluster({ topology: o.topology, ranks: 1, mode: 'timing' });
    const device = dev.devices[0]!.properties.name;
    const memory: ProjectedMemory = {
      weights,
      workspace: p1.memory.workspace,
      blockBytes: kvBlockBytesProjected(a, o.tp, o.kvDtype ?? 'bf16', o.blockSize ?? 16),
      capacity: p1.memory.capacity,
      device,
    };
    const need = memory.weights + memory.workspace + memory.blockBytes;
    if (p1.ms === null || p2.ms === null || (p3 && p3.ms === null) || need > memory.capacity) {
      const m: MemoryPerDevice = {
        weights: memory.weights,
        kvCache: memory.blockBytes,
        workspace: memory.workspace,
        total: need,
        capacity: memory.capacity,
      };
      throw new CapacityError(m, Math.max(0, need - memory.capacity), device);
    }
    const opsPerLayer: Record<Kind, number> = { dense: 0, moe: 0 };
    opsPerLayer[k0] = p2.starts.length - p1.starts.length;
    if (p3) opsPerLayer.moe = p3.starts.length - p1.starts.length;
    const partsOf = (raw: RawPoint, kind: Kind): Parts => {
      const k = opsPerLayer[kind];
      const layerStart = raw.starts[1];
      const headStart = raw.starts[1 + k];
      if (k < 1 || layerStart === undefined || headStart === undefined || raw.attentionMs <= 0) {
        // The decomposition needs embedding, then the layer's launches (one of them paged attention), then the head.
        throw new Error(
          `StepCostPredictor: a projected ${kind} layer does not have the expected shape (${k} ops, attention ${raw.attentionMs} ms).`,
        );
      }
      return {
        embed: layerStart,
        rest: headStart - layerStart - raw.attentionMs,
        attention: raw.attentionMs,
        head: raw.ms! - headStart,
      };
    };
    const at = async (kind: Kind, shape: Shape): Promise<Parts> => {
      const raw = await project([kind], shape);
      if (raw.ms === null) throw new CapacityError(raw.memory, raw.memory.total - raw.memory.capacity, device);
      return partsOf(raw, kind);
    };

    // ---- The grid. ----
    const B = powersUpTo(1, S);
    const [L0, L1] = DECODE_CONTEXTS;
    const Q = T >= 16 ? powersUpTo(16, T) : T > 1 ? [T] : [];
    // Tile counts step up just past each power of two (every tile size divides it): both sides of the edge.
    const edges = Q.filter((q) => q >= EDGE_FROM && (q & (q - 1)) === 0 && q < T).map((q) => q + 1);
    const QA = [...Q, ...edges].sort((x, y) => x - y);
    const restAt = new Map<number, Record<Kind, number>>();
    const embedAt = new Map<number, number>();
    const headT: number[] = [];
    const decAlpha: number[] = [];
    const decBeta: number[] = [];
    for (const b of B) {
      const lo = await at(k0, { phase: 'decode', batch: b, contextLen: L0 });
      const hi = await at(k0, { phase: 'decode', batch: b, contextLen: L1 });
      const beta = (hi.attention - lo.attention) / (L1 - L0);
      decBeta.push(beta);
      decAlpha.push(lo.attention - beta * L0);
      headT.push(lo.head);
      embedAt.set(b, lo.embed);
      const rest = { dense: 0, moe: 0, [k0]: lo.rest };
      for (const kind of kinds)
        if (kind !== k0) rest[kind] = (await at(kind, { phase: 'decode', batch: b, contextLen: L0 })).rest;
      restAt.set(b, rest);
    }
    // A one-token chunk is a decode: A_p(1, C) = A_d(1, C).
    const preAQ = [1];
    const preAlpha = [decAlpha[0]! + decBeta[0]!];
    const preBQ = [1];
    const preBeta = [decBeta[0]!];
    for (const q of QA) {
      const shape = (c: number): Shape => ({ phase: 'prefill', batch: 1, contextLen: c, prefillChunk: q });
      const one = await at(k0, shape(q));
      preAQ.push(q);
      preAlpha.push(one.attention);
      if (Q.includes(q)) {
        const two = await at(k0, shape(2 * q));
        preBQ.push(q);
        preBeta.push((two.attention - one.attention) / q);
      }
      if (restAt.has(q)) continue; // a decode point of the same N holds the same token-bound work
      embedAt.set(q, one.embed);
      const rest = { dense: 0, moe: 0, [k0]: one.rest };
      for (const kind of kinds) if (kind !== k0) rest[kind] = (await at(kind, shape(q))).rest;
      restAt.set(q, rest);
    }
    const tokenN = [...restAt.keys()].sort((x, y) => x - y);
    const grid: StepCostGrid = {
      decodeBatches: B,
      decodeContexts: [...DECODE_CONTEXTS],
      prefillChunks: QA,
      layers: { ...counts },
      points,
      cachedPoints,
    };
    return new StepCostPredictor(
      a,
      memory,
      grid,
      tokenN,
      tokenN.map((n) => embedAt.get(n)!),
      {
        dense: tokenN.map((n) => restAt.get(n)!.dense),
        moe: tokenN.map((n) => restAt.get(n)!.moe),
      },
      B,
      headT,
      B,
      decAlpha,
      decBeta,
      preAQ,
      preAlpha,
      preBQ,
      preBeta,
    );
  }

  /** The predicted time of a step over `sequences`, of which `sampledRows` sample (default: every one), ms. */
  predict(sequences: readonly StepSequence[], sampledRows = sequences.length): number {
    return this.breakdown(sequences, sampledRows).ms;
  }

  breakdown(sequences: readonly StepSequence[], sampledRows = sequences.length): StepCostBreakdown {
    let N = 0;
    for (const s of sequences) N += s.queryLen;
    if (N === 0) return { ms: 0, tokensMs: 0, attentionMs: 0, headMs: 0 };
    const { dense, moe } = this.grid.layers;
    const tokensMs =
      interpolate(this.tokenN, this.embedT, N) +
      dense * interpolate(this.tokenN, this.restT.dense, N) +
      moe * interpolate(this.tokenN, this.restT.moe, N);
    const attentionMs = (dense + moe) * this.attention(sequences);
    const headMs = sampledRows > 0 ? interpolate(this.headR, this.headT, sampledRows) : 0;
    return { ms: tokensMs + attentionMs + headMs, tokensMs, attentionMs, headMs };
  }

  /** One layer's paged attention over `sequences` (see the file comment), ms. */
  private attention(sequences: readonly StepSequence[]): number {
    const decode = (b: number, L: number) =>
      interpolate(
        this.decB,
        this.decAlpha.map((alpha, i) => alpha + this.decBeta[i]! * L),
        b,
      );
    // One launch pays its fixed cost (launch, pipeline fill: α(1), a lone decode's zero-context intercept) once.
    const fixed = Math.max(0, this.decAlpha[0]!);
    let decodes = 0;
    let sumL = 0;
    let maxL = 0;
    let prefill = 0;
    for (const s of sequences) {
      if (s.queryLen === 0) continue;
      if (s.queryLen === 1) {
        decodes++;
        sumL += s.contextLen;
        maxL = Math.max(maxL, s.contextLen);
        continue;
      }
      const q = s.queryLen;
      const a =
        interpolate(this.preAQ, this.preAlpha, q) + interpolate(this.preBQ, this.preBeta, q) * (s.contextLen - q);
      prefill += a - fixed;
    }
    const dec = decodes > 0 ? Math.max(decode(1, maxL), decode(decodes, sumL / decodes)) - fixed : 0;
    return fixed + Math.max(dec, prefill);
  }
}

/**
 * Bytes of one KV block on one rank, as projectStep lays the cache out: GQA keeps keys and values of max(1, KV/tp)
 * heads per rank (replicated when tp exceeds the KV heads); MLA keeps one latent row (kvLoraRank + qkRopeHeadDim),
 * replicated on every rank. (Computed rather than read from a projection's kvCache, which the device rounds up to
 * its allocation granularity per buffer; the tests check it against one.)
 */
export function kvBlockBytesProjected(
  a: ModelArchitecture,
  tp: number,
  kvDtype: ProjectedKvDtype,
  blockSize: number,
): number {
  const att = a.attention;
  const perToken =
    att.kind === 'gqa' ? 2 * Math.max(1, att.numKvHeads / tp) * att.headDim : att.kvLoraRank + att.qkRopeHeadDim;
  return a.numLayers * blockSize * perToken * KV_BYTES[kvDtype];
}

/** Projects one grid point; a point whose sliced model does not fit keeps the CapacityError's memory. */
async function runPoint(o: ProjectStepOptions): Promise<RawPoint> {
  try {
    const p = await projectStep(o);
    const ops = p.ranks[0]!.ops;
    let attentionMs = 0;
    for (const op of ops) if (op.name === ATTENTION_OP) attentionMs += op.ms;
    return { ms: p.ms, starts: ops.map((op) => op.startMs), attentionMs, memory: p.memory };
  } catch (e) {
    if (e instanceof CapacityError) return { ms: null, starts: [], attentionMs: 0, memory: e.memory };
    throw e;
  }
}
