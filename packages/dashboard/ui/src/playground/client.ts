/**
 * The page's side of the playground worker (worker.ts): requests with a deadline, sent one at a time (the worker
 * answers them in order), each timed from when it is sent. A request that is not answered in time terminates the
 * worker — the only way to stop synchronous JavaScript — and fails with a `limit` issue; the requests queued behind
 * it go on to a fresh worker. This, not the size limits, is what guarantees that a kernel cannot freeze the page.
 *
 *   const client = new PlaygroundClient(
 *     () => new Worker(new URL('./playground/worker-entry.ts', import.meta.url), { type: 'module' }),
 *   );
 *   const model = await client.request({ op: 'model', source });
 */
import { PlaygroundError } from './types';
import type { PlaygroundRequest, PlaygroundResponse, PlaygroundResults } from './worker';

/** A Web Worker, as far as the client uses one. */
export interface WorkerLike {
  onmessage: ((ev: { data: unknown }) => unknown) | null;
  onerror?: ((ev: { message?: string }) => unknown) | null;
  postMessage(message: unknown): void;
  terminate(): void;
}

interface Pending {
  id: number;
  request: PlaygroundRequest;
  deadlineMs: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Deadlines by request, ms: a run may take seconds on a slow machine; the rest is usually milliseconds. */
export const DEFAULT_DEADLINES: Readonly<Record<PlaygroundRequest['op'], number>> = {
  devices: 10_000,
  parse: 5_000,
  inspect: 15_000,
  model: 20_000,
  run: 60_000,
  webgpu: 60_000,
};

/** "250 ms", "20 s". */
const duration = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 1000)} s`);

export class PlaygroundClient {
  private worker: WorkerLike | null = null;
  private nextId = 1;
  /**
   * The worker answers one request at a time, so the client sends one at a time: a request's deadline starts when it
   * is sent, never while it waits behind another (an edit's inspect queued behind a long run would otherwise run out
   * of time, and its restart would take the run down with it).
   */
  private readonly queue: Pending[] = [];
  private inFlight: (Pending & { timer: ReturnType<typeof setTimeout> }) | null = null;

  constructor(
    private readonly makeWorker: () => WorkerLike,
    private readonly deadlines: Partial<Record<PlaygroundRequest['op'], number>> = {},
  ) {}

  /** Sends one request; resolves with its result, or rejects with a `PlaygroundError` (the worker's, or a deadline). */
  request<R extends PlaygroundRequest>(req: R, deadlineMs?: number): Promise<PlaygroundResults[R['op']]> {
    const deadline = deadlineMs ?? this.deadlines[req.op] ?? DEFAULT_DEADLINES[req.op];
    return new Promise((resolve, reject) => {
      this.queue.push({
        id: this.nextId++,
        request: req,
        deadlineMs: deadline,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      this.pump();
    });
  }

  /** Stops whatever the worker is doing; pending requests fail with kind `limit` (cancelled). */
  cancel(): void {
    this.restart(new PlaygroundError({ kind: 'limit', message: 'Cancelled.' }), true);
  }

  /** Terminates the worker for good (pending requests fail). */
  dispose(): void {
    this.cancel();
  }

  /** Sends the next queued request when none is in flight. */
  private pump(): void {
    if (this.inFlight) return;
    const next = this.queue.shift();
    if (!next) return;
    const { request: req, deadlineMs: ms } = next;
    const timer = setTimeout(() => {
      this.restart(
        new PlaygroundError({
          kind: 'limit',
          message: `Stopped after ${duration(ms)}: the ${req.op} request did not finish in time.`,
          hint: 'A loop bound or size far larger than intended is the usual cause (the cost analysis walks loops whose trip depends on a float accumulator). Shrink it, or model before running.',
        }),
        false,
      );
    }, ms);
    this.inFlight = { ...next, timer };
    try {
      this.ensureWorker().postMessage({ id: next.id, request: req });
    } catch (e) {
      // Not sent (a worker that cannot start, a request that cannot be cloned): fail it alone, not by its deadline.
      clearTimeout(timer);
      this.inFlight = null;
      next.reject(
        new PlaygroundError({
          kind: 'environment',
          message: `The ${req.op} request could not be sent to the playground worker: ${(e as Error)?.message ?? String(e)}.`,
        }),
      );
      this.pump();
    }
  }

  private ensureWorker(): WorkerLike {
    if (this.worker) return this.worker;
    const w = this.makeWorker();
    w.onmessage = (ev) => this.settle(ev.data as PlaygroundResponse);
    w.onerror = (ev) =>
      this.restart(
        new PlaygroundError({
          kind: 'environment',
          message: `The playground worker failed: ${ev?.message ?? 'unknown error'}.`,
        }),
        true,
      );
    this.worker = w;
    return w;
  }

  private settle(reply: PlaygroundResponse): void {
    const p = this.inFlight;
    if (!p || reply?.id !== p.id) return; // answered after a restart gave up on it
    this.inFlight = null;
    clearTimeout(p.timer);
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new PlaygroundError(reply.issue));
    this.pump();
  }

  /**
   * Terminates the worker and fails the request it was running with `error`; the queued ones fail too with `all`
   * (cancel, a crashed worker), or else go on to a fresh worker (a deadline: only the request that ran over it failed).
   */
  private restart(error: PlaygroundError, all: boolean): void {
    this.worker?.terminate();
    this.worker = null;
    const failed: Pending[] = [];
    if (this.inFlight) {
      clearTimeout(this.inFlight.timer);
      failed.push(this.inFlight);
      this.inFlight = null;
    }
    if (all) failed.push(...this.queue.splice(0));
    for (const p of failed) p.reject(error);
    this.pump();
  }
}
