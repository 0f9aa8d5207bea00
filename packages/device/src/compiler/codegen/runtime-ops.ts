/**
 * Whole-tile operations of the runtime library, on plain typed arrays: gathers and scatters with masks and bounds
 * checks, atomics in lane order, block copies with clipping and padding (with the fast 2-D f32 and bf16 paths),
 * elementwise ops with NumPy broadcasting, reductions, scans, permutes. The IR interpreter is built from these; the
 * code generator writes most of them out inline and fused, and the two must agree bit for bit (TESSERA_SHADOW=codegen
 * checks it).
 */
import { bitsEncoder, type DType, type StorageArray, type TileDType } from '../../dtype/dtype';
import { BINARY_OPS, type BinaryOp, UNARY_OPS, type UnaryOp } from '../../kernel/elementwise';
import { sizeOf, stridesOf } from '../../kernel/shape';
import {
  allocTile,
  blockAtError,
  castTo,
  decoderOf,
  erf,
  fault,
  finishArray,
  kindOf,
  type LaunchArgs,
  rint,
  type TileData,
} from './runtime';

/** Strides (per axis of `to`) to read a tile of shape `from` broadcast to `to` (0 along broadcast axes). */
export function broadcastStrides(from: readonly number[], to: readonly number[]): number[] {
  const st = stridesOf(from);
  const out = new Array<number>(to.length).fill(0);
  for (let i = 0; i < from.length; i++) {
    const a = to.length - from.length + i;
    out[a] = from[i] === 1 ? 0 : st[i]!;
  }
  return out;
}

