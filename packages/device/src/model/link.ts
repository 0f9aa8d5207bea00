/**
 * Host links. PCIe moves 128b/130b-encoded data in transaction-layer packets; with 256-byte payloads and ≈ 24 bytes of
 * TLP/DLLP overhead per packet, at most ≈ 90 % of the raw rate carries data, and measured pinned-memory copies
 * (CUDA `bandwidthTest`) land near 80 % of raw: ≈ 25–26 GB/s on Gen4 x16, ≈ 50–55 GB/s on Gen5 x16.
 * Pageable copies are staged through a pinned bounce buffer by one host thread, so they run at the slower of the
 * link and a single-core memcpy.
 */
import type { HostLink } from '../runtime/properties';

/** Raw per-direction rate of a x16 link, GB/s (PCI-SIG: 16 GT/s per lane Gen4, 32 GT/s Gen5, 128b/130b). */
const RAW_X16_GBS = { 4: (16 * 16 * 128) / 130 / 8, 5: (32 * 16 * 128) / 130 / 8 } as const;
/** Fraction of the raw rate a pinned DMA copy achieves (bandwidthTest: ≈ 25.5 of 31.5 GB/s on Gen4 x16). */
export const PCIE_EFFICIENCY = 0.81;
/** Single-thread host memcpy rate used for pageable staging, GB/s (one DDR5 server core; STREAM copy per core). */
export const HOST_STAGING_GBS = 12;
/** Fixed cost of one copy (driver call + DMA setup), µs (cudaMemcpy of a few bytes takes ≈ 8–10 µs end to end). */
export const COPY_LATENCY_US = 8;

export function pcieX16(gen: 4 | 5): HostLink {
  const pinned = RAW_X16_GBS[gen] * PCIE_EFFICIENCY;
  return {
    name: `PCIe Gen${gen} x16`,
    pinnedGBs: Math.round(pinned * 10) / 10,
    pageableGBs: Math.min(pinned, HOST_STAGING_GBS),
    latencyUs: COPY_LATENCY_US,
  };
}
