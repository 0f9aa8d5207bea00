/**
 * The engine event stream's framing and its bound on a slow client, on a stand-in response whose unsent bytes the test
 * sets: step events are dropped (not queued) while the socket is backed up, and the client is told how many.
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { EngineSnapshot, StepEvent } from '@tessera/dashboard';
import { describe, expect, it, vi } from 'vitest';
import type { Exchange } from '../../src/server/context';
import { MAX_BUFFERED_BYTES, streamEngineEvents } from '../../src/server/engine-events';

class FakeResponse extends EventEmitter {
  written: string[] = [];
  status = 0;
  headers: Record<string, string> = {};
  writableLength = 0;
  destroyed = false;
  writableEnded = false;
  /** The connection: ended too at shutdown (its headers said keep-alive). */
  socket: { ended: boolean; end(): void } | null = {
    ended: false,
    end() {
      this.ended = true;
    },
  };
  writeHead(status: number, headers: Record<string, string>) {
    this.status = status;
    this.headers = headers;
    return this;
  }
  write(text: string) {
    this.written.push(text);
    return true;
  }
  end(done?: () => void) {
    this.writableEnded = true;
    this.socket = null; // as Node detaches it once the response has finished
    this.emit('close');
    done?.();
    return this;
  }
}

const snapshot = { model: { id: 'm' }, stats: {}, ranks: [], recent: [] } as unknown as EngineSnapshot;
const step = (n: number) => ({ step: n, batch: [], ranks: [] }) as unknown as StepEvent;

function open(keepAliveMs?: number, res = new FakeResponse()) {
  let listener: ((e: StepEvent) => void) | null = null;
  let closeListener: (() => void) | null = null;
  let unsubscribed = 0;
  const ex = { res: res as unknown as ServerResponse } as Exchange;
  streamEngineEvents(
    ex,
    {
      snapshot: () => snapshot,
      onStep: (l) => {
        listener = l;
        return () => unsubscribed++;
      },
      onClose: (l) => {
        closeListener = l;
        return () => {
          closeListener = null;
        };
      },
    },
    keepAliveMs,
  );
  return {
    res,
    emit: (e: StepEvent) => listener!(e),
    shutdown: () => closeListener?.(),
    closeSubscribed: () => closeListener !== null,
    unsubscribed: () => unsubscribed,
  };
}

describe('streamEngineEvents', () => {
  it('ends the stream and its connection when the engine shuts down, unsubscribing from the steps', () => {
    const s = open();
    const socket = s.res.socket!;
    s.emit(step(1));
    s.shutdown();
    expect(s.res.writableEnded).toBe(true);
    expect(socket.ended).toBe(true);
    expect(s.unsubscribed()).toBe(1);
    expect(s.closeSubscribed()).toBe(false);
  });

  it('leaves the shutdown listener when the client goes first', () => {
    const s = open();
    s.res.emit('close');
    expect(s.closeSubscribed()).toBe(false);
    expect(s.res.writableEnded).toBe(false);
  });

  it('sends the snapshot first, then each step as a named event', () => {
    const s = open();
    expect(s.res.status).toBe(200);
    expect(s.res.headers['Content-Type']).toMatch(/^text\/event-stream/);
    s.emit(step(1));
    s.emit(step(2));
    expect(s.res.written).toEqual([
      `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`,
      `event: step\ndata: ${JSON.stringify(step(1))}\n\n`,
      `event: step\ndata: ${JSON.stringify(step(2))}\n\n`,
    ]);
    s.res.emit('close');
    expect(s.unsubscribed()).toBe(1);
  });

  it('drops step events while the socket is backed up, and says how many once it drains', () => {
    const s = open();
    s.res.writableLength = MAX_BUFFERED_BYTES;
    for (let n = 1; n <= 5; n++) s.emit(step(n));
    expect(s.res.written).toHaveLength(1); // the snapshot only: nothing queued behind a stalled client
    s.res.writableLength = 0;
    s.emit(step(6));
    expect(s.res.written.slice(1)).toEqual([
      ': dropped 5 step events (the connection was backed up)\n\n',
      `event: step\ndata: ${JSON.stringify(step(6))}\n\n`,
    ]);
    // A closed stream takes no more writes.
    s.res.destroyed = true;
    s.emit(step(7));
    expect(s.res.written).toHaveLength(3);
  });

  it('unsubscribes at once from a client that was gone before the stream opened (no close will come)', () => {
    const res = new FakeResponse();
    res.destroyed = true;
    expect(open(undefined, res).unsubscribed()).toBe(1);
  });

  it('sends keep-alive comments on its interval until the client goes', () => {
    vi.useFakeTimers();
    try {
      const s = open(1000);
      vi.advanceTimersByTime(2500);
      expect(s.res.written.filter((w) => w === ': keep-alive\n\n')).toHaveLength(2);
      s.res.emit('close');
      vi.advanceTimersByTime(5000);
      expect(s.res.written.filter((w) => w === ': keep-alive\n\n')).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
