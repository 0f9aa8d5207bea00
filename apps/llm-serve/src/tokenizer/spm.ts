/**
 * SentencePiece-BPE tokenizer with llama.cpp's semantics (llm_tokenizer_spm in llama-vocab.cpp), used for GGUF
 * 'llama' vocabularies and llama2.c's tokenizer.bin.
 *
 * Encoding: split the text at special tokens (longest first), then for each plain fragment add a leading space when
 * it starts the text or follows a special token (add_space_prefix), write spaces as U+2581 '▁', start from one
 * symbol per code point and repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with the
 * highest score (ties → leftmost). Symbols that are not pieces fall back to `<0xXX>` byte tokens.
 *
 * Decoding: '▁' → space, byte tokens → raw bytes (assembled as UTF-8 at the end, so a character split over several
 * byte tokens comes back whole), control/unknown tokens dropped when skipping specials, and the leading space of the
 * piece right after BOS dropped (the space add_space_prefix put there), as llama2.c's decode does.
 */

import type { ChatMessage, Tokenizer } from '@tessera/serve';
import { TokenizerError } from '../errors';
import { deadlineMs, type ModelCodeBudget, resolveBudget, runWithDeadline } from './budget';
import { ChatTemplate } from './chat-template';

/** GGUF `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

export interface SpmVocab {
  /** Pieces by id, spaces written as '▁', byte tokens as `<0xXX>`. */
  tokens: readonly string[];
  /** Merge priority per piece (log-probabilities in SentencePiece models): higher merges first. */
  scores: ArrayLike<number>;
  /** Token types (TokenType) per id; default: `<0xXX>` → BYTE, unk → UNKNOWN, bos/eos → CONTROL, others NORMAL. */
  tokenTypes?: ArrayLike<number>;
  bosTokenId: number | null;
  eosTokenIds: readonly number[];
  unkTokenId?: number | null;
  /** Prepend BOS when encoding with special tokens (default true, as llama.cpp for SPM). */
  addBos?: boolean;
  /** Append the first EOS when encoding with special tokens (default false). */
  addEos?: boolean;
  /** Add a space before text at the start and after special tokens (default true, as llama.cpp for SPM). */
  addSpacePrefix?: boolean;
  /** Recognise control/user-defined/unknown token texts inside the input (llama.cpp parse_special; default true). */
  parseSpecial?: boolean;
  chatTemplate?: string | null;
  /**
   * Time, steps and size allowed at request time (default DEFAULT_MODEL_CODE_BUDGET): encode runs under the
   * deadline, since the special-token scan costs (special tokens × text length), both set by the model file.
   */
  budget?: Partial<ModelCodeBudget>;
}

const SPACE = '\u2581';
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
const HEX = '0123456789ABCDEF';

interface Bigram {
  left: number;
  right: number;
  score: number;
  /** Length of the merged text when queued; a mismatch later means one side has changed since (stale entry). */
  size: number;
}

/** Max-heap on score; on equal scores the leftmost pair wins, as llama.cpp's llm_bigram_spm comparator orders it. */
class BigramQueue {
  private readonly heap: Bigram[] = [];
  get size(): number {
    return this.heap.length;
  }
  private before(a: Bigram, b: Bigram): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(item: Bigram): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Bigram | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

export class SpmTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly chatTemplate: string | null;
  private readonly tokens: readonly string[];
  private readonly scores: ArrayLike<number>;
  private readonly types: Uint8Array;
  private readonly pieceToId = new Map<string, number>();
  /** Special token ids whose text is matched in the input, longest text first (llama.cpp's cache_special_tokens). */
  private readonly specials: number[] = [];
  private readonly unkTokenId: number | null;
  private readonly addBos: boolean;
  private readonly addEos: boolean;
  private readonly addSpacePrefix: boolean;
  private readonly template: ChatTemplate;
  private readonly budget: ModelCodeBudget;

