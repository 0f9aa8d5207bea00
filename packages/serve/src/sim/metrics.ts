/**
 * The serving benchmark's figures, computed the way `vllm bench serve` computes them, from per-request latencies on
 * one clock (wall over HTTP, or modelled): request and token throughput over the run's duration, and mean / median /
 * P99 of TTFT, TPOT, ITL and E2E latency. The HTTP benchmark of apps/llm-serve and `simulateServing` both use it.
 */
import { type Stats, summarize } from './stats';

/** One request's latencies as its client sees them, in ms. */
export interface Timings {
  /** Sent → first token. */
  ttftMs: number;
  /** Every gap between consecutive outputs. */
  itlMs: number[];
  /** Sent → last token. */
  e2eMs: number;
}

/** A completed request: its lengths and latencies. */
export interface ServedRequest {
  promptLen: number;
  outputLen: number;
  timings: Timings;
}

/** `vllm bench serve`'s result table, on one clock. */
export interface ServingSummary {
  durationS: number;
  requestThroughput: number;
  outputThroughput: number;
  totalTokenThroughput: number;
  ttftMs: Stats;
  /** (E2E − TTFT) / (output tokens − 1), over requests with more than one token. */
  tpotMs: Stats;
  itlMs: Stats;
  e2elMs: Stats;
}

/** The figures of the completed `requests` of a run that lasted `durationS` seconds. */
export function summarizeServing(requests: readonly ServedRequest[], durationS: number): ServingSummary {
  const input = requests.reduce((s, r) => s + r.promptLen, 0);
  const output = requests.reduce((s, r) => s + r.outputLen, 0);
  const rate = (x: number) => (durationS > 0 ? x / durationS : 0);
  const tpots = requests
    .filter((r) => r.outputLen > 1)
    .map((r) => (r.timings.e2eMs - r.timings.ttftMs) / (r.outputLen - 1));
  return {
    durationS,
    requestThroughput: rate(requests.length),
    outputThroughput: rate(output),
    totalTokenThroughput: rate(input + output),
    ttftMs: summarize(requests.map((r) => r.timings.ttftMs)),
    tpotMs: summarize(tpots),
    itlMs: summarize(requests.flatMap((r) => r.timings.itlMs)),
    e2elMs: summarize(requests.map((r) => r.timings.e2eMs)),
  };
}
