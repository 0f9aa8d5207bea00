/**
 * The engine end to end against the float64 reference: served in f32 and in f16, the embedded weights give the
 * reference's greedy tokens.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type LLMEngine } from '../../src/engine/index';
import { testModel } from '../support/model';
import { samplingParams } from '../support/params';
import { argmax, referenceLogits } from '../support/reference-llama';

const PROMPT = 'Tensor parallel decoding on simulated clusters';
const model = testModel();
const ids = model.tokenizer.encode(PROMPT);

async function greedy(engine: LLMEngine, n: number): Promise<number[]> {
  const out: number[] = [];
  const params = samplingParams({ maxTokens: n });
  for await (const o of engine.generate({ requestId: 'g', promptTokenIds: ids, params })) out.push(...o.tokenIds);
  return out;
}

let refGreedy: number[] | null = null;
/** Six greedy tokens of the float64 reference after the prompt (computed once). */
function referenceGreedy(): number[] {
  if (refGreedy) return refGreedy;
  const seq = [...ids];
  for (let i = 0; i < 6; i++) {
    const logits = referenceLogits(model.config, model.tensors, seq);
    seq.push(argmax(logits[logits.length - 1]!));
  }
  refGreedy = seq.slice(ids.length);
  return refGreedy;
}

describe('served against the float64 reference', () => {
  it.each(['float32', 'float16'] as const)('computes in %s and follows the float64 reference', async (dtype) => {
    const engine = await createEngine({ model, dtype, maxNumSeqs: 4, maxNumBatchedTokens: 64 });
    expect(await greedy(engine, 6)).toEqual(referenceGreedy());
    expect(engine.hardware).toContain(dtype === 'float32' ? 'f32' : 'f16');
    await engine.shutdown();
  });
});
