import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatJson, makeTokenizerFiles } from '../../scripts/make-tokenizer';
import {
  EMBEDDED_BOS_ID,
  EMBEDDED_EOS_IDS,
  embeddedTokenizer,
  embeddedTokenizerFiles,
} from '../../src/embedded/tokenizer';
import { trainByteLevelBpe } from '../../src/tokenizer/bpe-train';
import { ROUND_TRIP_TEXTS } from './helpers';

const t = embeddedTokenizer();

describe('embedded tokenizer', () => {
  it('has 512 tokens: 256 bytes, 251 merges, 5 specials', () => {
    const { tokenizerJson } = embeddedTokenizerFiles();
    const model = tokenizerJson['model'] as { vocab: Record<string, number>; merges: string[] };
    expect(Object.keys(model.vocab)).toHaveLength(507);
    expect(model.merges).toHaveLength(251);
    expect(t.vocabSize).toBe(512);
    expect([507, 508, 509, 510, 511].map((id) => t.idToToken(id))).toEqual([
      '<|begin_of_text|>',
      '<|end_of_text|>',
      '<|start_header_id|>',
      '<|end_header_id|>',
      '<|eot_id|>',
    ]);
    expect(t.bosTokenId).toBe(EMBEDDED_BOS_ID);
    expect(t.eosTokenIds).toEqual(EMBEDDED_EOS_IDS);
    // Byte ids are the byte values: 'A' = 65, space = 'Ġ' = 32.
    expect(t.idToToken(65)).toBe('A');
    expect(t.idToToken(32)).toBe('Ġ');
  });

  it.each(ROUND_TRIP_TEXTS)('decode(encode(%j)) is the text', (text) => {
    const ids = t.encode(text);
    expect(ids[0]).toBe(EMBEDDED_BOS_ID);
    expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 512)).toBe(true);
    expect(t.decode(ids)).toBe(text);
    expect(t.decode(t.encode(text, { addSpecialTokens: false }))).toBe(text);
  });

  it('compresses English below one token per byte', () => {
    const text = 'The server reads the request, turns the text into tokens, and runs the model.';
    expect(t.encode(text, { addSpecialTokens: false }).length).toBeLessThan(text.length * 0.6);
  });

  it('splits special tokens out of text and keeps them on decode only when asked', () => {
    const ids = t.encode('hi<|eot_id|>', { addSpecialTokens: false });
    expect(ids.at(-1)).toBe(511);
    expect(t.decode(ids)).toBe('hi');
    expect(t.decode(ids, { skipSpecialTokens: false })).toBe('hi<|eot_id|>');
    expect(t.decode([507, ...ids], { skipSpecialTokens: false })).toBe('<|begin_of_text|>hi<|eot_id|>');
  });

  it('renders a system + user conversation with the generation prompt', () => {
    const prompt = t.applyChatTemplate(
      [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: '  What is 2+2?\n' },
      ],
      { addGenerationPrompt: true },
    );
    expect(prompt).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    // The template already holds BOS, so chat prompts are encoded without adding another (as vLLM does).
    const ids = t.encode(prompt, { addSpecialTokens: false });
    expect(ids.filter((id) => id === EMBEDDED_BOS_ID)).toHaveLength(1);
    expect(ids.slice(0, 2)).toEqual([507, 509]);
  });

  it('without the generation prompt ends after the last message', () => {
    const prompt = t.applyChatTemplate([{ role: 'user', content: 'Hi' }]);
    expect(prompt).toBe('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>');
  });
});

describe('make-tokenizer', () => {
  it('learns the most frequent pair first, ties to the smaller ids', () => {
    // Words "ab", " ab", " ab": (a,b) ×3, (Ġ,a) ×2 → "a b"; then (Ġ,ab) ×2 → "Ġ ab".
    expect(trainByteLevelBpe('ab ab ab', 2).merges).toEqual([
      ['a', 'b'],
      ['Ġ', 'ab'],
    ]);
    // Words "xy", ".", "yx": (x,y) and (y,x) tie at 1; x (120) < y (121) → "x y" first.
    expect(trainByteLevelBpe('xy.yx', 1).merges).toEqual([['x', 'y']]);
  });

  it('is deterministic: two runs give byte-identical files', () => {
    const corpus = 'One small corpus, twice. The same merges come out of the same text, in the same order. '.repeat(20);
    const a = makeTokenizerFiles(corpus, 40);
    const b = makeTokenizerFiles(corpus, 40);
    expect((a.tokenizerJson as { model: { merges: string[] } }).model.merges).toHaveLength(40);
    expect(formatJson(a.tokenizerJson)).toBe(formatJson(b.tokenizerJson));
    expect(formatJson(a.tokenizerConfig)).toBe(formatJson(b.tokenizerConfig));
  });

  it('the committed files are what the script makes from the committed corpus', () => {
    const dir = new URL('../../src/embedded/', import.meta.url);
    const files = makeTokenizerFiles(readFileSync(new URL('corpus.txt', dir), 'utf8'));
    expect(readFileSync(new URL('tokenizer.json', dir), 'utf8')).toBe(formatJson(files.tokenizerJson));
    expect(readFileSync(new URL('tokenizer_config.json', dir), 'utf8')).toBe(formatJson(files.tokenizerConfig));
    expect(readFileSync(new URL('tokenizer.json', dir)).byteLength).toBeLessThan(100_000);
  });
});
