/**
 * The entry point of a launch into the kernel compiler: the runtime hands every launch here, in either mode.
 * compiler/launch.ts does the work (compile → cost by analysis → checks → generated code); see docs/ir.md.
 */

import { executeCompiled } from '../compiler/launch';
import { shadowAfter, shadowBefore, shadowEnabled } from '../compiler/shadow';
import type { KernelExecutor, KernelMeasurement } from '../runtime/backend';
import type { DeviceProperties } from '../runtime/properties';
import type { CostRecord } from './cost';
import type { Kernel } from './kernel';

export type Grid3 = readonly [number, number, number];

/** Functional launches compute results; timing-only launches only produce the cost record. */
export type ExecMode = 'functional' | 'timing';

export interface ExecuteOptions {
  kernel: Kernel;
  args: Record<string, unknown>;
  grid: Grid3;
  block: Grid3 | null;
  dynamicSharedBytes: number;
  /** SIMT: the device's warp size (`DeviceProperties.warpSize`; 32 when absent). */
  warpSize?: number;
  mode: ExecMode;
  owner: import('../memory/buffer').BufferOwner;
  /**
   * SIMT: evaluate every block's warps and every loop iteration in the warp-level cost analysis instead of a sample
   * (compiler/cost/README.md); the rest of the record is exact either way.
   */
  exact?: boolean;
  /** Called with the launch's cost record before any program runs; throws to reject the launch. */
  check?: (record: CostRecord) => void;
  /** The backend's executor (functional mode): runs the launch instead of the CPU code (runtime/backend.ts). */
  executor?: { executor: KernelExecutor; device: DeviceProperties };
  /** Told what the executor measured. */
  onMeasured?: (m: KernelMeasurement) => void;
}

/**
 * Set while the sanitizer is enabled (sanitizer/, docs/sanitizer.md): `execute` runs every launch instrumented;
 * `refused` is told of a launch whose arguments the runtime refused (before the error is thrown).
 */
export const launchHooks: {
  execute: ((o: ExecuteOptions) => CostRecord) | null;
  refused: ((o: ExecuteOptions, error: unknown) => void) | null;
} = { execute: null, refused: null };

/** Executes one launch and returns its cost record. */
export function executeLaunch(o: ExecuteOptions): CostRecord {
  if (launchHooks.execute) return launchHooks.execute(o);
  return executePlain(o);
}

/** A launch without the sanitizer: the compiler's path (and the `TESSERA_SHADOW` cross-checks). */
export function executePlain(o: ExecuteOptions): CostRecord {
  const shadow = shadowEnabled() ? shadowBefore(o) : null;
  const rec = executeCompiled(o);
  shadowAfter(o, shadow, rec);
  return rec;
}
