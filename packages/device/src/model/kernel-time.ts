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
): { total: number; matrix: number; vector: number; special: number; load: number } {
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
  for (const dt of COST_DTYPES) {
    const ops = c.vectorOpsOf(dt);
    if (ops === 0) continue;
    const r = rateFor(m.vectorRate, dt === 'bool' ? 'i32' : dt) ?? rateFor(m.vectorRate, 'f32')!;
    vector += ops / r;
  }
  const special = c.specialOps / m.specialRate;
  const load = (c.bytesRead + c.bytesWritten) / (arch.unitLoadBytesPerClock * device.clockGHz * 1e9);
  const fill = (2 * arch.dramLatencyUs * 1e-6) / Math.max(1, m.residentPerUnit);
  return { total: Math.max(matrix, vector, special, load) + fill, matrix, vector, special, load };
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
  const timed = cost.classes.map((cl) => {
    const p = programSeconds(cl.cost, device, arch, m);
    sumMatrix += p.matrix * cl.count;
    sumVector += p.vector * cl.count;
    sumSpecial += p.special * cl.count;
    sumLoad += p.load * cl.count;
    return { count: cl.count, seconds: p.total };
  });
  const compute = makespan(timed, m.units);
  const slots = m.units * Math.max(1, m.residentPerUnit);
  const traffic = dramTraffic(cost, device.l2Bytes, slots);
  const memory = traffic.dram / (device.memoryBandwidthGBs * 1e9 * arch.dramEfficiency);
  const launch = arch.launchUs * 1e-6;
  const body = Math.max(compute, memory);
  const us = (s: number) => s * 1e6;
  // What bounds it: memory if the DRAM term wins; otherwise the busiest pipe; latency if overheads dominate.
  const perUnit = (s: number) => s / m.units;
  const pipes = { matrix: perUnit(sumMatrix), vector: perUnit(sumVector + sumSpecial) };
  // The on-chip load path (bytes into each unit) is a memory-side limit too.
  const load = perUnit(sumLoad);
  let bound: KernelTiming['bound'] =
    memory >= compute || (load >= pipes.matrix && load >= pipes.vector)
      ? 'memory'
      : pipes.matrix >= pipes.vector
        ? 'matrix'
        : 'vector';
  const busiest = Math.max(memory, pipes.matrix, pipes.vector, load);
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
      load: us(load),
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
