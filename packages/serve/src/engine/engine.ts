/**
 * The engine loop (vLLM's EngineCore, in one process): requests queue up; while there is work, each step asks the
 * scheduler for a batch, runs the model once on the simulated cluster, appends the sampled tokens and streams them
 * out.
 *
 * Two clocks: wall time (this machine) and the modelled hardware clock, which advances by each step's modelled
 * duration (kernels, collectives and host↔device copies on the simulated devices: the runtime's host clock for the
 * LlamaModel; a predicted step time for the projected model).
 *
 * The engine talks to its model through a narrow seam (StepModel, step-model.ts): a batch of entries in, the sampled
 * tokens out, the step's time as the advance of the model's modelled clock. `EngineCore` is the engine over any
 * StepModel (the projected one computes no token: simulateProjected); `LLMEngine` is the engine over a LlamaModel on
 * a functional cluster, with the LoadedModel the HTTP server needs.
 *
 * Two ways to drive it, over the same scheduler, KV cache and model:
 *
 * - Live (the HTTP server): `generate` queues a request and kicks the engine's own loop, which steps while there is
 *   work and lets the event loop run between steps, so the server keeps accepting and aborting requests. Requests
 *   arrive on the wall clock; the modelled clock does not run while the engine is idle, so a request's modelled
 *   latencies are the sum of the modelled steps between its arrival and each of its tokens — what it would have
 *   waited on the real hardware if the same steps had run there back to back.
 * - Driven (the discrete-event simulation, sim/simulate.ts): `drive()` takes the steps away from the loop and hands
 *   them to the caller, who queues requests with arrival times on the modelled clock (`submit`), runs `step()` and
 *   moves the idle clock forward to the next arrival (`advanceTo`). Nothing then reads the wall clock: a stamp's wall
 *   time is its modelled time, and every figure follows from modelled time alone.
 *
 * Fault isolation (as vLLM and llama.cpp keep one bad request from taking the server down): a step that throws while
 * every device is still usable is re-run one request at a time, so the error lands on the requests it can be traced
 * to (their streams fail with an EngineError naming the cause; their KV blocks are freed) and the others get their
 * tokens. Re-running is safe: a step's only lasting effect is the KV it writes for its own tokens, at the same slots
 * with the same values. Only a fault that leaves a device unusable (a sticky kernel fault, a failed rank) is fatal:
 * then every request ends and `failure` (and /health) says which device and why.
 */
import { randomInt } from 'node:crypto';
import type { Runtime } from '@tessera/device';
import { SAMPLE_PARAM_LIMITS } from '@tessera/kernels';
import { EngineError } from '../errors';
import type { BatchEntry, LlamaModel } from '../model/llama';
import type { Engine, EngineStats, GenerateRequest, LoadedModel, RequestOutput } from '../types';
import { type BatchItem, StepFeed, type StepListener } from './feed';
import type { KvCacheManager } from './kv-cache';
import { EngineRequest, type OutputChannel, type Stamp } from './request';
import { Scheduler } from './scheduler';
import { llamaStepModel, type StepModel } from './step-model';

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

/** What one step did. */
export interface StepInfo {
  /** Requests in the batch (0: nothing was scheduled and the clock did not move). */
  requests: number;
  /** Tokens computed: prefill chunks and decodes. */
  tokens: number;
  /** The step's modelled duration, ms. */
  modelledMs: number;
}

/**
 * The engine's steps in the caller's hands (LLMEngine.drive): a discrete-event driver queues requests at modelled
 * arrival times, steps, and moves the idle clock; the engine's own loop does not run until `release()`.
 */
export interface EngineDriver {
  /** The modelled clock, ms. */
  readonly now: number;
  /** True while requests are queued or running. */
  readonly hasWork: boolean;
  /**
   * Queues a request that arrived at `arrivalMs` on the modelled clock (default: now). It may lie before now — the
   * request arrived while the last step ran, and its latencies count the wait — but not after. Throws as `generate`.
   */
  submit(request: GenerateRequest, arrivalMs?: number): OutputChannel<RequestOutput>;
  /** Admits what is waiting and runs one step (LLMEngine.step). */
  step(): StepInfo;
  /** Moves the idle clock forward to `ms` (the next arrival); refused while there is work, when only steps move it. */
  advanceTo(ms: number): void;
  /** Gives the steps back to the engine's loop (which picks up any work left). */
  release(): void;
}

