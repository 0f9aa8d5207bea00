/**
 * The serving benchmark's workload, reproducible from a seed: request lengths as vLLM's random dataset draws them,
 * random token-id prompts, and inter-arrival times as `vllm bench serve` draws them (Gamma with shape = burstiness and
 * mean 1/rate; burstiness 1 is a Poisson process; rate ∞ sends everything at once), optionally under a concurrency
 * limit (closed loop). The HTTP benchmark of apps/llm-serve sends it over the wire; `simulateServing` replays it in
 * modelled time.
 */

import { rng } from '@tessera/device/random';

/** A seeded uniform generator on [0, 1): the project's mulberry32, identical everywhere. */
export const seededRandom: (seed: number) => () => number = rng;

/** A standard normal draw (Box–Muller). */
export function normal(rand: () => number): number {
  const u = 1 - rand(); // (0, 1], so the log is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** A Gamma(shape, scale) draw: Marsaglia–Tsang, with the usual boost for shape < 1. */
export function gamma(rand: () => number, shape: number, scale: number): number {
  if (shape < 1) return gamma(rand, shape + 1, scale) * (1 - rand()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rand);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rand();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v * scale;
  }
}

/**
 * Arrival offsets in seconds from the start, first at 0: gaps ~ Gamma(shape b, scale 1/(rate·b)), whose mean is
 * 1/rate whatever b; b < 1 is burstier than Poisson, b > 1 more regular.
 */
export function arrivalTimes(n: number, rate: number, burstiness: number, rand: () => number): number[] {
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    out.push(t);
    if (Number.isFinite(rate)) t += gamma(rand, burstiness, 1 / (rate * burstiness));
  }
  return out;
}

/** vLLM's random dataset: lengths uniform over the integers in [⌊L(1−r)⌋, ⌊L(1+r)⌋], at least 1. */
export function sampleLengths(n: number, length: number, rangeRatio: number, rand: () => number): number[] {
  const low = Math.max(1, Math.floor(length * (1 - rangeRatio)));
  const high = Math.max(low, Math.floor(length * (1 + rangeRatio)));
  return Array.from({ length: n }, () => low + Math.floor(rand() * (high - low + 1)));
}

/** A prompt of `length` token ids drawn uniformly from the vocabulary. */
export function randomPrompt(length: number, vocabSize: number, rand: () => number): number[] {
  return Array.from({ length }, () => Math.floor(rand() * vocabSize));
}

/** One request of a workload. */
export interface WorkloadRequest {
  /** When it is sent, in ms from the start of the run (on the modelled clock in a simulation). */
  arrivalMs: number;
  promptTokenIds: number[];
  /** Tokens to generate: max_tokens, with EOS ignored, so exactly this many. */
  outputLen: number;
}

/** Requests in arrival order, and how many may be in flight at once. */
export interface Workload {
  requests: WorkloadRequest[];
  /**
   * At most this many requests in flight; a request due while all are busy is sent when one finishes (and its
   * latencies count from then, as `vllm bench serve` times them). null = no limit (open loop).
   */
  maxConcurrency: number | null;
}

/** The random dataset's knobs, named as `vllm bench serve` names them. */
export interface RandomWorkloadOptions {
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
  /** Vocabulary the prompt ids are drawn from. */
  vocabSize: number;
}

/**
 * vLLM's random dataset: input lengths, output lengths, prompts, then arrival times, all drawn from `rand` in that
 * order (the HTTP benchmark draws its batch-1 prompt from the same generator afterwards).
 */
export function randomWorkload(o: RandomWorkloadOptions, rand: () => number): Workload {
  const inputLens = sampleLengths(o.numPrompts, o.inputLen, o.rangeRatio, rand);
  const outputLens = sampleLengths(o.numPrompts, o.outputLen, o.rangeRatio, rand);
  const prompts = inputLens.map((len) => randomPrompt(len, o.vocabSize, rand));
  const arrivals = arrivalTimes(o.numPrompts, o.requestRate, o.burstiness, rand);
  return {
    requests: prompts.map((promptTokenIds, i) => ({
      arrivalMs: arrivals[i]! * 1000,
      promptTokenIds,
      outputLen: outputLens[i]!,
    })),
    maxConcurrency: o.maxConcurrency,
  };
}
