/**
 * The page's side of the playground worker (worker.ts): requests with a deadline. A request that is not answered in
 * time terminates the worker — the only way to stop synchronous JavaScript — and fails every request it held with a
 * `limit` issue; the next request starts a fresh worker. This, not the size limits, is what guarantees that a kernel
 * cannot freeze the page.
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
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
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

export class PlaygroundClient {
  private worker: WorkerLike | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly makeWorker: () => WorkerLike,
    private readonly deadlines: Partial<Record<PlaygroundRequest['op'], number>> = {},
  ) {}

  /** Sends one request; resolves with its result, or rejects with a `PlaygroundError` (the worker's, or a deadline). */
  request<R extends PlaygroundRequest>(req: R, deadlineMs?: number): Promise<PlaygroundResults[R['op']]> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const ms = deadlineMs ?? this.deadlines[req.op] ?? DEFAULT_DEADLINES[req.op];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.restart(
          new PlaygroundError({
            kind: 'limit',
            message: `Stopped after ${(ms / 1000).toFixed(0)} s: the ${req.op} request did not finish in time.`,
            hint: 'A loop bound or size far larger than intended is the usual cause (the cost analysis walks loops whose trip depends on a float accumulator). Shrink it, or model before running.',
          }),
        );
      }, ms);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      worker.postMessage({ id, request: req });
    });
  }

  /** Stops whatever the worker is doing; pending requests fail with kind `limit` (cancelled). */
  cancel(): void {
    this.restart(new PlaygroundError({ kind: 'limit', message: 'Cancelled.' }));
  }

  /** Terminates the worker for good (pending requests fail). */
  dispose(): void {
    this.cancel();
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
      );
    this.worker = w;
    return w;
  }

  private settle(reply: PlaygroundResponse): void {
    const p = this.pending.get(reply?.id);
    if (!p) return; // answered after a restart gave up on it
    this.pending.delete(reply.id);
    clearTimeout(p.timer);
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new PlaygroundError(reply.issue));
  }

  private restart(error: PlaygroundError): void {
    this.worker?.terminate();
    this.worker = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }
}
