/**
 * Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) via @huggingface/tokenizers, wrapped in the app's
 * Tokenizer interface.
 *
 * Deviations from calling the library directly, each on purpose:
 * - decode never applies `clean_up_tokenization_spaces` (the library defaults it to true): the cleanup rewrites
 *   " ." → "." and the like, which would break decode(encode(x)) = x and make streamed text (vLLM's detokenizer does no
 *   cleanup either) differ from a one-shot decode.
 * - `add_bos_token` in tokenizer_config is honoured: transformers rebuilds the post-processor from it for Llama-style
 *   tokenizers, the JS library only runs tokenizer.json's post-processor.
 * - decode([]) returns '' (the library throws), and ids outside the vocabulary are a TokenizerError.
 * - ids and merges are checked before the library sees them (hf-validate.ts): a negative or huge id is a
 *   ModelFormatError at load, not a hang or a request-time failure.
 * - the file's regexes (normalizer, pre-tokenizer, decoder) run under a deadline (budget.ts): encode always, decode
 *   when the decoder has a regex. Past it → ModelBudgetError('tokenizer').
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import type { ChatMessage, Tokenizer } from '@tessera/serve';
import { ModelBudgetError, ModelLoadError, TokenizerError } from '../errors';
import { deadlineMs, type ModelCodeBudget, resolveBudget, runWithDeadline } from './budget';
import { ChatTemplate } from './chat-template';
import { checkTokenizerJson } from './hf-validate';

export interface HfTokenizerExtras {
  /** Overrides the BOS id found from tokenizer_config's bos_token (null = none). */
  bosTokenId?: number | null;
  /** Added to the EOS id of tokenizer_config's eos_token (e.g. generation_config.json's eos_token_id list). */
  eosTokenIds?: readonly number[];
  /** Overrides the chat template from tokenizer_config (e.g. a chat_template.jinja file). */
  chatTemplate?: string | null;
  /** Overrides the vocabulary size (default: highest id + 1). */
  vocabSize?: number;
  /** Ids must be below this (the model's vocab size); default: the number of entries tokenizer.json lists. */
  maxVocabSize?: number;
  /** Time, steps and size allowed to the file's regexes and chat template (default DEFAULT_MODEL_CODE_BUDGET). */
  budget?: Partial<ModelCodeBudget>;
  /** The file the JSON came from, for messages (default 'tokenizer.json'). */
  file?: string;
}

type Json = Record<string, unknown>;

/** A special-token entry of tokenizer_config: a string, or an AddedToken object `{content, …}`. */
function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Json)['content'] === 'string') {
    return (value as Json)['content'] as string;
  }
  return null;
}

/** tokenizer_config.chat_template: a string, or a list of `{name, template}` of which 'default' is the chat one. */
export function chatTemplateFromConfig(config: Json): string | null {
  const t = config['chat_template'];
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((e) => e && typeof e === 'object' && (e as Json)['name'] === 'default') as Json | undefined;
    return typeof named?.['template'] === 'string' ? named['template'] : null;
  }
  return null;
}

