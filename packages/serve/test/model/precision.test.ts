/**
 * The precision policy and tensor-parallel invariance, against the float64 reference: f16 weights under llama.cpp's
 * policy (f32 activations, f16 KV cache), vLLM-style f16 activations and all-f32; the TP-invariant reduction gives
 * bit-identical logits at TP 1, 2, 4 and 8 under every policy; the default reduction differs by rounding only.
 */
import { createCluster } from '@tessera/cluster';
import { relativeError as relErr } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_CONFIG, embeddedWeights } from '../../src/model/embedded';
import { LlamaModel, type ModelOptions, reductionChunks } from '../../src/model/llama';
import { describePrecision, type PrecisionError, resolvePrecision } from '../../src/model/precision';
import type { LlamaConfig } from '../../src/types';
import { referenceLogits } from '../support/reference-llama';

/** The embedded model's shape (8 heads, 2 KV heads: TP 8 replicates KV heads) with f16 weights. */
const config: LlamaConfig = { ...EMBEDDED_CONFIG, dtype: 'f16' };
const tensors = embeddedWeights(config, 7);
const V = config.vocabSize;

function prompt(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 7919 + i * 104729 + ((i * i) % 13)) % V);
}

type Policy = Pick<ModelOptions, 'dtype' | 'activationDtype' | 'kvCacheDtype' | 'tpInvariant'>;
const LLAMA_CPP: Policy = { dtype: 'f16', activationDtype: 'f32', kvCacheDtype: 'f16' };
const VLLM_F16: Policy = { dtype: 'f16', activationDtype: 'f16', kvCacheDtype: 'f16' };
const ALL_F32: Policy = { dtype: 'f32', activationDtype: 'f32', kvCacheDtype: 'f32' };

async function makeModel(policy: Policy, tp = 1, topology = 'dgx-h100') {
  const cluster = await createCluster({ topology, ranks: tp });
  const model = new LlamaModel(config, tensors, {
    cluster,
    tp,
    maxTokens: 64,
    maxSeqs: 4,
    blockSize: 4,
    maxModelLen: 128,
    ...policy,
  });
  model.allocateKvCache(48);
  return model;
}

const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const blocks = [3, 0, 7, 1, 9, 2, 4, 5, 6, 8];

/** Prefill `tokens` in two chunks, then decode `steps` tokens forced from `forced` (the same path for every model). */
function logitsAlong(model: LlamaModel, tokens: number[], forced: number[]): Float32Array[] {
  const out: Float32Array[] = [];
  const cut = Math.floor(tokens.length / 2);
  model.forward([{ tokens: tokens.slice(0, cut), start: 0, blockTable: blocks, sample: false, step: 0, ...greedy }]);
  model.forward([{ tokens: tokens.slice(cut), start: cut, blockTable: blocks, sample: true, step: 0, ...greedy }]);
  out.push(model.logits());
  forced.forEach((t, i) => {
    model.forward([
      { tokens: [t], start: tokens.length + i, blockTable: blocks, sample: true, step: i + 1, ...greedy },
    ]);
    out.push(model.logits());
  });
  return out;
}

const bits = (x: Float32Array) => new Uint32Array(x.slice().buffer);

