/**
 * Streaming detokenization with vLLM's prefix_offset / read_offset method (detokenize_incrementally).
 *
 * Token-by-token decoding is wrong in two ways: a character may be split over several byte tokens (decoding one alone
 * gives U+FFFD), and some decoders change a token's text depending on its neighbours (SentencePiece's leading space,
 * dropped at the start of a decode or after BOS). So each step decodes a short window of ids twice — once up to
 * `readOffset` (text already emitted) and once to the end — and emits the difference. The window moves forward only
 * once its text ends in a whole character, so every window starts on a character boundary and the deltas concatenate to
 * decode(all ids).
 *
 * Unlike vLLM, text before a trailing incomplete character is emitted at once (only the U+FFFD tail is held back),
 * and `flush()` releases whatever is held at the end, so the concatenation is exact even when the bytes are invalid.
 */
import type { Tokenizer } from '../types';

const REPLACEMENT = '\uFFFD';
/** Prompt ids kept as left context (vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET is 5). */
const CONTEXT_IDS = 5;

export interface DetokenizerOptions {
  /** Default true, as the server's responses skip control tokens. */
  skipSpecialTokens?: boolean;
  /**
   * The prompt's ids. Its last few serve as left context, so that the first generated token is decoded as a
   * continuation (e.g. keeps its leading space with decoders that strip it at the start); they are never emitted.
   */
  promptIds?: readonly number[];
}

function isIdList(x: DetokenizerOptions | readonly number[]): x is readonly number[] {
  return Array.isArray(x);
}

export class IncrementalDetokenizer {
  private readonly ids: number[];
  private readonly skipSpecialTokens: boolean;
  /** Start of the window: the text of ids[prefixOffset, readOffset) was emitted by an earlier step. */
  private prefixOffset: number;
  /** End of the emitted part in ids; ids from here on are new since the window last moved. */
  private readOffset: number;
  /** Characters past the prefix text already emitted while the window could not move (held-back tail). */
  private emittedPastPrefix = 0;
  private emitted = '';
  private readonly firstOwnId: number;

  /** `options` may also be just the prompt's ids (the engine's shorthand). */
  constructor(
    private readonly tokenizer: Pick<Tokenizer, 'decode'>,
    options: DetokenizerOptions | readonly number[] = {},
  ) {
    if (isIdList(options)) options = { promptIds: options };
    this.skipSpecialTokens = options.skipSpecialTokens ?? true;
    this.ids = (options.promptIds ?? []).slice(-CONTEXT_IDS);
    this.prefixOffset = 0;
    this.readOffset = this.ids.length;
    this.firstOwnId = this.ids.length;
  }

  /** Adds generated ids; returns the text they complete (possibly ''), never ending in a partial character. */
  push(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    for (const id of ids) this.ids.push(id);
    return this.step(false);
  }

  /** Releases any held-back tail (an incomplete or invalid byte sequence at the very end) as-is. */
  flush(): string {
    return this.step(true);
  }

  /** All text emitted so far. */
  get text(): string {
    return this.emitted;
  }

  /** The generated ids pushed so far (without the prompt context). */
  get tokenIds(): readonly number[] {
    return this.ids.slice(this.firstOwnId);
  }

  private step(final: boolean): string {
    const decode = (from: number, to: number) =>
      this.tokenizer.decode(this.ids.slice(from, to), { skipSpecialTokens: this.skipSpecialTokens });
    const prefixText = decode(this.prefixOffset, this.readOffset);
    const fullText = decode(this.prefixOffset, this.ids.length);
    const start = prefixText.length + this.emittedPastPrefix;
    // A trailing U+FFFD may be a character whose remaining bytes are still to come: hold it back.
    const heldTail = !final && fullText.endsWith(REPLACEMENT);
    const end = heldTail ? fullText.length - 1 : fullText.length;
    const delta = end > start ? fullText.slice(start, end) : '';
    if (heldTail) {
      this.emittedPastPrefix += delta.length;
    } else if (fullText.length > prefixText.length) {
      // The window's text ends in a whole character: move it so the next step decodes only a few ids. (When nothing
      // new appeared, e.g. a skipped control token, it stays put and keeps its context, as vLLM's does.)
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      this.emittedPastPrefix = 0;
    }
    this.emitted += delta;
    return delta;
  }
}
