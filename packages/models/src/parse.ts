/**
 * config.json → ModelArchitecture. The input is untrusted: every field is read as an own property (a key named
 * `constructor` or `__proto__` reads as absent, never as Object.prototype's), checked for type and for a range that
 * makes physical sense, and nothing is allocated in proportion to a count before the count is checked. Unknown keys
 * are ignored, as transformers ignores them.
 */
import { CONFIG_LIMITS, checkInt, Reader } from './config-reader';
import { ModelConfigError, showValue } from './errors';
import { isMoeLayer, tensorGroups } from './tensors';
import {
  type Attention,
  type CheckpointDtype,
  type DenseMlp,
  type GqaAttention,
  type MlaAttention,
  MODEL_TYPES,
  type ModelArchitecture,
  type ModelType,
  type Moe,
  type MoeLayout,
  type Quantization,
  type Rope,
  type RopeScaling,
} from './types';

export interface ParseOptions {
  /** Named in error messages (a file name, a model id). */
  source?: string;
}

/** Parses config.json text: length-checked before JSON.parse, then parseModelConfig. */
export function parseModelConfigText(text: string, options: ParseOptions = {}): ModelArchitecture {
  const { source } = options;
  if (typeof text !== 'string') {
    throw new ModelConfigError('type', '(root)', `config text must be a string, got ${showValue(text)}.`, source);
  }
  if (text.length > CONFIG_LIMITS.maxTextLength) {
    throw new ModelConfigError(
      'too_large',
      '(root)',
      `config text is ${text.length} characters; the limit is ${CONFIG_LIMITS.maxTextLength}.`,
      source,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelConfigError('invalid_json', '(root)', `not JSON (${(e as Error).message}).`, source);
  }
  return parseModelConfig(json, options);
}

/** Parses an already-parsed config.json value. */
export function parseModelConfig(json: unknown, options: ParseOptions = {}): ModelArchitecture {
  const { source } = options;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelConfigError('invalid_json', '(root)', `must be a JSON object, got ${showValue(json)}.`, source);
  }
  const r = new Reader(json as Record<string, unknown>, '', source);
  const modelType = r.enumString('model_type', MODEL_TYPES) as ModelType;
  const architectures = r.stringArray('architectures', CONFIG_LIMITS.maxArchitectures, []);
  const vocabSize = r.int('vocab_size', 1, CONFIG_LIMITS.maxVocabSize);
  const hiddenSize = r.int('hidden_size', 1, CONFIG_LIMITS.maxHiddenSize);
  const numLayers = r.int('num_hidden_layers', 1, CONFIG_LIMITS.maxLayers);
  const maxPositionEmbeddings = r.int('max_position_embeddings', 1, CONFIG_LIMITS.maxPositions);
  const tieWordEmbeddings = r.bool('tie_word_embeddings', false);
  const rmsNormEps = r.num('rms_norm_eps', { gt: 0, lt: 1 }, 1e-6);
  const activation = r.enumString('hidden_act', ACTIVATIONS, 'silu');
  const dtype = parseDtype(r);
  const isDeepseek = modelType === 'deepseek_v2' || modelType === 'deepseek_v3';

  const mlp: DenseMlp = {
    intermediateSize: r.int('intermediate_size', 1, CONFIG_LIMITS.maxIntermediateSize),
    activation,
    bias: modelType === 'llama' ? r.bool('mlp_bias', false) : false,
  };
  const attention: Attention = isDeepseek
    ? parseMla(r, hiddenSize)
    : parseGqa(r, modelType, hiddenSize, numLayers, maxPositionEmbeddings);
  const rotaryDim = attention.kind === 'mla' ? attention.qkRopeHeadDim : attention.headDim;
  const rope: Rope = {
    theta: r.num('rope_theta', { gt: 0, max: CONFIG_LIMITS.maxRopeTheta }, modelType === 'mixtral' ? 1e6 : 10000),
    rotaryDim,
    scaling: parseRopeScaling(r),
  };
  const moe = parseMoe(r, modelType, numLayers);
  const mtpLayers = isDeepseek ? r.int('num_nextn_predict_layers', 0, CONFIG_LIMITS.maxMtpLayers, 0) : 0;
  const quantization = parseQuantization(r);

  let moeLayers = 0;
  const partial = { numLayers, moe } as const;
  for (let i = 0; i < numLayers; i++) if (isMoeLayer(partial, i)) moeLayers++;

  const arch: ModelArchitecture = {
    modelType,
    architectures,
    vocabSize,
    hiddenSize,
    numLayers,
    maxPositionEmbeddings,
    tieWordEmbeddings,
    rmsNormEps,
    attention,
    mlp,
    moe,
    layers: { dense: numLayers - moeLayers, moe: moeLayers },
    mtp: mtpLayers > 0 ? { numLayers: mtpLayers } : null,
    rope,
    dtype,
    quantization,
  };
  // Every count derived later must be an exact double: refuse a model whose checkpoint would not be.
  let elements = 0;
  for (const g of tensorGroups(arch)) elements += g.rows * g.cols * g.count;
  if (!(elements <= CONFIG_LIMITS.maxParameters)) {
    throw new ModelConfigError(
      'range',
      '(root)',
      `the fields describe ${elements.toExponential(3)} parameters; the limit is ${CONFIG_LIMITS.maxParameters.toExponential(0)}.`,
      source,
    );
  }
  return arch;
}

