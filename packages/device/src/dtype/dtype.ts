/**
 * Element types. Storage is always the real bit pattern of the type (f16 and bf16 in 16 bits, fp8 in 8), so that byte
 * counts, copies and views behave as on a device. Inside kernels, floating tiles compute in float32 and are rounded to
 * their dtype after each operation, as GPU and NPU vector units do for 16-bit types.
 */
import {
  bf16BitsFromF32,
  f16BitsFromF32,
  f32FromBf16Bits,
  f32FromF16Bits,
  f32FromFp8e4m3Bits,
  f32FromFp8e5m2Bits,
  fp8e4m3BitsFromF32,
  fp8e5m2BitsFromF32,
  roundBf16,
  roundF16,
} from './float-formats';

export const DTYPES = ['f32', 'f16', 'bf16', 'fp8e4m3', 'fp8e5m2', 'i32', 'i16', 'i8', 'u8'] as const;
export type DType = (typeof DTYPES)[number];

/** Types a tile can have inside a kernel: every storage dtype plus `bool` (comparison results, masks). */
export type TileDType = DType | 'bool';

export type StorageArray = Float32Array | Uint16Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface DTypeInfo {
  readonly name: DType;
  readonly bytes: number;
  readonly kind: 'float' | 'int';
  /** Human name, as vendors write it. */
  readonly label: string;
  /** Integer range (inclusive) or largest finite float. */
  readonly min: number;
  readonly max: number;
}

export const DTYPE_INFO: Readonly<Record<DType, DTypeInfo>> = {
  f32: {
    name: 'f32',
    bytes: 4,
    kind: 'float',
    label: 'float32',
    min: -3.4028234663852886e38,
    max: 3.4028234663852886e38,
  },
  f16: { name: 'f16', bytes: 2, kind: 'float', label: 'float16', min: -65504, max: 65504 },
  bf16: {
    name: 'bf16',
    bytes: 2,
    kind: 'float',
    label: 'bfloat16',
    min: -3.3895313892515355e38,
    max: 3.3895313892515355e38,
  },
  fp8e4m3: { name: 'fp8e4m3', bytes: 1, kind: 'float', label: 'float8 e4m3', min: -448, max: 448 },
  fp8e5m2: { name: 'fp8e5m2', bytes: 1, kind: 'float', label: 'float8 e5m2', min: -57344, max: 57344 },
  i32: { name: 'i32', bytes: 4, kind: 'int', label: 'int32', min: -2147483648, max: 2147483647 },
  i16: { name: 'i16', bytes: 2, kind: 'int', label: 'int16', min: -32768, max: 32767 },
  i8: { name: 'i8', bytes: 1, kind: 'int', label: 'int8', min: -128, max: 127 },
  u8: { name: 'u8', bytes: 1, kind: 'int', label: 'uint8', min: 0, max: 255 },
};

const ALIASES: Record<string, DType> = {
  float32: 'f32',
  float: 'f32',
  fp32: 'f32',
  float16: 'f16',
  half: 'f16',
  fp16: 'f16',
  bfloat16: 'bf16',
  int32: 'i32',
  int: 'i32',
  int16: 'i16',
  int8: 'i8',
  uint8: 'u8',
  fp8: 'fp8e4m3',
  e4m3: 'fp8e4m3',
  e5m2: 'fp8e5m2',
  float8_e4m3fn: 'fp8e4m3',
  float8_e5m2: 'fp8e5m2',
};

/** Parses a dtype name, accepting common aliases (`float32`, `half`, `bfloat16`, `int8`, …); undefined if unknown. */
export function parseDType(name: string): DType | undefined {
  const n = name.trim().toLowerCase();
  if ((DTYPES as readonly string[]).includes(n)) return n as DType;
  return ALIASES[n];
}

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function isFloat(d: TileDType): boolean {
  return d !== 'bool' && DTYPE_INFO[d].kind === 'float';
}

export function isFp8(d: TileDType): boolean {
  return d === 'fp8e4m3' || d === 'fp8e5m2';
}

