/**
 * The kernel timing model every simulated device uses; backends supply the architecture's parameters and how
 * programs map onto its units. One model, so every device's figures follow from its spec the same way.
 *
 *   t_program = max(t_matrix, t_vector, t_special, t_load) + t_fill
 *     t_matrix  = matrix FLOPs / (unit matrix peak × matrix utilisation)
 *     t_vector  = vector ops / unit vector rate              t_special = special ops / unit SFU rate
 *     t_load    = bytes the program moves / unit load path (bytes per clock × clock)
 *     t_fill    = 2 × DRAM latency / programs resident per unit   (pipeline fill and drain, hidden by co-residents)
 *   t_compute = makespan of all programs over the units (list scheduling: waves and the tail wave)
 *   t_memory  = DRAM bytes / (peak bandwidth × DRAM efficiency)       (DRAM bytes: see traffic.ts)
 *   t_kernel  = launch overhead + max(t_compute, t_memory)
 *
 * SIMT kernels with warp-level counters (ProgramCost.simt) on an architecture with SIMT parameters (`arch.simt`):
 *   t_vector  = float warp instructions × warp size / unit f32 vector rate                (replaces FLOPs)
 *   t_load    = L2 requests × request slot bytes / (unit load path bytes per clock × clock)   (replaces bytes)
 *   t_l1      = (shared-memory wavefronts + L2 requests) / (L1 wavefronts per clock × clock)
 *   t_issue   = warp instructions / (warp instructions issued per clock × clock)
 *   t_program = max(t_matrix, t_vector, t_special, t_load, t_l1, t_issue) + t_fill
 *   t_atomics = updates of the launch's most-updated address / (same-address updates per clock × clock)
 *   t_kernel  = launch overhead + max(t_compute, t_memory, t_atomics)
 */
import type { CostDType, CostRecord } from '../kernel/cost';
import { COST_DTYPES } from '../kernel/cost';
import type { KernelTiming } from '../runtime/backend';
import type { DeviceProperties } from '../runtime/properties';
import { makespan, waves } from './schedule';
import { dramTraffic } from './traffic';

/** Per-architecture constants (each documented with its source by the backend that sets it). */
export interface ArchParameters {
  /** Launch overhead per kernel, µs. */
  launchUs: number;
  /** Latency of a load from device memory, µs. */
  dramLatencyUs: number;
  /** Sustained fraction of peak DRAM bandwidth under streaming access. */
  dramEfficiency: number;
  /** Sustained fraction of the matrix units' peak in a well-fed GEMM main loop. */
  matrixUtilization: number;
  /** Bytes per clock one unit's load/store path moves between L2/HBM and on-chip memory. */
  unitLoadBytesPerClock: number;
  /** How SIMT warps use the unit (devices with warps); absent: SIMT kernels are costed by bytes and FLOPs only. */
  simt?: SimtArchParameters;
}

/** Per-unit figures of a SIMT architecture (each documented with its source by the backend that sets it). */
export interface SimtArchParameters {
  /** Warp instructions a unit issues per clock (its warp schedulers, one instruction each). */
  issuePerClock: number;
  /**
   * Wavefronts the unit's L1 / shared-memory data path serves per clock: a shared-memory wavefront (one word from
   * each bank) or one 128-byte line of a global access.
   */
  l1WavefrontsPerClock: number;
  /** Bytes of the unit's load path one L2 request occupies, however few of its sectors it uses. */
  l2RequestBytes: number;
  /** Updates of one address the memory system performs per clock (same-address atomics serialise there). */
  atomicUpdatesPerClock: number;
}

/** How one launch maps onto the device (decided by the backend from the cost record). */
export interface LaunchMapping {
  /** Units the programs spread over: SMs, AI cores, or vector cores for vector-only kernels on Ascend. */
  units: number;
  /** Programs resident on one unit at a time (occupancy). */
  residentPerUnit: number;
  /** Per-unit throughput, operations per second. Matrix: FLOPs by operand dtype (dtypes absent run on vector units). */
  matrixRate: Partial<Record<CostDType, number>>;
  /** Vector element-ops per second by result dtype (one op per element). */
  vectorRate: Partial<Record<CostDType, number>>;
  /** Special-function ops per second. */
  specialRate: number;
  /** Notes for the timing breakdown (e.g. warps per program, stages). */
  notes?: Record<string, number>;
}

function rateFor(rates: Partial<Record<CostDType, number>>, dt: CostDType): number | undefined {
  return rates[dt];
}

