/**
 * A client that goes away mid-request aborts its engine request (finish_reason 'abort'), which frees its KV blocks:
 * the engine's running count returns to 0 long before the request could have finished, and the next request is served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, post } from '../support/http';
import { metricValue, scrape } from '../support/metrics';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

const busy = () => s.engine.stats().running + s.engine.stats().waiting;
const aborted = async () =>
  metricValue(await scrape(s.baseUrl), 'vllm:request_success_total', { finished_reason: 'abort' });
const generated = async () => metricValue(await scrape(s.baseUrl), 'vllm:generation_tokens_total');

async function expectServes(): Promise<void> {
  const res = await post(s.baseUrl, '/v1/completions', { prompt: 'next', max_tokens: 3, ignore_eos: true });
  expect(res.status).toBe(200);
  expect(((await res.json()) as Json).usage.completion_tokens).toBe(3);
}

describe('client disconnect', () => {
  it('mid-stream: aborts the engine request and frees it', async () => {
    const abortsBefore = await aborted();
    const tokensBefore = await generated();
    const maxTokens = s.engine.maxModelLen - 64;
    const client = new AbortController();
    const res = await fetch(`${s.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a long story', max_tokens: maxTokens, ignore_eos: true, stream: true }),
      signal: client.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: /);
    expect(s.engine.stats().running).toBe(1);

    client.abort();
    await expect.poll(busy, { timeout: 10_000 }).toBe(0);
    await expect.poll(aborted).toBe(abortsBefore + 1);
    // It stopped early: far fewer tokens than asked for were generated.
    expect((await generated()) - tokensBefore).toBeLessThan(maxTokens);
    await expectServes();
  });

  it('while waiting for a non-streaming response: aborts and frees it too', async () => {
    const abortsBefore = await aborted();
    const client = new AbortController();
    const pending = fetch(`${s.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'another long story', max_tokens: s.engine.maxModelLen - 64, ignore_eos: true }),
      signal: client.signal,
    });
    pending.catch(() => {}); // rejected by the abort below
    await expect.poll(() => s.engine.stats().running).toBe(1);
    client.abort();
    await expect.poll(busy, { timeout: 10_000 }).toBe(0);
    await expect.poll(aborted).toBe(abortsBefore + 1);
    await expectServes();
  });
});
