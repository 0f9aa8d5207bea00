/** The shipped config.json files: each parses into the architecture its model card describes. */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadShippedModel, readShippedConfig, SHIPPED_MODELS, shippedConfigPath } from '../src/index';

const configsDir = fileURLToPath(new URL('../configs/', import.meta.url));

describe('shipped configs', () => {
  it('SHIPPED_MODELS lists exactly the directories under configs/, and configs/README.md names each', () => {
    const dirs = readdirSync(configsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(SHIPPED_MODELS.map((m) => m.id).sort()).toEqual(dirs);
    const readme = readFileSync(`${configsDir}README.md`, 'utf8');
    for (const m of SHIPPED_MODELS) {
      expect(readme).toContain(`\`${m.id}\``);
      expect(readme).toContain(`https://huggingface.co/${m.hubId}`);
    }
  });

  for (const { id } of SHIPPED_MODELS) {
    it(`${id} parses`, () => {
      expect(shippedConfigPath(id)).toBe(`${configsDir}${id}/config.json`);
      const a = loadShippedModel(id);
      expect(a.dtype).toBe('bf16');
      expect(a.layers.dense + a.layers.moe).toBe(a.numLayers);
      expect(readShippedConfig(id).endsWith('}\n')).toBe(true);
    });
  }

  it('Llama-3.1: GQA 8 KV heads, head 128, llama3 RoPE scaling ×8 from 8192', () => {
    for (const [id, hidden, layers, heads] of [
      ['llama-3.1-8b', 4096, 32, 32],
      ['llama-3.1-70b', 8192, 80, 64],
      ['llama-3.1-405b', 16384, 126, 128],
    ] as const) {
      const a = loadShippedModel(id);
      expect(a).toMatchObject({ modelType: 'llama', hiddenSize: hidden, numLayers: layers, vocabSize: 128256 });
      expect(a.attention).toMatchObject({ kind: 'gqa', numHeads: heads, numKvHeads: 8, headDim: 128, qkvBias: false });
      expect(a.rope).toEqual({
        theta: 500000,
        rotaryDim: 128,
        scaling: {
          type: 'llama3',
          factor: 8,
          originalMaxPositionEmbeddings: 8192,
          params: { low_freq_factor: 1, high_freq_factor: 4 },
        },
      });
      expect(a.moe).toBeNull();
      expect(a.mtp).toBeNull();
      expect(a.quantization).toBeNull();
      expect(a.tieWordEmbeddings).toBe(false);
    }
  });

  it('Qwen2.5-72B: q/k/v biases; its sliding window is off (use_sliding_window false)', () => {
    const a = loadShippedModel('qwen2.5-72b');
    expect(a.attention).toMatchObject({ numHeads: 64, numKvHeads: 8, headDim: 128, qkvBias: true, outputBias: false });
    expect(a.attention).toMatchObject({ slidingWindow: null });
  });

  it('Qwen3-32B: head_dim 128 with hidden 5120 / 64 heads, q/k norms', () => {
    const a = loadShippedModel('qwen3-32b');
    expect(a.attention).toMatchObject({ numHeads: 64, numKvHeads: 8, headDim: 128, qkNorm: true, qkvBias: false });
  });

  it('Mixtral-8x7B: 8 experts, top-2, every layer', () => {
    const a = loadShippedModel('mixtral-8x7b');
    expect(a.moe).toMatchObject({
      numExperts: 8,
      numExpertsPerToken: 2,
      numSharedExperts: 0,
      expertIntermediateSize: 14336,
    });
    expect(a.moe?.layout).toEqual({ kind: 'all' });
    expect(a.layers).toEqual({ dense: 0, moe: 32 });
    expect(a.rope.theta).toBe(1e6);
  });

  it('Qwen3-235B-A22B: 128 experts, top-8, renormalised, every layer (decoder_sparse_step 1)', () => {
    const a = loadShippedModel('qwen3-235b-a22b');
    expect(a.moe).toMatchObject({
      numExperts: 128,
      numExpertsPerToken: 8,
      expertIntermediateSize: 1536,
      normTopkProb: true,
    });
    expect(a.moe?.layout).toEqual({ kind: 'sparse-step', sparseStep: 1, mlpOnlyLayers: [] });
    expect(a.layers).toEqual({ dense: 0, moe: 94 });
    expect(a.attention).toMatchObject({ numKvHeads: 4, headDim: 128, qkNorm: true });
  });

  it('DeepSeek-V3 and R1: MLA, 256 + 1 shared experts from layer 3, one MTP module, FP8 128×128 blocks', () => {
    for (const id of ['deepseek-v3', 'deepseek-r1'] as const) {
      const a = loadShippedModel(id);
      expect(a.attention).toEqual({
        kind: 'mla',
        numHeads: 128,
        qLoraRank: 1536,
        kvLoraRank: 512,
        qkNopeHeadDim: 128,
        qkRopeHeadDim: 64,
        vHeadDim: 128,
        bias: false,
      });
      expect(a.moe).toEqual({
        numExperts: 256,
        numExpertsPerToken: 8,
        numSharedExperts: 1,
        expertIntermediateSize: 2048,
        normTopkProb: true,
        scoringFunc: 'sigmoid',
        routerBias: true,
        routedScalingFactor: 2.5,
        numExpertGroups: 8,
        topkGroups: 4,
        layout: { kind: 'first-k-dense', firstKDense: 3, layerFreq: 1 },
      });
      expect(a.layers).toEqual({ dense: 3, moe: 58 });
      expect(a.mtp).toEqual({ numLayers: 1 });
      expect(a.quantization).toEqual({
        method: 'fp8',
        format: 'e4m3',
        activationScheme: 'dynamic',
        weightBlockSize: [128, 128],
        modulesToNotConvert: [],
      });
      expect(a.rope).toMatchObject({ theta: 10000, rotaryDim: 64, scaling: { type: 'yarn', factor: 40 } });
      expect(a.mlp.intermediateSize).toBe(18432);
    }
    // R1 is V3's architecture: only transformers_version differs between the two files.
    const v3 = JSON.parse(readShippedConfig('deepseek-v3'));
    const r1 = JSON.parse(readShippedConfig('deepseek-r1'));
    expect({ ...r1, transformers_version: v3.transformers_version }).toEqual(v3);
    expect(loadShippedModel('deepseek-r1')).toEqual(loadShippedModel('deepseek-v3'));
  });
});
