/**
 * The nvidia-sim backend: the catalogue, the launch checks and the mapping onto SMs; times come from the shared model
 * in `@tessera/device/model` with the architecture constants of arch.ts.
 */
import { type Backend, type DeviceProperties, validateDeviceSpec } from '@tessera/device';
import { modelCopyTime, modelKernelTime } from '@tessera/device/model';
import { archOf, archParameters } from './arch';
import { NVIDIA_CATALOG } from './catalog';
import { checkLaunch, mapLaunch } from './mapping';

/** cudaMalloc hands out memory in 2 MiB pages; capacity accounting rounds each allocation up to that. */
const ALLOCATION_GRANULARITY = 2 * 1024 ** 2;

export function createNvidiaSimBackend(): Backend {
  const catalog: DeviceProperties[] = [...NVIDIA_CATALOG];
  return {
    name: 'nvidia-sim',
    description: 'Simulated NVIDIA data-center GPUs (Ampere, Hopper, Blackwell)',
    catalog: () => catalog,
    addDevice(spec: unknown, source = 'device spec') {
      const base = NVIDIA_CATALOG[1]!;
      const d = validateDeviceSpec(spec, source, {
        vendor: 'nvidia',
        warpSize: base.warpSize,
        maxThreadsPerBlock: base.maxThreadsPerBlock,
        maxThreadsPerUnit: base.maxThreadsPerUnit,
        maxBlocksPerUnit: base.maxBlocksPerUnit,
        maxBlockDim: base.maxBlockDim,
        maxGridDim: base.maxGridDim,
        computeUnitName: 'SM',
      });
      const i = catalog.findIndex((c) => c.id === d.id);
      if (i >= 0) catalog[i] = d;
      else catalog.push(d);
      return d;
    },
    allocationGranularity: () => ALLOCATION_GRANULARITY,
    checkLaunch,
    kernelTime: (device, cost) =>
      modelKernelTime(device, archParameters(archOf(device.computeCapability)), mapLaunch(device, cost), cost),
    copyTime: (device, copy) => modelCopyTime(device, archParameters(archOf(device.computeCapability)), copy),
  };
}
