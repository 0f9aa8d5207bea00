/**
 * Looking inside a compiled kernel without launching it: the IR of one specialisation, the JavaScript the CPU back end
 * generates for it, and the cost record of a launch — what `tessera compile --dump ir|js|cost` prints and
 * `TESSERA_DUMP_IR` shows during a run.
 */
import type { DType } from '../dtype/dtype';
import { DTYPE_INFO } from '../dtype/dtype';
import type { CostRecord } from '../kernel/cost';
import type { Kernel } from '../kernel/kernel';
import { compileKernel as compileJs } from './codegen/compile';
import { analyzeCost } from './cost/analyze';
import { printIR } from './ir';
import { compileKernel } from './pipeline';
import { simtSource } from './simt/codegen';
import { simtToWgsl } from './wgsl/simt';
import { tileToWgsl } from './wgsl/tile';

/** A buffer argument for inspection: its dtype and (for costs) its length; no memory behind it. */
export interface BufferSpec {
  dtype: DType;
  length: number;
}

let nextFakeId = 1 << 30;

/** Stand-ins for DeviceBuffers: what specialisation and cost analysis read of a buffer. */
export function fakeBuffer(spec: BufferSpec, name: string): unknown {
  const id = nextFakeId++;
  const bytes = spec.length * DTYPE_INFO[spec.dtype].bytes;
  return {
    id,
    dtype: spec.dtype,
    length: spec.length,
    byteLength: bytes,
    describe: () => `buffer '${name}' (${spec.dtype}[${spec.length}])`,
  };
}

export interface KernelInspection {
  kernel: string;
  /** The specialisation key (constexprs, dtypes, divisibility hints, block shape). */
  key: string;
  compileMs: number;
  /** The IR after the passes, as text. */
  ir: string;
  /** The generated JavaScript. */
  js(): string;
  /** The generated WGSL (throws `Unsupported` for what the WGSL lowering cannot express yet). */
  wgsl(): string;
  /** The cost record of a launch over `grid` (tile programs or SIMT blocks). */
  cost(grid: readonly [number, number, number]): CostRecord;
}

/** Compiles `kernel` for `args` (runtime values, buffers or `{dtype, length}` specs) and exposes what it became. */
export function inspectKernel(
  kernel: Kernel,
  args: Record<string, unknown>,
  options: {
    block?: readonly [number, number, number];
    dynamicSharedBytes?: number;
    ownerLabel?: string;
    /** SIMT: the device's warp size (default 32). */
    warpSize?: number;
  } = {},
): KernelInspection {
  const block = kernel.style === 'simt' ? (options.block ?? [1, 1, 1]) : null;
  const smem = options.dynamicSharedBytes ?? 0;
  const compiled = compileKernel(kernel, args, block, smem, options.warpSize ?? 32);
  return {
    kernel: kernel.name,
    key: compiled.spec.key,
    compileMs: compiled.compileMs,
    ir: printIR(compiled.ir),
    js: () => (compiled.ir.style === 'tile' ? compileJs(compiled.ir).source : simtSource(compiled.ir, block!, smem)),
    wgsl: () =>
      compiled.ir.style === 'tile'
        ? tileToWgsl(compiled.ir, { maxWorkgroupBytes: 16384, maxInvocations: 256 }).code
        : simtToWgsl(compiled.ir, { block: block ?? [1, 1, 1] }).code,
    cost: (grid) =>
      analyzeCost(compiled.ir, {
        grid,
        block,
        args,
        dynamicSharedBytes: smem,
        kernelName: kernel.name,
        ownerLabel: options.ownerLabel ?? 'inspect',
        flopsPerThread: kernel.style === 'simt' ? kernel.flopsPerThread : 0,
      }),
  };
}
