/**
 * The tensors an architecture implies, grouped: one entry per kind of tensor with how many the model holds and how
 * many one token goes through. Parameter counts, checkpoint bytes and FLOPs are all sums over this one list, so they
 * cannot disagree. Nothing here grows with the layer or expert count: identical layers are one group with a count.
 *
 * Shapes and names follow the Hugging Face checkpoints (transformers' modeling_llama / _mixtral / _qwen2 / _qwen3 /
 * _qwen3_moe / _deepseek_v3, and DeepSeek's README_WEIGHTS.md for the MTP module). A weight is (rows, cols) =
 * (out_features, in_features) as stored; a vector is (n, 1).
 */
import type { ModelArchitecture, Moe } from './types';

export type ParameterCategory = 'embedding' | 'attention' | 'mlp' | 'norms' | 'lmHead' | 'other';

/** Where a group's tensors live: the model's own, every dense or MoE decoder layer, or the MTP modules. */
export type TensorScope = 'model' | 'dense-layers' | 'moe-layers' | 'mtp';

export interface TensorGroup {
  /** The checkpoint name, `*` standing for the layer (and expert) index. */
  name: string;
  category: ParameterCategory;
  scope: TensorScope;
  rows: number;
  cols: number;
  /** Tensors of this group in the model. */
  count: number;
  /** Tensors of this group one token goes through (for routed experts: the k it is routed to, per layer). */
  activeCount: number;
  /**
   * Whether a block-FP8 checkpoint stores it in FP8: the projections inside decoder layers (attention, dense MLP,
   * experts, shared experts). Embeddings, the LM head, routers, norms, biases and MTP's eh_proj stay in the checkpoint
   * dtype — the split DeepSeek-V3's checkpoint has (its safetensors BF16 / F8_E4M3 / F32 totals, checked in the tests)
   * and the layers vLLM's Fp8LinearMethod quantises.
   */
  fp8: boolean;
  /** Stored in f32 whatever the checkpoint dtype (DeepSeek-V3's e_score_correction_bias). */
  f32: boolean;
}

/** Whether main-stack layer `index` (or MTP layer numLayers + k, for DeepSeek) is an MoE layer. */
export function isMoeLayer(arch: { moe: Moe | null }, index: number): boolean {
  const moe = arch.moe;
  if (moe === null) return false;
  const layout = moe.layout;
  switch (layout.kind) {
    case 'all':
      return true;
    case 'first-k-dense':
      return index >= layout.firstKDense && index % layout.layerFreq === 0;
    case 'sparse-step':
      return !layout.mlpOnlyLayers.includes(index) && (index + 1) % layout.sparseStep === 0;
  }
}

interface Spec {
  name: string;
  category: ParameterCategory;
  rows: number;
  cols: number;
  /** Tensors per layer (per model for model scope). */
  per: number;
  /** Active tensors per layer; defaults to per. */
  activePer?: number;
  fp8?: boolean;
  f32?: boolean;
}

