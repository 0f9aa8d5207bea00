/**
 * The runtime library of compiled kernels: everything generated code (and the IR interpreter) calls that is not
 * written out inline — conversions between dtypes with the tile language's exact rounding, the bit encodings of
 * 16- and 8-bit floats in buffers, faults with messages naming kernel, program and element, `dot` on the WebAssembly SIMD
 * micro-kernel, sorting.
 *
 * Nothing here holds per-launch state: a launch is described by a `LaunchArgs` (typed-array views of device memory,
 * scalars, host arrays, names for messages), which is plain data a worker thread can receive, and this module is code
 * a worker can import. The one process-wide state is the `dot` kernel's (see kernel/dot.ts).
 */
import { castScalar, DTYPE_INFO, type DType, isFloat, type StorageArray, type TileDType } from '../../dtype/dtype';
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
  roundTf32,
} from '../../dtype/float-formats';
import { errorOfName, TesseraError } from '../../errors';
import { dotF32, dotI32, dotUsesWasm, forgetDotOutput } from '../../kernel/dot';
import { erf, rint } from '../../kernel/math';

// Tile storage (kernel/tile-data.ts): float dtypes hold f32 values in a Float32Array, integers an Int32Array, bool a
// Uint8Array — one representation for the interpreter, this runtime and the cost analysis.
import type { TileData } from '../../kernel/tile-data';

export { allocTileData as allocTile, finishData as finishArray, kindOf, type TileData } from '../../kernel/tile-data';

/** Something that can name a buffer in a message (a DeviceBuffer on the main thread). */
export interface Describable {
  describe(): string;
}

/**
 * One launch as compiled code sees it. Plain data (typed arrays over SharedArrayBuffers, numbers, strings), so the
 * same object can be posted to a worker; on the main thread `buffers` names buffers lazily (no string is built unless
 * a fault needs it).
 */
export interface LaunchArgs {
  kernel: string;
  /** The device's label, for fault details. */
  device: string;
  grid: readonly [number, number, number];
  /** Storage (bit patterns) of each buffer parameter, in parameter order. */
  mem: StorageArray[];
  /** Scalar parameters (i32 / u32 / i64 / f32), in parameter order. */
  scalars: number[];
  /**
   * The same split by kind (optional; `launchArgs` fills them): integer parameters apart from f32 ones, so that V8
   * keeps them as small integers — one f32 value in an array makes every element a double, and every index computed
   * from them a float operation (measured: 1.5–2 ns per element in a streaming kernel). Generated code reads these
   * when present, else `scalars`.
   */
  ints?: number[];
  floats?: number[];
  /** Host-array parameters (i32[] / f32[]), in parameter order. */
  arrays: (readonly number[])[];
  /** Buffer descriptions for messages: `buffers[k].describe()` or, in a worker, `names[k]`. */
  buffers?: readonly Describable[];
  names?: readonly string[];
}

export function bufferName(L: LaunchArgs, k: number): string {
  if (L.buffers) return L.buffers[k]!.describe();
  return L.names?.[k] ?? `buffer ${k}`;
}

export function location(L: LaunchArgs, x: number, y: number, z: number): string {
  return `kernel '${L.kernel}' program (${x}, ${y}, ${z})`;
}

// ------------------------------------------------------------------------------------------------ conversions

/** Decode tables: the values `bitsDecoder` gives, looked up by bit pattern. */
export const F16_TABLE: Float32Array = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f32FromF16Bits(h);
  return t;
})();
export const E4M3_TABLE: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = f32FromFp8e4m3Bits(b);
  return t;
})();
export const E5M2_TABLE: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = f32FromFp8e5m2Bits(b);
  return t;
})();

export const castE4M3 = (x: number): number => E4M3_TABLE[fp8e4m3BitsFromF32(x)]!;
export const castE5M2 = (x: number): number => E5M2_TABLE[fp8e5m2BitsFromF32(x)]!;

