import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTensor } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { expectSameTensors, loadError, randomTensor, rng, tempDir } from './helpers';

/** Three dtypes, a scalar-ish vector and an empty tensor: a = f32 (2, 3), b = bf16 (4), c = f16 (3, 2), e = f32 (0, 5). */
function sample(): Map<string, HostTensor> {
  const next = rng(3);
  return new Map([
    ['a', randomTensor('f32', [2, 3], next)],
    ['b', randomTensor('bf16', [4], next)],
    ['c', randomTensor('f16', [3, 2], next)],
    ['e', randomTensor('f32', [0, 5], next)],
  ]);
}

/** A file from a hand-written header object and `dataBytes` of data. */
function fileWithHeader(header: unknown, dataBytes: number, headerLenOverride?: bigint): string {
  const json = Buffer.from(JSON.stringify(header));
  const b = Buffer.alloc(8 + json.length + dataBytes);
  b.writeBigUInt64LE(headerLenOverride ?? BigInt(json.length), 0);
  json.copy(b, 8);
  const f = path.join(tempDir(), 'x.safetensors');
  fs.writeFileSync(f, b);
  return f;
}

describe('safetensors round trip', () => {
  it('writes and reads back F32/F16/BF16 bit-identically, with metadata', () => {
    const tensors = sample();
    const buf = writeSafetensors(tensors, { format: 'pt' });
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0); // space-padded like the reference implementation
    const header = buf.subarray(8, 8 + n).toString();
    expect(header.trimEnd().length).toBeGreaterThan(0);
    expect(JSON.parse(header).a).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    const f = path.join(tempDir(), 'm.safetensors');
    fs.writeFileSync(f, buf);
    const back = readSafetensors(f);
    expectSameTensors(back.tensors, tensors);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect(back.fileOf.get('a')).toBe(f);
  });

  it('reads only the selected tensors', () => {
    const f = path.join(tempDir(), 'm.safetensors');
    fs.writeFileSync(f, writeSafetensors(sample()));
    expect([...readSafetensors(f, { select: (n) => n === 'c' }).tensors.keys()]).toEqual(['c']);
  });

  it('reads a sharded checkpoint through its index', () => {
    const dir = tempDir();
    const t = sample();
    const shard1 = new Map([...t].slice(0, 2));
    const shard2 = new Map([...t].slice(2));
    fs.writeFileSync(path.join(dir, 'model-00001-of-00002.safetensors'), writeSafetensors(shard1));
    fs.writeFileSync(path.join(dir, 'model-00002-of-00002.safetensors'), writeSafetensors(shard2));
    const weightMap = Object.fromEntries([
      ...[...shard1.keys()].map((k) => [k, 'model-00001-of-00002.safetensors']),
      ...[...shard2.keys()].map((k) => [k, 'model-00002-of-00002.safetensors']),
    ]);
    const index = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const back = readSafetensors(index);
    expectSameTensors(back.tensors, t);
    expect(back.fileOf.get('c')).toBe(path.join(dir, 'model-00002-of-00002.safetensors'));

    // An index that points a tensor at the wrong shard names both.
    fs.writeFileSync(index, JSON.stringify({ weight_map: { ...weightMap, c: 'model-00001-of-00002.safetensors' } }));
    const err = loadError(() => readSafetensors(index));
    expect(err.message).toContain('model-00001-of-00002.safetensors');
    expect(err.details.tensor).toBe('c');
    // Shard names are bare file names beside the index.
    fs.writeFileSync(index, JSON.stringify({ weight_map: { a: '../evil.safetensors' } }));
    expect(loadError(() => readSafetensors(index)).message).toContain('not a shard file name');
  });
});

describe('safetensors validation', () => {
  it('rejects a file too short for the length field', () => {
    const f = path.join(tempDir(), 't.safetensors');
    fs.writeFileSync(f, Buffer.alloc(5));
    const err = loadError(() => readSafetensors(f));
    expect(err.message).toContain(f);
    expect(err.message).toContain('too short');
  });

  it('rejects a truncated file (data section cut short)', () => {
    const buf = writeSafetensors(sample());
    const f = path.join(tempDir(), 't.safetensors');
    fs.writeFileSync(f, buf.subarray(0, buf.length - 3));
    const err = loadError(() => readSafetensors(f));
    expect(err.message).toMatch(/run past the end of the data section/);
    expect(err.details.file).toBe(f);
  });

  it('rejects a header length larger than the file, and one over 100 MB, before reading it', () => {
    const f = fileWithHeader({}, 0, 1000n);
    expect(loadError(() => readSafetensors(f)).message).toContain('header length 1000 is larger than');
    const g = fileWithHeader({}, 0, 2n ** 40n);
    expect(loadError(() => readSafetensors(g)).message).toContain('exceeds the 100000000-byte limit');
  });

  it('rejects a header that is not JSON', () => {
    const f = path.join(tempDir(), 'bad.safetensors');
    const b = Buffer.alloc(8 + 4);
    b.writeBigUInt64LE(4n, 0);
    b.write('{"a', 8);
    fs.writeFileSync(f, b);
    expect(loadError(() => readSafetensors(f)).message).toContain('not valid UTF-8 JSON');
  });

  it('rejects offsets past the end, naming the file and tensor', () => {
    const f = fileWithHeader({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8);
    const err = loadError(() => readSafetensors(f));
    expect(err.message).toContain(f);
    expect(err.message).toContain('tensor w');
    expect(err.details.tensor).toBe('w');
  });

  it('rejects a byte span that disagrees with shape × dtype size', () => {
    const f = fileWithHeader({ w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 24] } }, 24);
    expect(loadError(() => readSafetensors(f)).message).toContain('needs 12 bytes, but data_offsets span 24');
  });

  it('rejects bad shapes, bad offsets, unknown dtypes and overlaps', () => {
    const cases: Array<[unknown, string]> = [
      [{ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 'non-negative integers'],
      [{ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 'non-negative integers'],
      [{ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 'begin ≤ end'],
      [{ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 4] } }, 'unknown dtype "Q4"'],
      [
        {
          w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          v: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        'overlaps',
      ],
    ];
    for (const [header, msg] of cases)
      expect(loadError(() => readSafetensors(fileWithHeader(header, 16))).message).toContain(msg);
  });

  it('refuses unsupported dtypes of tensors it is asked to read, naming tensor and dtype', () => {
    const f = fileWithHeader({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, 16);
    const err = loadError(() => readSafetensors(f));
    expect(err.message).toContain('tensor ids has dtype I64');
    expect(err.details).toMatchObject({ file: f, tensor: 'ids' });
    // …but not when it is not selected (e.g. a buffer the model does not use).
    expect(readSafetensors(f, { select: () => false }).tensors.size).toBe(0);
  });

  it('fails fast on a bad header of a huge (sparse) file without reading its data', () => {
    const f = fileWithHeader({ w: { dtype: 'F32', shape: [2 ** 30], data_offsets: [0, 2 ** 32 + 4] } }, 0);
    fs.truncateSync(f, 2 ** 32); // 4 GiB, sparse: the header claims 4 bytes more than there are
    const rss = process.memoryUsage().rss;
    const t0 = performance.now();
    expect(loadError(() => readSafetensors(f)).message).toContain('run past the end');
    expect(performance.now() - t0).toBeLessThan(500);
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 2 ** 20);
  });
});