/** For each flat index of `shape`, the offsets into operands read with the given strides (row-major order). */
export function broadcastIndices(shape: readonly number[], strides: readonly number[]): Int32Array {
  const n = sizeOf(shape);
  const out = new Int32Array(n);
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    out[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      idx[d]!++;
      off += strides[d]!;
      if (idx[d]! < shape[d]!) break;
      off -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** A tile operand: data with a shape, or a scalar already converted to the op's dtype. */
export interface TileValue {
  shape: readonly number[];
  dtype: TileDType;
  data: TileData;
}

/** Reads operand `x` (a tile or a scalar) at every flat index of `shape`. */
export function expand(x: TileValue | number, shape: readonly number[]): ArrayLike<number> {
  const n = sizeOf(shape);
  if (typeof x === 'number') return new Float64Array(n).fill(x);
  if (x.data.length === n && x.shape.length === shape.length) return x.data;
  if (x.data.length === n) return x.data; // same size: the shapes differ only by size-1 axes (broadcast is identity)
  const idx = broadcastIndices(shape, broadcastStrides(x.shape, shape));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = x.data[idx[i]!]!;
  return out;
}

// ------------------------------------------------------------------------------------------------ elementwise

const fnCache = new Map<string, (a: number, b: number) => number>();

/** The element function of a binary op on one dtype kind: the same expression text kernel/elementwise.ts defines. */
export function binaryFn(op: BinaryOp, kind: 'float' | 'int' | 'bool'): (a: number, b: number) => number {
  const key = `b:${op}:${kind}`;
  let f = fnCache.get(key);
  if (!f) {
    const expr = (BINARY_OPS[op] as Record<string, unknown>)[kind] as string | undefined;
    if (expr === undefined) throw new Error(`binary op ${op} is not defined on ${kind}`);
    f = new Function('erf', 'rint', `return function (a, b) { return ${expr}; };`)(erf, rint) as (
      a: number,
      b: number,
    ) => number;
    fnCache.set(key, f);
  }
  return f;
}

export function unaryFn(op: UnaryOp, kind: 'float' | 'int' | 'bool'): (a: number) => number {
  const key = `u:${op}:${kind}`;
  let f = fnCache.get(key) as ((a: number) => number) | undefined;
  if (!f) {
    const expr = (UNARY_OPS[op] as Record<string, unknown>)[kind] as string | undefined;
    if (expr === undefined) throw new Error(`unary op ${op} is not defined on ${kind}`);
    f = new Function('erf', 'rint', `return function (a) { return ${expr}; };`)(erf, rint) as (a: number) => number;
    fnCache.set(key, f as never);
  }
  return f;
}

/** `tile.binary`: operands are tiles of the compute dtype `cd` or scalars (converted here); result dtype `rd`. */
export function binary(
  op: BinaryOp,
  cd: TileDType,
  rd: TileDType,
  x: TileValue | number,
  y: TileValue | number,
  shape: readonly number[],
): TileValue {
  const f = binaryFn(op, kindOf(cd));
  const a = expand(typeof x === 'number' ? castTo(x, cd) : x, shape);
  const b = expand(typeof y === 'number' ? castTo(y, cd) : y, shape);
  const out = allocTile(rd, sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = f(a[i]!, b[i]!);
  finishArray(out, rd);
  return { shape, dtype: rd, data: out };
}

export function unary(op: UnaryOp, cd: TileDType, rd: TileDType, x: TileValue): TileValue {
  const f = unaryFn(op, kindOf(cd));
  const out = allocTile(rd, x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(x.data[i]!);
  finishArray(out, rd);
  return { shape: x.shape, dtype: rd, data: out };
}

export function where(
  rd: TileDType,
  c: TileValue,
  x: TileValue | number,
  y: TileValue | number,
  shape: readonly number[],
): TileValue {
  const cc = expand(c, shape);
  const a = expand(typeof x === 'number' ? castTo(x, rd) : x, shape);
  const b = expand(typeof y === 'number' ? castTo(y, rd) : y, shape);
  const out = allocTile(rd, sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = cc[i] ? a[i]! : b[i]!;
  return { shape, dtype: rd, data: out };
}

/** `x.cast(dtype)` (context.ts `cast`). */
export function cast(x: TileValue, dtype: TileDType): TileValue {
  if (x.dtype === dtype) return x;
  const n = x.data.length;
  const out = allocTile(dtype, n);
  const src = x.data;
  const from = kindOf(x.dtype);
  const to = kindOf(dtype);
  if (to === 'bool') {
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      out[i] = v !== 0 && !Number.isNaN(v) ? 1 : 0;
    }
  } else if (to === 'float') {
    if (dtype === 'f32' || dtype === 'f16' || dtype === 'bf16') {
      (out as Float32Array).set(src);
      finishArray(out, dtype);
    } else for (let i = 0; i < n; i++) out[i] = castTo(src[i]!, dtype);
  } else if (from === 'float') {
    for (let i = 0; i < n; i++) out[i] = castTo(src[i]!, dtype);
  } else {
    (out as Int32Array).set(src);
    finishArray(out, dtype);
  }
  return { shape: x.shape, dtype, data: out };
}

export function full(shape: readonly number[], value: number, dtype: TileDType): TileValue {
  const data = allocTile(dtype, sizeOf(shape));
  data.fill(castTo(value, dtype));
  return { shape, dtype, data };
}

export function arange(start: number, size: number): TileValue {
  const data = new Int32Array(size);
  for (let i = 0; i < size; i++) data[i] = start + i;
  return { shape: [size], dtype: 'i32', data };
}

export function broadcastTo(x: TileValue, shape: readonly number[]): TileValue {
  const n = sizeOf(shape);
  const out = allocTile(x.dtype, n);
  const idx = broadcastIndices(shape, broadcastStrides(x.shape, shape));
  for (let i = 0; i < n; i++) out[i] = x.data[idx[i]!]!;
  return { shape, dtype: x.dtype, data: out };
}

export function permute(x: TileValue, perm: readonly number[]): TileValue {
  const shape = perm.map((p) => x.shape[p]!);
  const inStrides = stridesOf(x.shape);
  const idx = broadcastIndices(
    shape,
    perm.map((p) => inStrides[p]!),
  );
  const out = allocTile(x.dtype, x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = x.data[idx[i]!]!;
  return { shape, dtype: x.dtype, data: out };
}

// ------------------------------------------------------------------------------------------------- reductions

/** Splits a shape around `axis` into (outer, n, inner). */
export function splitAxis(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}

/** sum / max / min / argmax / argmin over the middle axis of (outer, n, inner) (reduce.ts), rounded to `rd`. */
export function reduceInto(
  kind: 'sum' | 'max' | 'min' | 'argmax' | 'argmin',
  a: TileData,
  out: TileData,
  outer: number,
  n: number,
  inner: number,
  rd: TileDType,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      if (kind === 'sum') {
        let s = 0;
        for (let i = 0; i < n; i++) s += a[(o * n + i) * inner + j]!;
        out[o * inner + j] = s;
        continue;
      }
      const isMax = kind === 'max' || kind === 'argmax';
      let best = a[o * n * inner + j]!;
      let bi = 0;
      for (let i = 1; i < n && !Number.isNaN(best); i++) {
        const v = a[(o * n + i) * inner + j]!;
        if (Number.isNaN(v) || (isMax ? v > best : v < best)) {
          best = v;
          bi = i;
        }
      }
      out[o * inner + j] = kind === 'max' || kind === 'min' ? best : bi;
    }
  }
  finishArray(out, rd);
}

/** Inclusive prefix sums along the middle axis, accumulated in float64, rounded to `rd`. */
export function cumsumInto(a: TileData, out: TileData, outer: number, n: number, inner: number, rd: TileDType): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const k = (o * n + i) * inner + j;
        s += a[k]!;
        out[k] = s;
      }
    }
  }
  finishArray(out, rd);
}

