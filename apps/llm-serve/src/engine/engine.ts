/**
 * The engine loop (vLLM's EngineCore, in one process): requests queue up; while there is work, each step asks the
 * scheduler for a batch, runs the model once on the simulated cluster, appends the sampled tokens and streams them
 * out. Between steps the event loop runs, so the HTTP server keeps accepting and aborting requests.
 *
 * Two clocks: wall time (this machine) and the modelled hardware clock, which advances by each step's modelled
 * duration (kernels, collectives and host↔device copies on the simulated devices, from the runtime's host clock).
 * The modelled clock does not run while the engine is idle, so a request's modelled latencies are the sum of the
 * modelled steps between its arrival and each of its tokens — what it would have waited on the real hardware if
 * the same steps had run there back to back.
 */
import { randomInt } from 'node:crypto';
import type { Runtime } from '@tessera/device';
import { EngineError } from '../errors';
import type { BatchEntry, LlamaModel } from '../model/llama';
import type { Engine, EngineStats, GenerateRequest, LoadedModel, RequestOutput } from '../types';
import type { KvCacheManager } from './kv-cache';
import { EngineRequest, type Stamp } from './request';
import { Scheduler } from './scheduler';

export interface EngineLimits {
  maxSeqs: number;
  maxTokens: number;
  maxModelLen: number;
  /** Waiting requests beyond which new ones are refused (HTTP 429). */
  maxWaiting: number;
}

/** What the start-up banner and /v1/models show about capacity. */
export interface KvCacheInfo {
  numBlocks: number;
  blockSize: number;
  /** Blocks the simulated devices' memory would hold (numBlocks may be capped by the simulator's host memory). */
  deviceBlocks: number;
  /** Bytes of one block on one rank. */
  blockBytes: number;
}

export class LLMEngine implements Engine {
  readonly scheduler: Scheduler<EngineRequest>;
  private readonly requests = new Map<string, EngineRequest>();
  private loopRunning = false;
  private stopped = false;
  private fatal: Error | null = null;
  /** Modelled hardware clock, ms. */
  modelledNow = 0;
  steps = 0;

  constructor(
    readonly model: LoadedModel,
    readonly llama: LlamaModel,
    private readonly runtime: Runtime,
    readonly kv: KvCacheManager,
    readonly limits: EngineLimits,
    readonly hardware: string,
    readonly kvInfo: KvCacheInfo,
  ) {
    this.scheduler = new Scheduler(kv, { maxSeqs: limits.maxSeqs, maxTokens: limits.maxTokens });
  }

  get maxModelLen(): number {
    return this.limits.maxModelLen;
  }

  get healthy(): boolean {
    return this.fatal === null && !this.stopped;
  }

  stats(): EngineStats {
    return {
      running: this.scheduler.running.length,
      waiting: this.scheduler.waiting.length,
      kvCacheUsage: this.kv.usage,
      prefixCacheQueries: this.kv.queries,
      prefixCacheHits: this.kv.hits,
      preemptions: this.scheduler.preemptions,
    };
  }

  generate(g: GenerateRequest, signal?: AbortSignal): AsyncIterable<RequestOutput> {
    if (!this.healthy) {
      throw new EngineError(
        'shutdown',
        this.fatal ? `The engine failed: ${this.fatal.message}` : 'The engine is shut down.',
      );
    }
    const req = this.admit(g);
    if (signal) {
      if (signal.aborted) req.aborted = true;
      else signal.addEventListener('abort', () => this.abort(g.requestId), { once: true });
    }
    this.kick();
    return req.channel;
  }

