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
  /** Stores `v`, returns the old value (`atomicExch`). */
  atomicExch(i: number, v: number): number;
  atomicCAS(i: number, compare: number, v: number): number;
}

/** Element dtypes of shared arrays: the device dtypes plus `u32`. */
export type SharedDType = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i16' | 'i8' | 'u8';

/**
 * A shared-memory array: indexes like a typed array (bounds-checked; stores convert to the dtype as a typed array
 * does, f16/bf16 round to nearest even), with `length`, `dtype`, `fill`, `subarray` and atomics. Atomics are
 * read-modify-writes of one element, in the dtype's arithmetic, returning the old value.
 */
export interface SharedArray {
  [i: number]: number;
  readonly length: number;
  readonly dtype: SharedDType;
  fill(v: number, start?: number, end?: number): SharedArray;
  subarray(begin?: number, end?: number): SharedArray;
  atomicAdd(i: number, v: number): number;
  atomicMax(i: number, v: number): number;
  atomicMin(i: number, v: number): number;
  atomicExch(i: number, v: number): number;
  atomicCAS(i: number, compare: number, v: number): number;
}

/**
 * `k`: what one thread of a SIMT kernel sees. `yield` (or `yield k.syncthreads()`) is `__syncthreads()`. Warp
 * intrinsics take CUDA's arguments in CUDA's order (the mask first) and need a device with warps (`warpSize` ≥ 2).
 */
export interface SimtContext {
  readonly threadIdx: Dim3;
  readonly blockIdx: Dim3;
  readonly blockDim: Dim3;
  readonly gridDim: Dim3;
  /** The device's warp size (a compile-time number: 32 on NVIDIA). */
  readonly warpSize: number;
  /** The thread's lane: its linear index in the block (x fastest) modulo `warpSize`. */
  readonly laneId: number;
  /** The thread's warp in the block: its linear index divided by `warpSize`, rounded down. */
  readonly warpId: number;
  readonly shared: Record<string, SharedArray>;
  dynamicShared(dtype: SharedDType, byteOffset?: number, length?: number): SharedArray;
  /** @deprecated Ignored by the cost model, which counts FLOPs from the kernel's arithmetic (its checks remain). */
  countFlops(n: number, dtype?: 'f32' | 'f16' | 'bf16' | 'i32'): void;
  syncthreads(): unknown;
  /** `__shfl_sync(mask, v, srcLane, width)`: `v` of lane `srcLane % width` of the caller's `width`-lane section. */
  shfl(mask: number, v: number, srcLane: number, width?: number): number;
  /** `__shfl_up_sync`: `v` of lane `laneId − delta` of the section, or the caller's own `v` below its start. */
  shflUp(mask: number, v: number, delta: number, width?: number): number;
  /** `__shfl_down_sync`: `v` of lane `laneId + delta` of the section, or the caller's own `v` past its end. */
  shflDown(mask: number, v: number, delta: number, width?: number): number;
  /** `__shfl_xor_sync`: `v` of lane `laneId ^ laneMask` (own `v` when that is in a later section). */
  shflXor(mask: number, v: number, laneMask: number, width?: number): number;
  /** `__ballot_sync`: bit l set when lane l of `mask` passes a truthy `pred` (an unsigned 32-bit number). */
  ballot(mask: number, pred: unknown): number;
  /** `__any_sync`: whether any lane of `mask` passes a truthy `pred`. */
  any(mask: number, pred: unknown): boolean;
  /** `__all_sync`: whether every lane of `mask` passes a truthy `pred`. */
  all(mask: number, pred: unknown): boolean;
  /** `__reduce_add_sync`: the sum over the lanes of `mask`, wrapping as `int` (`'u32'`: `unsigned`) does. */
  reduceAdd(mask: number, v: number, type?: 'i32' | 'u32'): number;
  /** `__reduce_min_sync` (signed, or unsigned with `'u32'`). */
  reduceMin(mask: number, v: number, type?: 'i32' | 'u32'): number;
  /** `__reduce_max_sync` (signed, or unsigned with `'u32'`). */
  reduceMax(mask: number, v: number, type?: 'i32' | 'u32'): number;
  /** `__syncwarp(mask)` (default: every lane). */
  syncwarp(mask?: number): void;
  /** `__activemask()`: the lanes of the caller's warp that execute this call together. */
  activeMask(): number;
}