// ------------------------------------------------------------------------------------------------------ memory

/** One program's identity, for messages. */
export interface Where {
  L: LaunchArgs;
  x: number;
  y: number;
  z: number;
}

/** Checks every active lane against the buffer (in lane order: the first bad lane is reported). */
export function checkLanes(
  w: Where,
  op: string,
  k: number,
  off: ArrayLike<number>,
  mask: ArrayLike<number> | null,
): void {
  const len = w.L.mem[k]!.length;
  for (let i = 0; i < off.length; i++) {
    if (mask && !mask[i]) continue;
    const o = off[i]!;
    if (o < 0 || o >= len) throw fault(w.L, op, k, o, w.x, w.y, w.z);
  }
}

/** Gather: lanes already checked; masked-off lanes read `other` (converted by the tile's storage). */
export function gather(
  st: StorageArray,
  dtype: DType,
  off: ArrayLike<number>,
  mask: ArrayLike<number> | null,
  other: number,
  shape: readonly number[],
): TileValue {
  const n = off.length;
  const out = allocTile(dtype, n);
  const dec = decoderOf(dtype);
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) out[i] = other;
    else out[i] = dec ? dec(st[off[i]!]!) : st[off[i]!]!;
  }
  return { shape, dtype, data: out };
}

/** Scatter of converted values, lane order (later lanes win). */
export function scatter(
  st: StorageArray,
  dtype: DType,
  off: ArrayLike<number>,
  mask: ArrayLike<number> | null,
  data: ArrayLike<number>,
): void {
  const enc = bitsEncoder(dtype);
  for (let i = 0; i < off.length; i++) {
    if (mask && !mask[i]) continue;
    st[off[i]!] = enc ? enc(data[i]!) : data[i]!;
  }
}

/** Read-modify-write per active lane in lane order; returns the old values (0 on masked-off lanes). */
export function atomicRmw(
  kind: 'add' | 'max' | 'min',
  st: StorageArray,
  dtype: DType,
  off: ArrayLike<number>,
  mask: ArrayLike<number> | null,
  data: ArrayLike<number>,
  shape: readonly number[],
): TileValue {
  const n = off.length;
  const old = allocTile(dtype, n);
  const dec = decoderOf(dtype);
  const enc = bitsEncoder(dtype);
  const round = dtype === 'f32' ? Math.fround : dtype === 'i32' ? (x: number) => x | 0 : (x: number) => x;
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    const o = off[i]!;
    const prev = dec ? dec(st[o]!) : st[o]!;
    old[i] = prev;
    const v = data[i]!;
    const next = kind === 'add' ? round(prev + v) : kind === 'max' ? (v > prev ? v : prev) : v < prev ? v : prev;
    st[o] = enc ? enc(next) : next;
  }
  return { shape, dtype, data: old };
}

/** A strided view of a buffer: shape, element strides, element offset of index (0, …, 0). */
export interface View {
  k: number;
  offset: number;
  shape: readonly number[];
  strides: readonly number[];
}

/** Number of elements of a block inside its view. */
export function inBounds(v: View, at: readonly number[], block: readonly number[]): number {
  let n = 1;
  for (let d = 0; d < block.length; d++) {
    const lo = Math.max(0, at[d]!);
    const hi = Math.min(v.shape[d]!, at[d]! + block[d]!);
    n *= Math.max(0, hi - lo);
  }
  return n;
}

