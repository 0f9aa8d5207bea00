/**
 * The kernel language's types, for authors: what `t` (tile kernels) and `k` (SIMT kernels) offer and what tiles,
 * buffers and shared arrays look like inside a kernel. A kernel body is never called with these objects — the
 * compiler reads its source (packages/device/docs/ir.md) — so these are declarations only: they type-check kernels
 * and document the language. The semantics are in docs/kernel-language.md.
 */
import type { DType, TileDType } from '../dtype/dtype';
import type { DeviceBuffer } from '../memory/buffer';

/** A number known when the kernel is specialised or when it runs, or a tile: what elementwise ops take. */
export type Operand = Tile | number;

/** A block of values living on chip for one program: combined with tile ops, never read element by element. */
export interface Tile {
  readonly shape: readonly number[];
  readonly dtype: TileDType;
  readonly size: number;
  readonly rank: number;
  add(b: Operand): Tile;
  sub(b: Operand): Tile;
  mul(b: Operand): Tile;
  div(b: Operand): Tile;
  maximum(b: Operand): Tile;
  minimum(b: Operand): Tile;
  idiv(b: Operand): Tile;
  rem(b: Operand): Tile;
  and(b: Operand): Tile;
  or(b: Operand): Tile;
  xor(b: Operand): Tile;
  shl(b: Operand): Tile;
  shr(b: Operand): Tile;
  shru(b: Operand): Tile;
  lt(b: Operand): Tile;
  le(b: Operand): Tile;
  gt(b: Operand): Tile;
  ge(b: Operand): Tile;
  eq(b: Operand): Tile;
  ne(b: Operand): Tile;
  neg(): Tile;
  abs(): Tile;
  exp(): Tile;
  exp2(): Tile;
  log(): Tile;
  log2(): Tile;
  sqrt(): Tile;
  rsqrt(): Tile;
  sin(): Tile;
  cos(): Tile;
  tanh(): Tile;
  sigmoid(): Tile;
  erf(): Tile;
  floor(): Tile;
  ceil(): Tile;
  trunc(): Tile;
  round(): Tile;
  not(): Tile;
  isnan(): Tile;
  cast(dtype: TileDType): Tile;
  reshape(shape: readonly number[]): Tile;
  expandDims(axis: number): Tile;
  broadcastTo(shape: readonly number[]): Tile;
  trans(): Tile;
  permute(perm: readonly number[]): Tile;
  sum(axis?: number, keepDims?: boolean): Tile;
  max(axis?: number, keepDims?: boolean): Tile;
  min(axis?: number, keepDims?: boolean): Tile;
  argmax(axis?: number, keepDims?: boolean): Tile;
  argmin(axis?: number, keepDims?: boolean): Tile;
  cumsum(axis?: number): Tile;
}

