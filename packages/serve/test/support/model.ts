/**
 * The model of this package's tests: the embedded model's weights (seeded, ~3 M parameters: every step is fast) with
 * a byte-level tokenizer written for the tests, as the engine needs only the Tokenizer interface. Ids 0–255 are bytes
 * (a character may span several tokens, as with byte-level BPE), 256–506 decode to words (" w256"), 507 is BOS, 508
 * and 511 end generation.
 */
import { EMBEDDED_CONFIG, embeddedWeights } from '../../src/model/embedded';
import type { LoadedModel, TensorMap, Tokenizer } from '../../src/types';

export const BOS_ID = 507;
export const EOS_IDS: readonly number[] = [508, 511];

const SPECIAL: Record<number, string> = {
  507: '<|bos|>',
  508: '<|end_of_text|>',
  509: '<|start_header|>',
  510: '<|end_header|>',
  511: '<|eot|>',
};

export function byteTokenizer(vocabSize = EMBEDDED_CONFIG.vocabSize): Tokenizer {
  const utf8 = new TextDecoder();
  const piece = (id: number): string | undefined =>
    id < 256 ? undefined : (SPECIAL[id] ?? (id < vocabSize ? ` w${id}` : undefined));
  return {
    vocabSize,
    bosTokenId: BOS_ID,
    eosTokenIds: EOS_IDS,
    chatTemplate: null,
    encode(text, options = {}) {
      const ids = [...new TextEncoder().encode(text)];
      return options.addSpecialTokens === false ? ids : [BOS_ID, ...ids];
    },
    decode(ids, options = {}) {
      const skip = options.skipSpecialTokens ?? true;
      let text = '';
      let bytes: number[] = [];
      const flush = () => {
        text += utf8.decode(new Uint8Array(bytes));
        bytes = [];
      };
      for (const id of ids) {
        if (id < 256) {
          bytes.push(id);
          continue;
        }
        flush();
        if (!(skip && id in SPECIAL)) text += piece(id) ?? '';
      }
      flush();
      return text;
    },
    idToToken(id) {
      return id < 256 ? `<0x${id.toString(16).padStart(2, '0').toUpperCase()}>` : piece(id);
    },
    applyChatTemplate() {
      throw new Error('The test tokenizer has no chat template.');
    },
  };
}

let tensors: TensorMap | null = null;

/** The embedded weights with the byte tokenizer (the weights are generated once per test file). */
export function testModel(): LoadedModel {
  tensors ??= embeddedWeights(EMBEDDED_CONFIG);
  return {
    id: 'embedded-test',
    source: 'embedded',
    format: 'embedded',
    description: 'The embedded weights with a byte-level test tokenizer.',
    config: EMBEDDED_CONFIG,
    tensors,
    tokenizer: byteTokenizer(),
    eosTokenIds: EOS_IDS,
  };
}
