/**
 * Fetch helpers for the HTTP tests: JSON posts and a strict reader of server-sent events.
 */
import { expect } from 'vitest';

export function post(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Any JSON response body (tests assert its shape). */
// biome-ignore lint/suspicious/noExplicitAny: test code inspects loosely typed JSON.
export type Json = any;

export interface ErrorShape {
  error: { message: string; type: string; param: string | null; code: number };
}

/** Asserts the status and the `{"error": {message, type, param, code}}` shape; returns the error object. */
export async function expectError(res: Response, status: number, param?: string | null) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await res.json()) as ErrorShape;
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.type).toBe('string');
  expect(body.error.code).toBe(status);
  if (param !== undefined) expect(body.error.param).toBe(param);
  return body.error;
}

export interface SseResult {
  raw: string;
  /** Parsed `data:` payloads before [DONE]. */
  events: Json[];
  /** [DONE] was the last event. */
  done: boolean;
}

/** Reads a whole SSE body and checks the framing: only `data: …` events separated by blank lines. */
export async function readSse(res: Response): Promise<SseResult> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const raw = await res.text();
  expect(raw.endsWith('\n\n')).toBe(true);
  const blocks = raw.slice(0, -2).split('\n\n');
  const events: Json[] = [];
  let done = false;
  for (const block of blocks) {
    expect(block.startsWith('data: ')).toBe(true);
    expect(block.includes('\n')).toBe(false);
    expect(done).toBe(false); // nothing after [DONE]
    const data = block.slice('data: '.length);
    if (data === '[DONE]') done = true;
    else events.push(JSON.parse(data));
  }
  return { raw, events, done };
}
