/**
 * config.json is untrusted: every malformed input is a ModelConfigError naming the field, decided quickly and without
 * allocating in proportion to a count the input claims.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  CONFIG_LIMITS,
  checkpointWeights,
  countParameters,
  decodeFlopsPerToken,
  kvCacheBytesPerToken,
  ModelConfigError,
  type ModelConfigErrorCode,
  parseModelConfig,
  parseModelConfigText,
  prefillFlops,
  readShippedConfig,
  SHIPPED_MODELS,
  type ShippedModelId,
} from '../src/index';

const config = (id: ShippedModelId): Record<string, unknown> => JSON.parse(readShippedConfig(id));

/** Parses `json` and returns the error it must raise. */
function refusal(json: unknown): ModelConfigError {
  try {
    parseModelConfig(json, { source: 'test.json' });
  } catch (e) {
    expect(e).toBeInstanceOf(ModelConfigError);
    return e as ModelConfigError;
  }
  throw new Error('expected a ModelConfigError');
}

function expectRefused(json: unknown, code: ModelConfigErrorCode, field: string, message?: RegExp): void {
  const e = refusal(json);
  expect({ code: e.code, field: e.field }).toEqual({ code, field });
  expect(e.message).toContain(`test.json: ${field}:`);
  if (message) expect(e.message).toMatch(message);
  expect(e.message.length).toBeLessThan(400); // a hostile value is never echoed whole
}