/** What the load-time probe encodes and decodes: letters, digits, punctuation, whitespace, accents, CJK, emoji. */
const PROBE_TEXT = "Hello, world! It's 09:30 -- café 日本語 🙂\n\tend.";

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly chatTemplate: string | null;
  private readonly hf: HfLibTokenizer;
  /** +1: prepend BOS the post-processor does not add; −1: drop the BOS it adds; 0: leave as is. */
  private readonly bosFix: -1 | 0 | 1;
  private readonly template: ChatTemplate;
  private readonly budget: ModelCodeBudget;
  /** Whether the decoder runs a regex from the file (then decode runs under the deadline too). */
  private readonly decoderHasRegex: boolean;
  private readonly file: string;

  constructor(tokenizerJson: object, tokenizerConfig: object = {}, extras: HfTokenizerExtras = {}) {
    const config = tokenizerConfig as Json;
    const file = extras.file ?? 'tokenizer.json';
    this.file = file;
    this.budget = resolveBudget(extras.budget);
    checkTokenizerJson(tokenizerJson as Json, { file, maxVocabSize: extras.maxVocabSize });
    try {
      // The library reads `added_tokens` unconditionally; older or hand-written files may lack it.
      const json = { added_tokens: [], ...(tokenizerJson as Json) };
      this.hf = new HfLibTokenizer(json, config);
    } catch (err) {
      throw new TokenizerError(`tokenizer.json cannot be loaded: ${(err as Error).message}`);
    }
    this.decoderHasRegex = JSON.stringify((tokenizerJson as Json)['decoder'] ?? null).includes('"Regex"');
    let maxId = -1;
    for (const id of this.hf.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = extras.vocabSize ?? maxId + 1;

    const idOf = (value: unknown): number | null => {
      const text = tokenText(value);
      return text === null ? null : (this.hf.token_to_id(text) ?? null);
    };
    this.bosTokenId = extras.bosTokenId !== undefined ? extras.bosTokenId : idOf(config['bos_token']);
    const eos = idOf(config['eos_token']);
    this.eosTokenIds = [...new Set([...(eos === null ? [] : [eos]), ...(extras.eosTokenIds ?? [])])];
    this.chatTemplate = extras.chatTemplate !== undefined ? extras.chatTemplate : chatTemplateFromConfig(config);

    // What does the post-processor add to an empty text? That tells whether add_bos_token needs our help.
    const bos = this.bosTokenId;
    const postAddsBos = bos !== null && this.libEncode('', true)[0] === bos;
    const want = config['add_bos_token'];
    this.bosFix = bos === null ? 0 : want === true && !postAddsBos ? 1 : want === false && postAddsBos ? -1 : 0;

    const bosText = bos === null ? '' : (this.hf.id_to_token(bos) ?? '');
    const eosText = tokenText(config['eos_token']) ?? '';
    this.template = new ChatTemplate(this.chatTemplate, bosText, eosText, this.budget);
    this.probe();
  }

  /**
   * Encodes and decodes a sample text once, so that components the library accepts but cannot run (a malformed
   * decoder sequence, a pre-tokenizer of the wrong shape) fail the load instead of every request.
   */
  private probe(): void {
    try {
      this.decode(this.encode(PROBE_TEXT), { skipSpecialTokens: false });
    } catch (err) {
      if (err instanceof TokenizerError) return; // e.g. no unknown token for some sample character: not a fault
      throw new TokenizerError(`${this.file} cannot be used: ${(err as Error).message}`, { file: this.file });
    }
  }

  /**
   * Runs library code on request data: errors of its own (a TypeError from a component it accepted at load) are the
   * model file's fault, so they become ModelLoadError (HTTP 500), never an untyped error or a 400.
   */
  private guarded<T>(doing: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof TokenizerError || err instanceof ModelBudgetError) throw err;
      if (err instanceof RangeError) {
        throw new ModelBudgetError('tokenizer', `${doing} hit an engine limit (${err.message}).`);
      }
      throw new ModelLoadError(`${this.file}: the tokenizer failed ${doing}: ${(err as Error).message}`, {
        file: this.file,
      });
    }
  }

  /** The library's encode under the deadline (the file's normalizer and pre-tokenizer regexes run here). */
  private libEncode(text: string, addSpecial: boolean): number[] {
    const ms = deadlineMs(this.budget.tokenizerMs, this.budget, text.length);
    return runWithDeadline(
      'tokenizer',
      ms,
      (why) =>
        `encoding a ${text.length}-character text stopped: ${why}. A normalizer or pre-tokenizer regex in ` +
        'tokenizer.json may backtrack catastrophically on this input.',
      () => this.guarded('encoding a text', () => this.hf.encode(text, { add_special_tokens: addSpecial }).ids),
    );
  }

  encode(text: string, options?: { addSpecialTokens?: boolean }): number[] {
    const addSpecial = options?.addSpecialTokens ?? true;
    const ids = this.libEncode(text, addSpecial);
    if (ids.some((id) => id === undefined)) {
      throw new TokenizerError('the text contains characters this tokenizer cannot represent (no unknown token).');
    }
    if (addSpecial && this.bosFix === 1 && this.bosTokenId !== null) ids.unshift(this.bosTokenId);
    if (addSpecial && this.bosFix === -1 && ids[0] === this.bosTokenId) ids.shift();
    return ids;
  }

  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string {
    if (ids.length === 0) return '';
    let chars = 0;
    for (const id of ids) {
      const token = Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.hf.id_to_token(id) : undefined;
      if (token === undefined) {
        throw new TokenizerError(`token id ${id} is outside the vocabulary (size ${this.vocabSize}).`);
      }
      chars += token.length;
    }
    const decode = () =>
      this.guarded('decoding tokens', () =>
        this.hf.decode([...ids], {
          skip_special_tokens: options?.skipSpecialTokens ?? true,
          clean_up_tokenization_spaces: false,
        }),
      );
    if (!this.decoderHasRegex) return decode();
    const ms = deadlineMs(this.budget.tokenizerMs, this.budget, chars);
    return runWithDeadline(
      'tokenizer',
      ms,
      (why) => `decoding ${ids.length} tokens stopped: ${why}. A decoder regex in tokenizer.json may backtrack.`,
      decode,
    );
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string {
    return this.template.render(messages, options?.addGenerationPrompt ?? false);
  }
}

