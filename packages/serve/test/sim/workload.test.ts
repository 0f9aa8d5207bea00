/**
 * The workload generator and statistics: arrival processes, length ranges, the random dataset's draw order,
 * numpy-style percentiles, vLLM's summary figures.
 */
import { describe, expect, it } from 'vitest';
import { summarizeServing } from '../../src/sim/metrics';
import { percentile, summarize } from '../../src/sim/stats';
import { arrivalTimes, gamma, randomPrompt, randomWorkload, sampleLengths, seededRandom } from '../../src/sim/workload';

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('workload', () => {
  it('draws Gamma variates with the right mean for shapes below and above 1', () => {
    for (const shape of [0.5, 1, 4]) {
      const rand = seededRandom(1);
      const xs = Array.from({ length: 20_000 }, () => gamma(rand, shape, 2));
      expect(mean(xs)).toBeCloseTo(shape * 2, 0);
      expect(xs.every((x) => x > 0)).toBe(true);
    }
  });

  it('spaces arrivals 1/rate apart on average, starting at 0; rate inf sends all at once', () => {
    const times = arrivalTimes(5000, 10, 1, seededRandom(2));
    expect(times[0]).toBe(0);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(mean(gaps)).toBeCloseTo(0.1, 2);
    // Burstiness changes the spread, not the mean.
    const bursty = arrivalTimes(5000, 10, 0.25, seededRandom(3));
    const bgaps = bursty.slice(1).map((t, i) => t - bursty[i]!);
    expect(mean(bgaps)).toBeCloseTo(0.1, 1);
    expect(summarize(bgaps).std).toBeGreaterThan(summarize(gaps).std);
    expect(arrivalTimes(4, Number.POSITIVE_INFINITY, 1, seededRandom(4))).toEqual([0, 0, 0, 0]);
  });

  it('draws lengths uniformly in [L(1-r), L(1+r)] and prompts inside the vocabulary, reproducibly', () => {
    const lens = sampleLengths(2000, 100, 0.5, seededRandom(5));
    expect(Math.min(...lens)).toBe(50);
    expect(Math.max(...lens)).toBe(150);
    expect(sampleLengths(3, 100, 0, seededRandom(5))).toEqual([100, 100, 100]);
    const p = randomPrompt(1000, 512, seededRandom(6));
    expect(p.every((id) => Number.isInteger(id) && id >= 0 && id < 512)).toBe(true);
    expect(randomPrompt(10, 512, seededRandom(6))).toEqual(p.slice(0, 10));
  });

  it('draws the random dataset in vLLM order: input lengths, output lengths, prompts, arrivals', () => {
    const o = {
      numPrompts: 6,
      requestRate: 4,
      burstiness: 1,
      maxConcurrency: 2,
      inputLen: 16,
      outputLen: 8,
      rangeRatio: 0.5,
      vocabSize: 512,
    };
    const w = randomWorkload(o, seededRandom(9));
    const rand = seededRandom(9);
    const inputs = sampleLengths(6, 16, 0.5, rand);
    const outputs = sampleLengths(6, 8, 0.5, rand);
    const prompts = inputs.map((n) => randomPrompt(n, 512, rand));
    const arrivals = arrivalTimes(6, 4, 1, rand);
    expect(w.maxConcurrency).toBe(2);
    expect(w.requests.map((r) => r.promptTokenIds)).toEqual(prompts);
    expect(w.requests.map((r) => r.outputLen)).toEqual(outputs);
    expect(w.requests.map((r) => r.arrivalMs)).toEqual(arrivals.map((t) => t * 1000));
    expect(randomWorkload(o, seededRandom(9))).toEqual(w);
  });
});

describe('statistics', () => {
  it('interpolates percentiles as numpy does', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4], 99)).toBeCloseTo(3.97, 10);
    expect(percentile([], 99)).toBe(0);
    expect(summarize([2, 4])).toEqual({ mean: 3, median: 3, std: 1, p99: 3.98 });
  });
});

describe('serving figures', () => {
  it('computes throughput over the duration and TPOT over requests with more than one token, as vLLM does', () => {
    const s = summarizeServing(
      [
        { promptLen: 10, outputLen: 5, timings: { ttftMs: 2, itlMs: [1, 1, 2, 4], e2eMs: 10 } },
        { promptLen: 6, outputLen: 1, timings: { ttftMs: 4, itlMs: [], e2eMs: 4 } },
      ],
      2,
    );
    expect(s).toMatchObject({ durationS: 2, requestThroughput: 1, outputThroughput: 3, totalTokenThroughput: 11 });
    expect(s.tpotMs).toEqual({ mean: 2, median: 2, std: 0, p99: 2 });
    expect(s.ttftMs.mean).toBe(3);
    expect(s.itlMs.median).toBe(1.5);
    expect(s.e2elMs.p99).toBeCloseTo(9.94, 10);
    expect(summarizeServing([], 0).requestThroughput).toBe(0);
  });
});
