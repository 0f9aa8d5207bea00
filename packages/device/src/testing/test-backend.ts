/**
 * A deliberately simple backend for this package's own tests and for writing backends against: one fictional device
 * ("testchip", not a real product, so its numbers need no source) and a plain roofline model — time is launch
 * latency plus the largest of matrix, vector and memory time. Real backends live in their own packages.
 */
import { formatBytes, TesseraError } from '../errors';
import type { CostRecord } from '../kernel/cost';
import { rooflineCopyTime, rooflineKernelTime } from '../model/roofline';
import type { Backend, CopyDescriptor, KernelTiming, LaunchDescriptor } from '../runtime/backend';
import type { DeviceProperties } from '../runtime/properties';
import { validateDeviceSpec } from '../runtime/spec';

const TESTCHIP: DeviceProperties = {
  id: 'testchip',
  name: 'Tessera TestChip (fictional)',
  vendor: 'tessera',
  architecture: 'roofline test model',
  computeCapability: '1.0',
  computeUnits: 8,
  computeUnitName: 'unit',
  subUnits: [
    { name: 'matrix', perUnit: 1, role: 'matrix' },
    { name: 'vector', perUnit: 1, role: 'vector' },
  ],
  clockGHz: 1,
  memoryBytes: 1024 ** 3,
  memoryType: 'test memory',
  memoryBandwidthGBs: 100,
  l2Bytes: 4 * 1024 ** 2,
  onChip: {
    sharedPerUnit: 128 * 1024,
    sharedPerBlock: 48 * 1024,
    sharedPerBlockOptin: 96 * 1024,
    registersPerUnit: 65536,
    sharedAlignment: 4,
  },
  warpSize: 32,
  maxThreadsPerBlock: 1024,
  maxThreadsPerUnit: 2048,
  maxBlocksPerUnit: 16,
  maxBlockDim: [1024, 1024, 64],
  maxGridDim: [2 ** 31 - 1, 65535, 65535],
  dtypes: ['f32', 'f16', 'bf16', 'i32', 'i16', 'i8', 'u8'],
  peakTflops: {
    matrix: { f32: 1, tf32: 2, f16: 4, bf16: 4, i8: 8, u8: 8 },
    vector: { f32: 0.5, f16: 1, bf16: 1, i32: 0.5 },
    special: 0.1,
  },
  hostLink: { name: 'test link', pinnedGBs: 10, pageableGBs: 5, latencyUs: 5 },
  sources: { all: 'fictional test device' },
};

const LAUNCH_US = 5;

export function createTestBackend(): Backend {
  const catalog: DeviceProperties[] = [TESTCHIP];
  return {
    name: 'test-sim',
    description: 'Fictional roofline device for unit tests',
    catalog: () => catalog,
    addDevice(spec: unknown, source = 'device spec') {
      const d = validateDeviceSpec(spec, source);
      const i = catalog.findIndex((c) => c.id === d.id);
      if (i >= 0) catalog[i] = d;
      else catalog.push(d);
      return d;
    },
    allocationGranularity: () => 256,
    checkLaunch(device: DeviceProperties, launch: LaunchDescriptor) {
      const need = launch.probe.resources.dotOperandBytes * 2;
      if (need > device.onChip.sharedPerBlockOptin) {
        throw new TesseraError(
          'InvalidConfiguration',
          `launch of '${launch.kernel}': dot operand tiles need ${formatBytes(need)} of shared memory (double-buffered), above ${formatBytes(device.onChip.sharedPerBlockOptin)}.`,
          { hint: 'Use smaller tiles.' },
        );
      }
    },
    kernelTime: (device: DeviceProperties, cost: CostRecord): KernelTiming =>
      rooflineKernelTime(device, cost, LAUNCH_US),
    copyTime: (device: DeviceProperties, copy: CopyDescriptor): number => rooflineCopyTime(device, copy),
  };
}
