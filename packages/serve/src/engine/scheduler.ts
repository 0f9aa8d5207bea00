/**
 * Continuous batching, as vLLM's V1 scheduler does it: every step first gives each running request its next tokens
 * (one for a decode, a chunk for an unfinished prefill), in arrival order, then fills what is left of the token
 * budget with waiting requests, chunking a prompt longer than the budget. When the KV cache runs out, the most
 * recently admitted running request is preempted: its blocks are freed and it goes back to the front of the waiting
 * queue, to be recomputed (prompt and the tokens it had generated) when there is room — with prefix caching, much of
 * it comes back from the cache.
 */
import type { KvCacheManager, KvRequestState } from './kv-cache';

export interface SchedulableRequest extends KvRequestState {
  readonly id: string;
  /** Prompt and generated tokens so far. */
  readonly tokens: readonly number[];
  /** Tokens whose KV is in the cache. */
  numComputed: number;
  preemptions: number;
  /** Prompt tokens found in the prefix cache when it was first admitted. */
  cachedPromptTokens: number;
  /** True once it has been scheduled at least once. */
  started: boolean;
}

export interface ScheduledItem<R extends SchedulableRequest> {
  request: R;
  /** Tokens computed this step: tokens[numComputed … numComputed + numNew). */
  numNew: number;
  /** The chunk reaches the last known token, so the step samples the next one. */
  sample: boolean;
}

export interface SchedulerLimits {
  /** max_num_seqs: running requests at most. */
  maxSeqs: number;
  /** max_num_batched_tokens: tokens per step at most. */
  maxTokens: number;
}

export class Scheduler<R extends SchedulableRequest> {
  readonly waiting: R[] = [];
  readonly running: R[] = [];
  preemptions = 0;

  constructor(
    readonly kv: KvCacheManager,
    readonly limits: SchedulerLimits,
  ) {}

  add(r: R): void {
    this.waiting.push(r);
  }

  /** Removes `r` wherever it is and frees its blocks (finish or abort). */
  remove(r: R): void {
    const i = this.running.indexOf(r);
    if (i >= 0) this.running.splice(i, 1);
    const j = this.waiting.indexOf(r);
    if (j >= 0) this.waiting.splice(j, 1);
    this.kv.free(r);
  }

  get hasWork(): boolean {
    return this.running.length > 0 || this.waiting.length > 0;
  }

  /** Decides this step's batch. */
  schedule(): ScheduledItem<R>[] {
    let budget = this.limits.maxTokens;
    const out: ScheduledItem<R>[] = [];
    let preempted = false;
    for (let i = 0; i < this.running.length && budget > 0; ) {
      const r = this.running[i]!;
      const numNew = Math.min(r.tokens.length - r.numComputed, budget);
      let ok = this.kv.allocate(r, r.numComputed + numNew);
      while (!ok) {
        const victim = this.running.pop()!;
        this.preempt(victim);
        preempted = true;
        if (victim === r) break;
        ok = this.kv.allocate(r, r.numComputed + numNew);
      }
      if (!ok) break;
      out.push({ request: r, numNew, sample: r.numComputed + numNew === r.tokens.length });
      budget -= numNew;
      i++;
    }
    // vLLM admits no new request in a step that had to preempt: memory is short.
    while (!preempted && budget > 0 && this.waiting.length > 0 && this.running.length < this.limits.maxSeqs) {
      const r = this.waiting[0]!;
      const hit = this.kv.acquireCachedPrefix(r, r.tokens);
      r.numComputed = hit;
      const numNew = Math.min(r.tokens.length - r.numComputed, budget);
      if (!this.kv.allocate(r, r.numComputed + numNew)) {
        this.kv.free(r);
        r.numComputed = 0;
        break;
      }
      this.kv.recordQuery(r.tokens.length, hit);
      if (!r.started) r.cachedPromptTokens = hit;
      r.started = true;
      this.waiting.shift();
      this.running.push(r);
      out.push({ request: r, numNew, sample: r.numComputed + numNew === r.tokens.length });
      budget -= numNew;
    }
    return out;
  }

  private preempt(r: R): void {
    this.kv.free(r);
    r.numComputed = 0;
    r.preemptions++;
    this.preemptions++;
    this.waiting.unshift(r);
  }
}
