/**
 * The sanitizer (`@tessera/device`'s docs/sanitizer.md) on both simulator backends: the corpus of buggy kernels is
 * reported with the right kind and place on h100 and 910b2 (the misaligned shared view only where the device refuses
 * it: Ascend's 32-byte Unified Buffer), and every kernel this package exports reports nothing under every tool — one
 * workload (mirroring cost-modes.test.ts) launches each of them, several variants each, on data that is initialised
 * and flows as it does in a model, and a coverage check fails by name for a kernel added without a launch here.
 */
import { readFileSync } from 'node:fs';
import {
  createRuntime,
  type Device,
  type DType,
  disableSanitizer,
  enableSanitizer,
  isKernel,
  type SanitizerReport,
  sanitizerReports,
  sanitizerSummary,
} from '@tessera/device';
import { randomArray, randomInts, SANITIZER_CORPUS } from '@tessera/device/testing';
import { afterEach, describe, expect, it } from 'vitest';
import * as ops from '../src/index';
import { TARGETS } from './setup';

afterEach(() => disableSanitizer());

function kernelsIn(value: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (isKernel(value)) out.set(value.name, path);
  else if (value !== null && typeof value === 'object' && path.split('.').length < 3) {
    for (const [k, v] of Object.entries(value)) kernelsIn(v, path ? `${path}.${k}` : k, out);
  }
  return out;
}

const text = (rs: readonly SanitizerReport[]) => rs.map((r) => r.text).join('\n');

