/**
 * GGUF files of llama.cpp's `llama` architecture: metadata → LlamaConfig, GGUF tensor names ⇄ canonical names, and the
 * Q/K row permutation that llama.cpp's converter applies so that its adjacent-pair RoPE reproduces HF's half RoPE.
 *
 *   token_embd        ne [hidden, vocab]      → embed       blk.N.attn_norm  → layers.N.attn_norm
 *   blk.N.attn_q/k/v/output                   → layers.N.q/k/v/o
 *   blk.N.ffn_norm    → layers.N.ffn_norm     blk.N.ffn_gate/up/down         → layers.N.gate/up/down
 *   output_norm       → final_norm            output (absent = tied)         → lm_head
 */

import type { HostTensor, LlamaConfig, TensorMap, WeightDType } from '@tessera/serve';
import { ModelLoadError } from '../errors';
import { formatError, showValue, withFile } from './binary';
import { assembleCanonical, type ConfigFieldNames, checkLayerCount, validateConfig } from './canonical';
import { GGML_TYPE, type GgufHeader, type GgufValue, readGgufHeader, readGgufTensor } from './gguf';

const LAYER_LEAF: Record<string, string> = {
  attn_norm: 'attn_norm',
  q: 'attn_q',
  k: 'attn_k',
  v: 'attn_v',
  o: 'attn_output',
  ffn_norm: 'ffn_norm',
  gate: 'ffn_gate',
  up: 'ffn_up',
  down: 'ffn_down',
};
const TOP: Record<string, string> = { embed: 'token_embd', final_norm: 'output_norm', lm_head: 'output' };

/** The metadata key of each config number, for errors. */
const GGUF_FIELDS: ConfigFieldNames = {
  vocabSize: 'llama.vocab_size',
  hiddenSize: 'llama.embedding_length',
  intermediateSize: 'llama.feed_forward_length',
  numLayers: 'llama.block_count',
  numHeads: 'llama.attention.head_count',
  numKvHeads: 'llama.attention.head_count_kv',
  headDim: 'llama.attention.key_length',
  maxPositionEmbeddings: 'llama.context_length',
  rmsNormEps: 'llama.attention.layer_norm_rms_epsilon',
  ropeTheta: 'llama.rope.freq_base',
};

/** The GGUF tensor name of a canonical tensor ('layers.3.q' → 'blk.3.attn_q.weight'). */
export function ggufNameOf(canonical: string): string {
  const m = /^layers\.(\d+)\.(\w+)$/.exec(canonical);
  const leaf = m ? LAYER_LEAF[m[2]!] : undefined;
  if (m && leaf) return `blk.${m[1]}.${leaf}.weight`;
  const top = TOP[canonical];
  if (!top) throw new Error(`ggufNameOf: ${canonical} is not a canonical tensor name.`);
  return `${top}.weight`;
}

/** A metadata number (any integer/float type), or `fallback` (undefined = required). */
function metaNumber(meta: Map<string, GgufValue>, key: string, file: string, fallback?: number): number {
  const v = meta.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw formatError(file, key, `metadata key ${key} is missing.`);
  }
  if (typeof v !== 'number') {
    throw formatError(file, key, `metadata key ${key} should be a number, got ${showValue(v)}.`);
  }
  return v;
}

/** The config's dtype: what the attention matrices are stored in (Q8_0 is dequantised, so f32). */
function storedDtype(header: GgufHeader): WeightDType {
  const q = header.tensors.find((t) => t.name === 'blk.0.attn_q.weight') ?? header.tensors[0];
  return q?.type === GGML_TYPE.F16 ? 'f16' : q?.type === GGML_TYPE.BF16 ? 'bf16' : 'f32';
}

