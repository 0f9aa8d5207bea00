/**
 * The runtime a compiled SIMT kernel calls for what is not inline: dtype conversions, and the faults, with the
 * messages that name the kernel, block, thread, buffer or shared array, and index.
 */
import { bitsDecoder, bitsEncoder, castScalar, DTYPES, type DType } from '../../dtype/dtype';
import { errorOfName, TesseraError } from '../../errors';
import type { DeviceBuffer } from '../../memory/buffer';
import { describeValue } from '../../validate';
import type { SimtRuntime } from './codegen';
import { warpRuntime } from './warp';

const decode: Record<string, ((b: number) => number) | null> = {};
const encode: Record<string, ((x: number) => number) | null> = {};
for (const d of DTYPES) {
  decode[d] = bitsDecoder(d as DType);
  encode[d] = bitsEncoder(d as DType);
}

export interface SimtFaultContext {
  kernel: string;
  ownerLabel: string;
  /** The buffer arguments, in parameter order, with their parameter names. */
  buffers: { buffer: DeviceBuffer; name: string }[];
}

export function simtRuntime(ctx: () => SimtFaultContext): SimtRuntime {
  const where = (block: number[], thread: number[]) =>
    `kernel '${ctx().kernel}' block (${block.join(', ')}) thread (${thread.join(', ')})`;
  return {
    warp: warpRuntime((site, message, block, thread, lane, warp) => {
      const c = ctx();
      throw new TesseraError(
        'LaunchFailure',
        `${where(block, thread)} (warp ${warp}, lane ${lane}): ${site.what}${site.site ? ` at ${site.site}` : ''}: ${message}.`,
        {
          hint:
            'Every lane a mask names must call the same intrinsic with the same mask, unless it has exited; build the ' +
            'mask where the lanes are (k.activeMask() or k.ballot(...) inside the branch). The device is now in an ' +
            'error state, as after a CUDA kernel fault: call device.reset().',
          device: c.ownerLabel,
          kernel: c.kernel,
          program: [...block],
          thread: [...thread],
          lane,
        },
      );
    }),
    decode,
    encode,
    castScalar: castScalar as (x: number, d: string) => number,
    globalFault(op, b, index, block, thread) {
      const c = ctx();
      const buf = c.buffers[b]!.buffer;
      throw new TesseraError(
        'IllegalAddress',
        `${where(block, thread)}: ${op} of ${buf.describe()} at index ${index} is out of bounds (valid 0..${buf.length - 1}).`,
        {
          hint: 'Guard the access (if (i < n)) or fix the index math. The device is now in an error state, as after a CUDA illegal-address fault: call device.reset().',
          device: c.ownerLabel,
          kernel: c.kernel,
          index,
        },
      );
    },
    sharedFault(op, name, dtype, length, index, block, thread) {
      const c = ctx();
      throw new TesseraError(
        'IllegalAddress',
        `${where(block, thread)}: ${op} of shared array '${name}' (${dtype}[${length}]) at index ${String(index)} is out of bounds ` +
          `(valid 0..${length - 1}).`,
        {
          hint:
            'Size the shared array for every index the block uses, or guard the access. The device is now in an error ' +
            'state, as after a CUDA illegal-address fault: call device.reset().',
          device: c.ownerLabel,
          kernel: c.kernel,
          array: name,
          index: typeof index === 'number' ? index : undefined,
          length,
        },
      );
    },
    badValue(op, b, index, value, block, thread) {
      const c = ctx();
      throw new TesseraError(
        'InvalidValue',
        `${where(block, thread)}: ${c.buffers[b]!.name}.${op}(${index}, ${describeValue(value)}): the value must be a number.`,
        {
          hint: 'An undefined value usually comes from reading past the end of a plain array or a misspelt variable.',
          device: c.ownerLabel,
          kernel: c.kernel,
        },
      );
    },
    trap(message, block, thread, name = 'Error') {
      const c = ctx();
      throw new TesseraError('LaunchFailure', `${where(block, thread)} threw ${name}: ${message}.`, {
        hint:
          'Fix the kernel body. The device is now in an error state, as after a CUDA kernel fault: every call on it ' +
          'fails until device.reset(), which releases its memory (what the launch wrote is undefined).',
        device: c.ownerLabel,
        kernel: c.kernel,
        program: [...block],
        cause: errorOfName(name, message),
      });
    },
  };
}
