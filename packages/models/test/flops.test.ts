import { describe, expect, it } from 'vitest';
import {
  attentionFlopsPerContextToken,
  countParameters,
  decodeFlopsPerToken,
  flopsPerToken,
  loadShippedModel,
  ModelArgumentError,
  parseModelConfig,
  prefillFlops,
  readShippedConfig,
} from '../src/index';

describe('FLOPs per token', () => {
  it('decode on Llama-3.1-8B at 4096 tokens of context, worked by hand', () => {
    const a = loadShippedModel('llama-3.1-8b');
    // 2N: N = 8,030,261,248 − the 128,256 × 4096 input embedding (a lookup, no multiply-adds).
    const n = 8_030_261_248 - 128_256 * 4096;
    // Context term: 32 layers × 4096 tokens × (2 · 32 heads · 128 for QKᵀ + 2 · 32 · 128 for A·V).
    const attention = 32 * 4096 * (2 * 32 * 128 + 2 * 32 * 128);
    expect(decodeFlopsPerToken(a, 4096)).toEqual({ params: 2 * n, attention, total: 2 * n + attention });
    expect(attentionFlopsPerContextToken(a)).toBe(2 * 32 * (128 + 128));
  });

  it('MoE: the params term is 2 × the active parameters, not the total', () => {
    const a = loadShippedModel('mixtral-8x7b');
    const c = countParameters(a);
    expect(decodeFlopsPerToken(a, 1).params).toBe(2 * c.active.nonEmbedding);
    expect(decodeFlopsPerToken(a, 1).params).toBeLessThan(0.3 * 2 * c.total.total);
  });

  it('MLA: the context term uses the expanded heads (q·k over 128 + 64, then 128-wide values)', () => {
    const a = loadShippedModel('deepseek-v3');
    expect(attentionFlopsPerContextToken(a)).toBe(2 * 128 * (192 + 128));
    expect(decodeFlopsPerToken(a, 1000).attention).toBe(61 * 1000 * 2 * 128 * 320);
    // 2 · 37 B-ish active parameters per token, not 2 · 671 B.
    expect(decodeFlopsPerToken(a, 1).params).toBe(2 * 36_625_618_432);
  });

  it('prefilling n tokens costs what n decode steps at contexts 1 … n cost', () => {
    for (const id of ['llama-3.1-8b', 'qwen3-235b-a22b', 'deepseek-v3'] as const) {
      const a = loadShippedModel(id);
      let attention = 0;
      let params = 0;
      for (let c = 1; c <= 300; c++) {
        const d = decodeFlopsPerToken(a, c);
        attention += d.attention;
        params += d.params;
      }
      const p = prefillFlops(a, 300);
      expect(p.attention).toBe(attention);
      expect(p.params).toBe(params);
      // With 100 tokens already cached, the prompt's tokens attend to 101 … 400.
      let tail = 0;
      for (let c = 101; c <= 400; c++) tail += decodeFlopsPerToken(a, c).attention;
      expect(prefillFlops(a, 300, { cachedTokens: 100 }).attention).toBe(tail);
    }
  });

  it("prefill's mean per token, and the LM head on the last token only", () => {
    const a = loadShippedModel('llama-3.1-70b');
    const p = prefillFlops(a, 1000);
    expect(flopsPerToken(a, { phase: 'prefill', contextLength: 1000 }).total).toBeCloseTo(p.total / 1000, 0);
    expect(flopsPerToken(a, { phase: 'decode', contextLength: 1000 })).toEqual(decodeFlopsPerToken(a, 1000));
    const head = 128_256 * 8192;
    expect(p.params - prefillFlops(a, 1000, { logits: 'last' }).params).toBe(2 * head * 999);
  });

  it('sliding-window layers attend to the window only', () => {
    // Mixtral as if it had Mistral-7B's 4096-token window (sliding_window is null in Mixtral's own config).
    const json = JSON.parse(readShippedConfig('mixtral-8x7b'));
    const windowed = parseModelConfig({ ...json, sliding_window: 4096 });
    const full = loadShippedModel('mixtral-8x7b');
    const per = attentionFlopsPerContextToken(full) * 32;
    expect(decodeFlopsPerToken(full, 10_000).attention).toBe(per * 10_000);
    expect(decodeFlopsPerToken(windowed, 10_000).attention).toBe(per * 4096);
    expect(decodeFlopsPerToken(windowed, 100).attention).toBe(per * 100);
    // Prefill of 5000 tokens: Σ min(t, 4096) = 4096·4097/2 + 904·4096.
    expect(prefillFlops(windowed, 5000).attention).toBe(per * ((4096 * 4097) / 2 + 904 * 4096));
    // Qwen: only the layers past max_window_layers, and only with use_sliding_window.
    const qwen = JSON.parse(readShippedConfig('qwen2.5-72b'));
    expect(parseModelConfig(qwen).attention).toMatchObject({ slidingWindow: null });
    const q = parseModelConfig({ ...qwen, use_sliding_window: true, sliding_window: 4096, max_window_layers: 60 });
    expect(q.attention).toMatchObject({ slidingWindow: { size: 4096, layers: 20 } });
    const perLayer = attentionFlopsPerContextToken(q);
    expect(decodeFlopsPerToken(q, 8192).attention).toBe(perLayer * (60 * 8192 + 20 * 4096));
  });

  it('refuses context lengths that are not positive integers', () => {
    const a = loadShippedModel('llama-3.1-8b');
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 40, '7' as unknown as number]) {
      expect(() => decodeFlopsPerToken(a, bad)).toThrow(ModelArgumentError);
    }
    expect(() => prefillFlops(a, 10, { cachedTokens: -1 })).toThrow(/cachedTokens/);
    expect(() => prefillFlops(a, 10, { logits: 'some' as never })).toThrow(/logits/);
    expect(() => flopsPerToken(a, { phase: 'train' as never, contextLength: 1 })).toThrow(/phase/);
  });
});