/** llama-architecture metadata (+ the token_embd shape) → LlamaConfig, with interleaved RoPE. */
export function ggufLlamaConfig(header: GgufHeader): LlamaConfig {
  const { metadata: meta, file } = header;
  const arch = meta.get('general.architecture');
  if (arch !== 'llama') {
    throw new ModelLoadError(
      `${file}: general.architecture is ${showValue(arch ?? null)}; only 'llama' GGUF models are supported.`,
      { file },
    );
  }
  const unsupported = (key: string, ok: (v: GgufValue) => boolean, why: string) => {
    const v = meta.get(key);
    if (v !== undefined && !ok(v)) throw new ModelLoadError(`${file}: ${key} = ${showValue(v)}: ${why}`, { file });
  };
  unsupported('llama.rope.scaling.type', (v) => v === 'none', 'RoPE scaling is unsupported.');
  unsupported('llama.expert_count', (v) => v === 0, 'mixture-of-experts models are unsupported.');
  const hiddenSize = metaNumber(meta, 'llama.embedding_length', file);
  const numHeads = metaNumber(meta, 'llama.attention.head_count', file);
  const headDim = metaNumber(meta, 'llama.attention.key_length', file, hiddenSize / numHeads);
  const valueDim = metaNumber(meta, 'llama.attention.value_length', file, headDim);
  if (valueDim !== headDim) {
    throw new ModelLoadError(`${file}: key_length ${headDim} ≠ value_length ${valueDim} is unsupported.`, { file });
  }
  const ropeDim = metaNumber(meta, 'llama.rope.dimension_count', file, headDim);
  if (ropeDim !== headDim) {
    throw new ModelLoadError(
      `${file}: llama.rope.dimension_count ${ropeDim} ≠ head dim ${headDim}; partial RoPE is unsupported.`,
      { file },
    );
  }
  const embd = header.tensors.find((t) => t.name === 'token_embd.weight');
  const vocabFromTensor = embd?.shape.length === 2 ? embd.shape[0] : undefined;
  const vocabSize = metaNumber(meta, 'llama.vocab_size', file, vocabFromTensor ?? Number.NaN);
  if (vocabFromTensor !== undefined && vocabFromTensor !== vocabSize) {
    throw new ModelLoadError(
      `${file}: llama.vocab_size ${vocabSize} disagrees with token_embd.weight's ${vocabFromTensor} rows.`,
      { file, tensor: 'token_embd.weight' },
    );
  }
  const config: LlamaConfig = {
    vocabSize,
    hiddenSize,
    intermediateSize: metaNumber(meta, 'llama.feed_forward_length', file),
    numLayers: metaNumber(meta, 'llama.block_count', file),
    numHeads,
    numKvHeads: metaNumber(meta, 'llama.attention.head_count_kv', file, numHeads),
    headDim,
    maxPositionEmbeddings: metaNumber(meta, 'llama.context_length', file),
    rmsNormEps: metaNumber(meta, 'llama.attention.layer_norm_rms_epsilon', file),
    ropeTheta: metaNumber(meta, 'llama.rope.freq_base', file, 10000),
    ropeConvention: 'interleaved',
    tieWordEmbeddings: !header.tensors.some((t) => t.name === 'output.weight'),
    dtype: storedDtype(header),
  };
  validateConfig(config, file, GGUF_FIELDS);
  checkLayerCount(config.numLayers, header.tensors.length, { file, field: 'llama.block_count' });
  return config;
}

export interface GgufModel {
  version: number;
  /** The raw metadata (tokenizer.ggml.* for the tokenizer, general.name, …). */
  metadata: Map<string, GgufValue>;
  config: LlamaConfig;
  /** Canonical names; shapes checked against the config. Q8_0 tensors are dequantised to f32. */
  tensors: TensorMap;
}

/** Reads a llama GGUF: the header and config first, then only the tensors the config needs (others never read). */
export function readGgufModel(file: string): GgufModel {
  return withFile(file, (f) => {
    const header = readGgufHeader(f);
    const config = ggufLlamaConfig(header);
    const wanted = new Set(canonicalNames(config).map(ggufNameOf));
    const tensors = new Map<string, HostTensor>();
    for (const t of header.tensors) if (wanted.has(t.name)) tensors.set(t.name, readGgufTensor(f, header, t));
    const canonical = assembleCanonical(config, {
      nameOf: ggufNameOf,
      get: (n) => {
        const tensor = tensors.get(n);
        return tensor && { tensor, file };
      },
      where: file,
    });
    return { version: header.version, metadata: header.metadata, config, tensors: canonical };
  });
}

function canonicalNames(config: LlamaConfig): string[] {
  const names = ['embed', 'final_norm'];
  if (!config.tieWordEmbeddings) names.push('lm_head');
  for (let l = 0; l < config.numLayers; l++)
    for (const leaf of Object.keys(LAYER_LEAF)) names.push(`layers.${l}.${leaf}`);
  return names;
}

/** Reorders the rows of a (heads · headDim, in) matrix: new row `newRow(h, r)` takes old row `h·hd + r`. */
function permuteRows(w: HostTensor, heads: number, forward: boolean): HostTensor {
  const [rows, cols] = w.shape as [number, number];
  if (w.shape.length !== 2 || rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new Error(
      `permuteForInterleavedRope: shape [${w.shape.join(', ')}] is not (${heads} heads × even headDim, in).`,
    );
  }
  const hd = rows / heads;
  const half = hd / 2;
  const out = new (w.data.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(w.data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        // HF half layout row (i, j) = i·half + j  ↔  interleaved layout row (j, i) = 2j + i.
        const hfRow = h * hd + i * half + j;
        const ilRow = h * hd + 2 * j + i;
        const [dst, src] = forward ? [ilRow, hfRow] : [hfRow, ilRow];
        out.set(w.data.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return { dtype: w.dtype, shape: [...w.shape], data: out };
}

/**
 * convert_hf_to_gguf.py's Q/K permutation: reshape the rows to (heads, 2, headDim/2), swap the last two axes. Row
 * pairs (j, j + headDim/2) of each head — the pairs HF's half RoPE rotates — become adjacent rows (2j, 2j+1), which
 * llama.cpp's interleaved RoPE rotates with the same frequency θ_j. `heads` is numHeads for q, numKvHeads for k.
 * (The scores q·k are unchanged: q and k get the same within-head permutation.)
 */
export function permuteForInterleavedRope(w: HostTensor, heads: number): HostTensor {
  return permuteRows(w, heads, true);
}

/** The inverse of permuteForInterleavedRope (GGUF/llama2.c Q/K rows → HF half-RoPE order). */
export function unpermuteFromInterleavedRope(w: HostTensor, heads: number): HostTensor {
  return permuteRows(w, heads, false);
}
