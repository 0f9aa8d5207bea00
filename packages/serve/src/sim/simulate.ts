/**
 * simulateServing: a serving run in modelled time only — a discrete-event simulation over the real engine (the same
 * scheduler, KV cache and model graph the HTTP server drives, computing every token; or, over a ProjectedStepModel,
 * the same scheduler and KV cache with projected step times and no token computation: simulateProjected).
 *
 * The driver holds the engine's steps (LLMEngine.drive) and owns its modelled clock. Events are arrivals and step
 * ends; completions happen at step ends. At each event it collects what the last step produced (a completion frees a
 * concurrency slot), admits every request whose arrival time has passed — stamped with that arrival time, so a request
 * that arrived while a step ran counts the rest of that step in its latencies — and runs the next step, which moves
 * the clock by the step's modelled duration. With nothing queued or running it moves the clock to the next arrival.
 * Nothing reads the wall clock, so the figures depend on the workload, the model and the hardware model alone, not on
 * how fast this machine simulates (a slow host gives the same numbers, later).
 *
 * Under a concurrency limit a request due while every slot is busy is sent when one frees (a step end), and its
 * latencies count from then, as `vllm bench serve` times them. Latencies are per token (the engine's modelled
 * RequestMetrics); the summary is the HTTP benchmark's (`summarizeServing`), over the span from the first send to
 * the last token.
 */
import type { EngineCore, EngineDriver, StepInfo } from '../engine/engine';
import { EngineError } from '../errors';
import type { RequestMetrics, SamplingParams } from '../types';
import { type ServingSummary, summarizeServing, type Timings } from './metrics';
import type { Workload } from './workload';

export interface SimulationOptions {
  /** Sampling of every request (default greedy). EOS is ignored and max_tokens is the request's output length. */
  sampling?: Partial<Pick<SamplingParams, 'temperature' | 'topP' | 'topK'>>;
  /** Request i samples with seed (seed + i) mod 2³² (default 0). */
  seed?: number;
  /** Request ids are `${idPrefix}${i}` (default 'sim-'). */
  idPrefix?: string;
  /**
   * Called after every step, before the next arrivals are admitted; awaited when it returns a promise. Whatever it
   * does with the host's time changes nothing in the results.
   */
  onStep?: (step: SimulationStep) => void | Promise<void>;
  /** Called as requests finish (or fail). */
  onProgress?: (done: number, total: number) => void;
}

/** One step of a simulation, for `onStep`. */
export interface SimulationStep extends StepInfo {
  /** Steps run so far in this simulation (1 for the first). */
  index: number;
  /** The modelled clock at the step's end, ms from the start of the run. */
  clockMs: number;
}

/** One request's outcome, in modelled time. Times are ms from the start of the run. */
export interface SimulatedRequest {
  requestId: string;
  /** Its arrival in the workload. */
  arrivalMs: number;
  /** When it was sent: its arrival, or later when the concurrency limit held it back. Latencies count from here. */
  sentMs: number;
  promptLen: number;
  /** Tokens generated. */
  outputLen: number;
  ok: boolean;
  /** Why it failed (refused at admission, failed in a step, or ended by an engine failure); null when ok. */
  error: string | null;
  /** TTFT, every inter-token gap and E2E, per token. */
  timings: Timings;
  /** When each token was produced. */
  tokenTimesMs: number[];
  /** Sent → first scheduled. */
  queueMs: number;
  cachedPromptTokens: number;
  preemptions: number;
}

export interface SimulationResult {
  /** The engine's simulated hardware (e.g. "1× NVIDIA H100 SXM5 80GB, dgx-h100, TP 1, bf16"). */
  hardware: string;
  /** In workload order. */
  requests: SimulatedRequest[];
  completed: number;
  failed: number;
  totalInputTokens: number;
  totalOutputTokens: number;
  /** First send → last token of the completed requests. */
  durationMs: number;
  /** `vllm bench serve`'s figures, in modelled time. */
  summary: ServingSummary;
  /** Engine steps the run took. */
  steps: number;
  /** Distinct error messages of failed requests (at most 10). */
  errors: string[];
}

