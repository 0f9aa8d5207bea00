/**
 * The cost record: what a kernel launch asked of the hardware, counted while it ran (or while it was traced in
 * timing-only mode). Backends turn it into time; nothing here knows about any chip.
 */
import type { TileDType } from '../dtype/dtype';

/** Keys of the per-dtype counters: every tile dtype plus `tf32` (f32 operands read by a matrix unit at reduced precision). */
export const COST_DTYPES = [
  'f32',
  'f16',
  'bf16',
  'fp8e4m3',
  'fp8e5m2',
  'i32',
  'i16',
  'i8',
  'u8',
  'bool',
  'tf32',
] as const;
export type CostDType = (typeof COST_DTYPES)[number];
const N = COST_DTYPES.length;
export const COST_DTYPE_INDEX: Readonly<Record<CostDType, number>> = Object.fromEntries(
  COST_DTYPES.map((d, i) => [d, i]),
) as Record<CostDType, number>;

/** Work done by one program instance (tile kernel) or one thread block (SIMT kernel). */
export class ProgramCost {
  /** Matrix-unit FLOPs (Tensor Core / Cube), by operand dtype: 2·M·N·K per `dot`. */
  readonly matrixFlops = new Float64Array(N);
  /** Elementwise and reduction operations on vector units / CUDA cores, by result dtype (one per element). */
  readonly vectorOps = new Float64Array(N);
  /** Transcendental element operations (exp, log, sqrt, rsqrt, sin, cos, tanh, erf, division): special-function units. */
  specialOps = 0;
  /** Bytes read from and written to global memory (HBM). Masked-off lanes and padding move no bytes. */
  bytesRead = 0;
  bytesWritten = 0;
  /** Atomic read-modify-write element operations on global memory. */
  atomicOps = 0;
  /** Memory instructions issued (tile loads/stores, or SIMT element accesses). */
  memoryOps = 0;
  /** `dot` calls: each one stages operand tiles into the matrix unit's buffers. */
  dotOps = 0;

  addMatrix(dtype: CostDType, flops: number): void {
    this.matrixFlops[COST_DTYPE_INDEX[dtype]]! += flops;
  }

  addVector(dtype: TileDType, ops: number): void {
    this.vectorOps[COST_DTYPE_INDEX[dtype]]! += ops;
  }

  /** An independent copy. */
  clone(): ProgramCost {
    const c = new ProgramCost();
    c.accumulate(this);
    return c;
  }

  /** Adds `other` scaled by `times` (used to sum program classes into launch totals). */
  accumulate(other: ProgramCost, times = 1): void {
    for (let i = 0; i < N; i++) {
      this.matrixFlops[i]! += other.matrixFlops[i]! * times;
      this.vectorOps[i]! += other.vectorOps[i]! * times;
    }
    this.specialOps += other.specialOps * times;
    this.bytesRead += other.bytesRead * times;
    this.bytesWritten += other.bytesWritten * times;
    this.atomicOps += other.atomicOps * times;
    this.memoryOps += other.memoryOps * times;
    this.dotOps += other.dotOps * times;
  }

  /** A string equal for programs that did the same work; groups programs into classes. */
  signature(): string {
    let s = `${this.specialOps}|${this.bytesRead}|${this.bytesWritten}|${this.atomicOps}|${this.memoryOps}|${this.dotOps}`;
    for (let i = 0; i < N; i++) {
      const m = this.matrixFlops[i]!;
      const v = this.vectorOps[i]!;
      if (m !== 0 || v !== 0) s += `|${i}:${m}:${v}`;
    }
    return s;
  }

  get totalMatrixFlops(): number {
    let s = 0;
    for (let i = 0; i < N; i++) s += this.matrixFlops[i]!;
    return s;
  }

  get totalVectorOps(): number {
    let s = 0;
    for (let i = 0; i < N; i++) s += this.vectorOps[i]!;
    return s;
  }

  matrixFlopsOf(dtype: CostDType): number {
    return this.matrixFlops[COST_DTYPE_INDEX[dtype]]!;
  }

  vectorOpsOf(dtype: CostDType): number {
    return this.vectorOps[COST_DTYPE_INDEX[dtype]]!;
  }

