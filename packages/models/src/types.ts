/**
 * ModelArchitecture: one normalised description of a decoder-only transformer, whatever config.json it came from.
 * Sizes are element counts; the names follow the papers (GQA, MLA, MoE) rather than any one config's keys, and each
 * field's doc names the config.json key(s) it comes from.
 */

/** The config.json `model_type`s this package reads. */
export const MODEL_TYPES = [
  'llama',
  'mistral',
  'mixtral',
  'qwen2',
  'qwen3',
  'qwen3_moe',
  'deepseek_v2',
  'deepseek_v3',
] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

/** The dtype a checkpoint declares (`torch_dtype`, or `dtype` in newer transformers). */
export type CheckpointDtype = 'f32' | 'bf16' | 'f16';

/** RoPE scaling (`rope_scaling`), when the config asks for one. */
export interface RopeScaling {
  /** `rope_type` (or the older `type`). */
  type: 'linear' | 'dynamic' | 'llama3' | 'yarn' | 'longrope';
  factor: number;
  /** `original_max_position_embeddings`: the context the model was pre-trained at. */
  originalMaxPositionEmbeddings: number | null;
  /** The type's other numeric parameters as given (`low_freq_factor`, `beta_fast`, `mscale`, …), by config key. */
  params: Readonly<Record<string, number>>;
}

export interface Rope {
  /** `rope_theta`. */
  theta: number;
  /** Dimensions per head that are rotated: head_dim for GQA, qk_rope_head_dim for MLA. */
  rotaryDim: number;
  scaling: RopeScaling | null;
}

/** Grouped-query attention (MHA when numKvHeads = numHeads, MQA when 1). */
export interface GqaAttention {
  kind: 'gqa';
  /** `num_attention_heads`. */
  numHeads: number;
  /** `num_key_value_heads` (defaults to numHeads, as transformers does). */
  numKvHeads: number;
  /** `head_dim`, or hidden_size / num_attention_heads. */
  headDim: number;
  /** Biases on the q, k and v projections (Qwen2 always; Llama and Qwen3 when `attention_bias`). */
  qkvBias: boolean;
  /** A bias on the output projection (Llama and Qwen3 when `attention_bias`). */
  outputBias: boolean;
  /** RMSNorm over each head of q and k (Qwen3's q_norm / k_norm, headDim weights each). */
  qkNorm: boolean;
  /** Sliding-window attention: the window and how many layers use it (the last ones); null = full attention. */
  slidingWindow: { size: number; layers: number } | null;
}

/** DeepSeek's multi-head latent attention (DeepSeek-V2 paper, arXiv 2405.04434, §2.1). */
export interface MlaAttention {
  kind: 'mla';
  /** `num_attention_heads`. */
  numHeads: number;
  /** `q_lora_rank`: queries go through a low-rank bottleneck of this size; null = a plain q projection. */
  qLoraRank: number | null;
  /** `kv_lora_rank` (d_c): the compressed latent that is cached instead of keys and values. */
  kvLoraRank: number;
  /** `qk_nope_head_dim`: the part of each q/k head without position encoding. */
  qkNopeHeadDim: number;
  /** `qk_rope_head_dim` (d_h^R): the decoupled RoPE part; its key is shared by all heads and cached. */
  qkRopeHeadDim: number;
  /** `v_head_dim`. */
  vHeadDim: number;
  /** `attention_bias`: biases on q_a (or q), kv_a and o projections. */
  bias: boolean;
}

export type Attention = GqaAttention | MlaAttention;

/** A gated feed-forward block (gate, up, down: SwiGLU for silu). */
export interface DenseMlp {
  /** `intermediate_size`. */
  intermediateSize: number;
  /** `hidden_act`. */
  activation: string;
  /** `mlp_bias` (Llama): biases on gate, up and down. */
  bias: boolean;
}

/** Which layers are MoE layers (the rest use the dense MLP). */
export type MoeLayout =
  /** Mixtral: every layer. */
  | { kind: 'all' }
  /**
   * DeepSeek: layer i is MoE when i ≥ firstKDense (`first_k_dense_replace`) and i % layerFreq = 0 (`moe_layer_freq`),
   * as in transformers' DeepseekV3DecoderLayer and vLLM's deepseek_v2.py.
   */
  | { kind: 'first-k-dense'; firstKDense: number; layerFreq: number }
  /**
   * Qwen-MoE: layer i is MoE when i is not in `mlp_only_layers` and (i + 1) % `decoder_sparse_step` = 0, as in
   * transformers' Qwen3MoeDecoderLayer.
   */
  | { kind: 'sparse-step'; sparseStep: number; mlpOnlyLayers: readonly number[] };

export interface Moe {
  /** Routed experts per MoE layer (`n_routed_experts`, `num_experts`, `num_local_experts`). */
  numExperts: number;
  /** `num_experts_per_tok`: routed experts each token goes through. */
  numExpertsPerToken: number;
  /** `n_shared_experts`: experts every token goes through (DeepSeek); 0 elsewhere. */
  numSharedExperts: number;
  /** `moe_intermediate_size` (Mixtral: `intermediate_size`): the intermediate size of one expert. */
  expertIntermediateSize: number;
  /** `norm_topk_prob`: the selected experts' weights are renormalised to sum to 1 (Mixtral always does). */
  normTopkProb: boolean;
  /** `scoring_func`: how router logits become weights. */
  scoringFunc: 'softmax' | 'sigmoid';
  /** DeepSeek-V3's `e_score_correction_bias` (one f32 per expert, present when `topk_method` is `noaux_tc`). */
  routerBias: boolean;
  /** `routed_scaling_factor` (1 when absent). */
  routedScalingFactor: number;
  /** `n_group` / `topk_group`: group-limited routing (DeepSeek); null when absent. */
  numExpertGroups: number | null;
  topkGroups: number | null;
  layout: MoeLayout;
}

/** Block or per-tensor FP8 weights (`quantization_config` with `quant_method: "fp8"`). */
export interface Fp8Quantization {
  method: 'fp8';
  /** `fmt`: e4m3 unless the config says e5m2. */
  format: 'e4m3' | 'e5m2';
  /** `activation_scheme`. */
  activationScheme: 'dynamic' | 'static';
  /** `weight_block_size` [rows, cols]: one f32 scale per block of the weight; null = one scale per tensor. */
  weightBlockSize: readonly [number, number] | null;
  /** `modules_to_not_convert`, as given (recorded, not interpreted). */
  modulesToNotConvert: readonly string[];
}

export type Quantization = Fp8Quantization;

export interface ModelArchitecture {
  modelType: ModelType;
  /** `architectures`. */
  architectures: readonly string[];
  /** `vocab_size`. */
  vocabSize: number;
  /** `hidden_size`. */
  hiddenSize: number;
  /** `num_hidden_layers`: the main decoder stack, MTP layers not included. */
  numLayers: number;
  /** `max_position_embeddings`. */
  maxPositionEmbeddings: number;
  /** `tie_word_embeddings`: the LM head reuses the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** `rms_norm_eps`. */
  rmsNormEps: number;
  attention: Attention;
  /** The dense FFN: every layer of a dense model, the non-MoE layers of an MoE model. */
  mlp: DenseMlp;
  moe: Moe | null;
  /** How many of the numLayers layers are dense and MoE. */
  layers: { dense: number; moe: number };
  /** DeepSeek's multi-token-prediction modules (`num_nextn_predict_layers`); null when none. */
  mtp: { numLayers: number } | null;
  rope: Rope;
  /** The checkpoint's dtype; null when the config does not say. */
  dtype: CheckpointDtype | null;
  quantization: Quantization | null;
}
