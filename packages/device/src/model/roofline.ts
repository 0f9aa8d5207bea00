/**
 * The plain roofline: a launch takes a fixed overhead plus the largest of its matrix, vector and memory times at the
 * device's peak rates; a copy takes its link's latency plus bytes over its rate. For devices without a calibrated
 * model (the reference backend's fictional chip, a WebGPU adapter no simulator knows); the simulators use
 * kernel-time.ts instead.
 */
import type { CostRecord } from '../kernel/cost';
import type { CopyDescriptor, KernelTiming } from '../runtime/backend';
import type { DeviceProperties } from '../runtime/properties';

export function rooflineKernelTime(device: DeviceProperties, cost: CostRecord, launchUs: number): KernelTiming {
  const t = cost.total;
  let matrixUs = 0;
  for (const [dt, tf] of Object.entries(device.peakTflops.matrix))
    matrixUs += t.matrixFlopsOf(dt as never) / (tf! * 1e6);
  let vectorUs = 0;
  for (const [dt, tf] of Object.entries(device.peakTflops.vector)) vectorUs += t.vectorOpsOf(dt as never) / (tf! * 1e6);
  const memUs = (t.bytesRead + t.bytesWritten) / (device.memoryBandwidthGBs * 1e3);
  const body = Math.max(matrixUs, vectorUs, memUs);
  const bound = body === 0 ? 'latency' : body === matrixUs ? 'matrix' : body === vectorUs ? 'vector' : 'memory';
  return {
    ms: (launchUs + body) / 1000,
    bound,
    breakdown: { launch: launchUs, matrix: matrixUs, vector: vectorUs, memory: memUs },
  };
}

/** Device copies and memsets move bytes at memory bandwidth (a copy reads and writes); host copies use the host link. */
export function rooflineCopyTime(device: DeviceProperties, copy: CopyDescriptor): number {
  if (copy.kind === 'DtoD' || copy.kind === 'memset') {
    const factor = copy.kind === 'DtoD' ? 2 : 1;
    return (2 + (copy.bytes * factor) / (device.memoryBandwidthGBs * 1e3)) / 1000;
  }
  const gbs = copy.pinned ? device.hostLink.pinnedGBs : device.hostLink.pageableGBs;
  const legs = copy.kind === 'PeerViaHost' ? 2 : 1;
  return (legs * (device.hostLink.latencyUs + copy.bytes / (gbs * 1e3))) / 1000;
}
