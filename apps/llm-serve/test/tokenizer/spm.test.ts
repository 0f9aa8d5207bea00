import { describe, expect, it } from 'vitest';
import { TokenizerError } from '../../src/errors';
import { SpmTokenizer } from '../../src/tokenizer/spm';
import { handVocab, ROUND_TRIP_TEXTS, roundTripSpmVocab, spm } from './helpers';

// Ids of handVocab: 0 <unk>, 1 <s>, 2 </s>, 3 ▁, 4 a, 5 b, 6 c, 7 ab, 8 bc, 9 ▁a, 10 <0xC3>, 11 <0xA9>.

describe('SentencePiece merge order (hand-checked)', () => {
  it('merges the highest-scoring pair first and never revisits stale pairs', () => {
    // "abc" → "▁abc"; candidates ▁a (-3), ab (-1), bc (-2). ab wins → ▁|ab|c; "▁ab" and "abc" are not pieces,
    // bc lost its 'b' and ▁a its 'a', so nothing else merges.
    const t = spm(handVocab({ ab: -1, bc: -2, spaceA: -3 }));
    expect(t.encode('abc')).toEqual([1, 3, 7, 6]);
  });

  it('a different score order gives a different segmentation', () => {
    // bc (-0.5) wins → ▁|a|bc; "abc" is not a piece, ab is stale, ▁a (-3) still applies → ▁a|bc.
    const t = spm(handVocab({ ab: -1, bc: -0.5, spaceA: -3 }));
    expect(t.encode('abc')).toEqual([1, 9, 8]);
  });

  it('breaks score ties by taking the leftmost pair', () => {
    // All three equal: ▁a (leftmost) merges first, ab is then stale, bc still merges → ▁a|bc.
    expect(spm(handVocab({ ab: -1, bc: -1, spaceA: -1 })).encode('abc')).toEqual([1, 9, 8]);
    // ab and bc tie, ▁a lower: ab (left of bc) wins → ▁|ab|c.
    expect(spm(handVocab({ ab: -1, bc: -1, spaceA: -3 })).encode('abc')).toEqual([1, 3, 7, 6]);
  });

  it('escapes spaces as ▁ and adds the dummy prefix', () => {
    // "a b" → "▁a▁b": only ▁a is a piece.
    const t = spm(handVocab({ ab: -1, bc: -2, spaceA: -3 }));
    expect(t.encode('a b')).toEqual([1, 9, 3, 5]);
    expect(t.decode([1, 9, 3, 5])).toBe('a b');
  });

  it('falls back to <0xXX> byte tokens, then to unk', () => {
    const t = spm(handVocab({ ab: -1, bc: -2, spaceA: -3 }));
    // 'é' is not a piece: its UTF-8 bytes C3 A9 are.
    expect(t.encode('aé')).toEqual([1, 9, 10, 11]);
    expect(t.decode([1, 9, 10, 11])).toBe('aé');
    // '!' has neither a piece nor a byte token → <unk>, which decoding skips by default.
    expect(t.encode('a!')).toEqual([1, 9, 0]);
    expect(t.decode([1, 9, 0])).toBe('a');
    expect(t.decode([1, 9, 0], { skipSpecialTokens: false })).toBe('<s>a<unk>');
  });

  it('drops the leading space only right after BOS', () => {
    const t = spm(handVocab({ ab: -1, bc: -2, spaceA: -3 }));
    expect(t.encode('abc', { addSpecialTokens: false })).toEqual([3, 7, 6]);
    // Without BOS the ids are a continuation: the space is part of the text.
    expect(t.decode([3, 7, 6])).toBe(' abc');
    expect(t.decode([1, 3, 7, 6])).toBe('abc');
  });

  it('recognises special-token texts and restarts the space prefix after them (llama.cpp)', () => {
    const t = spm(handVocab({ ab: -1, bc: -2, spaceA: -3 }));
    expect(t.encode('a</s>b')).toEqual([1, 9, 2, 3, 5]);
    const literal = new SpmTokenizer({ ...handVocab({ ab: -1, bc: -2, spaceA: -3 }), parseSpecial: false });
    expect(literal.encode('</s>')).not.toContain(2);
  });

  it('empty text is just BOS', () => {
    const t = spm(handVocab({ ab: -1, bc: -2, spaceA: -3 }));
    expect(t.encode('')).toEqual([1]);
    expect(t.encode('', { addSpecialTokens: false })).toEqual([]);
    expect(t.decode([])).toBe('');
  });
});

describe('SentencePiece round trips', () => {
  const t = spm(roundTripSpmVocab());

  it.each(ROUND_TRIP_TEXTS)('decode(encode(%j)) is the text', (text) => {
    expect(t.decode(t.encode(text))).toBe(text);
  });

  it('uses the learned pieces', () => {
    const ids = t.encode('the');
    expect(ids.map((id) => t.idToToken(id))).toEqual(['<s>', '\u2581the']);
    expect(t.encode('日本').map((id) => t.idToToken(id))).toEqual(['<s>', '\u2581', '日本']);
  });

  it('reports its metadata', () => {
    expect(t.vocabSize).toBe(roundTripSpmVocab().tokens.length);
    expect(t.bosTokenId).toBe(1);
    expect(t.eosTokenIds).toEqual([2]);
    expect(t.chatTemplate).toBeNull();
  });
});

describe('SentencePiece errors', () => {
  it('rejects ids outside the vocabulary', () => {
    const t = spm(handVocab({ ab: -1, bc: -2, spaceA: -3 }));
    expect(() => t.decode([12])).toThrow(TokenizerError);
    expect(() => t.decode([-1])).toThrow(/outside the vocabulary/);
  });

  it('rejects inconsistent vocabularies', () => {
    const v = handVocab({ ab: -1, bc: -2, spaceA: -3 });
    expect(() => new SpmTokenizer({ ...v, scores: [0] })).toThrow(TokenizerError);
    expect(() => new SpmTokenizer({ ...v, bosTokenId: 99 })).toThrow(/BOS token id 99/);
  });

  it('has no chat template', () => {
    const t = spm(handVocab({ ab: -1, bc: -2, spaceA: -3 }));
    expect(() => t.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(/no chat template/);
  });
});
