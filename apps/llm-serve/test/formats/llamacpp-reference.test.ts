/**
 * Greedy decoding of a GGUF file matches llama.cpp's on the same file. The reference (tokens and 24 greedy tokens per
 * prompt) was produced once by real llama.cpp through scripts/llamacpp-reference.ts; this test re-exports the GGUF,
 * checks it is byte-identical to the one llama.cpp read (SHA-256), and runs our tokenizer and engine on it.
 */
import * as fs from 'node:fs';
import type { LoadedModel } from '@tessera/serve';
import { createEngine } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportReferenceGguf, type LlamaCppReference, REFERENCE_FILE } from '../../scripts/llamacpp-reference';
import { loadModel } from '../../src/load-model';
import { samplingParams } from '../support/params';

const reference = JSON.parse(fs.readFileSync(REFERENCE_FILE, 'utf8')) as LlamaCppReference;

describe('GGUF greedy decoding matches llama.cpp', () => {
  let gguf: Awaited<ReturnType<typeof exportReferenceGguf>>;
  let model: LoadedModel;
  beforeAll(async () => {
    gguf = await exportReferenceGguf();
    model = await loadModel(gguf.file);
  });
  afterAll(() => fs.rmSync(gguf.dir, { recursive: true, force: true }));

  it('re-exports the very file llama.cpp read', () => {
    expect({ sha256: gguf.sha256, bytes: gguf.bytes }).toEqual({
      sha256: reference.gguf.sha256,
      bytes: reference.gguf.bytes,
    });
    expect(model.format).toBe('gguf');
    expect(model.config.ropeConvention).toBe('interleaved');
  });

  it('tokenizes every prompt as llama.cpp does (BOS added from the metadata)', () => {
    for (const c of reference.cases) expect(model.tokenizer.encode(c.prompt)).toEqual(c.promptTokens);
  });

  it.each([
    ['nvidia-sim', 1],
    ['ascend-sim', 2],
  ] as const)('generates llama.cpp’s greedy tokens on %s with TP %i', async (backend, tp) => {
    const engine = await createEngine({ model, backend, tp, maxNumSeqs: 8, maxNumBatchedTokens: 256 });
    const runs = reference.cases.map(async (c) => {
      const ids: number[] = [];
      const stream = engine.generate({
        requestId: `${backend}-${c.prompt}`,
        promptTokenIds: c.promptTokens,
        params: samplingParams({ maxTokens: c.greedy.length }),
      });
      for await (const o of stream) ids.push(...o.tokenIds);
      return ids;
    });
    expect(await Promise.all(runs)).toEqual(reference.cases.map((c) => c.greedy));
    await engine.shutdown();
  });
});
