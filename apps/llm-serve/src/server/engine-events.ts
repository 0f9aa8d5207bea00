/**
 * GET /api/engine/events: the engine's steps as server-sent events for the dashboard — `event: snapshot` once
 * (EngineSnapshot: the model, the engine's stats, its ranks and the retained steps), then `event: step` (StepEvent)
 * after every engine step, and a `: keep-alive` comment while the engine is idle so proxies keep the stream open.
 *
 * A slow client must not make the server buffer without bound: the engine emits a step whether or not a client
 * keeps up, so when a client's socket already holds MAX_BUFFERED_BYTES of unsent data its step events are dropped
 * (counted, and announced with a `: dropped N step events` comment once it drains) instead of queued. The dashboard
 * shows the live steps; a gap is better than a server holding every step for a stalled tab. The stream ends when the
 * client disconnects (the listener is removed) or the engine shuts down (the response ends).
 */
import type { ServerResponse } from 'node:http';
import type { EngineSnapshot, StepEvent } from '@tessera/dashboard';
import type { Exchange } from './context';
import { SSE_HEADERS } from './sse';

/** Unsent bytes past which a client's step events are dropped: about 25 TP-8 steps of the embedded model. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
export const KEEP_ALIVE_MS = 15_000;

/** What the stream needs from the engine's feed. */
export interface EventSource {
  snapshot(): EngineSnapshot;
  onStep(listener: (event: StepEvent) => void): () => void;
  /** The engine shut down: no more steps. */
  onClose(listener: () => void): () => void;
}

/** Each step is serialised once, however many clients receive it. */
const frames = new WeakMap<StepEvent, string>();
function stepFrame(e: StepEvent): string {
  let f = frames.get(e);
  if (f === undefined) {
    f = `event: step\ndata: ${JSON.stringify(e)}\n\n`;
    frames.set(e, f);
  }
  return f;
}

const gone = (res: ServerResponse) => res.destroyed || res.writableEnded;

export function streamEngineEvents(ex: Exchange, source: EventSource, keepAliveMs = KEEP_ALIVE_MS): void {
  const { res } = ex;
  const snapshot = source.snapshot();
  res.writeHead(200, { ...SSE_HEADERS });
  res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
  let dropped = 0;
  const off = source.onStep((e) => {
    if (gone(res)) return;
    if (res.writableLength >= MAX_BUFFERED_BYTES) {
      dropped++;
      return;
    }
    if (dropped > 0) {
      res.write(`: dropped ${dropped} step events (the connection was backed up)\n\n`);
      dropped = 0;
    }
    res.write(stepFrame(e));
  });
  const timer = setInterval(() => {
    if (!gone(res) && res.writableLength < MAX_BUFFERED_BYTES) res.write(': keep-alive\n\n');
  }, keepAliveMs);
  timer.unref();
  let offClose = () => {};
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    off();
    offClose();
    clearInterval(timer);
  };
  res.on('close', stop);
  // At shutdown the stream ends with the engine, rather than holding the server's close for its grace period.
  // Its connection closes too: the headers went out before shutdown, so it would otherwise linger as keep-alive.
  offClose = source.onClose(() => {
    stop();
    // (res.socket is detached once the response finishes: take it first.)
    const socket = res.socket;
    if (!gone(res)) res.end(() => socket?.end());
  });
  // A client already gone will send no 'close' now: without this its listener would keep the engine profiling.
  if (res.destroyed) stop();
}
