/**
 * The chat playground's data: one assistant turn accumulated from the server's streamed chunks (OpenAI's
 * chat.completion.chunk or text_completion, plus Tessera's `tessera` extension with wall and modelled latencies).
 * Pure functions over plain objects, so the view re-renders from state and the tests need no browser.
 */

export interface Latency {
  ttftMs: number;
  tpotMs: number;
  e2eMs: number;
  queueMs: number;
}

export interface AssistantTurn {
  text: string;
  /** Chunks that carried output (one per engine step that produced text). */
  chunks: number;
  finishReason: string | null;
  /** The server's figures, on the final chunk: wall (this machine) and modelled (the simulated hardware). */
  wall: Latency | null;
  modelled: Latency | null;
  hardware: string | null;
  /** The modelled clock after the last chunk, ms. */
  modelledClockMs: number | null;
  /** Measured in the browser: request sent → first content, ms. */
  clientTtftMs: number | null;
  error: string | null;
}

export function emptyTurn(): AssistantTurn {
  return {
    text: '',
    chunks: 0,
    finishReason: null,
    wall: null,
    modelled: null,
    hardware: null,
    modelledClockMs: null,
    clientTtftMs: null,
    error: null,
  };
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function latency(v: unknown): Latency | null {
  if (!isObject(v)) return null;
  const n = (k: string) => (typeof v[k] === 'number' ? (v[k] as number) : Number.NaN);
  return { ttftMs: n('ttft_ms'), tpotMs: n('tpot_ms'), e2eMs: n('e2e_ms'), queueMs: n('queue_ms') };
}

/**
 * Folds one streamed chunk (already JSON-parsed) into the turn. `elapsedMs` is the browser's time since the request
 * was sent. Returns a new object; the input is not modified.
 */
export function applyChunk(turn: AssistantTurn, chunk: unknown, elapsedMs: number): AssistantTurn {
  if (!isObject(chunk)) return turn;
  const next: AssistantTurn = { ...turn };
  if (isObject(chunk.error)) {
    next.error = String(chunk.error.message ?? 'The server reported an error.');
    return next;
  }
  const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
  for (const c of choices) {
    if (!isObject(c)) continue;
    const delta = isObject(c.delta) ? c.delta : null;
    const piece = typeof delta?.content === 'string' ? delta.content : typeof c.text === 'string' ? c.text : '';
    if (piece !== '') {
      next.text += piece;
      next.chunks++;
      next.clientTtftMs ??= elapsedMs;
    }
    if (typeof c.finish_reason === 'string') next.finishReason = c.finish_reason;
  }
  const t = isObject(chunk.tessera) ? chunk.tessera : null;
  if (t) {
    if (typeof t.modelled_clock_ms === 'number') next.modelledClockMs = t.modelled_clock_ms;
    if (typeof t.hardware === 'string') next.hardware = t.hardware;
    const wall = latency(t.wall);
    const modelled = latency(t.modelled);
    if (wall) next.wall = wall;
    if (modelled) next.modelled = modelled;
  }
  return next;
}

/** The parsed `data:` payloads of a stream: JSON objects, or 'done' for OpenAI's `[DONE]` sentinel. */
export function parseStreamData(data: string): unknown | 'done' {
  if (data.trim() === '[DONE]') return 'done';
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return { error: { message: `The server sent a chunk that is not JSON: ${data.slice(0, 80)}` } };
  }
}

export interface SamplingSettings {
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number | null;
}

export const DEFAULT_SAMPLING: SamplingSettings = { maxTokens: 48, temperature: 0.8, topP: 0.95, topK: -1, seed: null };

/** The request body for /v1/chat/completions (stream on, usage on), in the server's field names. */
export function chatRequestBody(
  model: string,
  messages: readonly { role: string; content: string }[],
  s: SamplingSettings,
): Json {
  const body: Json = {
    model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: s.maxTokens,
    temperature: s.temperature,
    top_p: s.topP,
    top_k: s.topK,
  };
  if (s.seed !== null) body.seed = s.seed;
  return body;
}
