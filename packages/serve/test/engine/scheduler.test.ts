/** The KV block manager and the continuous-batching scheduler, on the host alone (no model). */
import { describe, expect, it } from 'vitest';
import { KvCacheManager } from '../../src/engine/kv-cache';
import { type SchedulableRequest, Scheduler } from '../../src/engine/scheduler';

function req(id: string, tokens: number[]): SchedulableRequest {
  return { id, tokens, blocks: [], hashes: [], numComputed: 0, preemptions: 0, cachedPromptTokens: 0, started: false };
}
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** Runs what a step would: marks the scheduled tokens computed, registers full blocks, appends a token if sampled. */
function completeStep(s: Scheduler<SchedulableRequest>, next = 1000) {
  const batch = s.schedule();
  for (const { request: r, numNew, sample } of batch) {
    r.numComputed += numNew;
    s.kv.registerFull(r, r.tokens, r.numComputed);
    if (sample) (r.tokens as number[]).push(next);
  }
  return batch;
}

describe('KvCacheManager', () => {
  it('allocates whole blocks, refuses past capacity without side effects, and frees', () => {
    const kv = new KvCacheManager(4, 4, false);
    const a = req('a', range(9));
    expect(kv.allocate(a, 9)).toBe(true);
    expect(a.blocks).toHaveLength(3);
    const b = req('b', range(8));
    expect(kv.allocate(b, 8)).toBe(false);
    expect(b.blocks).toHaveLength(0);
    expect(kv.freeBlocks).toBe(1);
    kv.free(a);
    expect(kv.freeBlocks).toBe(4);
    expect(kv.usage).toBe(0);
  });

  it('shares cached full blocks of an equal prefix, recomputes the last token, and evicts LRU', () => {
    const kv = new KvCacheManager(6, 4, true);
    const a = req('a', range(10));
    kv.allocate(a, 10);
    kv.registerFull(a, a.tokens, 10); // blocks 0 and 1 are full
    const aBlocks = [...a.blocks];
    kv.free(a);
    const b = req('b', [...range(8), 77, 78, 79]);
    expect(kv.acquireCachedPrefix(b, b.tokens)).toBe(8);
    expect(b.blocks).toEqual(aBlocks.slice(0, 2));
    // A prompt that is exactly one cached block still computes its last token: no hit.
    const c = req('c', range(4));
    expect(kv.acquireCachedPrefix(c, c.tokens)).toBe(0);
    // Different first block: nothing shared, even if the second block's tokens match.
    const d = req('d', [9, ...range(9, 1)]);
    expect(kv.acquireCachedPrefix(d, d.tokens)).toBe(0);
    // Filling the cache evicts the cached blocks once nothing else is free.
    kv.free(b);
    const e = req('e', range(24, 500));
    expect(kv.allocate(e, 24)).toBe(true);
    const f = req('f', range(10));
    expect(kv.acquireCachedPrefix(f, f.tokens)).toBe(0);
  });
});

describe('Scheduler', () => {
  it('chunks a long prefill over the token budget and batches decodes with prefills', () => {
    const kv = new KvCacheManager(64, 4, false);
    const s = new Scheduler(kv, { maxSeqs: 4, maxTokens: 8 });
    const long = req('long', range(20));
    const short = req('short', range(3, 100));
    s.add(long);
    s.add(short);
    let batch = completeStep(s);
    expect(batch.map((b) => [b.request.id, b.numNew, b.sample])).toEqual([['long', 8, false]]);
    batch = completeStep(s);
    expect(batch.map((b) => [b.request.id, b.numNew, b.sample])).toEqual([['long', 8, false]]);
    batch = completeStep(s);
    expect(batch.map((b) => [b.request.id, b.numNew, b.sample])).toEqual([
      ['long', 4, true],
      ['short', 3, true],
    ]);
    batch = completeStep(s);
    expect(batch.map((b) => [b.request.id, b.numNew])).toEqual([
      ['long', 1],
      ['short', 1],
    ]);
  });

  it('caps running requests at maxSeqs', () => {
    const s = new Scheduler(new KvCacheManager(64, 4, false), { maxSeqs: 2, maxTokens: 64 });
    for (const id of ['a', 'b', 'c']) s.add(req(id, range(3)));
    expect(completeStep(s).map((b) => b.request.id)).toEqual(['a', 'b']);
    expect(s.waiting.map((r) => r.id)).toEqual(['c']);
  });

  it('preempts the newest running request when blocks run out, then recomputes it with its generated tokens', () => {
    const kv = new KvCacheManager(4, 2, false);
    const s = new Scheduler(kv, { maxSeqs: 4, maxTokens: 16 });
    const a = req('a', range(4));
    const b = req('b', range(4, 50));
    s.add(a);
    s.add(b);
    completeStep(s); // a and b: 4 tokens each in 2 blocks, and one sampled: the cache is full
    expect(kv.freeBlocks).toBe(0);
    const batch = completeStep(s); // a needs a third block: b is preempted
    expect(batch.map((x) => x.request.id)).toEqual(['a']);
    expect(b.preemptions).toBe(1);
    expect(b.numComputed).toBe(0);
    expect(s.waiting[0]).toBe(b);
    expect(b.tokens).toHaveLength(5); // its generated token is kept and will be recomputed
    s.remove(a);
    const again = completeStep(s);
    expect(again.map((x) => [x.request.id, x.numNew, x.sample])).toEqual([['b', 5, true]]);
  });
});
