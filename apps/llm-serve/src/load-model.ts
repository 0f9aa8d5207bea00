/**
 * loadModel: a path (Hugging Face directory, GGUF file, llama2.c checkpoint) or 'embedded' → a LoadedModel with its
 * tokenizer. The readers (formats/) and tokenizers (tokenizer/) do the work; this file joins them and checks that
 * they agree with each other.
 */
import { dirname } from 'node:path';
import type { LoadedModel, Tokenizer } from '@tessera/serve';
import { EMBEDDED_CONFIG, EMBEDDED_SEED, embeddedWeights } from '@tessera/serve';
import { EMBEDDED_EOS_IDS, embeddedTokenizer } from './embedded/tokenizer';
import { ModelLoadError } from './errors';
import { readModelFiles } from './formats/load';
import type { ModelCodeBudget } from './tokenizer/budget';
import { ggufTokenizer } from './tokenizer/gguf';
import { hfTokenizerFromDir } from './tokenizer/hf';
import { llama2cTokenizerFromFile } from './tokenizer/llama2c';

export const EMBEDDED_MODEL_ID = 'tessera-tiny-llama';

function parameters(m: Pick<LoadedModel, 'tensors'>): number {
  let n = 0;
  for (const t of m.tensors.values()) n += t.data.length;
  return n;
}

/** The embedded model: untrained, deterministic random weights and a 512-token byte-level BPE tokenizer. */
export function loadEmbeddedModel(): LoadedModel {
  const tensors = embeddedWeights(EMBEDDED_CONFIG, EMBEDDED_SEED);
  const c = EMBEDDED_CONFIG;
  const millions = (parameters({ tensors }) / 1e6).toFixed(1);
  return {
    id: EMBEDDED_MODEL_ID,
    source: 'embedded',
    format: 'embedded',
    description:
      `Tiny Llama-architecture model with UNTRAINED random weights (seed ${EMBEDDED_SEED}): ${millions} M parameters, ` +
      `${c.numLayers} layers, ${c.numHeads} heads / ${c.numKvHeads} KV heads, ${c.vocabSize}-token byte-level BPE. ` +
      'Its text is gibberish by design: it exercises the serving stack, it does not answer questions.',
    config: c,
    tensors,
    tokenizer: embeddedTokenizer(),
    eosTokenIds: EMBEDDED_EOS_IDS,
  };
}

export interface LoadModelOptions {
  /** llama2.c: the tokenizer.bin to use instead of the one beside the checkpoint. */
  tokenizer?: string;
  /**
   * Time, steps and size the model's own code may use per request — tokenizer regexes and the special-token scan
   * (tokenizerMs, usPerChar) and the chat template (chatTemplateMs, chatTemplateSteps, chatTemplateChars and their
   * per-character parts). Unset fields keep DEFAULT_MODEL_CODE_BUDGET. Not applied to the embedded model.
   */
  budget?: Partial<ModelCodeBudget>;
}

/** Loads `path`, or the embedded model for 'embedded'. Throws ModelLoadError / TokenizerError with the file named. */
export async function loadModel(path = 'embedded', options: LoadModelOptions = {}): Promise<LoadedModel> {
  if (path === 'embedded') return loadEmbeddedModel();
  const files = readModelFiles(path, { tokenizerPath: options.tokenizer });
  const src = files.tokenizerSource;
  const budget = options.budget ?? {};
  let tokenizer: Tokenizer;
  if (src.kind === 'hf') {
    // Ids are checked against the embedding's rows as the tokenizer loads (hf-validate.ts).
    tokenizer = hfTokenizerFromDir(dirname(src.tokenizerJsonPath), { maxVocabSize: files.config.vocabSize, budget });
  } else if (src.kind === 'gguf') {
    tokenizer = ggufTokenizer(src.metadata, { file: files.source, budget });
  } else {
    tokenizer = llama2cTokenizerFromFile(src.tokenizerBinPath, files.config.vocabSize, { budget });
  }
  if (tokenizer.vocabSize > files.config.vocabSize) {
    throw new ModelLoadError(
      `The tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${files.config.vocabSize}: ids past ${files.config.vocabSize - 1} would have no embedding.`,
      { file: files.source, hint: 'Use the tokenizer that was shipped with these weights.' },
    );
  }
  const eos = [...new Set([...tokenizer.eosTokenIds, ...files.eosTokenIds])];
  const c = files.config;
  const millions = (parameters(files) / 1e6).toFixed(1);
  return {
    id: files.id,
    source: files.source,
    format: files.format,
    description: `${files.format} model from ${files.source}: ${millions} M parameters, ${c.numLayers} layers, ${c.dtype} weights.`,
    config: c,
    tensors: files.tensors,
    tokenizer,
    eosTokenIds: eos,
  };
}