describe('precision policy', () => {
  const tokens = prompt(21, 3);
  const forced = prompt(4, 11);
  const ref = referenceLogits(config, tensors, [...tokens, ...forced]).slice(tokens.length - 1);

  it.each([
    ['all f32 (--dtype float32)', ALL_F32, 1e-5],
    ["llama.cpp's (f16 weights, f32 activations, f16 KV)", LLAMA_CPP, 5e-3],
    ['vLLM-style f16 activations', VLLM_F16, 1e-2],
  ] as const)('%s follows the float64 reference within its rounding', async (_, policy, bound) => {
    const got = logitsAlong(await makeModel(policy), tokens, forced);
    for (let s = 0; s < got.length; s++) expect(relErr(got[s]!, ref[s]!)).toBeLessThan(bound);
  });

  it('keeps f32 between kernels: f32 activations are closer to the reference than f16 ones', async () => {
    const err = async (p: Policy) => {
      const got = logitsAlong(await makeModel(p), tokens, forced);
      return Math.max(...got.map((g, s) => relErr(g, ref[s]!)));
    };
    expect(await err(LLAMA_CPP)).toBeLessThan(await err(VLLM_F16));
  });

  it('an f32 KV cache with f32 activations and f32 weights is all-f32; with f16 weights only GEMM inputs round', async () => {
    const m = await makeModel({ dtype: 'f16', activationDtype: 'f32', kvCacheDtype: 'f32' });
    expect(m.precision).toEqual({ weights: 'f16', activations: 'f32', kvCache: 'f32' });
    expect(m.blockBytes).toBe(2 * config.numLayers * 4 * config.numKvHeads * config.headDim * 4);
    const got = logitsAlong(m, tokens, forced);
    for (let s = 0; s < got.length; s++) expect(relErr(got[s]!, ref[s]!)).toBeLessThan(5e-3);
  });

  it('refuses activations that are neither f32 nor the weights’ dtype', async () => {
    await expect(makeModel({ dtype: 'f16', activationDtype: 'bf16' })).rejects.toThrow(/must be f32 or f16/);
  });
});

describe('tensor-parallel invariance', () => {
  const tokens = prompt(19, 5);
  const forced = prompt(3, 13);

  it('the embedded shape sums row-parallel GEMMs in 8 chunks', () => {
    expect(reductionChunks(config)).toBe(8);
    expect(reductionChunks({ ...config, numHeads: 4, numKvHeads: 4 })).toBe(4);
  });

  it.each([
    ['llama.cpp policy', LLAMA_CPP],
    ['vLLM-style f16', VLLM_F16],
    ['bf16', { dtype: 'f32', activationDtype: 'f32', kvCacheDtype: 'bf16' } as Policy],
  ] as const)('with tpInvariant, TP 1, 2, 4 and 8 give bit-identical logits (%s)', async (_, policy) => {
    const one = logitsAlong(await makeModel({ ...policy, tpInvariant: true }), tokens, forced);
    for (const tp of [2, 4, 8]) {
      const many = logitsAlong(await makeModel({ ...policy, tpInvariant: true }, tp), tokens, forced);
      for (let s = 0; s < one.length; s++) expect(bits(many[s]!), `TP ${tp}, step ${s}`).toEqual(bits(one[s]!));
    }
    // …and on Ascend, whose executor is the same.
    const asc = logitsAlong(await makeModel({ ...policy, tpInvariant: true }, 2, 'atlas-800t-a2'), tokens, forced);
    expect(bits(asc[3]!)).toEqual(bits(one[3]!));
  });

  it('the TP-invariant sum is another f32 summation order: within f32 rounding of the default', async () => {
    const a = logitsAlong(await makeModel(ALL_F32), tokens, forced);
    const b = logitsAlong(await makeModel({ ...ALL_F32, tpInvariant: true }), tokens, forced);
    for (let s = 0; s < a.length; s++) expect(relErr(b[s]!, a[s]!)).toBeLessThan(1e-5);
  });

  it('without it, TP degrees differ by f32 reduction order — amplified to 16-bit rounding by 16-bit GEMM inputs', async () => {
    const spread = async (policy: Policy) => {
      const one = logitsAlong(await makeModel(policy), tokens, forced);
      const two = logitsAlong(await makeModel(policy, 2), tokens, forced);
      return Math.max(...one.map((x, s) => relErr(two[s]!, x)));
    };
    const f32 = await spread(ALL_F32);
    const f16 = await spread(LLAMA_CPP);
    expect(f32).toBeLessThan(1e-5);
    expect(f16).toBeLessThan(5e-3);
    expect(f16).toBeGreaterThan(f32);
  });

  it('refuses a TP degree that does not divide the chunk count', async () => {
    // 16 heads: TP 16 shards, but the TP-invariant sum has 8 chunks.
    const c16: LlamaConfig = { ...config, hiddenSize: 128, numHeads: 16, numKvHeads: 16, headDim: 8, numLayers: 1 };
    const cluster = await createCluster({ topology: 'nvl72', ranks: 16 });
    const options = { cluster, tp: 16, dtype: 'f16' as const, maxTokens: 8, maxSeqs: 1, blockSize: 4, maxModelLen: 16 };
    const w = embeddedWeights(c16, 1);
    expect(() => new LlamaModel(c16, w, { ...options, tpInvariant: true })).toThrow(
      /sums the row-parallel GEMMs in 8 fixed chunks, so the TP degree must divide 8 \(got 16\)/,
    );
    expect(() => new LlamaModel(c16, w, options)).not.toThrow();
  });
});

