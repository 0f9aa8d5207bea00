import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTensor } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { withFile } from '../../src/formats/binary';
import { dequantizeQ8_0, GGUF_MAGIC, readGguf, readGgufHeader } from '../../src/formats/gguf';
import { type GgufTypedValue, gv, writeGguf } from '../../src/formats/gguf-write';
import { expectSameTensors, loadError, randomTensor, rng, tempDir } from './helpers';

function save(buf: Buffer, name = 'm.gguf'): string {
  const f = path.join(tempDir(), name);
  fs.writeFileSync(f, buf);
  return f;
}

const header = (f: string) => withFile(f, readGgufHeader);

/** The 24-byte fixed header followed by `rest`. */
function rawHeader(version: number, nTensors: bigint, nKv: bigint, rest: Buffer = Buffer.alloc(64)): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(GGUF_MAGIC, 0);
  b.writeUInt32LE(version, 4);
  b.writeBigUInt64LE(nTensors, 8);
  b.writeBigUInt64LE(nKv, 16);
  return Buffer.concat([b, rest]);
}

describe('GGUF metadata', () => {
  it('reads all 13 value types, nested arrays included', () => {
    const metadata: Array<[string, GgufTypedValue]> = [
      ['t.u8', { type: 'u8', value: 255 }],
      ['t.i8', { type: 'i8', value: -128 }],
      ['t.u16', { type: 'u16', value: 65535 }],
      ['t.i16', { type: 'i16', value: -32768 }],
      ['t.u32', gv.u32(4294967295)],
      ['t.i32', gv.i32(-2147483648)],
      ['t.f32', gv.f32(1e-5)],
      ['t.bool', gv.bool(true)],
      ['t.string', gv.string('héllo ✓')],
      ['t.u64', gv.u64(2n ** 64n - 1n)],
      ['t.u64small', gv.u64(12345)],
      ['t.i64', { type: 'i64', value: -(2n ** 62n) }],
      ['t.f64', { type: 'f64', value: Math.PI }],
      ['t.arr.str', gv.strings(['a', '', 'Ġb'])],
      ['t.arr.i32', gv.array('i32', [1, -2, 3])],
      ['t.arr.f32', gv.array('f32', [0.5, -1.25])],
      ['t.arr.bool', gv.array('bool', [true, false])],
      [
        't.arr.nested',
        {
          type: 'array',
          itemType: 'array',
          value: [gv.array('u32', [1, 2]), gv.strings(['x']), { type: 'array', itemType: 'u8', value: [] }],
        },
      ],
    ];
    const h = header(save(writeGguf({ metadata, tensors: new Map() })));
    expect(h.version).toBe(3);
    expect(Object.fromEntries(h.metadata)).toEqual({
      't.u8': 255,
      't.i8': -128,
      't.u16': 65535,
      't.i16': -32768,
      't.u32': 4294967295,
      't.i32': -2147483648,
      't.f32': 1e-5, // scalar f32 read back as the shortest decimal that rounds to it
      't.bool': true,
      't.string': 'héllo ✓',
      't.u64': 2n ** 64n - 1n, // beyond 2^53: stays a bigint
      't.u64small': 12345,
      't.i64': -(2n ** 62n),
      't.f64': Math.PI,
      't.arr.str': ['a', '', 'Ġb'],
      't.arr.i32': [1, -2, 3],
      't.arr.f32': [0.5, -1.25],
      't.arr.bool': [true, false],
      't.arr.nested': [[1, 2], ['x'], []],
    });
  });

  it('reads version 2 and refuses version 1, big-endian files and bad magic', () => {
    expect(header(save(writeGguf({ metadata: [], tensors: new Map(), version: 2 }))).version).toBe(2);
    expect(loadError(() => header(save(rawHeader(1, 0n, 0n)))).message).toContain('version 1 is unsupported');
    expect(loadError(() => header(save(rawHeader(0x03000000, 0n, 0n)))).message).toContain('big-endian');
    const bad = rawHeader(3, 0n, 0n);
    bad.write('GGML', 0);
    expect(loadError(() => header(save(bad))).message).toContain('GGUF magic');
  });
});

