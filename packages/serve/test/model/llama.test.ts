/**
 * The Tessera Llama against a float64 reference: prefill in chunks, decode through the paged cache, batching,
 * tensor parallelism and both vendors' backends.
 */
import { createCluster } from '@tessera/cluster';
import { relativeError as relErr } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_CONFIG, embeddedWeights } from '../../src/model/embedded';
import { type BatchEntry, LlamaModel } from '../../src/model/llama';
import type { WeightDType } from '../../src/types';
import { argmax, referenceLogits } from '../support/reference-llama';

const config = EMBEDDED_CONFIG;
const tensors = embeddedWeights(config);
const V = config.vocabSize;

/** A deterministic pseudo-random prompt (never all one token). */
function prompt(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 7919 + i * 104729 + ((i * i) % 13)) % V);
}

async function makeModel(o: { topology?: string; tp?: number; dtype?: WeightDType; blockSize?: number } = {}) {
  const cluster = await createCluster({ topology: o.topology ?? 'dgx-h100', ranks: o.tp ?? 1 });
  const model = new LlamaModel(config, tensors, {
    cluster,
    tp: o.tp ?? 1,
    dtype: o.dtype ?? 'f32',
    maxTokens: 64,
    maxSeqs: 8,
    blockSize: o.blockSize ?? 4,
    maxModelLen: 128,
  });
  model.allocateKvCache(96);
  return model;
}

const greedy = { temperature: 0, topK: 0, topP: 1, seed: 0 };

/** Runs `tokens` as a prefill in `chunks`, then `decode` greedy steps; returns logits after the prompt and each step. */
function run(model: LlamaModel, tokens: number[], chunks: number[], decode: number, blocks: number[]) {
  const logits: Float32Array[] = [];
  const seq = [...tokens];
  let done = 0;
  for (const n of chunks) {
    const sample = done + n === tokens.length;
    model.forward([{ tokens: seq.slice(done, done + n), start: done, blockTable: blocks, sample, step: 0, ...greedy }]);
    done += n;
  }
  logits.push(model.logits());
  for (let s = 0; s < decode; s++) {
    seq.push(argmax(logits[logits.length - 1]!));
    model.forward([
      {
        tokens: [seq[seq.length - 1]!],
        start: seq.length - 1,
        blockTable: blocks,
        sample: true,
        step: s + 1,
        ...greedy,
      },
    ]);
    logits.push(model.logits());
  }
  return { logits, seq };
}

describe('LlamaModel', () => {
  const tokens = prompt(19, 1);
  const ref = referenceLogits(config, tensors, [...tokens, ...Array(0)]);

  it('matches the float64 reference in f32: chunked prefill, then decode through the paged cache', async () => {
    const model = await makeModel();
    const blocks = [5, 17, 2, 40, 41, 3, 9, 11]; // scattered physical blocks
    const { logits, seq } = run(model, tokens, [8, 7, 4], 4, blocks);
    expect(relErr(logits[0]!, ref[ref.length - 1]!)).toBeLessThan(1e-5);
    const full = referenceLogits(config, tensors, seq);
    for (let s = 1; s < logits.length; s++) {
      expect(relErr(logits[s]!, full[tokens.length - 1 + s]!)).toBeLessThan(1e-5);
    }
    // Untrained weights with a wide embedding give clear greedy winners: the top-2 gap dwarfs the error.
    const sorted = [...ref[ref.length - 1]!].sort((a, b) => b - a);
    expect(sorted[0]! - sorted[1]!).toBeGreaterThan(1e-3);
  });

  it('bf16 weights and activations stay within bf16 rounding of the reference', async () => {
    const model = await makeModel({ dtype: 'bf16' });
    const { logits } = run(model, tokens, [19], 0, [0, 1, 2, 3, 4]);
    expect(relErr(logits[0]!, ref[ref.length - 1]!)).toBeLessThan(3e-2);
  });

  it('a sequence gives bit-identical logits alone or batched with others', async () => {
    const alone = await makeModel();
    run(alone, tokens, [19], 0, [0, 1, 2, 3, 4]);
    const a = alone.logits();
    const batched = await makeModel();
    const other = prompt(10, 2);
    batched.forward([
      { tokens: other.slice(0, 6), start: 0, blockTable: [10, 11, 12], sample: false, step: 0, ...greedy },
    ]);
    const entries: BatchEntry[] = [
      { tokens: other.slice(6), start: 6, blockTable: [10, 11, 12], sample: true, step: 0, ...greedy },
      { tokens, start: 0, blockTable: [0, 1, 2, 3, 4], sample: true, step: 0, ...greedy },
    ];
    batched.forward(entries);
    const b = batched.logits().subarray(V, 2 * V);
    expect(new Uint32Array(b.slice().buffer)).toEqual(new Uint32Array(a.slice().buffer));
  });

  it.each([2, 4, 8])('TP %i gives the same greedy tokens as TP 1 and logits within f32 rounding', async (tp) => {
    const one = run(await makeModel(), tokens, [19], 6, [0, 1, 2, 3, 4, 5, 6]);
    const many = run(await makeModel({ tp }), tokens, [19], 6, [0, 1, 2, 3, 4, 5, 6]);
    expect(many.seq).toEqual(one.seq);
    for (let s = 0; s < one.logits.length; s++) expect(relErr(many.logits[s]!, one.logits[s]!)).toBeLessThan(1e-5);
  });

  it('ascend-sim computes the same greedy tokens with the same bits as nvidia-sim', async () => {
    const nv = run(await makeModel({ tp: 2 }), tokens, [19], 4, [0, 1, 2, 3, 4, 5]);
    const asc = run(await makeModel({ topology: 'atlas-800t-a2', tp: 2 }), tokens, [19], 4, [0, 1, 2, 3, 4, 5]);
    expect(asc.seq).toEqual(nv.seq);
    expect(new Uint32Array(asc.logits[4]!.slice().buffer)).toEqual(new Uint32Array(nv.logits[4]!.slice().buffer));
  });

  it('serves an untied output head (its own lm_head, vocab-parallel at TP 4) as the reference does', async () => {
    const untied = { ...config, tieWordEmbeddings: false, dtype: 'f32' as const };
    const w = embeddedWeights(untied);
    const cluster = await createCluster({ topology: 'dgx-h100', ranks: 4 });
    const model = new LlamaModel(untied, w, {
      cluster,
      tp: 4,
      dtype: 'f32',
      maxTokens: 64,
      maxSeqs: 8,
      blockSize: 4,
      maxModelLen: 128,
    });
    model.allocateKvCache(16);
    model.forward([{ tokens, start: 0, blockTable: [0, 1, 2, 3, 4], sample: true, step: 0, ...greedy }]);
    const ref2 = referenceLogits(untied, w, tokens);
    expect(relErr(model.logits(), ref2[ref2.length - 1]!)).toBeLessThan(1e-5);
  });

  it('reports modelled time: a step advances the host clock by its kernels and collectives', async () => {
    const model = await makeModel({ tp: 8 });
    const rt = model.options.cluster.runtime;
    const t0 = rt.hostTimeMs;
    model.forward([{ tokens, start: 0, blockTable: [0, 1, 2, 3, 4], sample: true, step: 0, ...greedy }]);
    const ms = rt.hostTimeMs - t0;
    // 4 layers × 12 kernels + 8 all-reduces, each several µs on an H100 system: tens of µs to a few ms.
    expect(ms).toBeGreaterThan(0.05);
    expect(ms).toBeLessThan(5);
  });
});
