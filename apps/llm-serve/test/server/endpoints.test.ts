/**
 * /v1/models, /health, /tokenize, /detokenize, and the routing errors (404 unknown path, 405 wrong method).
 */
import type { AddressInfo } from 'node:net';
import type { Engine } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app';
import { expectError, type Json, post } from '../support/http';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

describe('GET /v1/models', () => {
  it('lists the served model with its context length and an honest tessera description', async () => {
    const res = await fetch(`${s.baseUrl}/v1/models`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.object).toBe('list');
    expect(body.data).toHaveLength(1);
    const m = body.data[0];
    expect(m).toMatchObject({ id: s.engine.model.id, object: 'model', owned_by: 'tessera' });
    expect(Number.isInteger(m.created)).toBe(true);
    expect(m.max_model_len).toBe(s.engine.maxModelLen);
    expect(m.tessera.description).toBe(s.engine.model.description);
    expect(m.tessera.hardware).toBe(s.engine.hardware);
    expect(m.tessera.vocab_size).toBe(s.engine.model.config.vocabSize);
  });

  it('uses --served-model-name as the id and accepts it in requests', async () => {
    const named = await startTestServer({ servedModelName: 'my-model' });
    try {
      const body = (await (await fetch(`${named.baseUrl}/v1/models`)).json()) as Json;
      expect(body.data[0].id).toBe('my-model');
      const ok = await post(named.baseUrl, '/v1/completions', { model: 'my-model', prompt: 'x', max_tokens: 1 });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as Json).model).toBe('my-model');
    } finally {
      await named.close();
    }
  });
});

describe('GET /health', () => {
  it('is 200 while the engine is healthy', async () => {
    const res = await fetch(`${s.baseUrl}/health`);
    expect(res.status).toBe(200);
  });

  it('is 503 with the reason when the engine is not', async () => {
    const e = s.engine;
    // A forwarding wrapper (not a prototype trick) so it works with engines that use private fields.
    const dead: Engine = {
      model: e.model,
      maxModelLen: e.maxModelLen,
      hardware: e.hardware,
      healthy: false,
      failure: 'The engine failed: rank 0 (h100:0) is unusable: injected',
      get waitingRoom() {
        return e.waitingRoom;
      },
      generate: (r, signal) => e.generate(r, signal),
      stats: () => e.stats(),
      shutdown: async () => {},
    };
    const server = createServer({ engine: dead });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health`);
      expect(res.status).toBe(503);
      // The body says why, so an operator can tell a dead device from a shutdown.
      expect(await res.json()).toEqual({ status: 'unhealthy', reason: dead.failure });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('/tokenize and /detokenize', () => {
  it('tokenizes a prompt with BOS by default, without on request, and returns token strings', async () => {
    const tok = s.engine.model.tokenizer;
    const withBos = (await (await post(s.baseUrl, '/tokenize', { prompt: 'Hello world' })).json()) as Json;
    expect(withBos.tokens).toEqual(tok.encode('Hello world'));
    expect(withBos.count).toBe(withBos.tokens.length);
    expect(withBos.max_model_len).toBe(s.engine.maxModelLen);
    expect(withBos.token_strs).toBeUndefined();

    const res = await post(s.baseUrl, '/tokenize', {
      prompt: 'Hello world',
      add_special_tokens: false,
      return_token_strs: true,
    });
    const plain = (await res.json()) as Json;
    expect(plain.tokens).toEqual(tok.encode('Hello world', { addSpecialTokens: false }));
    expect(plain.token_strs).toEqual(plain.tokens.map((t: number) => tok.idToToken(t)));
  });

  it('tokenizes messages the way chat renders them (BOS not doubled)', async () => {
    const messages = [{ role: 'user', content: 'Hi there' }];
    const body = (await (await post(s.baseUrl, '/tokenize', { messages })).json()) as Json;
    const bos = s.engine.model.tokenizer.bosTokenId;
    expect(body.count).toBe(body.tokens.length);
    if (bos !== null) expect(body.tokens.filter((t: number) => t === bos).length).toBeLessThanOrEqual(1);
    // The count is exactly what a chat request is charged as prompt tokens.
    const chat = await post(s.baseUrl, '/v1/chat/completions', { messages, max_tokens: 1 });
    expect(((await chat.json()) as Json).usage.prompt_tokens).toBe(body.count);
  });

  it('detokenizes what it tokenized', async () => {
    const { tokens } = (await (
      await post(s.baseUrl, '/tokenize', { prompt: 'round trip', add_special_tokens: false })
    ).json()) as Json;
    const body = (await (await post(s.baseUrl, '/detokenize', { tokens })).json()) as Json;
    expect(body.prompt).toBe('round trip');
  });

  it('refuses bad input with 400', async () => {
    await expectError(await post(s.baseUrl, '/tokenize', {}), 400, 'prompt');
    await expectError(await post(s.baseUrl, '/detokenize', { tokens: 'abc' }), 400, 'tokens');
    await expectError(await post(s.baseUrl, '/detokenize', { tokens: [-1] }), 400, 'tokens');
    await expectError(await post(s.baseUrl, '/detokenize', { tokens: [1e9] }), 400, 'tokens');
  });
});

describe('routing', () => {
  it('answers an unknown path with 404 and a wrong method with 405, then keeps serving', async () => {
    await expectError(await fetch(`${s.baseUrl}/v1/nope`), 404);
    await expectError(await fetch(`${s.baseUrl}/nope`, { method: 'POST' }), 404);
    const wrong = await fetch(`${s.baseUrl}/v1/completions`);
    expect(wrong.headers.get('allow')).toBe('POST');
    await expectError(wrong, 405);
    await expectError(await post(s.baseUrl, '/v1/models', {}), 405);
    expect((await fetch(`${s.baseUrl}/v1/models`)).status).toBe(200);
  });
});
