/**
 * Hugging Face checkpoints: config.json ⇄ LlamaConfig, HF tensor names ⇄ canonical names, and the bos/eos ids from
 * config.json / generation_config.json. Llama and Mistral (without a sliding window) share one layout:
 *
 *   model.embed_tokens.weight                       (vocab, hidden)            → embed
 *   model.layers.N.input_layernorm.weight           (hidden)                   → layers.N.attn_norm
 *   model.layers.N.self_attn.{q,k,v,o}_proj.weight  (see types.ts)             → layers.N.{q,k,v,o}
 *   model.layers.N.post_attention_layernorm.weight  (hidden)                   → layers.N.ffn_norm
 *   model.layers.N.mlp.{gate,up,down}_proj.weight   (inter, hidden)/(hidden, inter) → layers.N.{gate,up,down}
 *   model.norm.weight                               (hidden)                   → final_norm
 *   lm_head.weight                                  (vocab, hidden)            → lm_head (absent when tied)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTensor, LlamaConfig, TensorMap, WeightDType } from '@tessera/serve';
import { ModelLoadError } from '../errors';
import { formatError, showValue } from './binary';
import { assembleCanonical, type ConfigFieldNames, checkLayerCount, validateConfig } from './canonical';

export interface SpecialTokenIds {
  bosTokenId: number | null;
  /** Every id that ends generation (generation_config.json often lists several). */
  eosTokenIds: number[];
}

const ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM'];
const TORCH_DTYPES: Record<string, WeightDType> = { float32: 'f32', float16: 'f16', bfloat16: 'bf16' };
const FROM_DTYPE: Record<WeightDType, string> = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };

/** A ModelFormatError for `field` when given (a value breaking the format), else a ModelLoadError (unsupported). */
/** The config.json key of each config number, for errors. */
const HF_FIELDS: ConfigFieldNames = {
  vocabSize: 'vocab_size',
  hiddenSize: 'hidden_size',
  intermediateSize: 'intermediate_size',
  numLayers: 'num_hidden_layers',
  numHeads: 'num_attention_heads',
  numKvHeads: 'num_key_value_heads',
  headDim: 'head_dim',
  maxPositionEmbeddings: 'max_position_embeddings',
  rmsNormEps: 'rms_norm_eps',
  ropeTheta: 'rope_theta',
};

function fail(file: string, message: string, field?: string, limit?: string): never {
  if (field !== undefined) throw formatError(file, field, message, limit === undefined ? {} : { limit });
  throw new ModelLoadError(`${file}: ${message}`, { file });
}

/** A value for an error message, cut short (a hostile config can put megabytes in one field). */
const shown = showValue;

/**
 * config.json (already parsed) → LlamaConfig. `dtype` comes from torch_dtype/dtype; the loader replaces it with the
 * dtype the weights are actually stored in (checkpoints sometimes disagree with their config).
 */
export function parseHfConfig(json: unknown, file: string): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'is not a JSON object.', '(root)');
  const c = json as Record<string, unknown>;
  const archs = Array.isArray(c['architectures']) ? (c['architectures'] as unknown[]) : [];
  const modelType = c['model_type'];
  const known =
    archs.some((a) => ARCHITECTURES.includes(a as string)) || modelType === 'llama' || modelType === 'mistral';
  if (!known) {
    fail(
      file,
      `architecture ${JSON.stringify(archs.length ? archs : modelType)} is not supported; this server runs ` +
        `${ARCHITECTURES.join(' and ')} checkpoints.`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      fail(file, `is missing "${key}".`, key);
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      fail(file, `"${key}" must be a positive integer, got ${shown(v)}.`, key, '1 to 2^53 − 1');
    }
    return v;
  };
  const num = (key: string, fallback?: number): number => {
    const v = c[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      fail(file, `is missing "${key}".`, key);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(file, `"${key}" must be a number, got ${shown(v)}.`, key);
    return v;
  };
  if (c['rope_scaling'] !== undefined && c['rope_scaling'] !== null) {
    fail(file, `rope_scaling ${shown(c['rope_scaling'])} is unsupported (only plain RoPE is implemented).`);
  }
  const act = c['hidden_act'];
  if (act !== undefined && act !== 'silu') fail(file, `hidden_act ${shown(act)} is unsupported (only silu).`);
  if (c['attention_bias'] === true || c['mlp_bias'] === true) {
    fail(file, 'attention_bias / mlp_bias are unsupported (the model has no bias terms).');
  }
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const maxPositionEmbeddings = int('max_position_embeddings');
  const sliding = c['sliding_window'];
  if (sliding !== undefined && sliding !== null && !(typeof sliding === 'number' && sliding >= maxPositionEmbeddings)) {
    fail(file, `sliding_window ${shown(sliding)} is unsupported (only full attention is implemented).`);
  }
  if (c['head_dim'] == null && hiddenSize % numHeads !== 0) {
    fail(
      file,
      `hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}; set head_dim.`,
      'head_dim',
    );
  }
  const dtypeName = c['torch_dtype'] ?? c['dtype'];
  const tie = c['tie_word_embeddings'] ?? false;
  if (typeof tie !== 'boolean') fail(file, `"tie_word_embeddings" must be a boolean.`, 'tie_word_embeddings');
  const config: LlamaConfig = {
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads: int('num_key_value_heads', numHeads),
    headDim: int('head_dim', hiddenSize / numHeads),
    maxPositionEmbeddings,
    rmsNormEps: num('rms_norm_eps'),
    ropeTheta: num('rope_theta', 10000),
    ropeConvention: 'half',
    tieWordEmbeddings: tie,
    dtype: (typeof dtypeName === 'string' && TORCH_DTYPES[dtypeName]) || 'f32',
  };
  validateConfig(config, file, HF_FIELDS);
  return config;
}

