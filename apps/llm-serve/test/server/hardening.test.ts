/**
 * Regressions of the hardening issue at the HTTP edge: values the kernels cannot take are refused by the schema
 * (they used to reach a step and kill the engine), requests that would allocate without bound are refused before
 * anything is built, and slow or numerous clients are cut off by deadlines and a connection cap.
 */
import net from 'node:net';
import type { Engine } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app';
import { expectError, type Json, post } from '../support/http';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ maxModelLen: 256 });
});
afterAll(() => s.close());

async function expectServing(): Promise<void> {
  expect((await fetch(`${s.baseUrl}/health`)).status).toBe(200);
  const res = await post(s.baseUrl, '/v1/completions', { prompt: 'still alive', max_tokens: 2 });
  expect(res.status).toBe(200);
  expect(((await res.json()) as Json).choices[0].finish_reason).not.toBe('abort');
}

const chat = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
const completion = { prompt: 'hi', max_tokens: 2 };

describe('sampling values the kernel cannot take are a 400, and the engine lives on', () => {
  it.each([
    ['/v1/completions', completion],
    ['/v1/chat/completions', chat],
  ])('%s: top_k 2³¹', async (path, body) => {
    await expectError(await post(s.baseUrl, path, { ...body, top_k: 2147483648 }), 400, 'top_k');
    await expectServing();
  });

  it.each([
    ['/v1/completions', completion],
    ['/v1/chat/completions', chat],
  ])('%s: seed 2³² and seed −2³¹−1', async (path, body) => {
    await expectError(await post(s.baseUrl, path, { ...body, seed: 2 ** 32 }), 400, 'seed');
    await expectError(await post(s.baseUrl, path, { ...body, seed: -(2 ** 31) - 1 }), 400, 'seed');
    await expectServing();
  });

  it.each([
    ['/v1/completions', completion],
    ['/v1/chat/completions', chat],
  ])('%s: seed 2³²−1 with n 2 serves both choices (choice i uses (seed + i) mod 2³²)', async (path, body) => {
    const res = await post(s.baseUrl, path, { ...body, seed: 2 ** 32 - 1, n: 2, temperature: 1 });
    expect(res.status).toBe(200);
    const json = (await res.json()) as Json;
    expect(json.choices).toHaveLength(2);
    for (const c of json.choices) expect(c.finish_reason).not.toBe('abort');
    await expectServing();
  });
});

describe('requests that would allocate without bound are refused before anything is built', () => {
  it('n over --max-n is a 400 naming the cap, however large', async () => {
    for (const n of [17, 1_000_000, 100_000_000, 2 ** 53]) {
      const e = await expectError(await post(s.baseUrl, '/v1/completions', { ...completion, n }), 400, 'n');
      expect(e.message).toMatch(/--max-n/);
    }
    await expectServing();
  });

  it('more prompts than --max-prompts is a 400', async () => {
    const prompt = Array.from({ length: 65 }, (_, i) => `p${i}`);
    const e = await expectError(await post(s.baseUrl, '/v1/completions', { prompt, max_tokens: 1 }), 400, 'prompt');
    expect(e.message).toMatch(/--max-prompts/);
  });

  it('prompts × n beyond the free queue slots is a 429 before a single engine request is queued', async () => {
    const e = s.engine;
    let generated = 0;
    const counting: Engine = {
      model: e.model,
      maxModelLen: e.maxModelLen,
      hardware: e.hardware,
      get healthy() {
        return e.healthy;
      },
      get failure() {
        return e.failure;
      },
      waitingRoom: 3,
      stats: () => e.stats(),
      shutdown: async () => {},
      generate(req, signal) {
        generated++;
        return e.generate(req, signal);
      },
    };
    const server = createServer({ engine: counting });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const res = await post(base, '/v1/completions', { prompt: ['a', 'b'], n: 2, max_tokens: 1 });
      expect((await expectError(res, 429)).message).toMatch(/needs 4 queue slots/);
      expect(generated).toBe(0);
      expect((await post(base, '/v1/completions', { prompt: ['a', 'b', 'c'], max_tokens: 1 })).status).toBe(200);
      expect(generated).toBe(3);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('stop lists are capped in count and length', async () => {
    const many = Array.from({ length: 17 }, (_, i) => `s${i}`);
    await expectError(await post(s.baseUrl, '/v1/completions', { ...completion, stop: many }), 400, 'stop');
    await expectError(
      await post(s.baseUrl, '/v1/completions', { ...completion, stop: ['x'.repeat(513)] }),
      400,
      'stop',
    );
    await expectServing();
  });
});

/** Resolves when the server closes `socket`, with whatever it sent first. */
function closed(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (d) => {
      got += d.toString();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', () => {});
  });
}

function connect(base: string): Promise<net.Socket> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('slow and numerous clients', () => {
  it('a client that never finishes its headers or its body is answered 408 and cut off', async () => {
    const t = await startTestServer({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    try {
      const slowHeaders = await connect(t.baseUrl);
      const a = closed(slowHeaders);
      slowHeaders.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\n');
      const slowBody = await connect(t.baseUrl);
      const b = closed(slowBody);
      slowBody.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n');
      slowBody.write('Content-Length: 100\r\n\r\n{"prompt":');
      expect(await a).toMatch(/^HTTP\/1\.1 408/);
      expect(await b).toMatch(/^HTTP\/1\.1 408/);
      // A generation that outlasts the request deadline is not cut: the deadline covers receiving the request only.
      const res = await post(t.baseUrl, '/v1/completions', { prompt: 'long', max_tokens: 40, ignore_eos: true });
      expect(res.status).toBe(200);
      expect(((await res.json()) as Json).usage.completion_tokens).toBe(40);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('connections over --max-connections are closed as they arrive; the server serves once one is free', async () => {
    const t = await startTestServer({ maxConnections: 2 });
    try {
      const first = await connect(t.baseUrl);
      const second = await connect(t.baseUrl);
      const third = await connect(t.baseUrl);
      expect(await closed(third)).toBe('');
      first.destroy();
      second.destroy();
      await expect
        .poll(async () => (await fetch(`${t.baseUrl}/health`, { headers: { connection: 'close' } })).status)
        .toBe(200);
    } finally {
      await t.close();
    }
  }, 60_000);
});