export function hfTokenizer(tokenizerJson: object, tokenizerConfig?: object, extras?: HfTokenizerExtras): Tokenizer {
  return new HfTokenizer(tokenizerJson, tokenizerConfig, extras);
}

function readJson(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TokenizerError(`cannot read ${file}: ${(err as Error).message}`, { file });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Json;
  } catch (err) {
    throw new TokenizerError(`${file} is not valid JSON: ${(err as Error).message}`, { file });
  }
}

/** generation_config.json's eos_token_id: a number or a list of numbers. */
function eosIdsOf(generationConfig: Json): number[] {
  const v = generationConfig['eos_token_id'];
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
}

/**
 * Loads a Hugging Face model directory's tokenizer: tokenizer.json (required), tokenizer_config.json,
 * generation_config.json (its eos_token_id list joins the EOS ids) and chat_template.jinja (newer checkpoints keep the
 * template there instead of in tokenizer_config), each optional.
 */
export interface HfTokenizerDirOptions {
  /** The model's vocab size: tokenizer ids must be below it (default: the entries tokenizer.json lists). */
  maxVocabSize?: number;
  /** Time, steps and size allowed to the file's regexes and chat template (default DEFAULT_MODEL_CODE_BUDGET). */
  budget?: Partial<ModelCodeBudget>;
}

export function hfTokenizerFromDir(dir: string, options: HfTokenizerDirOptions = {}): Tokenizer {
  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) {
    const hint = existsSync(join(dir, 'tokenizer.model'))
      ? 'Only tokenizer.model (SentencePiece) is present; save the tokenizer with transformers to get tokenizer.json.'
      : 'Save the tokenizer with transformers (tokenizer.save_pretrained) next to the weights.';
    throw new TokenizerError(`no tokenizer.json in ${dir}.`, { file: tokenizerPath, hint });
  }
  const optional = (name: string) => (existsSync(join(dir, name)) ? readJson(join(dir, name)) : {});
  const config = optional('tokenizer_config.json');
  const generation = optional('generation_config.json');
  const templatePath = join(dir, 'chat_template.jinja');
  const extras: HfTokenizerExtras = { eosTokenIds: eosIdsOf(generation), file: tokenizerPath, ...options };
  if (existsSync(templatePath)) extras.chatTemplate = readFileSync(templatePath, 'utf8');
  try {
    return new HfTokenizer(readJson(tokenizerPath), config, extras);
  } catch (err) {
    if (err instanceof ModelLoadError || err instanceof ModelBudgetError) throw err;
    if (err instanceof TokenizerError && !err.details.file) {
      throw new TokenizerError(err.message, { file: tokenizerPath });
    }
    throw err;
  }
}

/** tokenizer.json post-processor that puts BOS before the text, as Llama 3's does. */
export function bosTemplate(bosText: string, bosId: number): object {
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: bosText, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bosText, type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: bosText, type_id: 1 } },
      { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: { [bosText]: { id: bosText, ids: [bosId], tokens: [bosText] } },
  };
}
