/**
 * Forward FLOPs (one multiply-add = 2 FLOPs) per token, at a given context length.
 *
 *   forward FLOPs per token = 2 · N + Σ_layers 2 · c · H · (d_qk + d_v)
 *
 * - 2N: every weight is one multiply-add per token (Kaplan et al. 2020, "Scaling Laws for Neural Language Models",
 *   arXiv 2001.08361, Table 1: C_forward ≈ 2N + 2 n_layer n_ctx d_attn; training is 3× that, the 6N of Kaplan and of
 *   Hoffmann et al. 2022, "Chinchilla", arXiv 2203.15556). N is the token's active parameters without the input
 *   embedding (a lookup, no arithmetic) and with the LM head — countParameters().active.nonEmbedding.
 * - The context term: the token's query against c cached keys (QKᵀ: 2·c·H·d_qk) and the weighted sum of c values
 *   (2·c·H·d_v), per layer — Chinchilla's Appendix F counts both ("key @ query logits" and "softmax @ query
 *   reduction"); Kaplan's 2·n_layer·n_ctx·d_attn is the first alone. Softmax and norms are left out (O(c·H), O(h)).
 *   GQA: d_qk = d_v = headDim, H query heads (sharing KV heads saves memory, not these FLOPs). MLA: d_qk =
 *   qk_nope + qk_rope, d_v = v_head_dim: the expanded form. (vLLM and SGLang decode MLA in the absorbed form, which
 *   trades these for attention over the kvLoraRank latent; that variant is not modelled.)
 *   Sliding-window layers attend to min(c, window) tokens.
 * MTP modules are not counted (they run only for speculative decoding).
 */
import { ModelArgumentError, showValue } from './errors';
import { countParameters } from './params';
import type { ModelArchitecture } from './types';

export interface Flops {
  /** 2 · active non-embedding parameters per token processed. */
  params: number;
  /** The context term. */
  attention: number;
  total: number;
}

const MAX_TOKENS = 2 ** 32;

function tokens(argument: string, n: unknown, min: number): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > MAX_TOKENS) {
    throw new ModelArgumentError(argument, `must be an integer from ${min} to 2^32, got ${showValue(n)}.`);
  }
  return n;
}

/** FLOPs per layer for each token of context attended to. */
export function attentionFlopsPerContextToken(arch: ModelArchitecture): number {
  const a = arch.attention;
  const qk = a.kind === 'gqa' ? a.headDim : a.qkNopeHeadDim + a.qkRopeHeadDim;
  const v = a.kind === 'gqa' ? a.headDim : a.vHeadDim;
  return 2 * a.numHeads * (qk + v);
}

/** Σ over t = from+1 … to of min(t, window). */
function clippedSum(from: number, to: number, window: number): number {
  const sum = (a: number, b: number): number => (b <= a ? 0 : ((b - a) * (a + b + 1)) / 2); // a+1 … b
  if (to <= window) return sum(from, to);
  if (from >= window) return (to - from) * window;
  return sum(from, window) + (to - window) * window;
}

/** The context term for tokens at positions from+1 … to (each attends to itself and everything before it). */
function attentionFlops(arch: ModelArchitecture, from: number, to: number): number {
  const perToken = attentionFlopsPerContextToken(arch);
  const a = arch.attention;
  const sw = a.kind === 'gqa' ? a.slidingWindow : null;
  const swaLayers = sw?.layers ?? 0;
  const fullLayers = arch.numLayers - swaLayers;
  let contexts = fullLayers * clippedSum(from, to, Number.POSITIVE_INFINITY);
  if (sw !== null) contexts += swaLayers * clippedSum(from, to, sw.size);
  return perToken * contexts;
}

/** FLOPs for one new token that attends to `contextLength` tokens, itself included (decode). */
export function decodeFlopsPerToken(arch: ModelArchitecture, contextLength: number): Flops {
  const c = tokens('contextLength', contextLength, 1);
  const params = 2 * countParameters(arch).active.nonEmbedding;
  const attention = attentionFlops(arch, c - 1, c);
  return { params, attention, total: params + attention };
}

export interface PrefillOptions {
  /** Tokens already in the KV cache before the prompt (a prefix-cache hit, an earlier chunk). Default 0. */
  cachedTokens?: number;
  /**
   * Which prompt tokens go through the LM head: 'all' (the 2N convention) or 'last' (what a serving engine computes:
   * only the position it samples from). Default 'all'.
   */
  logits?: 'all' | 'last';
}

/** FLOPs to process a prompt of `promptLength` tokens at once (causal: token i attends to cachedTokens + i tokens). */
export function prefillFlops(arch: ModelArchitecture, promptLength: number, options: PrefillOptions = {}): Flops {
  const n = tokens('promptLength', promptLength, 1);
  const cached = tokens('cachedTokens', options.cachedTokens ?? 0, 0);
  const logits = options.logits ?? 'all';
  if (logits !== 'all' && logits !== 'last') {
    throw new ModelArgumentError('logits', `must be "all" or "last", got ${showValue(logits)}.`);
  }
  const active = countParameters(arch).active;
  const params =
    logits === 'all' ? 2 * active.nonEmbedding * n : 2 * (active.nonEmbedding - active.lmHead) * n + 2 * active.lmHead;
  const attention = attentionFlops(arch, cached, cached + n);
  return { params, attention, total: params + attention };
}

/**
 * Per-token FLOPs for a phase: 'decode' is decodeFlopsPerToken(contextLength); 'prefill' is the mean over a prompt of
 * contextLength tokens, prefillFlops(contextLength) / contextLength.
 */
export function flopsPerToken(
  arch: ModelArchitecture,
  options: { phase: 'prefill' | 'decode'; contextLength: number },
): Flops {
  if (options.phase === 'decode') return decodeFlopsPerToken(arch, options.contextLength);
  if (options.phase !== 'prefill') {
    throw new ModelArgumentError('phase', `must be "prefill" or "decode", got ${showValue(options.phase)}.`);
  }
  const n = tokens('contextLength', options.contextLength, 1);
  const f = prefillFlops(arch, n);
  return { params: f.params / n, attention: f.attention / n, total: f.total / n };
}
