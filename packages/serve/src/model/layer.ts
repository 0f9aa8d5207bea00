/**
 * The decoder layer's launches on one rank, shared by the two users of the one model graph: `LlamaModel` (the served
 * model, functional or timing-only) and `projectStep` (any @tessera/models architecture, timing-only). Each function
 * issues the very launches the served Llama issues; the options an architecture adds (q/k/v biases, Qwen3's per-head
 * q/k norms, W8A8 int8 projections, a partial rotary dimension) launch nothing when absent, so the Llama path is
 * unchanged by them.
 *
 * What stays with the caller: the row-parallel O / down projections and their all-reduce (LlamaModel has its
 * TP-invariant variant), the MoE block, the embedding and the output head.
 */
import type { Device, DeviceBuffer } from '@tessera/device';
import {
  cast,
  gemm,
  pagedAttention,
  quantizePerToken,
  type RopeConvention,
  reshapeAndCache,
  rmsnorm,
  rope,
  siluAndMul,
} from '@tessera/kernels';

/** A projection weight stored (in, out); int8 weights carry per-output-column f32 scales (W8A8). */
export interface Linear {
  w: DeviceBuffer;
  /** (out,) f32 per-column scales of an int8 weight. */
  scale?: DeviceBuffer;
  /** (out,) bias. */
  bias?: DeviceBuffer;
}

/** Where a W8A8 GEMM's input is quantised to (per token): int8 rows and their f32 scales. */
export interface QuantScratch {
  x: DeviceBuffer; // (T, max K) i8
  scales: DeviceBuffer; // (T,) f32
}

/**
 * out = a · W (+ bias) (+ residual). For an int8 weight the input is first quantised per token into `quant` (pass
 * `quantized: true` when `quant` already holds this input), then one W8A8 GEMM dequantises in its epilogue.
 */
export function linear(
  dev: Device,
  a: DeviceBuffer,
  l: Linear,
  out: DeviceBuffer,
  M: number,
  N: number,
  K: number,
  opts: { residual?: DeviceBuffer; quant?: QuantScratch; quantized?: boolean } = {},
): void {
  if (l.scale) {
    const q = opts.quant;
    if (!q) throw new Error('linear: an int8 weight needs quantisation scratch.');
    if (!opts.quantized) quantizePerToken(dev, { x: a, out: q.x, scales: q.scales, rows: M, cols: K });
    gemm(dev, {
      a: q.x,
      b: l.w,
      c: out,
      M,
      N,
      K,
      bias: l.bias,
      residual: opts.residual,
      scales: { a: q.scales, b: l.scale },
    });
    return;
  }
  gemm(dev, { a, b: l.w, c: out, bias: l.bias, residual: opts.residual, M, N, K });
}

export interface AttentionWeights {
  norm: DeviceBuffer; // (D,) f32
  q: Linear; // (D, Hr·hd)
  k: Linear; // (D, KVr·hd)
  v: Linear; // (D, KVr·hd)
  /** Qwen3: RMSNorm over each head of q and of k, (hd,) f32 each. */
  qNorm?: DeviceBuffer;
  kNorm?: DeviceBuffer;
}

export interface AttentionBuffers {
  x: DeviceBuffer; // (T, D) f32 residual
  h: DeviceBuffer; // (T, D) the GEMM input
  q: DeviceBuffer;
  k: DeviceBuffer;
  v: DeviceBuffer;
  qRot: DeviceBuffer;
  kRot: DeviceBuffer;
  vKv: DeviceBuffer;
  attn: DeviceBuffer; // (T, Hr·hd)
  positions: DeviceBuffer;
  slots: DeviceBuffer;
  tables: DeviceBuffer;
  kCache: DeviceBuffer;
  vCache: DeviceBuffer;
  quant?: QuantScratch;
}

export interface AttentionShape {
  /** Tokens this step. */
  N: number;
  D: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Rotated dimensions per head (default headDim). */
  rotaryDim?: number;
  eps: number;
  theta: number;
  convention: RopeConvention;
  queryLens: readonly number[];
  contextLens: readonly number[];
  maxBlocksPerSeq: number;
  blockSize: number;
}

/**
 * The attention block up to the O projection: h = rmsnorm(x); q, k, v = h·W (+ bias); [q/k head norms]; RoPE (in f32,
 * written in the cache dtype); reshape_and_cache; paged attention into `attn`.
 */
export function attentionBlock(dev: Device, w: AttentionWeights, b: AttentionBuffers, s: AttentionShape): void {
  const { N, D, headDim: hd } = s;
  const qCols = s.heads * hd;
  const kvCols = s.kvHeads * hd;
  rmsnorm(dev, { x: b.x, weight: w.norm, out: b.h, rows: N, cols: D, eps: s.eps });
  linear(dev, b.h, w.q, b.q, N, qCols, D, { quant: b.quant });
  linear(dev, b.h, w.k, b.k, N, kvCols, D, { quant: b.quant, quantized: true });
  linear(dev, b.h, w.v, b.v, N, kvCols, D, { quant: b.quant, quantized: true });
  if (b.vKv !== b.v) cast(dev, { x: b.v, out: b.vKv, n: N * kvCols });
  if (w.qNorm) rmsnorm(dev, { x: b.q, weight: w.qNorm, out: b.q, rows: N * s.heads, cols: hd, eps: s.eps });
  if (w.kNorm) rmsnorm(dev, { x: b.k, weight: w.kNorm, out: b.k, rows: N * s.kvHeads, cols: hd, eps: s.eps });
  const ropeArgs = {
    positions: b.positions,
    tokens: N,
    headDim: hd,
    theta: s.theta,
    convention: s.convention,
    ...(s.rotaryDim !== undefined && s.rotaryDim !== hd ? { rotaryDim: s.rotaryDim } : {}),
  };
  // RoPE in f32, written in the cache dtype (in place when the activations already are).
  rope(dev, { ...ropeArgs, x: b.q, out: b.qRot, heads: s.heads });
  rope(dev, { ...ropeArgs, x: b.k, out: b.kRot, heads: s.kvHeads });
  reshapeAndCache(dev, {
    key: b.kRot,
    value: b.vKv,
    keyCache: b.kCache,
    valueCache: b.vCache,
    slotMapping: b.slots,
    tokens: N,
    kvHeads: s.kvHeads,
    headDim: hd,
  });
  pagedAttention(dev, {
    q: b.qRot,
    keyCache: b.kCache,
    valueCache: b.vCache,
    blockTables: b.tables,
    out: b.attn,
    queryLens: s.queryLens,
    contextLens: s.contextLens,
    maxBlocksPerSeq: s.maxBlocksPerSeq,
    blockSize: s.blockSize,
    heads: s.heads,
    kvHeads: s.kvHeads,
    headDim: hd,
  });
}

/** The gated MLP up to the down projection: h = rmsnorm(x) (skipped when `norm` is null); gu = h·W_gu; act = silu(g)·u. */
export function gatedMlpInput(
  dev: Device,
  norm: DeviceBuffer | null,
  gateUp: Linear,
  b: { x: DeviceBuffer; h: DeviceBuffer; gu: DeviceBuffer; act: DeviceBuffer; quant?: QuantScratch },
  s: { N: number; D: number; intermediate: number; eps: number },
): void {
  if (norm) rmsnorm(dev, { x: b.x, weight: norm, out: b.h, rows: s.N, cols: s.D, eps: s.eps });
  linear(dev, b.h, gateUp, b.gu, s.N, 2 * s.intermediate, s.D, { quant: b.quant });
  siluAndMul(dev, { x: b.gu, out: b.act, rows: s.N, d: s.intermediate });
}
