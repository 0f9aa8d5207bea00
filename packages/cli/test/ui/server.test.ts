import { connect } from 'node:net';
import type { ApiErrorBody, InfoResponse, TopologySummary } from '@tessera/dashboard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/index';
import { MAX_BODY_BYTES, startUiServer, type UiServer } from '../../src/ui/index';

let server: UiServer;
const logged: string[] = [];
beforeAll(async () => {
  server = await startUiServer({ host: '127.0.0.1', port: 0, log: (l) => logged.push(l) });
});
afterAll(() => server.close());

const url = (path: string) => new URL(path, server.url).href;
const postJson = (path: string, body: string, type = 'application/json') =>
  fetch(url(path), { method: 'POST', headers: { 'Content-Type': type }, body });

/** A raw request line (fetch normalises targets such as `//`); resolves with the status line. */
function rawStatus(target: string): Promise<string> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    socket.on('data', (d) => {
      text += d;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text.split('\r\n')[0]!));
  });
}

async function error(res: Response, status: number): Promise<ApiErrorBody['error']> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as ApiErrorBody;
  expect(body.error.code).toBe(status);
  return body.error;
}

describe('tessera ui’s server', () => {
  it('listens on the port it was given (0: a free one) and says so in its URL', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(new URL(server.url).port).not.toBe('0');
  });

  it('answers /api/info and /api/topologies as JSON', async () => {
    const info = await fetch(url('/api/info'));
    expect(info.status).toBe(200);
    expect((await info.json()) as InfoResponse).toEqual({ mode: 'ui', model: null, apiKeyRequired: false });
    const list = (await (await fetch(url('/api/topologies'))).json()) as TopologySummary[];
    expect(list.find((t) => t.name === 'cloudmatrix384')).toMatchObject({ vendor: 'ascend', ranks: 768 });
  });

  it('runs a POST route on a JSON body', async () => {
    const res = await postJson(
      '/api/cluster/collective',
      JSON.stringify({ topology: 'dgx-h100', op: 'all_reduce', bytes: 1 << 20 }),
    );
    expect(res.status).toBe(200);
    const view = (await res.json()) as { timeMs: number; algorithm: string; error: null };
    expect(view.error).toBeNull();
    expect(view.timeMs).toBeGreaterThan(0);
  });

  it('answers errors OpenAI-shaped: 404, 405, 400 (with the field), 413', async () => {
    expect(await error(await fetch(url('/api/nothing')), 404)).toMatchObject({
      type: 'NotFoundError',
      message: 'No route GET /api/nothing.',
      param: null,
    });
    const wrongMethod = await fetch(url('/api/topologies'), { method: 'POST' });
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    expect((await error(wrongMethod, 405)).type).toBe('MethodNotAllowedError');
    expect(await error(await fetch(url('/api/topology?name=dgx-z')), 400)).toMatchObject({
      type: 'BadRequestError',
      param: 'name',
      message: expect.stringMatching(/^Unknown topology 'dgx-z'; one of: dgx-a100/),
    });
    expect((await error(await postJson('/api/project', '{"model":'), 400)).message).toMatch(/not valid JSON/);
    expect((await error(await postJson('/api/project', '{}', 'text/plain'), 400)).message).toMatch(
      /Content-Type: application\/json \(got 'text\/plain'\)/,
    );
    const big = await postJson('/api/project', `{"model":"${'x'.repeat(MAX_BODY_BYTES)}"}`);
    expect(await error(big, 413)).toMatchObject({ type: 'RequestEntityTooLargeError', param: null });
    expect(logged).toEqual([]); // none of these is the server's fault
  });

  it('answers 400 to a request target that is no URL path, and keeps serving', async () => {
    for (const target of ['//', 'http://[', 'http://a:99999/api/info']) {
      expect(await rawStatus(target)).toBe('HTTP/1.1 400 Bad Request');
    }
    expect((await fetch(url('/api/info'))).status).toBe(200);
    expect(logged).toEqual([]);
  });

  it('serves the dashboard’s page at / (the built app, or the page saying how to build it)', async () => {
    const res = await fetch(url('/'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('`tessera ui` refuses a bad port, and a port in use, with what to do', async () => {
    const err: string[] = [];
    const io = { out: () => {}, err: (t: string) => err.push(t) };
    expect(await run(['ui', '--port', '70000'], io)).toBe(1);
    expect(err.pop()).toMatch(/--port '70000' must be an integer from 0 to 65535/);
    expect(await run(['ui', '--host', '127.0.0.1', '--port', new URL(server.url).port], io)).toBe(1);
    expect(err.pop()).toMatch(/Cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)\. Pass another --port/);
  });
});
