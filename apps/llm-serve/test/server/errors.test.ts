/**
 * Every kind of bad request gets the right status and `{"error": {message, type, param, code}}` with `param` naming
 * the field — and the server keeps serving: each bad request is followed by a good one.
 */

import type { AddressInfo } from 'node:net';
import type { Engine, Tokenizer } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenizerError } from '../../src/errors';
import { createServer } from '../../src/server/app';
import { expectError, type Json, post } from '../support/http';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

async function expectGood(base = s.baseUrl): Promise<void> {
  const res = await post(base, '/v1/completions', { prompt: 'still alive', max_tokens: 2 });
  expect(res.status).toBe(200);
  expect(((await res.json()) as Json).choices).toHaveLength(1);
}

const completionCases: Array<[string, unknown, string | null]> = [
  ['a JSON array body', [1, 2], null],
  ['no prompt', { max_tokens: 3 }, 'prompt'],
  ['a numeric prompt', { prompt: 42 }, 'prompt'],
  ['an empty prompt list', { prompt: [] }, 'prompt'],
  ['a mixed prompt list', { prompt: ['a', 1] }, 'prompt'],
  ['a fractional token id', { prompt: [1, 2.5] }, 'prompt'],
  ['an out-of-vocabulary token id', { prompt: [1, 10_000_000] }, 'prompt'],
  ['max_tokens 0', { prompt: 'x', max_tokens: 0 }, 'max_tokens'],
  ['fractional max_tokens', { prompt: 'x', max_tokens: 1.5 }, 'max_tokens'],
  ['max_tokens as a string', { prompt: 'x', max_tokens: '10' }, 'max_tokens'],
  ['n 0', { prompt: 'x', n: 0 }, 'n'],
  ['negative temperature', { prompt: 'x', temperature: -0.1 }, 'temperature'],
  ['temperature above 2', { prompt: 'x', temperature: 2.5 }, 'temperature'],
  ['temperature as a string', { prompt: 'x', temperature: 'hot' }, 'temperature'],
  ['top_p 0', { prompt: 'x', top_p: 0 }, 'top_p'],
  ['top_p above 1', { prompt: 'x', top_p: 1.5 }, 'top_p'],
  ['top_k -2', { prompt: 'x', top_k: -2 }, 'top_k'],
  ['fractional top_k', { prompt: 'x', top_k: 1.5 }, 'top_k'],
  ['fractional seed', { prompt: 'x', seed: 1.5 }, 'seed'],
  ['a numeric stop', { prompt: 'x', stop: 5 }, 'stop'],
  ['an empty stop string', { prompt: 'x', stop: [''] }, 'stop'],
  ['stop_token_ids not a list', { prompt: 'x', stop_token_ids: 'x' }, 'stop_token_ids'],
  ['a negative stop token id', { prompt: 'x', stop_token_ids: [-1] }, 'stop_token_ids'],
  ['ignore_eos as a string', { prompt: 'x', ignore_eos: 'yes' }, 'ignore_eos'],
  ['min_tokens over max_tokens', { prompt: 'x', max_tokens: 2, min_tokens: 3 }, 'min_tokens'],
  ['min_tokens over the default max_tokens', { prompt: 'x', min_tokens: 17 }, 'min_tokens'],
  ['presence_penalty', { prompt: 'x', presence_penalty: 0.5 }, 'presence_penalty'],
  ['frequency_penalty', { prompt: 'x', frequency_penalty: 1 }, 'frequency_penalty'],
  ['repetition_penalty', { prompt: 'x', repetition_penalty: 1.2 }, 'repetition_penalty'],
  ['logprobs', { prompt: 'x', logprobs: 1 }, 'logprobs'],
  ['suffix', { prompt: 'x', suffix: 'tail' }, 'suffix'],
  ['stream as a string', { prompt: 'x', stream: 'yes' }, 'stream'],
  ['stream_options without stream', { prompt: 'x', stream_options: { include_usage: true } }, 'stream_options'],
  ['echo as a number', { prompt: 'x', echo: 1 }, 'echo'],
  ['a numeric model', { prompt: 'x', model: 5 }, 'model'],
];