function attentionSpecs(arch: ModelArchitecture): Spec[] {
  const h = arch.hiddenSize;
  const a = arch.attention;
  const p = 'model.layers.*.self_attn';
  const specs: Spec[] = [];
  const lin = (name: string, rows: number, cols: number): void => {
    specs.push({ name: `${p}.${name}.weight`, category: 'attention', rows, cols, per: 1, fp8: true });
  };
  const vec = (name: string, n: number, category: 'attention' | 'norms' = 'attention'): void => {
    specs.push({ name: `${p}.${name}`, category, rows: n, cols: 1, per: 1 });
  };
  if (a.kind === 'gqa') {
    const q = a.numHeads * a.headDim;
    const kv = a.numKvHeads * a.headDim;
    lin('q_proj', q, h);
    lin('k_proj', kv, h);
    lin('v_proj', kv, h);
    lin('o_proj', h, q);
    if (a.qkvBias) {
      vec('q_proj.bias', q);
      vec('k_proj.bias', kv);
      vec('v_proj.bias', kv);
    }
    if (a.outputBias) vec('o_proj.bias', h);
    if (a.qkNorm) {
      vec('q_norm.weight', a.headDim, 'norms');
      vec('k_norm.weight', a.headDim, 'norms');
    }
  } else {
    const qkHead = a.qkNopeHeadDim + a.qkRopeHeadDim;
    if (a.qLoraRank === null) {
      lin('q_proj', a.numHeads * qkHead, h);
    } else {
      lin('q_a_proj', a.qLoraRank, h);
      if (a.bias) vec('q_a_proj.bias', a.qLoraRank);
      vec('q_a_layernorm.weight', a.qLoraRank, 'norms');
      lin('q_b_proj', a.numHeads * qkHead, a.qLoraRank);
    }
    lin('kv_a_proj_with_mqa', a.kvLoraRank + a.qkRopeHeadDim, h);
    if (a.bias) vec('kv_a_proj_with_mqa.bias', a.kvLoraRank + a.qkRopeHeadDim);
    vec('kv_a_layernorm.weight', a.kvLoraRank, 'norms');
    lin('kv_b_proj', a.numHeads * (a.qkNopeHeadDim + a.vHeadDim), a.kvLoraRank);
    lin('o_proj', h, a.numHeads * a.vHeadDim);
    if (a.bias) vec('o_proj.bias', h);
  }
  return specs;
}

/** A gated MLP's three projections (plus biases), `per` of them per layer, `activePer` used by a token. */
function gatedMlpSpecs(
  prefix: string,
  h: number,
  inter: number,
  bias: boolean,
  per: number,
  activePer: number,
): Spec[] {
  const specs: Spec[] = [
    { name: `${prefix}.gate_proj.weight`, category: 'mlp', rows: inter, cols: h, per, activePer, fp8: true },
    { name: `${prefix}.up_proj.weight`, category: 'mlp', rows: inter, cols: h, per, activePer, fp8: true },
    { name: `${prefix}.down_proj.weight`, category: 'mlp', rows: h, cols: inter, per, activePer, fp8: true },
  ];
  if (bias) {
    specs.push(
      { name: `${prefix}.gate_proj.bias`, category: 'mlp', rows: inter, cols: 1, per, activePer },
      { name: `${prefix}.up_proj.bias`, category: 'mlp', rows: inter, cols: 1, per, activePer },
      { name: `${prefix}.down_proj.bias`, category: 'mlp', rows: h, cols: 1, per, activePer },
    );
  }
  return specs;
}

function layerSpecs(arch: ModelArchitecture, moeLayer: boolean): Spec[] {
  const h = arch.hiddenSize;
  const specs = attentionSpecs(arch);
  specs.push(
    { name: 'model.layers.*.input_layernorm.weight', category: 'norms', rows: h, cols: 1, per: 1 },
    { name: 'model.layers.*.post_attention_layernorm.weight', category: 'norms', rows: h, cols: 1, per: 1 },
  );
  const moe = arch.moe;
  if (!moeLayer || moe === null) {
    specs.push(...gatedMlpSpecs('model.layers.*.mlp', h, arch.mlp.intermediateSize, arch.mlp.bias, 1, 1));
    return specs;
  }
  const mixtral = arch.modelType === 'mixtral';
  // Mixtral names its experts block_sparse_moe.experts.*.w1/w3/w2; the shapes are those of gate/up/down.
  const block = mixtral ? 'model.layers.*.block_sparse_moe' : 'model.layers.*.mlp';
  specs.push({ name: `${block}.gate.weight`, category: 'mlp', rows: moe.numExperts, cols: h, per: 1 });
  if (moe.routerBias) {
    specs.push({
      name: `${block}.gate.e_score_correction_bias`,
      category: 'mlp',
      rows: moe.numExperts,
      cols: 1,
      per: 1,
      f32: true,
    });
  }
  specs.push(
    ...gatedMlpSpecs(
      `${block}.experts.*`,
      h,
      moe.expertIntermediateSize,
      false,
      moe.numExperts,
      moe.numExpertsPerToken,
    ),
  );
  if (moe.numSharedExperts > 0) {
    // DeepSeek stores its shared experts as one MLP of n_shared_experts × moe_intermediate_size.
    specs.push(
      ...gatedMlpSpecs(`${block}.shared_experts`, h, moe.numSharedExperts * moe.expertIntermediateSize, false, 1, 1),
    );
  }
  if (mixtral) {
    for (const s of specs) {
      s.name = s.name.replace('gate_proj.weight', 'w1.weight').replace('up_proj.weight', 'w3.weight');
      s.name = s.name.replace('down_proj.weight', 'w2.weight');
    }
  }
  return specs;
}