const ACTIVATIONS = ['silu', 'swish', 'gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'] as const;
const DTYPES: Readonly<Record<string, CheckpointDtype>> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };

function parseDtype(r: Reader): CheckpointDtype | null {
  // transformers ≥ 4.56 writes `dtype`; earlier versions `torch_dtype`.
  const key = r.has('torch_dtype') ? 'torch_dtype' : 'dtype';
  if (!r.has(key)) return null;
  const name = r.enumString(key, Object.keys(DTYPES));
  return DTYPES[name] ?? null;
}

function parseGqa(
  r: Reader,
  modelType: ModelType,
  hiddenSize: number,
  numLayers: number,
  maxPositions: number,
): GqaAttention {
  const numHeads = r.int('num_attention_heads', 1, CONFIG_LIMITS.maxHeads);
  const numKvHeads = r.int('num_key_value_heads', 1, CONFIG_LIMITS.maxHeads, numHeads);
  if (numKvHeads > numHeads || numHeads % numKvHeads !== 0) {
    r.fail(
      'inconsistent',
      'num_key_value_heads',
      `${numKvHeads} must divide num_attention_heads (${numHeads}): each KV head serves a whole group of query heads.`,
    );
  }
  let headDim: number;
  if (r.has('head_dim')) {
    headDim = r.int('head_dim', 1, CONFIG_LIMITS.maxHeadDim);
  } else {
    if (hiddenSize % numHeads !== 0) {
      r.fail(
        'inconsistent',
        'num_attention_heads',
        `${numHeads} does not divide hidden_size (${hiddenSize}), and there is no head_dim to say the head size.`,
      );
    }
    headDim = hiddenSize / numHeads;
    if (headDim > CONFIG_LIMITS.maxHeadDim) {
      r.fail(
        'range',
        'num_attention_heads',
        `gives a head size of ${headDim}; the limit is ${CONFIG_LIMITS.maxHeadDim}.`,
      );
    }
  }
  const attentionBias =
    modelType === 'llama' || modelType === 'qwen3' || modelType === 'qwen3_moe'
      ? r.bool('attention_bias', false)
      : false;
  let slidingWindow: GqaAttention['slidingWindow'] = null;
  if (modelType === 'mistral' || modelType === 'mixtral') {
    const size = r.optionalInt('sliding_window', 1, CONFIG_LIMITS.maxPositions);
    if (size !== null && size < maxPositions) slidingWindow = { size, layers: numLayers };
  } else if (modelType === 'qwen2' || modelType === 'qwen3' || modelType === 'qwen3_moe') {
    // Qwen: the window applies only when use_sliding_window is set, and only past the first max_window_layers layers.
    const size = r.optionalInt('sliding_window', 1, CONFIG_LIMITS.maxPositions);
    const enabled = r.bool('use_sliding_window', false);
    const fullLayers = r.int('max_window_layers', 0, CONFIG_LIMITS.maxLayers, numLayers);
    if (enabled && size !== null && size < maxPositions && fullLayers < numLayers) {
      slidingWindow = { size, layers: numLayers - fullLayers };
    }
  }
  return {
    kind: 'gqa',
    numHeads,
    numKvHeads,
    headDim,
    qkvBias: modelType === 'qwen2' || attentionBias,
    outputBias: attentionBias,
    qkNorm: modelType === 'qwen3' || modelType === 'qwen3_moe',
    slidingWindow,
  };
}

