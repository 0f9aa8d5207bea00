/**
 * A small, deterministic GPT-2-style byte-level BPE trainer, used by scripts/make-tokenizer.ts to build the embedded
 * model's tokenizer. Deterministic by construction: no randomness, integer counts only, and ties broken by token ids.
 *
 * The corpus is split with the very regex the ByteLevel pre-tokenizer uses at encode time, so that merges are learned
 * on the same words they will be applied to. Ids 0..255 are the bytes themselves (id = byte value), then one id per
 * merge in the order learned.
 */
import { BYTE_TO_CHAR, GPT2_PATTERN } from './byte-level';
import { bosTemplate } from './hf';

export interface BpeModel {
  /** Byte-level token strings by id (256 bytes, then one per merge). */
  vocab: string[];
  /** Merges in rank order, as token-string pairs. */
  merges: [string, string][];
}

/**
 * Learns `numMerges` merges: repeatedly the most frequent adjacent pair over all words (weighted by word count),
 * ties → the smaller left id, then the smaller right id. A pair whose merged string is already a token (reachable by
 * another split) is skipped, so every merge adds exactly one new token.
 */
export function trainByteLevelBpe(corpus: string, numMerges: number): BpeModel {
  const counts = new Map<string, number>();
  for (const word of corpus.match(new RegExp(GPT2_PATTERN, 'gu')) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
  const utf8 = new TextEncoder();
  // Words in first-seen order (Map order) — deterministic for a given corpus.
  const words = [...counts].map(([w, count]) => ({ ids: Array.from(utf8.encode(w)), count }));

  const vocab = [...BYTE_TO_CHAR];
  const known = new Set(vocab);
  const merges: [string, string][] = [];
  const key = (a: number, b: number) => a * 65536 + b;

  while (merges.length < numMerges) {
    const pairCounts = new Map<number, number>();
    for (const { ids, count } of words) {
      for (let i = 0; i + 1 < ids.length; i++) {
        const k = key(ids[i]!, ids[i + 1]!);
        pairCounts.set(k, (pairCounts.get(k) ?? 0) + count);
      }
    }
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairCounts) {
      if (c < bestCount || (c === bestCount && k > best)) continue;
      if (known.has(vocab[Math.floor(k / 65536)]! + vocab[k % 65536]!)) continue;
      best = k;
      bestCount = c;
    }
    if (best < 0) {
      throw new Error(`corpus too small: only ${merges.length} of ${numMerges} merges could be learned.`);
    }
    const left = Math.floor(best / 65536);
    const right = best % 65536;
    const id = vocab.length;
    const text = vocab[left]! + vocab[right]!;
    vocab.push(text);
    known.add(text);
    merges.push([vocab[left]!, vocab[right]!]);
    // Apply the merge left to right, non-overlapping — what BPE encoding does for equal-rank pairs too.
    for (const word of words) {
      const ids = word.ids;
      let w = 0;
      for (let r = 0; r < ids.length; r++) {
        if (r + 1 < ids.length && ids[r] === left && ids[r + 1] === right) {
          ids[w++] = id;
          r++;
        } else {
          ids[w++] = ids[r]!;
        }
      }
      ids.length = w;
    }
  }
  return { vocab, merges };
}

export interface SpecialToken {
  content: string;
  id: number;
}

/**
 * A Hugging Face tokenizer.json for a byte-level BPE: GPT-2 ByteLevel pre-tokenizer and decoder, no byte fallback,
 * `specials` as added tokens and a post-processor that prepends `bos`.
 */
export function byteLevelTokenizerJson(model: BpeModel, specials: readonly SpecialToken[], bos: SpecialToken): object {
  const vocab: Record<string, number> = {};
  model.vocab.forEach((t, id) => {
    vocab[t] = id;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((s) => ({
      id: s.id,
      content: s.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: bosTemplate(bos.content, bos.id),
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: model.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}
