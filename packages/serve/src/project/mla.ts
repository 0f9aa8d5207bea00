/**
 * DeepSeek's multi-head latent attention on one rank, both of vLLM's and SGLang's paths (DeepSeek-V2 §2.1):
 *
 * Shared by every row: h = rmsnorm(x); q = (q_b ∘ rmsnorm ∘ q_a)(h), (N, heads, nope + rope); [c_KV, k_R] = kv_a(h),
 * c_KV normed; RoPE on q_R and k_R; the latent row [c_KV, k_R] cached (reshape_and_cache).
 *
 * Decode rows, the absorbed path (vLLM's and SGLang's decode; FlashMLA): the query's no-RoPE part absorbed into the
 * latent space per head (q_nope · W_UK); paged attention over the latent for every head (head size kvLoraRank +
 * qkRopeHeadDim, values = the latent); per head, the latent output · W_UV → (N, heads · v_head_dim).
 *
 * Prefill rows, the non-absorbed path (vLLM's `_forward_prefill`, SGLang's MHA prefill): kv_b decompresses the latent of
 * every key attention needs into k_nope (heads · nope) and v (heads · v_head_dim) — the chunk's own rows, and under
 * chunked prefill the cached context's, gathered from the cache first (vLLM's `_compute_prefill_context`); k = [k_nope,
 * k_R] per head; causal flash attention with q/k heads of nope + rope (192) and v heads of v_head_dim (128) →
 * (N, heads · v_head_dim). kv_b_proj is W_UK and W_UV side by side (kv_lora_rank → heads · (nope + v)), so its two
 * GEMMs read the very bytes the absorbed path holds.
 *
 * Rows are ordered decodes first, then prefills (vLLM's split_decodes_and_prefills); both paths write their rows of
 * `attn`, which the O projection reads.
 */
import {
  copy,
  embedding,
  flashAttention,
  gemm,
  pagedAttention,
  reshapeAndCache,
  rmsnorm,
  rope,
} from '@tessera/kernels';
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

/** How one group's sequences of a pass split between MLA's two paths. */
export interface MlaSplit {
  /** Sequences on the absorbed path (their rows first), and on the non-absorbed prefill path (after them). */
  decode: ProjectedSequence[];
  prefill: ProjectedSequence[];
  /** Decode rows and prefill rows. */
  Nd: number;
  Np: number;
  /** Keys the prefill rows attend (every prefill sequence's whole context), and how many were cached before the step. */
  Kp: number;
  Cp: number;
}

/**
 * vLLM's split: a sequence whose query is at most `L.mlaDecodeQueryLen` tokens (1, or 1 + the draft tokens it
 * verifies under speculative decoding, as vLLM's decode threshold) takes the absorbed path; longer ones prefill.
 */
