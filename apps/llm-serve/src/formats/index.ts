/**
 * Model files: readers and writers for Hugging Face (config.json + safetensors), GGUF and llama2.c checkpoints.
 * `readModelFiles` is the entry point the server uses; the rest is for tools, tests and the export script.
 */
export { canonicalShapes } from './canonical';
export { dequantizeQ8_0, type GgufHeader, type GgufValue, readGguf, readGgufHeader } from './gguf';
export {
  type GgufModel,
  ggufLlamaConfig,
  ggufNameOf,
  permuteForInterleavedRope,
  readGgufModel,
  unpermuteFromInterleavedRope,
} from './gguf-llama';
export { type GgufTokenizerExport, ggufTokenizerMetadata } from './gguf-tokenizer-export';
export { type GgufRawTensor, type GgufTypedValue, gv, writeGguf } from './gguf-write';
export {
  hfConfigJson,
  hfNameOf,
  mapHfTensors,
  parseHfConfig,
  readHfConfigDir,
  type SpecialTokenIds,
  toHfTensors,
} from './hf-config';
export { type Llama2cModel, readLlama2c, writeLlama2c } from './llama2c';
export {
  ACCEPTED_HINT,
  type ModelFiles,
  type ReadModelFilesOptions,
  readModelFiles,
  type TokenizerSource,
} from './load';
export { readSafetensors, type SafetensorsContents, writeSafetensors } from './safetensors';
