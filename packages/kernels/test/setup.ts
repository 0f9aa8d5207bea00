/** Devices the kernel tests run on: one NVIDIA and one Ascend device, functional or timing-only. */
import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { createRuntime, type Device } from '@tessera/device';

export const TARGETS = [
  { backend: 'nvidia-sim', device: 'h100', create: createNvidiaSimBackend },
  { backend: 'ascend-sim', device: '910b2', create: createAscendSimBackend },
] as const;

export async function openDevice(
  t: (typeof TARGETS)[number],
  mode: 'functional' | 'timing' = 'functional',
): Promise<Device> {
  return (await createRuntime({ backend: t.create(), devices: t.device, mode })).device(0);
}
