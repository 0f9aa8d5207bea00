/**
 * The narrow interface a simulator backend implements (tinygrad's device / allocator / program split): a device
 * catalogue, allocation rules, launch checks, and the model that turns a cost record into time. Functional execution
 * is shared and lives in this package, so two backends can never disagree on a kernel's results.
 */
import type { KernelIR } from '../compiler/ir';
import type { CostRecord } from '../kernel/cost';
import type { DeviceProperties } from './properties';

export type CopyKind = 'HtoD' | 'DtoH' | 'DtoD' | 'memset' | 'PeerViaHost';

export interface CopyDescriptor {
  kind: CopyKind;
  bytes: number;
  /** Host side is page-locked (allocated with `runtime.hostAlloc`). */
  pinned: boolean;
}

export interface KernelTiming {
  /** Modelled duration in milliseconds. */
  ms: number;
  /** What limited it. */
  bound: 'matrix' | 'vector' | 'memory' | 'latency';
  /** Named components in microseconds (launch, matrix, vector, memory, waves, …), for traces and `tessera bench`. */
  breakdown: Record<string, number>;
}

/** What a backend sees before a launch runs: enough to reject it without touching memory. */
export interface LaunchDescriptor {
  kernel: string;
  style: 'tile' | 'simt';
  grid: readonly [number, number, number];
  block: readonly [number, number, number] | null;
  /** Dynamic shared memory requested at launch (bytes). */
  dynamicSharedBytes: number;
  /** The opt-in limit the kernel raised with `setMaxDynamicSharedMemory`, or 0. */
  sharedOptinBytes: number;
  /** Cost of one traced program (resources, dtypes): enough to check tile sizes against on-chip memory. */
  probe: CostRecord;
}

export interface Backend {
  /** Registry name: `nvidia-sim`, `ascend-sim`. */
  readonly name: string;
  readonly description: string;
  /** Every device model this backend simulates. */
  catalog(): readonly DeviceProperties[];
  /** Adds a device model from a user spec (validated; throws `InvalidValue` naming the bad field). */
  addDevice(spec: unknown, source?: string): DeviceProperties;
  /** Allocation granularity in bytes: allocations round up to it for capacity accounting. */
  allocationGranularity(device: DeviceProperties): number;
  /** Rejects launches the device cannot run (limits, dtypes, on-chip memory). Throws `TesseraError`. */
  checkLaunch(device: DeviceProperties, launch: LaunchDescriptor): void;
  /** The timing model for kernels. */
  kernelTime(device: DeviceProperties, cost: CostRecord): KernelTiming;
  /** The timing model for copies and memsets, in milliseconds. */
  copyTime(device: DeviceProperties, copy: CopyDescriptor): number;
  /**
   * Optional: runs functional launches on the backend's own hardware instead of the shared CPU executor (the
   * `webgpu` backend). Absent for simulators. Costs, checks and modelled times are the same either way: the executor
   * only replaces the run, and may report what it measured.
   */
  readonly executor?: KernelExecutor;
}

/** One functional launch, as the compiler hands it to a backend's executor. */
export interface ExecutorLaunch {
  /** The kernel's IR for this specialisation (the one place its meaning lives). */
  ir: KernelIR;
  grid: readonly [number, number, number];
  block: readonly [number, number, number] | null;
  dynamicSharedBytes: number;
  /** The launch's arguments by parameter name (DeviceBuffers, numbers, host arrays), already validated. */
  args: Record<string, unknown>;
  device: DeviceProperties;
  /** e.g. `webgpu:0`, for error messages. */
  deviceLabel: string;
}

/** What an executor measured for one launch. */
export interface KernelMeasurement {
  /** Measured kernel time in milliseconds. */
  ms: number;
  /** `timestamp-query`: GPU timestamps around the dispatches; `host-wall`: submit to completion on the host clock. */
  by: 'timestamp-query' | 'host-wall';
}

export interface KernelExecutor {
  /**
   * Lowers and compiles the launch before anything runs, throwing a (non-sticky) `Unsupported` for what the hardware
   * cannot run; returns the run. The run executes the launch on the device's memory and throws a sticky fault
   * (`IllegalAddress`, `LaunchFailure`) when the kernel faulted.
   */
  prepare(launch: ExecutorLaunch): () => KernelMeasurement;
}
