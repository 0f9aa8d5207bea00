/**
 * The ascend-sim backend: the catalogue, the launch checks and the mapping onto AI cores / vector cores; times come
 * from the shared model in `@tessera/device/model` with the DaVinci constants of arch.ts.
 */
import { type Backend, type DeviceProperties, validateDeviceSpec } from '@tessera/device';
import { modelCopyTime, modelKernelTime } from '@tessera/device/model';
import { DAVINCI } from './arch';
import { ASCEND_CATALOG } from './catalog';
import { checkLaunch, mapLaunch } from './mapping';

/** aclrtMalloc with ACL_MEM_MALLOC_HUGE_FIRST takes 2 MiB huge pages; capacity accounting rounds up to them. */
const ALLOCATION_GRANULARITY = 2 * 1024 ** 2;

export function createAscendSimBackend(): Backend {
  const catalog: DeviceProperties[] = [...ASCEND_CATALOG];
  return {
    name: 'ascend-sim',
    description: 'Simulated Huawei Ascend NPUs (910B2, 910B4, 910C dies)',
    catalog: () => catalog,
    addDevice(spec: unknown, source = 'device spec') {
      const base = ASCEND_CATALOG[0]!;
      const d = validateDeviceSpec(spec, source, {
        vendor: 'huawei',
        architecture: base.architecture,
        computeCapability: base.computeCapability,
        computeUnitName: base.computeUnitName,
        subUnits: base.subUnits,
        onChip: base.onChip,
        warpSize: base.warpSize,
        maxThreadsPerBlock: base.maxThreadsPerBlock,
        maxThreadsPerUnit: base.maxThreadsPerUnit,
        maxBlocksPerUnit: base.maxBlocksPerUnit,
        maxBlockDim: base.maxBlockDim,
        maxGridDim: base.maxGridDim,
        hostLink: base.hostLink,
        dtypes: base.dtypes,
      });
      const i = catalog.findIndex((c) => c.id === d.id);
      if (i >= 0) catalog[i] = d;
      else catalog.push(d);
      return d;
    },
    allocationGranularity: () => ALLOCATION_GRANULARITY,
    checkLaunch,
    kernelTime: (device, cost) => modelKernelTime(device, DAVINCI, mapLaunch(device, cost), cost),
    copyTime: (device, copy) => modelCopyTime(device, DAVINCI, copy),
  };
}