  constructor(vocab: SpmVocab) {
    this.budget = resolveBudget(vocab.budget);
    const n = vocab.tokens.length;
    if (n === 0) throw new TokenizerError('SentencePiece vocabulary is empty.');
    if (vocab.scores.length !== n) {
      throw new TokenizerError(`SentencePiece vocabulary has ${n} tokens but ${vocab.scores.length} scores.`);
    }
    if (vocab.tokenTypes && vocab.tokenTypes.length !== n) {
      throw new TokenizerError(`SentencePiece vocabulary has ${n} tokens but ${vocab.tokenTypes.length} token types.`);
    }
    const inRange = (id: number | null | undefined, what: string) => {
      if (id != null && !(Number.isInteger(id) && id >= 0 && id < n)) {
        throw new TokenizerError(`${what} token id ${id} is outside the vocabulary (size ${n}).`);
      }
    };
    inRange(vocab.bosTokenId, 'BOS');
    for (const id of vocab.eosTokenIds) inRange(id, 'EOS');
    inRange(vocab.unkTokenId, 'unknown');

    this.tokens = vocab.tokens;
    this.scores = vocab.scores;
    this.vocabSize = n;
    this.bosTokenId = vocab.bosTokenId;
    this.eosTokenIds = [...new Set(vocab.eosTokenIds)];
    this.unkTokenId = vocab.unkTokenId ?? null;
    this.addBos = vocab.addBos ?? true;
    this.addEos = vocab.addEos ?? false;
    this.addSpacePrefix = vocab.addSpacePrefix ?? true;
    this.chatTemplate = vocab.chatTemplate ?? null;

    this.types = new Uint8Array(n);
    for (let id = 0; id < n; id++) {
      const piece = vocab.tokens[id]!;
      let type: number = vocab.tokenTypes ? vocab.tokenTypes[id]! : TokenType.NORMAL;
      // llama.cpp maps a type it does not know to "undefined" (the token prints nothing); so do we.
      if (!(Number.isInteger(type) && type >= TokenType.UNDEFINED && type <= TokenType.BYTE))
        type = TokenType.UNDEFINED;
      if (!vocab.tokenTypes) {
        if (BYTE_PIECE.test(piece)) type = TokenType.BYTE;
        else if (id === this.unkTokenId) type = TokenType.UNKNOWN;
        else if (id === this.bosTokenId || this.eosTokenIds.includes(id)) type = TokenType.CONTROL;
      }
      this.types[id] = type;
      // The first id wins for duplicate pieces, as a lookup by text can only return one.
      if (!this.pieceToId.has(piece)) this.pieceToId.set(piece, id);
    }
    if (vocab.parseSpecial ?? true) {
      for (let id = 0; id < n; id++) {
        const t = this.types[id];
        const special = t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN;
        if (special && this.tokens[id]!.length > 0) this.specials.push(id);
      }
      // Stable sort: equal lengths keep id order, so the result does not depend on the engine's sort.
      this.specials.sort((a, b) => this.tokens[b]!.length - this.tokens[a]!.length);
    }
    const bos = this.bosTokenId === null ? '' : this.tokens[this.bosTokenId]!;
    const eosId = this.eosTokenIds[0];
    this.template = new ChatTemplate(
      this.chatTemplate,
      bos,
      eosId === undefined ? '' : this.tokens[eosId]!,
      this.budget,
    );
  }

  encode(text: string, options?: { addSpecialTokens?: boolean }): number[] {
    const ms = deadlineMs(this.budget.tokenizerMs, this.budget, text.length);
    return runWithDeadline(
      'tokenizer',
      ms,
      (why) => `encoding a ${text.length}-character text stopped: ${why} (${this.specials.length} special tokens).`,
      () => this.encodeNow(text, options),
    );
  }