/** Float (or any number) → integer dtype: truncate, saturate, NaN → 0 (`castScalar`), as a normalised int (no −0). */
export function toI32(x: number): number {
  return Number.isNaN(x) ? 0 : x < -2147483648 ? -2147483648 : x > 2147483647 ? 2147483647 : x | 0;
}
export function toI16(x: number): number {
  return Number.isNaN(x) ? 0 : x < -32768 ? -32768 : x > 32767 ? 32767 : x | 0;
}
export function toI8(x: number): number {
  return Number.isNaN(x) ? 0 : x < -128 ? -128 : x > 127 ? 127 : x | 0;
}
export function toU8(x: number): number {
  return Number.isNaN(x) ? 0 : x < 0 ? 0 : x > 255 ? 255 : x | 0;
}
export function toBool(x: number): number {
  return x !== 0 && !Number.isNaN(x) ? 1 : 0;
}

/**
 * `castScalar(x, dtype)` as the value a tile of `dtype` holds once stored (integers normalised, so −0 never reaches an
 * integer tile: an Int32Array cannot hold it).
 */
export function castTo(x: number, dtype: TileDType): number {
  if (dtype === 'bool') return toBool(x);
  const v = castScalar(x, dtype);
  return isFloat(dtype) ? v : v | 0;
}

/** What storing `x` into a tile of `dtype` leaves (the typed array's conversion, then `finishData`). */
export function finishValue(x: number, dtype: TileDType): number {
  switch (dtype) {
    case 'f32':
    case 'fp8e4m3':
    case 'fp8e5m2':
      return Math.fround(x);
    case 'f16':
      return roundF16(x);
    case 'bf16':
      return roundBf16(x);
    case 'i32':
      return x | 0;
    case 'i16':
      return (x << 16) >> 16;
    case 'i8':
      return (x << 24) >> 24;
    case 'u8':
      return x & 0xff;
    case 'bool':
      return x & 0xff;
  }
}

/** Stored bits → value (null: the storage holds values). */
export function decoderOf(dtype: DType): ((bits: number) => number) | null {
  switch (dtype) {
    case 'f16':
      return (h) => F16_TABLE[h]!;
    case 'bf16':
      return f32FromBf16Bits;
    case 'fp8e4m3':
      return (b) => E4M3_TABLE[b]!;
    case 'fp8e5m2':
      return (b) => E5M2_TABLE[b]!;
    default:
      return null;
  }
}

// ------------------------------------------------------------------------------------------------------ faults

const ADDRESS_HINT =
  'Mask the access (e.g. t.load(x, offs, { mask: offs.lt(n) })) or fix the index math. ' +
  'The device is now in an error state, as after a CUDA illegal-address fault: call device.reset().';

/** An active lane outside its buffer (memory-ops.ts `fault`). */
export function fault(
  L: LaunchArgs,
  op: string,
  k: number,
  index: number,
  x: number,
  y: number,
  z: number,
): TesseraError {
  const len = L.mem[k]!.length;
  return new TesseraError(
    'IllegalAddress',
    `${location(L, x, y, z)}: ${op} of ${bufferName(L, k)} at element ${index} is out of bounds (valid 0..${len - 1}).`,
    { hint: ADDRESS_HINT, device: L.device, kernel: L.kernel, index },
  );
}

/**
 * A fault found where its place in program order is unknown: the caller re-runs the program with the IR interpreter,
 * which raises the exact one. Memory a faulting launch wrote is unobservable (the device is sticky until reset), so
 * only the error matters. The current generator never needs it (fused gathers flag bad lanes and replay their checks
 * in program order); runners keep handling it.
 */
export class Refault {
  constructor(
    readonly op: string,
    readonly buffer: number,
    readonly index: number,
    readonly pid: readonly [number, number, number],
  ) {}
}

export function refault(op: string, k: number, index: number, x: number, y: number, z: number): Refault {
  return new Refault(op, k, index, [x, y, z]);
}

