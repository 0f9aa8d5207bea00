/**
 * The embedded model's weights: a tiny Llama-shaped decoder with untrained, deterministic random weights (seeded; the
 * same bits on every machine), so the server starts with no download and this package's tests need no model file.
 * apps/llm-serve pairs them with its committed 512-token tokenizer (src/embedded/). It produces fluent-looking
 * gibberish — it is there to exercise the stack, not to answer questions.
 *
 * Initialisation: matrices ~ N(0, 1/in) so activations stay O(1) through the layers; the embedding (tied with the
 * output head) ~ N(0, 0.125²), which spreads logits by about two units: sampling at temperature 1 still varies, while
 * greedy decoding keeps clear winners (the top-2 gap stayed above 0.01 on every position we checked), so greedy output
 * is robust to the differences between tensor-parallel degrees (bf16 rounding of GEMM inputs at most: llm-serve's
 * README, "Tensor-parallel invariance") and to llama.cpp's.
 */
import { bf16BitsFromF32, f16BitsFromF32 } from '@tessera/device';
import type { HostTensor, LlamaConfig, TensorMap } from '../types';

/** Hyperparameters of the embedded model: ~3.2 M parameters, 6.4 MB in bf16. */
export const EMBEDDED_CONFIG: LlamaConfig = {
  vocabSize: 512,
  hiddenSize: 256,
  intermediateSize: 768,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 2, // GQA: 4 query heads per KV head; TP 8 replicates KV heads as vLLM does
  headDim: 32,
  maxPositionEmbeddings: 2048,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeConvention: 'half',
  tieWordEmbeddings: true,
  dtype: 'bf16',
};

export const EMBEDDED_SEED = 20261128;

/** SplitMix32-style generator: small, fast, and the same sequence everywhere. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
  };
}

/** Normal samples by Box–Muller from `next`. */
function gaussian(next: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    const u = Math.max(next(), 2 ** -32);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Deterministic weights for `config` (bf16 or f16 bits, or f32, as config.dtype says), canonical names (types.ts). */
export function embeddedWeights(config: LlamaConfig = EMBEDDED_CONFIG, seed = EMBEDDED_SEED): TensorMap {
  const { vocabSize: V, hiddenSize: D, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: HD } = config;
  const normal = gaussian(rng(seed));
  const tensors: TensorMap = new Map();
  const make = (name: string, shape: number[], value: () => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = value();
    let t: HostTensor;
    if (config.dtype === 'f32') t = { dtype: 'f32', shape, data: f };
    else if (config.dtype === 'bf16' || config.dtype === 'f16') {
      const bits = new Uint16Array(n);
      const enc = config.dtype === 'bf16' ? bf16BitsFromF32 : f16BitsFromF32;
      for (let i = 0; i < n; i++) bits[i] = enc(f[i]!);
      t = { dtype: config.dtype, shape, data: bits };
    } else throw new Error(`embeddedWeights: dtype ${config.dtype} is not generated; use 'bf16', 'f16' or 'f32'.`);
    tensors.set(name, t);
  };
  const matrix = (name: string, out: number, inn: number) => make(name, [out, inn], () => normal() / Math.sqrt(inn));
  const norm = (name: string) => make(name, [D], () => 1 + 0.1 * normal());
  make('embed', [V, D], () => 0.125 * normal());
  for (let l = 0; l < config.numLayers; l++) {
    norm(`layers.${l}.attn_norm`);
    matrix(`layers.${l}.q`, H * HD, D);
    matrix(`layers.${l}.k`, KV * HD, D);
    matrix(`layers.${l}.v`, KV * HD, D);
    matrix(`layers.${l}.o`, D, H * HD);
    norm(`layers.${l}.ffn_norm`);
    matrix(`layers.${l}.gate`, I, D);
    matrix(`layers.${l}.up`, I, D);
    matrix(`layers.${l}.down`, D, I);
  }
  norm('final_norm');
  if (!config.tieWordEmbeddings) matrix('lm_head', V, D);
  return tensors;
}
