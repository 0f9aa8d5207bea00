/**
 * How a launch maps onto an Ascend NPU, and what it must respect.
 *
 * - A tile program that uses `dot` runs on one AI core: the Cube unit takes `dot` (operands staged GM → L1 → L0A/L0B,
 *   accumulator in L0C), the two Vector units the rest. Programs run one per core; a grid larger than the core count
 *   runs in waves, as a persistent kernel looping over its work would.
 * - A tile program without `dot` is vector-only and runs on one vector core (AIV): 2 per AI core, 48 on a 910B2.
 * - A SIMT block runs on one AIV too (the 910B has no SIMT hardware; the 950 adds a SIMT mode): its threads map to
 *   vector lanes and its shared memory is the Unified Buffer.
 * Checks: tiles must fit L1 (double-buffered operands), L0C (accumulator) and the 192 KiB Unified Buffer; UB views must
 * be 32-byte aligned; a launch has at most 65 535 blocks.
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

const MAX_BLOCKS = 65535;

function usesCube(cost: CostRecord): boolean {
  return cost.block === null && cost.total.dotOps > 0;
}

export function checkLaunch(device: DeviceProperties, launch: LaunchDescriptor): void {
  const where = `launch of '${launch.kernel}' on ${device.name}`;
  const programs = launch.grid[0] * launch.grid[1] * launch.grid[2];
  if (programs > MAX_BLOCKS) {
    throw new TesseraError(
      'InvalidConfiguration',
      `${where}: ${programs} blocks is above Ascend's limit of ${MAX_BLOCKS} (blockDim).`,
      {
        hint: `Launch at most ${2 * device.computeUnits} to ${MAX_BLOCKS} programs and loop over the remaining work inside the kernel (a persistent kernel).`,
      },
    );
  }
  const r = launch.probe.resources;
  const oc = device.onChip;
  const ub = oc.sharedPerUnit;
  if (launch.style === 'simt') {
    if (r.minSharedAlignment !== 0 && r.minSharedAlignment < oc.sharedAlignment) {
      throw new TesseraError(
        'InvalidValue',
        `${where}: misaligned Unified Buffer access — a shared-memory view starts at an offset aligned to only ${r.minSharedAlignment} bytes.`,
        {
          hint: `The Unified Buffer needs ${oc.sharedAlignment}-byte alignment: start dynamicShared() views at multiples of ${oc.sharedAlignment}.`,
        },
      );
    }
    return;
  }
  if (r.dotOperandBytes > 0 && 2 * r.dotOperandBytes > (oc.l1 ?? 0)) {
    throw new TesseraError(
      'InvalidConfiguration',
      `${where}: dot operand tiles take ${formatBytes(r.dotOperandBytes)}; double-buffered that is ${formatBytes(2 * r.dotOperandBytes)}, above the AI core's ${formatBytes(oc.l1 ?? 0)} L1 buffer.`,
      { hint: 'Use smaller BM, BN or BK (e.g. 128×256×64 for 16-bit inputs).' },
    );
  }
  if (r.accumulatorBytes > (oc.l0c ?? 0)) {
    throw new TesseraError(
      'InvalidConfiguration',
      `${where}: the dot accumulator takes ${formatBytes(r.accumulatorBytes)}, above the Cube's ${formatBytes(oc.l0c ?? 0)} L0C buffer.`,
      { hint: 'Use a smaller BM × BN (at most 32 768 f32 elements, e.g. 128×256).' },
    );
  }
  if (r.vectorWorkingSetBytes > ub) {
    throw new TesseraError(
      'InvalidConfiguration',
      `${where}: one vector operation works on ${formatBytes(r.vectorWorkingSetBytes)} of tiles (inputs and output), above the ${formatBytes(ub)} Unified Buffer of a vector core ("ub overflow").`,
      { hint: 'Use a smaller BLOCK and loop over the rest inside the program.' },
    );
  }
}

export function mapLaunch(device: DeviceProperties, cost: CostRecord): LaunchMapping {
  const cube = usesCube(cost);
  const cores = device.computeUnits;
  const units = cube ? cores : 2 * cores;
  const per = (t: Partial<Record<CostDType, number>>) =>
    Object.fromEntries(Object.entries(t).map(([k, v]) => [k, ((v ?? 0) * 1e12) / units])) as Partial<
      Record<CostDType, number>
    >;
  return {
    units,
    residentPerUnit: 1,
    matrixRate: cube ? per(device.peakTflops.matrix) : {},
    vectorRate: per(device.peakTflops.vector),
    specialRate: (device.peakTflops.special * 1e12) / units,
    notes: { cube: cube ? 1 : 0 },
  };
}