describe('malformed configs are typed errors naming the field', () => {
  it('missing and null fields', () => {
    const { hidden_size: _, ...noHidden } = config('llama-3.1-8b');
    expectRefused(noHidden, 'missing', 'hidden_size', /required/);
    expectRefused({ ...config('llama-3.1-8b'), vocab_size: null }, 'missing', 'vocab_size', /null/);
    const { model_type: __, ...noType } = config('llama-3.1-8b');
    expectRefused(noType, 'missing', 'model_type');
    const { kv_lora_rank: ___, ...noRank } = config('deepseek-v3');
    expectRefused(noRank, 'missing', 'kv_lora_rank');
    const { moe_intermediate_size: ____, ...noExpertSize } = config('qwen3-235b-a22b');
    expectRefused(noExpertSize, 'missing', 'moe_intermediate_size');
  });

  it('negative, zero and absurd sizes', () => {
    expectRefused(
      { ...config('llama-3.1-8b'), hidden_size: -4096 },
      'range',
      'hidden_size',
      /-4096 is outside 1 to 65536/,
    );
    expectRefused({ ...config('llama-3.1-8b'), num_hidden_layers: 0 }, 'range', 'num_hidden_layers');
    expectRefused({ ...config('llama-3.1-8b'), num_hidden_layers: 1e9 }, 'range', 'num_hidden_layers');
    expectRefused({ ...config('llama-3.1-8b'), vocab_size: 2 ** 40 }, 'range', 'vocab_size');
    expectRefused({ ...config('llama-3.1-8b'), intermediate_size: 1e300 }, 'range', 'intermediate_size');
    expectRefused({ ...config('llama-3.1-8b'), rms_norm_eps: 0 }, 'range', 'rms_norm_eps');
    expectRefused({ ...config('llama-3.1-8b'), rope_theta: -1 }, 'range', 'rope_theta');
    expectRefused({ ...config('deepseek-v3'), n_routed_experts: 1e7 }, 'range', 'n_routed_experts');
    expectRefused({ ...config('deepseek-v3'), num_nextn_predict_layers: 1000 }, 'range', 'num_nextn_predict_layers');
    expectRefused({ ...config('deepseek-v3'), first_k_dense_replace: 62 }, 'range', 'first_k_dense_replace');
    expectRefused({ ...config('deepseek-v3'), kv_lora_rank: 8192 }, 'inconsistent', 'kv_lora_rank');
    expectRefused(
      { ...config('deepseek-v3'), rope_scaling: { type: 'yarn', factor: -40 } },
      'range',
      'rope_scaling.factor',
    );
  });

  it('a model whose fields multiply out past 10^14 parameters', () => {
    // 61 layers × 4,096 experts × 3 × 65,536 × 262,144: 1.3 × 10^19, every field within its own bound.
    const huge = {
      ...config('deepseek-v3'),
      hidden_size: 65536,
      n_routed_experts: 4096,
      moe_intermediate_size: 262144,
    };
    expectRefused(huge, 'range', '(root)', /parameters; the limit is 1e\+14/);
  });

  it('heads that do not divide hidden_size, KV heads that do not divide heads, top-k above the experts', () => {
    expectRefused({ ...config('llama-3.1-8b'), hidden_size: 4097 }, 'inconsistent', 'num_attention_heads', /4097/);
    expectRefused({ ...config('llama-3.1-8b'), num_key_value_heads: 5 }, 'inconsistent', 'num_key_value_heads');
    expectRefused({ ...config('llama-3.1-8b'), num_key_value_heads: 64 }, 'inconsistent', 'num_key_value_heads');
    expectRefused({ ...config('mixtral-8x7b'), num_experts_per_tok: 9 }, 'inconsistent', 'num_experts_per_tok');
    expectRefused({ ...config('deepseek-v3'), n_group: 7 }, 'inconsistent', 'n_group');
    expectRefused({ ...config('deepseek-v3'), topk_group: 9 }, 'inconsistent', 'topk_group');
    expectRefused({ ...config('qwen3-235b-a22b'), mlp_only_layers: [3, 3] }, 'inconsistent', 'mlp_only_layers.1');
    expectRefused({ ...config('qwen3-235b-a22b'), mlp_only_layers: [94] }, 'range', 'mlp_only_layers.0');
    // With head_dim given, hidden_size need not divide (Qwen3: 5120 / 64 = 80, head_dim 128).
    expect(() => parseModelConfig({ ...config('qwen3-32b'), hidden_size: 5121 })).not.toThrow();
  });

  it('wrong types', () => {
    expectRefused({ ...config('llama-3.1-8b'), hidden_size: '4096' }, 'type', 'hidden_size', /"4096"/);
    expectRefused({ ...config('llama-3.1-8b'), hidden_size: 4096.5 }, 'type', 'hidden_size', /integer/);
    expectRefused({ ...config('llama-3.1-8b'), num_hidden_layers: [32] }, 'type', 'num_hidden_layers', /array of 1/);
    expectRefused({ ...config('llama-3.1-8b'), tie_word_embeddings: 'false' }, 'type', 'tie_word_embeddings');
    expectRefused({ ...config('llama-3.1-8b'), model_type: 7 }, 'type', 'model_type');
    expectRefused({ ...config('llama-3.1-8b'), architectures: 'LlamaForCausalLM' }, 'type', 'architectures');
    expectRefused({ ...config('llama-3.1-8b'), architectures: [1] }, 'type', 'architectures.0');
    expectRefused({ ...config('llama-3.1-8b'), rope_scaling: 'llama3' }, 'type', 'rope_scaling');
    expectRefused(
      { ...config('llama-3.1-8b'), rope_scaling: { rope_type: 'llama3', factor: '8' } },
      'type',
      'rope_scaling.factor',
    );
    expectRefused({ ...config('qwen3-235b-a22b'), mlp_only_layers: {} }, 'type', 'mlp_only_layers');
    expectRefused({ ...config('deepseek-v3'), quantization_config: [] }, 'type', 'quantization_config');
    expectRefused(
      { ...config('deepseek-v3'), quantization_config: { quant_method: 'fp8', weight_block_size: [128] } },
      'type',
      'quantization_config.weight_block_size',
    );
    expectRefused(
      { ...config('deepseek-v3'), quantization_config: { quant_method: 'fp8', weight_block_size: [0, 128] } },
      'range',
      'quantization_config.weight_block_size.0',
    );
    expectRefused({ ...config('llama-3.1-8b'), torch_dtype: 'float64' }, 'unsupported', 'torch_dtype');
  });

  it('what is well-formed but not modelled', () => {
    expectRefused({ ...config('llama-3.1-8b'), model_type: 'gpt2' }, 'unsupported', 'model_type', /"llama"/);
    expectRefused({ ...config('llama-3.1-8b'), hidden_act: 'tanh' }, 'unsupported', 'hidden_act');
    expectRefused(
      { ...config('deepseek-v3'), quantization_config: { quant_method: 'gptq', bits: 4 } },
      'unsupported',
      'quantization_config.quant_method',
      /"gptq" is not modelled/,
    );
    expectRefused(
      { ...config('llama-3.1-8b'), rope_scaling: { rope_type: 'ntk', factor: 2 } },
      'unsupported',
      'rope_scaling.rope_type',
    );
  });

  it('a 1 MB string is refused by length and never echoed', () => {
    const mb = 'x'.repeat(1_000_000);
    expectRefused({ ...config('llama-3.1-8b'), model_type: mb }, 'range', 'model_type', /1000000 characters/);
    expectRefused({ ...config('llama-3.1-8b'), hidden_act: mb }, 'range', 'hidden_act');
    expectRefused({ ...config('llama-3.1-8b'), architectures: [mb] }, 'range', 'architectures.0');
    expectRefused({ ...config('llama-3.1-8b'), hidden_size: mb }, 'type', 'hidden_size', /1000000 characters/);
    // As text: under the length limit, so it is parsed, then refused by the field check.
    const text = JSON.stringify({ ...config('llama-3.1-8b'), model_type: mb });
    expect(text.length).toBeLessThan(CONFIG_LIMITS.maxTextLength);
    expect(() => parseModelConfigText(text)).toThrow(/model_type: is 1000000 characters/);
  });

  it('text that is too long, not JSON, or not an object', () => {
    const long = `{"model_type": "llama", "pad": "${'x'.repeat(2 << 20)}"}`;
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(() => parseModelConfigText(long)).toThrow(expect.objectContaining({ code: 'too_large', field: '(root)' }));
      expect(parse).not.toHaveBeenCalled(); // refused on its length, before JSON.parse reads it
    } finally {
      parse.mockRestore();
    }
    expect(() => parseModelConfigText('{"hidden_size": 4096,')).toThrow(
      expect.objectContaining({ code: 'invalid_json' }),
    );
    expect(() => parseModelConfigText('[1, 2]')).toThrow(expect.objectContaining({ code: 'invalid_json' }));
    expect(() => parseModelConfigText('null')).toThrow(expect.objectContaining({ code: 'invalid_json' }));
    expect(() => parseModelConfigText(42 as never)).toThrow(expect.objectContaining({ code: 'type' }));
    // Nesting a million deep fits in the length limit; it is a clean refusal, whatever JSON.parse makes of it.
    const deep = `{"model_type": "llama", "x": ${'['.repeat(500_000)}${']'.repeat(500_000)}}`;
    expect(() => parseModelConfigText(deep)).toThrow(ModelConfigError);
  });

  it('counts a config claims are checked before anything is sized by them', () => {
    // Each refusal names the claimed count against what the config holds, so it came from the count check itself.
    expectRefused(
      { ...config('qwen3-235b-a22b'), mlp_only_layers: new Array(1_000_000).fill(0) },
      'range',
      'mlp_only_layers',
      /1000000 entries for 94 layers/,
    );
    expectRefused({ ...config('llama-3.1-8b'), architectures: new Array(100_000).fill('A') }, 'range', 'architectures');
    expectRefused(
      {
        ...config('deepseek-v3'),
        quantization_config: { quant_method: 'fp8', modules_to_not_convert: new Array(10_000).fill('lm_head') },
      },
      'range',
      'quantization_config.modules_to_not_convert',
    );
  });

  it('reads own properties only: nothing comes from the prototype chain', () => {
    const { hidden_size: _, ...rest } = config('llama-3.1-8b');
    const inherited = Object.assign(Object.create({ hidden_size: 4096 }), rest);
    expectRefused(inherited, 'missing', 'hidden_size');
    // JSON's "__proto__" is an ordinary own key; "constructor" is not a model_type.
    const text = `{"__proto__": {"hidden_size": 4096}, ${readShippedConfig('llama-3.1-8b').slice(1).replace('"hidden_size": 4096,', '')}`;
    expect(() => parseModelConfigText(text)).toThrow(
      expect.objectContaining({ code: 'missing', field: 'hidden_size' }),
    );
    expectRefused({ ...config('llama-3.1-8b'), model_type: 'constructor' }, 'unsupported', 'model_type');
  });
});