export function mlaSplit(L: Layout, seqs: readonly ProjectedSequence[]): MlaSplit {
  const decode = seqs.filter((s) => s.queryLen <= L.mlaDecodeQueryLen);
  const prefill = seqs.filter((s) => s.queryLen > L.mlaDecodeQueryLen);
  const sum = (xs: ProjectedSequence[], f: (s: ProjectedSequence) => number) => xs.reduce((n, s) => n + f(s), 0);
  const Np = sum(prefill, (s) => s.queryLen);
  const Kp = sum(prefill, (s) => s.contextLen);
  return { decode, prefill, Nd: sum(decode, (s) => s.queryLen), Np, Kp, Cp: Kp - Np };
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
  const { heads, hd, vd, qk } = L;
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
    linear(dev, rk.b('mla.qaN'), lin(rk, `${p}.qb`), rk.b('mla.q'), N, heads * qk, m.qLoraRank, { quant: q });
  } else linear(dev, rk.b('h'), lin(rk, `${p}.qb`), rk.b('mla.q'), N, heads * qk, D, { quant: q });
  linear(dev, rk.b('h'), lin(rk, `${p}.kva`), rk.b('mla.kv'), N, hd, D, { quant: q });
  rmsnorm(dev, { x: rk.b('mla.kv'), weight: rk.b(`${p}.kvaNorm`), out: rk.b('mla.ckv'), rows: N, cols: lat, eps });
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
  const { decode, prefill, Nd, Np, Kp, Cp } = mlaSplit(L, seqs);

  // ---- Prefill rows [Nd, N): non-absorbed. ----
  if (Np > 0) {
    // kv_b_proj over `rows` latent rows into the k_nope and v of keys [at, at + rows): W_UK (heads · nope, lat) and
    // W_UV as (lat, heads · v), the two halves of kv_b (lat → heads · (nope + v)).
    const kvNope = rk.b('mla.kvNope'); // (Kp, heads, nope) then (Kp, heads, v)
    const kNope = kvNope.view(0, Kp * heads * nope);
    const v = kvNope.view(Kp * heads * nope, Kp * heads * vd);
    const kvB = (latent: ReturnType<RankState['b']>, at: number, rows: number) => {
      const lv = latent.view(0, rows * lat);
      gemm(dev, {
        a: lv,
        b: rk.b(`${p}.wuk`),
        c: kNope.view(at * heads * nope, rows * heads * nope),
        M: rows,
        N: heads * nope,
        K: lat,
        transB: true,
      });
      gemm(dev, {
        a: lv,
        b: rk.b(`${p}.wuv`),
        c: v.view(at * heads * vd, rows * heads * vd),
        M: rows,
        N: heads * vd,
        K: lat,
      });
    };
    if (Cp > 0) {
      // The cached context's latent rows, gathered through the block tables (vLLM's gather_and_maybe_dequant_cache),
      // then decompressed like the chunk's own.
      embedding(dev, {
        table: cache,
        ids: rk.b('mla.ctxIds'),
        out: rk.b('mla.ctx'),
        tokens: Cp,
        vocab: cache.length / hd,
        dim: hd,
      });
      kvB(rk.b('mla.ctx'), 0, Cp);
    }
    kvB(rk.b('mla.ckv').view(Nd * lat, Np * lat), Cp, Np);
    // k = [k_nope, k_R] per head (torch.cat in vLLM: k_R broadcast over the heads), costed as a copy of k.
    const k = rk.b('mla.k');
    copy(dev, kvNope, k, { n: Kp * heads * qk });
    flashAttention(dev, {
      q: rk.b('mla.q').view(Nd * heads * qk, Np * heads * qk),
      k: k.view(0, Kp * heads * qk),
      v,
      out: rk.b('attn').view(Nd * heads * vd, Np * heads * vd),
      seqLens: prefill.map((s) => s.queryLen),
      kvSeqLens: prefill.map((s) => s.contextLen),
      heads,
      kvHeads: heads,
      headDim: qk,
      vHeadDim: vd,
      scale: 1 / Math.sqrt(qk),
    });
  }

  // ---- Decode rows [0, Nd): absorbed. ----
  if (Nd === 0) return;
  // q_nope (heads, Nd, nope) · W_UK (heads, nope, lat) → the attention query's latent part, per head.
  gemm(dev, {
    a: rk.b('mla.q'),
    b: rk.b(`${p}.wuk`),
    c: rk.b('mla.qAtt'),
    M: Nd,
    N: lat,
    K: nope,
    batch: heads,
    strideA: Nd * nope,
    strideB: nope * lat,
    strideC: Nd * hd,
  });
  pagedAttention(dev, {
    q: rk.b('mla.qAtt'),
    keyCache: cache,
    valueCache: cache,
    blockTables: rk.b('tables'),
    out: rk.b('mla.out'),
    queryLens: decode.map((s) => s.queryLen),
    contextLens: decode.map((s) => s.contextLen),
    maxBlocksPerSeq,
    blockSize: L.blockSize,
    heads,
    kvHeads: 1,
    headDim: hd,
    scale: 1 / Math.sqrt(qk),
  });
  // The latent output (heads, Nd, lat) · W_UV (heads, lat, v) → (Nd, heads · v).
  gemm(dev, {
    a: rk.b('mla.out'),
    b: rk.b(`${p}.wuv`),
    c: rk.b('attn'),
    M: Nd,
    N: vd,
    K: lat,
    batch: heads,
    strideA: Nd * hd,
    strideB: lat * vd,
    strideC: Nd * vd,
  });
}

/** What a step with MLA assumes, in words (for the projection's `assumptions`). */
export function mlaAssumptions(L: Layout): string[] {
  const m = L.mla!;
  const splits = L.passes.flatMap((pass) => pass.groups.map((g) => mlaSplit(L, g)));
  const out: string[] = [];
  const rule =
    L.mlaDecodeQueryLen === Number.POSITIVE_INFINITY
      ? 'every row takes the absorbed path (mlaPrefill: absorbed)'
      : `a sequence of at most ${L.mlaDecodeQueryLen} query token(s) takes the absorbed path, a longer one the non-absorbed prefill path (a group's rows ordered decodes first, as vLLM's split_decodes_and_prefills; the projections, norms, RoPE and the cache write are shared)`;
  out.push(`MLA: the latent cache (${L.hd} per token and layer) is replicated on every rank of a group; ${rule}`);
  if (splits.some((s) => s.Nd > 0))
    out.push(
      `MLA decode rows, absorbed: attention reads the latent as keys and as values (head size ${L.hd} for both, as FlashMLA's 576), so the P·V side counts ${L.hd} rather than ${m.kvLoraRank} columns`,
    );
  if (splits.some((s) => s.Np > 0)) {
    const qk = L.qk;
    out.push(
      `MLA prefill rows, non-absorbed (vLLM's _forward_prefill): kv_b (${m.kvLoraRank} → heads · (${m.qkNopeHeadDim} + ${L.vd})) decompresses the latent of every key into k_nope and v per head as two GEMMs over W_UK and W_UV — the absorbed path's bytes, so no extra weight${L.Q ? ` (in bf16: vLLM runs its ${L.weightDtype} kv_b_proj here, a copy not counted)` : ''}; k = [k_nope, k_rope] (vLLM's torch.cat) costed as a copy of k; causal flash attention with q/k heads of ${qk} and v heads of ${L.vd} (no padding of v)`,
    );
    if (splits.some((s) => s.Cp > 0))
      out.push(
        `MLA chunked prefill with cached context: the context's latent rows are gathered from the cache (an embedding gather, as vLLM's gather_and_maybe_dequant_cache) and decompressed by kv_b over those tokens too; one attention launch covers context and chunk with the causal mask aligned to the bottom right, where vLLM attends the chunk causally and the context non-causally in workspace-bounded chunks merged by merge_attn_states — the same matrix FLOPs; the merges are not costed and the workspace holds the whole context`,
      );
  }
  return out;
}