function parseMla(r: Reader, hiddenSize: number): MlaAttention {
  const attention: MlaAttention = {
    kind: 'mla',
    numHeads: r.int('num_attention_heads', 1, CONFIG_LIMITS.maxHeads),
    qLoraRank: r.optionalInt('q_lora_rank', 1, CONFIG_LIMITS.maxLoraRank),
    kvLoraRank: r.int('kv_lora_rank', 1, CONFIG_LIMITS.maxLoraRank),
    qkNopeHeadDim: r.int('qk_nope_head_dim', 0, CONFIG_LIMITS.maxHeadDim),
    qkRopeHeadDim: r.int('qk_rope_head_dim', 1, CONFIG_LIMITS.maxHeadDim),
    vHeadDim: r.int('v_head_dim', 1, CONFIG_LIMITS.maxHeadDim),
    bias: r.bool('attention_bias', false),
  };
  // A low-rank bottleneck wider than what it compresses is not low-rank: the config is wrong.
  if (attention.kvLoraRank > hiddenSize) {
    r.fail('inconsistent', 'kv_lora_rank', `${attention.kvLoraRank} exceeds hidden_size (${hiddenSize}).`);
  }
  if (attention.qLoraRank !== null && attention.qLoraRank > hiddenSize) {
    r.fail('inconsistent', 'q_lora_rank', `${attention.qLoraRank} exceeds hidden_size (${hiddenSize}).`);
  }
  return attention;
}

const ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3', 'yarn', 'longrope'] as const;
/** Numeric rope_scaling parameters recorded when present, by config key. */
const ROPE_PARAMS = [
  'low_freq_factor',
  'high_freq_factor',
  'beta_fast',
  'beta_slow',
  'mscale',
  'mscale_all_dim',
  'attn_factor',
];

function parseRopeScaling(r: Reader): RopeScaling | null {
  const s = r.optionalObject('rope_scaling');
  if (s === null) return null;
  const typeKey = s.has('rope_type') ? 'rope_type' : 'type';
  const type = s.enumString(typeKey, ROPE_TYPES);
  if (type === 'default') return null;
  const params: Record<string, number> = {};
  for (const key of ROPE_PARAMS) {
    if (s.has(key)) params[key] = s.num(key, { gt: 0, max: 1e6 });
  }
  return {
    type: type as RopeScaling['type'],
    factor: s.num('factor', { gt: 0, max: CONFIG_LIMITS.maxRopeFactor }),
    originalMaxPositionEmbeddings: s.optionalInt('original_max_position_embeddings', 1, CONFIG_LIMITS.maxPositions),
    params,
  };
}

