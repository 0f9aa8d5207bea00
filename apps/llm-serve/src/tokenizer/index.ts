/** Every tokenizer the server needs, behind the one Tokenizer interface of @tessera/serve. */
export { type BpeModel, byteLevelTokenizerJson, trainByteLevelBpe } from './bpe-train';
export { DEFAULT_MODEL_CODE_BUDGET, type ModelCodeBudget, resolveBudget, runWithDeadline } from './budget';
export { CHAT_TEMPLATE_MAX_INDENT, ChatTemplate, type RenderOptions, renderChatTemplate } from './chat-template';
export { type GgufMetadata, type GgufTokenizerOptions, ggufTokenizer } from './gguf';
export { HfTokenizer, type HfTokenizerDirOptions, type HfTokenizerExtras, hfTokenizer, hfTokenizerFromDir } from './hf';
export { checkTokenizerJson, type TokenizerJsonCheck } from './hf-validate';
export { type Llama2cTokenizerOptions, llama2cTokenizer, llama2cTokenizerFromFile } from './llama2c';
export { SpmTokenizer, type SpmVocab, spmTokenizer, TokenType } from './spm';
