import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LlamaConfig } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { LLAMA2C_MAGIC, readLlama2c, writeLlama2c } from '../../src/formats/llama2c';
import { readModelFiles } from '../../src/formats/load';
import { expectSameTensors, loadError, randomTensors, tempDir, tinyConfig } from './helpers';

/** llama2.c's shape rules: headDim = dim / heads, f32, interleaved RoPE, eps 1e-5, θ 10000. */
const l2cConfig = (overrides: Partial<LlamaConfig> = {}) => tinyConfig({ ropeConvention: 'interleaved', ...overrides });

function save(buf: Buffer, name = 'model.bin'): string {
  const f = path.join(tempDir(), name);
  fs.writeFileSync(f, buf);
  return f;
}

/** File size from export.py's layout, written out independently of the implementation (floats of 4 bytes). */
function expectedBytes(c: LlamaConfig, version: 0 | 1): number {
  const { vocabSize: V, hiddenSize: D, intermediateSize: I, numLayers: L, numKvHeads: KV, headDim: hs } = c;
  const floats =
    V * D + // token_embedding_table
    L * D * 2 + // rms_att, rms_ffn
    L * D * D * 2 + // wq, wo
    L * D * KV * hs * 2 + // wk, wv
    L * D * I * 3 + // w1, w2, w3
    D + // rms_final
    (version === 0 ? c.maxPositionEmbeddings * hs : 0) + // freq_cis_real + imag, seq_len · hs/2 each
    (c.tieWordEmbeddings ? 0 : V * D); // wcls
  return (version === 0 ? 28 : 256) + 4 * floats;
}

describe('llama2.c checkpoints', () => {
  for (const version of [0, 1] as const) {
    for (const tied of [true, false]) {
      it(`round-trips v${version}, ${tied ? 'shared' : 'separate'} classifier, GQA`, () => {
        const config = l2cConfig({ tieWordEmbeddings: tied });
        const tensors = randomTensors(config);
        const buf = writeLlama2c(config, tensors, version);
        expect(buf.length).toBe(expectedBytes(config, version));
        const m = readLlama2c(save(buf));
        expect(m.version).toBe(version);
        expect(m.config).toEqual(config);
        expectSameTensors(m.tensors, tensors);
        expect([...m.tensors.keys()][0]).toBe('embed');
      });
    }
  }

  it('lays out v0 as run.c reads it: header ints, then the embedding, vocab negative when unshared', () => {
    const config = l2cConfig();
    const tensors = randomTensors(config);
    const buf = writeLlama2c(config, tensors, 0);
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => buf.readInt32LE(4 * i))).toEqual([16, 24, 2, 4, 2, -40, 64]);
    expect(buf.readFloatLE(28)).toBe(tensors.get('embed')!.data[0]);
    // rms_att of layer 0 follows the embedding table (V · D floats).
    expect(buf.readFloatLE(28 + 4 * 40 * 16)).toBe(tensors.get('layers.0.attn_norm')!.data[0]);
  });

  it("lays out v1 in export.py's version1_export order: norms first, then the embedding", () => {
    const config = l2cConfig({ tieWordEmbeddings: true });
    const tensors = randomTensors(config);
    const buf = writeLlama2c(config, tensors, 1);
    expect(buf.readUInt32LE(0)).toBe(LLAMA2C_MAGIC);
    expect(buf.readInt32LE(4)).toBe(1);
    expect(buf.readInt32LE(8 + 4 * 5)).toBe(40); // vocab positive in v1
    expect(buf.readUInt8(36)).toBe(1); // shared_classifier
    const at = (floats: number) => buf.readFloatLE(256 + 4 * floats);
    expect(at(0)).toBe(tensors.get('layers.0.attn_norm')!.data[0]);
    expect(at(2 * 16)).toBe(tensors.get('layers.0.ffn_norm')!.data[0]);
    expect(at(4 * 16)).toBe(tensors.get('final_norm')!.data[0]);
    expect(at(5 * 16)).toBe(tensors.get('embed')!.data[0]);
  });

  it('rejects a file whose size disagrees with its header, naming expected and actual bytes', () => {
    const config = l2cConfig();
    const buf = writeLlama2c(config, randomTensors(config), 0);
    const want = expectedBytes(config, 0);
    for (const bad of [buf.subarray(0, buf.length - 4), Buffer.concat([buf, Buffer.alloc(4)])]) {
      const f = save(bad);
      const err = loadError(() => readLlama2c(f));
      expect(err.message).toContain(f);
      expect(err.message).toContain(`implies ${want} bytes, but the file has ${bad.length} bytes`);
    }
    expect(loadError(() => readLlama2c(save(Buffer.alloc(10)))).message).toContain('too short');
  });

  it('refuses v2 (int8) files and nonsense headers', () => {
    const v2 = Buffer.alloc(256);
    v2.writeUInt32LE(LLAMA2C_MAGIC, 0);
    v2.writeInt32LE(2, 4);
    expect(loadError(() => readLlama2c(save(v2))).message).toContain('version 2 is unsupported');
    const junk = Buffer.alloc(64);
    for (const [i, v] of [288, 768, 6, 7, 6, 32000, 256].entries()) junk.writeInt32LE(v, 4 * i); // 288 % 7 ≠ 0
    expect(loadError(() => readLlama2c(save(junk))).message).toContain('not a multiple of n_heads');
  });

  it('is found by readModelFiles with tokenizer.bin beside it, or an explicit tokenizer', () => {
    const config = l2cConfig({ tieWordEmbeddings: true });
    const f = save(writeLlama2c(config, randomTensors(config), 1), 'stories.bin');
    const err = loadError(() => readModelFiles(f));
    expect(err.message).toContain('tokenizer.bin');
    fs.writeFileSync(path.join(path.dirname(f), 'tokenizer.bin'), Buffer.alloc(4));
    const m = readModelFiles(f);
    expect(m).toMatchObject({
      format: 'llama2c',
      id: 'stories',
      tokenizerSource: { kind: 'llama2c', tokenizerBinPath: path.join(path.dirname(f), 'tokenizer.bin') },
      bosTokenId: 1,
    });
    const other = save(Buffer.alloc(4), 'tok512.bin');
    expect(readModelFiles(f, { tokenizerPath: other }).tokenizerSource).toEqual({
      kind: 'llama2c',
      tokenizerBinPath: other,
    });
  });
});
