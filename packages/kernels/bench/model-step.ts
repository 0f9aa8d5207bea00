/**
 * Timing-only mode at model scale: the wall time to model one decode step of a 100-layer Llama-shaped transformer
 * (hidden 4096, 32 query / 8 KV heads of 128, SwiGLU 14336, bf16, batch 64 at 2048 tokens of context, paged KV) on
 * an H200 (44 GB of weights and 50 GB of KV cache) — 1000 kernel launches with their cost records and modelled times, no data anywhere.
 */
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { createRuntime } from '@tessera/device';
import { siluAndMul } from '../src/elementwise';
import { gemm } from '../src/gemm';
import { rmsnorm } from '../src/norm';
import { pagedAttention, reshapeAndCache } from '../src/paged-attention';
import { rope } from '../src/rope';

export async function modelStep(): Promise<{ wallMs: number; modelledMs: number; launches: number }> {
  const [layers, hidden, heads, kvHeads, hd, ffn] = [100, 4096, 32, 8, 128, 14336];
  const [batch, ctx, blockSize] = [64, 2048, 16];
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
  const cacheElems = batch * maxBlocks * blockSize * kvHeads * hd;
  const kCache = Array.from({ length: layers }, () => dev.alloc('bf16', cacheElems));
  const vCache = Array.from({ length: layers }, () => dev.alloc('bf16', cacheElems));
  const x = dev.alloc('bf16', batch * hidden);
  const h = dev.alloc('bf16', batch * hidden);
  const qkv = dev.alloc('bf16', batch * (heads + 2 * kvHeads) * hd);
  const attn = dev.alloc('bf16', batch * heads * hd);
  const mlp = dev.alloc('bf16', batch * 2 * ffn);
  const act = dev.alloc('bf16', batch * ffn);
  const positions = dev.alloc('i32', batch);
  const slots = dev.alloc('i32', batch);
  const tables = dev.alloc('i32', batch * maxBlocks);
  const q = qkv.view(0, batch * heads * hd);
  const k = qkv.view(batch * heads * hd, batch * kvHeads * hd);
  const v = qkv.view(batch * (heads + kvHeads) * hd, batch * kvHeads * hd);
  let launches = 0;
  let end = 0;
  const run = (r: { endMs: number }) => {
    launches++;
    end = r.endMs;
  };
  for (let l = 0; l < layers; l++) {
    run(rmsnorm(dev, { x, weight: w[l]!.norm1, out: h, rows: batch, cols: hidden }));
    run(gemm(dev, { a: h, b: w[l]!.qkv, c: qkv, M: batch, N: (heads + 2 * kvHeads) * hd, K: hidden }));
    run(rope(dev, { x: q, out: q, positions, tokens: batch, heads, headDim: hd, convention: 'half' }));
    run(
      reshapeAndCache(dev, {
        key: k,
        value: v,
        keyCache: kCache[l]!,
        valueCache: vCache[l]!,
        slotMapping: slots,
        tokens: batch,
        kvHeads,
        headDim: hd,
      }),
    );
    const lens = new Array(batch).fill(ctx);
    run(
      pagedAttention(dev, {
        q,
        keyCache: kCache[l]!,
        valueCache: vCache[l]!,
        blockTables: tables,
        out: attn,
        queryLens: new Array(batch).fill(1),
        contextLens: lens,
        maxBlocksPerSeq: maxBlocks,
        blockSize,
        heads,
        kvHeads,
        headDim: hd,
      }),
    );
    run(gemm(dev, { a: attn, b: w[l]!.o, c: x, M: batch, N: hidden, K: heads * hd, residual: x }));
    run(rmsnorm(dev, { x, weight: w[l]!.norm2, out: h, rows: batch, cols: hidden }));
    run(gemm(dev, { a: h, b: w[l]!.gateUp, c: mlp, M: batch, N: 2 * ffn, K: hidden }));
    run(siluAndMul(dev, { x: mlp, out: act, rows: batch, d: ffn }));
    run(gemm(dev, { a: act, b: w[l]!.down, c: x, M: batch, N: hidden, K: ffn, residual: x }));
  }
  dev.synchronize();
  return { wallMs: performance.now() - t0, modelledMs: end, launches };
}
