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
  /** The adapter's maxStorageBuffersPerShaderStage (not checked when absent). */
  maxStorageBuffers?: number;
}

export function lowerToWgsl(ir: KernelIR, opts: LowerToWgslOptions): WgslProgram {
  let prog: WgslProgram;
  if (ir.style === 'simt')
    prog = simtToWgsl(ir, { block: opts.block, subgroupSize: opts.subgroupSize } as SimtToWgslOptions) as WgslProgram;
  else if (ir.style === 'tile')
    prog = tileToWgsl(ir, { maxWorkgroupBytes: opts.maxWorkgroupBytes, maxInvocations: opts.maxInvocations });
  else throw new TesseraError('Unsupported', `WGSL lowering of kernel '${ir.name}': unknown kernel style.`);
  if (opts.maxStorageBuffers !== undefined) checkStorageBindings(ir.name, prog, opts.maxStorageBuffers);
  return prog;
}

/**
 * Every buffer parameter is a storage binding of its own, and so are the fault record, the host arrays and scratch:
 * past the adapter's per-stage limit WebGPU refuses the pipeline. Said here, before anything is compiled, in the
 * kernel's terms — not as the compiler's complaint about a bind group layout.
 */
function checkStorageBindings(kernel: string, prog: WgslProgram, limit: number): void {
  const storage = prog.bindings.filter((b) => b.kind !== 'uniform');
  if (storage.length <= limit) return;
  const buffers = storage.filter((b) => b.kind === 'buffer').length;
  const extra = storage
    .filter((b) => b.kind !== 'buffer')
    .map((b) => (b.kind === 'fault' ? 'the fault record' : b.kind === 'arrays' ? 'the host arrays' : 'scratch'));
  throw new TesseraError(
    'Unsupported',
    `kernel '${kernel}' needs ${storage.length} storage buffers on WebGPU (${buffers} buffer parameters, ${extra.join(', ')}); this adapter binds at most ${limit} per shader stage (maxStorageBuffersPerShaderStage).`,
    {
      hint: `Give the kernel at most ${limit - extra.length} buffer parameters (e.g. one buffer holding several arrays at offsets), or run it on a simulator backend.`,
      kernel,
    },
  );
}
