/**
 * Small, valid model files of every format with their tokenizers — the seeds the regression and fuzz tests mutate:
 * a GGUF with a SentencePiece ('llama') or byte-level BPE ('gpt2') vocabulary, a Hugging Face directory
 * (config.json + model.safetensors + the embedded tokenizer.json), and a llama2.c checkpoint with its tokenizer.bin.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTensor, LlamaConfig } from '@tessera/serve';
import { EMBEDDED_TOKENIZER_CONFIG, EMBEDDED_TOKENIZER_JSON } from '../../src/embedded/tokenizer';
import { ggufNameOf } from '../../src/formats/gguf-llama';
import { ggufTokenizerMetadata } from '../../src/formats/gguf-tokenizer-export';
import { type GgufTypedValue, gv, writeGguf } from '../../src/formats/gguf-write';
import { hfConfigJson, toHfTensors } from '../../src/formats/hf-config';
import { writeLlama2c } from '../../src/formats/llama2c';
import { writeSafetensors } from '../../src/formats/safetensors';
import { roundTripSpmVocab } from '../tokenizer/helpers';
import { randomTensors, tinyConfig } from './helpers';

/** The smallest useful shape: 2 layers, hidden 8, 2 heads of 4, 1 KV head, FFN 8. */
export function smallConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  return tinyConfig({ hiddenSize: 8, intermediateSize: 8, numHeads: 2, numKvHeads: 1, headDim: 4, ...overrides });
}

/** The embedded tokenizer's vocabulary size (its tokenizer.json and tokenizer_config.json are the HF samples). */
export const EMBEDDED_VOCAB = 512;

export function llamaMetadata(c: LlamaConfig): Array<[string, GgufTypedValue]> {
  return [
    ['general.architecture', gv.string('llama')],
    ['general.name', gv.string('sample')],
    ['llama.context_length', gv.u32(c.maxPositionEmbeddings)],
    ['llama.embedding_length', gv.u32(c.hiddenSize)],
    ['llama.block_count', gv.u32(c.numLayers)],
    ['llama.feed_forward_length', gv.u32(c.intermediateSize)],
    ['llama.rope.dimension_count', gv.u32(c.headDim)],
    ['llama.attention.head_count', gv.u32(c.numHeads)],
    ['llama.attention.head_count_kv', gv.u32(c.numKvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(c.rmsNormEps)],
    ['llama.rope.freq_base', gv.f32(c.ropeTheta)],
  ];
}

/** SentencePiece ('llama') tokenizer metadata: the tokenizer tests' round-trip vocabulary, with a chat template. */
function spmMetadata(): Array<[string, GgufTypedValue]> {
  const v = roundTripSpmVocab();
  return [
    ['tokenizer.ggml.model', gv.string('llama')],
    ['tokenizer.ggml.tokens', gv.strings(v.tokens)],
    ['tokenizer.ggml.scores', gv.array('f32', Array.from(v.scores))],
    [
      'tokenizer.ggml.token_type',
      gv.array(
        'i32',
        v.tokens.map((_, i) => (i < 3 ? 3 : i < 259 ? 6 : 1)),
      ),
    ],
    ['tokenizer.ggml.bos_token_id', gv.u32(1)],
    ['tokenizer.ggml.eos_token_id', gv.u32(2)],
    ['tokenizer.chat_template', gv.string(String(EMBEDDED_TOKENIZER_CONFIG['chat_template']))],
  ];
}

/**
 * A llama GGUF (`vocab` 'spm' or 'gpt2') with random bf16 weights, its header patched by `patch` (a value replaces
 * the key, null drops it). Returns the bytes and where the header ends (metadata + tensor infos).
 */
export function ggufModel(
  vocab: 'spm' | 'gpt2',
  patch: Record<string, GgufTypedValue | null> = {},
  editTensors: (tensors: Map<string, HostTensor>) => void = () => {},
): { bytes: Buffer; config: LlamaConfig } {
  const tokenizer =
    vocab === 'spm'
      ? spmMetadata()
      : ggufTokenizerMetadata(EMBEDDED_TOKENIZER_JSON, EMBEDDED_TOKENIZER_CONFIG, { vocabSize: EMBEDDED_VOCAB })
          .metadata;
  const vocabSize = vocab === 'spm' ? roundTripSpmVocab().tokens.length : EMBEDDED_VOCAB;
  const config = smallConfig({ vocabSize, dtype: 'bf16', ropeConvention: 'interleaved' });
  const meta = [...llamaMetadata(config), ...tokenizer]
    .filter(([k]) => patch[k] !== null)
    .map(([k, v]): [string, GgufTypedValue] => [k, patch[k] ?? v]);
  for (const [k, v] of Object.entries(patch)) if (v && !meta.some(([m]) => m === k)) meta.push([k, v]);
  const tensors = new Map<string, HostTensor>([...randomTensors(config)].map(([k, t]) => [ggufNameOf(k), t]));
  editTensors(tensors);
  return { bytes: writeGguf({ metadata: meta, tensors }), config };
}

/** Writes `files` (name → contents) into `dir` and returns `dir`. */
export function writeFiles(dir: string, files: Record<string, string | Uint8Array>): string {
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data);
  return dir;
}