  /** Validates and queues a request (throws EngineError for what cannot be served). */
  private admit(g: GenerateRequest): EngineRequest {
    const { params } = g;
    const prompt = g.promptTokenIds;
    const V = this.model.config.vocabSize;
    if (prompt.length === 0)
      throw new EngineError('invalid_request', 'The prompt is empty: give at least one token.', 'prompt');
    const bad = prompt.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= V);
    if (bad >= 0) {
      throw new EngineError(
        'invalid_request',
        `Token id ${prompt[bad]} at position ${bad} is out of vocabulary (0..${V - 1}).`,
        'prompt',
      );
    }
    const total = prompt.length + params.maxTokens;
    if (total > this.maxModelLen) {
      throw new EngineError(
        'invalid_request',
        `This model's maximum context length is ${this.maxModelLen} tokens. However, you requested ${total} tokens ` +
          `(${prompt.length} in the messages, ${params.maxTokens} in the completion). Please reduce the length of the messages or completion.`,
        'max_tokens',
      );
    }
    if (this.requests.has(g.requestId)) {
      throw new EngineError('invalid_request', `Request id '${g.requestId}' is already in use.`, 'request_id');
    }
    if (this.scheduler.waiting.length >= this.limits.maxWaiting) {
      throw new EngineError(
        'overloaded',
        `The server is overloaded: ${this.scheduler.waiting.length} requests are already waiting (limit ${this.limits.maxWaiting}). Retry later.`,
      );
    }
    const seed = params.seed ?? randomInt(0, 2 ** 31);
    const req = new EngineRequest(
      g.requestId,
      prompt,
      params,
      seed,
      this.model.eosTokenIds,
      this.maxModelLen,
      this.model.tokenizer,
      this.stamp(),
    );
    this.requests.set(req.id, req);
    this.scheduler.add(req);
    return req;
  }

  /** Aborts a request: it finishes with 'abort' at the next step boundary and its KV blocks are freed. */
  abort(requestId: string): void {
    const r = this.requests.get(requestId);
    if (r && !r.finished) {
      r.aborted = true;
      this.kick();
    }
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const r of this.requests.values()) this.finishAborted(r);
  }

  private stamp(): Stamp {
    return { wall: performance.now(), modelled: this.modelledNow };
  }

  private kick(): void {
    if (this.loopRunning || this.stopped) return;
    this.loopRunning = true;
    setImmediate(() => this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopped) {
        this.reapAborted();
        if (!this.scheduler.hasWork) break;
        this.step();
        // Let the event loop run (new requests, disconnects, writes) between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      this.fatal = e as Error;
      for (const r of this.requests.values()) this.finishAborted(r);
    } finally {
      this.loopRunning = false;
    }
  }

  private reapAborted(): void {
    for (const r of this.requests.values()) if (r.aborted) this.finishAborted(r);
  }

  private finishAborted(r: EngineRequest): void {
    if (r.finished) return;
    this.scheduler.remove(r);
    this.requests.delete(r.id);
    r.channel.push(r.finish('abort', null, [], this.stamp()));
    r.channel.close();
  }

  /** One engine step: schedule, run the model, hand out tokens. */
  step(): void {
    const batch = this.scheduler.schedule();
    if (batch.length === 0) return;
    const start = this.stamp();
    for (const { request } of batch) request.firstScheduled ??= start;
    const entries: BatchEntry[] = batch.map(({ request: r, numNew, sample }) => ({
      tokens: r.tokens.slice(r.numComputed, r.numComputed + numNew),
      start: r.numComputed,
      blockTable: r.blocks,
      sample,
      temperature: r.params.temperature,
      topK: r.params.topK,
      topP: r.params.topP,
      seed: r.seed,
      step: r.numOutput,
    }));
    const host0 = this.runtime.hostTimeMs;
    const sampled = this.llama.forward(entries);
    this.modelledNow += this.runtime.hostTimeMs - host0;
    this.steps++;
    const at = this.stamp();
    let s = 0;
    for (const { request: r, numNew, sample } of batch) {
      r.numComputed += numNew;
      this.scheduler.kv.registerFull(r, r.tokens, r.numComputed);
      if (!sample) continue;
      const out = r.append(sampled[s++]!, at);
      if (!out) continue;
      r.channel.push(out);
      if (out.finished) {
        this.scheduler.remove(r);
        this.requests.delete(r.id);
        r.channel.close();
      }
    }
  }
}