/** Every exported operator, with random inputs, consistent data flow (MoE: route → permute → GEMM → unpermute). */
function workload(dev: Device): void {
  let seed = 1;
  const buf = (n: number, dtype: DType = 'f32', lo = -2, hi = 2) => {
    const b = dev.alloc(dtype, Math.max(1, n));
    dev.upload(b, dtype === 'i32' ? randomInts(n, seed++, lo, hi) : randomArray(n, seed++, lo, hi));
    return b;
  };
  const out = (n: number, dtype: DType = 'f32') => dev.alloc(dtype, Math.max(1, n));
  const fp8 = dev.properties.dtypes.includes('fp8e4m3');

  // GEMM: epilogues, transposes, batched with a broadcast operand, int8 and W8A8 (int8; fp8 where the device has it).
  const [M, N, K] = [37, 45, 29];
  const mnk = { M, N, K };
  for (const activation of ['none', 'relu', 'silu', 'gelu', 'gelu_tanh'] as const) {
    ops.gemm(dev, { a: buf(M * K), b: buf(K * N), c: out(M * N), ...mnk, activation });
  }
  const epilogue = { alpha: 0.5, bias: buf(N, 'bf16'), activation: 'gelu', residual: buf(M * N) } as const;
  ops.gemm(dev, {
    a: buf(K * M, 'bf16'),
    b: buf(N * K, 'bf16'),
    c: out(M * N, 'bf16'),
    ...mnk,
    transA: true,
    transB: true,
    ...epilogue,
  });
  ops.batchedGemm(dev, {
    a: buf(3 * M * K, 'f16'),
    b: buf(K * N, 'f16'),
    c: out(3 * M * N, 'f16'),
    batch: 3,
    strideB: 0,
    ...mnk,
  });
  ops.gemm(dev, { a: buf(M * K), b: buf(K * N), c: out(M * N), ...mnk }, { config: { BM: 16, BN: 32, BK: 16 } });
  const [a8, b8] = [buf(M * K, 'i8', -127, 127), buf(K * N, 'i8', -127, 127)];
  ops.gemm(dev, { a: a8, b: b8, c: out(M * N, 'i32'), ...mnk });
  const scales = { a: buf(M, 'f32', 0.01, 0.1), b: buf(N, 'f32', 0.01, 0.1) };
  ops.gemm(dev, { a: a8, b: b8, c: out(M * N, 'bf16'), ...mnk, scales, alpha: 2, bias: buf(N), activation: 'relu' });
  if (fp8) {
    const epi = { bias: buf(N), activation: 'silu', residual: buf(M * N, 'bf16') } as const;
    const [aF, bF] = [buf(M * K, 'fp8e4m3'), buf(N * K, 'fp8e4m3')];
    ops.gemm(dev, { a: aF, b: bF, c: out(M * N, 'bf16'), ...mnk, transB: true, scales, ...epi });
  }
  const offsets = [0, 7, 7, 30, 50];
  ops.groupedGemm(dev, { a: buf(50 * K, 'bf16'), b: buf(4 * K * N, 'bf16'), c: out(50 * N, 'bf16'), offsets, N, K });
  ops.groupedGemm(dev, { a: buf(50 * K), b: buf(4 * N * K), c: out(50 * N), offsets, N, K, transB: true });
  const groupScales = { a: buf(50, 'f32', 0.01, 0.1), b: buf(4 * N, 'f32', 0.01, 0.1) };
  const grouped8 = { a: buf(50 * K, 'i8', -127, 127), b: buf(4 * K * N, 'i8', -127, 127), offsets, N, K };
  ops.groupedGemm(dev, { ...grouped8, c: out(50 * N, 'bf16'), scales: groupScales });

  // MoE as a model runs it: route, permute, the grouped GEMM over the permuted rows, unpermute; and a permute of ids
  // with dropped slots (−1 and E) on its own.
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
  const dropped = { permuted: out(T * k, 'i32'), expertOffsets: out(E + 1, 'i32') };
  ops.moePermute(dev, { ids: buf(T * k, 'i32', -1, E + 1), ...moe, ...dropped }, { config: { BS: 8 } });
  const y = out(T * k * H, 'bf16');
  const expertOffsetsHost = Array.from(dev.download(expertOffsets));
  ops.groupedGemm(dev, {
    a: buf(T * k * K, 'bf16'),
    b: buf(E * K * H, 'bf16'),
    c: y,
    offsets: expertOffsetsHost,
    N: H,
    K,
  });
  const combine = { y, weights, tokens: T, k, hidden: H };
  ops.moeUnpermute(dev, { ...combine, positions, out: out(T * H) });
  ops.moeUnpermute(dev, { ...combine, positions, out: out(T * H, 'bf16') }, { config: { BT: 4, BH: 16 } });

  // Attention: packed sequences (one empty) with GQA, causal and not; an MLA-prefill shape; paged attention over the
  // cache reshapeAndCache fills (decode and chunked prefill).
  const [heads, kvHeads, headDim] = [4, 2, 32];
  const [seqLens, tok] = [[5, 19, 0, 33], 57];
  const qkv = { q: buf(tok * heads * headDim), k: buf(tok * kvHeads * headDim), v: buf(tok * kvHeads * headDim) };
  for (const causal of [true, false]) {
    const args = { ...qkv, out: out(tok * heads * headDim), seqLens, heads, kvHeads, headDim, causal };
    ops.flashAttention(dev, args);
    ops.flashAttention(dev, args, { config: { BM: 16, BN: 16 } });
  }
  const [kvSeqLens, kvTok, vd] = [[9, 19, 4, 40], 72, 16];
  ops.flashAttention(dev, {
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
  });
  const [blockSize, maxBlocksPerSeq, blocks] = [16, 4, 12];
  const cacheSize = blocks * blockSize * kvHeads * headDim;
  const [keyCache, valueCache] = [buf(cacheSize), buf(cacheSize)];
  const slotMapping = buf(9, 'i32', -1, blocks * blockSize - 1);
  const kv = { key: buf(9 * kvHeads * headDim), value: buf(9 * kvHeads * headDim) };
  ops.reshapeAndCache(dev, { ...kv, keyCache, valueCache, slotMapping, tokens: 9, kvHeads, headDim });
  const paged = { keyCache, valueCache, maxBlocksPerSeq, blockSize, heads, kvHeads, headDim };
  for (const { queryLens, contextLens } of [
    { queryLens: [1, 1, 1], contextLens: [17, 40, 1] },
    { queryLens: [3, 7], contextLens: [20, 7] },
  ]) {
    const n = queryLens.reduce((s, l) => s + l, 0) * heads * headDim;
    const blockTables = buf(contextLens.length * maxBlocksPerSeq, 'i32', 0, blocks - 1);
    ops.pagedAttention(dev, { ...paged, q: buf(n), out: out(n), blockTables, queryLens, contextLens });
  }
  if (fp8) {
    const scales8 = { kScale: 0.02, vScale: 0.03 };
    const e4 = { keyCache: buf(cacheSize, 'fp8e4m3'), valueCache: buf(cacheSize, 'fp8e4m3') };
    const kv16 = { key: buf(9 * kvHeads * headDim, 'bf16'), value: buf(9 * kvHeads * headDim, 'f16') };
    ops.reshapeAndCache(dev, { ...kv16, ...e4, slotMapping, tokens: 9, kvHeads, headDim, ...scales8 });
    const n1 = 3 * heads * headDim;
    ops.pagedAttention(dev, {
      ...e4,
      maxBlocksPerSeq,
      blockSize,
      heads,
      kvHeads,
      headDim,
      ...scales8,
      q: buf(n1, 'bf16'),
      out: out(n1, 'bf16'),
      blockTables: buf(3 * maxBlocksPerSeq, 'i32', 0, blocks - 1),
      queryLens: [1, 1, 1],
      contextLens: [17, 40, 1],
    });
  }

  // Row-wise operators, in one tile and walked in blocks; in place; empty rows; quantisation (in blocks too).
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
  ops.rmsnorm(dev, { x, weight: w, out: x, ...rc });
  ops.reduce(dev, { x, out: out(3), rows: 3, cols: 0, op: 'sum' });
  ops.quantizePerToken(dev, { x, out: out(R * C, 'i8'), scales: out(R), ...rc });
  const long = 9000;
  ops.quantizePerToken(dev, {
    x: buf(2 * long, 'bf16'),
    out: out(2 * long, 'i8'),
    scales: out(2),
    rows: 2,
    cols: long,
  });
  if (fp8) ops.quantizePerToken(dev, { x, out: out(R * C, 'fp8e4m3'), scales: out(R), ...rc });

  // RoPE: partial rotary, in place, in blocks. Embedding (ids out of range too). Sampling, in one tile and streamed.
  const rope = { positions: buf(9, 'i32', 0, 500), tokens: 9, heads: 3, headDim: 24 };
  const rx = buf(9 * 3 * 24);
  ops.rope(dev, { ...rope, x: rx, out: out(9 * 3 * 24, 'bf16'), rotaryDim: 16, convention: 'half' });
  ops.rope(dev, { ...rope, x: rx, out: rx, convention: 'interleaved', theta: 5e5 });
  ops.rope(dev, { ...rope, x: rx, out: out(9 * 3 * 24), convention: 'half' }, { config: { BLOCK: 8 } });
  const emb = { tokens: 11, vocab: 50, dim: 40 };
  ops.embedding(dev, { ...emb, table: buf(50 * 40, 'bf16'), ids: buf(11, 'i32', -2, 51), out: out(11 * 40) });
  const embConfig = { BT: 4, BD: 16 };
  ops.embedding(
    dev,
    { ...emb, table: buf(50 * 40), ids: buf(11, 'i32', 0, 49), out: out(11 * 40, 'f16') },
    { config: embConfig },
  );
  const params = { temperature: [0, 0.7, 1.3, 1], topK: [0, 5, 0, 60], topP: [1, 0.9, 0.5, 1], seeds: [1, 2, 3, -4] };
  const rows = { rows: 4, out: out(4, 'i32'), ...params, steps: [0, 5, 9, 2] };
  ops.sample(dev, { ...rows, logits: buf(4 * 50), vocab: 50 });
  ops.sample(dev, { ...rows, logits: buf(4 * 100, 'bf16'), vocab: 100 }, { config: { BLOCK: 32 } });

  // Elementwise (broadcast and scalar operands, in place, mixed dtypes), SwiGLU; casts, copies, transposes.
  const n = R * C;
  ops.add(dev, { a: x, b: buf(n, 'bf16'), out: out(n, 'f16'), ...rc });
  ops.add(dev, { a: x, b: w, out: out(n), ...rc }, { config: { BLOCK: 64 } });
  ops.mul(dev, { a: x, b: 0.5, out: x, ...rc });
  ops.mul(dev, { a: buf(n, 'bf16'), b: w, out: out(n, 'bf16'), ...rc });
  ops.silu(dev, { x, out: out(n), n });
  ops.gelu(dev, { x, out: out(n, 'bf16'), n }, { config: { BLOCK: 64 } });
  ops.gelu(dev, { x, out: x, n, approximate: 'tanh' });
  ops.siluAndMul(dev, { x: buf(R * 2 * 37), out: out(R * 37, 'bf16'), rows: R, d: 37 });
  const casts = ['f32>bf16', 'bf16>i8', 'i32>f16', 'f16>u8', 'i8>i32'];
  if (fp8) casts.push('f32>fp8e4m3', 'fp8e5m2>f32');
  for (const [from, to] of casts.map((c) => c.split('>') as [DType, DType])) {
    ops.cast(dev, { x: buf(1000, from, -100, 100), out: out(1000, to), n: 1000 });
  }
  ops.copy(dev, buf(1000), out(1000));
  ops.copy(dev, buf(1000, 'u8', 0, 255), out(800, 'u8'), { n: 777 });
  ops.transpose(dev, { x: buf(2 * 37 * 45), out: out(2 * 37 * 45), rows: 37, cols: 45, batch: 2 });
  ops.transpose(
    dev,
    { x: buf(70 * 3, 'i8', -99, 99), out: out(70 * 3, 'i8'), rows: 70, cols: 3 },
    { config: { BLOCK: 16 } },
  );
}