/** The engine over any StepModel: everything but the LoadedModel (see LLMEngine). */
export class EngineCore {
  readonly scheduler: Scheduler<EngineRequest>;
  private readonly requests = new Map<string, EngineRequest>();
  private loopRunning = false;
  private stopped = false;
  private fatal: Error | null = null;
  /** A driver holds the steps (drive()): the loop does not run and no stamp reads the wall clock. */
  private driven = false;
  /** Modelled hardware clock, ms. */
  modelledNow = 0;
  steps = 0;
  /** The per-step event stream (feed.ts): `onStep`, the retained window, the trace. */
  readonly feed: StepFeed;

  constructor(
    readonly stepModel: StepModel,
    readonly kv: KvCacheManager,
    readonly limits: EngineLimits,
    readonly hardware: string,
    readonly kvInfo: KvCacheInfo,
  ) {
    this.scheduler = new Scheduler(kv, { maxSeqs: limits.maxSeqs, maxTokens: limits.maxTokens });
    this.feed = new StepFeed(stepModel.devices);
  }

  /**
   * Calls `listener` with a StepEvent after every step (live or driven) — synchronously, between the step and the
   * next, so keep it short; one that throws is counted (`feed.listenerErrors`) and ignored. Returns unsubscribe. While
   * nobody listens (and the window is not retained: `feed.retain`), steps record nothing.
   */
  onStep(listener: StepListener): () => void {
    return this.feed.onStep(listener);
  }

  get maxModelLen(): number {
    return this.limits.maxModelLen;
  }

  get healthy(): boolean {
    return this.fatal === null && !this.stopped;
  }

  /** Why the engine cannot serve (null while healthy): a device fault that made it unusable, or a shutdown. */
  get failure(): string | null {
    if (this.fatal) return `The engine failed: ${this.fatal.message}`;
    return this.stopped ? 'The engine is shut down.' : null;
  }

  /** How many more requests the waiting queue takes now (the server refuses a larger batch with 429 up front). */
  get waitingRoom(): number {
    return Math.max(0, this.limits.maxWaiting - this.scheduler.waiting.length);
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
    const req = this.admit(g, this.stamp());
    if (signal) {
      if (signal.aborted) req.aborted = true;
      else signal.addEventListener('abort', () => this.abort(g.requestId), { once: true });
    }
    this.kick();
    return req.channel;
  }

  /**
   * Takes the steps away from the engine's own loop and hands them to the caller (the discrete-event driver) until
   * `release()`. One driver at a time.
   */
  drive(): EngineDriver {
    if (this.driven) throw new Error('LLMEngine.drive: the engine already has a driver.');
    this.driven = true;
    let released = false;
    const engine = this;
    const held = () => {
      if (released) throw new Error('LLMEngine.drive: this driver was released.');
    };
    return {
      get now() {
        return engine.modelledNow;
      },
      get hasWork() {
        return engine.scheduler.hasWork;
      },
      submit(g, arrivalMs = engine.modelledNow) {
        held();
        if (!(Number.isFinite(arrivalMs) && arrivalMs <= engine.modelledNow)) {
          throw new Error(
            `LLMEngine.drive: request '${g.requestId}' arrives at ${arrivalMs} ms, after the clock (${engine.modelledNow} ms): advance the clock first.`,
          );
        }
        return engine.admit(g, { wall: arrivalMs, modelled: arrivalMs }).channel;
      },
      step() {
        held();
        return engine.step();
      },
      advanceTo(ms) {
        held();
        if (engine.scheduler.hasWork) {
          throw new Error('LLMEngine.drive: the clock moves by steps while requests are queued or running.');
        }
        if (ms > engine.modelledNow) engine.modelledNow = ms;
      },
      release() {
        if (released) return;
        released = true;
        engine.driven = false;
        if (engine.scheduler.hasWork) engine.kick();
      },
    };
  }

