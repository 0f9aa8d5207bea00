/**
 * Converts a Hugging Face byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json) into GGUF tokenizer
 * metadata as llama.cpp's convert_hf_to_gguf.py writes it for `gpt2`-type vocabularies:
 *
 *   tokenizer.ggml.model = 'gpt2'    tokenizer.ggml.pre = 'gpt-2' (the GPT-2 split regex in llama.cpp)
 *   tokenizer.ggml.tokens[id]        the byte-level token strings; ids without a token become "[PAD{id}]"
 *   tokenizer.ggml.token_type[id]    1 normal, 3 control (special added tokens), 4 user-defined (other added), 5 unused
 *   tokenizer.ggml.merges            "a b" strings in rank order
 *   tokenizer.ggml.bos/eos/padding/unknown_token_id, add_bos_token, add_eos_token, tokenizer.chat_template
 */
import { ModelFormatError, ModelLoadError } from '../errors';
import { tokenIdLimit } from '../tokenizer/hf-validate';
import { type GgufTypedValue, gv } from './gguf-write';

export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface GgufTokenizerExportOptions {
  /** The model's vocab size (embedding rows): the token list is padded to it, and may not exceed it. */
  vocabSize?: number;
  /** Override tokenizer.ggml.pre (and skip the pre-tokenizer check). Default 'gpt-2'. */
  pre?: string;
  /** Fallback bos/eos ids (e.g. from config.json) when tokenizer_config.json names no bos/eos token. */
  bosTokenId?: number | null;
  eosTokenId?: number | null;
}

export interface GgufTokenizerExport {
  metadata: Array<[string, GgufTypedValue]>;
  /** Things llama.cpp may tokenize differently from the HF tokenizer (empty when the mapping is exact). */
  warnings: string[];
  bosTokenId: number | null;
  eosTokenId: number | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(message: string): never {
  throw new ModelLoadError(`tokenizer.json → GGUF: ${message}`);
}

/** A special token as tokenizer_config.json writes it: a string, or an AddedToken object with `content`. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v['content'] === 'string') return v['content'];
  return null;
}

/** Checks the pre-tokenizer is plain GPT-2 byte-level (what llama.cpp's 'gpt-2' pre-type reproduces). */
function preTokenizerWarnings(tok: Obj): string[] {
  const warnings: string[] = [];
  const pre = tok['pre_tokenizer'];
  if (!isObj(pre) || pre['type'] !== 'ByteLevel') {
    warnings.push(`pre_tokenizer ${JSON.stringify(isObj(pre) ? pre['type'] : pre)} is not a plain ByteLevel one.`);
  } else {
    if (pre['use_regex'] === false) warnings.push('ByteLevel pre_tokenizer has use_regex: false.');
    if (pre['add_prefix_space'] === true) warnings.push('ByteLevel pre_tokenizer has add_prefix_space: true.');
  }
  if (tok['normalizer'] !== null && tok['normalizer'] !== undefined) {
    warnings.push(`normalizer ${JSON.stringify((tok['normalizer'] as Obj)['type'])} has no GGUF equivalent.`);
  }
  return warnings;
}

/** Whether the post-processor puts `bos` first (a TemplateProcessing whose `single` starts with it). */
function postProcessorAddsBos(tok: Obj, bos: string | null): boolean {
  const pp = tok['post_processor'];
  const templates = isObj(pp) && pp['type'] === 'Sequence' ? (pp['processors'] as unknown[]) : [pp];
  for (const t of templates) {
    if (!isObj(t) || t['type'] !== 'TemplateProcessing' || !Array.isArray(t['single'])) continue;
    const first = t['single'][0] as Obj | undefined;
    const special = isObj(first) ? (first['SpecialToken'] as Obj | undefined) : undefined;
    if (special && special['id'] === bos) return true;
  }
  return false;
}

/** tokenizer.json (+ tokenizer_config.json) → GGUF tokenizer metadata. */
export function ggufTokenizerMetadata(
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  options: GgufTokenizerExportOptions = {},
): GgufTokenizerExport {
  if (!isObj(tokenizerJson) || !isObj(tokenizerJson['model'])) fail('tokenizer.json has no "model" object.');
  const model = tokenizerJson['model'] as Obj;
  if (model['type'] !== undefined && model['type'] !== 'BPE') fail(`model type ${String(model['type'])} is not BPE.`);
  const vocab = model['vocab'];
  if (!isObj(vocab)) fail('model.vocab is not an object.');
  const cfg: Obj = isObj(tokenizerConfig) ? tokenizerConfig : {};

  // id → (token, type): the BPE vocab first, then added tokens (which may add ids or re-type existing ones).
  const byId = new Map<number, { token: string; type: number }>();
  const idOf = new Map<string, number>();
  const put = (token: string, id: unknown, type: number) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
      fail(`token ${JSON.stringify(token)} has id ${String(id)}.`);
    const prev = byId.get(id);
    if (prev && prev.token !== token)
      fail(`id ${id} is both ${JSON.stringify(prev.token)} and ${JSON.stringify(token)}.`);
    byId.set(id, { token, type });
    idOf.set(token, id);
  };
  for (const [token, id] of Object.entries(vocab)) put(token, id, TOKEN_TYPE.normal);
  const added = Array.isArray(tokenizerJson['added_tokens']) ? (tokenizerJson['added_tokens'] as unknown[]) : [];
  for (const a of added) {
    if (!isObj(a) || typeof a['content'] !== 'string') fail('an added_tokens entry has no "content".');
    put(a['content'], a['id'], a['special'] === true ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  let maxId = -1;
  for (const id of byId.keys()) if (id > maxId) maxId = id;
  // Without the model's vocab size, the entries listed bound the padding loop below (as the tokenizer's loader does).
  const limit = tokenIdLimit(Object.keys(vocab).length + added.length);
  if (options.vocabSize === undefined && maxId >= limit) {
    throw new ModelFormatError(`the tokenizer uses id ${maxId}, far beyond the tokens it lists.`, {
      file: 'tokenizer.json',
      field: 'model.vocab',
      limit: `ids below ${limit} (or pass the model's vocab size)`,
    });
  }
  const size = Math.max(options.vocabSize ?? 0, maxId + 1);
  if (options.vocabSize !== undefined && maxId + 1 > options.vocabSize) {
    fail(`the tokenizer uses id ${maxId}, beyond the model's vocab size ${options.vocabSize}.`);
  }
  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < size; id++) {
    const t = byId.get(id);
    tokens.push(t ? t.token : `[PAD${id}]`);
    types.push(t ? t.type : TOKEN_TYPE.unused);
  }

  const rawMerges = Array.isArray(model['merges']) ? (model['merges'] as unknown[]) : [];
  const merges = rawMerges.map((m) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string')
      return `${m[0]} ${m[1]}`;
    return fail(`merge ${JSON.stringify(m)} is neither "a b" nor ["a", "b"].`);
  });

