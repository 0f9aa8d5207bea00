/**
 * GGUF reader (versions 2 and 3; both little-endian, identical layout):
 *
 *   magic "GGUF" · u32 version · u64 tensor count · u64 KV count
 *   KV × count:      string key (u64 length + UTF-8) · u32 value type · value
 *   tensor info × n: string name · u32 n_dims · u64 ne[n_dims] (fastest-varying first) · u32 ggml type · u64 offset
 *   padding to `general.alignment` (default 32) · data section (tensor offsets relative to its start, aligned)
 *
 * Every count and length is checked against the bytes left in the file before anything is allocated, so a header
 * claiming 2^60 tensors or a 2^40-byte string fails at once. Tensors come back with shape outermost first:
 * ne = [in, out] is shape [out, in]. F32/F16/BF16 are returned as stored; Q8_0 is dequantised to f32.
 */

import { f32FromF16Bits } from '@tessera/device';
import type { HostTensor, WeightDType } from '@tessera/serve';
import { ModelLoadError } from '../errors';
import { alignUp, checkCount, fmtShape, formatError, type RandomAccessFile, readTensor, withFile } from './binary';

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types, by their numeric code. */
export const GGUF_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

/** A metadata value: numbers (u64/i64 beyond 2^53 stay bigint), booleans, strings, arrays (possibly nested). */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** ggml tensor type names, for messages (llama.cpp's ggml_type enum). */
// biome-ignore format: a lookup table reads better packed
export const GGML_TYPE_NAMES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K',
  12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S',
  20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64',
  29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
export const Q8_0_BLOCK = 32;
/** A Q8_0 block: f16 scale + 32 int8. */
export const Q8_0_BLOCK_BYTES = 34;

export function ggmlTypeName(type: number): string {
  return GGML_TYPE_NAMES[type] ?? `type ${type}`;
}

export interface GgufTensorInfo {
  name: string;
  /** Dims as stored, fastest-varying first. */
  ne: number[];
  /** Dims outermost first (ne reversed), as HostTensor uses. */
  shape: number[];
  type: number;
  /** Offset within the data section. */
  offset: number;
  /** Bytes of data, for the types we read; null for the others (they are refused when read). */
  nbytes: number | null;
}

export interface GgufHeader {
  file: string;
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute offset of the data section. */
  dataStart: number;
}

/** Smallest encoding of one array element of each type: element counts are checked against the bytes left with it. */
const MIN_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];

/** Decoders of the fixed-size value types by code (strings and arrays, 8 and 9, are read by readValue). */
const SCALAR_READERS: Array<((b: Buffer, o: number) => GgufValue) | undefined> = [
  (b, o) => b.readUInt8(o),
  (b, o) => b.readInt8(o),
  (b, o) => b.readUInt16LE(o),
  (b, o) => b.readInt16LE(o),
  (b, o) => b.readUInt32LE(o),
  (b, o) => b.readInt32LE(o),
  (b, o) => b.readFloatLE(o),
  (b, o) => b.readUInt8(o) !== 0,
  undefined,
  undefined,
  (b, o) => big(b.readBigUInt64LE(o)),
  (b, o) => big(b.readBigInt64LE(o)),
  (b, o) => b.readDoubleLE(o),
];

/** Reads the header sequentially through a window of the file, refilled on demand (never the whole file at once). */
class Cursor {
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;

  constructor(private readonly f: RandomAccessFile) {}

  get remaining(): number {
    return this.f.size - this.pos;
  }

  /** Throws a ModelFormatError for `field` (a header field, metadata key or tensor). */
  fail(field: string, message: string, options: { limit?: string; tensor?: string } = {}): never {
    throw formatError(this.f.path, field, message, options);
  }

  private need(n: number): number {
    if (n > this.remaining) {
      this.fail(
        'header',
        `truncated: needs ${n} more bytes at offset ${this.pos}, but the file is ${this.f.size} bytes.`,
        {
          limit: `${this.f.size} bytes`,
        },
      );
    }
    const at = this.pos - this.bufStart;
    if (at < 0 || at + n > this.buf.length) {
      const len = Math.min(Math.max(n, 1 << 20), this.remaining);
      this.buf = this.f.read(this.pos, len);
      this.bufStart = this.pos;
    }
    const i = this.pos - this.bufStart;
    this.pos += n;
    return i;
  }

  // need() may swap in a new window, so it runs before this.buf is read (hence the separate statements).
  u32(): number {
    const i = this.need(4);
    return this.buf.readUInt32LE(i);
  }
  u64(): bigint {
    const i = this.need(8);
    return this.buf.readBigUInt64LE(i);
  }

  /** One value of a fixed-size type (codes 0–7, 10–12). */
  scalar(type: number): GgufValue {
    const i = this.need(MIN_BYTES[type]!);
    return SCALAR_READERS[type]!(this.buf, i);
  }

