/**
 * GGUF v3 writer: typed metadata (every value type, arrays nested or not) and F32/F16/BF16 tensors, plus raw tensors
 * of any ggml type (tests use them for Q8_0 and unsupported types). Tensor data is aligned to `general.alignment`
 * (32 unless the metadata sets it), as llama.cpp requires.
 */
import type { HostTensor } from '@tessera/serve';
import { alignUp, assertTensorConsistent, tensorBytes } from './binary';
import { GGML_TYPE, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_TYPE } from './gguf';

export type GgufScalarType = Exclude<keyof typeof GGUF_TYPE, 'array'>;

/** A metadata value with its GGUF type. */
export type GgufTypedValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | GgufTypedArray;

export type GgufTypedArray =
  | { type: 'array'; itemType: GgufScalarType; value: readonly (number | bigint | boolean | string)[] }
  | { type: 'array'; itemType: 'array'; value: readonly GgufTypedArray[] };

/** Shorthands: `gv.u32(3)`, `gv.strings(['a'])`, `gv.array('i32', [1, 2])`. */
export const gv = {
  u32: (value: number): GgufTypedValue => ({ type: 'u32', value }),
  i32: (value: number): GgufTypedValue => ({ type: 'i32', value }),
  f32: (value: number): GgufTypedValue => ({ type: 'f32', value }),
  u64: (value: number | bigint): GgufTypedValue => ({ type: 'u64', value }),
  bool: (value: boolean): GgufTypedValue => ({ type: 'bool', value }),
  string: (value: string): GgufTypedValue => ({ type: 'string', value }),
  strings: (value: readonly string[]): GgufTypedArray => ({ type: 'array', itemType: 'string', value }),
  array: (itemType: GgufScalarType, value: readonly (number | bigint | boolean | string)[]): GgufTypedArray => ({
    type: 'array',
    itemType,
    value,
  }),
};

/** A tensor given as stored bytes of any ggml type, `ne` fastest-varying first. */
export interface GgufRawTensor {
  ggmlType: number;
  ne: number[];
  bytes: Uint8Array;
}

export interface GgufWriteInput {
  metadata: ReadonlyArray<readonly [string, GgufTypedValue]>;
  /** By GGUF name; HostTensor shapes are outermost first (written as ne reversed). */
  tensors: ReadonlyMap<string, HostTensor | GgufRawTensor>;
  /** 3 (default) or 2: the layouts are identical, only the number differs. */
  version?: 2 | 3;
}

const SIZES: Record<GgufScalarType, number> = {
  u8: 1,
  i8: 1,
  bool: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  u64: 8,
  i64: 8,
  f64: 8,
  string: 0,
};

/** Appends little-endian values to one growing buffer (a vocabulary is ~10^5 values: no allocation per value). */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const grown = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // reserve() may replace this.buf, so it runs before this.buf is read.
  push(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  num(type: GgufScalarType, v: number | bigint | boolean): void {
    const at = this.reserve(SIZES[type]);
    const b = this.buf;
    switch (type) {
      case 'u8':
        b.writeUInt8(v as number, at);
        break;
      case 'i8':
        b.writeInt8(v as number, at);
        break;
      case 'bool':
        b.writeUInt8(v ? 1 : 0, at);
        break;
      case 'u16':
        b.writeUInt16LE(v as number, at);
        break;
      case 'i16':
        b.writeInt16LE(v as number, at);
        break;
      case 'u32':
        b.writeUInt32LE(v as number, at);
        break;
      case 'i32':
        b.writeInt32LE(v as number, at);
        break;
      case 'f32':
        b.writeFloatLE(v as number, at);
        break;
      case 'f64':
        b.writeDoubleLE(v as number, at);
        break;
      case 'u64':
        b.writeBigUInt64LE(BigInt(v as number | bigint), at);
        break;
      case 'i64':
        b.writeBigInt64LE(BigInt(v as number | bigint), at);
        break;
      default:
        throw new Error(`GGUF writer: ${type} is not a numeric type.`);
    }
  }
  string(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.num('u64', n);
    const at = this.reserve(n);
    this.buf.write(s, at, 'utf8');
  }
  /** Zero bytes up to the next multiple of `align` (fresh buffer space is zero-filled). */
  pad(align: number): void {
    this.reserve(alignUp(this.length, align) - this.length);
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeArray(out: Bytes, a: GgufTypedArray): void {
  out.num('u32', GGUF_TYPE[a.itemType]);
  out.num('u64', a.value.length);
  for (const item of a.value) {
    if (a.itemType === 'array') writeArray(out, item as GgufTypedArray);
    else if (a.itemType === 'string') out.string(item as string);
    else out.num(a.itemType, item as number | bigint | boolean);
  }
}

function writeValue(out: Bytes, v: GgufTypedValue): void {
  out.num('u32', GGUF_TYPE[v.type]);
  if (v.type === 'array') writeArray(out, v);
  else if (v.type === 'string') out.string(v.value);
  else out.num(v.type, v.value);
}

const TYPE_OF: Record<HostTensor['dtype'], number> = { f32: GGML_TYPE.F32, f16: GGML_TYPE.F16, bf16: GGML_TYPE.BF16 };

/** Serialises a GGUF file. */
export function writeGguf(input: GgufWriteInput): Buffer {
  const align = input.metadata.find(([k]) => k === 'general.alignment')?.[1];
  const alignment = align === undefined ? GGUF_DEFAULT_ALIGNMENT : Number(align.value);
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new Error(`writeGguf: general.alignment ${alignment} is not a power of two.`);
  }
  const head = new Bytes();
  head.num('u32', GGUF_MAGIC);
  head.num('u32', input.version ?? 3);
  head.num('u64', input.tensors.size);
  head.num('u64', input.metadata.length);
  for (const [key, value] of input.metadata) {
    head.string(key);
    writeValue(head, value);
  }
  const data = new Bytes();
  for (const [name, t] of input.tensors) {
    let ne: number[];
    let type: number;
    let bytes: Uint8Array;
    if ('ggmlType' in t) {
      ({ ne, bytes } = t);
      type = t.ggmlType;
    } else {
      assertTensorConsistent(name, t);
      ne = [...t.shape].reverse();
      type = TYPE_OF[t.dtype];
      bytes = tensorBytes(t);
    }
    data.pad(alignment);
    head.string(name);
    head.num('u32', ne.length);
    for (const d of ne) head.num('u64', d);
    head.num('u32', type);
    head.num('u64', data.length);
    data.push(bytes);
  }
  head.pad(alignment);
  return Buffer.concat([head.bytes(), data.bytes()]);
}
