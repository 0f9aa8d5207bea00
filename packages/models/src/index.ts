export {
  loadShippedModel,
  readShippedConfig,
  SHIPPED_MODELS,
  type ShippedModelId,
  shippedConfigPath,
} from './catalog';
export { CONFIG_LIMITS } from './config-reader';
export { ModelArgumentError, ModelConfigError, type ModelConfigErrorCode } from './errors';
export {
  attentionFlopsPerContextToken,
  decodeFlopsPerToken,
  type Flops,
  flopsPerToken,
  type PrefillOptions,
  prefillFlops,
} from './flops';
export {
  type CheckpointWeights,
  checkpointWeights,
  DTYPE_BYTES,
  type KvCacheDtype,
  type KvCacheOptions,
  kvCacheBytesPerToken,
  kvCacheElementsPerTokenPerLayer,
  type StorageDtype,
  type WeightBytesOptions,
  weightBytes,
} from './memory';
export { countParameters, type ParameterBreakdown, type ParameterCounts } from './params';
export { type ParseOptions, parseModelConfig, parseModelConfigText } from './parse';
export { isMoeLayer, type ParameterCategory, type TensorGroup, type TensorScope, tensorGroups } from './tensors';
export {
  type Attention,
  type CheckpointDtype,
  type DenseMlp,
  type Fp8Quantization,
  type GqaAttention,
  type MlaAttention,
  MODEL_TYPES,
  type ModelArchitecture,
  type ModelType,
  type Moe,
  type MoeLayout,
  type Quantization,
  type Rope,
  type RopeScaling,
} from './types';
