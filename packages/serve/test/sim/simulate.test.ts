/**
 * The discrete-event driver: deterministic for a seed, blind to the host's speed, and honest about arrivals in
 * modelled time (no queueing after a drain; requests that arrive during a step share the next one). Nothing here
 * depends on how fast this machine runs: every expectation is about modelled time.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type LLMEngine } from '../../src/engine/index';
import { type SimulationStep, simulateServing } from '../../src/sim/simulate';
import { randomPrompt, randomWorkload, seededRandom, type Workload } from '../../src/sim/workload';
import { testModel } from '../support/model';
import { samplingParams } from '../support/params';

const model = testModel();
const V = model.config.vocabSize;

/** A fresh engine: every run starts with an empty prefix cache and its clock at 0. */
function newEngine(): Promise<LLMEngine> {
  return createEngine({ model, maxNumSeqs: 8, maxNumBatchedTokens: 256, blockSize: 16 });
}

/** Runs `workload` on a fresh engine, then shuts it down. */
async function simulate(workload: Workload, options: Parameters<typeof simulateServing>[2] = {}) {
  const engine = await newEngine();
  try {
    return await simulateServing(engine, workload, options);
  } finally {
    await engine.shutdown();
  }
}

/** The bench's random dataset at a rate that overlaps requests in modelled time (steps take a fraction of a ms). */
function openLoop(seed: number): Workload {
  const o = {
    numPrompts: 12,
    requestRate: 2000,
    burstiness: 1,
    maxConcurrency: null,
    inputLen: 24,
    outputLen: 8,
    rangeRatio: 0.5,
    vocabSize: V,
  };
  return randomWorkload(o, seededRandom(seed));
}