function parseMoe(r: Reader, modelType: ModelType, numLayers: number): Moe | null {
  let numExperts: number;
  let numExpertsPerToken: number;
  let expertIntermediateSize: number;
  let layout: MoeLayout;
  let numSharedExperts = 0;
  let normTopkProb: boolean;
  let scoringFunc: Moe['scoringFunc'] = 'softmax';
  let routerBias = false;
  let routedScalingFactor = 1;
  let numExpertGroups: number | null = null;
  let topkGroups: number | null = null;
  const topK = (experts: number, fallback?: number): number => {
    const k = r.int('num_experts_per_tok', 1, CONFIG_LIMITS.maxExperts, fallback);
    if (k > experts) r.fail('inconsistent', 'num_experts_per_tok', `${k} exceeds the ${experts} experts per layer.`);
    return k;
  };
  switch (modelType) {
    case 'mixtral':
      numExperts = r.int('num_local_experts', 1, CONFIG_LIMITS.maxExperts, 8);
      numExpertsPerToken = topK(numExperts, 2);
      expertIntermediateSize = r.int('intermediate_size', 1, CONFIG_LIMITS.maxIntermediateSize);
      normTopkProb = true; // softmax over the top-k logits (transformers' MixtralSparseMoeBlock)
      layout = { kind: 'all' };
      break;
    case 'qwen3_moe': {
      numExperts = r.int('num_experts', 0, CONFIG_LIMITS.maxExperts, 128);
      if (numExperts === 0) return null;
      numExpertsPerToken = topK(numExperts, 8);
      expertIntermediateSize = r.int('moe_intermediate_size', 1, CONFIG_LIMITS.maxIntermediateSize);
      normTopkProb = r.bool('norm_topk_prob', false);
      const sparseStep = r.int('decoder_sparse_step', 1, numLayers, 1);
      const mlpOnlyLayers = r.layerList('mlp_only_layers', numLayers);
      layout = { kind: 'sparse-step', sparseStep, mlpOnlyLayers };
      break;
    }
    case 'deepseek_v2':
    case 'deepseek_v3': {
      const experts = r.optionalInt('n_routed_experts', 1, CONFIG_LIMITS.maxExperts);
      if (experts === null) return null;
      numExperts = experts;
      numExpertsPerToken = topK(numExperts);
      expertIntermediateSize = r.int('moe_intermediate_size', 1, CONFIG_LIMITS.maxIntermediateSize);
      numSharedExperts = r.optionalInt('n_shared_experts', 0, CONFIG_LIMITS.maxSharedExperts) ?? 0;
      normTopkProb = r.bool('norm_topk_prob', false);
      scoringFunc = r.enumString('scoring_func', ['softmax', 'sigmoid'], 'softmax') as Moe['scoringFunc'];
      const topkMethod = r.enumString(
        'topk_method',
        ['greedy', 'group_limited_greedy', 'noaux_tc'],
        modelType === 'deepseek_v3' ? 'noaux_tc' : 'greedy',
      );
      routerBias = topkMethod === 'noaux_tc';
      routedScalingFactor = r.num('routed_scaling_factor', { gt: 0, max: 1e4 }, 1);
      numExpertGroups = r.optionalInt('n_group', 1, numExperts);
      topkGroups = r.optionalInt('topk_group', 1, numExperts);
      if (numExpertGroups !== null && numExperts % numExpertGroups !== 0) {
        r.fail('inconsistent', 'n_group', `${numExpertGroups} does not divide n_routed_experts (${numExperts}).`);
      }
      if (numExpertGroups !== null && topkGroups !== null && topkGroups > numExpertGroups) {
        r.fail('inconsistent', 'topk_group', `${topkGroups} exceeds n_group (${numExpertGroups}).`);
      }
      layout = {
        kind: 'first-k-dense',
        firstKDense: r.int('first_k_dense_replace', 0, numLayers, 0),
        layerFreq: r.int('moe_layer_freq', 1, numLayers, 1),
      };
      break;
    }
    default:
      return null;
  }
  return {
    numExperts,
    numExpertsPerToken,
    numSharedExperts,
    expertIntermediateSize,
    normTopkProb,
    scoringFunc,
    routerBias,
    routedScalingFactor,
    numExpertGroups,
    topkGroups,
    layout,
  };
}

function parseQuantization(r: Reader): Quantization | null {
  const q = r.optionalObject('quantization_config');
  if (q === null) return null;
  const method = q.string('quant_method');
  if (method !== 'fp8') {
    q.fail('unsupported', 'quant_method', `${showValue(method)} is not modelled; supported: "fp8".`);
  }
  let weightBlockSize: readonly [number, number] | null = null;
  if (q.has('weight_block_size') && q.raw('weight_block_size') !== null) {
    const v = q.raw('weight_block_size');
    if (!Array.isArray(v) || v.length !== 2) {
      q.fail('type', 'weight_block_size', `must be [rows, cols], got ${showValue(v)}.`);
    }
    const [rows, cols] = v as unknown[];
    weightBlockSize = [
      checkInt(q, 'weight_block_size.0', rows, 1, CONFIG_LIMITS.maxBlockSize),
      checkInt(q, 'weight_block_size.1', cols, 1, CONFIG_LIMITS.maxBlockSize),
    ];
  }
  return {
    method: 'fp8',
    format: q.enumString('fmt', ['e4m3', 'e5m2'], 'e4m3') as 'e4m3' | 'e5m2',
    activationScheme: q.enumString('activation_scheme', ['dynamic', 'static'], 'dynamic') as 'dynamic' | 'static',
    weightBlockSize,
    modulesToNotConvert: q.stringArray('modules_to_not_convert', CONFIG_LIMITS.maxModulesToNotConvert, []),
  };
}