/** Visits the in-bounds part of a block row by row: (flat index of the row in the block, storage index, j0, j1). */
function forEachRow(
  v: View,
  at: readonly number[],
  block: readonly number[],
  fn: (outBase: number, srcBase: number, j0: number, j1: number) => void,
): void {
  const r = block.length;
  const lastLen = block[r - 1] ?? 1;
  const lastAt = at[r - 1] ?? 0;
  const lastShape = v.shape[r - 1] ?? 1;
  const lastStride = v.strides[r - 1] ?? 1;
  const j0 = Math.max(0, -lastAt);
  const j1 = Math.min(lastLen, lastShape - lastAt);
  const rows = sizeOf(block.slice(0, -1));
  const idx = new Array<number>(Math.max(0, r - 1)).fill(0);
  for (let row = 0; row < rows; row++) {
    let inside = true;
    let base = v.offset;
    for (let d = 0; d < r - 1; d++) {
      const g = at[d]! + idx[d]!;
      if (g < 0 || g >= v.shape[d]!) inside = false;
      base += g * v.strides[d]!;
    }
    if (inside && j1 > j0) fn(row * lastLen, base + lastAt * lastStride, j0, j1);
    for (let d = r - 2; d >= 0; d--) {
      if (++idx[d]! < block[d]!) break;
      idx[d] = 0;
    }
  }
}

/** `loadBlock`: the block at `at`; elements outside the view read `padding` (converted by the tile's storage). */
export function loadBlock(
  w: Where,
  st: StorageArray,
  dtype: DType,
  v: View,
  at: readonly number[],
  block: readonly number[],
  padding: number,
  out: TileData = allocTile(dtype, sizeOf(block)),
): TileValue {
  blockAtError(w.L, 'loadBlock', at, w.x, w.y, w.z);
  const n = inBounds(v, at, block);
  if (n < out.length) out.fill(padding);
  const ls = v.strides[block.length - 1] ?? 1;
  if (st instanceof Float32Array && out instanceof Float32Array && block.length === 2 && ls === 1) {
    // The hot case (GEMM and attention operand tiles): a 2-D f32 block with unit inner stride.
    const [R, C] = v.shape as [number, number];
    const [r0, c0] = at as [number, number];
    const [rows, cols] = block as [number, number];
    const rs = v.strides[0]!;
    const j0 = Math.max(0, -c0);
    const j1 = Math.min(cols, C - c0);
    const i0 = Math.max(0, -r0);
    const i1 = Math.min(rows, R - r0);
    if (j1 > j0) {
      for (let i = i0; i < i1; i++) {
        const ob = i * cols;
        const sb = v.offset + (r0 + i) * rs + c0;
        for (let j = j0; j < j1; j++) out[ob + j] = st[sb + j]!;
      }
    }
  } else if (dtype === 'bf16' && out instanceof Float32Array) {
    // bf16 → f32 is exact and only a shift of the bits.
    const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    const src = st as Uint16Array;
    forEachRow(v, at, block, (ob, sb, j0, j1) => {
      for (let j = j0; j < j1; j++) bits[ob + j] = src[sb + j * ls]! << 16;
    });
  } else {
    const dec = decoderOf(dtype);
    forEachRow(v, at, block, (ob, sb, j0, j1) => {
      if (dec) for (let j = j0; j < j1; j++) out[ob + j] = dec(st[sb + j * ls]!);
      else for (let j = j0; j < j1; j++) out[ob + j] = st[sb + j * ls]!;
    });
  }
  return { shape: block, dtype, data: out };
}

/** `storeBlock`: the in-bounds elements of a tile already converted to the buffer's dtype, row by row. */
export function storeBlock(
  w: Where,
  st: StorageArray,
  dtype: DType,
  v: View,
  at: readonly number[],
  value: TileValue,
): void {
  blockAtError(w.L, 'storeBlock', at, w.x, w.y, w.z);
  const data = value.data;
  const enc = bitsEncoder(dtype);
  const ls = v.strides[value.shape.length - 1] ?? 1;
  forEachRow(v, at, value.shape, (ob, sb, j0, j1) => {
    if (enc) for (let j = j0; j < j1; j++) st[sb + j * ls] = enc(data[ob + j]!);
    else for (let j = j0; j < j1; j++) st[sb + j * ls] = data[ob + j]!;
  });
}
