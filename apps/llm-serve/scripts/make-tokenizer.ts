/**
 * Builds the embedded model's tokenizer: a byte-level BPE of exactly 512 tokens trained on src/embedded/corpus.txt.
 *
 *   node --conditions=@tessera/source --import tsx scripts/make-tokenizer.ts
 *
 * Ids 0..255 are the bytes, 256..506 the 251 learned merges, 507..511 Llama-3-style special tokens. Writes
 * src/embedded/tokenizer.json and src/embedded/tokenizer_config.json; the output depends only on the corpus, so running
 * it twice gives byte-identical files.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { byteLevelTokenizerJson, type SpecialToken, trainByteLevelBpe } from '../src/tokenizer/bpe-train';

export const VOCAB_SIZE = 512;
export const SPECIAL_TOKENS = [
  '<|begin_of_text|>',
  '<|end_of_text|>',
  '<|start_header_id|>',
  '<|end_header_id|>',
  '<|eot_id|>',
] as const;
const NUM_MERGES = VOCAB_SIZE - 256 - SPECIAL_TOKENS.length;

/** Llama 3's template, written with our special tokens: a header per message, content trimmed, <|eot_id|> after it. */
export const CHAT_TEMPLATE =
  "{%- for message in messages %}{%- set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}" +
  '{%- if loop.index0 == 0 %}{%- set content = bos_token + content %}{%- endif %}{{- content }}{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

export interface TokenizerFiles {
  tokenizerJson: object;
  tokenizerConfig: object;
}

/**
 * Trains on `corpus` and returns both files' contents. Pure: the same corpus gives the same objects. `numMerges` other
 * than the default (which makes the 512-token vocabulary) is for tests on small corpora.
 */
export function makeTokenizerFiles(corpus: string, numMerges = NUM_MERGES): TokenizerFiles {
  const model = trainByteLevelBpe(corpus, numMerges);
  const specials: SpecialToken[] = SPECIAL_TOKENS.map((content, i) => ({ content, id: model.vocab.length + i }));
  const bos = specials[0]!;
  const tokenizerJson = byteLevelTokenizerJson(model, specials, bos);
  const tokenizerConfig = {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: SPECIAL_TOKENS[0],
    eos_token: SPECIAL_TOKENS[1],
    // generation also stops at <|eot_id|>: embedded/tokenizer.ts adds it, as generation_config.json does for Llama 3
    clean_up_tokenization_spaces: false,
    model_max_length: 2048,
    tokenizer_class: 'PreTrainedTokenizerFast',
    chat_template: CHAT_TEMPLATE,
  };
  return { tokenizerJson, tokenizerConfig };
}

/**
 * JSON text as Biome formats it, so that `biome check` passes on the generated files: 2-space indent, objects expanded,
 * arrays of plain values on one line when that line fits in 120 columns.
 */
export function formatJson(value: unknown): string {
  const LINE_WIDTH = 120;
  const render = (v: unknown, indent: string, lineStart: number, trailer: number): string => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    const inner = indent + '  ';
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      if (v.every((x) => x === null || typeof x !== 'object')) {
        const flat = `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
        if (lineStart + flat.length + trailer <= LINE_WIDTH) return flat;
      }
      const items = v.map((x, i) => inner + render(x, inner, inner.length, i < v.length - 1 ? 1 : 0));
      return `[\n${items.join(',\n')}\n${indent}]`;
    }
    const entries = Object.entries(v);
    if (entries.length === 0) return '{}';
    const items = entries.map(([k, x], i) => {
      const head = `${inner}${JSON.stringify(k)}: `;
      return head + render(x, inner, head.length, i < entries.length - 1 ? 1 : 0);
    });
    return `{\n${items.join(',\n')}\n${indent}}`;
  };
  return render(value, '', 0, 0) + '\n';
}

function main(): void {
  const dir = new URL('../src/embedded/', import.meta.url);
  const corpus = readFileSync(new URL('corpus.txt', dir), 'utf8');
  const files = makeTokenizerFiles(corpus);
  writeFileSync(new URL('tokenizer.json', dir), formatJson(files.tokenizerJson));
  writeFileSync(new URL('tokenizer_config.json', dir), formatJson(files.tokenizerConfig));
  console.log(
    `wrote ${fileURLToPath(new URL('tokenizer.json', dir))} and tokenizer_config.json (${VOCAB_SIZE} tokens)`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