  /** Validates and queues a request arriving at `arrival` (throws EngineError for what cannot be served). */
  private admit(g: GenerateRequest, arrival: Stamp): EngineRequest {
    const failure = this.failure;
    if (failure !== null) throw new EngineError('shutdown', failure);
    const { params } = g;
    const prompt = g.promptTokenIds;
    const V = this.stepModel.vocabSize;
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
    checkSamplingParams(params);
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
      this.stepModel.eosTokenIds,
      this.maxModelLen,
      this.stepModel.tokenizer,
      arrival,
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
    this.feed.close();
  }

  /** Now on both clocks; driven, the wall clock is not read (the simulation's wall time is its modelled time). */
  private stamp(): Stamp {
    return { wall: this.driven ? this.modelledNow : performance.now(), modelled: this.modelledNow };
  }

  private kick(): void {
    if (this.loopRunning || this.stopped || this.driven) return;
    this.loopRunning = true;
    setImmediate(() => this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (this.healthy && !this.driven) {
        this.reapAborted();
        if (!this.scheduler.hasWork) break;
        this.step();
        // Let the event loop run (new requests, disconnects, writes) between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
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

  /** Ends `r` with an error its client receives (a 500 naming `cause`), freeing its KV blocks. */
  private failRequest(r: EngineRequest, cause: unknown): void {
    if (r.finished) return;
    r.finished = true;
    this.scheduler.remove(r);
    this.requests.delete(r.id);
    const why = cause instanceof Error ? cause.message : String(cause);
    r.channel.fail(new EngineError('internal', `The engine could not run this request: ${why}`));
  }

  /** A device that faulted (sticky) or was failed: the engine cannot go on (null while every rank is usable). */
  private brokenDevice(): string | null {
    return this.stepModel.brokenDevice();
  }

  /**
   * Runs the model on `entries`; if that throws and every device is still usable, runs each entry alone so the error
   * lands on the requests that cause it. Returns the sampled token per entry that samples (null for failed ones).
   */
  private forwardIsolated(batch: readonly { request: EngineRequest }[], entries: BatchEntry[]): (number | null)[] {
    const samplers = (es: readonly BatchEntry[]) => es.filter((e) => e.sample).length;
    try {
      return Array.from(this.stepModel.forward(entries));
    } catch (err) {
      const broken = this.brokenDevice();
      if (broken) throw new Error(`${broken}: ${err instanceof Error ? err.message : String(err)}`);
      if (entries.length === 1) {
        this.failRequest(batch[0]!.request, err);
        return new Array(samplers(entries)).fill(null);
      }
    }
    const out: (number | null)[] = [];
    entries.forEach((entry, i) => {
      try {
        out.push(...Array.from(this.stepModel.forward([entry])));
      } catch (err) {
        const broken = this.brokenDevice();
        if (broken) throw new Error(`${broken}: ${err instanceof Error ? err.message : String(err)}`);
        this.failRequest(batch[i]!.request, err);
        if (entry.sample) out.push(null);
      }
    });
    return out;
  }

  /**
   * One engine step: finish aborted requests, schedule (the waiting requests are admitted here), run the model, hand
   * out tokens. A fault that leaves the engine unusable (a device fault; a broken invariant) ends every request and
   * sets `failure`; the step then reports nothing done.
   */
  step(): StepInfo {
    const none: StepInfo = { requests: 0, tokens: 0, modelledMs: 0 };
    if (!this.healthy) return none;
    this.reapAborted();
    try {
      return this.runStep() ?? none;
    } catch (e) {
      this.fatal = e instanceof Error ? e : new Error(String(e));
      for (const r of this.requests.values()) this.finishAborted(r);
      return none;
    }
  }

  private runStep(): StepInfo | null {
    const batch = this.scheduler.schedule();
    if (batch.length === 0) return null;
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
    const clock0 = this.stepModel.clockMs;
    const mark = this.feed.begin(clock0, this.modelledNow);
    // What each request computes, from the state before the step: a decode is exactly the newest token of a request
    // whose prompt is done; anything else (a prompt chunk, a preempted request's recompute) is a prefill.
    const items: BatchItem[] | null = mark
      ? batch.map(({ request: r, numNew }) => ({
          requestId: r.id,
          kind:
            numNew === 1 && r.numComputed >= r.promptLength && r.numComputed + 1 === r.tokens.length
              ? 'decode'
              : 'prefill',
          tokens: numNew,
        }))
      : null;
    const sampled = this.forwardIsolated(batch, entries);
    const modelledMs = this.stepModel.clockMs - clock0;
    this.modelledNow += modelledMs;
    this.steps++;
    const at = this.stamp();
    let s = 0;
    for (const { request: r, numNew, sample } of batch) {
      const token = sample ? sampled[s++] : undefined;
      if (r.finished) continue; // failed in this step
      try {
        r.numComputed += numNew;
        this.scheduler.kv.registerFull(r, r.tokens, r.numComputed);
        if (token === undefined || token === null) continue;
        const out = r.append(token, at);
        if (!out) continue;
        r.channel.push(out);
        if (out.finished) {
          this.scheduler.remove(r);
          this.requests.delete(r.id);
          r.channel.close();
        }
      } catch (err) {
        // Detokenizing or stop-string matching failed for this request only (e.g. the model's tokenizer).
        this.failRequest(r, err);
      }
    }
    if (mark && items) {
      this.feed.end(mark, {
        step: this.steps,
        modelledMs,
        running: this.scheduler.running.length,
        waiting: this.scheduler.waiting.length,
        kvCacheUsage: this.kv.usage,
        batch: items,
      });
    }
    return { requests: batch.length, tokens: entries.reduce((n, e) => n + e.tokens.length, 0), modelledMs };
  }
}

/**
 * The engine over a LlamaModel on a functional cluster (createEngine): the HTTP server's Engine, with the LoadedModel
 * (config, tokenizer) it serves and the LlamaModel that computes every token.
 */
export class LLMEngine extends EngineCore implements Engine {
  constructor(
    readonly model: LoadedModel,
    readonly llama: LlamaModel,
    runtime: Runtime,
    kv: KvCacheManager,
    limits: EngineLimits,
    hardware: string,
    kvInfo: KvCacheInfo,
  ) {
    super(llamaStepModel(model, llama, runtime), kv, limits, hardware, kvInfo);
  }
}

/** The sampling parameters a step can take: the sampling kernel's ranges (the HTTP schema enforces the same). */
function checkSamplingParams(p: GenerateRequest['params']): void {
  const bad = (param: string, what: string, value: unknown) => {
    throw new EngineError('invalid_request', `${param} must be ${what}; got ${JSON.stringify(value)}.`, param);
  };
  const { topK, seed } = SAMPLE_PARAM_LIMITS;
  if (!Number.isSafeInteger(p.maxTokens) || p.maxTokens < 1) bad('max_tokens', 'a positive integer', p.maxTokens);
  if (!(Number.isFinite(p.temperature) && p.temperature >= 0)) bad('temperature', 'a finite number ≥ 0', p.temperature);
  if (!(p.topP > 0 && p.topP <= 1)) bad('top_p', 'in (0, 1]', p.topP);
  if (!(p.topK === -1 || (Number.isInteger(p.topK) && p.topK >= topK.min && p.topK <= topK.max))) {
    bad('top_k', `-1 or an integer in [0, ${topK.max}]`, p.topK);
  }
  if (p.seed !== null && !(Number.isInteger(p.seed) && p.seed >= seed.min && p.seed <= seed.max)) {
    bad('seed', 'an integer in [-2³¹, 2³²)', p.seed);
  }
  if (!Number.isSafeInteger(p.minTokens) || p.minTokens < 0) bad('min_tokens', 'an integer ≥ 0', p.minTokens);
}
