/**
 * The engine end to end on the embedded model: greedy outputs across backends and TP degrees, continuous batching,
 * prefix caching, preemption, sampling parameters, stops, aborts and overload.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type EngineOptions } from '../../src/engine/index';
import { EngineError } from '../../src/errors';
import type { RequestOutput, SamplingParams } from '../../src/types';
import { testModel } from '../support/model';
import { samplingParams } from '../support/params';

const model = testModel();
const tok = model.tokenizer;

const params = samplingParams;

let nextId = 0;
async function collect(stream: AsyncIterable<RequestOutput>) {
  const outs: RequestOutput[] = [];
  for await (const o of stream) outs.push(o);
  const last = outs[outs.length - 1]!;
  return { outs, tokens: outs.flatMap((o) => o.tokenIds), text: outs.map((o) => o.text).join(''), last };
}
function gen(engine: Awaited<ReturnType<typeof createEngine>>, prompt: string | number[], p?: Partial<SamplingParams>) {
  const ids = typeof prompt === 'string' ? tok.encode(prompt) : prompt;
  return collect(engine.generate({ requestId: `r${nextId++}`, promptTokenIds: ids, params: params(p) }));
}
const engineWith = (o: Partial<EngineOptions> = {}) =>
  createEngine({ model, maxNumSeqs: 8, maxNumBatchedTokens: 64, ...o });

const PROMPT = 'The Ascend 910C and the H100 both run this kernel:';

describe('LLMEngine', () => {
  it('greedy output is identical on nvidia-sim and ascend-sim at TP 1, 2, 4 and 8', async () => {
    const outputs: string[] = [];
    for (const backend of ['nvidia-sim', 'ascend-sim'] as const) {
      for (const tp of [1, 2, 4, 8]) {
        const engine = await engineWith({ backend, tp });
        const r = await gen(engine, PROMPT, { maxTokens: 10 });
        expect(r.tokens).toHaveLength(10);
        outputs.push(JSON.stringify(r.tokens));
        await engine.shutdown();
      }
    }
    expect(new Set(outputs).size).toBe(1);
  });

  it('reports wall and modelled latencies; the modelled ones follow the hardware', async () => {
    const h100 = await engineWith({ device: 'h100' });
    const a = await gen(h100, PROMPT, { maxTokens: 6 });
    const m = a.last.metrics!;
    expect(a.last.finishReason).toBe('length');
    expect(m.completionTokens).toBe(6);
    expect(m.promptTokens).toBe(tok.encode(PROMPT).length);
    for (const f of [m.wall, m.modelled]) {
      expect(f.ttftMs).toBeGreaterThan(0);
      expect(f.e2eMs).toBeGreaterThan(f.ttftMs);
      expect(f.itlMs).toHaveLength(5);
      expect(f.tpotMs).toBeCloseTo((f.e2eMs - f.ttftMs) / 5, 9);
    }
    // A launch-bound tiny model: a decode step is tens of kernels, so tens to hundreds of µs on the modelled chip.
    expect(m.modelled.tpotMs).toBeGreaterThan(0.01);
    expect(m.modelled.tpotMs).toBeLessThan(2);
    // Ascend's per-kernel launch overhead is larger (12 µs vs 4 µs), so the same steps take longer.
    const ascend = await engineWith({ backend: 'ascend-sim', device: '910b2' });
    const b = await gen(ascend, PROMPT, { maxTokens: 6 });
    expect(b.tokens).toEqual(a.tokens);
    expect(b.last.metrics!.modelled.tpotMs).toBeGreaterThan(m.modelled.tpotMs);
  });

  it('continuous batching gives each request the output it gets alone', async () => {
    const prompts = ['Hello there', 'A much longer prompt about collectives, rings and trees on NVLink', 'x', PROMPT];
    const alone = await engineWith();
    const expected = [];
    for (const p of prompts) expected.push((await gen(alone, p, { maxTokens: 8 })).tokens);
    const batched = await engineWith({ maxNumBatchedTokens: 16 }); // forces chunked prefill too
    const together = await Promise.all(prompts.map((p) => gen(batched, p, { maxTokens: 8 })));
    expect(together.map((r) => r.tokens)).toEqual(expected);
    expect(batched.steps).toBeLessThan(prompts.length * 9); // steps were shared
  });

  it('serves a repeated prompt prefix from the cache, with the same output', async () => {
    const engine = await engineWith({ blockSize: 4 });
    const prompt = tok.encode(`${PROMPT} ${PROMPT} ${PROMPT}`);
    const first = await gen(engine, prompt, { maxTokens: 5 });
    const second = await gen(engine, prompt, { maxTokens: 5 });
    expect(second.tokens).toEqual(first.tokens);
    expect(first.last.metrics!.cachedPromptTokens).toBe(0);
    expect(second.last.metrics!.cachedPromptTokens).toBe(Math.floor((prompt.length - 1) / 4) * 4);
    expect(engine.stats().prefixCacheHits).toBeGreaterThan(0);
    const off = await engineWith({ blockSize: 4, enablePrefixCaching: false });
    await gen(off, prompt, { maxTokens: 5 });
    expect((await gen(off, prompt, { maxTokens: 5 })).last.metrics!.cachedPromptTokens).toBe(0);
  });

  it('preempts when the KV cache runs out and still produces the same outputs', async () => {
    const prompts = ['one two three four', 'five six seven eight nine', 'ten eleven twelve'];
    const roomy = await engineWith({ blockSize: 4 });
    const expected = await Promise.all(prompts.map((p) => gen(roomy, p, { maxTokens: 16 })));
    const tight = await engineWith({ blockSize: 4, numGpuBlocksOverride: 12, enablePrefixCaching: false });
    const got = await Promise.all(prompts.map((p) => gen(tight, p, { maxTokens: 16 })));
    expect(got.map((r) => r.tokens)).toEqual(expected.map((r) => r.tokens));
    expect(tight.stats().preemptions).toBeGreaterThan(0);
    expect(got.some((r) => r.last.metrics!.preemptions > 0)).toBe(true);
    expect(tight.stats().kvCacheUsage).toBe(0);
  });

  it('samples reproducibly with a seed, differently without, and honours top-k = 1 as greedy', async () => {
    const engine = await engineWith();
    const hot = { temperature: 1.5, maxTokens: 12 };
    const a = await gen(engine, PROMPT, { ...hot, seed: 7 });
    const b = await gen(engine, PROMPT, { ...hot, seed: 7 });
    const c = await gen(engine, PROMPT, { ...hot, seed: 8 });
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
    const greedy = await gen(engine, PROMPT);
    expect((await gen(engine, PROMPT, { temperature: 1, topK: 1, seed: 3 })).tokens).toEqual(greedy.tokens);
  });

  it('stops at stop strings (cut from the text), stop token ids, EOS and max_tokens', async () => {
    const engine = await engineWith();
    const free = await gen(engine, PROMPT, { maxTokens: 24 });
    // A stop string taken from the middle of the free-running text.
    const stop = free.text.slice(8, 11);
    const cut = free.text.indexOf(stop);
    const s = await gen(engine, PROMPT, { maxTokens: 24, stop: [stop] });
    expect(s.last.finishReason).toBe('stop');
    expect(s.last.stopReason).toBe(stop);
    expect(s.text).toBe(free.text.slice(0, cut));
    const stopId = free.tokens[4]!;
    const t = await gen(engine, PROMPT, { maxTokens: 24, stopTokenIds: [stopId] });
    expect(t.last.finishReason).toBe('stop');
    expect(t.last.stopReason).toBe(stopId);
    expect(t.tokens).toEqual(free.tokens.slice(0, free.tokens.indexOf(stopId) + 1));
    const m = await gen(engine, PROMPT, { maxTokens: 24, stopTokenIds: [stopId], minTokens: 20 });
    expect(m.tokens.length).toBeGreaterThanOrEqual(20);
    // EOS: with ignore_eos off the request ends at the first EOS the free run produced (if any), token included.
    const eos = await gen(engine, PROMPT, { maxTokens: 24, ignoreEos: false });
    const firstEos = free.tokens.findIndex((x) => model.eosTokenIds.includes(x));
    if (firstEos >= 0) {
      expect(eos.last.finishReason).toBe('stop');
      expect(eos.tokens).toEqual(free.tokens.slice(0, firstEos + 1));
    } else {
      expect(eos.last.finishReason).toBe('length');
      expect(eos.tokens).toEqual(free.tokens);
    }
    // With EOS taken as a stop token id, the same rule applies through the other path.
    const viaIds = await gen(engine, PROMPT, { maxTokens: 24, stopTokenIds: [...model.eosTokenIds] });
    expect(viaIds.tokens).toEqual(eos.tokens);
  });

  it('aborts a request mid-stream and frees its blocks; keeps serving', async () => {
    const engine = await engineWith();
    const ctl = new AbortController();
    const outs: RequestOutput[] = [];
    for await (const o of engine.generate(
      { requestId: 'abort-me', promptTokenIds: tok.encode(PROMPT), params: params({ maxTokens: 200 }) },
      ctl.signal,
    )) {
      outs.push(o);
      if (outs.length === 3) ctl.abort();
    }
    expect(outs[outs.length - 1]!.finishReason).toBe('abort');
    expect(outs.length).toBeLessThan(10);
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0, kvCacheUsage: 0 });
    expect((await gen(engine, PROMPT, { maxTokens: 3 })).tokens).toHaveLength(3);
  });

  it('refuses over-long requests and overload with typed errors', async () => {
    const engine = await engineWith({ maxModelLen: 64, maxWaiting: 2, maxNumSeqs: 1 });
    expect(() =>
      engine.generate({ requestId: 'long', promptTokenIds: Array(60).fill(5), params: params({ maxTokens: 10 }) }),
    ).toThrow(
      /maximum context length is 64 tokens\. However, you requested 70 tokens \(60 in the messages, 10 in the completion\)/,
    );
    expect(() => engine.generate({ requestId: 'oov', promptTokenIds: [1, 99999], params: params() })).toThrow(
      EngineError,
    );
    const a = gen(engine, PROMPT, { maxTokens: 4 });
    const b = gen(engine, PROMPT, { maxTokens: 4 });
    let refused: unknown = null;
    try {
      engine.generate({ requestId: 'third', promptTokenIds: [1, 2], params: params() });
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(EngineError);
    expect((refused as EngineError).code).toBe('overloaded');
    await Promise.all([a, b]);
  });

  it('rejects a TP degree the model cannot be split into, naming the degrees that fit', async () => {
    await expect(engineWith({ tp: 3 })).rejects.toThrow(/Degrees that fit: 1, 2, 4, 8/);
    await expect(engineWith({ backend: 'ascend-sim', topology: 'dgx-h100' })).rejects.toThrow(/nvidia-sim system/);
  });
});
