/**
 * Parameter counts against the published figures.
 *
 * Tolerance: a figure published rounded ("72.7B") is matched when our count rounds to it, i.e. lies within half a unit
 * of its last digit (72.65–72.75 B); a figure published exactly (a checkpoint's safetensors total) is matched exactly.
 * The exact totals are what Hugging Face's API reports as `safetensors.total` for the checkpoint (the "N params" on
 * each model page); the tools this package was built with could not reach huggingface.co, so each is quoted from a
 * public copy, named in its comment.
 */
import { describe, expect, it } from 'vitest';
import {
  countParameters,
  loadShippedModel,
  parseModelConfig,
  readShippedConfig,
  type ShippedModelId,
} from '../src/index';

const B = 1e9;

/** |value − published| ≤ unit / 2: value, printed to the published precision, is the published figure. */
function expectRoundsTo(value: number, published: number, unit: number): void {
  expect(
    Math.abs(value - published),
    `${value / B} B vs published ${published / B} B (±${unit / 2 / B} B)`,
  ).toBeLessThanOrEqual(unit / 2 + 1e-6);
}

const counts = (id: ShippedModelId) => countParameters(loadShippedModel(id));

describe('dense models', () => {
  it('Llama-3.1-8B: 8.03 B = 8,030,261,248', () => {
    // 8,030,261,248: Hugging Face's count for meta-llama/Llama-3.1-8B ("8.03B params"); the same number is
    // keras-team/keras-hub keras_hub/src/models/llama3/llama3_presets.py "params": 8030261248 (Llama 3 8B: identical
    // shapes) and "params": 8.03 in the leaderboard request
    // https://huggingface.co/datasets/hallucinations-leaderboard/requests/blob/b7b2fb6477fe801f34ebe2267f3fb9f0ab8c2c34/meta-llama/Meta-Llama-3.1-8B_eval_request_False_float32_Original.json
    const c = counts('llama-3.1-8b');
    expect(c.total.total).toBe(8_030_261_248);
    expectRoundsTo(c.total.total, 8.03 * B, 0.01 * B);
    expect(c.active.total).toBe(c.total.total); // dense: every parameter is active
  });

  it('Llama-3.1-70B: 70.6 B = 70,553,706,496', () => {
    // 70,553,706,496: Hugging Face's count for meta-llama/Llama-3.1-70B; "params": 70.554 for Meta-Llama-3-70B (the
    // same shapes) in https://huggingface.co/datasets/open-llm-leaderboard/requests/commit/819e3abf476cf7f6e54a11a4e22df120892fa0f9
    const c = counts('llama-3.1-70b');
    expect(c.total.total).toBe(70_553_706_496);
    expectRoundsTo(c.total.total, 70.6 * B, 0.1 * B);
  });

  it('Llama-3.1-405B: 405.9 B = 405,853,388,800', () => {
    // 405,853,388,800: the Hugging Face API's safetensors.total for meta-llama/Llama-3.1-405B, as quoted in public
    // repositories (found through code search; the API itself was out of reach). 405.85 B → "405.9 B" (issue 11).
    const c = counts('llama-3.1-405b');
    expect(c.total.total).toBe(405_853_388_800);
    expectRoundsTo(c.total.total, 405.9 * B, 0.1 * B);
  });

  it('Qwen2.5-72B: 72.7 B (with the q/k/v biases)', () => {
    // "Number of Parameters: 72.7B", model card https://huggingface.co/Qwen/Qwen2.5-72B; "params": 72.706 in
    // https://huggingface.co/datasets/OALL/requests_v2/blame/fc24edc9ad696521e9346a7d482767877ada0092/Qwen/Qwen2.5-72B_eval_request_False_bfloat16_Original.json
    const c = counts('qwen2.5-72b');
    expectRoundsTo(c.total.total, 72.7 * B, 0.1 * B);
    expectRoundsTo(c.total.total, 72.706 * B, 0.001 * B);
    expect(c.total.total).toBe(72_706_203_648);
  });

  it('Qwen3-32B: 32.8 B (with q/k norms, head_dim 128 ≠ hidden / heads)', () => {
    // "32.8B", model card https://huggingface.co/Qwen/Qwen3-32B; exact: keras-team/keras-hub
    // keras_hub/src/models/qwen3/qwen3_presets.py "params": 32762123264 (converted from the Hub checkpoint).
    const c = counts('qwen3-32b');
    expectRoundsTo(c.total.total, 32.8 * B, 0.1 * B);
    expect(c.total.total).toBe(32_762_123_264);
  });
});