/** The HF file name of a canonical tensor. */
export function hfNameOf(canonical: string): string {
  const m = /^layers\.(\d+)\.(\w+)$/.exec(canonical);
  if (m) {
    const p = `model.layers.${m[1]}`;
    const leaf: Record<string, string> = {
      attn_norm: 'input_layernorm',
      q: 'self_attn.q_proj',
      k: 'self_attn.k_proj',
      v: 'self_attn.v_proj',
      o: 'self_attn.o_proj',
      ffn_norm: 'post_attention_layernorm',
      gate: 'mlp.gate_proj',
      up: 'mlp.up_proj',
      down: 'mlp.down_proj',
    };
    const l = leaf[m[2]!];
    if (l) return `${p}.${l}.weight`;
  }
  const top: Record<string, string> = {
    embed: 'model.embed_tokens.weight',
    final_norm: 'model.norm.weight',
    lm_head: 'lm_head.weight',
  };
  const t = top[canonical];
  if (!t) throw new Error(`hfNameOf: ${canonical} is not a canonical tensor name.`);
  return t;
}

/**
 * Whether the loader reads `name`: the tensors the model needs, plus projection biases so that mapHfTensors can refuse
 * them. Everything else (rotary inv_freq buffers and the like) is skipped without being read.
 */
export function isHfModelTensor(name: string): boolean {
  const layer =
    /^model\.layers\.\d+\.(input_layernorm\.weight|post_attention_layernorm\.weight|(self_attn\.[qkvo]|mlp\.(gate|up|down))_proj\.(weight|bias))$/;
  return layer.test(name) || ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight'].includes(name);
}

/**
 * HF-named tensors → canonical TensorMap for `config`, checking presence and shapes. A tied model may omit lm_head
 * (a stored copy is ignored, as transformers does); an untied one must have it. Bias tensors for the projections mean
 * a model variant we do not run, so they are refused rather than silently dropped.
 */
export function mapHfTensors(
  config: LlamaConfig,
  tensors: Map<string, HostTensor>,
  fileOf: Map<string, string>,
  where: string,
): TensorMap {
  // Before any per-layer name is built: num_hidden_layers must be backed by tensors actually present.
  checkLayerCount(config.numLayers, tensors.size, {
    file: path.join(where, 'config.json'),
    field: 'num_hidden_layers',
  });
  for (const name of tensors.keys()) {
    if (/\.(q|k|v|o|gate|up|down)_proj\.bias$/.test(name)) {
      throw new ModelLoadError(`${fileOf.get(name) ?? where}: tensor ${name} is a bias; biases are unsupported.`, {
        file: fileOf.get(name) ?? where,
        tensor: name,
      });
    }
  }
  return assembleCanonical(config, {
    nameOf: hfNameOf,
    get: (n) => {
      const tensor = tensors.get(n);
      return tensor && { tensor, file: fileOf.get(n) ?? where };
    },
    where,
  });
}

/** Canonical TensorMap → HF names (for writing a checkpoint). */
export function toHfTensors(tensors: TensorMap): Map<string, HostTensor> {
  return new Map([...tensors].map(([k, t]) => [hfNameOf(k), t]));
}

/** LlamaConfig → a config.json object that transformers (and our reader) load as LlamaForCausalLM. */
export function hfConfigJson(config: LlamaConfig, special: SpecialTokenIds = { bosTokenId: null, eosTokenIds: [] }) {
  if (config.ropeConvention !== 'half') {
    throw new Error(
      'hfConfigJson: HF checkpoints use half-rotation RoPE; un-permute Q/K of an interleaved model first.',
    );
  }
  const eos = special.eosTokenIds;
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    hidden_act: 'silu',
    max_position_embeddings: config.maxPositionEmbeddings,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: config.tieWordEmbeddings,
    torch_dtype: FROM_DTYPE[config.dtype],
    bos_token_id: special.bosTokenId,
    eos_token_id: eos.length === 1 ? eos[0] : eos.length === 0 ? null : eos,
  };
}

function idList(v: unknown): number[] | null {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) return v;
  return null;
}

/** bos/eos ids from config.json, overridden by generation_config.json where it sets them (transformers does the same). */
export function specialIdsFrom(config: unknown, generationConfig: unknown): SpecialTokenIds {
  const pick = (key: string): number[] | null =>
    idList((generationConfig as Record<string, unknown> | null)?.[key]) ??
    idList((config as Record<string, unknown> | null)?.[key]);
  return { bosTokenId: pick('bos_token_id')?.[0] ?? null, eosTokenIds: pick('eos_token_id') ?? [] };
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelLoadError(`${file}: cannot read JSON (${(e as Error).message}).`, { file });
  }
}

/** Reads `dir`/config.json (+ generation_config.json if present). */
export function readHfConfigDir(dir: string): { config: LlamaConfig; special: SpecialTokenIds } {
  const file = path.join(dir, 'config.json');
  const json = readJson(file);
  const genFile = path.join(dir, 'generation_config.json');
  const gen = fs.existsSync(genFile) ? readJson(genFile) : null;
  return { config: parseHfConfig(json, file), special: specialIdsFrom(json, gen) };
}
