/**
 * SIMT kernels, classic CUDA style: the body runs once per thread with `threadIdx`, `blockIdx`, `blockDim`,
 * `gridDim`; a block shares `shared` arrays; `yield` (in a generator body) is `__syncthreads()`. Threads of a block
 * run in lock-step phases between barriers, so barrier-correct CUDA code gives the same answer here.
 *
 * Global memory goes through `GlobalArray` accessors, which count bytes and check bounds (an out-of-range index is
 * an illegal-address fault, sticky for the device). Shared arrays are typed arrays behind a bounds-checking proxy:
 * `s[i]` reads and writes as on the typed array (values convert to its dtype), and an index outside 0..length−1
 * (negative, fractional, NaN, undefined) is an illegal-address fault too, instead of the typed array's silent
 * `undefined` / dropped write. SIMT code is plain JS, so arithmetic is not counted: declare `flopsPerThread` on the
 * kernel, or call `k.countFlops(n)`, to feed the cost model.
 */
import { bitsDecoder, bitsEncoder, castScalar, DTYPE_INFO, type DType } from '../dtype/dtype';
import { TesseraError } from '../errors';
import type { DeviceBuffer } from '../memory/buffer';
import { describeValue } from '../validate';
import type { ExecMode, LaunchState } from './context';
import { ProgramCost } from './cost';
import type { ParamSpecs, SharedDType, SimtKernel } from './kernel';
import { checkedShared, SHARED_DTYPES, type SharedArray, sharedArray } from './shared-memory';

export interface Dim3 {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

/** State one thread block shares. */
class BlockState {
  cost = new ProgramCost();
  shared: Record<string, SharedArray> = {};
  dynamic: ArrayBuffer;
  /** `dynamicShared` views of this block, by dtype, offset and length (every thread gets the same one). */
  dynamicViews = new Map<string, SharedArray>();
  blockIdx: Dim3 = { x: 0, y: 0, z: 0 };

  constructor(
    private readonly exec: SimtExecution,
    readonly kernel: SimtKernel<ParamSpecs>,
    dynamicBytes: number,
  ) {
    this.dynamic = new ArrayBuffer(dynamicBytes);
  }

  reset(blockIdx: Dim3): void {
    this.cost = new ProgramCost();
    this.blockIdx = blockIdx;
    this.shared = {};
    for (const [name, [dt, len]] of Object.entries(this.kernel.shared)) {
      const raw = sharedArray(dt, new ArrayBuffer(len * DTYPE_INFO[dt].bytes), 0, len);
      this.shared[name] = checkedShared(raw, dt, name, this.exec);
    }
    this.dynamic = new ArrayBuffer(this.dynamic.byteLength);
    this.dynamicViews.clear();
  }
}

/** A kernel argument buffer as SIMT code sees it: element reads and writes with bounds checks and byte counting. */
export class GlobalArray {
  private readonly data: (ArrayLike<number> & { [i: number]: number }) | null;
  private readonly dec: ((b: number) => number) | null;
  private readonly enc: ((x: number) => number) | null;
  readonly length: number;
  readonly dtype: DType;
  private readonly bytes: number;

  constructor(
    readonly buffer: DeviceBuffer,
    private readonly exec: SimtExecution,
    /** The kernel parameter it was passed as (for messages). */
    readonly name = 'buffer',
  ) {
    this.length = buffer.length;
    this.dtype = buffer.dtype;
    this.bytes = DTYPE_INFO[buffer.dtype].bytes;
    this.data = exec.mode === 'functional' ? (buffer.storage() as never) : null;
    this.dec = bitsDecoder(buffer.dtype);
    this.enc = bitsEncoder(buffer.dtype);
  }

  private check(i: number, op: string): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw this.exec.fault(op, this.buffer, i);
  }

