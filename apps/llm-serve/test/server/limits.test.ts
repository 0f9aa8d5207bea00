/**
 * API key (401), body size (413) and overload (429): each refused with the JSON error shape, never a hang, and the
 * server serves the next request.
 */
import { describe, expect, it } from 'vitest';
import { expectError, type Json, post } from '../support/http';
import { startTestServer } from '../support/server';

describe('--api-key', () => {
  it('guards /v1/*, /tokenize and /detokenize with a Bearer key; /health and /metrics stay open', async () => {
    const s = await startTestServer({ apiKey: 'sekret' });
    try {
      const e = await expectError(await fetch(`${s.baseUrl}/v1/models`), 401);
      expect(e.type).toBe('AuthenticationError');
      const wrong = { authorization: 'Bearer nope' };
      await expectError(await post(s.baseUrl, '/v1/completions', { prompt: 'x' }, wrong), 401);
      await expectError(
        await post(s.baseUrl, '/v1/chat/completions', { messages: [] }, { authorization: 'sekret' }),
        401,
      );
      // The tokenizer endpoints run the model's tokenizer: CPU an anonymous client must not be able to spend.
      await expectError(await post(s.baseUrl, '/tokenize', { prompt: 'x' }), 401);
      await expectError(await post(s.baseUrl, '/detokenize', { tokens: [1] }, wrong), 401);
      const right = { authorization: 'Bearer sekret' };
      expect((await fetch(`${s.baseUrl}/v1/models`, { headers: right })).status).toBe(200);
      const ok = await post(s.baseUrl, '/v1/completions', { prompt: 'x', max_tokens: 2 }, right);
      expect(ok.status).toBe(200);
      expect((await post(s.baseUrl, '/tokenize', { prompt: 'x' }, right)).status).toBe(200);
      expect((await post(s.baseUrl, '/detokenize', { tokens: [1] }, right)).status).toBe(200);
      expect((await fetch(`${s.baseUrl}/health`)).status).toBe(200);
      expect((await fetch(`${s.baseUrl}/metrics`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('guards /metrics too with protectMetrics (--protect-metrics)', async () => {
    const s = await startTestServer({ apiKey: 'sekret', protectMetrics: true });
    try {
      await expectError(await fetch(`${s.baseUrl}/metrics`), 401);
      const res = await fetch(`${s.baseUrl}/metrics`, { headers: { authorization: 'Bearer sekret' } });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/vllm:num_requests_running/);
      expect((await fetch(`${s.baseUrl}/health`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe('request body limit', () => {
  it('answers 413 to a declared oversized body and to a chunked one, without reading it all', async () => {
    const s = await startTestServer({ maxBodyBytes: 1024 });
    try {
      const big = JSON.stringify({ prompt: 'x'.repeat(4 * 1024 * 1024) });
      await expectError(await post(s.baseUrl, '/v1/completions', big), 413);

      // A chunked upload (no Content-Length) of 64 MiB: refused early; the server stops reading.
      const total = 64 * 1024 * 1024;
      let pulled = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled >= total) return controller.close();
          pulled += 64 * 1024;
          controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
        },
      });
      const res = await fetch(`${s.baseUrl}/v1/completions`, {
        method: 'POST',
        body,
        duplex: 'half',
      } as RequestInit & { duplex: 'half' });
      await expectError(res, 413);
      expect(pulled).toBeLessThan(total);

      // Just under the limit is fine, and the server serves on.
      const fits = JSON.stringify({ prompt: 'y'.repeat(900), max_tokens: 1 });
      expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(1024);
      expect((await post(s.baseUrl, '/v1/completions', fits)).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe('overload', () => {
  it('answers 429 with a JSON error when the waiting queue is full, then serves again', async () => {
    const s = await startTestServer({ maxWaiting: 1, maxNumSeqs: 1 });
    try {
      const burst = Array.from({ length: 12 }, (_, i) =>
        post(s.baseUrl, '/v1/completions', {
          prompt: `burst ${i}`,
          max_tokens: 30,
          ignore_eos: true,
          stream: i % 2 === 0,
        }),
      );
      const responses = await Promise.all(burst);
      const statuses = responses.map((r) => r.status);
      expect(statuses.every((st) => st === 200 || st === 429)).toBe(true);
      expect(statuses.filter((st) => st === 429).length).toBeGreaterThan(0);
      expect(statuses.filter((st) => st === 200).length).toBeGreaterThan(0);
      for (const r of responses) {
        if (r.status === 429) expect((await expectError(r, 429)).type).toBe('RateLimitError');
        else await r.text(); // let accepted requests finish
      }
      await expect.poll(() => s.engine.stats().running + s.engine.stats().waiting).toBe(0);
      const ok = await post(s.baseUrl, '/v1/completions', { prompt: 'after', max_tokens: 2 });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as Json).choices).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});
