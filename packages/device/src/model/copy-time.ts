/**
 * Copies and memsets. Host↔device copies cross the host link (latency + bytes / link rate, pinned or pageable);
 * device-to-device copies read and write device memory (2 bytes of DRAM traffic per byte copied); memsets write it.
 * Copies between two devices without a peer link are staged through host memory: two host-link legs.
 */
import type { CopyDescriptor } from '../runtime/backend';
import type { DeviceProperties } from '../runtime/properties';
import type { ArchParameters } from './kernel-time';

/** Milliseconds. */
export function modelCopyTime(device: DeviceProperties, arch: ArchParameters, copy: CopyDescriptor): number {
  const link = device.hostLink;
  const dram = device.memoryBandwidthGBs * 1e9 * arch.dramEfficiency;
  let us: number;
  switch (copy.kind) {
    case 'HtoD':
    case 'DtoH':
      us = link.latencyUs + (copy.bytes / ((copy.pinned ? link.pinnedGBs : link.pageableGBs) * 1e9)) * 1e6;
      break;
    case 'PeerViaHost':
      us = 2 * (link.latencyUs + (copy.bytes / (link.pinnedGBs * 1e9)) * 1e6);
      break;
    case 'DtoD':
      us = arch.launchUs + ((2 * copy.bytes) / dram) * 1e6;
      break;
    case 'memset':
      us = arch.launchUs + (copy.bytes / dram) * 1e6;
      break;
  }
  return us / 1000;
}
