/**
 * POST /v1/chat/completions, non-streaming: shape, usage against /tokenize, content parts, max_completion_tokens,
 * the default max_tokens (the rest of the context), BOS handling, n.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, post } from '../support/http';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

const chat = async (base: string, body: Record<string, unknown>): Promise<Json> => {
  const res = await post(base, '/v1/chat/completions', body);
  expect(res.status).toBe(200);
  return res.json();
};
const tokenizeMessages = async (base: string, messages: unknown): Promise<Json> =>
  (await post(base, '/tokenize', { messages })).json();

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hello!' },
];

describe('POST /v1/chat/completions', () => {
  it('returns an assistant message with usage counted as /tokenize counts the messages', async () => {
    const body = await chat(s.baseUrl, { model: s.engine.model.id, messages, max_tokens: 7, ignore_eos: true });
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe(s.engine.model.id);
    expect(body.choices).toHaveLength(1);
    const c = body.choices[0];
    expect(c.index).toBe(0);
    expect(c.message.role).toBe('assistant');
    expect(typeof c.message.content).toBe('string');
    expect(c.finish_reason).toBe('length');
    const { count } = await tokenizeMessages(s.baseUrl, messages);
    expect(body.usage).toEqual({ prompt_tokens: count, completion_tokens: 7, total_tokens: count + 7 });
    expect(body.tessera.hardware).toBe(s.engine.hardware);
    expect(body.tessera.modelled.e2e_ms).toBeGreaterThan(0);
  });

  it('does not double BOS when the template writes it', async () => {
    const { tokens } = await tokenizeMessages(s.baseUrl, messages);
    const bos = s.engine.model.tokenizer.bosTokenId;
    if (bos !== null && tokens[0] === bos) expect(tokens[1]).not.toBe(bos);
  });

  it('joins text content parts with newlines', async () => {
    const parts = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hi' },
          { type: 'text', text: 'there' },
        ],
      },
    ];
    const joined = [{ role: 'user', content: 'Hi\nthere' }];
    const a = await chat(s.baseUrl, { messages: parts, max_tokens: 1 });
    expect(a.usage.prompt_tokens).toBe((await tokenizeMessages(s.baseUrl, joined)).count);
  });

  it('honours max_completion_tokens over max_tokens', async () => {
    const body = await chat(s.baseUrl, { messages, max_tokens: 9, max_completion_tokens: 3, ignore_eos: true });
    expect(body.usage.completion_tokens).toBe(3);
  });

  it('fills the rest of the context when max_tokens is not given', async () => {
    const small = await startTestServer({ maxModelLen: 64 });
    try {
      const body = await chat(small.baseUrl, { messages, ignore_eos: true });
      expect(body.usage.total_tokens).toBe(small.engine.maxModelLen);
      expect(body.choices[0].finish_reason).toBe('length');
    } finally {
      await small.close();
    }
  });

  it('is deterministic when greedy, and returns n choices', async () => {
    const greedy = { messages, max_tokens: 8, temperature: 0, ignore_eos: true };
    const [a, b] = [await chat(s.baseUrl, greedy), await chat(s.baseUrl, greedy)];
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    const n = await chat(s.baseUrl, { messages, max_tokens: 3, n: 3, seed: 9, ignore_eos: true });
    expect(n.choices.map((c: Json) => c.index)).toEqual([0, 1, 2]);
    expect(n.usage.completion_tokens).toBe(9);
  });
});
