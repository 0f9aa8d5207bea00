/**
 * One workload that launches every kernel @tessera/kernels exports, shared by the tests that must cover them all:
 * cost-modes.test.ts (the same cost records in functional and timing-only mode) and sanitizer.test.ts (nothing
 * reported under every tool). Each checks with `kernelsIn` that the workload launched every exported kernel, so a
 * kernel added without a launch here fails both by name.
 */
import { type Device, type DType, isKernel } from '@tessera/device';
import { randomArray, randomInts } from '@tessera/device/testing';
import type * as exported from '../src/index';

type Ops = typeof exported;

/** Names of every kernel among the package's exports, including those inside exported records (`reduceKernels`). */
export function kernelsIn(value: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (isKernel(value)) out.set(value.name, path);
  else if (value !== null && typeof value === 'object' && path.split('.').length < 3) {
    for (const [k, v] of Object.entries(value)) kernelsIn(v, path ? `${path}.${k}` : k, out);
  }
  return out;
}

/** Host data the functional run reads back from the device, and the timing-only run (which cannot) is handed. */
export interface HostData {
  expertOffsets?: number[];
}

/**
 * Calls every operator — several variants each, with sizes that leave partial tiles — with random inputs on a
 * functional device (a timing-only device only allocates), data flowing as in a model (MoE: route → permute → GEMM →
 * unpermute). `host` carries what the functional run reads back to a timing-only run (which cannot).
 */