/** `t.tensor(...)`'s checks in their order (memory-ops.ts `tensor`); throws the first that fails. */
export function viewError(
  L: LaunchArgs,
  k: number,
  offset: number,
  shape: readonly number[],
  strides: readonly number[],
  x: number,
  y: number,
  z: number,
): void {
  const what = `${location(L, x, y, z)}: tensor`;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new TesseraError('InvalidValue', `${what}: shape [${shape.join(', ')}] must hold integers ≥ 0.`);
    }
  }
  if (!Number.isInteger(offset) || offset < 0) {
    throw new TesseraError('InvalidValue', `${what}: offset ${offset} must be an integer ≥ 0.`);
  }
  if (strides.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new TesseraError(
      'InvalidValue',
      `${what}: strides [${strides.join(', ')}] must be ${shape.length} integers ≥ 0.`,
    );
  }
  let size = 1;
  for (const d of shape) size *= d;
  if (size > 0) {
    let last = offset;
    for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * strides[d]!;
    if (last >= L.mem[k]!.length) {
      throw new TesseraError(
        'IllegalAddress',
        `${what}: a [${shape.join(', ')}] view with strides [${strides.join(', ')}] at offset ${offset} reaches element ${last}, past the end of ${bufferName(L, k)}.`,
        {
          hint: 'Check the shape and strides against the buffer you allocated; then call device.reset().',
          device: L.device,
        },
      );
    }
  }
}

/** A block offset that is not an integer (memory-ops.ts `checkBlock`). */
export function blockAtError(L: LaunchArgs, op: string, at: readonly number[], x: number, y: number, z: number): void {
  for (const v of at) {
    if (!Number.isInteger(v)) {
      throw new TesseraError('InvalidValue', `${location(L, x, y, z)}: ${op}: offset ${v} is not an integer.`);
    }
  }
}

/** `t.arange(start, end)` with a start that is not an integer. */
export function arangeError(L: LaunchArgs, start: number, size: number, x: number, y: number, z: number): TesseraError {
  return new TesseraError(
    'InvalidValue',
    `${location(L, x, y, z)}: arange(${start}, ${start + size}) needs integers with end ≥ start.`,
  );
}

/** A scalar gather/scatter offset that is not an integer (memory-ops.ts `intTile`). */
export function offsetError(L: LaunchArgs, what: string, v: number, x: number, y: number, z: number): TesseraError {
  return new TesseraError('InvalidValue', `${location(L, x, y, z)}: ${what} ${v} is not an integer.`);
}

/** A `throw` in the kernel reached at run time (the IR's `trap`): a sticky LaunchFailure, as execute.ts reports it. */
export function trap(L: LaunchArgs, message: string, x: number, y: number, z: number, name = 'Error'): TesseraError {
  return new TesseraError('LaunchFailure', `${location(L, x, y, z)} threw ${name}: ${message}.`, {
    hint:
      'Fix the kernel body. The device is now in an error state, as after a CUDA kernel fault: every call on it ' +
      'fails until device.reset(), which releases its memory (what the launch wrote is undefined).',
    device: L.device,
    kernel: L.kernel,
    program: [x, y, z],
    cause: errorOfName(name, message),
  });
}

// --------------------------------------------------------------------------------------------------------- dot

/**
 * c = acc + a·b (float operands on f32 storage, accumulating in f32 with sequential rounding; kernel/dot.ts).
 * `acc` null means zeros. `c` may be `acc` (a K loop accumulating in place: the kernel then skips copying it in, when
 * it is still the last output of the WebAssembly kernel); generated code calls `dotForget` after writing a buffer that
 * a dot also writes by any other means, so "still the last output" stays true to its contents.
 */
