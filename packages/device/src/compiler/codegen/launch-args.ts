/**
 * Turns a launch's arguments (by parameter name) into the `LaunchArgs` compiled code and the IR interpreter take:
 * storage views of the buffers, scalars and host arrays in the IR's parameter order.
 */
import type { StorageArray } from '../../dtype/dtype';
import type { DeviceBuffer } from '../../memory/buffer';
import type { KernelIR } from '../ir';
import type { LaunchArgs } from './runtime';

export function launchArgs(
  ir: KernelIR,
  args: Record<string, unknown>,
  grid: readonly [number, number, number],
  device: string,
  /** Storage to use for a buffer argument (a copy, in the shadow check); default `buffer.storage()`. */
  storage: (b: DeviceBuffer) => StorageArray = (b) => b.storage(),
): LaunchArgs {
  const mem: StorageArray[] = [];
  const buffers: DeviceBuffer[] = [];
  const scalars: number[] = [];
  const ints: number[] = [];
  const floats: number[] = [];
  const arrays: (readonly number[])[] = [];
  for (const p of ir.params) {
    if (!p.value) continue;
    const v = args[p.name];
    switch (p.value.type.kind) {
      case 'buffer':
        buffers.push(v as DeviceBuffer);
        mem.push(storage(v as DeviceBuffer));
        break;
      case 'array':
        arrays.push(v as readonly number[]);
        break;
      default:
        scalars.push(v as number);
        if (p.value.type.kind === 'scalar' && p.value.type.s === 'float') floats.push(v as number);
        else ints.push(v as number);
    }
  }
  return { kernel: ir.name, device, grid, mem, scalars, ints, floats, arrays, buffers };
}
