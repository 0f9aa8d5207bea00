/**
 * Timing-only mode at model scale: the wall time to model one decode step of a 100-layer Llama-shaped transformer
 * (hidden 4096, 32 query / 8 KV heads of 128, SwiGLU 14336, bf16, paged KV) on an H200 — 1000 kernel launches with
 * their cost records and modelled times, no data anywhere.
 *
 * - `distinct: false` (the serving case): batch 64 at 2048 tokens of context in every layer (44 GB of weights and
 *   50 GB of KV cache). Layers repeat their shapes, so after the first layer every launch is served from the device's
 *   cost cache (same kernel, grid, scalars and buffer shapes).
 * - `distinct: true` (nothing reused): layer l runs its attention half (rmsnorm, QKV GEMM, RoPE, reshape_and_cache,
 *   paged attention, O GEMM) on 32 + 2l tokens and its MLP half (rmsnorm, gate/up GEMM, silu·mul, down GEMM) on
 *   33 + 2l, at 1024 tokens of context (52 GB of KV cache), so every one of the 1000 launches has shapes no earlier
 *   launch had and is analysed and costed from scratch.
 *
 * `cacheServed` counts launches whose cost record is one an earlier launch of this step returned (a cost-cache hit);
 * it is 0 for `distinct: true`.
 */
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { type CostRecord, createRuntime } from '@tessera/device';
import { siluAndMul } from '../src/elementwise';
import { gemm } from '../src/gemm';
import { rmsnorm } from '../src/norm';
import { pagedAttention, reshapeAndCache } from '../src/paged-attention';
import { rope } from '../src/rope';

export interface ModelStepResult {
  /** Wall time of allocating and launching everything, and synchronising. */
  wallMs: number;
  /** The step's modelled end on the device's clock. */
  modelledMs: number;
  launches: number;
  /** Launches served from the cost cache (their cost record is an earlier launch's). */
  cacheServed: number;
  /** Distinct token counts over the step's launches (1 without `distinct`). */
  tokenCounts: number;
}

export async function modelStep({ distinct = false } = {}): Promise<ModelStepResult> {
  const [layers, hidden, heads, kvHeads, hd, ffn] = [100, 4096, 32, 8, 128, 14336];
  const [ctx, blockSize] = [distinct ? 1024 : 2048, 16];
  /** Tokens of layer l's attention half and of its MLP half. */
  const tokens = (l: number) => (distinct ? { attn: 32 + 2 * l, mlp: 33 + 2 * l } : { attn: 64, mlp: 64 });
  const maxTokens = tokens(layers - 1).mlp;
  const dev = (await createRuntime({ backend: createNvidiaSimBackend(), devices: 'h200', mode: 'timing' })).device(0);
  const t0 = performance.now();
  const w = Array.from({ length: layers }, () => ({
    qkv: dev.alloc('bf16', hidden * (heads + 2 * kvHeads) * hd),
    o: dev.alloc('bf16', heads * hd * hidden),
    gateUp: dev.alloc('bf16', hidden * 2 * ffn),
    down: dev.alloc('bf16', ffn * hidden),
    norm1: dev.alloc('bf16', hidden),
    norm2: dev.alloc('bf16', hidden),
  }));
  const maxBlocks = ctx / blockSize;
  // Each layer's KV cache holds its own batch's blocks.
  const cacheElems = (l: number) => tokens(l).attn * maxBlocks * blockSize * kvHeads * hd;
  const kCache = Array.from({ length: layers }, (_, l) => dev.alloc('bf16', cacheElems(l)));
  const vCache = Array.from({ length: layers }, (_, l) => dev.alloc('bf16', cacheElems(l)));
  // Activations sized for the largest token count; each launch takes views of exactly its shape.
  const x = dev.alloc('bf16', maxTokens * hidden);
  const h = dev.alloc('bf16', maxTokens * hidden);
  const qkv = dev.alloc('bf16', maxTokens * (heads + 2 * kvHeads) * hd);
  const attn = dev.alloc('bf16', maxTokens * heads * hd);
  const mlp = dev.alloc('bf16', maxTokens * 2 * ffn);
  const act = dev.alloc('bf16', maxTokens * ffn);
  const positions = dev.alloc('i32', maxTokens);
  const slots = dev.alloc('i32', maxTokens);
  const tables = dev.alloc('i32', maxTokens * maxBlocks);
  let launches = 0;
  let cacheServed = 0;
  let end = 0;
  const seen = new Set<CostRecord>();
  const counts = new Set<number>();
  const run = (r: { endMs: number; cost: CostRecord }) => {
    launches++;
    if (seen.has(r.cost)) cacheServed++;
    seen.add(r.cost);
    end = r.endMs;
  };
  for (let l = 0; l < layers; l++) {
    const { attn: T, mlp: U } = tokens(l);
    counts.add(T).add(U);
    const xT = x.view(0, T * hidden);
    const xU = x.view(0, U * hidden);
    const qkvT = qkv.view(0, T * (heads + 2 * kvHeads) * hd);
    const q = qkvT.view(0, T * heads * hd);
    const k = qkvT.view(T * heads * hd, T * kvHeads * hd);
    const v = qkvT.view(T * (heads + kvHeads) * hd, T * kvHeads * hd);
    const attnT = attn.view(0, T * heads * hd);
    run(rmsnorm(dev, { x: xT, weight: w[l]!.norm1, out: h.view(0, T * hidden), rows: T, cols: hidden }));
    run(gemm(dev, { a: h.view(0, T * hidden), b: w[l]!.qkv, c: qkvT, M: T, N: (heads + 2 * kvHeads) * hd, K: hidden }));
    run(
      rope(dev, { x: q, out: q, positions: positions.view(0, T), tokens: T, heads, headDim: hd, convention: 'half' }),
    );
    run(
      reshapeAndCache(dev, {
        key: k,
        value: v,
        keyCache: kCache[l]!,
        valueCache: vCache[l]!,
        slotMapping: slots.view(0, T),
        tokens: T,
        kvHeads,
        headDim: hd,
      }),
    );
    run(
      pagedAttention(dev, {
        q,
        keyCache: kCache[l]!,
        valueCache: vCache[l]!,
        blockTables: tables.view(0, T * maxBlocks),
        out: attnT,
        queryLens: new Array(T).fill(1),
        contextLens: new Array(T).fill(ctx),
        maxBlocksPerSeq: maxBlocks,
        blockSize,
        heads,
        kvHeads,
        headDim: hd,
      }),
    );
    run(gemm(dev, { a: attnT, b: w[l]!.o, c: xT, M: T, N: hidden, K: heads * hd, residual: xT }));
    const hU = h.view(0, U * hidden);
    const mlpU = mlp.view(0, U * 2 * ffn);
    const actU = act.view(0, U * ffn);
    run(rmsnorm(dev, { x: xU, weight: w[l]!.norm2, out: hU, rows: U, cols: hidden }));
    run(gemm(dev, { a: hU, b: w[l]!.gateUp, c: mlpU, M: U, N: 2 * ffn, K: hidden }));
    run(siluAndMul(dev, { x: mlpU, out: actU, rows: U, d: ffn }));
    run(gemm(dev, { a: actU, b: w[l]!.down, c: xU, M: U, N: hidden, K: ffn, residual: xU }));
  }
  dev.synchronize();
  return { wallMs: performance.now() - t0, modelledMs: end, launches, cacheServed, tokenCounts: counts.size };
}
