/**
 * Fault isolation over HTTP: the request a failing step is traced to gets a 500 naming the cause, the next is served
 * and /health stays 200; only a device that is gone makes /health 503 with the reason. (The engine side:
 * packages/serve's test/engine/isolation.test.ts.)
 */
import { createEngine, type LLMEngine } from '@tessera/serve';
import { afterEach, describe, expect, it } from 'vitest';
import { loadEmbeddedModel } from '../../src/load-model';
import { createServer } from '../../src/server/app';
import { expectError, type Json, post } from '../support/http';

const model = loadEmbeddedModel();
const POISON = 666;

let engine: LLMEngine;
afterEach(() => engine?.shutdown());

async function newEngine(): Promise<LLMEngine> {
  engine = await createEngine({ model, maxNumSeqs: 8, maxNumBatchedTokens: 256 });
  return engine;
}

/** Makes every step that holds a request seeded POISON throw, as a kernel-argument check would. */
function poisonSteps(e: LLMEngine): void {
  const forward = e.llama.forward.bind(e.llama);
  e.llama.forward = (entries) => {
    if (entries.some((x) => x.seed === POISON)) throw new Error('injected step failure');
    return forward(entries);
  };
}

describe('over HTTP', () => {
  it('the failed request gets a 500 naming the cause, the next is served, /health stays 200', async () => {
    const e = await newEngine();
    poisonSteps(e);
    const server = createServer({ engine: e });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const failed = await post(base, '/v1/completions', { prompt: 'x', max_tokens: 3, seed: POISON });
      expect((await expectError(failed, 500)).message).toMatch(/could not run this request: injected step failure/);
      const streamed = await post(base, '/v1/completions', { prompt: 'x', max_tokens: 3, seed: POISON, stream: true });
      expect(streamed.status).toBe(500);
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const ok = await post(base, '/v1/completions', { prompt: 'x', max_tokens: 3, seed: 1 });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as Json).choices[0].finish_reason).toBe('length');

      // A device that fails makes /health say which.
      e.llama.ranks[0]!.dev.fail('injected fault');
      await post(base, '/v1/completions', { prompt: 'x', max_tokens: 3, seed: 2 });
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as Json).reason).toMatch(/rank 0 \(h100:0\)/);
      await expectError(await post(base, '/v1/completions', { prompt: 'x', max_tokens: 1 }), 503);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