export function dtypeBytes(d: TileDType): number {
  return d === 'bool' ? 1 : DTYPE_INFO[d].bytes;
}

/** Allocates raw storage for `count` elements of `dtype` (bit patterns, not values). */
export function allocStorage(dtype: DType, count: number): StorageArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(count);
    case 'f16':
    case 'bf16':
      return new Uint16Array(count);
    case 'i32':
      return new Int32Array(count);
    case 'i16':
      return new Int16Array(count);
    case 'i8':
      return new Int8Array(count);
    case 'u8':
    case 'fp8e4m3':
    case 'fp8e5m2':
      return new Uint8Array(count);
  }
}

/** Storage view over an existing ArrayBuffer region. */
export function storageView(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, count: number): StorageArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(buffer, byteOffset, count);
    case 'f16':
    case 'bf16':
      return new Uint16Array(buffer, byteOffset, count);
    case 'i32':
      return new Int32Array(buffer, byteOffset, count);
    case 'i16':
      return new Int16Array(buffer, byteOffset, count);
    case 'i8':
      return new Int8Array(buffer, byteOffset, count);
    case 'u8':
    case 'fp8e4m3':
    case 'fp8e5m2':
      return new Uint8Array(buffer, byteOffset, count);
  }
}

/** Decoder from stored bits to a JS number, or null when the storage already holds values (f32, integers). */
export function bitsDecoder(dtype: DType): ((bits: number) => number) | null {
  switch (dtype) {
    case 'f16':
      return f32FromF16Bits;
    case 'bf16':
      return f32FromBf16Bits;
    case 'fp8e4m3':
      return f32FromFp8e4m3Bits;
    case 'fp8e5m2':
      return f32FromFp8e5m2Bits;
    default:
      return null;
  }
}

/** Encoder from a JS number to stored bits (round-to-nearest-even), or null when storage holds values directly. */
export function bitsEncoder(dtype: DType): ((x: number) => number) | null {
  switch (dtype) {
    case 'f16':
      return f16BitsFromF32;
    case 'bf16':
      return bf16BitsFromF32;
    case 'fp8e4m3':
      return fp8e4m3BitsFromF32;
    case 'fp8e5m2':
      return fp8e5m2BitsFromF32;
    default:
      return null;
  }
}

/**
 * Converts a number to the value `dtype` would hold: floats round to nearest even (fp8 saturates), integers convert
 * as C casts from float do on GPUs with saturation (`cvt.rzi.sat`): truncate toward zero, clamp to range, NaN → 0.
 */
export function castScalar(x: number, dtype: TileDType): number {
  switch (dtype) {
    case 'f32':
      return Math.fround(x);
    case 'f16':
      return roundF16(x);
    case 'bf16':
      return roundBf16(x);
    case 'fp8e4m3':
      return f32FromFp8e4m3Bits(fp8e4m3BitsFromF32(x));
    case 'fp8e5m2':
      return f32FromFp8e5m2Bits(fp8e5m2BitsFromF32(x));
    case 'bool':
      return x !== 0 && !Number.isNaN(x) ? 1 : 0;
    default: {
      const info = DTYPE_INFO[dtype];
      if (Number.isNaN(x)) return 0;
      const t = Math.trunc(x);
      return t < info.min ? info.min : t > info.max ? info.max : t;
    }
  }
}

/** Wraps an integer to the dtype's width (two's complement), as integer arithmetic on a device does. */
export function wrapInt(x: number, dtype: 'i32' | 'i16' | 'i8' | 'u8'): number {
  switch (dtype) {
    case 'i32':
      return x | 0;
    case 'i16':
      return (x << 16) >> 16;
    case 'i8':
      return (x << 24) >> 24;
    case 'u8':
      return x & 0xff;
  }
}

/** Host-side typed arrays accepted by copies, and the dtype each one carries. */
export type HostArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | number[];

export function hostArrayDType(a: HostArray): string {
  if (Array.isArray(a)) return 'number[]';
  return a.constructor.name;
}
