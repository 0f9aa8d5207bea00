/**
 * The engine's step feed (engine/feed.ts) on the embedded model: each step's batch (prefill chunks, then decodes), its
 * modelled times against the engine's clock, per-rank kernels and collectives under TP 2 with the links they loaded,
 * unsubscribing, listeners that throw, the cost when nobody listens, and the merging that bounds an event's size.
 */
import type { Activity } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { OPS_PER_RANK, rankOps, type StepEvent } from '../../src/engine/feed';
import { createEngine, type EngineOptions, type LLMEngine } from '../../src/engine/index';
import type { RequestOutput, SamplingParams } from '../../src/types';
import { testModel } from '../support/model';
import { samplingParams } from '../support/params';

const model = testModel();
let nextId = 0;

const engineWith = (o: Partial<EngineOptions> = {}) =>
  createEngine({ model, maxNumSeqs: 8, maxNumBatchedTokens: 64, ...o });

async function run(engine: LLMEngine, prompt: number[], p: Partial<SamplingParams> = {}) {
  const id = `feed-${nextId++}`;
  const outs: RequestOutput[] = [];
  for await (const o of engine.generate({ requestId: id, promptTokenIds: prompt, params: samplingParams(p) }))
    outs.push(o);
  return { id, tokens: outs.flatMap((o) => o.tokenIds) };
}

/** A prompt of `n` tokens (byte ids of the test tokenizer). */
const promptOf = (n: number) => Array.from({ length: n }, (_, i) => 40 + (i % 50));

