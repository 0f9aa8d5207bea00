/**
 * Tokenizers from GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`), following llama.cpp's
 * llama_vocab::impl::load: 'llama' is SentencePiece-BPE (spm.ts); 'gpt2' is byte-level BPE, which we turn into a
 * tokenizer.json object for hf.ts with the pre-tokenizer llama.cpp picks from `tokenizer.ggml.pre`.
 */

import type { Tokenizer } from '@tessera/serve';
import { ModelBudgetError, ModelFormatError, ModelLoadError, TokenizerError } from '../errors';
import type { ModelCodeBudget } from './budget';
import { PRE_TOKENIZERS } from './byte-level';
import { bosTemplate, hfTokenizer } from './hf';
import { SpmTokenizer, TokenType } from './spm';

/** The raw metadata map of a GGUF reader: key → number | bigint | string | boolean | array of those. */
export type GgufMetadata = ReadonlyMap<string, unknown>;

/** Token texts llama.cpp treats as end-of-generation whatever the metadata says (its special_eog_ids heuristic). */
const EOG_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|eom_id|>', '<EOT>'];

const KEY = 'tokenizer.ggml.';

function toNumber(value: unknown, key: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  throw new TokenizerError(`GGUF metadata ${key} should be a number, got ${typeof value}.`);
}

function optNumber(meta: GgufMetadata, key: string): number | null {
  const v = meta.get(key);
  return v === undefined ? null : toNumber(v, key);
}

function optBool(meta: GgufMetadata, key: string): boolean | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return v !== 0 && v !== 0n;
  throw new TokenizerError(`GGUF metadata ${key} should be a boolean, got ${typeof v}.`);
}

function optString(meta: GgufMetadata, key: string): string | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  if (typeof v !== 'string') throw new TokenizerError(`GGUF metadata ${key} should be a string, got ${typeof v}.`);
  return v;
}

/** An array value: a JS array or a typed array (readers may return either for numeric arrays). */
function optArray(meta: GgufMetadata, key: string): ArrayLike<unknown> | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView)))
    return v as unknown as ArrayLike<unknown>;
  throw new TokenizerError(`GGUF metadata ${key} should be an array.`);
}

function numbers(arr: ArrayLike<unknown>, key: string): number[] {
  return Array.from(arr, (x) => toNumber(x, key));
}

export interface GgufTokenizerOptions {
  /** The GGUF file, for messages. */
  file?: string;
  /** Time, steps and size allowed at request time (default DEFAULT_MODEL_CODE_BUDGET). */
  budget?: Partial<ModelCodeBudget>;
}

/** Builds the app's Tokenizer from a GGUF file's metadata. */
export function ggufTokenizer(meta: GgufMetadata, options: GgufTokenizerOptions = {}): Tokenizer {
  const file = options.file;
  const formatError = (field: string, message: string, limit?: string) =>
    new ModelFormatError(message, { file, field, limit });
  const model = optString(meta, `${KEY}model`);
  if (model === null) throw new TokenizerError('GGUF file has no tokenizer (tokenizer.ggml.model is missing).');
  const rawTokens = optArray(meta, `${KEY}tokens`);
  if (rawTokens === null || rawTokens.length === 0) {
    throw new TokenizerError('GGUF file has no vocabulary (tokenizer.ggml.tokens is missing or empty).');
  }
  // llama.cpp renames empty tokens so that every id keeps a distinct text.
  const tokens = Array.from(rawTokens, (t, i) => {
    if (typeof t !== 'string') throw formatError(`${KEY}tokens[${i}]`, `${KEY}tokens[${i}] is not a string.`);
    return t === '' ? `[EMPTY_${i}]` : t;
  });
  const n = tokens.length;
  const typesRaw = optArray(meta, `${KEY}token_type`);
  const types = typesRaw ? numbers(typesRaw, `${KEY}token_type`) : null;
  if (types && types.length !== n) {
    throw formatError(`${KEY}token_type`, `${types.length} token types for ${n} tokens.`, `one per token (${n})`);
  }

  const validId = (key: string, fallback: number | null): number | null => {
    const id = optNumber(meta, key);
    // Like llama.cpp: an out-of-range id falls back to the default rather than failing the load.
    return id !== null && Number.isInteger(id) && id >= 0 && id < n ? id : fallback;
  };
  const chatTemplate = optString(meta, 'tokenizer.chat_template');

  if (model === 'llama') {
    const bos = validId(`${KEY}bos_token_id`, 1 < n ? 1 : null);
    const eos = validId(`${KEY}eos_token_id`, 2 < n ? 2 : null);
    const scoresRaw = optArray(meta, `${KEY}scores`);
    if (scoresRaw && scoresRaw.length !== n) {
      throw formatError(`${KEY}scores`, `${scoresRaw.length} scores for ${n} tokens.`, `one per token (${n})`);
    }
    return new SpmTokenizer({
      tokens,
      scores: scoresRaw ? numbers(scoresRaw, `${KEY}scores`) : new Array<number>(n).fill(0),
      ...(types ? { tokenTypes: types } : {}),
      bosTokenId: bos,
      eosTokenIds: eogIds(meta, tokens, eos),
      unkTokenId: validId(`${KEY}unknown_token_id`, 0),
      addBos: optBool(meta, `${KEY}add_bos_token`) ?? true,
      addEos: optBool(meta, `${KEY}add_eos_token`) ?? false,
      addSpacePrefix: optBool(meta, `${KEY}add_space_prefix`) ?? true,
      chatTemplate,
      ...(options.budget ? { budget: options.budget } : {}),
    });
  }
  if (model === 'gpt2') return gpt2Tokenizer(meta, tokens, types, validId, chatTemplate, options, formatError);
  throw new TokenizerError(
    `GGUF tokenizer model '${model}' is not supported; supported: 'llama' (SentencePiece) and 'gpt2' (byte-level BPE).`,
  );
}