  /** A value to store must be a number (typed arrays would turn `undefined` into NaN or 0 without a word). */
  private badValue(op: string, i: number, v: unknown): TesseraError {
    return new TesseraError(
      'InvalidValue',
      `${this.exec.location()}: ${this.name}.${op}(${i}, ${describeValue(v)}): the value must be a number.`,
      {
        hint: 'An undefined value usually comes from reading past the end of a plain array or a misspelt variable.',
        device: this.exec.launch.owner.label,
        kernel: this.exec.kernel.name,
      },
    );
  }

  /** `x[i]` (decoded to a number). Timing-only mode reads 0. */
  get(i: number): number {
    this.check(i, 'read');
    const c = this.exec.block.cost;
    c.bytesRead += this.bytes;
    c.memoryOps += 1;
    this.exec.touch(this.buffer, true, false);
    if (!this.data) return 0;
    const v = this.data[i]!;
    return this.dec ? this.dec(v) : v;
  }

  /** `x[i] = v` (converted to the buffer's dtype as a store would). */
  set(i: number, v: number): void {
    this.check(i, 'write');
    if (typeof v !== 'number') throw this.badValue('set', i, v);
    const c = this.exec.block.cost;
    c.bytesWritten += this.bytes;
    c.memoryOps += 1;
    this.exec.touch(this.buffer, false, true);
    if (!this.data) return;
    const x = castScalar(v, this.dtype);
    this.data[i] = this.enc ? this.enc(x) : x;
  }

  private rmw(i: number, op: string, f: (old: number) => number): number {
    this.check(i, op);
    const c = this.exec.block.cost;
    c.bytesRead += this.bytes;
    c.bytesWritten += this.bytes;
    c.atomicOps += 1;
    c.memoryOps += 1;
    this.exec.touch(this.buffer, true, true);
    if (!this.data) return 0;
    const old = this.dec ? this.dec(this.data[i]!) : this.data[i]!;
    const x = castScalar(f(old), this.dtype);
    this.data[i] = this.enc ? this.enc(x) : x;
    return old;
  }

  /** `atomicAdd(&x[i], v)`: returns the old value. */
  atomicAdd(i: number, v: number): number {
    if (typeof v !== 'number') throw this.badValue('atomicAdd', i, v);
    return this.rmw(i, 'atomicAdd', (o) => o + v);
  }
  atomicMax(i: number, v: number): number {
    if (typeof v !== 'number') throw this.badValue('atomicMax', i, v);
    return this.rmw(i, 'atomicMax', (o) => (v > o ? v : o));
  }
  atomicMin(i: number, v: number): number {
    if (typeof v !== 'number') throw this.badValue('atomicMin', i, v);
    return this.rmw(i, 'atomicMin', (o) => (v < o ? v : o));
  }
  /** `atomicCAS(&x[i], compare, v)`: writes v if x[i] === compare; returns the old value. */
  atomicCAS(i: number, compare: number, v: number): number {
    if (typeof v !== 'number') throw this.badValue('atomicCAS', i, v);
    if (typeof compare !== 'number') throw this.badValue('atomicCAS', i, compare);
    return this.rmw(i, 'atomicCAS', (o) => (o === compare ? v : o));
  }
}

/** What one thread sees. */
export class SimtContext {
  threadIdx: Dim3 = { x: 0, y: 0, z: 0 };

  constructor(
    private readonly exec: SimtExecution,
    readonly blockDim: Dim3,
    readonly gridDim: Dim3,
  ) {}

  get blockIdx(): Dim3 {
    return this.exec.block.blockIdx;
  }

  /** The block's static shared arrays, by the names the kernel declared. */
  get shared(): Record<string, SharedArray> {
    return this.exec.block.shared;
  }

