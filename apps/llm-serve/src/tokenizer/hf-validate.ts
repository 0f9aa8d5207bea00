/**
 * Checks a tokenizer.json's ids and merges before @huggingface/tokenizers sees them. The library trusts them: it
 * sizes its id → token array by the largest id (one id of 2^31 makes get_vocab loop 2^31 times), accepts negative ids
 * (every prompt containing that token then fails later, blaming the client), and looks merges up without checking
 * them. Here, as the Rust tokenizers library does:
 *
 * - every id (model.vocab values, added_tokens ids) is an integer in [0, limit), where limit is the model's vocab
 *   size when known (embedding rows), else tokenIdLimit(entries listed): room for unused ids, but proportional to the
 *   file, not to the largest number written in it;
 * - merges are all "a b" strings or all [a, b] pairs, and a, b and their concatenation are in model.vocab.
 *
 * Everything here is linear in the file's size. Violations are ModelFormatErrors naming the file, field and limit.
 */
import { ModelFormatError } from '../errors';

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The id bound of a vocabulary listing `entries` tokens when the model's vocab size is not known: twice the entries
 * plus 1024, so that unused ids (gaps) are allowed while the id → token table stays proportional to the file.
 */
export function tokenIdLimit(entries: number): number {
  return 2 * entries + 1024;
}

export interface TokenizerJsonCheck {
  /** The file, for messages. */
  file: string;
  /** The model's vocabulary size: ids must be below it. Default: tokenIdLimit(the entries the file lists). */
  maxVocabSize?: number;
}

/** What the checks found, for the caller's own use. */
export interface TokenizerJsonSummary {
  /** Entries in model.vocab plus added_tokens (an upper bound on the distinct ids). */
  entries: number;
  /** The id bound that was enforced. */
  limit: number;
}

function q(s: string): string {
  const j = JSON.stringify(s);
  return j.length > 60 ? `${j.slice(0, 57)}…"` : j;
}

/** Validates `json` (a parsed tokenizer.json); throws ModelFormatError on the first violation. */
export function checkTokenizerJson(json: Json, options: TokenizerJsonCheck): TokenizerJsonSummary {
  const { file } = options;
  const err = (field: string, message: string, limit?: string) => new ModelFormatError(message, { file, field, limit });
  const model = json['model'];
  const vocab = isObj(model) ? model['vocab'] : undefined;
  const added = json['added_tokens'];
  if (added !== undefined && !Array.isArray(added)) throw err('added_tokens', 'added_tokens is not a list.');
  let vocabEntries = 0;
  if (Array.isArray(vocab)) vocabEntries = vocab.length;
  else if (isObj(vocab)) vocabEntries = Object.keys(vocab).length;
  else if (vocab !== undefined) throw err('model.vocab', 'model.vocab is neither an object nor a list.');
  const entries = vocabEntries + (Array.isArray(added) ? added.length : 0);
  const limit = options.maxVocabSize ?? tokenIdLimit(entries);
  const limitText =
    options.maxVocabSize === undefined
      ? `ids below ${limit}: twice the ${entries} entries listed, plus 1024`
      : `vocab size ${limit}`;
  const checkId = (id: unknown, field: string) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= limit) {
      throw err(field, `token id ${String(id)} is not an integer in [0, ${limit}).`, limitText);
    }
  };
  if (isObj(vocab)) for (const [token, id] of Object.entries(vocab)) checkId(id, `model.vocab[${q(token)}]`);
  if (Array.isArray(added)) {
    added.forEach((a, i) => {
      if (!isObj(a) || typeof a['content'] !== 'string') {
        throw err(`added_tokens[${i}]`, 'an added token needs a string "content" and an integer "id".');
      }
      checkId(a['id'], `added_tokens[${i}] (${q(a['content'])})`);
    });
  }
  if (isObj(model) && isObj(vocab) && model['merges'] !== undefined) checkMerges(model, vocab, err);
  return { entries, limit };
}

function checkMerges(model: Json, vocab: Json, err: (field: string, message: string, limit?: string) => Error): void {
  const merges = model['merges'];
  if (!Array.isArray(merges)) throw err('model.merges', 'model.merges is not a list.');
  const pairs = merges.length > 0 && Array.isArray(merges[0]);
  const prefix = typeof model['continuing_subword_prefix'] === 'string' ? model['continuing_subword_prefix'] : '';
  const has = (t: string) => Object.hasOwn(vocab, t);
  for (let i = 0; i < merges.length; i++) {
    const m: unknown = merges[i];
    let a: string;
    let b: string;
    if (pairs) {
      if (!Array.isArray(m) || m.length !== 2 || typeof m[0] !== 'string' || typeof m[1] !== 'string') {
        throw err(`model.merges[${i}]`, `merge ${JSON.stringify(m)?.slice(0, 60)} is not a pair of strings.`);
      }
      [a, b] = m as [string, string];
    } else {
      const parts = typeof m === 'string' ? m.split(' ') : [];
      if (parts.length !== 2) {
        throw err(`model.merges[${i}]`, `merge ${JSON.stringify(m)?.slice(0, 60)} is not "a b" (one space).`);
      }
      [a, b] = parts as [string, string];
    }
    const merged = a + (prefix && b.startsWith(prefix) ? b.slice(prefix.length) : b);
    for (const t of [a, b, merged]) {
      if (!has(t)) {
        throw err(
          `model.merges[${i}]`,
          `merge ${q(a)} + ${q(b)} needs ${q(t)}, which is not in model.vocab.`,
          'every merge part and its result must be in model.vocab',
        );
      }
    }
  }
}
