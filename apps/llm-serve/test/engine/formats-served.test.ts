/**
 * Models loaded from files serve like the embedded one: the embedded weights exported as a Hugging Face directory
 * (safetensors, half-rotation RoPE) and as GGUF (Q/K permuted, adjacent-pair RoPE) give the embedded model's greedy
 * tokens under the same precision policy. (That f32 and f16 compute dtypes follow the float64 reference is tested in
 * packages/serve: test/engine/reference-served.test.ts.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEngine, type LLMEngine, type LoadedModel } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportEmbedded } from '../../scripts/export-embedded';
import { loadEmbeddedModel, loadModel } from '../../src/load-model';
import { samplingParams } from '../support/params';

const PROMPT = 'Tensor parallel decoding on simulated clusters';

async function greedy(engine: LLMEngine, ids: number[], n: number): Promise<number[]> {
  const out: number[] = [];
  const params = samplingParams({ maxTokens: n });
  for await (const o of engine.generate({ requestId: `g${Math.random()}`, promptTokenIds: ids, params }))
    out.push(...o.tokenIds);
  return out;
}

describe('serving models from files', () => {
  let dir: string;
  const embedded = loadEmbeddedModel();
  const ids = embedded.tokenizer.encode(PROMPT);
  let expected: number[];
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-served-'));
    await exportEmbedded({ outDir: dir, dtype: 'bf16' });
    expected = await greedy(await createEngine({ model: embedded, maxNumSeqs: 4, maxNumBatchedTokens: 64 }), ids, 12);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(['safetensors', 'gguf'] as const)(
    'the embedded weights exported as %s give the same greedy tokens',
    async (format) => {
      const model: LoadedModel = await loadModel(format === 'gguf' ? path.join(dir, 'model.gguf') : dir);
      expect(model.format).toBe(format);
      expect(model.tokenizer.encode(PROMPT)).toEqual(ids);
      // A GGUF is served under llama.cpp's policy by default (f32 activations, f16 KV cache); the embedded model's
      // (bf16 throughout, as vLLM) makes the computation the same, so only the file round trip is under test.
      const engine = await createEngine({
        model,
        tp: 2,
        activationDtype: 'bfloat16',
        kvCacheDtype: 'bfloat16',
        maxNumSeqs: 4,
        maxNumBatchedTokens: 64,
      });
      expect(await greedy(engine, ids, 12)).toEqual(expected);
    },
  );
});
