import { describe, expect, it } from 'vitest';
import { embeddedTokenizer, embeddedTokenizerFiles } from '../../src/embedded/tokenizer';
import { TokenizerError } from '../../src/errors';
import { ggufTokenizer } from '../../src/tokenizer/gguf';
import { TokenType } from '../../src/tokenizer/spm';
import { handVocab, ROUND_TRIP_TEXTS } from './helpers';

/** The embedded tokenizer's vocabulary as a GGUF file holds it: id-ordered strings, i32 types, "a b" merges, u32 ids. */
function embeddedAsGguf(pre: string | null): Map<string, unknown> {
  const { tokenizerJson, tokenizerConfig } = embeddedTokenizerFiles();
  const model = tokenizerJson['model'] as { vocab: Record<string, number>; merges: string[] };
  const added = tokenizerJson['added_tokens'] as { id: number; content: string }[];
  const tokens: string[] = [];
  for (const [text, id] of Object.entries(model.vocab)) tokens[id] = text;
  for (const a of added) tokens[a.id] = a.content;
  const types = Int32Array.from(tokens, (_, id) => (id >= 507 ? TokenType.CONTROL : TokenType.NORMAL));
  const meta = new Map<string, unknown>([
    ['general.architecture', 'llama'],
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.token_type', types],
    ['tokenizer.ggml.merges', model.merges],
    // 64-bit readers hand back bigints, 32-bit ones numbers: both must work.
    ['tokenizer.ggml.bos_token_id', 507n],
    ['tokenizer.ggml.eos_token_id', 508],
    ['tokenizer.ggml.eot_token_id', 511],
    ['tokenizer.ggml.add_bos_token', true],
    ['tokenizer.chat_template', tokenizerConfig['chat_template']],
  ]);
  if (pre !== null) meta.set('tokenizer.ggml.pre', pre);
  return meta;
}

const VARIED =
  'The server\'s queue holds 1024 requests; at 09:30 it said: "don\'t panic" — café, naïve, 日本語, 🙂🚀!\n\n' +
  '  indented\tcode(x) => x ** 2;   // comment\r\nEnd.';

