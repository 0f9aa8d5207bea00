/**
 * @tessera/kernels — the portable operator library. Each operator: a tile kernel written once, a host function that
 * validates shapes and dtypes and picks tiles for the device, and a float64 reference in the tests.
 */
export { type FlashAttentionArgs, flashAttention, flashAttentionKernel } from './attention';
export { ALL_DTYPES, type CastArgs, cast, castKernel } from './cast';
export { FLOAT_DTYPES, type OpOptions, QUANT_DTYPES } from './common';
export { chooseGemmConfig, type GemmConfig, gemmTileFits, maxVectorBlock, streamingGrid } from './config';
export { copy, copyKernel } from './copy';
export {
  add,
  addKernel,
  type BinaryArgs,
  type ElementwiseOptions,
  type GeluArgs,
  gelu,
  geluKernel,
  mul,
  mulKernel,
  type SiluAndMulArgs,
  silu,
  siluAndMul,
  siluAndMulKernel,
  siluKernel,
  type UnaryArgs,
} from './elementwise';
export { type EmbeddingArgs, embedding, embeddingKernel } from './embedding';
export {
  type Activation,
  applyActivation,
  batchedGemm,
  dequantizeBlock,
  type GemmArgs,
  gemm,
  gemmKernel,
  type LaunchOptions,
} from './gemm';
export { type GroupedGemmArgs, groupedGemm, groupedGemmKernel } from './grouped-gemm';
export {
  type MoePermuteArgs,
  type MoeRouterArgs,
  type MoeUnpermuteArgs,
  moePermute,
  moePermuteKernel,
  moeRouter,
  moeRouterKernel,
  moeUnpermute,
  moeUnpermuteKernel,
} from './moe';
export { type LayerNormArgs, layernorm, layernormKernel, type RmsNormArgs, rmsnorm, rmsnormKernel } from './norm';
export {
  KV_CACHE_DTYPES,
  type PagedAttentionArgs,
  pagedAttention,
  pagedAttentionKernel,
  type ReshapeAndCacheArgs,
  reshapeAndCache,
  reshapeAndCacheKernel,
} from './paged-attention';
export { type QuantizeArgs, quantizeKernel, quantizePerToken, quantizeWeightsPerChannel } from './quant';
export { argmax, argmaxKernel, type ReduceArgs, type ReduceOp, reduce, reduceKernels } from './reduce';
export { type RopeArgs, type RopeConvention, rope, ropeKernel } from './rope';
export { SAMPLE_PARAM_LIMITS, type SampleArgs, sample, sampleKernel, sampleUniform } from './sampling';
export { logSoftmax, logSoftmaxKernel, type SoftmaxArgs, softmax, softmaxKernel } from './softmax';
export { type TopKArgs, topk, topkBlock, topkKernel } from './topk';
export { type TransposeArgs, transpose, transposeKernel } from './transpose';
