/**
 * Regression tests for headers whose counts claim more than the file holds. Each case used to cost what the header
 * claimed (gigabytes, or minutes of CPU) before failing, if it failed at all; now it is a ModelFormatError naming the
 * file, the field and the limit, raised before anything the header claims is allocated or iterated. No test measures
 * time: the generous timeouts only turn the old behaviour (an OOM or a spin) into a failure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors';
import { gv } from '../../src/formats/gguf-write';
import { readModelFiles } from '../../src/formats/load';
import { loadModel } from '../../src/load-model';
import { hfTokenizer } from '../../src/tokenizer/hf';
import { tempDir } from './helpers';
import { embeddedTokenizerJson, ggufModel, hfModelFiles, llama2cFiles, writeFiles } from './samples';

const SLOW_BEFORE = 60_000;

function formatError(fn: () => unknown): ModelFormatError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFormatError);
    return e as ModelFormatError;
  }
  throw new Error('expected a ModelFormatError, but nothing was thrown');
}

async function formatErrorAsync(p: Promise<unknown>): Promise<ModelFormatError> {
  const e = await p.then(
    () => new Error('expected a ModelFormatError, but the load succeeded'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ModelFormatError);
  return e as ModelFormatError;
}

describe('GGUF counts are bounded by the file', () => {
  it('llama.block_count 4294967295 with 2 layers of tensors → ModelFormatError, not 4 GB of names', {
    timeout: SLOW_BEFORE,
  }, () => {
    const f = path.join(tempDir(), 'model.gguf');
    fs.writeFileSync(f, ggufModel('spm', { 'llama.block_count': gv.u32(4294967295) }).bytes);
    const err = formatError(() => readModelFiles(f));
    expect(err.format).toMatchObject({ file: f, field: 'llama.block_count', limit: '2 layers' });
    expect(err.message).toContain(f);
  });

  it('a block_count one above the layers present names the missing tensor', () => {
    const f = path.join(tempDir(), 'model.gguf');
    fs.writeFileSync(f, ggufModel('spm', { 'llama.block_count': gv.u32(3) }).bytes);
    // 2 layers × 9 + embed, norm, output = 21 tensors: room for 2 layers, so the count check rejects 3.
    expect(formatError(() => readModelFiles(f)).format.field).toBe('llama.block_count');
  });

  it('a tensor count or an array length past the end of the file → ModelFormatError naming the limit', () => {
    const { bytes } = ggufModel('spm');
    const f = path.join(tempDir(), 'model.gguf');
    const b = Buffer.from(bytes);
    b.writeBigUInt64LE(2n ** 40n, 8); // tensor count
    fs.writeFileSync(f, b);
    const err = formatError(() => readModelFiles(f));
    expect(err.format.field).toBe('tensor_count/kv_count');
    expect(err.format.limit).toBeDefined();
  });
});

describe('config.json is bounded by the tensors present', () => {
  it('num_hidden_layers 1e9 → ModelFormatError, not "Map maximum size exceeded"', { timeout: SLOW_BEFORE }, () => {
    const dir = writeFiles(tempDir(), hfModelFiles({ num_hidden_layers: 1e9 }));
    const err = formatError(() => readModelFiles(dir));
    expect(err.format).toMatchObject({ file: path.join(dir, 'config.json'), field: 'num_hidden_layers' });
    expect(err.format.limit).toBe('2 layers');
  });

  it('a dimension the tensors do not have names the tensor and the shape it implies', { timeout: SLOW_BEFORE }, () => {
    const dir = writeFiles(tempDir(), hfModelFiles({ hidden_size: 1e9, head_dim: 4 }));
    const err = formatError(() => readModelFiles(dir));
    expect(err.format.field).toBe('model.embed_tokens.weight.shape');
    expect(err.details.tensor).toBe('model.embed_tokens.weight');
  });
});

describe('llama2.c headers are checked against the file size before any layer is walked', () => {
  for (const version of [0, 1] as const) {
    it(`v${version}: n_layers 2^31 − 1 → ModelFormatError, not a 60 s spin`, { timeout: SLOW_BEFORE }, () => {
      const files = llama2cFiles(version);
      const model = Buffer.from(files['model.bin']);
      model.writeInt32LE(2 ** 31 - 1, (version === 1 ? 8 : 0) + 8); // n_layers is the third int
      const dir = writeFiles(tempDir(), { ...files, 'model.bin': model });
      const err = formatError(() => readModelFiles(path.join(dir, 'model.bin')));
      expect(err.format.field).toBe('header');
      expect(err.format.limit).toBe(`${model.length} bytes`);
      expect(err.message).toContain('2147483647 layers');
    });
  }

  it('every dimension near 2^31 is still one exact comparison', { timeout: SLOW_BEFORE }, () => {
    const files = llama2cFiles(0);
    const model = Buffer.from(files['model.bin']);
    for (let i = 0; i < 7; i++) model.writeInt32LE(2 ** 31 - 1, 4 * i);
    model.writeInt32LE(2 ** 30, 0); // dim: an even head dim for RoPE
    model.writeInt32LE(1, 12); // n_heads and n_kv_heads 1, so that dim % n_heads = 0
    model.writeInt32LE(1, 16);
    const dir = writeFiles(tempDir(), { ...files, 'model.bin': model });
    expect(formatError(() => readModelFiles(path.join(dir, 'model.bin'))).format.field).toBe('header');
  });
});

describe('tokenizer.json ids are bounded', () => {
  it('an id of 2147483648 → ModelFormatError at load, not a 2^31-step loop', { timeout: SLOW_BEFORE }, () => {
    const json = embeddedTokenizerJson();
    json.model.vocab['zzzq'] = 2147483648;
    const err = formatError(() => hfTokenizer(json));
    expect(err.format).toMatchObject({ file: 'tokenizer.json', field: 'model.vocab["zzzq"]' });
    expect(err.format.limit).toBe('ids below 2050: twice the 513 entries listed, plus 1024');
  });

  it('a negative id → ModelFormatError at load (it used to load, then fail every prompt with a 400)', async () => {
    const json = embeddedTokenizerJson();
    json.added_tokens.push({ id: -5, content: '<|neg|>' } as never);
    expect(formatError(() => hfTokenizer(json)).format.field).toBe('added_tokens[5] ("<|neg|>")');
    // Through the model loader: the file is named, and the bound is the model's vocabulary.
    const dir = writeFiles(tempDir(), hfModelFiles({}, json));
    const err = await formatErrorAsync(loadModel(dir));
    expect(err.format.file).toBe(path.join(dir, 'tokenizer.json'));
    expect(err.format.limit).toBe('vocab size 512');
  });

  it('an id past the model vocabulary is refused at load with the model vocab as the limit', async () => {
    const json = embeddedTokenizerJson();
    json.model.vocab['zzzq'] = 512;
    const dir = writeFiles(tempDir(), hfModelFiles({}, json));
    const err = await formatErrorAsync(loadModel(dir));
    expect(err.format).toMatchObject({ field: 'model.vocab["zzzq"]', limit: 'vocab size 512' });
  });

  it('merges must use tokens of the vocabulary (as the Rust tokenizers library requires)', () => {
    const json = embeddedTokenizerJson();
    json.model.merges.push('zz qq');
    expect(formatError(() => hfTokenizer(json)).format.field).toBe(`model.merges[${json.model.merges.length - 1}]`);
    const bad = embeddedTokenizerJson();
    bad.model.merges[0] = 42;
    expect(formatError(() => hfTokenizer(bad)).format.field).toBe('model.merges[0]');
  });
});
