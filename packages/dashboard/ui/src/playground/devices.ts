/**
 * The simulated devices the playground offers: every catalogue device of every registered simulator backend, found
 * through @tessera/device's registry (register-backends.ts registers them; nothing here names a backend package).
 */
import { type Backend, type DeviceProperties, getBackend, listBackends } from '@tessera/device';
import { REGISTERED_SIMULATORS } from '../register-backends';
import { PlaygroundError } from './types';

export type PlaygroundVendor = 'nvidia' | 'ascend' | 'other';

export interface SimulatedDevice {
  backend: Backend;
  device: DeviceProperties;
  vendor: PlaygroundVendor;
}

export function vendorOf(p: DeviceProperties): PlaygroundVendor {
  return p.vendor === 'nvidia' ? 'nvidia' : p.vendor === 'huawei' ? 'ascend' : 'other';
}

/**
 * The registered simulator backends, highest priority first. Opt-in backends (webgpu: creating it opens a GPU) and
 * backends that run kernels on real hardware (an `executor`) are left out: the playground drives the visitor's GPU
 * itself (webgpu.ts).
 */
export async function simulatorBackends(): Promise<Backend[]> {
  const out: Backend[] = [];
  for (const name of listBackends({ optIn: false })) {
    const b = await getBackend(name);
    if (!b.executor) out.push(b);
  }
  if (out.length === 0) {
    throw new PlaygroundError({
      kind: 'environment',
      message: 'No simulator backend is registered.',
      hint: `Import the dashboard's register-backends module first (it registers ${REGISTERED_SIMULATORS.join(', ')}).`,
    });
  }
  return out;
}

/** Every catalogue device of every simulator backend, in backend order then catalogue order. */
export async function simulatedDevices(): Promise<SimulatedDevice[]> {
  const out: SimulatedDevice[] = [];
  for (const backend of await simulatorBackends()) {
    for (const device of backend.catalog()) out.push({ backend, device, vendor: vendorOf(device) });
  }
  return out;
}

/** A device by catalogue id (`h100`, `910c`; case-insensitive), optionally within one backend. */
export async function findSimulatedDevice(deviceId: string, backendName?: string): Promise<SimulatedDevice> {
  const all = await simulatedDevices();
  const want = String(deviceId).trim().toLowerCase();
  const hit = all.find(
    (d) => d.device.id === want && (backendName === undefined || d.backend.name === backendName.toLowerCase()),
  );
  if (!hit) {
    throw new PlaygroundError({
      kind: 'environment',
      message: `No simulated device '${deviceId}'${backendName ? ` on backend '${backendName}'` : ''}.`,
      hint: `Devices: ${all.map((d) => `${d.device.id} (${d.backend.name})`).join(', ')}.`,
    });
  }
  return hit;
}

/** A device for a picker: plain data (it crosses postMessage). */
export interface PlaygroundDeviceInfo {
  backend: string;
  vendor: PlaygroundVendor;
  deviceId: string;
  deviceName: string;
  /** Peak device-memory bandwidth, GB/s; peak dense f32 vector TFLOPS. */
  memoryBandwidthGBs: number;
  vectorTflopsF32: number;
}

/** Every simulated device the playground can model or run on. */
export async function listPlaygroundDevices(): Promise<PlaygroundDeviceInfo[]> {
  return (await simulatedDevices()).map(({ backend, device, vendor }) => ({
    backend: backend.name,
    vendor,
    deviceId: device.id,
    deviceName: device.name,
    memoryBandwidthGBs: device.memoryBandwidthGBs,
    vectorTflopsF32: device.peakTflops.vector.f32 ?? 0,
  }));
}
