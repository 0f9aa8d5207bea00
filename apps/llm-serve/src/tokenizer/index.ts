/** Every tokenizer the server needs, behind the one Tokenizer interface of ../types. */
export { type BpeModel, byteLevelTokenizerJson, trainByteLevelBpe } from './bpe-train';
export { ChatTemplate, type RenderOptions, renderChatTemplate } from './chat-template';
export { type DetokenizerOptions, IncrementalDetokenizer } from './detokenizer';
export { type GgufMetadata, ggufTokenizer } from './gguf';
export { HfTokenizer, type HfTokenizerExtras, hfTokenizer, hfTokenizerFromDir } from './hf';
export { type Llama2cTokenizerOptions, llama2cTokenizer, llama2cTokenizerFromFile } from './llama2c';
export { SpmTokenizer, type SpmVocab, spmTokenizer, TokenType } from './spm';