describe('mixture-of-experts models', () => {
  it('Mixtral-8x7B: 46.7 B total, 12.9 B active', () => {
    // "Mixtral has 46.7B total parameters but only uses 12.9B parameters per token", Mistral AI, "Mixtral of experts"
    // (https://mistral.ai/news/mixtral-of-experts, 11 Dec 2023); exact total: keras-team/keras-hub
    // keras_hub/src/models/mixtral/mixtral_presets.py "params": 46702792704. Mistral's 12.9 B counts the embedding
    // (without it: 12.75 B, which would print as 12.7/12.8).
    const c = counts('mixtral-8x7b');
    expect(c.total.total).toBe(46_702_792_704);
    expectRoundsTo(c.total.total, 46.7 * B, 0.1 * B);
    expectRoundsTo(c.active.total, 12.9 * B, 0.1 * B);
    expect(c.active.nonEmbedding).toBeLessThan(12.85 * B);
  });

  it('Qwen3-235B-A22B: 235 B total, 22 B active', () => {
    // "235B in total and 22B activated", model card https://huggingface.co/Qwen/Qwen3-235B-A22B, and NVIDIA NeMo
    // AutoModel's model coverage page ("235B total parameters, 22B activated per token"); exact total: the Hugging
    // Face API's safetensors.total 235093634560, also keras-team/keras-hub
    // keras_hub/src/models/qwen3_moe/qwen3_moe_presets.py "params": 235093634560.
    const c = counts('qwen3-235b-a22b');
    expect(c.total.total).toBe(235_093_634_560);
    expectRoundsTo(c.total.total, 235 * B, 1 * B);
    expectRoundsTo(c.active.total, 22 * B, 1 * B);
    expectRoundsTo(c.active.nonEmbedding, 22 * B, 1 * B);
  });

  describe('DeepSeek-V3 (and R1, the same architecture)', () => {
    // github.com/deepseek-ai/DeepSeek-V3, README.md: "671B total parameters with 37B activated for each token" and
    // "The total size of DeepSeek-V3 models on Hugging Face is 685B, which includes 671B of the Main Model weights and
    // 14B of the Multi-Token Prediction (MTP) Module weights." README_WEIGHTS.md: main model "Activation parameters:
    // 36.7B"; MTP "11.5B unique parameters, excluding the shared 0.9B Embedding and 0.9B output Head".
    for (const id of ['deepseek-v3', 'deepseek-r1'] as const) {
      it(`${id}: 671 B main model, 37 B active`, () => {
        const c = counts(id);
        expect(c.total.total).toBe(671_026_419_200);
        expectRoundsTo(c.total.total, 671 * B, 1 * B);
        // DeepSeek's 37 B is the non-embedding count (36.63 B; with the input embedding it would be 37.55 B, which
        // does not round to 37). README_WEIGHTS.md's 36.7 B is 0.07 B above it; we could not reproduce that digit.
        expectRoundsTo(c.active.nonEmbedding, 37 * B, 1 * B);
        expect(c.active.total).toBeGreaterThan(37.5 * B);
        expect(c.active.embedding).toBe(129_280 * 7_168); // the "0.9B Embedding"
        expect(c.active.lmHead).toBe(129_280 * 7_168); // the "0.9B output Head"
      });

      it(`${id}: 685 B on the Hub = 671 B main + the MTP module (stored with its own embedding and head copies)`, () => {
        const c = counts(id);
        const mtp = c.mtp!;
        // The MTP module's decoder layer (attention + 256 experts + shared expert + router + 2 norms): the "11.5B".
        const layer = mtp.total.attention + mtp.total.mlp + 2 * 7168 + 512 + 1536;
        expectRoundsTo(layer, 11.5 * B, 0.1 * B);
        expect(mtp.total.embedding).toBe(129_280 * 7_168);
        expect(mtp.total.lmHead).toBe(129_280 * 7_168);
        expect(mtp.total.other).toBe(2 * 7168 * 7168); // eh_proj
        // The checkpoint: 684.49 B parameters, + 41.5 M FP8 block scales (F32 tensors the Hub counts too) = 684.53 B,
        // which rounds to the 685 B of the README; its "14B" MTP is 685 − 671 (the module alone is 13.46 B).
        expect(c.checkpoint).toBe(684_489_845_504);
        expect(c.checkpoint - c.total.total).toBe(mtp.total.total);
      });
    }
  });
});