  const warnings = options.pre === undefined ? preTokenizerWarnings(tokenizerJson) : [];
  const special = (key: string, fallback: number | null | undefined): number | null => {
    const content = tokenContent(cfg[key]);
    if (content !== null) {
      const id = idOf.get(content);
      if (id === undefined) fail(`tokenizer_config.json ${key} ${JSON.stringify(content)} is not in the vocabulary.`);
      return id;
    }
    return fallback ?? null;
  };
  const bos = special('bos_token', options.bosTokenId);
  const eos = special('eos_token', options.eosTokenId);
  const pad = special('pad_token', null);
  const unkContent = typeof model['unk_token'] === 'string' ? model['unk_token'] : null;
  const unk = unkContent !== null ? (idOf.get(unkContent) ?? null) : null;
  const bosContent = bos === null ? null : tokens[bos]!;
  const addBos =
    typeof cfg['add_bos_token'] === 'boolean' ? cfg['add_bos_token'] : postProcessorAddsBos(tokenizerJson, bosContent);
  const addEos = cfg['add_eos_token'] === true;

  const metadata: Array<[string, GgufTypedValue]> = [
    ['tokenizer.ggml.model', gv.string('gpt2')],
    ['tokenizer.ggml.pre', gv.string(options.pre ?? 'gpt-2')],
    ['tokenizer.ggml.tokens', gv.strings(tokens)],
    ['tokenizer.ggml.token_type', gv.array('i32', types)],
    ['tokenizer.ggml.merges', gv.strings(merges)],
  ];
  if (bos !== null) metadata.push(['tokenizer.ggml.bos_token_id', gv.u32(bos)]);
  if (eos !== null) metadata.push(['tokenizer.ggml.eos_token_id', gv.u32(eos)]);
  if (pad !== null) metadata.push(['tokenizer.ggml.padding_token_id', gv.u32(pad)]);
  if (unk !== null) metadata.push(['tokenizer.ggml.unknown_token_id', gv.u32(unk)]);
  metadata.push(['tokenizer.ggml.add_bos_token', gv.bool(addBos && bos !== null)]);
  metadata.push(['tokenizer.ggml.add_eos_token', gv.bool(addEos && eos !== null)]);
  const template = chatTemplate(cfg['chat_template']);
  if (template !== null) metadata.push(['tokenizer.chat_template', gv.string(template)]);
  return { metadata, warnings, bosTokenId: bos, eosTokenId: eos };
}

/** chat_template is a string, or a list of {name, template} of which 'default' is the one used. */
function chatTemplate(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => isObj(t) && t['name'] === 'default') as Obj | undefined;
    if (named && typeof named['template'] === 'string') return named['template'];
  }
  return null;
}
