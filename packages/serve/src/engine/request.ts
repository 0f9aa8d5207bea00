/**
 * One request inside the engine: its tokens, KV bookkeeping, stop conditions, incremental text, timestamps (wall
 * and modelled), and the channel its outputs stream through.
 */

import type { FinishReason, LatencyFigures, RequestMetrics, RequestOutput, SamplingParams, Tokenizer } from '../types';
import { IncrementalDetokenizer } from './detokenizer';
import type { SchedulableRequest } from './scheduler';

/** An async queue: the engine pushes, the consumer iterates; `fail` ends it with an error the consumer receives. */
export class OutputChannel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (v: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  private closed = false;
  private error: unknown = null;

  push(v: T): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: v, done: false });
    } else this.items.push(v);
  }

  close(): void {
    this.closed = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  /** Ends the stream with `error`: outputs already pushed are still delivered, then `next()` rejects with it. */
  fail(error: unknown): void {
    if (this.closed) return;
    this.error = error;
    this.closed = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(error);
    }
  }

  /**
   * Takes what has been pushed and not yet consumed, without waiting (a synchronous driver's read; do not mix with
   * iteration). `done` is true once the channel is closed or failed and nothing is left; `error` is the failure.
   */
  poll(): { items: T[]; done: boolean; error: unknown } {
    const items = this.items.splice(0);
    return { items, done: this.closed, error: this.error };
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const v = this.items.shift();
        if (v !== undefined) return Promise.resolve({ value: v, done: false });
        if (this.error !== null) return Promise.reject(this.error);
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
    };
  }
}

/**
 * A point on both clocks: wall (performance.now(), ms) and the engine's modelled hardware clock (ms). Under a driver
 * (the discrete-event simulation) there is no wall clock: wall is the modelled time.
 */
export interface Stamp {
  wall: number;
  modelled: number;
}

export class EngineRequest implements SchedulableRequest {
  readonly tokens: number[];
  readonly promptLength: number;
  blocks: number[] = [];
  hashes: string[] = [];
  numComputed = 0;
  preemptions = 0;
  cachedPromptTokens = 0;
  started = false;
  aborted = false;
  finished = false;
  firstScheduled: Stamp | null = null;
  readonly tokenStamps: Stamp[] = [];
  readonly channel = new OutputChannel<RequestOutput>();
  private readonly detok: IncrementalDetokenizer;
  /** Generated text so far (stop strings not yet cut) and how much of it has been sent. */
  private text = '';
  private sent = 0;
  private readonly holdBack: number;
  /** A stop string cut the text: what follows it (including bytes the detokenizer holds) is dropped. */
  private cut = false;

  constructor(
    readonly id: string,
    prompt: readonly number[],
    readonly params: SamplingParams,
    /** The resolved RNG seed (the request's, or a random one). */
    readonly seed: number,
    readonly eosTokenIds: readonly number[],
    readonly maxModelLen: number,
    tokenizer: Tokenizer,
    readonly arrival: Stamp,
  ) {
    this.tokens = [...prompt];
    this.promptLength = prompt.length;
    this.detok = new IncrementalDetokenizer(tokenizer, prompt);
    // While streaming, keep back the last (longest stop − 1) characters: they may start a stop string.
    this.holdBack = Math.max(0, ...params.stop.map((s) => s.length - 1));
  }

  get outputTokens(): number[] {
    return this.tokens.slice(this.promptLength);
  }

  get numOutput(): number {
    return this.tokens.length - this.promptLength;
  }

  /**
   * Appends a sampled token and works out whether it ends the request. Returns the output to stream (null when the
   * token adds no visible text yet and does not finish the request).
   */
  append(token: number, at: Stamp): RequestOutput | null {
    this.tokens.push(token);
    this.tokenStamps.push(at);
    const n = this.numOutput;
    const p = this.params;
    let finish: FinishReason | null = null;
    let stopReason: string | number | null = null;
    let showToken = true;
    if (n >= p.minTokens) {
      if (p.stopTokenIds.includes(token)) {
        finish = 'stop';
        stopReason = token;
        showToken = false;
      } else if (!p.ignoreEos && this.eosTokenIds.includes(token)) {
        finish = 'stop';
        showToken = false;
      }
    }
    if (showToken) {
      this.text += this.detok.push([token]);
      if (n >= p.minTokens && p.stop.length > 0) {
        // Search only where a stop string could newly end: the new text and the held-back tail before it.
        const from = Math.max(0, this.sent - this.holdBack);
        let cut = -1;
        for (const s of p.stop) {
          const i = this.text.indexOf(s, from);
          if (i >= 0 && (cut < 0 || i < cut)) {
            cut = i;
            stopReason = s;
          }
        }
        if (cut >= 0) {
          this.text = this.text.slice(0, cut);
          this.cut = true;
          finish = 'stop';
        }
      }
    }
    if (!finish && (n >= p.maxTokens || this.tokens.length >= this.maxModelLen)) finish = 'length';
    if (finish) return this.finish(finish, stopReason, [token], at);
    const visible = Math.max(this.sent, this.text.length - this.holdBack);
    const delta = this.text.slice(this.sent, visible);
    this.sent = visible;
    return {
      requestId: this.id,
      tokenIds: [token],
      text: delta,
      finished: false,
      finishReason: null,
      stopReason: null,
      modelledMs: at.modelled - this.arrival.modelled,
      modelledClockMs: at.modelled,
    };
  }

  /** The final output: the rest of the text, the reason, and the request's metrics. */
  finish(reason: FinishReason, stopReason: string | number | null, tokenIds: number[], at: Stamp): RequestOutput {
    this.finished = true;
    // Bytes the detokenizer held back (an unfinished UTF-8 sequence at the very end) belong to the output.
    if (!this.cut) this.text += this.detok.flush();
    const delta = this.text.slice(this.sent);
    this.sent = this.text.length;
    return {
      requestId: this.id,
      tokenIds,
      text: delta,
      finished: true,
      finishReason: reason,
      stopReason,
      modelledMs: at.modelled - this.arrival.modelled,
      modelledClockMs: at.modelled,
      metrics: this.metrics(at),
    };
  }

  metrics(end: Stamp): RequestMetrics {
    const figures = (clock: keyof Stamp): LatencyFigures => {
      const t0 = this.arrival[clock];
      const times = this.tokenStamps.map((s) => s[clock]);
      const last = times.length > 0 ? times[times.length - 1]! : end[clock];
      const ttft = times.length > 0 ? times[0]! - t0 : 0;
      const e2e = last - t0;
      return {
        ttftMs: ttft,
        tpotMs: times.length > 1 ? (e2e - ttft) / (times.length - 1) : 0,
        e2eMs: e2e,
        itlMs: times.slice(1).map((t, i) => t - times[i]!),
        queueMs: (this.firstScheduled ?? end)[clock] - t0,
      };
    };
    return {
      wall: figures('wall'),
      modelled: figures('modelled'),
      promptTokens: this.promptLength,
      completionTokens: this.numOutput,
      cachedPromptTokens: this.cachedPromptTokens,
      preemptions: this.preemptions,
    };
  }
}