  /**
   * A typed view of the block's dynamic shared memory (`extern __shared__`), starting `byteOffset` bytes in.
   * The offset must be aligned to the element size; devices may demand more (Ascend's Unified Buffer: 32 bytes).
   */
  dynamicShared(dtype: SharedDType, byteOffset = 0, length?: number): SharedArray {
    const where = `${this.exec.location()}: dynamicShared`;
    if (!SHARED_DTYPES.includes(dtype)) {
      throw new TesseraError(
        'InvalidValue',
        `${where}: dtype ${describeValue(dtype)} is not a shared-memory dtype; expected one of ${SHARED_DTYPES.join(', ')}.`,
      );
    }
    const buf = this.exec.block.dynamic;
    const eb = DTYPE_INFO[dtype].bytes;
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
      throw new TesseraError('InvalidValue', `${where}: length must be an integer ≥ 0, got ${describeValue(length)}.`);
    }
    const len = length ?? Math.floor((buf.byteLength - byteOffset) / eb);
    if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || byteOffset % eb !== 0) {
      throw new TesseraError(
        'InvalidValue',
        `${this.exec.location()}: dynamicShared(${dtype}, ${byteOffset}): offset must be a multiple of ${eb} bytes.`,
      );
    }
    if (byteOffset + len * eb > buf.byteLength) {
      throw new TesseraError(
        'InvalidValue',
        `${this.exec.location()}: dynamicShared(${dtype}, ${byteOffset}, ${len}) needs ${byteOffset + len * eb} bytes, ` +
          `but the launch gave ${buf.byteLength} bytes of dynamic shared memory.`,
        { hint: 'Pass a larger sharedMemBytes in the launch config.' },
      );
    }
    this.exec.noteAlignment(byteOffset);
    const key = `${dtype}:${byteOffset}:${len}`;
    const views = this.exec.block.dynamicViews;
    let view = views.get(key);
    if (!view) {
      const name = `dynamicShared(${dtype}, ${byteOffset})`;
      view = checkedShared(sharedArray(dtype, buf, byteOffset, len), dtype, name, this.exec);
      views.set(key, view);
    }
    return view;
  }

  /** Declares arithmetic this thread did, for the cost model. */
  countFlops(n: number, dtype: 'f32' | 'f16' | 'bf16' | 'i32' = 'f32'): void {
    if (typeof n !== 'number' || !(n >= 0) || !Number.isFinite(n) || !['f32', 'f16', 'bf16', 'i32'].includes(dtype)) {
      throw new TesseraError(
        'InvalidValue',
        `${this.exec.location()}: countFlops(${describeValue(n)}, ${describeValue(dtype)}): ` +
          'n must be a finite number ≥ 0 and dtype one of f32, f16, bf16, i32.',
      );
    }
    this.exec.block.cost.addVector(dtype, n);
  }

  /** `yield k.syncthreads()` reads like CUDA; a bare `yield` does the same. */
  syncthreads(): symbol {
    return BARRIER;
  }
}

const BARRIER = Symbol('__syncthreads');

/** Runs blocks of one SIMT launch. */
export class SimtExecution {
  readonly block: BlockState;
  readonly mode: ExecMode;
  private readonly globals: Record<string, unknown>;
  private readonly blockDim: Dim3;
  private readonly gridDim: Dim3;

  constructor(
    readonly launch: LaunchState,
    readonly kernel: SimtKernel<ParamSpecs>,
    args: Record<string, unknown>,
    block: readonly [number, number, number],
    dynamicBytes: number,
  ) {
    this.mode = launch.mode;
    this.block = new BlockState(this, kernel, dynamicBytes);
    this.blockDim = { x: block[0], y: block[1], z: block[2] };
    this.gridDim = { x: launch.grid[0], y: launch.grid[1], z: launch.grid[2] };
    this.globals = {};
    for (const [k, v] of Object.entries(args)) {
      const spec = (kernel.params as Record<string, string>)[k]!;
      this.globals[k] = spec.startsWith('ptr') ? new GlobalArray(v as DeviceBuffer, this, k) : v;
      if (spec.startsWith('ptr')) launch.dtypes.add((v as DeviceBuffer).dtype);
    }
    let smem = dynamicBytes;
    for (const [dt, len] of Object.values(kernel.shared)) smem += DTYPE_INFO[dt].bytes * len;
    launch.resources.sharedMemoryBytes = Math.max(launch.resources.sharedMemoryBytes, smem);
  }

