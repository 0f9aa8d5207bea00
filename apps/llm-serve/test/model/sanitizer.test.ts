/**
 * Zero false positives (`@tessera/device`'s docs/sanitizer.md): llm-serve's model steps — the embedded model served
 * through the engine (chunked prefill of a batch, decode through the paged KV cache, sampling), at TP 1 and TP 2 (the
 * all-reduces write device memory) on dgx-h100 and at TP 1 on an Atlas 800T A2 — under every sanitizer tool report
 * nothing.
 */
import { disableSanitizer, enableSanitizer, sanitizerReports, sanitizerSummary } from '@tessera/device';
import { createEngine, type EngineOptions, type LoadedModel } from '@tessera/serve';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/load-model';
import { samplingParams } from '../support/params';

let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel('embedded');
});
afterEach(() => disableSanitizer());

async function serve(o: Partial<EngineOptions>): Promise<number[][]> {
  const engine = await createEngine({
    model,
    maxNumSeqs: 4,
    maxNumBatchedTokens: 16,
    blockSize: 16,
    numGpuBlocksOverride: 16,
    ...o,
  });
  const prompts = ['Once upon a time there was', 'The simulator', 'héllo wörld'];
  const tokens = await Promise.all(
    prompts.map(async (p, i) => {
      const out: number[] = [];
      const stream = engine.generate({
        requestId: `r${i}`,
        promptTokenIds: model.tokenizer.encode(p),
        params: samplingParams({ maxTokens: 3, temperature: i === 1 ? 0.8 : 0, topK: i === 1 ? 20 : 0, seed: 7 }),
      });
      for await (const x of stream) out.push(...x.tokenIds);
      return out;
    }),
  );
  await engine.shutdown();
  return tokens;
}

describe("llm-serve's model steps under the sanitizer", () => {
  for (const o of [
    { name: 'dgx-h100, TP 1', opts: { tp: 1 } },
    { name: 'dgx-h100, TP 2', opts: { tp: 2 } },
    { name: 'atlas-800t-a2 (910b2), TP 1', opts: { backend: 'ascend-sim', tp: 1 } as const },
  ]) {
    it(`${o.name}: nothing reported under every tool, and the same tokens as without it`, async () => {
      const plain = await serve(o.opts);
      enableSanitizer('all', { print: false });
      const checked = await serve(o.opts);
      expect(
        sanitizerReports()
          .map((r) => r.text)
          .join('\n'),
      ).toBe('');
      expect(sanitizerSummary().launches).toBeGreaterThan(20);
      expect(checked).toEqual(plain);
    });
  }
});
