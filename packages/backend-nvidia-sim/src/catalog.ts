/**
 * The simulated NVIDIA GPUs. Every figure is a datasheet or whitepaper number; `sources` names where it comes from.
 * Capacities are the datasheet's "GB" read as GiB (what the board reports). Rates:
 *   peakTflops.matrix — dense Tensor Core TFLOPS by operand dtype; `f32` is IEEE FP32 on the CUDA cores (FMA = 2 FLOPs).
 *   peakTflops.vector — elementwise tera-ops/s, one op per lane per clock: half the datasheet's non-tensor TFLOPS
 *                       (which counts an FMA as two); int32 from the per-SM INT32 lane count.
 *   peakTflops.special — special-function ops: 16 SFUs per SM (4 per SM sub-partition) × clock.
 *   boardPowerW — the datasheet's maximum board power ("Max thermal design power (TDP)") of the SXM part; every
 *                 NVIDIA figure here is the vendor's own (`powerQuality: 'datasheet'`).
 */
import type { DeviceProperties } from '@tessera/device';
import { pcieX16 } from '@tessera/device/model';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const SOURCES = {
  a100: 'NVIDIA A100 Tensor Core GPU datasheet (SXM4 80GB) and NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020)',
  h100: 'NVIDIA H100 Tensor Core GPU datasheet (SXM5) and NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022)',
  h200: 'NVIDIA H200 Tensor Core GPU datasheet (SXM, 2024)',
  b200: 'NVIDIA HGX B200 / DGX B200 datasheet (2024); per-GPU dense figures are half the quoted sparse ones',
  // Board power (max TDP), each from the vendor's own document.
  a100Power: 'NVIDIA A100 Tensor Core GPU datasheet (2020/2021): A100 80GB SXM, "Max thermal design power (TDP) 400W"',
  h100Power:
    'NVIDIA H100 Tensor Core GPU datasheet (2022): H100 SXM, "Max thermal design power (TDP) up to 700W (configurable)"',
  h200Power:
    'NVIDIA H200 Tensor Core GPU datasheet (2024): H200 SXM, "Max thermal design power (TDP) up to 700W (configurable)"',
  b200Power:
    'NVIDIA Blackwell datasheet (2024), HGX B200 configuration: B200 at up to 1,000 W per GPU (tabulated from it by glennklockwood.com); the GB200 NVL72 configuration runs the same GPU at up to 1,200 W',
  cuda: 'CUDA C++ Programming Guide, "Compute Capabilities" table (threads, blocks, grid and shared-memory limits)',
};

/** Limits common to compute capability 8.0–10.0 (CUDA Programming Guide, "Compute Capabilities"). */
const SIMT = {
  warpSize: 32,
  maxThreadsPerBlock: 1024,
  maxThreadsPerUnit: 2048,
  maxBlocksPerUnit: 32,
  maxBlockDim: [1024, 1024, 64] as const,
  maxGridDim: [2 ** 31 - 1, 65535, 65535] as const,
};

const subUnits = (tensorCores: number, fp32Lanes: number) => [
  { name: 'Tensor Core', perUnit: tensorCores, role: 'matrix' as const },
  { name: 'CUDA core (FP32 lane)', perUnit: fp32Lanes, role: 'vector' as const },
];

/** SFU ops/s for `sms` SMs at `ghz`, in tera-ops. */
const sfu = (sms: number, ghz: number) => (16 * sms * ghz) / 1000;

export const A100: DeviceProperties = {
  id: 'a100',
  name: 'NVIDIA A100-SXM4-80GB',
  vendor: 'nvidia',
  architecture: 'Ampere (sm_80)',
  computeCapability: '8.0',
  computeUnits: 108,
  computeUnitName: 'SM',
  subUnits: subUnits(4, 64),
  clockGHz: 1.41,
  memoryBytes: 80 * GiB,
  memoryType: 'HBM2e',
  memoryBandwidthGBs: 2039,
  l2Bytes: 40 * MiB,
  onChip: {
    sharedPerUnit: 164 * KiB,
    sharedPerBlock: 48 * KiB,
    sharedPerBlockOptin: 163 * KiB,
    registersPerUnit: 65536,
    sharedAlignment: 16,
  },
  ...SIMT,
  dtypes: ['f32', 'f16', 'bf16', 'i32', 'i16', 'i8', 'u8'],
  peakTflops: {
    matrix: { bf16: 312, f16: 312, tf32: 156, i8: 624, u8: 624, f32: 19.5 },
    vector: { f32: 9.75, f16: 39, bf16: 19.5, i32: 9.75, i16: 9.75, i8: 9.75, u8: 9.75 },
    special: sfu(108, 1.41),
  },
  hostLink: pcieX16(4),
  boardPowerW: 400,
  powerSource: SOURCES.a100Power,
  powerQuality: 'datasheet',
  sources: {
    all: SOURCES.a100,
    limits: SOURCES.cuda,
    vector:
      'A100 whitepaper: 64 FP32 + 64 INT32 lanes per SM; non-tensor FP16 78 TFLOPS, BF16 39 TFLOPS, FP32 19.5 TFLOPS',
    hostLink: 'PCIe Gen4 x16 (A100 SXM4 host interface)',
  },
};

