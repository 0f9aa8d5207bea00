import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/errors';
import { ggufTokenizerMetadata } from '../../src/formats/gguf-tokenizer-export';

const EMBEDDED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/embedded');

/** A miniature byte-level BPE tokenizer.json: 6 vocab entries, id 6 unused, three added tokens. */
function tokenizerJson(overrides: Record<string, unknown> = {}) {
  return {
    version: '1.0',
    added_tokens: [
      { id: 7, content: '<s>', special: true },
      { id: 8, content: '</s>', special: true },
      { id: 9, content: '<tool>', special: false },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    },
    decoder: { type: 'ByteLevel' },
    model: {
      type: 'BPE',
      vocab: { a: 0, b: 1, c: 2, Ġ: 3, ab: 4, Ġab: 5 },
      merges: ['a b', ['Ġ', 'ab']],
    },
    ...overrides,
  };
}

const asObject = (m: ReturnType<typeof ggufTokenizerMetadata>['metadata']) =>
  Object.fromEntries(m.map(([k, v]) => [k, v.value]));

describe('tokenizer.json → GGUF metadata', () => {
  it('writes tokens, types, merges, special ids, add_bos and the chat template', () => {
    const cfg = { bos_token: '<s>', eos_token: { content: '</s>' }, chat_template: '{{ messages }}' };
    const out = ggufTokenizerMetadata(tokenizerJson(), cfg, { vocabSize: 12 });
    expect(out.warnings).toEqual([]);
    expect(out.bosTokenId).toBe(7);
    expect(out.eosTokenId).toBe(8);
    expect(asObject(out.metadata)).toEqual({
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.pre': 'gpt-2',
      'tokenizer.ggml.tokens': [
        'a',
        'b',
        'c',
        'Ġ',
        'ab',
        'Ġab',
        '[PAD6]',
        '<s>',
        '</s>',
        '<tool>',
        '[PAD10]',
        '[PAD11]',
      ],
      // 1 normal, 5 unused (padding ids), 3 control (special added), 4 user-defined (other added)
      'tokenizer.ggml.token_type': [1, 1, 1, 1, 1, 1, 5, 3, 3, 4, 5, 5],
      'tokenizer.ggml.merges': ['a b', 'Ġ ab'],
      'tokenizer.ggml.bos_token_id': 7,
      'tokenizer.ggml.eos_token_id': 8,
      'tokenizer.ggml.add_bos_token': true, // from the post-processor's template
      'tokenizer.ggml.add_eos_token': false,
      'tokenizer.chat_template': '{{ messages }}',
    });
    expect(out.metadata.find(([k]) => k === 'tokenizer.ggml.token_type')![1]).toMatchObject({ itemType: 'i32' });
  });

  it('prefers tokenizer_config add_bos_token, and falls back to given ids', () => {
    const out = ggufTokenizerMetadata(tokenizerJson(), { add_bos_token: false }, { bosTokenId: 7, eosTokenId: 8 });
    const m = asObject(out.metadata);
    expect(m['tokenizer.ggml.add_bos_token']).toBe(false);
    expect(m['tokenizer.ggml.bos_token_id']).toBe(7);
    expect(m['tokenizer.chat_template']).toBeUndefined();
  });

  it('warns when llama.cpp would pre-tokenize differently, unless pre is given', () => {
    const json = tokenizerJson({ normalizer: { type: 'NFC' }, pre_tokenizer: { type: 'Metaspace' } });
    expect(ggufTokenizerMetadata(json, {}).warnings).toHaveLength(2);
    expect(ggufTokenizerMetadata(json, {}, { pre: 'llama3' }).warnings).toEqual([]);
  });

  it('refuses ids beyond the vocab size, unknown special tokens and malformed merges', () => {
    expect(() => ggufTokenizerMetadata(tokenizerJson(), {}, { vocabSize: 9 })).toThrow(
      /beyond the model's vocab size 9/,
    );
    expect(() => ggufTokenizerMetadata(tokenizerJson(), { eos_token: '<eos>' })).toThrow(ModelLoadError);
    const bad = tokenizerJson();
    bad.model.merges = [['a']] as never;
    expect(() => ggufTokenizerMetadata(bad, {})).toThrow(/neither/);
  });

  it.skipIf(!fs.existsSync(path.join(EMBEDDED, 'tokenizer.json')))(
    'converts the embedded tokenizer without warnings',
    () => {
      const dir = EMBEDDED;
      const read = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      const out = ggufTokenizerMetadata(read('tokenizer.json'), read('tokenizer_config.json'), { vocabSize: 512 });
      expect(out.warnings).toEqual([]);
      const m = asObject(out.metadata);
      expect((m['tokenizer.ggml.tokens'] as string[]).length).toBe(512);
      expect(out.bosTokenId).not.toBeNull();
      expect((m['tokenizer.ggml.token_type'] as number[])[out.bosTokenId!]).toBe(3);
    },
  );
});
