import { describe, expect, it } from 'vitest';
import { applyChunk, chatRequestBody, DEFAULT_SAMPLING, emptyTurn, parseStreamData } from '../../ui/src/data/chat';
import { SseParser } from '../../ui/src/data/sse';

describe('SseParser', () => {
  it('joins data lines, names events, skips comments, and waits for the blank line', () => {
    const p = new SseParser();
    expect(p.feed(': keep-alive\n\nevent: step\ndata: {"a":')).toEqual([]);
    expect(p.feed('1}\ndata: x\n\ndata: two\r\n\r\n')).toEqual([
      { event: 'step', data: '{"a":1}\nx' },
      { event: 'message', data: 'two' },
    ]);
  });

  it('treats a CR split across chunks as one line end', () => {
    const p = new SseParser();
    expect(p.feed('data: a\r')).toEqual([]);
    expect(p.feed('\n\r\n')).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('parses the same stream whatever the chunking', () => {
    const text = 'event: snapshot\ndata: {"x":1}\n\n: c\n\nevent: step\ndata: {"s":2}\n\ndata: [DONE]\n\n';
    const whole = new SseParser().feed(text);
    for (const size of [1, 2, 3, 7, 13]) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < text.length; i += size) got.push(...p.feed(text.slice(i, i + size)));
      expect(got).toEqual(whole);
    }
    expect(whole.map((e) => e.event)).toEqual(['snapshot', 'step', 'message']);
  });
});

describe('chat turn', () => {
  const final = {
    choices: [{ index: 0, delta: { content: '!' }, finish_reason: 'length' }],
    tessera: {
      modelled_ms: 0.4,
      modelled_clock_ms: 12.5,
      hardware: '2× NVIDIA H100, TP 2',
      wall: { ttft_ms: 80, tpot_ms: 20, e2e_ms: 300, queue_ms: 1 },
      modelled: { ttft_ms: 1.2, tpot_ms: 0.4, e2e_ms: 5, queue_ms: 0 },
    },
  };

  it('accumulates deltas and takes the figures from the final chunk', () => {
    let t = emptyTurn();
    t = applyChunk(t, { choices: [{ index: 0, delta: { role: 'assistant' } }] }, 5);
    expect(t.clientTtftMs).toBeNull();
    t = applyChunk(t, { choices: [{ index: 0, delta: { content: 'Hi' } }], tessera: { modelled_ms: 1 } }, 42);
    t = applyChunk(t, final, 60);
    expect(t.text).toBe('Hi!');
    expect(t.chunks).toBe(2);
    expect(t.clientTtftMs).toBe(42);
    expect(t.finishReason).toBe('length');
    expect(t.hardware).toBe('2× NVIDIA H100, TP 2');
    expect(t.wall?.ttftMs).toBe(80);
    expect(t.modelled?.tpotMs).toBe(0.4);
    expect(t.modelledClockMs).toBe(12.5);
  });

  it('reads completions chunks (text) and in-band errors', () => {
    let t = applyChunk(emptyTurn(), { choices: [{ index: 0, text: 'abc', finish_reason: null }] }, 1);
    expect(t.text).toBe('abc');
    t = applyChunk(t, { error: { message: 'The engine failed: rank 1 is unusable' } }, 2);
    expect(t.error).toBe('The engine failed: rank 1 is unusable');
    expect(t.text).toBe('abc');
  });

  it('does not modify the turn it is given', () => {
    const t = emptyTurn();
    applyChunk(t, final, 1);
    expect(t).toEqual(emptyTurn());
  });

  it('parses [DONE] and reports a chunk that is not JSON', () => {
    expect(parseStreamData('[DONE]')).toBe('done');
    const bad = parseStreamData('{oops') as { error: { message: string } };
    expect(bad.error.message).toMatch(/not JSON/);
  });

  it('builds a streaming request with usage and the sampling controls', () => {
    const body = chatRequestBody('m', [{ role: 'user', content: 'x' }], { ...DEFAULT_SAMPLING, seed: 7, topK: 40 });
    expect(body).toMatchObject({
      model: 'm',
      stream: true,
      stream_options: { include_usage: true },
      seed: 7,
      top_k: 40,
    });
    expect('seed' in chatRequestBody('m', [], DEFAULT_SAMPLING)).toBe(false);
  });
});
