import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTensor, LlamaConfig } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { hfConfigJson, parseHfConfig, specialIdsFrom, toHfTensors } from '../../src/formats/hf-config';
import { readModelFiles } from '../../src/formats/load';
import { writeSafetensors } from '../../src/formats/safetensors';
import { expectSameTensors, loadError, randomTensor, randomTensors, rng, tempDir, tinyConfig } from './helpers';

/** A minimal Llama config.json as transformers writes it (only required fields). */
const minimal = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  vocab_size: 40,
};

/** Writes an HF directory: config.json, model.safetensors (HF names + `extra`), a placeholder tokenizer.json. */
function hfDir(config: LlamaConfig, tensors = randomTensors(config), extra: Map<string, HostTensor> = new Map()) {
  const dir = tempDir();
  const json = hfConfigJson(config, { bosTokenId: 1, eosTokenIds: [2] });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), writeSafetensors(new Map([...toHfTensors(tensors), ...extra])));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{}');
  return { dir, tensors };
}

describe('parseHfConfig', () => {
  it('applies the transformers defaults', () => {
    expect(parseHfConfig(minimal, 'config.json')).toEqual({
      vocabSize: 40,
      hiddenSize: 16,
      intermediateSize: 24,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4, // num_key_value_heads defaults to the head count
      headDim: 4, // hidden / heads
      maxPositionEmbeddings: 64,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      ropeConvention: 'half',
      tieWordEmbeddings: false,
      dtype: 'f32',
    });
  });

  it('reads explicit fields, torch_dtype or dtype, and Mistral without a sliding window', () => {
    const c = parseHfConfig(
      {
        ...minimal,
        architectures: ['MistralForCausalLM'],
        num_key_value_heads: 2,
        head_dim: 8,
        rope_theta: 500000,
        tie_word_embeddings: true,
        torch_dtype: 'bfloat16',
        sliding_window: null,
      },
      'config.json',
    );
    expect(c).toMatchObject({ numKvHeads: 2, headDim: 8, ropeTheta: 500000, tieWordEmbeddings: true, dtype: 'bf16' });
    expect(parseHfConfig({ ...minimal, dtype: 'float16' }, 'c').dtype).toBe('f16');
  });

  it('refuses what it cannot run, saying why', () => {
    const cases: Array<[object, string]> = [
      [{ rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'rope_scaling'],
      [{ architectures: ['MistralForCausalLM'], sliding_window: 16 }, 'sliding_window 16 is unsupported'],
      [{ architectures: ['GPT2LMHeadModel'] }, 'not supported'],
      [{ hidden_act: 'gelu' }, 'hidden_act'],
      [{ attention_bias: true }, 'bias'],
      [{ num_attention_heads: 3 }, 'not divisible'],
      [{ num_key_value_heads: 3 }, 'not a multiple of 3 KV heads'],
      [{ hidden_size: undefined }, 'missing "hidden_size"'],
    ];
    for (const [patch, msg] of cases) {
      const err = loadError(() => parseHfConfig({ ...minimal, ...patch }, '/m/config.json'));
      expect(err.message).toContain('/m/config.json');
      expect(err.message).toContain(msg);
    }
    expect(loadError(() => parseHfConfig({ ...minimal, rope_scaling: { type: 'linear' } }, 'c')).message).toContain(
      'unsupported',
    );
  });

  it('takes bos/eos from generation_config.json over config.json', () => {
    expect(specialIdsFrom({ bos_token_id: 1, eos_token_id: 2 }, null)).toEqual({ bosTokenId: 1, eosTokenIds: [2] });
    expect(specialIdsFrom({ bos_token_id: 1, eos_token_id: 2 }, { eos_token_id: [7, 9] })).toEqual({
      bosTokenId: 1,
      eosTokenIds: [7, 9],
    });
    expect(specialIdsFrom({}, null)).toEqual({ bosTokenId: null, eosTokenIds: [] });
  });
});

describe('Hugging Face directories', () => {
  it('round-trips config and tensors (bf16, GQA, untied)', () => {
    const config = tinyConfig({ dtype: 'bf16' });
    const { dir, tensors } = hfDir(config);
    fs.writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [2, 5] }));
    const m = readModelFiles(dir);
    expect(m.format).toBe('safetensors');
    expect(m.id).toBe(path.basename(dir));
    expect(m.config).toEqual(config);
    expectSameTensors(m.tensors, tensors);
    expect(m.bosTokenId).toBe(1);
    expect(m.eosTokenIds).toEqual([2, 5]);
    expect(m.tokenizerSource).toEqual({ kind: 'hf', tokenizerJsonPath: path.join(dir, 'tokenizer.json') });
  });

  it("ignores extras such as rotary inv_freq, and a tied model's lm_head (which it may also omit)", () => {
    const config = tinyConfig({ tieWordEmbeddings: true });
    const extra = new Map([
      ['model.layers.0.self_attn.rotary_emb.inv_freq', randomTensor('f32', [2], rng(1))],
      ['lm_head.weight', randomTensor('f32', [40, 16], rng(2))], // a stored copy of the tied head: not used
    ]);
    const { dir, tensors } = hfDir(config, randomTensors(config), extra);
    const m = readModelFiles(dir);
    expectSameTensors(m.tensors, tensors);
    expect(m.tensors.has('lm_head')).toBe(false);
  });

  it('uses the stored dtype when torch_dtype disagrees', () => {
    const config = tinyConfig({ dtype: 'f16' });
    const { dir } = hfDir(config);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...json, torch_dtype: 'float32' }));
    expect(readModelFiles(dir).config.dtype).toBe('f16');
  });

  it('requires lm_head when untied', () => {
    const config = tinyConfig();
    const tensors = randomTensors(config);
    tensors.delete('lm_head');
    const { dir } = hfDir(config, tensors);
    const err = loadError(() => readModelFiles(dir));
    expect(err.message).toContain('lm_head.weight is missing');
    expect(err.message).toContain('expected shape [40, 16]');
  });

  it('names the file, the tensor and both shapes when a shape disagrees with config.json', () => {
    const config = tinyConfig();
    const tensors = randomTensors(config);
    tensors.set('layers.1.k', randomTensor('f32', [16, 16], rng(2))); // config implies (2 KV heads · 4, 16) = [8, 16]
    const { dir } = hfDir(config, tensors);
    const err = loadError(() => readModelFiles(dir));
    expect(err.message).toContain(path.join(dir, 'model.safetensors'));
    expect(err.message).toContain('model.layers.1.self_attn.k_proj.weight');
    expect(err.message).toContain('[16, 16]');
    expect(err.message).toContain('[8, 16]');
    expect(err.details.tensor).toBe('model.layers.1.self_attn.k_proj.weight');
  });

  it('refuses projection biases instead of dropping them', () => {
    const config = tinyConfig();
    const extra = new Map([['model.layers.0.self_attn.q_proj.bias', randomTensor('f32', [16], rng(1))]]);
    const { dir } = hfDir(config, randomTensors(config), extra);
    expect(loadError(() => readModelFiles(dir)).message).toContain('biases are unsupported');
  });

  it('refuses an unsupported dtype in a needed tensor, naming it', () => {
    const config = tinyConfig();
    const { dir } = hfDir(config);
    const f = path.join(dir, 'model.safetensors');
    // Rewrite the header's dtype for the embedding in place: same length ("F32" → "I32"), same byte size.
    const buf = fs.readFileSync(f);
    const n = Number(buf.readBigUInt64LE(0));
    const header = buf.subarray(8, 8 + n).toString();
    const patched = header.replace(/("model\.embed_tokens\.weight":\{"dtype":")F32/, '$1I32');
    expect(patched).not.toBe(header);
    buf.write(patched, 8);
    fs.writeFileSync(f, buf);
    const err = loadError(() => readModelFiles(dir));
    expect(err.message).toContain('tensor model.embed_tokens.weight has dtype I32');
  });

  it('reads a directory whose weights are in differently named files', () => {
    const config = tinyConfig();
    const { dir, tensors } = hfDir(config);
    fs.renameSync(path.join(dir, 'model.safetensors'), path.join(dir, 'weights.safetensors'));
    expectSameTensors(readModelFiles(dir).tensors, tensors);
  });
});