describe("GGUF 'gpt2' (byte-level BPE)", () => {
  const hf = embeddedTokenizer();
  const gguf = ggufTokenizer(embeddedAsGguf('gpt-2'));

  it('gives the same ids as the HF path', () => {
    expect(gguf.encode(VARIED)).toEqual(hf.encode(VARIED));
    expect(gguf.encode(`${VARIED}<|eot_id|>`)).toEqual(hf.encode(`${VARIED}<|eot_id|>`));
    expect(gguf.encode(VARIED, { addSpecialTokens: false })).toEqual(hf.encode(VARIED, { addSpecialTokens: false }));
    for (const text of ROUND_TRIP_TEXTS) expect(gguf.encode(text)).toEqual(hf.encode(text));
  });

  it('decodes, knows its specials and renders the chat template like the HF path', () => {
    const ids = hf.encode(VARIED);
    expect(gguf.decode(ids)).toBe(hf.decode(ids));
    expect(gguf.decode(ids, { skipSpecialTokens: false })).toBe(hf.decode(ids, { skipSpecialTokens: false }));
    expect(gguf.vocabSize).toBe(512);
    expect(gguf.bosTokenId).toBe(507);
    expect(gguf.eosTokenIds).toEqual([508, 511]);
    expect(gguf.idToToken(300)).toBe(hf.idToToken(300));
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ];
    expect(gguf.applyChatTemplate(messages, { addGenerationPrompt: true })).toBe(
      hf.applyChatTemplate(messages, { addGenerationPrompt: true }),
    );
  });

  it('honours add_bos_token = false', () => {
    const meta = embeddedAsGguf('gpt-2');
    meta.set('tokenizer.ggml.add_bos_token', false);
    expect(ggufTokenizer(meta).encode('hi')).toEqual(hf.encode('hi', { addSpecialTokens: false }));
  });

  it.each(['llama-bpe', 'default', 'qwen2', 'starcoder'])("round-trips with pre-tokenizer '%s'", (pre) => {
    const t = ggufTokenizer(embeddedAsGguf(pre));
    for (const text of [...ROUND_TRIP_TEXTS, VARIED]) expect(t.decode(t.encode(text))).toBe(text);
  });

  it("splits digits with llama.cpp's regex for each pre-tokenizer family", () => {
    // Bytes 0..255 plus merges 1+2, 12+3, 123+4: BPE could make "1234", unless the pre-tokenizer splits it first.
    const bytes = Array.from({ length: 256 }, (_, b) => embeddedTokenizer().idToToken(b)!);
    const digits = (pre: string) => {
      const meta = new Map<string, unknown>([
        ['tokenizer.ggml.model', 'gpt2'],
        ['tokenizer.ggml.pre', pre],
        ['tokenizer.ggml.tokens', [...bytes, '12', '123', '1234']],
        ['tokenizer.ggml.merges', ['1 2', '12 3', '123 4']],
      ]);
      const t = ggufTokenizer(meta);
      return t.encode('1234', { addSpecialTokens: false }).map((id) => t.idToToken(id));
    };
    expect(digits('gpt-2')).toEqual(['1234']); // ` ?\p{N}+`
    expect(digits('llama-bpe')).toEqual(['123', '4']); // `\p{N}{1,3}`
    expect(digits('default')).toEqual(['123', '4']); // `\p{N}+`, then `[0-9][0-9][0-9]`
    expect(digits('qwen2')).toEqual(['1', '2', '3', '4']); // `\p{N}`
  });

  it('a missing pre-tokenizer means llama.cpp\'s "default"', () => {
    const t = ggufTokenizer(embeddedAsGguf(null));
    expect(t.decode(t.encode(VARIED))).toBe(VARIED);
  });

  it('rejects an unknown pre-tokenizer, naming it', () => {
    expect(() => ggufTokenizer(embeddedAsGguf('tekken-9000'))).toThrow(TokenizerError);
    expect(() => ggufTokenizer(embeddedAsGguf('tekken-9000'))).toThrow(/'tekken-9000'.*not supported/);
  });
});

describe("GGUF 'llama' (SentencePiece)", () => {
  function handAsGguf(): Map<string, unknown> {
    const v = handVocab({ ab: -1, bc: -2, spaceA: -3 });
    const types = v.tokens.map((t, id) =>
      id === 0 ? TokenType.UNKNOWN : id < 3 ? TokenType.CONTROL : t.startsWith('<0x') ? TokenType.BYTE : 1,
    );
    return new Map<string, unknown>([
      ['tokenizer.ggml.model', 'llama'],
      ['tokenizer.ggml.tokens', v.tokens],
      ['tokenizer.ggml.scores', Float32Array.from(v.scores as number[])],
      ['tokenizer.ggml.token_type', types],
      ['tokenizer.ggml.bos_token_id', 1n],
      ['tokenizer.ggml.eos_token_id', 2n],
    ]);
  }

  it('encodes like the SentencePiece tokenizer, with llama.cpp defaults', () => {
    const t = ggufTokenizer(handAsGguf());
    expect(t.encode('abc')).toEqual([1, 3, 7, 6]);
    expect(t.encode('aé')).toEqual([1, 9, 10, 11]);
    expect(t.decode([1, 9, 10, 11])).toBe('aé');
    expect(t.bosTokenId).toBe(1);
    expect(t.eosTokenIds).toEqual([2]);
  });

  it('honours add_space_prefix and add_bos_token', () => {
    const meta = handAsGguf();
    meta.set('tokenizer.ggml.add_space_prefix', false);
    meta.set('tokenizer.ggml.add_bos_token', false);
    expect(ggufTokenizer(meta).encode('abc')).toEqual([7, 6]);
  });

  it('rejects a missing vocabulary and unknown models', () => {
    const meta = handAsGguf();
    meta.delete('tokenizer.ggml.tokens');
    expect(() => ggufTokenizer(meta)).toThrow(/tokenizer.ggml.tokens/);
    const bert = handAsGguf();
    bert.set('tokenizer.ggml.model', 'bert');
    expect(() => ggufTokenizer(bert)).toThrow(/'bert' is not supported/);
  });
});