describe('step events', () => {
  it('carry the batch: prefill chunks of the prompt, then one decode per step', async () => {
    const engine = await engineWith({ maxNumBatchedTokens: 16 });
    const events: StepEvent[] = [];
    engine.onStep((e) => events.push(e));
    const { id } = await run(engine, promptOf(40), { maxTokens: 4 });
    // 40 prompt tokens in chunks of 16, 16 and 8 (the last samples the first token), then 3 decodes.
    expect(events.map((e) => e.batch)).toEqual([
      [{ requestId: id, kind: 'prefill', tokens: 16 }],
      [{ requestId: id, kind: 'prefill', tokens: 16 }],
      [{ requestId: id, kind: 'prefill', tokens: 8 }],
      [{ requestId: id, kind: 'decode', tokens: 1 }],
      [{ requestId: id, kind: 'decode', tokens: 1 }],
      [{ requestId: id, kind: 'decode', tokens: 1 }],
    ]);
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    // Running while the request lives; the last step finished it. The KV cache held its blocks until then.
    expect(events.map((e) => e.running)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(events.every((e) => e.waiting === 0)).toBe(true);
    expect(events[3]!.kvCacheUsage).toBeGreaterThan(0);
    expect(events[5]!.kvCacheUsage).toBe(0);
    expect(engine.feed.recent()).toEqual(events);
    for (const e of events) {
      expect(e.wallDurationMs).toBeGreaterThan(0);
      expect(Math.abs(e.wallMs - Date.now())).toBeLessThan(600_000);
    }
    await engine.shutdown();
  });

  it('batch two requests together, and time every step on the engine’s modelled clock', async () => {
    const engine = await engineWith();
    const events: StepEvent[] = [];
    engine.onStep((e) => events.push(e));
    const clock0 = engine.modelledNow;
    const [a, b] = await Promise.all([run(engine, promptOf(12), { maxTokens: 3 }), run(engine, promptOf(5))]);
    const advance = engine.modelledNow - clock0;
    expect(advance).toBeGreaterThan(0);
    expect(events.reduce((s, e) => s + e.modelledMs, 0)).toBeCloseTo(advance, 9);
    events.forEach((e, i) => {
      expect(e.modelledMs).toBeGreaterThan(0);
      if (i > 0) expect(e.modelledStartMs).toBeCloseTo(events[i - 1]!.modelledStartMs + events[i - 1]!.modelledMs, 9);
      // Every op lies inside its step.
      for (const r of e.ranks)
        for (const op of r.ops) expect(op.startMs + op.durMs).toBeLessThanOrEqual(e.modelledMs + 1e-6);
    });
    expect(events[0]!.modelledStartMs).toBe(clock0);
    // Both prompts were admitted in the first step, then decoded side by side.
    expect(events[0]!.batch).toEqual([
      { requestId: a.id, kind: 'prefill', tokens: 12 },
      { requestId: b.id, kind: 'prefill', tokens: 5 },
    ]);
    expect(events[1]!.batch.map((x) => x.kind)).toEqual(['decode', 'decode']);
    // TP 1: one rank, kernels and the copies of the step's inputs and sampled tokens.
    const kinds = new Set(events[0]!.ranks[0]!.ops.map((o) => o.kind));
    expect(events[0]!.ranks.map((r) => r.rank)).toEqual([0]);
    expect(kinds.has('kernel') && kinds.has('memcpy')).toBe(true);
    await engine.shutdown();
  });

  it('show kernels and collectives on both ranks under TP 2, and the links the collectives loaded', async () => {
    const engine = await engineWith({ tp: 2 });
    const events: StepEvent[] = [];
    engine.onStep((e) => events.push(e));
    await run(engine, promptOf(9), { maxTokens: 3 });
    for (const e of events) {
      expect(e.ranks.map((r) => r.rank)).toEqual([0, 1]);
      for (const r of e.ranks) {
        const count = (k: string) => r.ops.filter((o) => o.kind === k).length;
        expect(count('kernel')).toBeGreaterThan(10);
        // Two all-reduces per layer (attention, MLP) and the logits' all-gather, on every rank.
        expect(count('collective')).toBe(2 * model.config.numLayers + 1);
      }
    }
    const totals = engine.feed.windowTotals();
    expect(totals.steps).toBe(events.length);
    expect(totals.modelledMs).toBeCloseTo(
      events.reduce((s, e) => s + e.modelledMs, 0),
      9,
    );
    const graph = engine.llama.options.cluster.graph;
    const loaded = [...totals.linkBytes].filter(([, b]) => b > 0).map(([id]) => graph.links[id]!.name);
    // dgx-h100: both ranks' links to and from the NVSwitch carried the collectives.
    expect(loaded.sort()).toEqual(['rank0→sw0', 'rank1→sw0', 'sw0→rank0', 'sw0→rank1']);
    // The trace has both ranks' work and a span per step.
    const spans = engine.feed.trace().traceEvents.filter((t) => t.ph === 'X');
    expect(new Set(spans.filter((t) => t.cat === 'collective').map((t) => t.pid))).toEqual(new Set([0, 1]));
    expect(spans.filter((t) => t.cat === 'step').map((t) => t.name)).toEqual(events.map((e) => `step ${e.step}`));
    await engine.shutdown();
  });

  it('count link bytes as the collective’s plan moves them', async () => {
    const engine = await engineWith({ tp: 2 });
    const cluster = engine.llama.options.cluster;
    const t = cluster.traffic;
    t.enabled = true;
    const devs = cluster.devices.slice(0, 2);
    const bufs = devs.map((d) => d.alloc('f32', 1024));
    const res = cluster.communicator([0, 1]).allReduce(bufs, bufs, { algorithm: 'ring', protocol: 'Simple' });
    const bytes = t.take();
    // Ring all-reduce on 2 ranks: 2 steps of S/2 per direction, each crossing rank→switch and switch→rank.
    expect(res.bytes).toBe(4096);
    expect([...bytes.values()]).toEqual([4096, 4096, 4096, 4096]);
    expect(t.take().size).toBe(0);
    t.enabled = false;
    cluster.communicator([0, 1]).allReduce(bufs, bufs);
    expect(t.take().size).toBe(0);
    await engine.shutdown();
  });

  it('stop when unsubscribed, and nothing is recorded while nobody listens', async () => {
    const engine = await engineWith({ tp: 2 });
    const prof = engine.llama.options.cluster.runtime.profiler;
    const traffic = engine.llama.options.cluster.traffic;
    const mark = prof.recorded;
    await run(engine, promptOf(6), { maxTokens: 2 });
    expect(prof.enabled).toBe(false);
    expect(traffic.enabled).toBe(false);
    expect(prof.recorded).toBe(mark);
    expect(engine.feed.recent()).toEqual([]);

    const seen: number[] = [];
    const off = engine.onStep((e) => seen.push(e.step));
    expect(prof.enabled && traffic.enabled).toBe(true);
    await run(engine, promptOf(6), { maxTokens: 2 });
    expect(seen).toHaveLength(2);
    off();
    off(); // twice is harmless
    expect(prof.enabled || traffic.enabled).toBe(false);
    expect(prof.records).toHaveLength(0);
    await run(engine, promptOf(6), { maxTokens: 2 });
    expect(seen).toHaveLength(2);

    // Retained without a listener: the window fills, and only while retained.
    engine.feed.retain(true);
    await run(engine, promptOf(6), { maxTokens: 2 });
    expect(engine.feed.recent().map((e) => e.step)).toEqual([...seen, engine.steps - 1, engine.steps]);
    engine.feed.retain(false);
    expect(prof.enabled).toBe(false);
    await engine.shutdown();
  });

  it('tell their close listeners once when the engine shuts down (and at once after)', async () => {
    const engine = await engineWith();
    let closed = 0;
    let dropped = 0;
    engine.feed.onClose(() => closed++);
    const off = engine.feed.onClose(() => dropped++);
    off();
    engine.feed.onClose(() => {
      throw new Error('a listener that throws');
    });
    const errors = engine.feed.listenerErrors;
    await engine.shutdown();
    await engine.shutdown();
    expect([closed, dropped]).toEqual([1, 0]);
    expect(engine.feed.listenerErrors).toBe(errors + 1);
    engine.feed.onClose(() => closed++);
    expect(closed).toBe(2);
  });

  it('survive a listener that throws: generation is unchanged and the other listeners still hear', async () => {
    const quiet = await engineWith();
    const expected = await run(quiet, promptOf(7), { maxTokens: 6 });
    await quiet.shutdown();

    const engine = await engineWith();
    let heard = 0;
    engine.onStep(() => {
      throw new Error('listener bug');
    });
    engine.onStep(() => heard++);
    const got = await run(engine, promptOf(7), { maxTokens: 6 });
    expect(got.tokens).toEqual(expected.tokens);
    expect(engine.healthy).toBe(true);
    expect(heard).toBe(engine.steps);
    expect(engine.feed.listenerErrors).toBe(engine.steps);
    expect(() => engine.onStep(42 as never)).toThrow(/must be a function/);
    // A fault in the feed itself (here: reading the profiler) costs the events, never the tokens.
    const prof = engine.llama.options.cluster.runtime.profiler;
    prof.since = () => {
      throw new Error('feed bug');
    };
    const before = heard;
    const again = await run(engine, promptOf(7), { maxTokens: 6 });
    expect(again.tokens).toEqual(expected.tokens);
    expect(heard).toBe(before);
    expect(engine.feed.feedErrors).toBe(6);
    await engine.shutdown();
  });

  it('come from driven steps too (the discrete-event driver)', async () => {
    const engine = await engineWith();
    const events: StepEvent[] = [];
    engine.onStep((e) => events.push(e));
    const driver = engine.drive();
    driver.submit({ requestId: 'driven', promptTokenIds: promptOf(5), params: samplingParams({ maxTokens: 2 }) });
    const infos = [];
    while (driver.hasWork) infos.push(driver.step());
    driver.release();
    expect(events.map((e) => e.modelledMs)).toEqual(infos.map((i) => i.modelledMs));
    expect(events.map((e) => e.batch[0]!.kind)).toEqual(['prefill', 'decode']);
    await engine.shutdown();
  });
});

describe('rankOps', () => {
  const act = (rank: number, kind: Activity['kind'], name: string, startMs: number, ms: number): Activity => ({
    kind,
    name,
    device: `h100:${rank}`,
    deviceOrdinal: rank,
    stream: 0,
    startMs,
    endMs: startMs + ms,
  });

  it('merges runs of tiny ops of one kind past OPS_PER_RANK, keeping busy time, long ops and every collective', () => {
    // 80 layers × (12 tiny kernels, an all-reduce, 12 tiny kernels, an all-reduce), plus one long kernel, on 8 ranks.
    const acts: Activity[] = [];
    for (let rank = 0; rank < 8; rank++) {
      let t = 100;
      for (let l = 0; l < 80; l++) {
        for (let half = 0; half < 2; half++) {
          for (let k = 0; k < 12; k++, t += 0.002) acts.push(act(rank, 'kernel', `k${k}`, t, 0.0015));
          acts.push(act(rank, 'collective', 'allReduce', t, 0.01));
          t += 0.01;
        }
      }
      acts.push(act(rank, 'kernel', 'lm_head', t, 0.5));
    }
    const ranks = rankOps(acts, 100, 8);
    const raw = acts.filter((a) => a.deviceOrdinal === 0);
    const ops = ranks[0]!.ops;
    expect(ops.length).toBeLessThan(raw.length);
    // Collectives alternate with kernel runs, so each stays whole: 160 of them, with the kernel runs between.
    expect(ops.filter((o) => o.kind === 'collective')).toHaveLength(160);
    expect(ops.filter((o) => o.kind === 'kernel').length).toBeLessThanOrEqual(161);
    expect(ops.at(-1)).toEqual({ name: 'lm_head', kind: 'kernel', startMs: expect.any(Number), durMs: 0.5 });
    expect(ops[0]!.name).toBe('k0 +11 kernels');
    const busy = (kind: string, xs: readonly { kind: string; durMs: number }[]) =>
      xs.filter((o) => o.kind === kind).reduce((s, o) => s + o.durMs, 0);
    const rawOps = raw.map((a) => ({ kind: a.kind, durMs: a.endMs - a.startMs }));
    expect(busy('kernel', ops)).toBeCloseTo(busy('kernel', rawOps), 6);
    expect(busy('collective', ops)).toBeCloseTo(busy('collective', rawOps), 6);
    // Times are relative to the step's start, in order.
    expect(ops[0]!.startMs).toBe(0);
    for (let i = 1; i < ops.length; i++) expect(ops[i]!.startMs).toBeGreaterThanOrEqual(ops[i - 1]!.startMs);
    // Past the bound, the count follows the collectives (2 per layer), not the kernels; a 32-layer TP-8 step keeps
    // OPS_PER_RANK ops per rank at most, about 105 KB.
    expect(ops.length).toBeLessThanOrEqual(2 * 160 + 1);
    const layers32 = rankOps(
      acts.filter((a) => a.startMs < 100 + 32 * 2 * (12 * 0.002 + 0.01)),
      100,
      8,
    );
    for (const r of layers32) expect(r.ops.length).toBeLessThanOrEqual(OPS_PER_RANK);
    expect(JSON.stringify(layers32).length).toBeLessThan(8 * OPS_PER_RANK * 80);
  });

  it('bounds a rank with a quarter of a million ops too (no spread of them into one call)', () => {
    const acts = Array.from({ length: 250_000 }, (_, i) => act(0, 'kernel', 'k', i * 0.001, 0.0005));
    const [rank0] = rankOps(acts, 0, 1);
    expect(rank0!.ops.length).toBeLessThanOrEqual(OPS_PER_RANK);
    expect(rank0!.ops.reduce((s, o) => s + o.durMs, 0)).toBeCloseTo(250_000 * 0.0005, 3);
  });

  it('leaves a rank under the bound as it is, and drops markers', () => {
    const acts = [act(0, 'kernel', 'a', 5, 1), act(0, 'marker', 'm', 6, 0), act(1, 'memset', 'fill', 5.5, 0.25)];
    expect(rankOps(acts, 5, 2)).toEqual([
      { rank: 0, ops: [{ name: 'a', kind: 'kernel', startMs: 0, durMs: 1 }] },
      { rank: 1, ops: [{ name: 'fill', kind: 'memcpy', startMs: 0.5, durMs: 0.25 }] },
    ]);
    expect(OPS_PER_RANK).toBe(200);
  });
});