  /** Non-zero counters as a plain object, for traces, JSON and tests. */
  toJSON(): Record<string, unknown> {
    const matrix: Record<string, number> = {};
    const vector: Record<string, number> = {};
    for (let i = 0; i < N; i++) {
      if (this.matrixFlops[i]) matrix[COST_DTYPES[i]!] = this.matrixFlops[i]!;
      if (this.vectorOps[i]) vector[COST_DTYPES[i]!] = this.vectorOps[i]!;
    }
    return {
      matrixFlops: matrix,
      vectorOps: vector,
      specialOps: this.specialOps,
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
      atomicOps: this.atomicOps,
      memoryOps: this.memoryOps,
      dotOps: this.dotOps,
    };
  }
}

/** On-chip resources one program / block needs; the largest over all programs of the launch. */
export interface KernelResources {
  /** Bytes of the two operand tiles of the largest `dot` (staged in shared memory / Ascend L1 → L0A/L0B). */
  dotOperandBytes: number;
  /** Bytes of the largest `dot` accumulator (registers on NVIDIA, L0C on Ascend). */
  accumulatorBytes: number;
  /** Bytes of the largest tile loaded, stored or computed outside the matrix unit (registers / Unified Buffer). */
  vectorTileBytes: number;
  /** Sum of the bytes of the distinct tiles live in the largest single operation (inputs + output). */
  vectorWorkingSetBytes: number;
  /** Shared memory a SIMT block declares (static arrays plus the launch's dynamic bytes). */
  sharedMemoryBytes: number;
  /** Smallest alignment in bytes of any on-chip (shared / Unified Buffer) view a SIMT block carved out; 0 if none. */
  minSharedAlignment: number;
}

export function emptyResources(): KernelResources {
  return {
    dotOperandBytes: 0,
    accumulatorBytes: 0,
    vectorTileBytes: 0,
    vectorWorkingSetBytes: 0,
    sharedMemoryBytes: 0,
    minSharedAlignment: 0,
  };
}

export interface ProgramClass {
  /** How many programs / blocks of the launch did exactly this work. */
  count: number;
  cost: ProgramCost;
}

export interface BufferUse {
  /** Size of the buffer (or view) in bytes: bounds the unique traffic a launch can cause on it. */
  bytes: number;
  read: boolean;
  written: boolean;
}

/** Everything a backend needs to model a launch's time, and to check that it fits the device. */
export interface CostRecord {
  kernel: string;
  style: 'tile' | 'simt';
  grid: readonly [number, number, number];
  /** Threads per block (SIMT) or null for tile kernels, whose per-program parallelism the backend chooses. */
  block: readonly [number, number, number] | null;
  programs: number;
  /** Programs grouped by identical work; counts sum to `programs`. */
  classes: ProgramClass[];
  total: ProgramCost;
  resources: KernelResources;
  /** Every buffer the kernel touched. */
  buffers: BufferUse[];
  /** Dtypes the kernel used (buffers, tiles, casts): a device may refuse some. */
  dtypes: TileDType[];
  /** False when timing-only mode extrapolated from sampled programs instead of tracing every one. */
  exact: boolean;
  /**
   * Ops whose bytes are an upper bound rather than exact (the cost analysis, compiler/cost): their mask or offsets
   * depend on loaded data, so every lane the index arithmetic does not rule out is counted. `snippet` is the op's
   * source text. Absent when every count is exact.
   */
  bounds?: CostBound[];
}

/** An op whose cost is a bound: `op` is the IR opcode, `snippet` its source, `what` why. */
export interface CostBound {
  op: string;
  snippet: string;
  what: string;
}

/** Bytes the launch must move at least once: the union of the buffers it touched, capped by what it requested. */
export function compulsoryBytes(rec: CostRecord): { read: number; written: number } {
  let read = 0;
  let written = 0;
  for (const b of rec.buffers) {
    if (b.read) read += b.bytes;
    if (b.written) written += b.bytes;
  }
  return { read: Math.min(read, rec.total.bytesRead), written: Math.min(written, rec.total.bytesWritten) };
}
