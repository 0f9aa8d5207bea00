/**
 * Models loaded from files serve like the embedded one: the embedded weights exported as a Hugging Face directory
 * (safetensors, half-rotation RoPE) and as GGUF (Q/K permuted, adjacent-pair RoPE) give the embedded model's greedy
 * tokens under the same precision policy; f32 and f16 compute dtypes follow the float64 reference.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportEmbedded } from '../../scripts/export-embedded';
import { createEngine, type LLMEngine } from '../../src/engine';
import { loadEmbeddedModel, loadModel } from '../../src/load-model';
import type { LoadedModel } from '../../src/types';
import { samplingParams } from '../support/params';
import { argmax, referenceLogits } from '../support/reference-llama';

const PROMPT = 'Tensor parallel decoding on simulated clusters';

async function greedy(engine: LLMEngine, ids: number[], n: number): Promise<number[]> {
  const out: number[] = [];
  const params = samplingParams({ maxTokens: n });
  for await (const o of engine.generate({ requestId: `g${Math.random()}`, promptTokenIds: ids, params }))
    out.push(...o.tokenIds);
  return out;
}

let refGreedy: number[] | null = null;
/** Six greedy tokens of the float64 reference after the prompt (computed once). */
function referenceGreedy(): number[] {
  if (refGreedy) return refGreedy;
  const m = loadEmbeddedModel();
  const seq = m.tokenizer.encode(PROMPT);
  const start = seq.length;
  for (let i = 0; i < 6; i++) {
    const logits = referenceLogits(m.config, m.tensors, seq);
    seq.push(argmax(logits[logits.length - 1]!));
  }
  refGreedy = seq.slice(start);
  return refGreedy;
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

  it.each(['float32', 'float16'] as const)('computes in %s and follows the float64 reference', async (dtype) => {
    const engine = await createEngine({ model: embedded, dtype, maxNumSeqs: 4, maxNumBatchedTokens: 64 });
    expect(await greedy(engine, ids, 6)).toEqual(referenceGreedy());
    expect(engine.hardware).toContain(dtype === 'float32' ? 'f32' : 'f16');
  });
});
