/**
 * `runBench`: the serving benchmark (after `vllm bench serve` with its random dataset), in-process. Prompts are
 * random token ids sent to /v1/completions with stream, ignore_eos and max_tokens = the sampled output length, so
 * input and output lengths are exact. Results come in two columns: wall clock on this machine, and modelled time on
 * the simulated hardware.
 *
 * Modelled duration: the server's modelled clock advances by each engine step's modelled time and stands still while
 * the engine is idle; every chunk carries it (`tessera.modelled_clock_ms`), so the modelled duration is the span from
 * the first arrival to the last output on that clock — the hardware time of the steps the run needed. (Arrivals follow
 * the request rate in wall time; the modelled clock only sees the steps.) A server without the clock gets a replay:
 * requests arrive at their scheduled offsets, wait for a concurrency slot, and hold it for their modelled E2E.
 *
 * Batch 1: after the load (the server idle and warm), one more request runs alone — a random prompt of --input-len
 * tokens, --output-len tokens (at least 2) — and its TTFT and TPOT are reported on both clocks: the latency of a
 * single stream, which the loaded figures (many requests sharing each step) do not show.
 *
 * The workload (`randomWorkload`) and the figures (`summarizeServing`) are @tessera/serve's, shared with the
 * modelled-time mode (modelled.ts), which replays the same workload in-process without HTTP or the wall clock.
 */
import { randomPrompt, randomWorkload, type ServingSummary, seededRandom, summarizeServing } from '@tessera/serve';
import { type RequestRecord, sendStreamingRequest } from './client';

export interface BenchOptions {
  baseUrl: string;
  /** Default: the first model the server lists. */
  model?: string;
  numPrompts: number;
  /** Requests per second; Infinity sends all at once. */
  requestRate: number;
  /** Gamma shape of the inter-arrival times; 1 = Poisson. */
  burstiness: number;
  /** At most this many requests in flight; null = no limit. */
  maxConcurrency: number | null;
  inputLen: number;
  outputLen: number;
  /** Lengths uniform in [L(1−r), L(1+r)]. */
  rangeRatio: number;
  seed: number;
  apiKey?: string;
  /** Vocabulary to draw prompt ids from; default: /v1/models' tessera.vocab_size. */
  vocabSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** After the load, time one request alone (batch 1); default true. */
  batch1: boolean;
}

/** One request served alone: its latencies on both clocks. */
export interface Batch1Result {
  inputLen: number;
  outputLen: number;
  /** null in modelled-time mode (no wall clock). */
  wall: { ttftMs: number; tpotMs: number } | null;
  /** null when the server reports no modelled times. */
  modelled: { ttftMs: number; tpotMs: number } | null;
  /** Why the request failed (then the figures are 0). */
  error: string | null;
}

/** vLLM's figures on one clock (@tessera/serve's `summarizeServing`). */
export type BenchSummary = ServingSummary;

export interface BenchResult {
  /** 'http': requests sent to a server, wall and modelled columns; 'modelled-time': the in-process simulation. */
  mode: 'http' | 'modelled-time';
  /** The server benchmarked; null in modelled-time mode. */
  baseUrl: string | null;
  model: string;
  /** The server's simulated hardware, if it says. */
  hardware: string | null;
  numPrompts: number;
  requestRate: number | 'inf';
  burstiness: number;
  maxConcurrency: number | null;
  completed: number;
  failed: number;
  totalInputTokens: number;
  totalOutputTokens: number;
  /** null in modelled-time mode (no wall clock). */
  wall: BenchSummary | null;
  /** null when the server reports no modelled times. */
  modelled: BenchSummary | null;
  inputLens: number[];
  outputLens: number[];
  /** Distinct error messages of failed requests (at most 10). */
  errors: string[];
  /** The single request timed after the load; null with --no-batch1. */
  batch1: Batch1Result | null;
}

export const BENCH_DEFAULTS = {
  numPrompts: 100,
  requestRate: Number.POSITIVE_INFINITY,
  burstiness: 1,
  maxConcurrency: null,
  inputLen: 128,
  outputLen: 32,
  rangeRatio: 0,
  seed: 0,
  batch1: true,
} as const;

interface ModelInfo {
  id: string;
  vocabSize: number | null;
  hardware: string | null;
}

