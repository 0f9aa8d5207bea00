/**
 * Fault isolation: a step that fails fails only the requests it can be traced to, and the engine keeps serving; a
 * device that faults makes the engine unhealthy, with the device named. (Over HTTP: apps/llm-serve's
 * test/server/isolation.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type LLMEngine } from '../../src/engine/index';
import { EngineError } from '../../src/errors';
import type { BatchEntry } from '../../src/model/llama';
import type { RequestOutput, SamplingParams } from '../../src/types';
import { testModel } from '../support/model';
import { samplingParams } from '../support/params';

const model = testModel();
const tok = model.tokenizer;
const POISON = 666;

let engine: LLMEngine;
afterEach(() => engine?.shutdown());

async function newEngine(): Promise<LLMEngine> {
  engine = (await createEngine({ model, maxNumSeqs: 8, maxNumBatchedTokens: 256 })) as LLMEngine;
  return engine;
}

/** Makes every step that holds a request seeded POISON throw, as a kernel-argument check would. */
function poisonSteps(e: LLMEngine): { steps: number } {
  const counter = { steps: 0 };
  const forward = e.llama.forward.bind(e.llama);
  e.llama.forward = (entries: BatchEntry[]) => {
    counter.steps++;
    if (entries.some((x) => x.seed === POISON)) throw new Error('injected step failure');
    return forward(entries);
  };
  return counter;
}

let nextId = 0;
async function run(e: LLMEngine, prompt: string, p: Partial<SamplingParams> = {}) {
  const outs: RequestOutput[] = [];
  const stream = e.generate({
    requestId: `i${nextId++}`,
    promptTokenIds: tok.encode(prompt),
    params: samplingParams(p),
  });
  for await (const o of stream) outs.push(o);
  return { tokens: outs.flatMap((o) => o.tokenIds), last: outs.at(-1)! };
}

describe('a failing step', () => {
  it('fails the request it is traced to; the requests batched with it and the next ones are served', async () => {
    const clean = await newEngine();
    const expected = (await run(clean, 'batched neighbour', { maxTokens: 8 })).tokens;
    await clean.shutdown();

    const e = await newEngine();
    poisonSteps(e);
    const [bad, good] = await Promise.allSettled([
      run(e, 'poisoned request', { maxTokens: 8, seed: POISON }),
      run(e, 'batched neighbour', { maxTokens: 8 }),
    ]);
    expect(bad.status).toBe('rejected');
    const err = (bad as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('internal');
    expect((err as Error).message).toMatch(/injected step failure/);
    expect(good.status).toBe('fulfilled');
    // The neighbour's tokens are what it gets alone: the failed attempt left nothing behind in its KV cache.
    expect((good as PromiseFulfilledResult<{ tokens: number[] }>).value.tokens).toEqual(expected);

    expect(e.healthy).toBe(true);
    expect(e.failure).toBeNull();
    const next = await run(e, 'and the next one', { maxTokens: 4 });
    expect(next.last.finishReason).toBe('length');
    expect(e.stats()).toMatchObject({ running: 0, waiting: 0, kvCacheUsage: 0 });
  });

  it('refuses sampling values the kernel cannot take at admission instead of failing a step', async () => {
    const e = await newEngine();
    for (const p of [{ topK: 2 ** 31 }, { seed: 2 ** 32 }, { seed: 1.5 }, { temperature: Number.NaN }]) {
      expect(() =>
        e.generate({ requestId: `bad${nextId++}`, promptTokenIds: tok.encode('x'), params: samplingParams(p) }),
      ).toThrow(EngineError);
    }
    expect((await run(e, 'fine', { maxTokens: 2 })).last.finishReason).toBe('length');
  });

  it('a device fault is fatal: every request ends, and failure names the device', async () => {
    const e = await newEngine();
    const forward = e.llama.forward.bind(e.llama);
    e.llama.forward = (entries: BatchEntry[]) => {
      e.llama.ranks[0]!.dev.fail('injected fault');
      return forward(entries);
    };
    const r = await run(e, 'doomed', { maxTokens: 4 });
    expect(r.last.finishReason).toBe('abort');
    expect(e.healthy).toBe(false);
    expect(e.failure).toMatch(/rank 0 \(h100:0\) is unusable/);
    expect(() => e.generate({ requestId: 'after', promptTokenIds: [1], params: samplingParams() })).toThrow(/rank 0/);
  });
});