  private current = '';

  location(): string {
    return `kernel '${this.kernel.name}' ${this.current}`;
  }

  touch(buffer: DeviceBuffer, read: boolean, written: boolean): void {
    const e = this.launch.buffers.get(buffer.id);
    if (e) {
      e.read ||= read;
      e.written ||= written;
    } else this.launch.buffers.set(buffer.id, { buffer, read, written });
  }

  noteAlignment(byteOffset: number): void {
    const r = this.launch.resources;
    // Largest power of two dividing the offset (offset 0 counts as perfectly aligned, 256 B).
    const align = byteOffset === 0 ? 256 : Math.min(256, byteOffset & -byteOffset);
    r.minSharedAlignment = r.minSharedAlignment === 0 ? align : Math.min(r.minSharedAlignment, align);
  }

  fault(op: string, buffer: DeviceBuffer, index: number): TesseraError {
    return new TesseraError(
      'IllegalAddress',
      `${this.location()}: ${op} of ${buffer.describe()} at index ${index} is out of bounds (valid 0..${buffer.length - 1}).`,
      {
        hint: 'Guard the access (if (i < n)) or fix the index math. The device is now in an error state, as after a CUDA illegal-address fault: call device.reset().',
        device: this.launch.owner.label,
        kernel: this.kernel.name,
        index,
      },
    );
  }

  /** The fault of an index outside a shared array (sticky, as `fault` for global memory). */
  sharedFault(op: 'read' | 'write', name: string, dtype: SharedDType, length: number, key: string): TesseraError {
    return new TesseraError(
      'IllegalAddress',
      `${this.location()}: ${op} of shared array '${name}' (${dtype}[${length}]) at index ${key} is out of bounds ` +
        `(valid 0..${length - 1}).`,
      {
        hint:
          'Size the shared array for every index the block uses, or guard the access. The device is now in an error ' +
          'state, as after a CUDA illegal-address fault: call device.reset().',
        device: this.launch.owner.label,
        kernel: this.kernel.name,
        array: name,
        index: key === 'undefined' ? undefined : Number(key),
        length,
      },
    );
  }

  /** Runs block `b` to completion and returns its cost. */
  runBlock(b: readonly [number, number, number]): ProgramCost {
    const blk = this.block;
    blk.reset({ x: b[0], y: b[1], z: b[2] });
    const { x: bx, y: by, z: bz } = this.blockDim;
    const threads = bx * by * bz;
    const pending: Array<{ gen: Generator<unknown, void, unknown>; tid: Dim3 }> = [];
    for (let z = 0; z < bz; z++) {
      for (let y = 0; y < by; y++) {
        for (let x = 0; x < bx; x++) {
          const k = new SimtContext(this, this.blockDim, this.gridDim);
          k.threadIdx = { x, y, z };
          this.current = `block (${b.join(', ')}) thread (${x}, ${y}, ${z})`;
          const r = this.kernel.body(k, this.globals as never);
          if (r && typeof (r as Generator).next === 'function')
            pending.push({ gen: r as Generator<unknown, void, unknown>, tid: k.threadIdx });
        }
      }
    }
    // Generators have not started yet: run phase by phase, each thread up to its next barrier.
    let live = pending;
    while (live.length > 0) {
      const next: typeof live = [];
      for (const t of live) {
        this.current = `block (${b.join(', ')}) thread (${t.tid.x}, ${t.tid.y}, ${t.tid.z})`;
        if (!t.gen.next().done) next.push(t);
      }
      live = next;
    }
    if (this.kernel.flopsPerThread) blk.cost.addVector('f32', this.kernel.flopsPerThread * threads);
    return blk.cost;
  }
}
