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
  /**
   * SIMT kernels on a device with warps (compiler/cost/warp.ts): what the block's warps asked of the memory system
   * and the issue logic, warp by warp. Zero for tile kernels and where the device has no warps.
   */
  readonly simt = new SimtCost();

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
    this.simt.accumulate(other.simt, times);
  }

  /** A string equal for programs that did the same work; groups programs into classes. */
  signature(): string {
    let s = `${this.specialOps}|${this.bytesRead}|${this.bytesWritten}|${this.atomicOps}|${this.memoryOps}|${this.dotOps}`;
    for (let i = 0; i < N; i++) {
      const m = this.matrixFlops[i]!;
      const v = this.vectorOps[i]!;
      if (m !== 0 || v !== 0) s += `|${i}:${m}:${v}`;
    }
    if (!this.simt.isZero()) s += `|simt:${SIMT_FIELDS.map((k) => this.simt[k]).join(':')}`;
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
      ...(this.simt.isZero() ? {} : { simt: this.simt.toJSON() }),
    };
  }
}

/** The fields of `SimtCost`, in record order. */
export const SIMT_FIELDS = [
  'warpInstructions',
  'vectorInstructions',
  'divergentBranches',
  'globalRequests',
  'sectorsRead',
  'sectorsWritten',
  'l2Requests',
  'sharedRequests',
  'sharedWavefronts',
] as const;
export type SimtField = (typeof SIMT_FIELDS)[number];

/**
 * A SIMT block's work seen warp by warp (per block, summed over its warps; a class's figure is the mean over its
 * blocks, estimated from a sample of them on large launches: `CostRecord.simt`). Every count is per warp-level
 * instruction, the unit the hardware issues and the memory system serves.
 */
export class SimtCost {
  /**
   * Warp instructions issued: every op a warp executes with at least one active lane, once per warp. A branch whose
   * lanes disagree issues both sides (each under its own mask); a loop runs until its last lane leaves.
   */
  warpInstructions = 0;
  /**
   * The float arithmetic among them (a multiply contracted into an add counts once, as an FFMA): what occupies the
   * FP32 lanes, 32 lanes' worth per instruction whatever its active mask.
   */
  vectorInstructions = 0;
  /** Branches (and loop exits) at which a warp's active lanes disagreed: the warp ran both ways. */
  divergentBranches = 0;
  /** Warp-level global memory instructions (loads, stores, atomics). */
  globalRequests = 0;
  /** 32-byte sectors the active lanes of each global load touched (atomics count in both directions). */
  sectorsRead = 0;
  /** 32-byte sectors the active lanes of each global store touched. */
  sectorsWritten = 0;
  /**
   * Requests to L2: per global instruction, one per 128-byte line its lanes touched; an atomic adds one more for each
   * further update of the same address in the line (same-address updates serialise).
   */
  l2Requests = 0;
  /** Warp-level shared-memory instructions (loads, stores, atomics). */
  sharedRequests = 0;
  /**
   * Shared-memory wavefronts: per instruction, the most distinct 4-byte words its lanes address in one of the 32
   * banks (the bank-conflict degree; lanes reading one word share it); for atomics, the most lanes in one bank.
   */
  sharedWavefronts = 0;

  isZero(): boolean {
    for (const k of SIMT_FIELDS) if (this[k] !== 0) return false;
    return true;
  }

  accumulate(o: SimtCost, times = 1): void {
    for (const k of SIMT_FIELDS) this[k] += o[k] * times;
  }

  toJSON(): Record<SimtField, number> {
    return Object.fromEntries(SIMT_FIELDS.map((k) => [k, this[k]])) as Record<SimtField, number>;
  }
}

/** How the SIMT counters of a record were obtained, and the launch-wide figures (see compiler/cost/README.md). */
export interface SimtCostInfo {
  /** The device's warp size the warps were formed with. */
  warpSize: number;
  /** Blocks whose warps were evaluated lane by lane (every block when `CostRecord.exact`). */
  blocksEvaluated: number;
  /** Whether long loops inside a warp were evaluated at sampled iterations (false in exact mode). */
  iterationsSampled: boolean;
  /**
   * Relative standard error of the sampled totals (the largest over the counters, from the stratified sample's
   * spread; 0 when every block and iteration was evaluated). ±2× this covers the exact value with ≈95 % confidence.
   */
  relStdErr: number;
  /** Global atomics: updates of the most-updated address over the launch (they serialise at its L2 slice). */
  hotAtomicUpdates: number;
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
  /**
   * False when the SIMT counters (`ProgramCost.simt`) were estimated from a sample of blocks or loop iterations
   * instead of every one (`CostRecord.simt`; exact mode: the launch option `exact` or `TESSERA_COST_EXACT=1`).
   */
  exact: boolean;
  /** SIMT kernels on a device with warps: how the warp-level counters were obtained, and launch-wide figures. */
  simt?: SimtCostInfo;
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

/**
 * Bytes the launch must move at least once: the union of the buffers it touched, capped by what it requested — in
 * whole 32-byte sectors where the record has them (SIMT on a device with warps: DRAM moves sectors, not elements).
 */
export function compulsoryBytes(rec: CostRecord): { read: number; written: number } {
  let read = 0;
  let written = 0;
  for (const b of rec.buffers) {
    if (b.read) read += b.bytes;
    if (b.written) written += b.bytes;
  }
  const t = rec.total;
  const s = t.simt;
  const asked = s.globalRequests > 0 ? { read: 32 * s.sectorsRead, written: 32 * s.sectorsWritten } : null;
  return {
    read: Math.min(read, asked ? asked.read : t.bytesRead),
    written: Math.min(written, asked ? asked.written : t.bytesWritten),
  };
}