/** A buffer described as an n-d tensor (`t.tensor`), for block loads and stores. */
export interface TensorDesc {
  readonly rank: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** `t`: what a tile kernel's body can do. */
export interface TileContext {
  programId(axis?: 0 | 1 | 2): number;
  numPrograms(axis?: 0 | 1 | 2): number;
  arange(start: number, end: number): Tile;
  full(shape: readonly number[], value: number, dtype?: TileDType): Tile;
  zeros(shape: readonly number[], dtype?: TileDType): Tile;
  add(a: Operand, b: Operand): Tile;
  sub(a: Operand, b: Operand): Tile;
  mul(a: Operand, b: Operand): Tile;
  div(a: Operand, b: Operand): Tile;
  maximum(a: Operand, b: Operand): Tile;
  minimum(a: Operand, b: Operand): Tile;
  idiv(a: Operand, b: Operand): Tile;
  rem(a: Operand, b: Operand): Tile;
  and(a: Operand, b: Operand): Tile;
  or(a: Operand, b: Operand): Tile;
  xor(a: Operand, b: Operand): Tile;
  shl(a: Operand, b: Operand): Tile;
  shr(a: Operand, b: Operand): Tile;
  shru(a: Operand, b: Operand): Tile;
  lt(a: Operand, b: Operand): Tile;
  le(a: Operand, b: Operand): Tile;
  gt(a: Operand, b: Operand): Tile;
  ge(a: Operand, b: Operand): Tile;
  eq(a: Operand, b: Operand): Tile;
  ne(a: Operand, b: Operand): Tile;
  neg(x: Tile): Tile;
  abs(x: Tile): Tile;
  exp(x: Tile): Tile;
  exp2(x: Tile): Tile;
  log(x: Tile): Tile;
  log2(x: Tile): Tile;
  sqrt(x: Tile): Tile;
  rsqrt(x: Tile): Tile;
  sin(x: Tile): Tile;
  cos(x: Tile): Tile;
  tanh(x: Tile): Tile;
  sigmoid(x: Tile): Tile;
  erf(x: Tile): Tile;
  floor(x: Tile): Tile;
  ceil(x: Tile): Tile;
  trunc(x: Tile): Tile;
  round(x: Tile): Tile;
  not(x: Tile): Tile;
  isnan(x: Tile): Tile;
  where(cond: Tile, a: Operand, b: Operand): Tile;
  cast(x: Tile, dtype: TileDType): Tile;
  reshape(x: Tile, shape: readonly number[]): Tile;
  expandDims(x: Tile, axis: number): Tile;
  broadcastTo(x: Tile, shape: readonly number[]): Tile;
  permute(x: Tile, perm: readonly number[]): Tile;
  trans(x: Tile): Tile;
  sum(x: Tile, axis?: number, keepDims?: boolean): Tile;
  max(x: Tile, axis?: number, keepDims?: boolean): Tile;
  min(x: Tile, axis?: number, keepDims?: boolean): Tile;
  argmax(x: Tile, axis?: number, keepDims?: boolean): Tile;
  argmin(x: Tile, axis?: number, keepDims?: boolean): Tile;
  cumsum(x: Tile, axis?: number): Tile;
  sort(x: Tile, options?: { axis?: number; descending?: boolean }): Tile;
  argsort(x: Tile, options?: { axis?: number; descending?: boolean }): Tile;
  dot(a: Tile, b: Tile, acc?: Tile, options?: { precision?: 'ieee' | 'tf32' }): Tile;
  load(ptr: DeviceBuffer, offsets: Operand, options?: { mask?: Tile; other?: number }): Tile;
  store(ptr: DeviceBuffer, offsets: Operand, value: Operand, options?: { mask?: Tile }): void;
  atomicAdd(ptr: DeviceBuffer, offsets: Operand, value: Operand, options?: { mask?: Tile }): Tile;
  atomicMax(ptr: DeviceBuffer, offsets: Operand, value: Operand, options?: { mask?: Tile }): Tile;
  atomicMin(ptr: DeviceBuffer, offsets: Operand, value: Operand, options?: { mask?: Tile }): Tile;
  tensor(ptr: DeviceBuffer, shape: readonly number[], strides?: readonly number[], offset?: number): TensorDesc;
  loadBlock(desc: TensorDesc, at: readonly number[], block: readonly number[], options?: { padding?: number }): Tile;
  storeBlock(desc: TensorDesc, at: readonly number[], value: Tile): void;
}

export interface Dim3 {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

/** A kernel argument buffer inside a SIMT kernel: element reads and writes (bounds-checked), atomics. */
export interface GlobalArray {
  readonly length: number;
  readonly dtype: DType;
  get(i: number): number;
  set(i: number, v: number): void;
  atomicAdd(i: number, v: number): number;
  atomicMax(i: number, v: number): number;
  atomicMin(i: number, v: number): number;
  atomicCAS(i: number, compare: number, v: number): number;
}

/** A shared-memory array: indexes like a typed array (bounds-checked), with `length`, `fill` and `subarray`. */
export type SharedArray = Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** `k`: what one thread of a SIMT kernel sees. `yield` (or `yield k.syncthreads()`) is `__syncthreads()`. */
export interface SimtContext {
  readonly threadIdx: Dim3;
  readonly blockIdx: Dim3;
  readonly blockDim: Dim3;
  readonly gridDim: Dim3;
  readonly shared: Record<string, SharedArray>;
  dynamicShared(dtype: 'f32' | 'i32' | 'i16' | 'i8' | 'u8', byteOffset?: number, length?: number): SharedArray;
  countFlops(n: number, dtype?: 'f32' | 'f16' | 'bf16' | 'i32'): void;
  syncthreads(): unknown;
}
