/**
 * The embedded model's tokenizer: a 512-token byte-level BPE (scripts/make-tokenizer.ts trains it on corpus.txt) with
 * Llama-3-style special tokens and chat template. The JSON files sit next to this module and are read on import.
 */
import { readFileSync } from 'node:fs';
import type { Tokenizer } from '@tessera/serve';
import { hfTokenizer } from '../tokenizer/hf';

export const EMBEDDED_BOS_ID = 507;
export const EMBEDDED_END_OF_TEXT_ID = 508;
export const EMBEDDED_START_HEADER_ID = 509;
export const EMBEDDED_END_HEADER_ID = 510;
export const EMBEDDED_EOT_ID = 511;
/** Generation stops at either, as Llama 3 instruct's generation_config lists both. */
export const EMBEDDED_EOS_IDS: readonly number[] = [EMBEDDED_END_OF_TEXT_ID, EMBEDDED_EOT_ID];

function readJson(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(name, import.meta.url), 'utf8')) as Record<string, unknown>;
}

/** The raw tokenizer.json object (e.g. to write next to an exported model or into GGUF metadata). Do not mutate. */
export const EMBEDDED_TOKENIZER_JSON: Readonly<Record<string, unknown>> = readJson('./tokenizer.json');
/** The raw tokenizer_config.json object. Do not mutate. */
export const EMBEDDED_TOKENIZER_CONFIG: Readonly<Record<string, unknown>> = readJson('./tokenizer_config.json');

/** Both raw objects together. */
export function embeddedTokenizerFiles(): {
  tokenizerJson: Readonly<Record<string, unknown>>;
  tokenizerConfig: Readonly<Record<string, unknown>>;
} {
  return { tokenizerJson: EMBEDDED_TOKENIZER_JSON, tokenizerConfig: EMBEDDED_TOKENIZER_CONFIG };
}

let cached: Tokenizer | null = null;

/** The embedded tokenizer (built once; it is stateless, so sharing it is safe). */
export function embeddedTokenizer(): Tokenizer {
  cached ??= hfTokenizer(EMBEDDED_TOKENIZER_JSON, EMBEDDED_TOKENIZER_CONFIG, { eosTokenIds: EMBEDDED_EOS_IDS });
  return cached;
}