describe('fuzz: any mutation of a shipped config parses or is a ModelConfigError', () => {
  /** mulberry32: a small seeded generator, so a failure reproduces. */
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const values: unknown[] = [
    null,
    undefined,
    0,
    1,
    2,
    3,
    -1,
    7,
    64,
    129,
    4095,
    2 ** 31,
    2 ** 53,
    1e300,
    -1e-300,
    1.5,
    0.5,
    true,
    false,
    '',
    'x',
    'silu',
    'yarn',
    'x'.repeat(300),
    [],
    [1],
    [128, 128],
    [0, 1, 2],
    {},
    { type: 'yarn' },
  ];

  it('2,000 seeded mutations', () => {
    const random = rng(11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    let parsed = 0;
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const json = config(pick(SHIPPED_MODELS).id);
      for (let m = 1 + Math.floor(random() * 3); m > 0; m--) {
        const keys = Object.keys(json);
        const key = pick(keys);
        const target = json[key];
        if (target !== null && typeof target === 'object' && !Array.isArray(target) && random() < 0.5) {
          const inner = target as Record<string, unknown>;
          const innerKey = pick(Object.keys(inner).concat('factor'));
          inner[innerKey] = pick(values);
        } else if (random() < 0.15) delete json[key];
        else json[key] = pick(values);
      }
      try {
        const a = parseModelConfig(json);
        parsed++;
        const c = countParameters(a);
        expect(Number.isSafeInteger(c.checkpoint)).toBe(true);
        expect(c.active.total).toBeLessThanOrEqual(c.total.total);
        expect(Number.isSafeInteger(kvCacheBytesPerToken(a, 'bf16'))).toBe(true);
        expect(Number.isFinite(checkpointWeights(a).bytes)).toBe(true);
        expect(Number.isFinite(decodeFlopsPerToken(a, 4096).total)).toBe(true);
        expect(Number.isFinite(prefillFlops(a, 4096).total)).toBe(true);
      } catch (e) {
        if (!(e instanceof ModelConfigError)) throw e;
        refused++;
      }
    }
    // Both outcomes happen, so the loop exercises the checks and the arithmetic.
    expect(parsed).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });
});