const chatCases: Array<[string, unknown, string | null]> = [
  ['no messages', { max_tokens: 2 }, 'messages'],
  ['empty messages', { messages: [] }, 'messages'],
  ['a message without a role', { messages: [{ content: 'hi' }] }, 'messages[0].role'],
  ['numeric content', { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
  [
    'an image content part',
    { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
    'messages[0].content',
  ],
  [
    'max_completion_tokens 0',
    { messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 0 },
    'max_completion_tokens',
  ],
  ['logprobs', { messages: [{ role: 'user', content: 'hi' }], logprobs: true }, 'logprobs'],
  ['top_logprobs', { messages: [{ role: 'user', content: 'hi' }], top_logprobs: 2 }, 'top_logprobs'],
  ['tools', { messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function' }] }, 'tools'],
  [
    'a JSON response_format',
    { messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } },
    'response_format',
  ],
];

describe('400 on bad input, then a good request', () => {
  it('invalid JSON', async () => {
    const e = await expectError(await post(s.baseUrl, '/v1/completions', '{"prompt": "x",'), 400, null);
    expect(e.type).toBe('BadRequestError');
    await expectGood();
  });

  it.each(completionCases)('/v1/completions with %s', async (_name, body, param) => {
    const e = await expectError(await post(s.baseUrl, '/v1/completions', body), 400, param);
    expect(e.type).toBe('BadRequestError');
    if (param?.endsWith('penalty') || param === 'logprobs' || param === 'suffix')
      expect(e.message).toMatch(/not supported/);
    await expectGood();
  });

  it.each(chatCases)('/v1/chat/completions with %s', async (_name, body, param) => {
    await expectError(await post(s.baseUrl, '/v1/chat/completions', body), 400, param);
    await expectGood();
  });
});

describe('context length', () => {
  it("refuses prompt + max_tokens over max_model_len with vLLM's message (completions)", async () => {
    const n = s.engine.maxModelLen;
    const { tokens } = (await (
      await post(s.baseUrl, '/tokenize', { prompt: 'a', add_special_tokens: false })
    ).json()) as Json;
    const prompt = new Array(n - 5).fill(tokens[0]);
    const e = await expectError(await post(s.baseUrl, '/v1/completions', { prompt, max_tokens: 10 }), 400);
    expect(e.message).toBe(
      `This model's maximum context length is ${n} tokens. However, you requested ${n + 5} tokens (${n - 5} in the messages, 10 in the completion). Please reduce the length of the messages or completion.`,
    );
    // Exactly at the limit is fine.
    const ok = await post(s.baseUrl, '/v1/completions', { prompt, max_tokens: 5, ignore_eos: true });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Json).usage.total_tokens).toBe(n);
  });

  it('refuses chat over the context, with and without max_tokens', async () => {
    const n = s.engine.maxModelLen;
    const messages = [{ role: 'user', content: 'a '.repeat(n + 10) }];
    const { count } = (await (await post(s.baseUrl, '/tokenize', { messages })).json()) as Json;
    expect(count).toBeGreaterThan(n);
    const e = await expectError(await post(s.baseUrl, '/v1/chat/completions', { messages, max_tokens: 10 }), 400);
    expect(e.message).toBe(
      `This model's maximum context length is ${n} tokens. However, you requested ${count + 10} tokens (${count} in the messages, 10 in the completion). Please reduce the length of the messages or completion.`,
    );
    const e2 = await expectError(await post(s.baseUrl, '/v1/chat/completions', { messages }), 400, 'messages');
    expect(e2.message).toContain(`maximum context length is ${n} tokens`);
    await expectGood();
  });
});

describe('other statuses', () => {
  it('answers an unknown model with 404 NotFoundError', async () => {
    for (const path of ['/v1/completions', '/v1/chat/completions']) {
      const body = { model: 'no-such-model', prompt: 'x', messages: [{ role: 'user', content: 'x' }] };
      const e = await expectError(await post(s.baseUrl, path, body), 404, 'model');
      expect(e.type).toBe('NotFoundError');
      expect(e.message).toContain('no-such-model');
    }
    await expectGood();
  });

  it('refuses chat on a model without a chat template with 400', async () => {
    const e = s.engine;
    const t = e.model.tokenizer;
    // Forwarding (not Object.create), so it works with tokenizers that use private fields.
    const tokenizer: Tokenizer = {
      vocabSize: t.vocabSize,
      bosTokenId: t.bosTokenId,
      eosTokenIds: t.eosTokenIds,
      chatTemplate: null,
      encode: (text, o) => t.encode(text, o),
      decode: (ids, o) => t.decode(ids, o),
      idToToken: (id) => t.idToToken(id),
      applyChatTemplate: () => {
        throw new TokenizerError('This model has no chat template.');
      },
    };
    const noTemplate: Engine = {
      model: { ...e.model, tokenizer },
      maxModelLen: e.maxModelLen,
      hardware: e.hardware,
      healthy: true,
      failure: null,
      get waitingRoom() {
        return e.waitingRoom;
      },
      generate: (r, signal) => e.generate(r, signal),
      stats: () => e.stats(),
      shutdown: async () => {},
    };
    const server = createServer({ engine: noTemplate });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const res = await post(base, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] });
      expect((await expectError(res, 400)).message).toMatch(/chat template/);
      await expectGood(base);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
