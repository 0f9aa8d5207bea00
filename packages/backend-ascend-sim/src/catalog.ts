/**
 * The simulated Ascend NPUs. One AI core = 1 Cube unit (AIC) + 2 Vector units (AIV). Figures from the project's
 * gathered sources (CANN platform configuration values for DAV_2201, Huawei product pages, arXiv 2506.12708 §3.3.1);
 * each entry's `sources` says which. Capacities read the quoted "GB" as GiB.
 *   peakTflops.matrix — Cube: 16×16×16 = 4096 FP16 MACs per cycle per core (8192 INT8) × 2 FLOPs × cores × clock.
 *   peakTflops.vector — element-ops/s: 128 FP16 (64 FP32 / INT32) lanes per cycle per AIV × 2 AIVs × cores × clock.
 *   peakTflops.special — Exp/Ln/Sqrt/Rsqrt on the AIV: no public throughput figure; we charge one FP32 lane-op per
 *                        4 cycles (a quarter of the FP32 vector rate), an assumption documented as such.
 *   boardPowerW — Huawei publishes no board power for the 910B or 910C (only for the original 910, 2019). Every figure
 *                 here is second-hand or our estimate, and `powerQuality` / `powerSource` say which.
 */
import type { DeviceProperties, FigureQuality } from '@tessera/device';
import { pcieX16 } from '@tessera/device/model';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const CUBE_MACS = 4096;
const AIV_FP16_LANES = 128;

const SOURCES = {
  core: 'AI core = AIC + 2 AIV; Cube 4096 FP16 MAC/cycle; AIV 128 FP16 lanes/cycle; L1 512 KiB, L0A/L0B 64 KiB, L0C 128 KiB, UB 192 KiB (32-byte aligned): CANN platform_config for DAV_2201 as quoted in huawei-csl/pto-dsl, and the Ascend C programming guide',
  limits: 'Ascend C: kernel<<<blockDim, nullptr, stream>>> with blockDim in [1, 65535]',
  b2: 'Atlas 800T A2 / 910B2 product information: 24 AI cores, 1.8 GHz, 64 GB HBM2e ≈ 1.6 TB/s, 192 MB L2',
  b4: '910B4: 20 AI cores at 1.5 GHz, 32 GB HBM2e, 96 MB L2 (Huawei product information as gathered in the project reference)',
  c: '910C: two 910B-class dies per package, each its own device; ≈ 376 TFLOPS BF16, 64 GB, 1.6 TB/s per die (arXiv 2506.12708 §3.3.1; hiascend MindCluster docs)',
  host: 'PCIe Gen4 x16 host interface',
};

/**
 * Board power. The only figure Huawei itself published for an Ascend 910 is the original 910's (August 2019 launch,
 * Eric Xu: 310 W maximum measured against a 350 W design target; as reported by PureAI, 2019-09-03, and agi.it,
 * 2019-08-23). The 910B is a later die (made by SMIC, not TSMC); for it only second-hand figures exist,
 * 310–400 W. We take the upper end, 400 W: a power budget must provision the maximum.
 */
const POWER = {
  b2: "Huawei publishes no 910B board power. Second-hand reports range 310–400 W (the 310 W ones repeat the original Ascend 910's figure: Huawei, August 2019, 310 W measured vs 350 W designed, as reported by PureAI and agi.it); the upper end, 400 W, is used as a provisioning bound. The 400 W report is from the project's gathered notes and was not re-located at its original source",
  b4: "ESTIMATE: no figure, first- or second-hand, for the 910B4; taken equal to the 910B2's 400 W second-hand bound (the same 910B die with 20 of its AI cores enabled at 1.5 GHz, so a bound from above)",
  c: "ESTIMATE: no per-chip figure for the 910C is published by Huawei or, as far as we found, by analysts; a 910C package is two 910B-class dies, so each die (one device) takes the 910B2's 400 W second-hand bound (800 W per package). Bounded from above by SemiAnalysis's CloudMatrix384 whole-system figure: 559 kW ÷ 768 dies = 728 W per die including hosts, switches and optics",
};

interface AscendSpec {
  id: string;
  name: string;
  cores: number;
  clockGHz: number;
  memoryGiB: number;
  bandwidthGBs: number;
  l2MiB: number;
  sources: Record<string, string>;
  power: { watts: number; source: string; quality: FigureQuality };
  notes?: string;
}

