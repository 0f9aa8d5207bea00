/**
 * Bytes: the KV cache per token, the weights in a chosen dtype, and the checkpoint as its config describes it.
 */
import { ModelArgumentError, showValue } from './errors';
import { countParameters } from './params';
import { tensorGroups } from './tensors';
import type { ModelArchitecture } from './types';

/** Bytes per element of the dtypes weights and KV caches are stored in (int4: two per byte). */
export const DTYPE_BYTES = {
  f32: 4,
  bf16: 2,
  f16: 2,
  fp8_e4m3: 1,
  fp8_e5m2: 1,
  int8: 1,
  int4: 0.5,
} as const;
export type StorageDtype = keyof typeof DTYPE_BYTES;

/** KV-cache dtypes, with vLLM's `--kv-cache-dtype` name `fp8` (= fp8_e4m3) accepted too. */
export type KvCacheDtype = 'f32' | 'bf16' | 'f16' | 'fp8' | 'fp8_e4m3' | 'fp8_e5m2' | 'int8';
const KV_DTYPES: readonly string[] = ['f32', 'bf16', 'f16', 'fp8', 'fp8_e4m3', 'fp8_e5m2', 'int8'];

function dtypeBytes(argument: string, dtype: unknown, allowed: readonly string[]): number {
  if (typeof dtype !== 'string' || !allowed.includes(dtype)) {
    throw new ModelArgumentError(argument, `${showValue(dtype)} is not one of ${allowed.join(', ')}.`);
  }
  return dtype === 'fp8' ? 1 : DTYPE_BYTES[dtype as StorageDtype];
}

export interface KvCacheOptions {
  /** Count the MTP layers too (they keep their own cache when serving with MTP speculative decoding). Default false. */
  includeMtp?: boolean;
}

/**
 * KV-cache elements one token adds to one attention layer:
 *  - GQA: a key and a value per KV head, 2 · numKvHeads · headDim;
 *  - MLA: the compressed latent c_KV and the decoupled RoPE key k^R, kvLoraRank + qkRopeHeadDim, shared by all
 *    heads — what vLLM (`AttentionSpec.page_size_bytes`: one latent vector, head size 576 for DeepSeek-V3) and SGLang
 *    cache, and the (d_c + d_h^R) of the DeepSeek-V2 paper's Table 1.
 * Sliding-window layers are counted per token like full ones: the paged caches of vLLM allocate every token's slot
 * (the window bounds the attention, not the per-token size).
 */
export function kvCacheElementsPerTokenPerLayer(arch: ModelArchitecture): number {
  const a = arch.attention;
  return a.kind === 'gqa' ? 2 * a.numKvHeads * a.headDim : a.kvLoraRank + a.qkRopeHeadDim;
}

/** KV-cache bytes one token adds across all layers, in `kvDtype`. */
export function kvCacheBytesPerToken(
  arch: ModelArchitecture,
  kvDtype: KvCacheDtype,
  options: KvCacheOptions = {},
): number {
  const bytes = dtypeBytes('kvDtype', kvDtype, KV_DTYPES);
  const layers = arch.numLayers + (options.includeMtp ? (arch.mtp?.numLayers ?? 0) : 0);
  return layers * kvCacheElementsPerTokenPerLayer(arch) * bytes;
}

export interface WeightBytesOptions {
  /** Count the MTP modules' parameters too. Default false (the main model). */
  includeMtp?: boolean;
}

/** Bytes of the weights with every parameter stored in `dtype` (no quantisation scales). */
export function weightBytes(arch: ModelArchitecture, dtype: StorageDtype, options: WeightBytesOptions = {}): number {
  const bytes = dtypeBytes('dtype', dtype, Object.keys(DTYPE_BYTES));
  const counts = countParameters(arch);
  const params = options.includeMtp ? counts.checkpoint : counts.total.total;
  return params * bytes;
}

export interface CheckpointWeights {
  /** Parameter elements by storage dtype. */
  elements: Partial<Record<StorageDtype, number>>;
  /** Of elements.f32: the FP8 dequantisation scales (weight_scale_inv, input_scale), which are not parameters. */
  scaleElements: number;
  bytes: number;
}

/**
 * The checkpoint's storage as its config describes it: parameters in `torch_dtype` (bf16 when unstated), and for an
 * FP8 `quantization_config` the decoder-layer projections in FP8 (see TensorGroup.fp8) with one f32 scale per
 * weight_block_size block (ceil(rows / b0) · ceil(cols / b1) per weight) or per tensor, plus one f32 input scale per
 * projection when activation_scheme is static. MTP modules included (they are in the checkpoint).
 */
export function checkpointWeights(arch: ModelArchitecture): CheckpointWeights {
  const base: StorageDtype = arch.dtype ?? 'bf16';
  const q = arch.quantization;
  const fp8Dtype: StorageDtype = q?.format === 'e5m2' ? 'fp8_e5m2' : 'fp8_e4m3';
  const elements: Partial<Record<StorageDtype, number>> = {};
  const add = (dtype: StorageDtype, n: number): void => {
    elements[dtype] = (elements[dtype] ?? 0) + n;
  };
  let scales = 0;
  for (const g of tensorGroups(arch)) {
    const n = g.rows * g.cols * g.count;
    if (g.f32) add('f32', n);
    else if (q !== null && g.fp8) {
      add(fp8Dtype, n);
      const block = q.weightBlockSize;
      scales += (block === null ? 1 : Math.ceil(g.rows / block[0]) * Math.ceil(g.cols / block[1])) * g.count;
      if (q.activationScheme === 'static') scales += g.count;
    } else add(base, n);
  }
  if (scales > 0) add('f32', scales);
  let bytes = 0;
  for (const [dtype, n] of Object.entries(elements)) bytes += n * DTYPE_BYTES[dtype as StorageDtype];
  return { elements, scaleElements: scales, bytes };
}
