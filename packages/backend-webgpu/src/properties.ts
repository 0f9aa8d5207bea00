/**
 * The device an adapter is, in Tessera's `DeviceProperties` shape. WebGPU tells us the adapter's name, vendor and
 * limits, not its memory size, clock or peak rates, so:
 *
 * - An adapter a registered simulator's catalogue knows (its description names the product, e.g. "NVIDIA H100 …")
 *   takes that catalogue entry's figures and sources, and its modelled time is that simulator's (backend.ts): on a
 *   real H100 the measured time sits next to what nvidia-sim models for it.
 * - Any other adapter gets figures that follow from what the host can tell: for Mesa's llvmpipe (a CPU rasteriser)
 *   the host's cores and clock (os.cpus()) × 8 f32 lanes × 2 (one 256-bit FMA per cycle: llvmpipe JITs to AVX2 on
 *   x86-64 via LLVM) and the host's memory; other GPUs get the same estimate labelled as one. These are estimates
 *   (the `sources` say so), good for a plausible model, not for claims; `TESSERA_WEBGPU_MEMORY_GB` sets the capacity.
 *   The point of the software adapter is correctness and the plumbing, not speed.
 */
import os from 'node:os';
import { type DeviceProperties, DTYPES } from '@tessera/device';
import type { AdapterReport } from './protocol';

/** A readable id from the adapter's name: `llvmpipe`, `nvidia-geforce-rtx-4090`. */
export function adapterId(a: AdapterReport): string {
  const soft = `${a.device} ${a.description}`.toLowerCase().match(/llvmpipe|lavapipe|swiftshader/);
  if (soft) return soft[0];
  // On OpenGL, Dawn's description is the GL version string and `device` the renderer.
  const raw = (
    a.api === 'opengl' ? a.device || a.description : a.description || a.device || a.vendor || 'gpu'
  ).toLowerCase();
  const first = raw.split('(')[0]!.trim();
  const slug = first
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40);
  return slug || 'gpu';
}

/** Catalogue entry whose product name the adapter's description contains (e.g. "H100" in "NVIDIA H100 80GB HBM3"). */
export function matchCatalog(a: AdapterReport, catalog: readonly DeviceProperties[]): DeviceProperties | null {
  const desc = `${a.description} ${a.device}`.toUpperCase();
  for (const d of catalog) {
    const product = d.name.match(/\b([A-Z]\d{2,4}[A-Z]?)\b/)?.[1];
    if (product && new RegExp(`\\b${product}\\b`).test(desc)) return d;
  }
  return null;
}

function memoryBytes(): { bytes: number; source: string } {
  const gb = Number(process.env.TESSERA_WEBGPU_MEMORY_GB);
  if (Number.isFinite(gb) && gb > 0) return { bytes: Math.floor(gb * 1024 ** 3), source: 'TESSERA_WEBGPU_MEMORY_GB' };
  const half = Math.floor(os.totalmem() / 2);
  return {
    bytes: Math.min(half, 16 * 1024 ** 3),
    source: 'WebGPU reports no memory size: half the host memory, at most 16 GiB (set TESSERA_WEBGPU_MEMORY_GB)',
  };
}