/** A Hugging Face directory's files: config.json (patched), model.safetensors, the embedded tokenizer files. */
export function hfModelFiles(
  configPatch: Record<string, unknown> = {},
  tokenizerJson: unknown = EMBEDDED_TOKENIZER_JSON,
): Record<string, string | Uint8Array> {
  const config = smallConfig({ vocabSize: EMBEDDED_VOCAB, dtype: 'bf16' });
  return {
    'config.json': JSON.stringify({ ...hfConfigJson(config, { bosTokenId: 507, eosTokenIds: [508] }), ...configPatch }),
    'model.safetensors': writeSafetensors(toHfTensors(randomTensors(config))),
    'tokenizer.json': JSON.stringify(tokenizerJson),
    'tokenizer_config.json': JSON.stringify(EMBEDDED_TOKENIZER_CONFIG),
  };
}

/** Writes tokenizer.bin as llama2.c's tokenizer.py exports it: '▁' → ' ', BOS/EOS as "\n<s>\n" / "\n</s>\n". */
export function llama2cTokenizerBin(tokens: readonly string[], scores: ArrayLike<number>): Uint8Array {
  const utf8 = new TextEncoder();
  const encoded = tokens.map((t, i) =>
    utf8.encode(i === 1 ? '\n<s>\n' : i === 2 ? '\n</s>\n' : t.replaceAll('\u2581', ' ')),
  );
  const out = new Uint8Array(4 + encoded.reduce((n, b) => n + 8 + b.length, 0));
  const view = new DataView(out.buffer);
  view.setInt32(0, Math.max(...encoded.map((b) => b.length)), true);
  let off = 4;
  encoded.forEach((b, i) => {
    view.setFloat32(off, scores[i]!, true);
    view.setInt32(off + 4, b.length, true);
    out.set(b, off + 8);
    off += 8 + b.length;
  });
  return out;
}

/** A llama2.c checkpoint (v0 or v1, f32) and its tokenizer.bin over the round-trip SentencePiece vocabulary. */
export function llama2cFiles(version: 0 | 1): { 'model.bin': Buffer; 'tokenizer.bin': Uint8Array } {
  const v = roundTripSpmVocab();
  const config = smallConfig({ vocabSize: v.tokens.length, ropeConvention: 'interleaved', maxPositionEmbeddings: 8 });
  return {
    'model.bin': writeLlama2c(config, randomTensors(config), version),
    'tokenizer.bin': llama2cTokenizerBin(v.tokens, Float32Array.from(v.scores as number[])),
  };
}

/** A deep copy of the embedded tokenizer.json, to mutate. */
export function embeddedTokenizerJson(): Record<string, unknown> & {
  model: { vocab: Record<string, number>; merges: unknown[] };
  added_tokens: Array<{ id: number; content: string }>;
} {
  return structuredClone(EMBEDDED_TOKENIZER_JSON) as ReturnType<typeof embeddedTokenizerJson>;
}
