/**
 * GPT-2 byte-level conventions shared by the BPE trainer and the GGUF 'gpt2' path: the byte ↔ printable-character
 * table (so every byte sequence is a string of visible characters, e.g. space → 'Ġ') and the pre-tokenizer regexes
 * llama.cpp selects by `tokenizer.ggml.pre`.
 */

/** byte → character: printable Latin-1 bytes map to themselves, the other 68 to U+0100… in byte order (GPT-2). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(keep(b) ? b : 256 + shifted++));
  return out;
})();

/** character → byte, the inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const utf8 = new TextEncoder();

/** The byte-level spelling of a string: its UTF-8 bytes, each as its BYTE_TO_CHAR character. */
export function toByteLevel(text: string): string {
  let out = '';
  for (const b of utf8.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/**
 * GPT-2's split regex as @huggingface/tokenizers' ByteLevel pre-tokenizer runs it. The trainer must split exactly like
 * the tokenizer that will use its merges, so it uses this very pattern.
 */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * llama.cpp's regexes per pre-tokenizer family (llama-vocab.cpp, llm_tokenizer_bpe). Each list is applied in turn, every
 * regex splitting the pieces of the previous one and keeping both matches and the text between them ('Isolated').
 * llama.cpp's GPT-2 regex lacks GPT-2's final `|\s+`; that changes nothing because unmatched text is kept as a piece.
 */
const GPT2_LLAMACPP = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export interface PreTokenizerFamily {
  /** null = GPT-2's own regex, which the ByteLevel pre-tokenizer applies itself. */
  regexes: readonly string[] | null;
  /** llama.cpp skips merges for words that are already whole tokens in these families (HF `ignore_merges`). */
  ignoreMerges: boolean;
  /** llama.cpp's add_bos default before `tokenizer.ggml.add_bos_token` overrides it. */
  addBos: boolean;
}

const family = (regexes: readonly string[] | null, ignoreMerges = false, addBos = false): PreTokenizerFamily => ({
  regexes,
  ignoreMerges,
  addBos,
});

/** `tokenizer.ggml.pre` → family, following llama.cpp's llama_vocab::impl::load. */
export const PRE_TOKENIZERS: ReadonlyMap<string, PreTokenizerFamily> = new Map([
  // llama.cpp's 'default' (also used when the key is missing) is not GPT-2's regex but this four-step split.
  ['default', family(['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2_LLAMACPP, '\\p{N}+', '[0-9][0-9][0-9]'])],
  ...['gpt-2', 'phi-2', 'roberta-bpe', 'mpt', 'olmo', 'jais'].map((n) => [n, family(null)] as const),
  ...['llama3', 'llama-v3', 'llama-bpe', 'falcon3'].map((n) => [n, family([LLAMA3], true, true)] as const),
  ...['dbrx', 'smaug-bpe'].map((n) => [n, family([LLAMA3])] as const),
  ...['qwen2', 'stablelm2', 'megrez'].map((n) => [n, family([QWEN2])] as const),
  ...['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b'].map(
    (n) => [n, family(['\\p{N}', GPT2_LLAMACPP])] as const,
  ),
]);
