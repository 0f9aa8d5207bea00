/**
 * A model file's claimed context length sizes nothing by itself: a GGUF saying context_length 2³¹−1 used to make
 * engine creation ask the device for 128 GiB of block tables. The tables are sized for the longest sequence the KV
 * cache can hold.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type LLMEngine } from '../../src/engine/index';
import type { RequestOutput } from '../../src/types';
import { testModel } from '../support/model';
import { samplingParams } from '../support/params';

describe('a huge claimed context length', () => {
  it('is capped by the KV cache before anything is sized from it', async () => {
    const embedded = testModel();
    const model = { ...embedded, config: { ...embedded.config, maxPositionEmbeddings: 2 ** 31 - 1 } };
    const engine = (await createEngine({ model, maxNumSeqs: 4, maxNumBatchedTokens: 64 })) as LLMEngine;
    try {
      const { numBlocks, blockSize } = engine.kvInfo;
      expect(engine.maxModelLen).toBe(numBlocks * blockSize);
      expect(engine.llama.maxBlocksPerSeq).toBeLessThanOrEqual(numBlocks);
      const outs: RequestOutput[] = [];
      for await (const o of engine.generate({ requestId: 'x', promptTokenIds: [1, 2, 3], params: samplingParams() })) {
        outs.push(o);
      }
      expect(outs.at(-1)!.finishReason).toBe('length');
    } finally {
      await engine.shutdown();
    }
  }, 60_000);
});