/** Spins for `ms` of wall time: a host that simulates slowly. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // burn the CPU
  }
}

describe('simulateServing', () => {
  it('is deterministic for a seed: two runs give identical metrics', async () => {
    const a = await simulate(openLoop(3));
    const b = await simulate(openLoop(3));
    expect(b).toEqual(a);
    // Not vacuous: every request completed, requests shared steps, and some waited for a step to end.
    expect(a.completed).toBe(12);
    expect(a.failed).toBe(0);
    expect(a.totalOutputTokens).toBe(openLoop(3).requests.reduce((n, r) => n + r.outputLen, 0));
    expect(a.steps).toBeLessThan(a.totalOutputTokens);
    expect(a.requests.some((r) => r.queueMs > 0)).toBe(true);
    expect(a.summary.ttftMs.mean).toBeGreaterThan(0);
    expect(a.summary.outputThroughput).toBeCloseTo(a.totalOutputTokens / (a.durationMs / 1000), 6);
    // Another seed is another workload.
    expect((await simulate(openLoop(4))).summary).not.toEqual(a.summary);
  }, 300_000);

  it('gives identical modelled metrics when the host is artificially slowed inside and between steps', async () => {
    const fast = await simulate(openLoop(5));
    const engine = await newEngine();
    const forward = engine.llama.forward.bind(engine.llama);
    let slowed = 0;
    engine.llama.forward = (entries) => {
      busyWait(10); // inside every step
      slowed++;
      return forward(entries);
    };
    const slow = await simulateServing(engine, openLoop(5), {
      // and between steps, on the event loop
      onStep: () => new Promise<void>((resolve) => setTimeout(resolve, 5)),
    });
    await engine.shutdown();
    expect(slowed).toBe(slow.steps);
    expect(slow).toEqual(fast);
  }, 300_000);

  it('queues nothing for a request that arrives after the engine has drained: its TTFT is a lone request’s', async () => {
    const rand = seededRandom(11);
    const first = { arrivalMs: 0, promptTokenIds: randomPrompt(40, V, rand), outputLen: 6 };
    const late = { arrivalMs: 1000, promptTokenIds: randomPrompt(40, V, rand), outputLen: 6 };
    const both = await simulate({ requests: [first, late], maxConcurrency: null });
    const alone = await simulate({ requests: [{ ...late, arrivalMs: 0 }], maxConcurrency: null });
    const [a, b] = both.requests;
    const lone = alone.requests[0]!;
    expect(a!.ok && b!.ok && lone.ok).toBe(true);
    // The first request was done long before the second arrived; the clock jumped to the arrival.
    expect(a!.tokenTimesMs.at(-1)!).toBeLessThan(1000);
    expect(b!.sentMs).toBe(1000);
    expect(b!.queueMs).toBe(0);
    // Equal up to the rounding of a clock that stands at 1000 ms.
    expect(b!.timings.ttftMs).toBeCloseTo(lone.timings.ttftMs, 9);
    expect(b!.timings.e2eMs).toBeCloseTo(lone.timings.e2eMs, 9);
    expect(b!.tokenTimesMs[0]).toBeCloseTo(1000 + lone.timings.ttftMs, 9);
    // The idle second is not in the throughput's duration as work, but it is in the span.
    expect(both.durationMs).toBeCloseTo(1000 + lone.timings.e2eMs, 9);
  }, 300_000);

  it('admits requests that arrive during a step before the next one: two of them share it', async () => {
    const rand = seededRandom(12);
    const a = { arrivalMs: 0, promptTokenIds: randomPrompt(48, V, rand), outputLen: 4 };
    const promptB = randomPrompt(20, V, rand);
    const promptC = randomPrompt(30, V, rand);
    // The first step's modelled duration: A's prefill, alone.
    const probe = await simulate({ requests: [a], maxConcurrency: null });
    const d1 = probe.requests[0]!.timings.ttftMs;
    expect(d1).toBeGreaterThan(0);

    const steps: SimulationStep[] = [];
    const run = await simulate(
      {
        requests: [
          a,
          { arrivalMs: 0.25 * d1, promptTokenIds: promptB, outputLen: 4 },
          { arrivalMs: 0.75 * d1, promptTokenIds: promptC, outputLen: 4 },
        ],
        maxConcurrency: null,
      },
      { onStep: (s) => void steps.push(s) },
    );
    const [ra, rb, rc] = run.requests;
    // Step 1 is A's prefill alone (the arrivals come during it); step 2 holds A's decode and both prefills.
    expect(steps[0]).toMatchObject({ index: 1, requests: 1, tokens: 48 });
    expect(steps[0]!.clockMs).toBe(d1);
    expect(steps[1]).toMatchObject({ index: 2, requests: 3, tokens: 1 + 20 + 30 });
    expect(rb!.tokenTimesMs[0]).toBeCloseTo(steps[1]!.clockMs, 9);
    expect(rc!.tokenTimesMs[0]).toBeCloseTo(steps[1]!.clockMs, 9);
    expect(ra!.tokenTimesMs[1]).toBeCloseTo(steps[1]!.clockMs, 9);
    // Each waited from its arrival to the end of A's prefill, then for the shared step.
    expect(rb!.queueMs).toBeCloseTo(0.75 * d1, 9);
    expect(rc!.queueMs).toBeCloseTo(0.25 * d1, 9);
    expect(rb!.timings.ttftMs).toBeCloseTo(steps[1]!.clockMs - 0.25 * d1, 9);
  }, 300_000);

  it('closed loop: at most maxConcurrency in flight; a request held back counts its latencies from its slot', async () => {
    const w = randomWorkload(
      {
        numPrompts: 7,
        requestRate: Number.POSITIVE_INFINITY,
        burstiness: 1,
        maxConcurrency: 2,
        inputLen: 16,
        outputLen: 5,
        rangeRatio: 0.5,
        vocabSize: V,
      },
      seededRandom(13),
    );
    const r = await simulate(w);
    expect(r.completed).toBe(7);
    const spans = r.requests.map((q) => [q.sentMs, q.sentMs + q.timings.e2eMs] as const);
    for (const [t] of spans) {
      const inFlight = spans.filter(([s, e]) => s <= t && t < e).length;
      expect(inFlight).toBeLessThanOrEqual(2);
    }
    // The first two go at once; each later one is sent when an earlier one finishes.
    expect(r.requests.slice(0, 2).map((q) => q.sentMs)).toEqual([0, 0]);
    const ends = spans.map(([, e]) => e);
    for (const q of r.requests.slice(2)) {
      expect(q.sentMs).toBeGreaterThan(0);
      expect(ends.some((e) => Math.abs(e - q.sentMs) < 1e-9)).toBe(true);
    }
  }, 300_000);

  it('counts requests the engine refuses as failed, with the reason', async () => {
    const r = await simulate({
      requests: [
        { arrivalMs: 0, promptTokenIds: [1, 2, 3], outputLen: 3 },
        { arrivalMs: 0, promptTokenIds: [1, V + 5], outputLen: 3 },
      ],
      maxConcurrency: null,
    });
    expect(r.completed).toBe(1);
    expect(r.failed).toBe(1);
    expect(r.requests[1]).toMatchObject({ ok: false, outputLen: 0 });
    expect(r.errors[0]).toMatch(/out of vocabulary/);
  }, 300_000);
});

describe('LLMEngine.drive', () => {
  it('holds the steps until released, refuses arrivals in the future and idle jumps with work queued', async () => {
    const engine = await newEngine();
    try {
      const drv = engine.drive();
      expect(() => engine.drive()).toThrow(/already has a driver/);
      const req = { requestId: 'd0', promptTokenIds: [5, 6, 7], params: samplingParams({ maxTokens: 2 }) };
      expect(() => drv.submit(req, 1)).toThrow(/after the clock/);
      const channel = drv.submit(req);
      expect(() => drv.advanceTo(5)).toThrow(/moves by steps/);
      // The engine's own loop does not step a driven engine.
      await new Promise((resolve) => setImmediate(resolve));
      expect(engine.steps).toBe(0);
      while (drv.hasWork) drv.step();
      const { items, done } = channel.poll();
      expect(done).toBe(true);
      expect(items.at(-1)!.finishReason).toBe('length');
      // Driven, stamps carry no wall time: the wall figures are the modelled ones.
      expect(items.at(-1)!.metrics!.wall).toEqual(items.at(-1)!.metrics!.modelled);
      const clock = drv.now;
      drv.advanceTo(clock + 3);
      expect(engine.modelledNow).toBe(clock + 3);
      drv.release();
      expect(() => drv.step()).toThrow(/released/);
      // Released, the engine serves live again.
      const outs = [];
      for await (const o of engine.generate({ ...req, requestId: 'live' })) outs.push(o);
      expect(outs.at(-1)!.finishReason).toBe('length');
    } finally {
      await engine.shutdown();
    }
  }, 300_000);
});
