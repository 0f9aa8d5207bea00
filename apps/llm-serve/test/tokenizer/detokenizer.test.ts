import type { Tokenizer } from '@tessera/serve';
import { IncrementalDetokenizer } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { embeddedTokenizer } from '../../src/embedded/tokenizer';
import { hfTokenizer } from '../../src/tokenizer/hf';
import { llama2StyleTokenizerJson, prng, roundTripSpmVocab, spm } from './helpers';

const TEXT = 'Emoji 🙂🚀👨‍👩‍👧 and 日本語, café — Ελληνικά!\n\tdone 🇯🇵';

/** Streams ids one at a time; returns the deltas (flush last). */
function stream(t: Tokenizer, ids: readonly number[], promptIds?: readonly number[]): string[] {
  const d = new IncrementalDetokenizer(t, promptIds ? { promptIds } : {});
  const deltas = ids.map((id) => d.push([id]));
  deltas.push(d.flush());
  expect(d.text).toBe(deltas.join(''));
  return deltas;
}

/** A delta must not end inside a character: no held U+FFFD, no lone high surrogate. */
function endsCleanly(delta: string): boolean {
  if (delta.length === 0) return true;
  const last = delta.charCodeAt(delta.length - 1);
  return !delta.endsWith('\uFFFD') && !(last >= 0xd800 && last <= 0xdbff);
}

describe('IncrementalDetokenizer', () => {
  const cases: [string, Tokenizer][] = [
    ['byte-level BPE (embedded)', embeddedTokenizer()],
    ['SentencePiece with byte fallback', spm(roundTripSpmVocab())],
    ['HF Llama-2-style (Strip decoder)', hfTokenizer(llama2StyleTokenizerJson(), { bos_token: '<s>' })],
  ];

  it.each(cases)('%s: one id at a time equals the full decode, never ending mid-character', (_, t) => {
    const ids = t.encode(TEXT);
    // The text must really have characters split over several tokens, or the test proves nothing.
    expect(ids.some((id) => t.decode([id]).includes('\uFFFD'))).toBe(true);
    const deltas = stream(t, ids);
    expect(deltas.join('')).toBe(TEXT);
    expect(deltas.join('')).toBe(t.decode(ids));
    for (const delta of deltas) expect(endsCleanly(delta)).toBe(true);
    expect(deltas.at(-1)).toBe(''); // nothing was left to flush
  });

  it.each(cases)('%s: pushing several ids at once gives the same text', (_, t) => {
    const ids = t.encode(TEXT);
    const d = new IncrementalDetokenizer(t);
    for (let i = 0; i < ids.length; i += 3) d.push(ids.slice(i, i + 3));
    d.flush();
    expect(d.text).toBe(TEXT);
    expect(d.tokenIds).toEqual(ids);
  });

  it('keeps the SentencePiece space of a continuation and drops the one after BOS', () => {
    const t = spm(roundTripSpmVocab());
    const ids = t.encode('the cat', { addSpecialTokens: false });
    expect(stream(t, ids).join('')).toBe(' the cat');
    expect(stream(t, [1, ...ids]).join('')).toBe('the cat');
  });

  it('with the prompt as context, a decoder that strips the first space still yields the continuation space', () => {
    const t = hfTokenizer(llama2StyleTokenizerJson(), { bos_token: '<s>' });
    const gen = t.encode('the cat', { addSpecialTokens: false });
    expect(t.decode(gen)).toBe('the cat'); // decoded alone, the Strip decoder eats the space
    expect(stream(t, gen, t.encode('Once')).join('')).toBe(' the cat');
  });

  it('uses the prompt as context without emitting it', () => {
    const t = embeddedTokenizer();
    const prompt = t.encode('Once upon');
    const gen = t.encode(' a time 🙂', { addSpecialTokens: false });
    const deltas = stream(t, gen, prompt);
    expect(deltas.join('')).toBe(' a time 🙂');
  });

  it('skips special tokens, or shows them when asked', () => {
    const t = embeddedTokenizer();
    const ids = [...t.encode('hi'), 511];
    expect(stream(t, ids).join('')).toBe('hi');
    const d = new IncrementalDetokenizer(t, { skipSpecialTokens: false });
    for (const id of ids) d.push([id]);
    expect(d.text + d.flush()).toBe('<|begin_of_text|>hi<|eot_id|>');
  });

  // Byte tokens for bytes 128..255 (continuation and lead bytes) make broken and incomplete sequences likely.
  const randomIds: [string, Tokenizer, (next: () => number) => number][] = [
    [
      'byte-level BPE',
      embeddedTokenizer(),
      (next) => (next() < 0.5 ? 128 + Math.floor(next() * 128) : Math.floor(next() * 512)),
    ],
    [
      'SentencePiece',
      spm(roundTripSpmVocab()),
      (next) =>
        next() < 0.5 ? 3 + 128 + Math.floor(next() * 128) : Math.floor(next() * roundTripSpmVocab().tokens.length),
    ],
  ];

  it.each(randomIds)(
    '%s: random ids (invalid UTF-8 included) concatenate to the full decode, never emitting a wrong character',
    (_, t, draw) => {
      const next = prng(7);
      for (let trial = 0; trial < 50; trial++) {
        const ids = Array.from({ length: 1 + Math.floor(next() * 40) }, () => draw(next));
        const full = t.decode(ids);
        const d = new IncrementalDetokenizer(t);
        for (const id of ids) {
          d.push([id]);
          // Whatever was emitted is final: a U+FFFD only where the bytes are invalid whatever follows.
          expect(full.startsWith(d.text)).toBe(true);
        }
        d.flush();
        expect(d.text).toBe(full);
      }
    },
  );

  it('holds back an incomplete character until it completes, then releases it whole', () => {
    const t = embeddedTokenizer();
    const d = new IncrementalDetokenizer(t);
    // '🙂' is F0 9F 99 82: with byte ids = byte values, four pushes.
    expect(d.push([0x41])).toBe('A');
    expect(d.push([0xf0])).toBe('');
    expect(d.push([0x9f])).toBe('');
    expect(d.push([0x99])).toBe('');
    expect(d.push([0x82])).toBe('🙂');
    // A lone lead byte then ASCII: the bytes really are invalid, so U+FFFD comes out with the 'B'.
    expect(d.push([0xe4])).toBe('');
    expect(d.push([0x42])).toBe('\uFFFDB');
    expect(d.push([0xe4])).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    expect(d.text).toBe(t.decode([0x41, 0xf0, 0x9f, 0x99, 0x82, 0xe4, 0x42, 0xe4]));
  });

  it("accepts the prompt ids as the second argument (the engine's shorthand)", () => {
    const t = embeddedTokenizer();
    const d = new IncrementalDetokenizer(t, t.encode('Hello'));
    expect(d.push(t.encode(' world', { addSpecialTokens: false }))).toBe(' world');
  });
});