  /** `n` values of a fixed-size type read in one go (vocabularies hold ~10^5 of them). */
  numbers(type: number, n: number): GgufValue[] {
    const size = MIN_BYTES[type]!;
    const at = this.need(n * size);
    const read = SCALAR_READERS[type]!;
    const out: GgufValue[] = new Array(n);
    for (let k = 0; k < n; k++) out[k] = read(this.buf, at + k * size);
    return out;
  }

  /** A u64 count or length, refused before use when `count × minBytes` cannot fit in the rest of the file. */
  count(field: string, what: string, minBytes: number): number {
    const n = this.u64();
    return checkCount(n, minBytes, this.remaining, { file: this.f.path, field, what });
  }

  string(field: string, what = `${field}: string length`): string {
    const len = this.count(field, what, 1);
    const i = this.need(len);
    return this.buf.toString('utf8', i, i + len);
  }
}

/**
 * The shortest decimal that rounds to the same f32 (1e-5 rather than 9.99999974737875e-6), so scalar hyperparameters
 * such as layer_norm_rms_epsilon read back as written. Arrays (token scores) keep the exact f32 value.
 */
export function shortestF32(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let p = 1; p < 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

/** u64/i64 → number when exactly representable, else bigint. */
function big(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readValue(c: Cursor, type: number, key: string, depth: number): GgufValue {
  if (type === GGUF_TYPE.string) return c.string(key);
  if (type === GGUF_TYPE.array) {
    if (depth > 8) c.fail(key, `key ${key}: arrays nested more than 8 deep.`, { limit: '8 levels' });
    const itemType = c.u32();
    if (itemType > 12) c.fail(key, `key ${key}: unknown array item type ${itemType}.`, { limit: 'types 0–12' });
    const n = c.count(key, `key ${key}: array length`, MIN_BYTES[itemType]!);
    if (itemType !== GGUF_TYPE.string && itemType !== GGUF_TYPE.array) return c.numbers(itemType, n);
    const out: GgufValue[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = readValue(c, itemType, key, depth + 1);
    return out;
  }
  if (type > 12) c.fail(key, `key ${key}: unknown value type ${type}.`, { limit: 'types 0–12' });
  const v = c.scalar(type);
  return type === GGUF_TYPE.f32 && depth === 0 ? shortestF32(v as number) : v;
}

/** Bytes of a tensor of `type` with `n` elements, for the types this reader decodes; null for the rest. */
function tensorBytes(type: number, ne: number[], n: number, c: Cursor, name: string): number | null {
  switch (type) {
    case GGML_TYPE.F32:
      return n * 4;
    case GGML_TYPE.F16:
    case GGML_TYPE.BF16:
      return n * 2;
    case GGML_TYPE.Q8_0:
      if ((ne[0] ?? 1) % Q8_0_BLOCK !== 0)
        c.fail(`${name}.ne[0]`, `tensor ${name}: Q8_0 row length ${ne[0]} is not a multiple of 32.`, {
          tensor: name,
        });
      return (n / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
    default:
      return null;
  }
}

/** Parses and validates the header: metadata, tensor infos, alignment, and every tensor's bytes inside the file. */
export function readGgufHeader(f: RandomAccessFile): GgufHeader {
  const c: Cursor = new Cursor(f);
  if (f.size < 24) c.fail('header', `file is ${f.size} bytes, too short for a GGUF header (truncated?).`);
  if (c.u32() !== GGUF_MAGIC) c.fail('magic', 'does not start with the GGUF magic.');
  const version = c.u32();
  if (version === 0x02000000 || version === 0x03000000)
    c.fail('version', 'is a big-endian GGUF; only little-endian is supported.');
  if (version !== 2 && version !== 3) c.fail('version', `GGUF version ${version} is unsupported (only 2 and 3).`);
  const nTensors = c.u64();
  const nKv = c.u64();
  // Smallest KV: 8-byte key length + 4-byte type + 1-byte value; smallest tensor info: 8 + 4 + 4 + 8 bytes.
  if (nKv * 13n + nTensors * 24n > BigInt(c.remaining)) {
    c.fail(
      'tensor_count/kv_count',
      `header claims ${nTensors} tensors and ${nKv} metadata keys, more than the file's ${f.size} bytes can hold (truncated or corrupt).`,
      { limit: '13 bytes per key and 24 per tensor info' },
    );
  }
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < Number(nKv); i++) {
    const key = c.string(`metadata key ${i}`);
    if (metadata.has(key)) c.fail(key, `duplicate metadata key ${key}.`);
    metadata.set(key, readValue(c, c.u32(), key, 0));
  }
  const alignment = metadata.get('general.alignment') ?? GGUF_DEFAULT_ALIGNMENT;
  if (
    typeof alignment !== 'number' ||
    !(alignment >= 1 && alignment <= 2 ** 30 && Number.isInteger(Math.log2(alignment)))
  ) {
    c.fail('general.alignment', `general.alignment ${String(alignment)} is not a power of two.`, {
      limit: 'a power of two up to 2^30',
    });
  }
  const tensors: GgufTensorInfo[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < Number(nTensors); i++) {
    const name = c.string(`tensor info ${i}`, `tensor info ${i}: name length`);
    if (seen.has(name)) c.fail(name, `duplicate tensor ${name}.`, { tensor: name });
    seen.add(name);
    const nDims = c.u32();
    if (nDims > 4)
      c.fail(`${name}.n_dims`, `tensor ${name}: ${nDims} dimensions (ggml allows at most 4).`, { tensor: name });
    const ne: number[] = [];
    let n = 1;
    for (let d = 0; d < nDims; d++) {
      const v = c.u64();
      if (v > BigInt(f.size) * 8n) {
        c.fail(`${name}.ne[${d}]`, `tensor ${name}: dimension ${v} is larger than the file could hold.`, {
          limit: `8 × the file's ${f.size} bytes`,
          tensor: name,
        });
      }
      ne.push(Number(v));
      n *= Number(v);
    }
    const type = c.u32();
    const offset = c.u64();
    if (offset > BigInt(f.size)) {
      c.fail(`${name}.offset`, `tensor ${name}: offset ${offset} is past the end of the file.`, {
        limit: `${f.size} bytes`,
        tensor: name,
      });
    }
    tensors.push({
      name,
      ne,
      shape: [...ne].reverse(),
      type,
      offset: Number(offset),
      nbytes: tensorBytes(type, ne, n, c, name),
    });
  }
  const dataStart = alignUp(c.pos, alignment);
  const dataSize = f.size - dataStart;
  for (const t of tensors) {
    if (t.offset % alignment !== 0)
      c.fail(`${t.name}.offset`, `tensor ${t.name}: offset ${t.offset} is not a multiple of ${alignment}.`, {
        tensor: t.name,
      });
    if (t.nbytes !== null && !(t.offset + t.nbytes <= dataSize)) {
      c.fail(
        `${t.name}.offset`,
        `tensor ${t.name} (${ggmlTypeName(t.type)} ${fmtShape(t.shape)}, ${t.nbytes} bytes at data offset ${t.offset}) ` +
          `runs past the end of the file (data section ${Math.max(dataSize, 0)} bytes; truncated?).`,
        { limit: `${Math.max(dataSize, 0)} bytes of data`, tensor: t.name },
      );
    }
  }
  return { file: f.path, version, metadata, tensors, alignment, dataStart };
}

/** Dequantises Q8_0 blocks (per 32 values: f16 scale d, then 32 int8 q; value = d · q) to f32. */
export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / Q8_0_BLOCK; b++) {
    const base = b * Q8_0_BLOCK_BYTES;
    const d = f32FromF16Bits(view.getUint16(base, true));
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * view.getInt8(base + 2 + j);
  }
  return out;
}

const PLAIN: Record<number, WeightDType> = { [GGML_TYPE.F32]: 'f32', [GGML_TYPE.F16]: 'f16', [GGML_TYPE.BF16]: 'bf16' };

/** Reads one tensor's data (F32/F16/BF16 as stored; Q8_0 dequantised to f32; anything else refused). */
export function readGgufTensor(f: RandomAccessFile, header: GgufHeader, t: GgufTensorInfo): HostTensor {
  const at = header.dataStart + t.offset;
  const plain = PLAIN[t.type];
  if (plain) return readTensor(f, at, plain, t.shape);
  if (t.type === GGML_TYPE.Q8_0 && t.nbytes !== null) {
    const n = t.ne.reduce((a, b) => a * b, 1);
    return { dtype: 'f32', shape: t.shape, data: dequantizeQ8_0(f.read(at, t.nbytes), n) };
  }
  throw new ModelLoadError(
    `${f.path}: tensor ${t.name} has ggml type ${ggmlTypeName(t.type)}; only F32, F16, BF16 and Q8_0 are supported.`,
    { file: f.path, tensor: t.name, hint: 'Re-quantise with llama-quantize to Q8_0, or convert to F16/BF16.' },
  );
}

export interface GgufContents {
  header: GgufHeader;
  /** Tensors by their GGUF names, shape outermost first. */
  tensors: Map<string, HostTensor>;
}

/** Reads a GGUF file's header and the tensors `select` picks (default all). */
export function readGguf(file: string, options: { select?: (name: string) => boolean } = {}): GgufContents {
  return withFile(file, (f) => {
    const header = readGgufHeader(f);
    const tensors = new Map<string, HostTensor>();
    for (const t of header.tensors)
      if (!options.select || options.select(t.name)) tensors.set(t.name, readGgufTensor(f, header, t));
    return { header, tensors };
  });
}