describe('a count that could not fail would prove nothing: perturbing a config field moves it', () => {
  /** The count for a shipped config.json with `patch` applied to its fields. */
  const patched = (id: ShippedModelId, patch: (c: Record<string, unknown>) => void) => {
    const json = JSON.parse(readShippedConfig(id)) as Record<string, unknown>;
    patch(json);
    return countParameters(parseModelConfig(json));
  };
  const delta = (id: ShippedModelId, patch: (c: Record<string, unknown>) => void) =>
    patched(id, patch).total.total - counts(id).total.total;

  it('every dimension of a dense model enters the count by its formula', () => {
    // One more layer: attention 4096·(4096 + 2·1024 + 4096), MLP 3·4096·14336, two norms.
    expect(delta('llama-3.1-8b', (c) => (c.num_hidden_layers = 33))).toBe(
      4096 * (4096 + 2 * 1024 + 4096) + 3 * 4096 * 14336 + 2 * 4096,
    );
    expect(delta('llama-3.1-8b', (c) => (c.intermediate_size = 14337))).toBe(32 * 3 * 4096);
    expect(delta('llama-3.1-8b', (c) => (c.vocab_size = 128257))).toBe(2 * 4096); // embedding row, LM head row
    expect(delta('llama-3.1-8b', (c) => (c.tie_word_embeddings = true))).toBe(-128256 * 4096);
    expect(delta('llama-3.1-8b', (c) => (c.num_key_value_heads = 32))).toBe(32 * 2 * 4096 * (32 - 8) * 128);
    expect(delta('llama-3.1-8b', (c) => (c.attention_bias = true))).toBe(32 * (4096 + 2 * 1024 + 4096));
    expect(delta('llama-3.1-8b', (c) => (c.mlp_bias = true))).toBe(32 * (2 * 14336 + 4096));
    expect(delta('llama-3.1-8b', (c) => (c.head_dim = 64))).toBe(32 * 4096 * (32 + 2 * 8 + 32) * (64 - 128));
    // Qwen3's head_dim (128) is not hidden_size / heads (80): without it the count is another model's.
    expect(delta('qwen3-32b', (c) => delete c.head_dim)).toBe(64 * (5120 * (64 + 2 * 8 + 64) * -48 + 2 * -48));
  });

  it('MoE: top-k moves only the active count; experts, shared experts and dense layers move the total', () => {
    const expert = 3 * 7168 * 2048;
    const k9 = patched('deepseek-v3', (c) => (c.num_experts_per_tok = 9));
    expect(k9.total.total).toBe(counts('deepseek-v3').total.total);
    expect(k9.active.total - counts('deepseek-v3').active.total).toBe(58 * expert);
    expect(delta('deepseek-v3', (c) => (c.n_shared_experts = 2))).toBe(58 * expert);
    // One expert fewer: its weights, its router row and its score-correction bias, in 58 layers.
    expect(delta('deepseek-v3', (c) => (c.n_routed_experts = 248) && (c.n_group = 8))).toBe(
      -8 * 58 * (expert + 7168 + 1),
    );
    // One more leading dense layer: a MoE layer's 257 experts, router and bias give way to a dense MLP.
    expect(delta('deepseek-v3', (c) => (c.first_k_dense_replace = 4))).toBe(
      3 * 7168 * 18432 - (257 * expert + 256 * 7168 + 256),
    );
    // Every other layer MoE (moe_layer_freq 2): layers 4, 6, …, 60 stay MoE (29), the rest become dense.
    const freq2 = patched('deepseek-v3', (c) => (c.moe_layer_freq = 2));
    expect(loadShippedModel('deepseek-v3').layers).toEqual({ dense: 3, moe: 58 });
    expect(parseModelConfig({ ...JSON.parse(readShippedConfig('deepseek-v3')), moe_layer_freq: 2 }).layers).toEqual({
      dense: 32,
      moe: 29,
    });
    expect(freq2.total.total).toBeLessThan(counts('deepseek-v3').total.total);
    // Qwen-MoE's decoder_sparse_step and mlp_only_layers.
    expect(
      parseModelConfig({ ...JSON.parse(readShippedConfig('qwen3-235b-a22b')), decoder_sparse_step: 2 }).layers,
    ).toEqual({
      dense: 47,
      moe: 47,
    });
    const mlpOnly = patched('qwen3-235b-a22b', (c) => (c.mlp_only_layers = [0, 93]));
    expect(mlpOnly.total.total - counts('qwen3-235b-a22b').total.total).toBe(
      2 * (3 * 4096 * 12288 - (128 * 3 * 4096 * 1536 + 128 * 4096)),
    );
    // Mixtral: top-2 → top-1 halves the experts a token goes through.
    const top1 = patched('mixtral-8x7b', (c) => (c.num_experts_per_tok = 1));
    expect(counts('mixtral-8x7b').active.total - top1.active.total).toBe(32 * 3 * 4096 * 14336);
  });

  it('MLA and MTP: each rank, head dim and module is in the count', () => {
    expect(delta('deepseek-v3', (c) => (c.kv_lora_rank = 513))).toBe(61 * (7168 + 1 + 128 * 256)); // kv_a, norm, kv_b
    expect(delta('deepseek-v3', (c) => (c.qk_rope_head_dim = 65))).toBe(61 * (7168 + 1536 * 128)); // kv_a row, q_b cols
    expect(delta('deepseek-v3', (c) => (c.v_head_dim = 129))).toBe(61 * (512 * 128 + 128 * 7168)); // kv_b, o_proj
    // No q_lora_rank: q_a, its norm and q_b become one q_proj.
    expect(delta('deepseek-v3', (c) => (c.q_lora_rank = null))).toBe(
      61 * (7168 * 128 * 192 - (7168 * 1536 + 1536 + 1536 * 128 * 192)),
    );
    const noMtp = patched('deepseek-v3', (c) => (c.num_nextn_predict_layers = 0));
    expect(noMtp.mtp).toBeNull();
    expect(noMtp.checkpoint).toBe(671_026_419_200);
    const twoMtp = patched('deepseek-v3', (c) => (c.num_nextn_predict_layers = 2));
    expect(twoMtp.checkpoint - 671_026_419_200).toBe(2 * counts('deepseek-v3').mtp!.total.total);
  });
});
