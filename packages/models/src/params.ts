/**
 * Parameter counts, by category, for the whole model and for one token.
 *
 * "Active" counts the parameters one token goes through: every non-expert tensor in full and, per MoE layer, the
 * router, the shared experts and the k routed experts it is sent to. The input embedding is counted in full — the
 * convention behind Mistral's "12.9B active" for Mixtral and Qwen's "22B activated" for Qwen3-235B-A22B — so
 * `nonEmbedding` is also given: DeepSeek's "37B activated" is that figure (36.6 B; README_WEIGHTS.md says 36.7 B).
 */
import { type ParameterCategory, tensorGroups } from './tensors';
import type { ModelArchitecture } from './types';

export interface ParameterBreakdown {
  embedding: number;
  attention: number;
  /** Dense MLPs, experts, shared experts and routers. */
  mlp: number;
  /** RMSNorm weights (layer norms, the final norm, Qwen3's q/k norms, MLA's latent norms). */
  norms: number;
  lmHead: number;
  /** MTP's eh_proj (the projection of [embedding; hidden] back to hidden). */
  other: number;
  total: number;
  /** total − embedding. */
  nonEmbedding: number;
}

export interface ParameterCounts {
  /** The main model (embedding, decoder layers, final norm, LM head): every parameter. */
  total: ParameterBreakdown;
  /** The main model, per token. */
  active: ParameterBreakdown;
  /**
   * The MTP modules as the checkpoint stores them (their embedding and head copies included); null when there are
   * none. Serving without speculative decoding never runs them.
   */
  mtp: { total: ParameterBreakdown; active: ParameterBreakdown } | null;
  /** Every parameter in the checkpoint: total.total + mtp.total.total (what Hugging Face's model page counts). */
  checkpoint: number;
}

function breakdown(parts: Record<ParameterCategory, number>): ParameterBreakdown {
  const total = parts.embedding + parts.attention + parts.mlp + parts.norms + parts.lmHead + parts.other;
  return { ...parts, total, nonEmbedding: total - parts.embedding };
}

const zero = (): Record<ParameterCategory, number> => ({
  embedding: 0,
  attention: 0,
  mlp: 0,
  norms: 0,
  lmHead: 0,
  other: 0,
});

export function countParameters(arch: ModelArchitecture): ParameterCounts {
  const main = { total: zero(), active: zero() };
  const mtp = { total: zero(), active: zero() };
  for (const g of tensorGroups(arch)) {
    const into = g.scope === 'mtp' ? mtp : main;
    const size = g.rows * g.cols;
    into.total[g.category] += size * g.count;
    into.active[g.category] += size * g.activeCount;
  }
  const total = breakdown(main.total);
  const mtpCounts = arch.mtp === null ? null : { total: breakdown(mtp.total), active: breakdown(mtp.active) };
  return {
    total,
    active: breakdown(main.active),
    mtp: mtpCounts,
    checkpoint: total.total + (mtpCounts?.total.total ?? 0),
  };
}
