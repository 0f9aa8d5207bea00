/** One entry point for back ends: a kernel's IR → WGSL, by kernel style. */
import { TesseraError } from '../../errors';
import type { KernelIR } from '../ir';
import type { WgslProgram } from './abi';
import { type SimtToWgslOptions, simtToWgsl } from './simt';
import { tileToWgsl } from './tile';

export interface LowerToWgslOptions {
  /** SIMT: the block shape (becomes `@workgroup_size`). */
  block: readonly [number, number, number];
  /** The adapter's fixed subgroup size, when it has the `subgroups` feature (SIMT warp ops need it). */
  subgroupSize?: number;
  /** The adapter's maxComputeWorkgroupStorageSize. */
  maxWorkgroupBytes: number;
  /** The adapter's maxComputeInvocationsPerWorkgroup. */
  maxInvocations: number;
}

export function lowerToWgsl(ir: KernelIR, opts: LowerToWgslOptions): WgslProgram {
  if (ir.style === 'simt')
    return simtToWgsl(ir, { block: opts.block, subgroupSize: opts.subgroupSize } as SimtToWgslOptions) as WgslProgram;
  if (ir.style === 'tile')
    return tileToWgsl(ir, { maxWorkgroupBytes: opts.maxWorkgroupBytes, maxInvocations: opts.maxInvocations });
  throw new TesseraError('Unsupported', `WGSL lowering of kernel '${ir.name}': unknown kernel style.`);
}
