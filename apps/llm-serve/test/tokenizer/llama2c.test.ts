import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors';
import { llama2cTokenizer, llama2cTokenizerFromFile } from '../../src/tokenizer/llama2c';
import { ROUND_TRIP_TEXTS, roundTripSpmVocab, spm } from './helpers';

/** Writes tokenizer.bin the way llama2.c's tokenizer.py exports it: '▁' → ' ', BOS/EOS as "\n<s>\n"/"\n</s>\n". */
function writeTokenizerBin(tokens: readonly string[], scores: ArrayLike<number>): Uint8Array {
  const utf8 = new TextEncoder();
  const encoded = tokens.map((t, i) =>
    utf8.encode(i === 1 ? '\n<s>\n' : i === 2 ? '\n</s>\n' : t.replaceAll('\u2581', ' ')),
  );
  const maxLen = Math.max(...encoded.map((b) => b.length));
  const out = new Uint8Array(4 + encoded.reduce((n, b) => n + 8 + b.length, 0));
  const view = new DataView(out.buffer);
  view.setInt32(0, maxLen, true);
  let off = 4;
  encoded.forEach((b, i) => {
    view.setFloat32(off, scores[i]!, true);
    view.setInt32(off + 4, b.length, true);
    out.set(b, off + 8);
    off += 8 + b.length;
  });
  return out;
}

const vocab = roundTripSpmVocab();
// Scores go through f32 in the file; use f32 values so the reference tokenizer sees the same numbers.
const scores = Float32Array.from(vocab.scores as number[]);
const bin = writeTokenizerBin(vocab.tokens, scores);
const dir = mkdtempSync(join(tmpdir(), 'llama2c-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('llama2.c tokenizer.bin', () => {
  it('reads back a written file and tokenizes like the SentencePiece tokenizer', () => {
    const path = join(dir, 'tokenizer.bin');
    writeFileSync(path, bin);
    const t = llama2cTokenizerFromFile(path, vocab.tokens.length);
    const reference = spm({ ...vocab, scores, parseSpecial: false });
    expect(t.vocabSize).toBe(vocab.tokens.length);
    expect(t.bosTokenId).toBe(1);
    expect(t.eosTokenIds).toEqual([2]);
    expect(t.idToToken(1)).toBe('<s>');
    expect(t.idToToken(3 + 0x41)).toBe('<0x41>');
    expect(t.idToToken(vocab.tokens.indexOf('\u2581the'))).toBe('\u2581the');
    for (const text of ROUND_TRIP_TEXTS) {
      const ids = t.encode(text);
      expect(ids).toEqual(reference.encode(text));
      expect(t.decode(ids)).toBe(text);
    }
    expect(t.encode('the')).toEqual([1, vocab.tokens.indexOf('\u2581the')]);
  });

  it('reads to the end of the file when the vocabulary size is not given', () => {
    expect(llama2cTokenizer(bin).vocabSize).toBe(vocab.tokens.length);
  });

  it('does not treat "<s>" typed in the text as BOS (llama2.c does not parse specials)', () => {
    const t = llama2cTokenizer(bin);
    expect(t.encode('<s>').filter((id) => id === 1)).toEqual([1]);
    expect(t.decode([1, 2], { skipSpecialTokens: false })).toBe('<s></s>');
  });

  it('rejects a truncated file, naming it', () => {
    const path = join(dir, 'truncated.bin');
    writeFileSync(path, bin.subarray(0, bin.length - 3));
    expect(() => llama2cTokenizerFromFile(path)).toThrow(ModelFormatError);
    expect(() => llama2cTokenizerFromFile(path)).toThrow(/truncated\.bin: truncated at token \d+/);
    try {
      llama2cTokenizerFromFile(path);
    } catch (err) {
      expect((err as ModelFormatError).details.file).toBe(path);
      expect((err as ModelFormatError).format.field).toBe('tokens');
    }
  });

  it('rejects a size mismatch with the checkpoint, a bad length and a short header', () => {
    expect(() => llama2cTokenizer(bin, { vocabSize: vocab.tokens.length - 1 })).toThrow(/bytes left after/);
    expect(() => llama2cTokenizer(bin, { vocabSize: vocab.tokens.length + 1 })).toThrow(/truncated at token/);
    const bad = bin.slice();
    new DataView(bad.buffer).setInt32(8, 1 << 20, true); // token 0's length
    expect(() => llama2cTokenizer(bad, { file: 'bad.bin' })).toThrow(/bad\.bin: token 0 has length/);
    expect(() => llama2cTokenizer(new Uint8Array(2))).toThrow(/too short/);
  });
});