export function libraryWorkload(ops: Ops, dev: Device, host: HostData = {}): void {
  let seed = 1;
  const data = dev.mode === 'functional';
  /** An input of n random values in [lo, hi) (integers for i32). */
  const buf = (n: number, dtype: DType = 'f32', lo = -2, hi = 2) => {
    const b = dev.alloc(dtype, Math.max(1, n));
    if (data) dev.upload(b, dtype === 'i32' ? randomInts(n, seed++, lo, hi) : randomArray(n, seed++, lo, hi));
    return b;
  };
  const out = (n: number, dtype: DType = 'f32') => dev.alloc(dtype, Math.max(1, n));

  // GEMM: every epilogue, transposes, a batch with a broadcast operand, int8 with and without W8A8 scales, and a
  // config that walks K in several steps, the last one partial.
  const [M, N, K] = [37, 45, 29];
  const mnk = { M, N, K };
  for (const activation of ['none', 'relu', 'silu', 'gelu', 'gelu_tanh'] as const) {
    ops.gemm(dev, { a: buf(M * K), b: buf(K * N), c: out(M * N), ...mnk, activation });
  }
  const [tA, tB] = [buf(K * M, 'bf16'), buf(N * K, 'bf16')];
  const epilogue = { alpha: 0.5, bias: buf(N, 'bf16'), activation: 'gelu', residual: buf(M * N) } as const;
  ops.gemm(dev, { a: tA, b: tB, c: out(M * N, 'bf16'), ...mnk, transA: true, transB: true, ...epilogue });
  const batched = { a: buf(3 * M * K, 'f16'), b: buf(K * N, 'f16'), c: out(3 * M * N, 'f16'), batch: 3, strideB: 0 };
  ops.batchedGemm(dev, { ...batched, ...mnk });
  ops.gemm(dev, { a: buf(M * K), b: buf(K * N), c: out(M * N), ...mnk }, { config: { BM: 16, BN: 32, BK: 16 } });
  const [a8, b8] = [buf(M * K, 'i8', -127, 127), buf(K * N, 'i8', -127, 127)];
  ops.gemm(dev, { a: a8, b: b8, c: out(M * N, 'i32'), ...mnk });
  const scales = { a: buf(M, 'f32', 0.01, 0.1), b: buf(N, 'f32', 0.01, 0.1) };
  ops.gemm(dev, { a: a8, b: b8, c: out(M * N, 'bf16'), ...mnk, scales, alpha: 2, bias: buf(N), activation: 'relu' });
  // fp8 W8A8 where the device has fp8 (not Ascend): e4m3 with transB and the whole epilogue, e5m2 plain.
  const fp8 = dev.properties.dtypes.includes('fp8e4m3');
  if (fp8) {
    const [aF, bF] = [buf(M * K, 'fp8e4m3'), buf(N * K, 'fp8e4m3')];
    const epi = { bias: buf(N), activation: 'silu', residual: buf(M * N, 'bf16') } as const;
    ops.gemm(dev, { a: aF, b: bF, c: out(M * N, 'bf16'), ...mnk, transB: true, scales, ...epi });
    ops.gemm(dev, { a: buf(M * K, 'fp8e5m2'), b: buf(K * N, 'fp8e5m2'), c: out(M * N), ...mnk, scales });
  }
  // Grouped GEMM: an empty group and groups that end mid-block; transB; int8, and W8A8 int8 and fp8 (scales per row
  // and per expert and column).
  const offsets = [0, 7, 7, 30, 50];
  ops.groupedGemm(dev, { a: buf(50 * K, 'bf16'), b: buf(4 * K * N, 'bf16'), c: out(50 * N, 'bf16'), offsets, N, K });
  ops.groupedGemm(dev, { a: buf(50 * K), b: buf(4 * N * K), c: out(50 * N), offsets, N, K, transB: true });
  ops.groupedGemm(dev, { a: a8, b: buf(2 * K * N, 'i8'), c: out(37 * N, 'i32'), offsets: [0, 20, 37], N, K });
  const groupScales = { a: buf(50, 'f32', 0.01, 0.1), b: buf(4 * N, 'f32', 0.01, 0.1) };
  const grouped8 = { a: buf(50 * K, 'i8', -127, 127), b: buf(4 * K * N, 'i8', -127, 127), offsets, N, K };
  ops.groupedGemm(dev, { ...grouped8, c: out(50 * N, 'bf16'), scales: groupScales });
  if (fp8) {
    const [aF, bF] = [buf(50 * K, 'fp8e4m3'), buf(4 * N * K, 'fp8e4m3')];
    ops.groupedGemm(dev, { a: aF, b: bF, c: out(50 * N), offsets, N, K, transB: true, scales: groupScales });
  }

  // MoE: router → permute → grouped GEMM → unpermute. The grouped GEMM takes its expert offsets on the host, so the
  // functional run downloads them; a timing-only device holds no data, so its run is handed the functional run's
  // offsets (as a timing projection assumes a routing) — otherwise the two runs could not launch the same GEMM.
  const [T, E, k, H] = [13, 6, 2, 40];
  const moe = { tokens: T, experts: E, k };
  const [weights, ids] = [out(T * k), out(T * k, 'i32')];
  ops.moeRouter(dev, { logits: buf(T * E), weights, ids, ...moe });
  ops.moeRouter(dev, {
    logits: buf(T * E, 'bf16'),
    weights: out(T * k, 'bf16'),
    ids: out(T * k, 'i32'),
    ...moe,
    renormalize: false,
  });
  const [permuted, expertOffsets, positions] = [out(T * k, 'i32'), out(E + 1, 'i32'), out(T * k, 'i32')];
  ops.moePermute(dev, { ids, ...moe, permuted, expertOffsets, positions });
  const badIds = buf(T * k, 'i32', -1, E); // some slots dropped (ids −1 and E)
  // Its own outputs: the grouped GEMM and the unpermute below follow the first permute's offsets and positions.
  ops.moePermute(
    dev,
    { ids: badIds, ...moe, permuted: out(T * k, 'i32'), expertOffsets: out(E + 1, 'i32') },
    { config: { BS: 8 } },
  );
  if (data) host.expertOffsets = Array.from(dev.download(expertOffsets));
  const y = out(T * k * H, 'bf16');
  const expertW = buf(E * K * H, 'bf16');
  ops.groupedGemm(dev, { a: buf(T * k * K, 'bf16'), b: expertW, c: y, offsets: host.expertOffsets!, N: H, K });
  const combine = { y, weights, tokens: T, k, hidden: H };
  ops.moeUnpermute(dev, { ...combine, positions, out: out(T * H) });
  ops.moeUnpermute(dev, { ...combine, positions: badIds, out: out(T * H, 'bf16') }, { config: { BT: 4, BH: 16 } });

  // Attention: packed sequences (one empty) with GQA, causal and not; default and small blocks.
  const [heads, kvHeads, headDim] = [4, 2, 32];
  const [seqLens, tok] = [[5, 19, 0, 33], 57];
  const qkv = { q: buf(tok * heads * headDim), k: buf(tok * kvHeads * headDim), v: buf(tok * kvHeads * headDim) };
  for (const causal of [true, false]) {
    const args = { ...qkv, out: out(tok * heads * headDim), seqLens, heads, kvHeads, headDim, causal };
    ops.flashAttention(dev, args);
    ops.flashAttention(dev, args, { config: { BM: 16, BN: 16 } });
  }
  // MLA-prefill shape: a narrower value head (v 16 for q/k 24) and chunks after cached context (more keys than queries).
  const [kvSeqLens, kvTok, vd] = [[9, 19, 4, 40], 72, 16];
  const mlaPrefill = {
    q: buf(tok * heads * 24),
    k: buf(kvTok * kvHeads * 24),
    v: buf(kvTok * kvHeads * vd),
    out: out(tok * heads * vd),
    seqLens,
    kvSeqLens,
    heads,
    kvHeads,
    headDim: 24,
    vHeadDim: vd,
  };
  ops.flashAttention(dev, mlaPrefill);
  ops.flashAttention(dev, { ...mlaPrefill, causal: false }, { config: { BM: 16, BN: 16 } });
  // Paged attention over random block tables, decode and chunked prefill; reshapeAndCache with skipped (−1) slots.
  const [blockSize, maxBlocksPerSeq, blocks] = [16, 4, 12];
  const [keyCache, valueCache] = [
    buf(blocks * blockSize * kvHeads * headDim),
    buf(blocks * blockSize * kvHeads * headDim),
  ];
  const paged = { keyCache, valueCache, maxBlocksPerSeq, blockSize, heads, kvHeads, headDim };
  for (const { queryLens, contextLens } of [
    { queryLens: [1, 1, 1], contextLens: [17, 40, 1] },
    { queryLens: [3, 7], contextLens: [20, 7] },
  ]) {
    const n = queryLens.reduce((s, l) => s + l, 0) * heads * headDim;
    const blockTables = buf(contextLens.length * maxBlocksPerSeq, 'i32', 0, blocks - 1);
    ops.pagedAttention(dev, { ...paged, q: buf(n), out: out(n), blockTables, queryLens, contextLens });
  }
  const [key, value] = [buf(9 * kvHeads * headDim), buf(9 * kvHeads * headDim)];
  const slotMapping = buf(9, 'i32', -1, blocks * blockSize - 1);
  ops.reshapeAndCache(dev, { key, value, keyCache, valueCache, slotMapping, tokens: 9, kvHeads, headDim });
  if (fp8) {
    // fp8 KV cache (vLLM's --kv-cache-dtype fp8) with per-tensor scales: writes from bf16 keys and f16 values;
    // an e4m3 decode under a bf16 query, an e5m2 chunked prefill under an f32 query with the head group split.
    const slots = { slotMapping, tokens: 9, kvHeads, headDim };
    const scales8 = { kScale: 0.02, vScale: 0.03 };
    const cache8 = (d: DType) => ({
      keyCache: buf(blocks * blockSize * kvHeads * headDim, d),
      valueCache: buf(blocks * blockSize * kvHeads * headDim, d),
    });
    const e4 = cache8('fp8e4m3');
    const [key16, value16] = [buf(9 * kvHeads * headDim, 'bf16'), buf(9 * kvHeads * headDim, 'f16')];
    ops.reshapeAndCache(dev, { key: key16, value: value16, ...e4, ...slots, ...scales8 });
    const fp8Paged = { maxBlocksPerSeq, blockSize, heads, kvHeads, headDim, ...scales8 };
    const decode = { queryLens: [1, 1, 1], contextLens: [17, 40, 1] };
    const n1 = 3 * heads * headDim;
    const bt1 = buf(3 * maxBlocksPerSeq, 'i32', 0, blocks - 1);
    const q1 = { q: buf(n1, 'bf16'), out: out(n1, 'bf16'), blockTables: bt1 };
    ops.pagedAttention(dev, { ...fp8Paged, ...e4, ...q1, ...decode });
    const prefill = { queryLens: [3, 7], contextLens: [20, 7] };
    const n2 = 10 * heads * headDim;
    const q2 = { q: buf(n2), out: out(n2), blockTables: buf(2 * maxBlocksPerSeq, 'i32', 0, blocks - 1) };
    ops.pagedAttention(dev, { ...fp8Paged, ...cache8('fp8e5m2'), ...q2, ...prefill }, { config: { GB: 1 } });
  }

  // Row-wise operators: one tile per row, and (small config.BLOCK) rows walked in several blocks, the last partial.
  const [R, C] = [7, 100];
  const [x, w, rc] = [buf(R * C), buf(C), { rows: R, cols: C }];
  for (const config of [{}, { BLOCK: 32 }]) {
    ops.layernorm(dev, { x, weight: w, bias: buf(C), out: out(R * C, 'bf16'), ...rc }, { config });
    ops.layernorm(dev, { x: buf(R * C, 'bf16'), weight: w, out: out(R * C), ...rc }, { config });
    ops.rmsnorm(dev, { x, weight: w, out: out(R * C, 'f16'), ...rc }, { config });
    ops.softmax(dev, { x, out: out(R * C), ...rc, scale: 0.3 }, { config });
    ops.logSoftmax(dev, { x: buf(R * C, 'bf16'), out: out(R * C), ...rc }, { config });
    for (const op of ['sum', 'max', 'min'] as const) ops.reduce(dev, { x, out: out(R), ...rc, op }, { config });
    ops.argmax(dev, { x, out: out(R, 'i32'), ...rc }, { config });
    ops.topk(dev, { x, values: out(R * 5), indices: out(R * 5, 'i32'), ...rc, k: 5 }, { config });
  }
  ops.rmsnorm(dev, { x, weight: w, out: x, ...rc }); // in place
  ops.reduce(dev, { x, out: out(3), rows: 3, cols: 0, op: 'sum' }); // empty rows store zeros
  ops.quantizePerToken(dev, { x, out: out(R * C, 'i8'), scales: out(R), ...rc });
  const long = 9000; // longer than one tile: quantisation walks the row in blocks
  ops.quantizePerToken(dev, {
    x: buf(2 * long, 'bf16'),
    out: out(2 * long, 'i8'),
    scales: out(2),
    rows: 2,
    cols: long,
  });
  if (fp8) {
    // Per-token fp8 (vLLM's dynamic_per_token_scaled_fp8_quant), in one block and walked in blocks.
    ops.quantizePerToken(dev, { x, out: out(R * C, 'fp8e4m3'), scales: out(R), ...rc });
    const x2 = buf(2 * long, 'f16');
    ops.quantizePerToken(dev, { x: x2, out: out(2 * long, 'fp8e5m2'), scales: out(2), rows: 2, cols: long });
  }

  // RoPE: partial rotary (copies the tail), in place, and pairs walked in several blocks.
  const rope = { positions: buf(9, 'i32', 0, 500), tokens: 9, heads: 3, headDim: 24 };
  const rx = buf(9 * 3 * 24);
  ops.rope(dev, { ...rope, x: rx, out: out(9 * 3 * 24, 'bf16'), rotaryDim: 16, convention: 'half' });
  ops.rope(dev, { ...rope, x: rx, out: rx, convention: 'interleaved', theta: 5e5 });
  ops.rope(dev, { ...rope, x: rx, out: out(9 * 3 * 24), convention: 'half' }, { config: { BLOCK: 8 } });

  // Embedding with out-of-range ids; sampling with greedy and filtered rows, in one tile and in streamed chunks.
  const emb = { tokens: 11, vocab: 50, dim: 40 };
  ops.embedding(dev, { ...emb, table: buf(50 * 40, 'bf16'), ids: buf(11, 'i32', -2, 51), out: out(11 * 40) });
  const config = { BT: 4, BD: 16 };
  ops.embedding(dev, { ...emb, table: buf(50 * 40), ids: buf(11, 'i32', 0, 49), out: out(11 * 40, 'f16') }, { config });
  const params = { temperature: [0, 0.7, 1.3, 1], topK: [0, 5, 0, 60], topP: [1, 0.9, 0.5, 1], seeds: [1, 2, 3, -4] };
  const rows = { rows: 4, out: out(4, 'i32'), ...params, steps: [0, 5, 9, 2] };
  ops.sample(dev, { ...rows, logits: buf(4 * 50), vocab: 50 });
  ops.sample(dev, { ...rows, logits: buf(4 * 100, 'bf16'), vocab: 100 }, { config: { BLOCK: 32 } });

  // Elementwise: same-shape, row-broadcast and scalar operands, in place, mixed dtypes; unary ops; SwiGLU.
  const n = R * C;
  ops.add(dev, { a: x, b: buf(n, 'bf16'), out: out(n, 'f16'), ...rc });
  ops.add(dev, { a: x, b: w, out: out(n), ...rc }, { config: { BLOCK: 64 } });
  ops.mul(dev, { a: x, b: 0.5, out: x, ...rc });
  ops.mul(dev, { a: buf(n, 'bf16'), b: w, out: out(n, 'bf16'), ...rc });
  ops.silu(dev, { x, out: out(n), n });
  ops.gelu(dev, { x, out: out(n, 'bf16'), n }, { config: { BLOCK: 64 } });
  ops.gelu(dev, { x, out: x, n, approximate: 'tanh' });
  ops.siluAndMul(dev, { x: buf(R * 2 * 37), out: out(R * 37, 'bf16'), rows: R, d: 37 });

  // Data movement: casts between float and int dtypes (and fp8 where the device has it), copies, transposes.
  const casts = ['f32>bf16', 'bf16>i8', 'i32>f16', 'f16>u8', 'i8>i32'];
  if (dev.properties.dtypes.includes('fp8e4m3')) casts.push('f32>fp8e4m3', 'fp8e5m2>f32');
  for (const [from, to] of casts.map((c) => c.split('>') as [DType, DType])) {
    ops.cast(dev, { x: buf(1000, from, -100, 100), out: out(1000, to), n: 1000 });
  }
  ops.copy(dev, buf(1000), out(1000));
  ops.copy(dev, buf(1000, 'u8', 0, 255), out(800, 'u8'), { n: 777 });
  ops.transpose(dev, { x: buf(2 * 37 * 45), out: out(2 * 37 * 45), rows: 37, cols: 45, batch: 2 });
  const narrow = { x: buf(70 * 3, 'i8', -99, 99), out: out(70 * 3, 'i8'), rows: 70, cols: 3 };
  ops.transpose(dev, narrow, { config: { BLOCK: 16 } });
}