/** EOS, EOT, EOM and llama.cpp's end-of-generation texts, EOS first. */
function eogIds(meta: GgufMetadata, tokens: readonly string[], eos: number | null): number[] {
  const ids: number[] = [];
  const n = tokens.length;
  for (const id of [eos, optNumber(meta, `${KEY}eot_token_id`), optNumber(meta, `${KEY}eom_token_id`)]) {
    if (id !== null && Number.isInteger(id) && id >= 0 && id < n) ids.push(id);
  }
  tokens.forEach((t, id) => {
    if (EOG_TEXTS.includes(t)) ids.push(id);
  });
  return [...new Set(ids)];
}

function gpt2Tokenizer(
  meta: GgufMetadata,
  tokens: string[],
  types: number[] | null,
  validId: (key: string, fallback: number | null) => number | null,
  chatTemplate: string | null,
  options: GgufTokenizerOptions,
  formatError: (field: string, message: string, limit?: string) => ModelFormatError,
): Tokenizer {
  const preName = optString(meta, `${KEY}pre`) ?? 'default'; // llama.cpp: missing → 'default' (with a warning)
  const family = PRE_TOKENIZERS.get(preName);
  if (!family) {
    throw new TokenizerError(
      `GGUF pre-tokenizer '${preName}' (tokenizer.ggml.pre) is not supported; supported: ${[...PRE_TOKENIZERS.keys()].join(', ')}.`,
    );
  }
  const mergesRaw = optArray(meta, `${KEY}merges`);
  if (mergesRaw === null) throw new TokenizerError('GGUF byte-level BPE vocabulary has no tokenizer.ggml.merges.');
  const merges = Array.from(mergesRaw, (m, i) => {
    if (typeof m !== 'string') throw formatError(`${KEY}merges[${i}]`, `${KEY}merges[${i}] is not a string.`);
    // llama.cpp splits at the first space after position 0, so a merge of a literal ' ' token still parses.
    const at = m.indexOf(' ', 1);
    return at < 0 ? [m, ''] : [m.slice(0, at), m.slice(at + 1)];
  });

  // BPE vocabulary ids for ordinary tokens; control and user-defined tokens become added tokens (split off before
  // BPE, decoded verbatim), control ones marked special so that skipSpecialTokens drops them.
  const vocab: Record<string, number> = Object.create(null); // "__proto__" is a token like any other
  const added: object[] = [];
  tokens.forEach((content, id) => {
    const type = types?.[id] ?? TokenType.NORMAL;
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      const special = type === TokenType.CONTROL;
      added.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
    } else if (!Object.hasOwn(vocab, content)) {
      vocab[content] = id;
    }
  });

  const bos = validId(`${KEY}bos_token_id`, null);
  const eos = validId(`${KEY}eos_token_id`, null);
  const addBos = (optBool(meta, `${KEY}add_bos_token`) ?? family.addBos) && bos !== null;
  const bosText = bos === null ? null : tokens[bos]!;
  const byteLevel = {
    type: 'ByteLevel',
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: family.regexes === null,
  };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer:
      family.regexes === null
        ? byteLevel
        : {
            type: 'Sequence',
            pretokenizers: [
              ...family.regexes.map((r) => ({
                type: 'Split',
                pattern: { Regex: r },
                behavior: 'Isolated',
                invert: false,
              })),
              byteLevel,
            ],
          },
    post_processor: addBos && bosText !== null ? bosTemplate(bosText, bos!) : null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: family.ignoreMerges,
      vocab,
      merges,
    },
  };
  const config = { bos_token: bosText, eos_token: eos === null ? null : tokens[eos]!, add_bos_token: addBos };
  try {
    return hfTokenizer(json, config, {
      bosTokenId: bos,
      eosTokenIds: eogIds(meta, tokens, eos),
      chatTemplate,
      vocabSize: tokens.length,
      maxVocabSize: tokens.length,
      file: options.file ?? 'GGUF tokenizer metadata',
      ...(options.budget ? { budget: options.budget } : {}),
    });
  } catch (err) {
    if (err instanceof ModelLoadError || err instanceof ModelBudgetError) throw err;
    throw new TokenizerError(`GGUF byte-level BPE vocabulary cannot be built: ${(err as Error).message}`);
  }
}
