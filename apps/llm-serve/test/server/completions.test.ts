/**
 * POST /v1/completions, non-streaming: response shape, usage, n, several prompts, token prompts, echo, stop strings,
 * stop token ids, min_tokens, seeds. Written to hold on a real model whose text is gibberish: generated text is only
 * compared with other generations (greedy decoding is deterministic), never with expected words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, post } from '../support/http';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

const complete = async (body: Record<string, unknown>): Promise<Json> => {
  const res = await post(s.baseUrl, '/v1/completions', body);
  expect(res.status).toBe(200);
  return res.json();
};
const countTokens = async (prompt: string): Promise<number> =>
  ((await (await post(s.baseUrl, '/tokenize', { prompt })).json()) as Json).count;

describe('POST /v1/completions', () => {
  it('returns a text_completion with usage and the tessera figures', async () => {
    const body = await complete({
      model: s.engine.model.id,
      prompt: 'Once upon a time',
      max_tokens: 8,
      ignore_eos: true,
    });
    expect(body.id).toMatch(/^cmpl-/);
    expect(body.object).toBe('text_completion');
    expect(body.model).toBe(s.engine.model.id);
    expect(Number.isInteger(body.created)).toBe(true);
    expect(body.choices).toHaveLength(1);
    const c = body.choices[0];
    expect(c).toMatchObject({ index: 0, logprobs: null, finish_reason: 'length' });
    expect(typeof c.text).toBe('string');
    const promptTokens = await countTokens('Once upon a time');
    expect(body.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 8, total_tokens: promptTokens + 8 });
    const t = body.tessera;
    expect(t.hardware).toBe(s.engine.hardware);
    for (const clock of [t.wall, t.modelled]) {
      for (const key of ['ttft_ms', 'tpot_ms', 'e2e_ms', 'queue_ms']) expect(clock[key]).toBeGreaterThanOrEqual(0);
      expect(clock.e2e_ms).toBeGreaterThanOrEqual(clock.ttft_ms);
    }
    expect(t.modelled.ttft_ms).toBeGreaterThan(0);
    expect(Number.isInteger(t.cached_prompt_tokens)).toBe(true);
    expect(t.preemptions).toBe(0);
  });

  it('defaults max_tokens to 16 and works without a model field', async () => {
    const body = await complete({ prompt: 'abc', ignore_eos: true });
    expect(body.usage.completion_tokens).toBe(16);
    expect(body.choices[0].finish_reason).toBe('length');
  });

  it('ends with finish_reason stop or length when EOS is allowed', async () => {
    const body = await complete({ prompt: 'x', max_tokens: 64, temperature: 1, seed: 7 });
    const c = body.choices[0];
    expect(['stop', 'length']).toContain(c.finish_reason);
    if (c.finish_reason === 'length') expect(body.usage.completion_tokens).toBe(64);
    else expect(body.usage.completion_tokens).toBeLessThanOrEqual(64);
  });

  it('is deterministic when greedy, and reproducible with a seed', async () => {
    const greedy = { prompt: 'The weather', max_tokens: 12, temperature: 0, ignore_eos: true };
    const [a, b] = await Promise.all([complete(greedy), complete(greedy)]);
    expect(a.choices[0].text).toBe(b.choices[0].text);
    const seeded = { prompt: 'The weather', max_tokens: 12, temperature: 1, seed: 1234, n: 2, ignore_eos: true };
    const [x, y] = [await complete(seeded), await complete(seeded)];
    expect(x.choices.map((c: Json) => c.text)).toEqual(y.choices.map((c: Json) => c.text));
  });

  it('runs n requests per prompt, indexes choices prompt-major, and counts prompt tokens once per prompt', async () => {
    const prompts = ['first prompt', 'a second, longer prompt'];
    const body = await complete({ prompt: prompts, n: 2, max_tokens: 5, ignore_eos: true, seed: 3 });
    expect(body.choices.map((c: Json) => c.index)).toEqual([0, 1, 2, 3]);
    for (const c of body.choices) expect(c.finish_reason).toBe('length');
    const promptTokens = (await countTokens(prompts[0]!)) + (await countTokens(prompts[1]!));
    expect(body.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 20, total_tokens: promptTokens + 20 });
    expect(body.tessera.choices).toHaveLength(4);
  });

  it('accepts token-id prompts, single and batched, taking them as given', async () => {
    const { tokens } = (await (await post(s.baseUrl, '/tokenize', { prompt: 'token ids' })).json()) as Json;
    const one = await complete({ prompt: tokens, max_tokens: 3, ignore_eos: true });
    expect(one.usage.prompt_tokens).toBe(tokens.length);
    const two = await complete({ prompt: [tokens, tokens.slice(0, 2)], max_tokens: 3, ignore_eos: true });
    expect(two.choices).toHaveLength(2);
    expect(two.usage.prompt_tokens).toBe(tokens.length + 2);
  });

  it('echoes the prompt before the completion', async () => {
    const body = await complete({ prompt: 'Echo me: ', echo: true, max_tokens: 4, ignore_eos: true });
    expect(body.choices[0].text.startsWith('Echo me: ')).toBe(true);
    const { tokens } = (await (
      await post(s.baseUrl, '/tokenize', { prompt: 'ids', add_special_tokens: false })
    ).json()) as Json;
    const ids = await complete({ prompt: tokens, echo: true, max_tokens: 2, ignore_eos: true });
    expect(ids.choices[0].text.startsWith('ids')).toBe(true);
  });

  it('returns token ids on request (vLLM return_token_ids)', async () => {
    const body = await complete({ prompt: 'ids please', max_tokens: 6, ignore_eos: true, return_token_ids: true });
    const c = body.choices[0];
    expect(c.token_ids).toHaveLength(6);
    expect(c.prompt_token_ids).toHaveLength(body.usage.prompt_tokens);
  });

  it('stops at a stop string, which is cut from the text', async () => {
    const base = { prompt: 'Stop test', max_tokens: 32, temperature: 0, ignore_eos: true };
    const full: string = (await complete(base)).choices[0].text;
    expect(full.length).toBeGreaterThan(4);
    const mid = Math.floor(full.length / 2);
    const stop = full.slice(mid, mid + 2);
    const body = await complete({ ...base, stop: [stop, 'never-appears-xyz'] });
    const c = body.choices[0];
    expect(c.finish_reason).toBe('stop');
    expect(c.stop_reason).toBe(stop);
    expect(c.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(body.usage.completion_tokens).toBeLessThan(32);
  });

  it('stops at a stop token id, which stays in the output', async () => {
    const base = { prompt: 'Token stop', max_tokens: 24, temperature: 0, ignore_eos: true, return_token_ids: true };
    const ids: number[] = (await complete(base)).choices[0].token_ids;
    const eos = new Set(s.engine.model.eosTokenIds);
    const pick = ids.findIndex((id, i) => i >= 3 && !eos.has(id));
    expect(pick).toBeGreaterThanOrEqual(0);
    const stopId = ids[pick]!;
    const cut = ids.indexOf(stopId);
    const c = (await complete({ ...base, stop_token_ids: [stopId] })).choices[0];
    expect(c.finish_reason).toBe('stop');
    expect(c.stop_reason).toBe(stopId);
    expect(c.token_ids).toEqual(ids.slice(0, cut + 1));
  });

  it('generates at least min_tokens before EOS can end it', async () => {
    const body = await complete({ prompt: 'min', max_tokens: 20, min_tokens: 20, temperature: 1, seed: 5 });
    expect(body.usage.completion_tokens).toBe(20);
    expect(body.choices[0].finish_reason).toBe('length');
  });

  it('accepts neutral penalties, top_k 0/-1, user and suffix null', async () => {
    const body = await complete({
      prompt: 'neutral',
      max_tokens: 2,
      presence_penalty: 0,
      frequency_penalty: 0,
      repetition_penalty: 1,
      top_k: 0,
      top_p: 0.9,
      temperature: 0.7,
      user: 'someone',
      suffix: null,
      logprobs: null,
    });
    expect(body.choices).toHaveLength(1);
    expect((await complete({ prompt: 'neutral', max_tokens: 2, top_k: -1 })).choices).toHaveLength(1);
  });
});