  private encodeNow(text: string, options?: { addSpecialTokens?: boolean }): number[] {
    const addSpecial = options?.addSpecialTokens ?? true;
    const out: number[] = [];
    if (addSpecial && this.addBos && this.bosTokenId !== null) out.push(this.bosTokenId);
    let prevSpecial = true; // the first fragment gets the space prefix
    for (const fragment of this.partition(text)) {
      if (typeof fragment === 'number') {
        out.push(fragment);
        prevSpecial = true;
        continue;
      }
      const spaced = this.addSpacePrefix && prevSpecial ? ' ' + fragment : fragment;
      this.encodeFragment(spaced.replaceAll(' ', SPACE), out);
      prevSpecial = false;
    }
    const eos = this.eosTokenIds[0];
    if (addSpecial && this.addEos && eos !== undefined) out.push(eos);
    return out;
  }

  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string {
    const skip = options?.skipSpecialTokens ?? true;
    const bytes: number[] = [];
    const utf8 = new TextEncoder();
    let afterBos = false;
    for (const id of ids) {
      const piece = this.tokens[id];
      if (piece === undefined || !Number.isInteger(id)) {
        throw new TokenizerError(`token id ${id} is outside the vocabulary (size ${this.vocabSize}).`);
      }
      const type = this.types[id];
      let text: string;
      if (type === TokenType.CONTROL || type === TokenType.UNKNOWN) {
        text = skip ? '' : piece;
      } else if (type === TokenType.BYTE) {
        const m = BYTE_PIECE.exec(piece);
        if (m) {
          bytes.push(Number.parseInt(m[1]!, 16));
          afterBos = false;
          continue;
        }
        text = piece;
      } else if (type === TokenType.USER_DEFINED) {
        text = piece;
      } else if (type === TokenType.NORMAL) {
        text = piece.replaceAll(SPACE, ' ');
      } else {
        text = ''; // unused/undefined pieces print nothing in llama.cpp either
      }
      if (afterBos && text.startsWith(' ')) text = text.slice(1);
      afterBos = id === this.bosTokenId;
      for (const b of utf8.encode(text)) bytes.push(b);
    }
    // fatal: false → invalid or incomplete sequences become U+FFFD; ignoreBOM keeps a leading U+FEFF that was encoded.
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(new Uint8Array(bytes));
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string {
    return this.template.render(messages, options?.addGenerationPrompt ?? false);
  }

  /** Splits text into plain fragments and special token ids, longest special first (tokenizer_st_partition). */
  private partition(text: string): (string | number)[] {
    let fragments: (string | number)[] = text.length > 0 ? [text] : [];
    for (const id of this.specials) {
      const needle = this.tokens[id]!;
      const next: (string | number)[] = [];
      for (const f of fragments) {
        if (typeof f === 'number' || !f.includes(needle)) {
          next.push(f);
          continue;
        }
        let from = 0;
        for (let at = f.indexOf(needle); at >= 0; at = f.indexOf(needle, from)) {
          if (at > from) next.push(f.slice(from, at));
          next.push(id);
          from = at + needle.length;
        }
        if (from < f.length) next.push(f.slice(from));
      }
      fragments = next;
    }
    return fragments;
  }

  /** The SPM merge loop over one fragment (spaces already escaped). */
  private encodeFragment(text: string, out: number[]): void {
    const sym = Array.from(text); // one symbol per code point
    const n = sym.length;
    if (n === 0) return;
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const queue = new BigramQueue();
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const merged = sym[left]! + sym[right]!;
      const id = this.pieceToId.get(merged);
      if (id === undefined) return;
      queue.push({ left, right, score: this.scores[id]!, size: merged.length });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    while (queue.size > 0) {
      const { left, right, size } = queue.pop()!;
      const l = sym[left]!;
      const r = sym[right]!;
      // Skip pairs made stale by an earlier merge: a side was absorbed (empty) or has grown.
      if (l.length === 0 || r.length === 0 || l.length + r.length !== size) continue;
      sym[left] = l + r;
      sym[right] = '';
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      tryAdd(prev[left]!, left);
      tryAdd(left, next[left]!);
    }
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = sym[i]!;
      const id = this.pieceToId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const b of new TextEncoder().encode(piece)) out.push(this.byteToken(b));
    }
  }

  /** `<0xXX>`, else the byte as a one-character piece, else unk — llama.cpp's byte_to_token order. */
  private byteToken(b: number): number {
    const id =
      this.pieceToId.get(`<0x${HEX[b >> 4]}${HEX[b & 15]}>`) ??
      (b < 0x80 ? this.pieceToId.get(String.fromCharCode(b)) : undefined) ??
      this.unkTokenId;
    if (id == null) {
      throw new TokenizerError(
        `byte 0x${HEX[b >> 4]}${HEX[b & 15]} has no token in this SentencePiece vocabulary (no <0xXX> byte tokens and no unknown token).`,
      );
    }
    return id;
  }
}

export function spmTokenizer(vocab: SpmVocab): Tokenizer {
  return new SpmTokenizer(vocab);
}
