/**
 * Streaming (SSE) format, exactly: `data: <json>` events, one per step with tokens, finish_reason on each choice's
 * last chunk, the usage chunk with `choices: []` when asked, `data: [DONE]` last; an engine failure after the stream
 * started arrives as an error event followed by [DONE].
 */
import type { AddressInfo } from 'node:net';
import type { Engine, RequestOutput } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app';
import { type Json, post, readSse } from '../support/http';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

/** Per choice index: its chunks in order. */
function byIndex(events: Json[]): Map<number, Json[]> {
  const out = new Map<number, Json[]>();
  for (const e of events) {
    for (const c of e.choices ?? []) {
      const list = out.get(c.index) ?? [];
      list.push({ ...c, tessera: e.tessera });
      out.set(c.index, list);
    }
  }
  return out;
}

function expectFinishLast(chunks: Json[]): void {
  for (const c of chunks.slice(0, -1)) expect(c.finish_reason).toBeNull();
  expect(chunks.at(-1).finish_reason).not.toBeNull();
}

describe('streaming /v1/completions', () => {
  it('sends one chunk per step, finish_reason last, the usage chunk, then [DONE]', async () => {
    const body = {
      prompt: 'Stream me',
      max_tokens: 10,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
      return_token_ids: true,
    };
    const { events, done } = await readSse(await post(s.baseUrl, '/v1/completions', body));
    expect(done).toBe(true);
    const ids = new Set(events.map((e) => e.id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^cmpl-/);
    for (const e of events) expect(e).toMatchObject({ object: 'text_completion', model: s.engine.model.id });

    const usage = events.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(10);
    expect(usage.usage.total_tokens).toBe(usage.usage.prompt_tokens + 10);
    for (const e of events.slice(0, -1)) expect(e.usage).toBeUndefined();

    const chunks = byIndex(events.slice(0, -1)).get(0)!;
    expectFinishLast(chunks);
    expect(chunks.at(-1).finish_reason).toBe('length');
    expect(chunks.length).toBeLessThanOrEqual(10);
    expect(chunks.reduce((n, c) => n + c.token_ids.length, 0)).toBe(10);
    for (const c of chunks) expect(c.logprobs).toBeNull();

    // Every chunk carries modelled time since arrival, non-decreasing; the last one the full figures.
    const modelled = chunks.map((c) => c.tessera.modelled_ms);
    for (let i = 1; i < modelled.length; i++) expect(modelled[i]).toBeGreaterThanOrEqual(modelled[i - 1]);
    const last = chunks.at(-1).tessera;
    expect(last.hardware).toBe(s.engine.hardware);
    expect(last.modelled.e2e_ms).toBeCloseTo(last.modelled_ms, 2);
    expect(last.wall.ttft_ms).toBeGreaterThanOrEqual(0);

    // The streamed text is the same greedy text as a non-streamed request's.
    const plain = (await (
      await post(s.baseUrl, '/v1/completions', { ...body, stream: false, stream_options: undefined })
    ).json()) as Json;
    expect(chunks.map((c) => c.text).join('')).toBe(plain.choices[0].text);
  });

  it('has no usage chunk without include_usage, and interleaves n choices', async () => {
    const body = { prompt: ['a', 'b'], n: 2, max_tokens: 4, ignore_eos: true, stream: true, seed: 1 };
    const { events, done } = await readSse(await post(s.baseUrl, '/v1/completions', body));
    expect(done).toBe(true);
    for (const e of events) expect(e.choices).toHaveLength(1);
    const per = byIndex(events);
    expect([...per.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const chunks of per.values()) {
      expectFinishLast(chunks);
      expect(chunks.at(-1).finish_reason).toBe('length');
    }
  });

  it('puts the echoed prompt at the start of the first chunk', async () => {
    const body = { prompt: 'Echo: ', echo: true, max_tokens: 3, ignore_eos: true, stream: true };
    const { events } = await readSse(await post(s.baseUrl, '/v1/completions', body));
    expect(events[0].choices[0].text.startsWith('Echo: ')).toBe(true);
  });
});

describe('streaming /v1/chat/completions', () => {
  it('opens with the role, streams content deltas, finishes, then usage and [DONE]', async () => {
    const body = {
      messages: [{ role: 'user', content: 'Say something' }],
      max_tokens: 6,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    };
    const { events, done } = await readSse(await post(s.baseUrl, '/v1/chat/completions', body));
    expect(done).toBe(true);
    for (const e of events) {
      expect(e.object).toBe('chat.completion.chunk');
      expect(e.id).toMatch(/^chatcmpl-/);
    }
    const chunks = byIndex(events).get(0)!;
    expect(chunks[0].delta).toEqual({ role: 'assistant', content: '' });
    for (const c of chunks.slice(1)) {
      expect(Object.keys(c.delta)).toEqual(['content']);
      expect(typeof c.delta.content).toBe('string');
    }
    expectFinishLast(chunks);
    expect(chunks.at(-1).finish_reason).toBe('length');
    const usage = events.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(6);
  });
});

describe('an engine failure after the stream started', () => {
  it('is an error event followed by [DONE], and the server keeps serving', async () => {
    const e = s.engine;
    // Wraps the engine so that its stream fails after the first output: the failure then happens mid-stream.
    const failing: Engine = {
      model: e.model,
      maxModelLen: e.maxModelLen,
      hardware: e.hardware,
      healthy: true,
      failure: null,
      get waitingRoom() {
        return e.waitingRoom;
      },
      stats: () => e.stats(),
      shutdown: async () => {},
      generate(req, signal) {
        const inner = e.generate(req, signal);
        return (async function* (): AsyncGenerator<RequestOutput> {
          let n = 0;
          for await (const out of inner) {
            if (++n === 2) throw new Error('simulated device fault');
            yield out;
          }
        })();
      },
    };
    const server = createServer({ engine: failing });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const body = { prompt: 'boom', max_tokens: 8, ignore_eos: true, stream: true };
      const { events, done } = await readSse(await post(base, '/v1/completions', body));
      expect(done).toBe(true);
      const last = events.at(-1);
      expect(Object.keys(last)).toEqual(['error']);
      expect(last.error.message).toMatch(/simulated device fault/);
      expect(last.error.code).toBe(500);
      // The aborted request's KV blocks are freed, and the next request is served.
      await expect.poll(() => e.stats().running).toBe(0);
      const ok = await post(s.baseUrl, '/v1/completions', { prompt: 'fine', max_tokens: 2 });
      expect(ok.status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
