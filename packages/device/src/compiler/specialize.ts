/**
 * Specialisation: what of a launch's arguments a compiled kernel depends on. As in Triton, constexprs, buffer dtypes
 * and divisibility-by-16 hints of integer scalars form the key; runtime scalars, host arrays, the grid and buffer
 * sizes do not, so a launch with new scalars or a new grid reuses the compiled kernel. SIMT kernels also specialise on
 * their block shape and dynamic shared memory (thread loops and shared arrays are laid out per block), and on the
 * device's warp size (the lanes warp intrinsics exchange values between; `k.warpSize`, `k.laneId`).
 */
import type { DType } from '../dtype/dtype';
import type { Kernel, ParamSpec } from '../kernel/kernel';
import type { DeviceBuffer } from '../memory/buffer';

export type ParamBinding =
  | { name: string; spec: ParamSpec; kind: 'constexpr'; value: number }
  | { name: string; spec: ParamSpec; kind: 'buffer'; dtype: DType }
  | { name: string; spec: ParamSpec; kind: 'scalar'; s: 'int' | 'float'; div16: boolean }
  | { name: string; spec: ParamSpec; kind: 'array'; elem: 'int' | 'float' };

export interface Specialization {
  key: string;
  params: ParamBinding[];
  /** SIMT only: threads per block (x, y, z) and dynamic shared bytes. */
  block: readonly [number, number, number] | null;
  dynamicSharedBytes: number;
  /** SIMT only: the device's warp size (32 on NVIDIA; 1 where there are no warps). */
  warpSize: number;
}

/** The specialisation of `kernel` for one launch's (already validated) arguments. */
export function specialize(
  kernel: Kernel,
  args: Record<string, unknown>,
  block: readonly [number, number, number] | null,
  dynamicSharedBytes: number,
  warpSize = 32,
): Specialization {
  const params: ParamBinding[] = [];
  const parts: string[] = [];
  for (const [name, spec] of Object.entries(kernel.params as Record<string, ParamSpec>)) {
    const v = args[name];
    if (spec === 'constexpr') {
      params.push({ name, spec, kind: 'constexpr', value: v as number });
      parts.push(`${name}=${v}`);
    } else if (spec.startsWith('ptr')) {
      const dtype = (v as DeviceBuffer).dtype;
      params.push({ name, spec, kind: 'buffer', dtype });
      parts.push(`${name}:${dtype}`);
    } else if (spec === 'i32[]' || spec === 'f32[]') {
      params.push({ name, spec, kind: 'array', elem: spec === 'i32[]' ? 'int' : 'float' });
    } else {
      const int = spec !== 'f32';
      const div16 = int && (v as number) % 16 === 0;
      params.push({ name, spec, kind: 'scalar', s: int ? 'int' : 'float', div16 });
      if (div16) parts.push(`${name}%16`);
    }
  }
  if (block) parts.push(`block=${block.join('x')}`, `smem=${dynamicSharedBytes}`, `warp=${warpSize}`);
  return { key: `{${parts.join(', ')}}`, params, block, dynamicSharedBytes, warpSize };
}
