import { describe, expect, it } from 'vitest';
import {
  checkpointWeights,
  kvCacheBytesPerToken,
  kvCacheElementsPerTokenPerLayer,
  loadShippedModel,
  ModelArgumentError,
  parseModelConfig,
  readShippedConfig,
  weightBytes,
} from '../src/index';

describe('KV cache per token', () => {
  it('Llama-3.1-70B in bf16: 80 layers × 8 KV heads × 128 × (K and V) × 2 B = 327,680 B', () => {
    // The layout vLLM allocates: vllm/v1/kv_cache_interface.py, AttentionSpec.page_size_bytes =
    // 2 · block_size · num_kv_heads · head_size · dtype_size ("coef = 1 if self.use_mla else 2") per layer; the shapes
    // are config.json's (80 layers, 8 KV heads, head size 8192 / 64 = 128).
    const a = loadShippedModel('llama-3.1-70b');
    expect(kvCacheBytesPerToken(a, 'bf16')).toBe(80 * 8 * 128 * 2 * 2);
    expect(kvCacheBytesPerToken(a, 'bf16')).toBe(327_680);
    expect(kvCacheBytesPerToken(a, 'fp8')).toBe(163_840);
    expect(kvCacheBytesPerToken(a, 'f32')).toBe(655_360);
  });

  it('DeepSeek-V3 with MLA: the 512-wide latent + the 64-wide RoPE key, 61 layers × 2 B = 70,272 B', () => {
    // What is cached per token and layer is c_KV (kv_lora_rank) and k^R (qk_rope_head_dim), one copy for all heads:
    // the "(d_c + d_h^R) l" of the DeepSeek-V2 paper (arXiv 2405.04434, Table 1) and vLLM's MLA cache (one latent
    // vector per token, "For MLA we only store a single latent vector", head size 576 = 512 + 64, one KV head).
    const a = loadShippedModel('deepseek-v3');
    expect(kvCacheElementsPerTokenPerLayer(a)).toBe(576);
    expect(kvCacheBytesPerToken(a, 'bf16')).toBe((512 + 64) * 61 * 2);
    expect(kvCacheBytesPerToken(a, 'bf16')).toBe(70_272);
    // Serving with MTP speculative decoding: the MTP layer keeps a cache too.
    expect(kvCacheBytesPerToken(a, 'bf16', { includeMtp: true })).toBe((512 + 64) * 62 * 2);
    // What MLA saves: the same heads as plain MHA (128 heads × (192 + 128) per token and layer) would be 71× more.
    expect((128 * (192 + 128) * 61 * 2) / kvCacheBytesPerToken(a, 'bf16')).toBeCloseTo(71.1, 1);
  });

  it('follows the config: KV heads, head_dim and layers each scale it', () => {
    const json = JSON.parse(readShippedConfig('qwen3-32b'));
    const base = kvCacheBytesPerToken(parseModelConfig(json), 'bf16');
    expect(base).toBe(64 * 2 * 8 * 128 * 2);
    expect(kvCacheBytesPerToken(parseModelConfig({ ...json, num_key_value_heads: 16 }), 'bf16')).toBe(2 * base);
    expect(kvCacheBytesPerToken(parseModelConfig({ ...json, head_dim: 64 }), 'bf16')).toBe(base / 2);
    expect(kvCacheBytesPerToken(parseModelConfig({ ...json, num_hidden_layers: 32 }), 'bf16')).toBe(base / 2);
    const ds = JSON.parse(readShippedConfig('deepseek-v3'));
    expect(kvCacheBytesPerToken(parseModelConfig({ ...ds, kv_lora_rank: 256 }), 'bf16')).toBe((256 + 64) * 61 * 2);
  });

  it('refuses a dtype it does not know', () => {
    const a = loadShippedModel('llama-3.1-8b');
    expect(() => kvCacheBytesPerToken(a, 'fp4' as never)).toThrow(ModelArgumentError);
    expect(() => kvCacheBytesPerToken(a, 'toString' as never)).toThrow(/kvDtype/);
  });
});

describe('weights', () => {
  it('weightBytes: every parameter in one dtype', () => {
    const a = loadShippedModel('llama-3.1-405b');
    expect(weightBytes(a, 'bf16')).toBe(2 * 405_853_388_800);
    expect(weightBytes(a, 'fp8_e4m3')).toBe(405_853_388_800);
    expect(weightBytes(a, 'int4')).toBe(405_853_388_800 / 2);
    const ds = loadShippedModel('deepseek-v3');
    expect(weightBytes(ds, 'bf16')).toBe(2 * 671_026_419_200);
    expect(weightBytes(ds, 'bf16', { includeMtp: true })).toBe(2 * 684_489_845_504);
    expect(() => weightBytes(a, 'f64' as never)).toThrow(ModelArgumentError);
  });

  it('checkpointWeights: an unquantised checkpoint is all in its torch_dtype', () => {
    const a = loadShippedModel('qwen3-235b-a22b');
    // 470,187,269,120 B: the safetensors index's metadata.total_size of Qwen/Qwen3-235B-A22B as quoted in a public
    // repository's test (found through code search) — 2 B × 235,093,634,560.
    expect(checkpointWeights(a)).toEqual({
      elements: { bf16: 235_093_634_560 },
      scaleElements: 0,
      bytes: 470_187_269_120,
    });
  });

  it("checkpointWeights: DeepSeek-V3's FP8 block checkpoint, element for element", () => {
    // The Hugging Face API for deepseek-ai/DeepSeek-V3 (safetensors.parameters): BF16 3,918,786,560,
    // F8_E4M3 680,571,043,840, F32 41,555,600; total 684,531,386,000 — as quoted in public repositories (found through
    // code search). The F32 are the 128×128-block weight_scale_inv tensors (41,540,496) and the 59 MoE layers'
    // e_score_correction_bias (59 × 256). The total is the README's "685B".
    const w = checkpointWeights(loadShippedModel('deepseek-v3'));
    expect(w.elements).toEqual({ bf16: 3_918_786_560, fp8_e4m3: 680_571_043_840, f32: 41_555_600 });
    expect(w.scaleElements).toBe(41_540_496);
    expect(w.elements.f32! - w.scaleElements).toBe(59 * 256);
    expect(w.elements.bf16! + w.elements.fp8_e4m3! + w.elements.f32!).toBe(684_531_386_000);
    expect(w.bytes).toBe(3_918_786_560 * 2 + 680_571_043_840 + 41_555_600 * 4);
  });

  it('the block size and the activation scheme set the scales', () => {
    const json = JSON.parse(readShippedConfig('deepseek-v3'));
    const q = json.quantization_config;
    const perTensor = checkpointWeights(
      parseModelConfig({ ...json, quantization_config: { ...q, weight_block_size: null } }),
    );
    const blocks = checkpointWeights(parseModelConfig(json));
    expect(perTensor.elements.fp8_e4m3).toBe(blocks.elements.fp8_e4m3);
    expect(perTensor.scaleElements).toBeLessThan(blocks.scaleElements / 50);
    const statics = checkpointWeights(
      parseModelConfig({ ...json, quantization_config: { ...q, activation_scheme: 'static' } }),
    );
    expect(statics.scaleElements - blocks.scaleElements).toBe(perTensor.scaleElements); // one input scale per weight
    const bigger = checkpointWeights(
      parseModelConfig({ ...json, quantization_config: { ...q, weight_block_size: [256, 256] } }),
    );
    expect(bigger.scaleElements).toBeLessThan(blocks.scaleElements / 3);
  });
});
