/**
 * Tile choices from a device's properties: the largest tile of a candidate list that the device's on-chip memory can
 * hold, shrunk for small problems so programs are not mostly padding. The same rules for every vendor, fed by each
 * device's figures (shared memory per block on NVIDIA; L1, L0C and the Unified Buffer on Ascend).
 */
import type { DeviceProperties, DType } from '@tessera/device';
import { DTYPE_INFO } from '@tessera/device';

export interface GemmConfig {
  BM: number;
  BN: number;
  BK: number;
}

/** Candidates, largest first: the shapes cuBLAS / CUTLASS and Ascend's matmul tiling use for large problems. */
const GEMM_TILES: readonly GemmConfig[] = [
  { BM: 128, BN: 256, BK: 64 },
  { BM: 128, BN: 128, BK: 64 },
  { BM: 128, BN: 128, BK: 32 },
  { BM: 64, BN: 128, BK: 32 },
  { BM: 64, BN: 64, BK: 32 },
  { BM: 32, BN: 64, BK: 32 },
  { BM: 16, BN: 64, BK: 32 },
];

/**
 * True if a BM×BN×BK tile with `inBytes`-byte operands and an f32/i32 accumulator fits the device. `epilogueBytes` is
 * what a fused epilogue holds per output element besides the accumulator (a residual tile and its f32 copy: ≈ 8 B).
 */
export function gemmTileFits(device: DeviceProperties, t: GemmConfig, inBytes: number, epilogueBytes = 0): boolean {
  const operands = (t.BM * t.BK + t.BK * t.BN) * inBytes;
  const acc = t.BM * t.BN * 4;
  const oc = device.onChip;
  if (device.vendor === 'huawei') {
    // Cube path: operands double-buffered in L1, accumulator in L0C; the epilogue runs on the vector units from UB.
    return (
      2 * operands <= (oc.l1 ?? oc.sharedPerUnit) &&
      acc <= (oc.l0c ?? acc) &&
      t.BM * t.BN * epilogueBytes <= oc.sharedPerUnit
    );
  }
  // Shared memory holds ≥ 2 pipeline stages; accumulator and epilogue tiles share the register file with the
  // threads' own registers (256 threads × 32).
  const regs = acc + t.BM * t.BN * epilogueBytes + 256 * 32 * 4;
  return (
    2 * operands <= oc.sharedPerBlockOptin && regs <= oc.registersPerUnit * 4 && acc <= (oc.registersPerUnit * 4) / 2
  );
}

/**
 * Bytes a program's f32 accumulator tile may take: the Cube's L0C on Ascend; on NVIDIA half the register file of an
 * SM (the rule gemmTileFits applies: FlashMLA's 64 heads × 512 f32 per CTA is exactly that, 128 KiB on Hopper).
 */
export function accumulatorBudget(device: DeviceProperties): number {
  const oc = device.onChip;
  if (device.vendor === 'huawei') return oc.l0c ?? oc.sharedPerUnit;
  return (oc.registersPerUnit * 4) / 2;
}

const nextPow2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

/**
 * Picks BM, BN, BK for an M×N×K GEMM of `dtype` inputs on `device`: among the tiles that fit, the one with the least
 * estimated time — waves over the device's units × work per program, where small tiles pay for re-reading operands
 * (relative load cost 32/BM + 32/BN). Large problems get large tiles; small ones get enough programs to fill the units.
 */
export function chooseGemmConfig(
  device: DeviceProperties,
  M: number,
  N: number,
  K: number,
  dtype: DType,
  epilogueBytes = 0,
): GemmConfig {
  const inBytes = DTYPE_INFO[dtype].bytes;
  let best: GemmConfig = { BM: 16, BN: 16, BK: 16 };
  let bestScore = Number.POSITIVE_INFINITY;
  for (const t of GEMM_TILES) {
    if (!gemmTileFits(device, t, inBytes, epilogueBytes)) continue;
    // Shrink to the problem: a 1-row GEMM (decode) should not pay for 128 rows.
    const BM = Math.min(t.BM, Math.max(16, nextPow2(M)));
    const BN = Math.min(t.BN, Math.max(16, nextPow2(N)));
    const BK = Math.min(t.BK, Math.max(16, nextPow2(K)));
    const programs = Math.ceil(M / BM) * Math.ceil(N / BN);
    const waves = Math.ceil(programs / device.computeUnits);
    const score = waves * BM * BN * (1 + 32 / BM + 32 / BN);
    if (score < bestScore) {
      bestScore = score;
      best = { BM, BN, BK };
    }
  }
  return best;
}

/** Programs for a streaming kernel over `blocks` blocks: enough to fill every unit a few times over, never more. */
export function streamingGrid(device: DeviceProperties, blocks: number): number {
  // Ascend runs vector work on 2 vector cores per AI core, one block each (persistent); GPUs want several blocks per SM.
  const slots = device.vendor === 'huawei' ? 2 * device.computeUnits : 8 * device.computeUnits;
  return Math.max(1, Math.min(blocks, slots));
}

/**
 * Largest power-of-two BLOCK (elements) for a vector kernel keeping `liveTiles` tiles of BLOCK `bytes`-byte elements
 * on chip: within half the register file on a GPU, within the 192 KiB Unified Buffer on Ascend. Capped at 16 384.
 */
export function maxVectorBlock(device: DeviceProperties, liveTiles = 3, bytes = 4): number {
  const budget = device.vendor === 'huawei' ? device.onChip.sharedPerUnit : (device.onChip.registersPerUnit * 4) / 2;
  let b = 16384;
  while (b > 32 && liveTiles * b * bytes > budget) b /= 2;
  return b;
}
