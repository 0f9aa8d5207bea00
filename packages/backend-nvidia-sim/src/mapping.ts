/**
 * How a launch occupies an NVIDIA GPU: warps per program, shared-memory pipeline stages, registers, and from those
 * the programs resident per SM (occupancy) — and the checks that reject what cannot run.
 *
 * Tile programs become thread blocks. As Triton does, a program gets 8 warps when its largest tile has ≥ 128·128
 * elements, 4 from 1024, 2 from 256, else 1. `dot` operand tiles are staged in shared memory through a pipeline of
 * up to 3 stages (Triton's default `num_stages`); at least 2 (double buffering) must fit the per-block opt-in limit.
 * Accumulators and other tiles live in registers (4 bytes per f32 element, plus 32 registers per thread of overhead).
 */
import {
  type CostDType,
  type CostRecord,
  type DeviceProperties,
  formatBytes,
  type LaunchDescriptor,
  TesseraError,
} from '@tessera/device';
import type { LaunchMapping } from '@tessera/device/model';

export interface Occupancy {
  threads: number;
  warps: number;
  stages: number;
  sharedBytes: number;
  registerBytes: number;
  resident: number;
}

function warpsFor(elements: number): number {
  if (elements >= 128 * 128) return 8;
  if (elements >= 1024) return 4;
  if (elements >= 256) return 2;
  return 1;
}

export function occupancy(device: DeviceProperties, cost: CostRecord, kernel: string): Occupancy {
  const r = cost.resources;
  const oc = device.onChip;
  const regFile = oc.registersPerUnit * 4;
  let threads: number;
  let stages = 0;
  let sharedBytes: number;
  let registerBytes: number;
  if (cost.block) {
    threads = cost.block[0] * cost.block[1] * cost.block[2];
    sharedBytes = r.sharedMemoryBytes;
    registerBytes = threads * 32 * 4;
  } else {
    const elements = Math.max(r.accumulatorBytes, r.vectorTileBytes) / 4;
    threads = 32 * warpsFor(elements);
    if (r.dotOperandBytes > 0) {
      stages = Math.min(3, Math.floor(oc.sharedPerBlockOptin / r.dotOperandBytes));
      if (stages < 2) {
        throw new TesseraError(
          'InvalidConfiguration',
          `launch of '${kernel}' on ${device.name}: its dot operand tiles take ${formatBytes(r.dotOperandBytes)} per stage, ` +
            `and double buffering needs ${formatBytes(2 * r.dotOperandBytes)} of shared memory — above the ${formatBytes(oc.sharedPerBlockOptin)} a block may use.`,
          { hint: 'Use smaller BM, BN or BK (e.g. 128×128×64 for 16-bit inputs).' },
        );
      }
    }
    sharedBytes = r.dotOperandBytes * stages;
    registerBytes = Math.max(threads * 32 * 4, r.accumulatorBytes + r.vectorWorkingSetBytes + threads * 32 * 4);
  }
  if (registerBytes > regFile) {
    throw new TesseraError(
      'InvalidConfiguration',
      `launch of '${kernel}' on ${device.name}: a program holds ${formatBytes(registerBytes)} of tiles in registers, ` +
        `more than the SM's ${formatBytes(regFile)} register file.`,
      { hint: 'Use smaller tiles (BLOCK, BM, BN) and loop over the rest inside the program.' },
    );
  }
  const resident = Math.max(
    1,
    Math.min(
      device.maxBlocksPerUnit,
      Math.floor(device.maxThreadsPerUnit / threads),
      sharedBytes > 0 ? Math.floor(oc.sharedPerUnit / sharedBytes) : Number.POSITIVE_INFINITY,
      Math.floor(regFile / registerBytes),
    ),
  );
  return { threads, warps: threads / 32, stages, sharedBytes, registerBytes, resident };
}

export function checkLaunch(device: DeviceProperties, launch: LaunchDescriptor): void {
  occupancy(device, launch.probe, launch.kernel);
}

/** Per-SM rates (ops/s) from the device's whole-chip peaks. */
export function mapLaunch(device: DeviceProperties, cost: CostRecord): LaunchMapping {
  const occ = occupancy(device, cost, cost.kernel);
  const sms = device.computeUnits;
  const perUnit = (t: Partial<Record<CostDType, number>>) =>
    Object.fromEntries(Object.entries(t).map(([k, v]) => [k, ((v ?? 0) * 1e12) / sms])) as Partial<
      Record<CostDType, number>
    >;
  // f32 on the CUDA cores is not a matrix-unit path: the model runs it on the vector lanes (2 FLOPs per FMA).
  const { f32: _cudaCoreF32, ...tensor } = device.peakTflops.matrix;
  return {
    units: sms,
    residentPerUnit: occ.resident,
    matrixRate: perUnit(tensor),
    vectorRate: perUnit(device.peakTflops.vector),
    specialRate: (device.peakTflops.special * 1e12) / sms,
    notes: { warps: occ.warps, stages: occ.stages, sharedBytes: occ.sharedBytes },
  };
}
