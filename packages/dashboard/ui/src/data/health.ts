/**
 * The server's health as the header shows it: /health answers 200 with no body while the engine serves, and 503 with
 * `{status: 'unhealthy', reason}` once it cannot (a device fault ended it, or it shut down) — vLLM's contract plus
 * the reason. Anything else (no answer, another status) is "unreachable": the page may be stale.
 */
export type Health = { state: 'ok' } | { state: 'failed'; reason: string } | { state: 'unreachable'; reason: string };

export function healthFrom(status: number | null, body: unknown): Health {
  if (status === 200) return { state: 'ok' };
  if (status === 503) {
    const reason =
      typeof body === 'object' && body !== null && typeof (body as { reason?: unknown }).reason === 'string'
        ? (body as { reason: string }).reason
        : 'The engine cannot serve.';
    return { state: 'failed', reason };
  }
  return {
    state: 'unreachable',
    reason: status === null ? 'The server does not answer.' : `The server answered /health with ${status}.`,
  };
}