describe('resolvePrecision', () => {
  const gguf = { format: 'gguf' as const, config: { ...config, dtype: 'f16' as const } };
  const hf = { format: 'safetensors' as const, config: { ...config, dtype: 'bf16' as const } };

  it("defaults GGUF to llama.cpp's policy and other formats to vLLM's", () => {
    expect(resolvePrecision(gguf)).toEqual({ weights: 'f16', activations: 'f32', kvCache: 'f16' });
    expect(resolvePrecision({ ...gguf, config: { ...config, dtype: 'f32' } })).toEqual({
      weights: 'f32',
      activations: 'f32',
      kvCache: 'f16',
    });
    expect(resolvePrecision(hf)).toEqual({ weights: 'bf16', activations: 'bf16', kvCache: 'bf16' });
    expect(resolvePrecision({ ...hf, format: 'embedded' })).toEqual(resolvePrecision(hf));
    expect(resolvePrecision(hf, { dtype: 'float16' })).toEqual({ weights: 'f16', activations: 'f16', kvCache: 'f16' });
  });

  it('takes the flags as vLLM spells them', () => {
    expect(resolvePrecision(gguf, { activationDtype: 'float16', kvCacheDtype: 'float32' })).toEqual({
      weights: 'f16',
      activations: 'f16',
      kvCache: 'f32',
    });
    expect(resolvePrecision(hf, { activationDtype: 'float32', kvCacheDtype: 'auto' })).toEqual({
      weights: 'bf16',
      activations: 'f32',
      kvCache: 'bf16',
    });
    expect(resolvePrecision(gguf, { dtype: 'float32' })).toEqual({
      weights: 'f32',
      activations: 'f32',
      kvCache: 'f16',
    });
  });

  it('refuses unknown names and activations a GEMM cannot meet, naming the flag', () => {
    const fail = (choice: Parameters<typeof resolvePrecision>[1]) => {
      try {
        resolvePrecision(gguf, choice);
      } catch (e) {
        return e as PrecisionError;
      }
      throw new Error('no error');
    };
    expect(fail({ kvCacheDtype: 'fp8' })).toMatchObject({
      field: 'kvCacheDtype',
      message: expect.stringMatching(/^--kv-cache-dtype 'fp8' is not one of auto, float32, bfloat16, float16/),
    });
    expect(fail({ dtype: 'int8' }).message).toMatch(/^--dtype 'int8' is not one of/);
    expect(fail({ activationDtype: 'bfloat16' })).toMatchObject({
      field: 'activationDtype',
      message: expect.stringMatching(
        /--activation-dtype bfloat16 with f16 weights: .* float32 or the weights' dtype \(float16\)/,
      ),
    });
  });

  it('describes the policy compactly', () => {
    expect(describePrecision({ weights: 'bf16', activations: 'bf16', kvCache: 'bf16' })).toBe('bf16');
    expect(describePrecision({ weights: 'f16', activations: 'f32', kvCache: 'f16' })).toBe(
      'f16 weights, f32 activations, f16 KV cache',
    );
  });
});