function groups(specs: Spec[], scope: TensorScope, layers: number, rename?: (name: string) => string): TensorGroup[] {
  return specs.map((s) => ({
    name: rename ? rename(s.name) : s.name,
    category: s.category,
    scope,
    rows: s.rows,
    cols: s.cols,
    count: s.per * layers,
    activeCount: (s.activePer ?? s.per) * layers,
    fp8: s.fp8 ?? false,
    f32: s.f32 ?? false,
  }));
}

/**
 * Every tensor group of the checkpoint: the model's embedding, final norm and LM head, the dense and MoE decoder
 * layers, and the MTP modules (DeepSeek: each an embedding and head stored as copies — README_WEIGHTS.md says they
 * share the main model's — enorm, hnorm, eh_proj, one decoder layer and the shared head's norm).
 */
export function tensorGroups(arch: ModelArchitecture): TensorGroup[] {
  const h = arch.hiddenSize;
  const v = arch.vocabSize;
  const out: TensorGroup[] = groups(
    [
      { name: 'model.embed_tokens.weight', category: 'embedding', rows: v, cols: h, per: 1 },
      { name: 'model.norm.weight', category: 'norms', rows: h, cols: 1, per: 1 },
      ...(arch.tieWordEmbeddings
        ? []
        : [{ name: 'lm_head.weight', category: 'lmHead' as const, rows: v, cols: h, per: 1 }]),
    ],
    'model',
    1,
  );
  if (arch.layers.dense > 0) out.push(...groups(layerSpecs(arch, false), 'dense-layers', arch.layers.dense));
  if (arch.layers.moe > 0) out.push(...groups(layerSpecs(arch, true), 'moe-layers', arch.layers.moe));
  const mtp = arch.mtp?.numLayers ?? 0;
  if (mtp > 0) {
    let moeMtp = 0;
    for (let k = 0; k < mtp; k++) if (isMoeLayer(arch, arch.numLayers + k)) moeMtp++;
    const layerName = (name: string): string => name.replace('model.layers.*', 'model.layers.*(mtp)');
    const moduleName = 'model.layers.*(mtp)';
    out.push(
      ...groups(
        [
          { name: `${moduleName}.embed_tokens.weight`, category: 'embedding', rows: v, cols: h, per: 1 },
          { name: `${moduleName}.enorm.weight`, category: 'norms', rows: h, cols: 1, per: 1 },
          { name: `${moduleName}.hnorm.weight`, category: 'norms', rows: h, cols: 1, per: 1 },
          { name: `${moduleName}.eh_proj.weight`, category: 'other', rows: h, cols: 2 * h, per: 1 },
          { name: `${moduleName}.shared_head.norm.weight`, category: 'norms', rows: h, cols: 1, per: 1 },
          { name: `${moduleName}.shared_head.head.weight`, category: 'lmHead', rows: v, cols: h, per: 1 },
        ],
        'mtp',
        mtp,
      ),
    );
    if (mtp - moeMtp > 0) out.push(...groups(layerSpecs(arch, false), 'mtp', mtp - moeMtp, layerName));
    if (moeMtp > 0) out.push(...groups(layerSpecs(arch, true), 'mtp', moeMtp, layerName));
  }
  return out;
}