async function modelInfo(baseUrl: string, headers: Record<string, string>): Promise<ModelInfo> {
  const res = await fetch(`${baseUrl}/v1/models`, { headers });
  if (!res.ok) throw new Error(`GET ${baseUrl}/v1/models answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as {
    data?: Array<{ id: string; tessera?: { vocab_size?: number; hardware?: string } }>;
  };
  const first = body.data?.[0];
  if (!first) throw new Error(`${baseUrl}/v1/models lists no model.`);
  return { id: first.id, vocabSize: first.tessera?.vocab_size ?? null, hardware: first.tessera?.hardware ?? null };
}

function semaphore(limit: number | null) {
  let free = limit ?? Number.POSITIVE_INFINITY;
  const queue: Array<() => void> = [];
  return {
    acquire: (): Promise<void> => {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise((resolve) => queue.push(resolve));
    },
    release: () => {
      const next = queue.shift();
      if (next) next();
      else free++;
    },
  };
}

/** Replays the schedule on modelled latencies (see the file comment). Failed requests hold no slot. */
export function modelledMakespanMs(
  arrivalsS: readonly number[],
  e2eMs: readonly number[],
  limit: number | null,
): number {
  const busyUntil: number[] = [];
  let end = 0;
  arrivalsS.forEach((a, i) => {
    let start = a * 1000;
    if (limit !== null && busyUntil.length >= limit) {
      busyUntil.sort((x, y) => x - y);
      start = Math.max(start, busyUntil.shift()!);
    }
    const finish = start + (e2eMs[i] ?? 0);
    busyUntil.push(finish);
    end = Math.max(end, finish);
  });
  return end;
}

function summary(ok: RequestRecord[], pick: (r: RequestRecord) => RequestRecord['wall'], durationS: number) {
  return summarizeServing(
    ok.map((r) => ({ promptLen: r.promptLen, outputLen: r.outputLen, timings: pick(r) })),
    durationS,
  );
}

export async function runBench(options: Partial<BenchOptions> & { baseUrl: string }): Promise<BenchResult> {
  const o: BenchOptions = { ...BENCH_DEFAULTS, ...options };
  const baseUrl = o.baseUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {};
  const info = await modelInfo(baseUrl, headers);
  const vocabSize = o.vocabSize ?? info.vocabSize;
  if (!vocabSize) throw new Error('The server does not report its vocabulary size; pass --vocab-size.');
  const model = o.model ?? info.id;

  const rand = seededRandom(o.seed);
  const workload = randomWorkload({ ...o, vocabSize }, rand);
  const inputLens = workload.requests.map((r) => r.promptTokenIds.length);
  const outputLens = workload.requests.map((r) => r.outputLen);
  const prompts = workload.requests.map((r) => r.promptTokenIds);
  const arrivals = workload.requests.map((r) => r.arrivalMs / 1000);

  const slots = semaphore(o.maxConcurrency);
  const records: RequestRecord[] = new Array(o.numPrompts);
  let done = 0;
  o.onProgress?.(0, o.numPrompts);
  const start = performance.now();
  const tasks: Promise<void>[] = [];
  for (let i = 0; i < o.numPrompts; i++) {
    const wait = start + workload.requests[i]!.arrivalMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    tasks.push(
      (async () => {
        await slots.acquire();
        try {
          records[i] = await sendStreamingRequest({
            url: `${baseUrl}/v1/completions`,
            headers,
            promptLen: inputLens[i]!,
            body: {
              model,
              prompt: prompts[i],
              max_tokens: outputLens[i],
              temperature: 0,
              ignore_eos: true,
              stream: true,
              stream_options: { include_usage: true },
            },
          });
        } finally {
          slots.release();
          o.onProgress?.(++done, o.numPrompts);
        }
      })(),
    );
  }
  await Promise.all(tasks);
  const durationS = (performance.now() - start) / 1000;

  const batch1 = o.batch1
    ? await timeAlone(
        `${baseUrl}/v1/completions`,
        headers,
        model,
        o.inputLen,
        Math.max(2, o.outputLen),
        vocabSize,
        rand,
      )
    : null;

  const ok = records.filter((r) => r.ok);
  const withModelled = ok.length > 0 && ok.every((r) => r.modelled !== null);
  const spans = ok.map((r) => r.modelledSpan);
  const makespanMs = spans.every((s) => s !== undefined)
    ? Math.max(...spans.map((s) => s!.end)) - Math.min(...spans.map((s) => s!.start))
    : modelledMakespanMs(
        arrivals,
        records.map((r) => (r.ok && r.modelled ? r.modelled.e2eMs : 0)),
        o.maxConcurrency,
      );
  return {
    mode: 'http',
    baseUrl,
    model,
    hardware: info.hardware,
    numPrompts: o.numPrompts,
    requestRate: Number.isFinite(o.requestRate) ? o.requestRate : 'inf',
    burstiness: o.burstiness,
    maxConcurrency: o.maxConcurrency,
    completed: ok.length,
    failed: records.length - ok.length,
    totalInputTokens: ok.reduce((s, r) => s + r.promptLen, 0),
    totalOutputTokens: ok.reduce((s, r) => s + r.outputLen, 0),
    wall: summary(ok, (r) => r.wall, durationS),
    modelled: withModelled ? summary(ok, (r) => r.modelled!, makespanMs / 1000) : null,
    inputLens,
    outputLens: records.map((r) => r.outputLen),
    errors: [...new Set(records.filter((r) => !r.ok).map((r) => r.error ?? 'unknown error'))].slice(0, 10),
    batch1,
  };
}

/** One request with nothing else in flight: TTFT and TPOT (excluding the first token) on both clocks. */
async function timeAlone(
  url: string,
  headers: Record<string, string>,
  model: string,
  inputLen: number,
  outputLen: number,
  vocabSize: number,
  rand: () => number,
): Promise<Batch1Result> {
  const r = await sendStreamingRequest({
    url,
    headers,
    promptLen: inputLen,
    body: {
      model,
      prompt: randomPrompt(inputLen, vocabSize, rand),
      max_tokens: outputLen,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    },
  });
  const figures = (t: RequestRecord['wall']) => ({
    ttftMs: t.ttftMs,
    tpotMs: r.outputLen > 1 ? (t.e2eMs - t.ttftMs) / (r.outputLen - 1) : 0,
  });
  if (!r.ok) return { inputLen, outputLen, wall: { ttftMs: 0, tpotMs: 0 }, modelled: null, error: r.error ?? 'failed' };
  return {
    inputLen,
    outputLen: r.outputLen,
    wall: figures(r.wall),
    modelled: r.modelled ? figures(r.modelled) : null,
    error: null,
  };
}