/** Seconds one program of the given cost occupies a unit. */
function programSeconds(
  c: CostRecord['classes'][number]['cost'],
  device: DeviceProperties,
  arch: ArchParameters,
  m: LaunchMapping,
  warpSize: number,
): { total: number; matrix: number; vector: number; special: number; load: number; l1: number; issue: number } {
  let matrix = 0;
  let vectorFromMatrix = 0;
  for (const dt of COST_DTYPES) {
    const f = c.matrixFlopsOf(dt);
    if (f === 0) continue;
    const r = rateFor(m.matrixRate, dt);
    if (r) matrix += f / (r * arch.matrixUtilization);
    else {
      // No matrix-unit path for this dtype (f32 IEEE dot, say): it runs as FMAs on the vector units, 2 FLOPs each.
      const vr = rateFor(m.vectorRate, dt === 'tf32' ? 'f32' : dt) ?? rateFor(m.vectorRate, 'f32')!;
      vectorFromMatrix += f / (2 * vr);
    }
  }
  let vector = vectorFromMatrix;
  const hz = device.clockGHz * 1e9;
  const w = c.simt;
  const sa = arch.simt;
  const warps = sa !== undefined && w.warpInstructions > 0;
  if (warps) vector += (w.vectorInstructions * warpSize) / rateFor(m.vectorRate, 'f32')!;
  else {
    for (const dt of COST_DTYPES) {
      const ops = c.vectorOpsOf(dt);
      if (ops === 0) continue;
      const r = rateFor(m.vectorRate, dt === 'bool' ? 'i32' : dt) ?? rateFor(m.vectorRate, 'f32')!;
      vector += ops / r;
    }
  }
  const special = c.specialOps / m.specialRate;
  let load: number;
  let l1 = 0;
  let issue = 0;
  if (warps) {
    // Warp-level counters: the load path carries L2 requests (a line's slot each), not bytes.
    load = (w.l2Requests * sa.l2RequestBytes) / (arch.unitLoadBytesPerClock * hz);
    l1 = (w.sharedWavefronts + w.l2Requests) / (sa.l1WavefrontsPerClock * hz);
    issue = w.warpInstructions / (sa.issuePerClock * hz);
  } else load = (c.bytesRead + c.bytesWritten) / (arch.unitLoadBytesPerClock * hz);
  const fill = (2 * arch.dramLatencyUs * 1e-6) / Math.max(1, m.residentPerUnit);
  return {
    total: Math.max(matrix, vector, special, load, l1, issue) + fill,
    matrix,
    vector,
    special,
    load,
    l1,
    issue,
  };
}

export function modelKernelTime(
  device: DeviceProperties,
  arch: ArchParameters,
  m: LaunchMapping,
  cost: CostRecord,
): KernelTiming {
  let sumMatrix = 0;
  let sumVector = 0;
  let sumSpecial = 0;
  let sumLoad = 0;
  let sumL1 = 0;
  let sumIssue = 0;
  const timed = cost.classes.map((cl) => {
    const p = programSeconds(cl.cost, device, arch, m, cost.simt?.warpSize ?? device.warpSize);
    sumMatrix += p.matrix * cl.count;
    sumVector += p.vector * cl.count;
    sumSpecial += p.special * cl.count;
    sumLoad += p.load * cl.count;
    sumL1 += p.l1 * cl.count;
    sumIssue += p.issue * cl.count;
    return { count: cl.count, seconds: p.total };
  });
  const compute = makespan(timed, m.units);
  const slots = m.units * Math.max(1, m.residentPerUnit);
  const traffic = dramTraffic(cost, device.l2Bytes, slots);
  const memory = traffic.dram / (device.memoryBandwidthGBs * 1e9 * arch.dramEfficiency);
  const launch = arch.launchUs * 1e-6;
  // Same-address atomics serialise where the address lives, whichever units issue them.
  const hot = cost.simt?.hotAtomicUpdates ?? 0;
  const atomics = arch.simt && hot > 0 ? hot / (arch.simt.atomicUpdatesPerClock * device.clockGHz * 1e9) : 0;
  const body = Math.max(compute, memory, atomics);
  const us = (s: number) => s * 1e6;
  // What bounds it: memory if the DRAM term wins; otherwise the busiest pipe; latency if overheads dominate.
  const perUnit = (s: number) => s / m.units;
  const pipes = { matrix: perUnit(sumMatrix), vector: perUnit(sumVector + sumSpecial + sumIssue) };
  // The on-chip load path (bytes into each unit), the L1 / shared-memory path and atomics are memory-side limits too.
  const load = Math.max(perUnit(sumLoad), perUnit(sumL1));
  let bound: KernelTiming['bound'] =
    memory >= compute || atomics >= compute || (load >= pipes.matrix && load >= pipes.vector)
      ? 'memory'
      : pipes.matrix >= pipes.vector
        ? 'matrix'
        : 'vector';
  const busiest = Math.max(memory, atomics, pipes.matrix, pipes.vector, load);
  if (busiest < launch + (body - busiest)) bound = 'latency';
  return {
    ms: (launch + body) * 1e3,
    bound,
    breakdown: {
      launch: us(launch),
      compute: us(compute),
      memory: us(memory),
      matrix: us(pipes.matrix),
      vector: us(pipes.vector),
      load: us(perUnit(sumLoad)),
      ...(arch.simt && cost.style === 'simt'
        ? { l1: us(perUnit(sumL1)), issue: us(perUnit(sumIssue)), atomics: us(atomics) }
        : {}),
      waves: waves(cost.programs, slots),
      units: m.units,
      residentPerUnit: m.residentPerUnit,
      dramBytes: traffic.dram,
      requestedBytes: traffic.requested,
      l2HitRate: traffic.l2HitRate,
      ...m.notes,
    },
  };
}