const exported = kernelsIn(ops);

for (const target of TARGETS) {
  describe(`the sanitizer on ${target.device}`, () => {
    const open = async (count = 1) =>
      createRuntime({ backend: await target.create(), devices: Array(count).fill(target.device), profile: true });

    it('reports nothing for any exported kernel under every tool', async () => {
      enableSanitizer('all', { print: false });
      const rt = await open();
      workload(rt.device(0));
      expect(text(sanitizerReports())).toBe('');
      const launched = new Set(rt.profiler.records.filter((a) => a.kind === 'kernel').map((a) => a.name));
      expect(exported.size).toBeGreaterThan(20);
      const missing = [...exported]
        .filter(([name]) => !launched.has(name))
        .map(([name, path]) => `${path} ('${name}')`);
      expect(missing, 'exported kernels the workload never launches').toEqual([]);
      expect(sanitizerSummary().launches).toBeGreaterThan(60);
    });

    for (const c of SANITIZER_CORPUS) {
      // Ascend 910B refuses a view that is not 32-byte aligned (and has no warps); H100 has warps and no such rule.
      const applies = c.needs === undefined || (c.needs === 'warps') === (target.backend === 'nvidia-sim');
      it(`${c.name}: ${applies ? `${c.tool} reports ${c.kind} at its line` : 'nothing to report (the device has no such rule)'}`, async () => {
        enableSanitizer(c.tool, { print: false });
        const rt = await open(c.devices);
        c.run(Array.from({ length: c.devices }, (_, i) => rt.device(i)));
        const errors = sanitizerReports().filter((r) => r.severity === 'error');
        if (!applies) {
          expect(text(errors)).toBe('');
          return;
        }
        expect(
          errors.map((e) => e.kind),
          text(sanitizerReports()),
        ).toEqual([c.kind, ...(c.alsoKinds ?? [])]);
        const r = errors[0]!;
        expect([r.tool, r.kind, r.kernel, r.style, r.space]).toEqual([c.tool, c.kind, c.kernel, c.style, c.space]);
        expect(readFileSync(r.file!, 'utf8').split('\n')[r.line! - 1]).toContain(`// BUG: ${c.name}`);
        if (c.program) expect(r.program).toEqual(c.program);
        if (c.thread) expect({ block: r.block, thread: r.thread }).toEqual({ block: c.block, thread: c.thread });
      });
    }
  });
}