/** Device properties for an adapter; `known` is the catalogue entry it matched, if any. */
export function adapterProperties(a: AdapterReport, known: DeviceProperties | null): DeviceProperties {
  const L = a.limits;
  const maxInvocations = L.maxComputeInvocationsPerWorkgroup ?? 256;
  const blockDim: [number, number, number] = [
    L.maxComputeWorkgroupSizeX ?? 256,
    L.maxComputeWorkgroupSizeY ?? 256,
    L.maxComputeWorkgroupSizeZ ?? 64,
  ];
  const perDim = L.maxComputeWorkgroupsPerDimension ?? 65535;
  const shared = L.maxComputeWorkgroupStorageSize ?? 16384;
  const api = `WebGPU on ${a.api === 'vulkan' ? 'Vulkan' : 'OpenGL ES'} (Dawn, ${a.featureLevel} level)`;
  const limitSource = `adapter limits reported by WebGPU (${api})`;
  // WebGPU's limits replace the product's CUDA limits: they are what a dispatch may use here.
  const simt = {
    warpSize: a.subgroupSize ?? 32,
    maxThreadsPerBlock: maxInvocations,
    maxBlockDim: blockDim,
    // Launches fold grids into 2-D dispatches of ≤ maxComputeWorkgroupsPerDimension (@tessera/device/wgsl run-program.ts).
    maxGridDim: [2 ** 31 - 1, perDim, perDim] as [number, number, number],
  };
  if (known) {
    return {
      ...known,
      ...simt,
      id: `${known.id}-webgpu`,
      name: `${known.name} via ${api}`,
      onChip: { ...known.onChip, sharedPerBlock: shared, sharedPerBlockOptin: shared },
      dtypes: [...DTYPES],
      sources: { ...known.sources, limits: limitSource },
      notes: `${a.description}; figures from the ${known.id} catalogue entry, limits from the adapter`,
    };
  }
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const ghz = (os.cpus()[0]?.speed ?? 2000) / 1000 || 2;
  const software = /llvmpipe|lavapipe|swiftshader|software/i.test(`${a.description} ${a.device} ${a.architecture}`);
  // llvmpipe names its vector width in the renderer string ("llvmpipe (LLVM 15.0.6, 256 bits)"): 256 → 8 f32 lanes.
  const bits = Number(`${a.device} ${a.description}`.match(/(\d+)[ -]bits/)?.[1] ?? 256);
  const lanes = bits / 32;
  const f32Tflops = (cores * ghz * lanes * 2) / 1000; // lanes × FMA (2 flops) per cycle per core
  const mem = memoryBytes();
  const estimate = software
    ? 'estimate: the software rasteriser runs on the host CPU: os.cpus() cores × clock × (vector bits in the renderer name / 32) f32 lanes × 2 (FMA)'
    : 'estimate: WebGPU reports no peak rates; the host-CPU formula is used as a placeholder (set a device spec)';
  return {
    id: adapterId(a),
    name: `${(a.api === 'opengl' ? a.device : a.description) || a.description || a.vendor || 'WebGPU adapter'} via ${api}`,
    vendor: /nvidia/i.test(a.vendor) ? 'nvidia' : 'tessera',
    architecture: a.architecture || a.api,
    computeCapability: a.featureLevel === 'core' ? 'webgpu-core' : 'webgpu-compat',
    computeUnits: software ? cores : 1,
    computeUnitName: software ? 'CPU core' : 'unit',
    subUnits: [{ name: software ? 'SIMD lanes' : 'ALU', perUnit: 1, role: 'vector' }],
    clockGHz: ghz,
    memoryBytes: mem.bytes,
    memoryType: software ? 'host memory' : 'unknown',
    // Host DRAM: two DDR4-3200 channels move 51.2 GB/s at peak; a software rasteriser gets a fraction. Estimate.
    memoryBandwidthGBs: 20,
    l2Bytes: 32 * 1024 ** 2,
    onChip: {
      sharedPerUnit: shared,
      sharedPerBlock: shared,
      sharedPerBlockOptin: shared,
      // WebGPU reports no register file. The kernel library sizes tiles from it (a program's tiles live in registers
      // on a GPU; in invocations' private memory here): 64 K 32-bit registers per unit, as every NVIDIA SM since
      // Kepler has — an assumption, so tiles are the size GPU kernels use.
      registersPerUnit: 65536,
      sharedAlignment: 4,
    },
    maxThreadsPerUnit: maxInvocations,
    maxBlocksPerUnit: 1,
    ...simt,
    dtypes: [...DTYPES],
    peakTflops: {
      matrix: { f32: f32Tflops, tf32: f32Tflops, f16: f32Tflops, bf16: f32Tflops, i8: f32Tflops, u8: f32Tflops },
      vector: { f32: f32Tflops / 2, f16: f32Tflops / 2, bf16: f32Tflops / 2, i32: f32Tflops / 2 },
      special: f32Tflops / 16,
    },
    // Uploads and read-backs are host memcpys into Dawn's staging buffers (software) or PCIe (a real GPU): estimate.
    hostLink: { name: software ? 'host memory' : 'unknown bus', pinnedGBs: 10, pageableGBs: 5, latencyUs: 20 },
    sources: {
      computeUnits: software ? 'os.availableParallelism()' : 'unknown to WebGPU',
      clockGHz: 'os.cpus()[0].speed',
      peakTflops: estimate,
      memoryBytes: mem.source,
      memoryBandwidthGBs: 'estimate: host DRAM as seen by one rasteriser (no WebGPU query exists)',
      hostLink: 'estimate: staging copies in host memory',
      limits: limitSource,
      registersPerUnit: 'assumption: WebGPU reports no register file; 64 K 32-bit registers per unit as on NVIDIA SMs',
    },
    notes: `${a.vendor} ${a.architecture} ${a.device} ${a.description}`.replace(/\s+/g, ' ').trim(),
  };
}
