/**
 * The official `openai` client, unchanged, against the server: chat and completions, streaming and not, its error
 * classes, and the API key.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
let client: OpenAI;
beforeAll(async () => {
  s = await startTestServer({ apiKey: 'test-key' });
  client = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: 'test-key', maxRetries: 0 });
});
afterAll(() => s.close());

describe('openai client', () => {
  it('lists models', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual([s.engine.model.id]);
  });

  it('creates a chat completion', async () => {
    const r = await client.chat.completions.create({
      model: s.engine.model.id,
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 5,
      temperature: 0,
    });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]!.message.role).toBe('assistant');
    expect(typeof r.choices[0]!.message.content).toBe('string');
    expect(['stop', 'length']).toContain(r.choices[0]!.finish_reason);
    expect(r.usage!.completion_tokens).toBeLessThanOrEqual(5);
  });

  it('streams a chat completion with usage', async () => {
    const params: OpenAI.ChatCompletionCreateParamsStreaming = {
      model: s.engine.model.id,
      messages: [{ role: 'user', content: 'Hello' }],
      max_completion_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    };
    // vLLM's extension parameters pass through the client untouched.
    const vllmExtras = { ignore_eos: true };
    const stream = await client.chat.completions.create({ ...params, ...vllmExtras });
    let content = '';
    let role: string | undefined;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        role ??= c.delta.role;
        content += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(role).toBe('assistant');
    expect(typeof content).toBe('string');
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(6);
  });

  it('creates a completion, streamed and not', async () => {
    const plain = await client.completions.create({
      model: s.engine.model.id,
      prompt: 'Once',
      max_tokens: 4,
      temperature: 0,
    });
    expect(plain.object).toBe('text_completion');
    expect(plain.choices).toHaveLength(1);

    const stream = await client.completions.create({
      model: s.engine.model.id,
      prompt: 'Once',
      max_tokens: 4,
      temperature: 0,
      stream: true,
    });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(['stop', 'length']).toContain(finish);
    // Greedy: the streamed text is the non-streamed text.
    expect(text).toBe(plain.choices[0]!.text);
  });

  it('raises the client’s typed errors', async () => {
    await expect(
      client.completions.create({ model: s.engine.model.id, prompt: 'x', temperature: 5 }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.completions.create({ model: 'nope', prompt: 'x' })).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    const anonymous = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expect(anonymous.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    // And the server serves on.
    const r = await client.completions.create({ model: s.engine.model.id, prompt: 'ok', max_tokens: 1 });
    expect(r.choices).toHaveLength(1);
  });
});