export const H100: DeviceProperties = {
  id: 'h100',
  name: 'NVIDIA H100 SXM5 80GB',
  vendor: 'nvidia',
  architecture: 'Hopper (sm_90)',
  computeCapability: '9.0',
  computeUnits: 132,
  computeUnitName: 'SM',
  subUnits: subUnits(4, 128),
  clockGHz: 1.98,
  memoryBytes: 80 * GiB,
  memoryType: 'HBM3',
  memoryBandwidthGBs: 3350,
  l2Bytes: 50 * MiB,
  onChip: {
    sharedPerUnit: 228 * KiB,
    sharedPerBlock: 48 * KiB,
    sharedPerBlockOptin: 227 * KiB,
    registersPerUnit: 65536,
    sharedAlignment: 16,
  },
  ...SIMT,
  dtypes: ['f32', 'f16', 'bf16', 'fp8e4m3', 'fp8e5m2', 'i32', 'i16', 'i8', 'u8'],
  peakTflops: {
    matrix: {
      bf16: 989.4,
      f16: 989.4,
      fp8e4m3: 1978.9,
      fp8e5m2: 1978.9,
      tf32: 494.7,
      i8: 1978.9,
      u8: 1978.9,
      f32: 66.9,
    },
    vector: { f32: 33.45, f16: 66.9, bf16: 66.9, i32: 16.7, i16: 16.7, i8: 16.7, u8: 16.7 },
    special: sfu(132, 1.98),
  },
  hostLink: pcieX16(5),
  boardPowerW: 700,
  powerSource: SOURCES.h100Power,
  powerQuality: 'datasheet',
  sources: {
    all: SOURCES.h100,
    limits: SOURCES.cuda,
    vector:
      'H100 whitepaper: 128 FP32 + 64 INT32 lanes per SM; non-tensor FP16/BF16 133.8 TFLOPS, FP32 66.9 TFLOPS at 1.98 GHz',
    hostLink: 'PCIe Gen5 x16 (H100 SXM5 host interface)',
  },
};

export const H200: DeviceProperties = {
  ...H100,
  id: 'h200',
  name: 'NVIDIA H200 SXM 141GB',
  memoryBytes: 141 * GiB,
  memoryType: 'HBM3e',
  memoryBandwidthGBs: 4800,
  boardPowerW: 700,
  powerSource: SOURCES.h200Power,
  powerQuality: 'datasheet',
  sources: { ...H100.sources, all: `${SOURCES.h200}; compute as H100 SXM5 (${SOURCES.h100})` },
};

export const B200: DeviceProperties = {
  id: 'b200',
  name: 'NVIDIA B200 192GB',
  vendor: 'nvidia',
  architecture: 'Blackwell (sm_100)',
  computeCapability: '10.0',
  computeUnits: 148,
  computeUnitName: 'SM',
  subUnits: subUnits(4, 128),
  // The clock at which 148 SMs × 128 FP32 lanes × 2 give the quoted 80 TFLOPS FP32.
  clockGHz: 80e12 / (148 * 128 * 2) / 1e9,
  memoryBytes: 192 * GiB,
  memoryType: 'HBM3e',
  memoryBandwidthGBs: 8000,
  l2Bytes: 126 * MiB,
  onChip: {
    sharedPerUnit: 228 * KiB,
    sharedPerBlock: 48 * KiB,
    sharedPerBlockOptin: 227 * KiB,
    registersPerUnit: 65536,
    sharedAlignment: 16,
  },
  ...SIMT,
  dtypes: ['f32', 'f16', 'bf16', 'fp8e4m3', 'fp8e5m2', 'i32', 'i16', 'i8', 'u8'],
  peakTflops: {
    matrix: { bf16: 2250, f16: 2250, fp8e4m3: 4500, fp8e5m2: 4500, tf32: 1100, i8: 4500, u8: 4500, f32: 80 },
    vector: { f32: 40, f16: 80, bf16: 80, i32: 20, i16: 20, i8: 20, u8: 20 },
    special: sfu(148, 80e12 / (148 * 128 * 2) / 1e9),
  },
  hostLink: pcieX16(5),
  boardPowerW: 1000,
  powerSource: SOURCES.b200Power,
  powerQuality: 'datasheet',
  sources: {
    all: SOURCES.b200,
    limits: SOURCES.cuda,
    l2: 'L2 size is not in the datasheet; public teardowns give 96–126 MB; we use 126 MB (two dies × 63 MB)',
    vector:
      'FP32 80 TFLOPS from the datasheet; non-tensor FP16/BF16 and INT32 lane counts assumed as Hopper (2× and 0.5× FP32)',
    hostLink: 'PCIe Gen5 x16',
  },
};

export const NVIDIA_CATALOG: readonly DeviceProperties[] = [A100, H100, H200, B200];
