/**
 * One benchmark request: a streamed /v1/completions call, timed the way `vllm bench serve` times it — TTFT at the
 * first chunk with choices, ITL for every later gap between such chunks, E2E at the last one — plus the same figures
 * in modelled hardware time from each chunk's `tessera.modelled_ms` (absent when the server is not Tessera).
 */
import type { Timings } from '@tessera/serve';

export type { Timings };

export interface RequestRecord {
  ok: boolean;
  error: string | null;
  promptLen: number;
  /** Generated tokens: the usage chunk's completion_tokens, else the number of chunks. */
  outputLen: number;
  wall: Timings;
  /** null when the server sent no modelled times. */
  modelled: Timings | null;
  /** Arrival and last output on the server's modelled clock (Tessera's `modelled_clock_ms`), when sent. */
  modelledSpan?: { start: number; end: number };
}

export interface StreamRequest {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  promptLen: number;
}

interface Chunk {
  choices?: unknown[];
  usage?: { completion_tokens?: number };
  error?: { message?: string };
  tessera?: { modelled_ms?: number; modelled_clock_ms?: number };
}

export async function sendStreamingRequest(r: StreamRequest): Promise<RequestRecord> {
  const record: RequestRecord = {
    ok: false,
    error: null,
    promptLen: r.promptLen,
    outputLen: 0,
    wall: { ttftMs: 0, itlMs: [], e2eMs: 0 },
    modelled: null,
  };
  const start = performance.now();
  let last = start;
  let chunks = 0;
  let usageTokens: number | null = null;
  let modelledLast = 0;
  let modelledOk = true;
  const modelled: Timings = { ttftMs: 0, itlMs: [], e2eMs: 0 };

  const onChunk = (chunk: Chunk, now: number) => {
    if (chunk.error) throw new Error(chunk.error.message ?? JSON.stringify(chunk.error));
    if (chunk.choices && chunk.choices.length > 0) {
      const m = chunk.tessera?.modelled_ms;
      if (typeof m !== 'number') modelledOk = false;
      const clock = chunk.tessera?.modelled_clock_ms;
      if (typeof clock === 'number' && typeof m === 'number') {
        // Arrival and finish on the engine's modelled clock: the exact modelled makespan of a run.
        if (chunks === 0) record.modelledSpan = { start: clock - m, end: clock };
        else if (record.modelledSpan) record.modelledSpan.end = clock;
      }
      if (chunks === 0) {
        record.wall.ttftMs = now - start;
        modelled.ttftMs = m ?? 0;
      } else {
        record.wall.itlMs.push(now - last);
        modelled.itlMs.push((m ?? 0) - modelledLast);
      }
      last = now;
      modelledLast = m ?? 0;
      chunks++;
    } else if (chunk.usage && typeof chunk.usage.completion_tokens === 'number') {
      usageTokens = chunk.usage.completion_tokens;
    }
  };

  try {
    const res = await fetch(r.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...r.headers },
      body: JSON.stringify(r.body),
    });
    if (!res.ok || !res.body) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as Chunk).error?.message ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new Error(`HTTP ${res.status}: ${message}`);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const bytes of res.body as AsyncIterable<Uint8Array>) {
      const now = performance.now();
      buffer += decoder.decode(bytes, { stream: true });
      let cut = buffer.indexOf('\n\n');
      while (cut >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        cut = buffer.indexOf('\n\n');
        const data = event
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data === '' || data === '[DONE]') continue;
        onChunk(JSON.parse(data) as Chunk, now);
      }
    }
    if (chunks === 0) throw new Error('The stream ended without output.');
    record.ok = true;
    record.outputLen = usageTokens ?? chunks;
    record.wall.e2eMs = last - start;
    modelled.e2eMs = modelledLast;
    if (modelledOk) record.modelled = modelled;
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  }
  return record;
}
