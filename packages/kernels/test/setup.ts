/**
 * Devices the kernel tests run on: one NVIDIA and one Ascend device, functional or timing-only (`TARGETS`), and for
 * the numerics the WebGPU adapter of this machine too (`NUMERIC_TARGETS`: results computed on a GPU — in CI Mesa's
 * llvmpipe — must match the float64 references as the simulators' do). Without an adapter the webgpu target is left
 * out with a visible SKIP line.
 */
import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { createWebGpuBackend, webgpuAvailability } from '@tessera/backend-webgpu';
import { type Backend, createRuntime, type Device } from '@tessera/device';

export interface Target {
  backend: string;
  device: string;
  create: () => Backend | Promise<Backend>;
}

export const TARGETS: readonly Target[] = [
  { backend: 'nvidia-sim', device: 'h100', create: createNvidiaSimBackend },
  { backend: 'ascend-sim', device: '910b2', create: createAscendSimBackend },
];

const gpu = webgpuAvailability();
if (!gpu.ok) console.warn(`SKIP: kernel numerics on webgpu: ${gpu.reason}`);

/** TARGETS plus the WebGPU adapter, when this machine has one. */
export const NUMERIC_TARGETS: readonly Target[] = gpu.ok
  ? [
      ...TARGETS,
      { backend: 'webgpu', device: (await createWebGpuBackend()).catalog()[0]!.id, create: createWebGpuBackend },
    ]
  : TARGETS;

/**
 * Whether `t` is a simulator: tests of modelled time, catalogue figures and tile choices are about the simulated
 * devices' datasheet figures, which the webgpu device (real hardware, estimated figures) does not have.
 */
export function isSimulator(t: Target): boolean {
  return t.backend !== 'webgpu';
}

/** The float dtypes a numerics test runs on `t`: f32 and f16 on webgpu (its CI adapter is a CPU), all on simulators. */
export function floatsFor<D extends string>(t: Target, dtypes: readonly D[]): D[] {
  return isSimulator(t) ? [...dtypes] : dtypes.filter((d) => d === 'f32' || d === 'f16');
}

export async function openDevice(t: Target, mode: 'functional' | 'timing' = 'functional'): Promise<Device> {
  return (await createRuntime({ backend: await t.create(), devices: t.device, mode })).device(0);
}