interface InFlight {
  index: number;
  channel: ReturnType<EngineDriver['submit']>;
  metrics: RequestMetrics | null;
  aborted: boolean;
}

/**
 * Runs `workload` on `engine` in modelled time (see the file comment). The engine must be idle; it is handed back to
 * its own loop afterwards. Its prefix cache keeps what the run left in it.
 */
export async function simulateServing(
  engine: EngineCore,
  workload: Workload,
  options: SimulationOptions = {},
): Promise<SimulationResult> {
  const { requests } = workload;
  const limit = workload.maxConcurrency;
  if (limit !== null && !(Number.isSafeInteger(limit) && limit >= 1)) {
    throw new RangeError(`simulateServing: maxConcurrency must be a positive integer or null; got ${limit}.`);
  }
  requests.forEach((r, i) => {
    if (!(Number.isFinite(r.arrivalMs) && r.arrivalMs >= 0) || (i > 0 && r.arrivalMs < requests[i - 1]!.arrivalMs)) {
      throw new RangeError(`simulateServing: arrival times must be finite, ≥ 0 and in order (request ${i}).`);
    }
    if (!(Number.isSafeInteger(r.outputLen) && r.outputLen >= 1)) {
      throw new RangeError(`simulateServing: request ${i} has output length ${r.outputLen}; give at least 1.`);
    }
  });
  if (engine.scheduler.hasWork) {
    throw new Error('simulateServing: the engine is serving other requests; simulate on an idle engine.');
  }
  const prefix = options.idPrefix ?? 'sim-';
  const seed = options.seed ?? 0;
  const sampling = { temperature: 0, topP: 1, topK: 0, ...options.sampling };
  const total = requests.length;
  const results: SimulatedRequest[] = requests.map((r, i) => ({
    requestId: `${prefix}${i}`,
    arrivalMs: r.arrivalMs,
    sentMs: r.arrivalMs,
    promptLen: r.promptTokenIds.length,
    outputLen: 0,
    ok: false,
    error: null,
    timings: { ttftMs: 0, itlMs: [], e2eMs: 0 },
    tokenTimesMs: [],
    queueMs: 0,
    cachedPromptTokens: 0,
    preemptions: 0,
  }));
  // When each concurrency slot last became free (−∞: never taken).
  const slots: number[] = limit === null ? [] : new Array(limit).fill(Number.NEGATIVE_INFINITY);
  const inFlight: InFlight[] = [];
  let done = 0;
  let steps = 0;
  options.onProgress?.(0, total);

  const drv = engine.drive();
  const t0 = drv.now;
  const clock = () => drv.now - t0;
  const finish = (index: number, error: string | null, metrics: RequestMetrics | null) => {
    const r = results[index]!;
    r.error = error;
    r.ok = error === null && metrics !== null;
    if (metrics) {
      const m = metrics.modelled;
      r.outputLen = metrics.completionTokens;
      r.timings = { ttftMs: m.ttftMs, itlMs: m.itlMs, e2eMs: m.e2eMs };
      r.queueMs = m.queueMs;
      r.cachedPromptTokens = metrics.cachedPromptTokens;
      r.preemptions = metrics.preemptions;
      if (metrics.completionTokens > 0) {
        let t = r.sentMs + m.ttftMs;
        r.tokenTimesMs = [t, ...m.itlMs.map((gap) => (t += gap))];
      }
    }
    if (limit !== null) {
      // Free the slot this request took (any one: only the set of times matters).
      const i = slots.indexOf(Number.POSITIVE_INFINITY);
      slots[i] = clock();
    }
    options.onProgress?.(++done, total);
  };
  /** Reads what the last step streamed; completions free their slots at the step's end (now). */
  const harvest = () => {
    for (let k = inFlight.length - 1; k >= 0; k--) {
      const f = inFlight[k]!;
      const { items, done: closed, error } = f.channel.poll();
      for (const o of items) {
        if (o.finishReason === 'abort') f.aborted = true;
        if (o.metrics) f.metrics = o.metrics;
      }
      if (!closed) continue;
      inFlight.splice(k, 1);
      let why: string | null = null;
      if (error !== null) why = error instanceof Error ? error.message : String(error);
      else if (f.aborted) why = `aborted: ${engine.failure ?? 'the engine stopped'}`;
      else if (!f.metrics) why = 'the stream ended without a result';
      finish(f.index, why, f.metrics);
    }
  };
  /** Sends every request due by now that a slot allows. */
  const admitDue = (next: number): number => {
    const now = clock();
    while (next < total && requests[next]!.arrivalMs <= now) {
      const w = requests[next]!;
      const r = results[next]!;
      if (limit !== null) {
        // Take the slot freed earliest; the request waited for it if that was after its arrival.
        let s = -1;
        for (let i = 0; i < limit; i++) if (slots[i]! <= now && (s < 0 || slots[i]! < slots[s]!)) s = i;
        if (s < 0) break;
        r.sentMs = Math.max(w.arrivalMs, slots[s]!);
        slots[s] = Number.POSITIVE_INFINITY;
      }
      const params: SamplingParams = {
        maxTokens: w.outputLen,
        ...sampling,
        seed: (seed + next) % 2 ** 32,
        stop: [],
        stopTokenIds: [],
        ignoreEos: true,
        minTokens: 0,
      };
      try {
        const channel = drv.submit({ requestId: r.requestId, promptTokenIds: w.promptTokenIds, params }, t0 + r.sentMs);
        inFlight.push({ index: next, channel, metrics: null, aborted: false });
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        finish(next, err.message, null);
      }
      next++;
    }
    return next;
  };

  try {
    let next = 0;
    for (;;) {
      harvest();
      next = admitDue(next);
      if (drv.hasWork) {
        const info = drv.step();
        if (info.requests === 0 && engine.healthy && drv.hasWork) {
          throw new Error(
            `simulateServing: the engine scheduled nothing at ${clock()} ms with requests waiting (KV cache too small?).`,
          );
        }
        steps++;
        await options.onStep?.({ ...info, index: steps, clockMs: clock() });
        // Let the event loop run between steps (progress output, signals); no clock is read.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      if (inFlight.length > 0)
        throw new Error('simulateServing: a stream is open for a request the engine no longer has.');
      if (next >= total) break;
      // Idle: the next event is an arrival (a slot is free, as nothing is in flight).
      drv.advanceTo(t0 + requests[next]!.arrivalMs);
    }
  } finally {
    drv.release();
  }

  const ok = results.filter((r) => r.ok);
  // (Loops, not Math.min(...): a workload may hold more requests than a call takes arguments.)
  const start = ok.reduce((m, r) => Math.min(m, r.sentMs), Number.POSITIVE_INFINITY);
  const end = ok.reduce((m, r) => Math.max(m, r.sentMs + r.timings.e2eMs), Number.NEGATIVE_INFINITY);
  const durationMs = ok.length > 0 ? end - start : 0;
  return {
    hardware: engine.hardware,
    requests: results,
    completed: ok.length,
    failed: total - ok.length,
    totalInputTokens: ok.reduce((s, r) => s + r.promptLen, 0),
    totalOutputTokens: ok.reduce((s, r) => s + r.outputLen, 0),
    durationMs,
    summary: summarizeServing(
      ok.map((r) => ({ promptLen: r.promptLen, outputLen: r.outputLen, timings: r.timings })),
      durationMs / 1000,
    ),
    steps,
    errors: [...new Set(results.filter((r) => !r.ok).map((r) => r.error ?? 'unknown error'))].slice(0, 10),
  };
}
