/**
 * Launch checks that run before anything executes: the kernel object, the configuration (grid, block, dynamic shared
 * memory) against the device's limits. Arguments are checked against the kernel's parameter specs in
 * `kernel/kernel.ts` (`validateArgs`).
 */
import { formatBytes, TesseraError } from '../errors';
import { type Kernel, staticSharedBytes } from '../kernel/kernel';
import { checkOptionalBoolean, describeValue, invalidArgument } from '../validate';
import type { DeviceProperties } from './properties';

export type Dim3 = [number, number, number];

/** The fields of `LaunchConfig` this file checks (the stream is the device's to check). */
interface ConfigFields {
  grid?: unknown;
  block?: unknown;
  sharedMemBytes?: unknown;
  exact?: unknown;
}

function dim3(v: unknown, what: string): Dim3 {
  const arr = typeof v === 'number' ? [v] : Array.isArray(v) ? [...v] : null;
  if (!arr || arr.length < 1 || arr.length > 3 || arr.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    const shown = Array.isArray(v) ? JSON.stringify(v) : describeValue(v);
    throw new TesseraError('InvalidConfiguration', `${what} must be 1 to 3 integers ≥ 1, got ${shown}.`, {
      hint: 'A zero-sized grid launches nothing: skip the launch instead.',
    });
  }
  return [arr[0]!, arr[1] ?? 1, arr[2] ?? 1];
}

/** Throws unless `kernel` is a kernel made by tileKernel() or simtKernel(). */
export function checkKernel(kernel: unknown): asserts kernel is Kernel {
  const k = kernel as Partial<Kernel> | null;
  if (
    k === null ||
    typeof k !== 'object' ||
    (k.style !== 'tile' && k.style !== 'simt') ||
    typeof k.body !== 'function' ||
    typeof k.name !== 'string' ||
    k.params === null ||
    typeof k.params !== 'object'
  ) {
    throw invalidArgument(
      'launch',
      'kernel',
      `is not a kernel (${describeValue(kernel)})`,
      'Define one with tileKernel() or simtKernel().',
    );
  }
}

/** Checks the configuration of a launch of `kernel` on a device with `p`; returns grid, block and dynamic shared bytes. */
export function checkLaunchConfig(
  kernel: Kernel,
  config: ConfigFields,
  p: DeviceProperties,
  where: string,
): { grid: Dim3; block: Dim3 | null; dynamic: number } {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw invalidArgument(
      where,
      'config',
      `must be an object like { grid: 4 }, got ${describeValue(config)}`,
      'Pass the launch configuration as the second argument: dev.launch(kernel, { grid, block?, stream? }, args).',
    );
  }
  checkOptionalBoolean(where, 'config.exact', config.exact);
  const grid = dim3(config.grid, `${where}: grid`);
  for (let i = 0; i < 3; i++) {
    if (grid[i]! > p.maxGridDim[i]!) {
      throw new TesseraError(
        'InvalidConfiguration',
        `${where}: grid dimension ${i} is ${grid[i]}, above the device limit ${p.maxGridDim[i]}.`,
        {
          hint: 'Loop inside the kernel (a persistent kernel) or split the launch.',
        },
      );
    }
  }
  if (kernel.style !== 'simt') {
    if (config.block !== undefined || config.sharedMemBytes !== undefined) {
      throw new TesseraError(
        'InvalidConfiguration',
        `${where}: tile kernels take only a grid; block and sharedMemBytes are for SIMT kernels.`,
        {
          hint: 'The backend maps each program onto a block / AI core itself.',
        },
      );
    }
    return { grid, block: null, dynamic: 0 };
  }
  const block = dim3(config.block === undefined ? 1 : config.block, `${where}: block`);
  const threads = block[0] * block[1] * block[2];
  for (let i = 0; i < 3; i++) {
    if (block[i]! > p.maxBlockDim[i]!) {
      throw new TesseraError(
        'InvalidConfiguration',
        `${where}: block dimension ${i} is ${block[i]}, above the limit ${p.maxBlockDim[i]}.`,
      );
    }
  }
  if (threads > p.maxThreadsPerBlock) {
    throw new TesseraError(
      'InvalidConfiguration',
      `${where}: ${threads} threads per block is above the device limit of ${p.maxThreadsPerBlock}.`,
      { hint: `Use at most ${p.maxThreadsPerBlock} threads per block and more blocks.` },
    );
  }
  const dynamic = (config.sharedMemBytes === undefined ? 0 : config.sharedMemBytes) as number;
  if (!Number.isSafeInteger(dynamic) || dynamic < 0) {
    throw new TesseraError(
      'InvalidConfiguration',
      `${where}: sharedMemBytes must be an integer ≥ 0, got ${describeValue(dynamic)}.`,
    );
  }
  const total = dynamic + staticSharedBytes(kernel);
  const limit = Math.max(p.onChip.sharedPerBlock, Math.min(kernel.maxDynamicSharedBytes, p.onChip.sharedPerBlockOptin));
  if (total > limit) {
    const canOptIn = total <= p.onChip.sharedPerBlockOptin;
    throw new TesseraError(
      'InvalidConfiguration',
      `${where}: ${formatBytes(total)} of shared memory per block is above the ${formatBytes(limit)} allowed.`,
      {
        hint: canOptIn
          ? `Opt in first with kernel.setMaxDynamicSharedMemory(${dynamic}) (cudaFuncSetAttribute), up to ${formatBytes(p.onChip.sharedPerBlockOptin)} on this device.`
          : `This device allows at most ${formatBytes(p.onChip.sharedPerBlockOptin)} per block: use smaller tiles.`,
      },
    );
  }
  return { grid, block, dynamic };
}