function ascend(s: AscendSpec): DeviceProperties {
  const tf = (opsPerCycle: number) => (opsPerCycle * s.cores * s.clockGHz) / 1000;
  const fp16Vec = tf(2 * AIV_FP16_LANES);
  const fp32Vec = fp16Vec / 2;
  return {
    id: s.id,
    name: s.name,
    vendor: 'huawei',
    architecture: 'Ascend DaVinci (DAV_2201)',
    computeCapability: 'dav-c220',
    computeUnits: s.cores,
    computeUnitName: 'AI core',
    subUnits: [
      { name: 'Cube', perUnit: 1, role: 'matrix' },
      { name: 'Vector', perUnit: 2, role: 'vector' },
    ],
    clockGHz: s.clockGHz,
    memoryBytes: s.memoryGiB * GiB,
    memoryType: 'HBM2e',
    memoryBandwidthGBs: s.bandwidthGBs,
    l2Bytes: s.l2MiB * MiB,
    onChip: {
      // SIMT blocks run on one vector core: their shared memory is that core's Unified Buffer.
      sharedPerUnit: 192 * KiB,
      sharedPerBlock: 192 * KiB,
      sharedPerBlockOptin: 192 * KiB,
      registersPerUnit: 0,
      sharedAlignment: 32,
      l1: 512 * KiB,
      l0a: 64 * KiB,
      l0b: 64 * KiB,
      l0c: 128 * KiB,
    },
    // SIMT emulation limits (a block on one AIV, threads on its lanes); see the package docs.
    warpSize: 1,
    maxThreadsPerBlock: 1024,
    maxThreadsPerUnit: 1024,
    maxBlocksPerUnit: 1,
    maxBlockDim: [1024, 1024, 64],
    maxGridDim: [65535, 65535, 65535],
    dtypes: ['f32', 'f16', 'bf16', 'i32', 'i16', 'i8', 'u8'],
    peakTflops: {
      matrix: { f16: tf(2 * CUBE_MACS), bf16: tf(2 * CUBE_MACS), i8: tf(4 * CUBE_MACS), u8: tf(4 * CUBE_MACS) },
      vector: { f16: fp16Vec, bf16: fp16Vec, f32: fp32Vec, i32: fp32Vec, i16: fp16Vec, i8: fp16Vec, u8: fp16Vec },
      special: fp32Vec / 4,
    },
    hostLink: pcieX16(4),
    boardPowerW: s.power.watts,
    powerSource: s.power.source,
    powerQuality: s.power.quality,
    sources: { core: SOURCES.core, limits: SOURCES.limits, hostLink: SOURCES.host, ...s.sources },
    ...(s.notes ? { notes: s.notes } : {}),
  };
}

export const ASCEND_910B2 = ascend({
  id: '910b2',
  name: 'Huawei Ascend 910B2',
  cores: 24,
  clockGHz: 1.8,
  memoryGiB: 64,
  bandwidthGBs: 1600,
  l2MiB: 192,
  sources: { device: SOURCES.b2 },
  power: { watts: 400, source: POWER.b2, quality: 'second-hand' },
});

export const ASCEND_910B4 = ascend({
  id: '910b4',
  name: 'Huawei Ascend 910B4',
  cores: 20,
  clockGHz: 1.5,
  memoryGiB: 32,
  bandwidthGBs: 1600,
  l2MiB: 96,
  sources: {
    device: SOURCES.b4,
    memoryBandwidthGBs: 'not published for the 910B4; assumed equal to the 910B2 (1.6 TB/s)',
  },
  power: { watts: 400, source: POWER.b4, quality: 'estimate' },
});

export const ASCEND_910C = ascend({
  id: '910c',
  name: 'Huawei Ascend 910C (one die)',
  cores: 24,
  // The clock at which 24 cores × 4096 MACs × 2 give the quoted ≈ 376 TFLOPS per die.
  clockGHz: 376e12 / (24 * CUBE_MACS * 2) / 1e9,
  memoryGiB: 64,
  bandwidthGBs: 1600,
  l2MiB: 192,
  sources: { device: SOURCES.c },
  power: { watts: 400, source: POWER.c, quality: 'estimate' },
  notes:
    'one die of a two-die 910C package (752 TFLOPS BF16, 128 GB, 3.2 TB/s per package); the driver shows each die as a device',
});

export const ASCEND_CATALOG: readonly DeviceProperties[] = [ASCEND_910B2, ASCEND_910B4, ASCEND_910C];
