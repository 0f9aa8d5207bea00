/**
 * llama2.c's tokenizer.bin: int32 max_token_length, then per token f32 score, int32 byte length, UTF-8 bytes (all
 * little-endian). The file does not store the vocabulary size (run.c takes it from the checkpoint), so it is read to
 * the end unless the caller knows the size.
 *
 * llama2.c's export (tokenizer.py) wrote SentencePiece pieces with '▁' replaced by ' ' and BOS/EOS as "\n<s>\n" /
 * "\n</s>\n"; we undo both, so the vocabulary runs through spm.ts like any SentencePiece one. Conventions of run.c:
 * unk 0, BOS 1, EOS 2, ids 3..258 the byte tokens <0x00>..<0xFF>, a dummy-prefix space before the text, and no
 * recognition of special-token texts inside the input.
 */
import { readFileSync } from 'node:fs';
import type { Tokenizer } from '@tessera/serve';
import { ModelFormatError, TokenizerError } from '../errors';
import type { ModelCodeBudget } from './budget';
import { SpmTokenizer, TokenType } from './spm';

const BOS = 1;
const EOS = 2;
const FIRST_BYTE_TOKEN = 3;

export interface Llama2cTokenizerOptions {
  /** The checkpoint's vocab_size: read exactly this many tokens (extra bytes are an error too). */
  vocabSize?: number;
  /** The file name, for error messages. */
  file?: string;
  /** Time allowed to encode at request time (default DEFAULT_MODEL_CODE_BUDGET). */
  budget?: Partial<ModelCodeBudget>;
}

/** Bytes of a token entry without its text: f32 score + int32 length. */
const ENTRY_BYTES = 8;

export function llama2cTokenizer(data: Uint8Array, options: Llama2cTokenizerOptions = {}): Tokenizer {
  const file = options.file ?? 'tokenizer.bin';
  const fail = (message: string, field = 'tokens', limit?: string) =>
    new ModelFormatError(message, {
      file,
      field,
      limit,
      hint: 'Expected llama2.c tokenizer.bin: int32 max_token_length, then per token f32 score, int32 length, bytes.',
    });
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.byteLength < 4) throw fail(`${data.byteLength} bytes is too short for the header.`, 'max_token_length');
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0) {
    throw fail(`max_token_length is ${maxTokenLength}; it must be positive.`, 'max_token_length');
  }
  const want = options.vocabSize;
  // Every token takes at least ENTRY_BYTES: a vocabulary size the file cannot hold fails before the loop.
  if (want !== undefined && !(Number.isSafeInteger(want) && want >= 0 && want * ENTRY_BYTES <= data.byteLength - 4)) {
    throw fail(
      `truncated: vocab_size ${want} needs at least ${want * ENTRY_BYTES} bytes of tokens, the file has ${data.byteLength - 4}.`,
      'vocab_size',
      `${Math.floor((data.byteLength - 4) / ENTRY_BYTES)} tokens in ${data.byteLength} bytes`,
    );
  }

  const tokens: string[] = [];
  const scores: number[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  let off = 4;
  while (want === undefined ? off < data.byteLength : tokens.length < want) {
    const i = tokens.length;
    if (off + 8 > data.byteLength) {
      throw fail(
        `truncated at token ${i}: its score and length need 8 bytes at offset ${off}, the file has ${data.byteLength}.`,
      );
    }
    const score = view.getFloat32(off, true);
    const len = view.getInt32(off + 4, true);
    off += 8;
    if (len < 0 || len > maxTokenLength) {
      throw fail(`token ${i} has length ${len}, outside 0..max_token_length (${maxTokenLength}).`, `tokens[${i}]`);
    }
    if (off + len > data.byteLength) {
      throw fail(`truncated at token ${i}: ${len} bytes at offset ${off} run past the end (${data.byteLength} bytes).`);
    }
    let text = decoder.decode(data.subarray(off, off + len));
    off += len;
    if (i === BOS && text === '\n<s>\n') text = '<s>';
    else if (i === EOS && text === '\n</s>\n') text = '</s>';
    else text = text.replaceAll(' ', '\u2581');
    tokens.push(text);
    scores.push(score);
  }
  if (off !== data.byteLength) {
    throw fail(`${data.byteLength - off} bytes left after ${tokens.length} tokens (expected vocab_size ${want}).`);
  }
  if (tokens.length <= FIRST_BYTE_TOKEN + 255) {
    throw fail(`only ${tokens.length} tokens; llama2.c vocabularies hold at least the 3 specials and 256 byte tokens.`);
  }

  const types = tokens.map((t, id) => {
    if (id === 0) return TokenType.UNKNOWN;
    if (id === BOS || id === EOS) return TokenType.CONTROL;
    if (id >= FIRST_BYTE_TOKEN && id < FIRST_BYTE_TOKEN + 256 && /^<0x[0-9A-Fa-f]{2}>$/.test(t)) return TokenType.BYTE;
    return TokenType.NORMAL;
  });
  return new SpmTokenizer({
    tokens,
    scores,
    tokenTypes: types,
    bosTokenId: BOS,
    eosTokenIds: [EOS],
    unkTokenId: 0,
    addBos: true,
    addSpacePrefix: true,
    parseSpecial: false,
    chatTemplate: null,
    ...(options.budget ? { budget: options.budget } : {}),
  });
}

/** Reads a tokenizer.bin from disk. */
export function llama2cTokenizerFromFile(
  path: string,
  vocabSize?: number,
  options: Pick<Llama2cTokenizerOptions, 'budget'> = {},
): Tokenizer {
  let data: Uint8Array;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new TokenizerError(`cannot read ${path}: ${(err as Error).message}`, { file: path });
  }
  return llama2cTokenizer(data, { ...options, file: path, ...(vocabSize === undefined ? {} : { vocabSize }) });
}
