import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTensor, LlamaConfig, TensorMap } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { ggufNameOf, readGgufModel } from '../../src/formats/gguf-llama';
import { type GgufTypedValue, gv, writeGguf } from '../../src/formats/gguf-write';
import { readModelFiles } from '../../src/formats/load';
import { expectSameTensors, loadError, randomTensor, randomTensors, rng, tempDir, tinyConfig } from './helpers';

function llamaMetadata(c: LlamaConfig): Array<[string, GgufTypedValue]> {
  return [
    ['general.architecture', gv.string('llama')],
    ['general.name', gv.string('tiny')],
    ['llama.context_length', gv.u32(c.maxPositionEmbeddings)],
    ['llama.embedding_length', gv.u32(c.hiddenSize)],
    ['llama.block_count', gv.u32(c.numLayers)],
    ['llama.feed_forward_length', gv.u32(c.intermediateSize)],
    ['llama.rope.dimension_count', gv.u32(c.headDim)],
    ['llama.attention.head_count', gv.u32(c.numHeads)],
    ['llama.attention.head_count_kv', gv.u32(c.numKvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(c.rmsNormEps)],
    ['llama.rope.freq_base', gv.f32(c.ropeTheta)],
  ];
}

/** Writes a llama GGUF of `tensors` (canonical names); `patch` replaces or (value null) drops metadata keys. */
function llamaGguf(
  config: LlamaConfig,
  tensors: TensorMap,
  patch: Record<string, GgufTypedValue | null> = {},
  extra: Array<[string, GgufTypedValue]> = [],
): string {
  const meta = llamaMetadata(config)
    .filter(([k]) => patch[k] !== null)
    .map(([k, v]): [string, GgufTypedValue] => [k, patch[k] ?? v]);
  for (const [k, v] of Object.entries(patch)) if (v && !meta.some(([m]) => m === k)) meta.push([k, v]);
  const ggufTensors = new Map<string, HostTensor>([...tensors].map(([k, t]) => [ggufNameOf(k), t]));
  const f = path.join(tempDir(), 'tiny.gguf');
  fs.writeFileSync(f, writeGguf({ metadata: [...meta, ...extra], tensors: ggufTensors }));
  return f;
}

describe('GGUF llama models', () => {
  it('maps metadata to LlamaConfig and tensors to canonical names (bf16, untied)', () => {
    const config = tinyConfig({ dtype: 'bf16', ropeConvention: 'interleaved', rmsNormEps: 1e-6, ropeTheta: 500000 });
    const tensors = randomTensors(config);
    const m = readGgufModel(llamaGguf(config, tensors));
    expect(m.config).toEqual(config);
    expect(m.version).toBe(3);
    expectSameTensors(m.tensors, tensors);
    expect(m.metadata.get('general.name')).toBe('tiny');
  });

  it('is tied when `output` is absent, and ignores tensors it does not need', () => {
    const config = tinyConfig({ tieWordEmbeddings: true, ropeConvention: 'interleaved' });
    const tensors = randomTensors(config);
    const f = llamaGguf(config, tensors);
    const m = readGgufModel(f);
    expect(m.config.tieWordEmbeddings).toBe(true);
    expect(m.tensors.has('lm_head')).toBe(false);
    // An unneeded tensor of an unsupported type is never read.
    const withExtra = new Map(
      [...tensors].map(([k, t]) => [
        ggufNameOf(k),
        t as HostTensor | { ggmlType: number; ne: number[]; bytes: Uint8Array },
      ]),
    );
    withExtra.set('rope_freqs.weight', { ggmlType: 2, ne: [32], bytes: new Uint8Array(18) });
    fs.writeFileSync(f, writeGguf({ metadata: llamaMetadata(config), tensors: withExtra }));
    expectSameTensors(readGgufModel(f).tensors, tensors);
  });

  it('takes the vocab size from token_embd, and checks llama.vocab_size against it', () => {
    const config = tinyConfig({ ropeConvention: 'interleaved' });
    const tensors = randomTensors(config);
    expect(readGgufModel(llamaGguf(config, tensors, { 'llama.vocab_size': gv.u32(40) })).config.vocabSize).toBe(40);
    const err = loadError(() => readGgufModel(llamaGguf(config, tensors, { 'llama.vocab_size': gv.u32(41) })));
    expect(err.message).toContain("disagrees with token_embd.weight's 40 rows");
  });

  it('refuses other architectures, partial RoPE, RoPE scaling and missing keys', () => {
    const config = tinyConfig({ ropeConvention: 'interleaved' });
    const tensors = randomTensors(config);
    const cases: Array<[Record<string, GgufTypedValue | null>, string]> = [
      [{ 'general.architecture': gv.string('qwen2') }, "only 'llama' GGUF models are supported"],
      [{ 'llama.rope.dimension_count': gv.u32(2) }, 'rope.dimension_count 2 ≠ head dim 4'],
      [{ 'llama.rope.scaling.type': gv.string('linear') }, 'RoPE scaling is unsupported'],
      [{ 'llama.block_count': null }, 'llama.block_count is missing'],
      [{ 'llama.attention.layer_norm_rms_epsilon': gv.string('x') }, 'should be a number'],
    ];
    for (const [patch, msg] of cases) {
      const f = llamaGguf(config, tensors, patch);
      const err = loadError(() => readGgufModel(f));
      expect(err.message).toContain(f);
      expect(err.message).toContain(msg);
    }
  });

  it('names the tensor and both shapes when one disagrees with the metadata', () => {
    const config = tinyConfig({ ropeConvention: 'interleaved' });
    const tensors = randomTensors(config);
    tensors.set('layers.0.gate', randomTensor('f32', [16, 24], rng(1))); // transposed: implies [24, 16]
    const f = llamaGguf(config, tensors);
    const err = loadError(() => readGgufModel(f));
    expect(err.message).toContain('blk.0.ffn_gate.weight has shape [16, 24]');
    expect(err.message).toContain('[24, 16]');
    expect(err.details).toMatchObject({ file: f, tensor: 'blk.0.ffn_gate.weight' });
  });

  it('reads metadata larger than its read window (a 100k-token vocabulary)', () => {
    const config = tinyConfig({ ropeConvention: 'interleaved' });
    const tokens = Array.from({ length: 100_000 }, (_, i) => `tok${i}_${'x'.repeat(i % 17)}`);
    const scores = Array.from({ length: 100_000 }, (_, i) => -i / 8);
    const f = llamaGguf(config, randomTensors(config), {}, [
      ['tokenizer.ggml.tokens', gv.strings(tokens)],
      ['tokenizer.ggml.scores', gv.array('f32', scores)],
      ['tokenizer.ggml.bos_token_id', gv.u32(1)],
      ['tokenizer.ggml.eos_token_id', gv.u32(2)],
      ['tokenizer.ggml.eot_token_id', gv.u32(3)],
    ]);
    expect(fs.statSync(f).size).toBeGreaterThan(2 << 20);
    const m = readModelFiles(f);
    expect(m.format).toBe('gguf');
    expect(m.id).toBe('tiny');
    if (m.tokenizerSource.kind !== 'gguf') throw new Error('expected a gguf tokenizer source');
    expect(m.tokenizerSource.metadata.get('tokenizer.ggml.tokens')).toEqual(tokens);
    expect(m.tokenizerSource.metadata.get('tokenizer.ggml.scores')).toEqual(scores);
    expect(m.bosTokenId).toBe(1);
    expect(m.eosTokenIds).toEqual([2, 3]);
  });

  it('dequantises Q8_0 matrices of a model to f32', () => {
    const config = tinyConfig({
      ropeConvention: 'interleaved',
      hiddenSize: 32,
      numHeads: 4,
      headDim: 8,
      intermediateSize: 32,
    });
    const tensors = randomTensors(config);
    // Replace every (·, 32)-shaped matrix with Q8_0: scale 1/64 and q = 1 everywhere → every value 1/64.
    const block = new Uint8Array(34);
    new DataView(block.buffer).setUint16(0, 0x2400, true); // f16 2^-6
    block.fill(1, 2);
    const gguf = new Map<string, HostTensor | { ggmlType: number; ne: number[]; bytes: Uint8Array }>();
    for (const [k, t] of tensors) {
      if (t.shape.length === 2) {
        const rows = t.shape[0]!;
        const bytes = new Uint8Array(rows * 34);
        for (let r = 0; r < rows; r++) bytes.set(block, r * 34);
        gguf.set(ggufNameOf(k), { ggmlType: 8, ne: [32, rows], bytes });
      } else gguf.set(ggufNameOf(k), t);
    }
    const f = path.join(tempDir(), 'q8.gguf');
    fs.writeFileSync(f, writeGguf({ metadata: llamaMetadata(config), tensors: gguf }));
    const m = readGgufModel(f);
    expect(m.config.dtype).toBe('f32');
    const q = m.tensors.get('layers.1.q')!;
    expect(q.dtype).toBe('f32');
    expect(q.shape).toEqual([32, 32]);
    expect(new Set(q.data)).toEqual(new Set([1 / 64]));
  });
});
