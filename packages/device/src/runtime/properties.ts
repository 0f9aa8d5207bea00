/**
 * What a device is: the fields of `cudaDeviceProp` and of `aclrtGetDeviceInfo`/`npu-smi info`, in one shape that
 * covers GPUs and NPUs. Backends fill it from datasheets; every figure's source goes in `sources`.
 */
import type { DType } from '../dtype/dtype';
import type { CostDType } from '../kernel/cost';

export type Vendor = 'nvidia' | 'huawei' | 'tessera';

/**
 * How good a hardware figure is: `datasheet` — the vendor's own published number; `second-hand` — a number the vendor
 * does not publish, as reported by a named third party (an analyst, the press); `estimate` — ours, derived as the
 * field's source says. Power figures carry one, because for several devices no vendor figure exists.
 */
export type FigureQuality = 'datasheet' | 'second-hand' | 'estimate';

export const FIGURE_QUALITIES: readonly FigureQuality[] = ['datasheet', 'second-hand', 'estimate'];

export interface SubUnit {
  /** e.g. "Tensor Core", "CUDA core", "Cube", "Vector". */
  name: string;
  /** How many of them sit in one compute unit (SM / AI core). */
  perUnit: number;
  /** What runs on it: `matrix` (dot), `vector` (elementwise, reductions). */
  role: 'matrix' | 'vector';
}

export interface OnChipMemory {
  /** Shared memory per SM, or the Unified Buffer per vector unit on Ascend (bytes). */
  sharedPerUnit: number;
  /** Default per-block limit (CUDA: 48 KiB without opt-in). */
  sharedPerBlock: number;
  /** Per-block limit after opt-in (`cudaFuncAttributeMaxDynamicSharedMemorySize`). */
  sharedPerBlockOptin: number;
  /** 32-bit registers per SM (NVIDIA); 0 where not applicable. */
  registersPerUnit: number;
  /** Alignment shared-memory / Unified Buffer views must keep (bytes): Ascend UB needs 32. */
  sharedAlignment: number;
  /** Ascend Cube buffers (bytes per AI core); absent on GPUs. */
  l1?: number;
  l0a?: number;
  l0b?: number;
  l0c?: number;
}

export interface HostLink {
  /** e.g. "PCIe Gen5 x16". */
  name: string;
  /** Achievable host↔device copy rate from pinned (page-locked) memory, GB/s (1e9 B/s) per direction. */
  pinnedGBs: number;
  /** Achievable rate from pageable memory (staged through a pinned bounce buffer), GB/s. */
  pageableGBs: number;
  /** Fixed cost of one copy (driver + DMA setup), µs. */
  latencyUs: number;
}

export interface DeviceProperties {
  /** Catalogue id, lower-case: `h100`, `910b2`. */
  id: string;
  /** Marketing name: "NVIDIA H100 SXM5 80GB". */
  name: string;
  vendor: Vendor;
  /** "Hopper (sm_90)", "Ascend DaVinci (dav-c220)". */
  architecture: string;
  /** CUDA compute capability or vendor equivalent, e.g. "9.0". */
  computeCapability: string;
  /** SMs on a GPU, AI cores on an Ascend NPU. */
  computeUnits: number;
  /** What a compute unit is called: "SM" or "AI core". */
  computeUnitName: string;
  subUnits: SubUnit[];
  /** Boost / nominal clock in GHz. */
  clockGHz: number;
  /** Device memory capacity in bytes. */
  memoryBytes: number;
  /** Memory kind, e.g. "HBM3". */
  memoryType: string;
  /** Peak device-memory bandwidth, GB/s (1e9 B/s). */
  memoryBandwidthGBs: number;
  l2Bytes: number;
  onChip: OnChipMemory;
  /** SIMT limits (NVIDIA); Ascend runs SIMT blocks on vector units with the same limits as documented per backend. */
  warpSize: number;
  maxThreadsPerBlock: number;
  maxThreadsPerUnit: number;
  maxBlocksPerUnit: number;
  maxBlockDim: readonly [number, number, number];
  maxGridDim: readonly [number, number, number];
  /** Dtypes the device can load, store and compute with; others fail at launch with `Unsupported`. */
  dtypes: readonly DType[];
  /** Dense peak TFLOPS (1e12/s) of the whole device, by unit and dtype. Matrix: `dot`; vector: elementwise. */
  peakTflops: {
    matrix: Partial<Record<CostDType, number>>;
    vector: Partial<Record<CostDType, number>>;
    /** Transcendental operations (SFU / vector special functions), tera-ops per second. */
    special: number;
  };
  hostLink: HostLink;
  /** Source of each figure, keyed by field name (e.g. `memoryBandwidthGBs`). */
  sources: Record<string, string>;
  /**
   * Board power, W: the vendor's maximum for the board or module (NVIDIA's "max TDP", Huawei's module power) — what
   * a power budget must provision, not a typical draw. Optional: a user device may leave it out, and then no power
   * figure is computed for it. When present, `powerSource` and `powerQuality` say where it comes from and how good
   * it is (for the Ascend catalogue it is second-hand or an estimate: Huawei publishes no board power).
   */
  boardPowerW?: number;
  /** Where `boardPowerW` comes from (document, date), and its derivation when it is an estimate. */
  powerSource?: string;
  /** `datasheet`, `second-hand` or `estimate` (see FigureQuality). */
  powerQuality?: FigureQuality;
  /** Free-form notes shown by `tessera devices` (e.g. "one die of a 910C package"). */
  notes?: string;
}
