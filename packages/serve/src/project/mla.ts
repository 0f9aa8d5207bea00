/**
 * DeepSeek's multi-head latent attention on one rank, the absorbed path (vLLM's and SGLang's decode; FlashMLA):
 * h = rmsnorm(x); q = (q_b ∘ rmsnorm ∘ q_a)(h); [c_KV, k_R] = kv_a(h), c_KV normed; the query's no-RoPE part absorbed
 * into the latent space per head (q_nope · W_UK); RoPE on q_R and k_R; the latent row cached; attention over the
 * latent for every head (head size kvLoraRank + qkRopeHeadDim, values = the latent); per head, the latent output ·
 * W_UV → (N, heads · v_head_dim), ready for the O projection.
 */
import { gemm, pagedAttention, reshapeAndCache, rmsnorm, rope } from '@tessera/kernels';
import { type Linear, linear, type QuantScratch } from '../model/layer';
import type { RankState } from './forward';
import type { Layout } from './layout';
import type { ProjectedSequence } from './types';

export interface MlaContext {
  L: Layout;
  lin(rk: RankState, name: string): Linear;
  quant(rk: RankState): QuantScratch | undefined;
  maxBlocksPerSeq: number;
}

export function mlaAttention(
  c: MlaContext,
  rk: RankState,
  p: string,
  N: number,
  seqs: readonly ProjectedSequence[],
): void {
  const { L, lin, quant, maxBlocksPerSeq } = c;
  const a = L.a;
  const D = L.D;
  const eps = a.rmsNormEps;
  const m = L.mla!;
  const dev = rk.dev;
  const { heads, hd, vd } = L;
  const lat = m.kvLoraRank;
  const nope = m.qkNopeHeadDim;
  const rd = m.qkRopeHeadDim;
  const q = quant(rk);
  rmsnorm(dev, { x: rk.b('x'), weight: rk.b(`${p}.attnNorm`), out: rk.b('h'), rows: N, cols: D, eps });
  if (m.qLoraRank !== null) {
    linear(dev, rk.b('h'), lin(rk, `${p}.qa`), rk.b('mla.qa'), N, m.qLoraRank, D, { quant: q });
    rmsnorm(dev, {
      x: rk.b('mla.qa'),
      weight: rk.b(`${p}.qaNorm`),
      out: rk.b('mla.qaN'),
      rows: N,
      cols: m.qLoraRank,
      eps,
    });
    linear(dev, rk.b('mla.qaN'), lin(rk, `${p}.qb`), rk.b('mla.q'), N, heads * L.qk, m.qLoraRank, { quant: q });
  } else linear(dev, rk.b('h'), lin(rk, `${p}.qb`), rk.b('mla.q'), N, heads * L.qk, D, { quant: q });
  linear(dev, rk.b('h'), lin(rk, `${p}.kva`), rk.b('mla.kv'), N, hd, D, { quant: q });
  rmsnorm(dev, { x: rk.b('mla.kv'), weight: rk.b(`${p}.kvaNorm`), out: rk.b('mla.ckv'), rows: N, cols: lat, eps });
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
    queryLens: seqs.map((s) => s.queryLen),
    contextLens: seqs.map((s) => s.contextLen),
    maxBlocksPerSeq,
    blockSize: L.blockSize,
    heads,
    kvHeads: 1,
    headDim: hd,
    scale: 1 / Math.sqrt(L.qk),
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
}