describe('GGUF tensors', () => {
  it('round-trips F32/F16/BF16 tensors, reversing ne into shape, at the default and a custom alignment', () => {
    const next = rng(5);
    const tensors = new Map<string, HostTensor>([
      ['w.f32', randomTensor('f32', [3, 5], next)],
      ['w.f16', randomTensor('f16', [7], next)],
      ['w.bf16', randomTensor('bf16', [2, 3, 4], next)],
    ]);
    for (const alignment of [undefined, 64]) {
      const metadata: Array<[string, GgufTypedValue]> = alignment ? [['general.alignment', gv.u32(alignment)]] : [];
      const f = save(writeGguf({ metadata, tensors }));
      const { header: h, tensors: back } = readGguf(f);
      expect(h.alignment).toBe(alignment ?? 32);
      expect(h.dataStart % h.alignment).toBe(0);
      for (const t of h.tensors) expect(t.offset % h.alignment).toBe(0);
      expect(h.tensors[0]).toMatchObject({ name: 'w.f32', ne: [5, 3], shape: [3, 5], type: 0 });
      expect(h.tensors.map((t) => t.type)).toEqual([0, 1, 30]);
      expectSameTensors(back, tensors);
    }
  });

  it('dequantises Q8_0 against a hand-computed block', () => {
    // Two blocks (ne = [32, 2] → shape [2, 32]). Block 0: d = 0.5 (f16 0x3800), q_j = j − 16 → 0.5·(j − 16).
    // Block 1: d = −0.25 (f16 0xb400), q_j = 127 for even j, −128 for odd j → −31.75 / 32.
    const bytes = new Uint8Array(68);
    const view = new DataView(bytes.buffer);
    view.setUint16(0, 0x3800, true);
    for (let j = 0; j < 32; j++) view.setInt8(2 + j, j - 16);
    view.setUint16(34, 0xb400, true);
    for (let j = 0; j < 32; j++) view.setInt8(36 + j, j % 2 === 0 ? 127 : -128);
    const expected = [
      ...Array.from({ length: 32 }, (_, j) => 0.5 * (j - 16)),
      ...Array.from({ length: 32 }, (_, j) => (j % 2 === 0 ? -31.75 : 32)),
    ];
    expect(Array.from(dequantizeQ8_0(bytes, 64))).toEqual(expected);
    const f = save(writeGguf({ metadata: [], tensors: new Map([['q', { ggmlType: 8, ne: [32, 2], bytes }]]) }));
    const t = readGguf(f).tensors.get('q')!;
    expect(t.dtype).toBe('f32');
    expect(t.shape).toEqual([2, 32]);
    expect(Array.from(t.data)).toEqual(expected);
  });

  it('refuses other ggml types, naming the tensor and the type', () => {
    const f = save(
      writeGguf({
        metadata: [],
        tensors: new Map([['blk.0.attn_q.weight', { ggmlType: 2, ne: [32, 1], bytes: new Uint8Array(18) }]]),
      }),
    );
    const err = loadError(() => readGguf(f));
    expect(err.message).toContain('tensor blk.0.attn_q.weight has ggml type Q4_0');
    expect(err.details.tensor).toBe('blk.0.attn_q.weight');
  });

  it('refuses a Q8_0 row length that is not a multiple of 32', () => {
    const f = save(
      writeGguf({ metadata: [], tensors: new Map([['q', { ggmlType: 8, ne: [16, 2], bytes: new Uint8Array(34) }]]) }),
    );
    expect(loadError(() => header(f)).message).toContain('not a multiple of 32');
  });
});

describe('GGUF validation', () => {
  it('fails fast, without allocating, on a header claiming 2^60 tensors', () => {
    // The message names the claimed count against the file's size: the header check refused it, before any loop or
    // allocation sized by the count (reading on would end in a different error, at the end of the file).
    const f = save(rawHeader(3, 2n ** 60n, 0n));
    const err = loadError(() => header(f));
    expect(err.message).toContain('1152921504606846976 tensors');
    expect(loadError(() => header(save(rawHeader(3, 0n, 2n ** 62n)))).message).toContain('metadata keys');
  });

  it('fails fast on a 2^40-byte string and a 2^40-element array', () => {
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(2n ** 40n);
    expect(
      loadError(() => header(save(rawHeader(3, 0n, 1n, Buffer.concat([key, Buffer.alloc(64)]))))).message,
    ).toContain('string length 1099511627776 cannot fit');
    // key "k", type 9 (array) of type 4 (u32), count 2^40
    const arr = Buffer.alloc(8 + 1 + 4 + 4 + 8);
    arr.writeBigUInt64LE(1n, 0);
    arr.write('k', 8);
    arr.writeUInt32LE(9, 9);
    arr.writeUInt32LE(4, 13);
    arr.writeBigUInt64LE(2n ** 40n, 17);
    expect(
      loadError(() => header(save(rawHeader(3, 0n, 1n, Buffer.concat([arr, Buffer.alloc(64)]))))).message,
    ).toContain('array length 1099511627776 cannot fit');
  });

  it('rejects truncated files and tensors that run past the end', () => {
    const tensors = new Map([['w', randomTensor('f32', [64, 64], rng(1))]]);
    const buf = writeGguf({ metadata: [['general.name', gv.string('x'.repeat(200))]], tensors });
    const cut = save(buf.subarray(0, buf.length - 4));
    const err = loadError(() => header(cut));
    expect(err.message).toContain('tensor w');
    expect(err.message).toContain('runs past the end');
    expect(err.details).toMatchObject({ file: cut, tensor: 'w' });
    // Cut inside the metadata: the string length no longer fits, or the cursor runs out.
    expect(loadError(() => header(save(buf.subarray(0, 150)))).message).toContain('cannot fit');
    expect(loadError(() => header(save(buf.subarray(0, 40)))).message).toContain('truncated');
  });

  it('rejects misaligned offsets, duplicate keys and unknown value types', () => {
    const buf = writeGguf({ metadata: [], tensors: new Map([['w', randomTensor('f32', [8], rng(1))]]) });
    // The tensor info's u64 offset is the header's last field before padding: point it at byte 4.
    const infoEnd = 24 + 8 + 1 + 4 + 8 + 4;
    buf.writeBigUInt64LE(4n, infoEnd);
    expect(loadError(() => header(save(buf))).message).toContain('offset 4 is not a multiple of 32');
    const dup = writeGguf({
      metadata: [
        ['a', gv.u32(1)],
        ['a', gv.u32(2)],
      ],
      tensors: new Map(),
    });
    expect(loadError(() => header(save(dup))).message).toContain('duplicate metadata key a');
    const bad = writeGguf({ metadata: [['a', gv.u32(1)]], tensors: new Map() });
    bad.writeUInt32LE(13, 24 + 8 + 1);
    expect(loadError(() => header(save(bad))).message).toContain('unknown value type 13');
  });
});
