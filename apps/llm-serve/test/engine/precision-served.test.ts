/**
 * A generated F16 GGUF served end to end: llama.cpp's precision policy by default, the same greedy tokens at TP 1 and
 * TP 2 under it, and bit-identical logits at every TP degree with `tpInvariant`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LlamaConfig, LoadedModel } from '@tessera/serve';
import { createEngine, type EngineOptions, type LLMEngine } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRandomGguf } from '../../scripts/random-gguf';
import { loadModel } from '../../src/load-model';
import { samplingParams } from '../support/params';

/** Small and fast: 2 layers of width 128, 4 heads (TP up to 4), FFN 344, the embedded 512-token tokenizer. */
const SMALL: LlamaConfig = {
  vocabSize: 512,
  hiddenSize: 128,
  intermediateSize: 344,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 4,
  headDim: 32,
  maxPositionEmbeddings: 512,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeConvention: 'half',
  tieWordEmbeddings: true,
  dtype: 'f16',
};

const PROMPTS = ['Once upon a time', 'def gemm(a, b):\n    return a @ b', 'héllo wörld ✓ 日本語'];

/** Greedy tokens of every prompt (batched), and the logits after each sampled token of the first one. */
async function greedyRun(engine: LLMEngine, model: LoadedModel, n: number) {
  const firstLogits: Float32Array[] = [];
  const tokens = await Promise.all(
    PROMPTS.map(async (p, i) => {
      const out: number[] = [];
      const stream = engine.generate({
        requestId: `p${i}`,
        promptTokenIds: model.tokenizer.encode(p),
        params: samplingParams({ maxTokens: n }),
      });
      for await (const o of stream) out.push(...o.tokenIds);
      return out;
    }),
  );
  // One prompt alone, for its logits (the engine hands out a step's token before the next step runs).
  const stream = engine.generate({
    requestId: 'alone',
    promptTokenIds: model.tokenizer.encode(PROMPTS[0]!),
    params: samplingParams({ maxTokens: 4 }),
  });
  for await (const _ of stream) firstLogits.push(engine.llama.logits());
  await engine.shutdown();
  return { tokens, firstLogits };
}

describe('a generated F16 GGUF', () => {
  let dir: string;
  let model: LoadedModel;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-precision-'));
    writeRandomGguf({ file: path.join(dir, 'small.gguf'), config: SMALL, seed: 42 });
    model = await loadModel(path.join(dir, 'small.gguf'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const engine = (o: Partial<EngineOptions>) => createEngine({ model, maxNumSeqs: 4, maxNumBatchedTokens: 128, ...o });

  it("is served under llama.cpp's policy: f16 weights, f32 activations, f16 KV cache", async () => {
    expect(model.format).toBe('gguf');
    expect(model.config.dtype).toBe('f16');
    const e = await engine({});
    expect(e.llama.precision).toEqual({ weights: 'f16', activations: 'f32', kvCache: 'f16' });
    expect(e.hardware).toMatch(/TP 1, f16 weights, f32 activations, f16 KV cache$/);
    const vllm = await engine({ activationDtype: 'float16' });
    expect(vllm.hardware).toMatch(/TP 1, f16$/);
  });

  it('gives the same greedy tokens at TP 1 and TP 2 under the default policy', async () => {
    const one = await greedyRun(await engine({ tp: 1 }), model, 12);
    const two = await greedyRun(await engine({ tp: 2 }), model, 12);
    expect(two.tokens).toEqual(one.tokens);
    expect(one.tokens.every((t) => t.length === 12)).toBe(true);
  });

  it('with tpInvariant, TP 1, 2 and 4 give the same tokens and bit-identical logits (f16 activations too)', async () => {
    for (const activationDtype of ['auto', 'float16']) {
      const runs: Awaited<ReturnType<typeof greedyRun>>[] = [];
      for (const tp of [1, 2, 4])
        runs.push(await greedyRun(await engine({ tp, tpInvariant: true, activationDtype }), model, 8));
      for (const r of runs.slice(1)) {
        expect(r.tokens).toEqual(runs[0]!.tokens);
        r.firstLogits.forEach((l, s) => {
          const want = runs[0]!.firstLogits[s]!;
          expect(new Uint32Array(l.slice().buffer)).toEqual(new Uint32Array(want.slice().buffer));
        });
      }
    }
  });
});