export function dotF32Into(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  M: number,
  N: number,
  K: number,
  acc: Float32Array | null,
): void {
  if (acc === null) {
    c.fill(0);
    forgetDotOutput(c);
    dotF32(a, b, c, M, N, K);
  } else if (acc === c) {
    dotF32(a, b, c, M, N, K);
  } else {
    forgetDotOutput(c);
    dotF32(a, b, c, M, N, K, acc);
  }
  if (!dotUsesWasm(M, N, K)) forgetDotOutput(c);
}

export function dotI32Into(
  a: Int32Array,
  b: Int32Array,
  c: Int32Array,
  M: number,
  N: number,
  K: number,
  acc: Int32Array | null,
): void {
  if (acc === null) {
    c.fill(0);
    forgetDotOutput(c);
    dotI32(a, b, c, M, N, K);
  } else if (acc === c) {
    dotI32(a, b, c, M, N, K);
  } else {
    forgetDotOutput(c);
    dotI32(a, b, c, M, N, K, acc);
  }
  if (!dotUsesWasm(M, N, K)) forgetDotOutput(c);
}

/** Rounds f32 operands to TensorFloat-32 into `out` (dot with precision 'tf32'). */
export function tf32Into(src: Float32Array, out: Float32Array, n: number): Float32Array {
  for (let i = 0; i < n; i++) out[i] = roundTf32(src[i]!);
  return out;
}

// ------------------------------------------------------------------------------------------------- reductions

/**
 * Sorts along an axis: `src` viewed as (outer, n, inner), stable, NaN last (also when descending), ties in index order
 * — the total order reduce.ts's comparator defines — writing values or (indices) positions along the axis.
 */
export function sortInto(
  src: TileData,
  out: TileData,
  outer: number,
  n: number,
  inner: number,
  descending: boolean,
  indices: boolean,
): void {
  const idx = new Array<number>(n);
  const vals = new Float64Array(n);
  const cmp = (p: number, q: number): number => {
    const vp = vals[p]!;
    const vq = vals[q]!;
    if (Number.isNaN(vp)) return Number.isNaN(vq) ? p - q : 1;
    if (Number.isNaN(vq)) return -1;
    const d = descending ? vq - vp : vp - vq;
    return d || p - q;
  };
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      for (let i = 0; i < n; i++) {
        idx[i] = i;
        vals[i] = src[(o * n + i) * inner + j]!;
      }
      idx.sort(cmp);
      for (let i = 0; i < n; i++) out[(o * n + i) * inner + j] = indices ? idx[i]! : vals[idx[i]!]!;
    }
  }
}

/** True when two storage views cannot overlap in memory (different backing stores, or disjoint byte ranges). */
export function disjoint(a: StorageArray, b: StorageArray): boolean {
  if (a.buffer !== b.buffer) return true;
  return a.byteOffset + a.byteLength <= b.byteOffset || b.byteOffset + b.byteLength <= a.byteOffset;
}

export { DTYPE_INFO, erf, rint, roundBf16, roundF16, roundTf32 };

/** The object generated code receives as `rt`. */
export const RUNTIME = Object.freeze({
  fround: Math.fround,
  roundF16,
  roundBf16,
  roundTf32,
  castE4M3,
  castE5M2,
  toI32,
  toI16,
  toI8,
  toU8,
  toBool,
  castTo,
  F16: F16_TABLE,
  E4M3: E4M3_TABLE,
  E5M2: E5M2_TABLE,
  encF16: f16BitsFromF32,
  encBf16: bf16BitsFromF32,
  encE4M3: fp8e4m3BitsFromF32,
  encE5M2: fp8e5m2BitsFromF32,
  decBf16: f32FromBf16Bits,
  erf,
  rint,
  dotF32: dotF32Into,
  dotI32: dotI32Into,
  dotForget: forgetDotOutput,
  tf32: tf32Into,
  sort: sortInto,
  disjoint,
  fault,
  refault,
  viewError,
  blockAtError,
  arangeError,
  offsetError,
  trap,
});

export type Runtime = typeof RUNTIME;
