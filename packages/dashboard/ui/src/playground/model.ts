/**
 * The visitor's launch modelled on every catalogue device, without running it: the kernel's cost record by analysis
 * of its IR (`inspectKernel(…).cost(grid)`, as `tessera compile --dump cost` does), the device's checks (limits,
 * dtypes, the backend's on-chip fit), then `backend.kernelTime(device, cost)`. Nothing is allocated, so any size the
 * kernel's indices allow can be modelled — the same figures a timing-only launch gives.
 */
import {
  type CostRecord,
  type DeviceProperties,
  DTYPE_INFO,
  type KernelInspection,
  type KernelTiming,
  TesseraError,
} from '@tessera/device';
import { type PlaygroundVendor, type SimulatedDevice, simulatedDevices } from './devices';
import { compileFor } from './inspect';
import { issueFrom } from './source';
import { type Dim3, PlaygroundError, type PlaygroundIssue, type PlaygroundProgram } from './types';

export interface DeviceModelRow {
  /** Registry name of the backend (`nvidia-sim`, `ascend-sim`). */
  backend: string;
  vendor: PlaygroundVendor;
  deviceId: string;
  deviceName: string;
  /** The catalogue's peak device-memory bandwidth, GB/s (to read a memory-bound kernel's times against). */
  memoryBandwidthGBs: number;
  /** Modelled kernel time, ms; null when the device refuses the launch (`error`). */
  ms: number | null;
  /** What limited it: `matrix` / `vector` (compute), `memory`, `latency` (launch and too few programs). */
  bound: KernelTiming['bound'] | null;
  /** The model's components in microseconds (launch, matrix, vector, memory, waves, …). */
  breakdown: Record<string, number>;
  /** Why this device refuses the launch (grid or block limits, a dtype it lacks, tiles that do not fit on chip). */
  error: PlaygroundIssue | null;
}

/** The launch's totals from its cost record (for SIMT: counted on 32-lane warps). */
export interface CostTotals {
  /** Tile programs or SIMT blocks. */
  programs: number;
  /** Matrix-unit FLOPs + vector ops + special-function ops. */
  flops: number;
  matrixFlops: number;
  vectorOps: number;
  specialOps: number;
  bytesRead: number;
  bytesWritten: number;
  atomicOps: number;
  /** False when SIMT counters were estimated from a sample of blocks or iterations. */
  exact: boolean;
  /** Ops whose bytes are an upper bound (masks or offsets from loaded data), as source snippets. */
  bounds: string[];
}

export interface ModelReport {
  kernel: string;
  style: 'tile' | 'simt';
  grid: Dim3;
  block: Dim3 | null;
  totals: CostTotals;
  rows: DeviceModelRow[];
}

/** The cost record of the program's launch on a device with `warpSize` lanes (throws `PlaygroundError`). */
export function costFor(program: PlaygroundProgram, view: KernelInspection): CostRecord {
  try {
    return view.cost(program.grid);
  } catch (e) {
    // A fault the launch would hit (an unmasked access past a buffer) is found here, before anything runs.
    throw new PlaygroundError(issueFrom(e, 'launch', { source: program.source, kernelBody: program.kernel.body }));
  }
}

/** Models the program on every catalogue device of every registered simulator backend. */
export async function modelAcrossDevices(program: PlaygroundProgram): Promise<ModelReport> {
  const devices = await simulatedDevices();
  // Costed once per warp size (SIMT specialisations and counters depend on it; tile kernels ignore it). A failure is
  // kept too: an analysis that gives up after a long walk is not repeated for every device.
  const costs = new Map<number, { cost: CostRecord } | { error: unknown }>();
  const costOf = (warpSize: number): CostRecord => {
    const w = program.style === 'simt' ? warpSize : 32;
    let c = costs.get(w);
    if (!c) {
      try {
        c = { cost: costFor(program, compileFor(program, w)) };
      } catch (error) {
        c = { error };
      }
      costs.set(w, c);
    }
    if ('error' in c) throw c.error;
    return c.cost;
  };
  // The totals, and any fault of the launch itself (every device would report it): thrown, not put in each row.
  const record = costOf(32);
  const rows = devices.map((d) => modelRow(program, d, () => costOf(d.device.warpSize)));
  return {
    kernel: program.kernel.name,
    style: program.style,
    grid: program.grid,
    block: program.block,
    totals: totalsOf(record),
    rows,
  };
}

/** One device's row: its checks, then its time; a refusal is the row's `error`, not a throw. */
export function modelRow(program: PlaygroundProgram, d: SimulatedDevice, costOf: () => CostRecord): DeviceModelRow {
  const { backend, device } = d;
  const row: DeviceModelRow = {
    backend: backend.name,
    vendor: d.vendor,
    deviceId: device.id,
    deviceName: device.name,
    memoryBandwidthGBs: device.memoryBandwidthGBs,
    ms: null,
    bound: null,
    breakdown: {},
    error: null,
  };
  try {
    checkGeometry(program, device);
    const cost = costOf();
    checkDTypes(cost, device);
    backend.checkLaunch(device, {
      kernel: program.kernel.name,
      style: program.style,
      grid: program.grid,
      block: program.block,
      dynamicSharedBytes: program.sharedMemBytes,
      sharedOptinBytes: program.kernel.style === 'simt' ? program.kernel.maxDynamicSharedBytes : 0,
      probe: cost,
    });
    const t = backend.kernelTime(device, cost);
    row.ms = t.ms;
    row.bound = t.bound;
    row.breakdown = { ...t.breakdown };
  } catch (e) {
    row.error =
      e instanceof PlaygroundError
        ? e.issue
        : issueFrom(e, 'launch', { source: program.source, kernelBody: program.kernel.body });
  }
  return row;
}

/** The device's grid and block limits, as a launch checks them (docs: launch-config). */
function checkGeometry(program: PlaygroundProgram, p: DeviceProperties): void {
  const where = `launch of '${program.kernel.name}' on ${p.name}`;
  for (let i = 0; i < 3; i++) {
    if (program.grid[i]! > p.maxGridDim[i]!) {
      throw new TesseraError(
        'InvalidConfiguration',
        `${where}: grid dimension ${i} is ${program.grid[i]}, above the device limit ${p.maxGridDim[i]}.`,
        { hint: 'Loop inside the kernel (a persistent kernel) or split the launch.' },
      );
    }
  }
  if (!program.block) return;
  for (let i = 0; i < 3; i++) {
    if (program.block[i]! > p.maxBlockDim[i]!) {
      throw new TesseraError(
        'InvalidConfiguration',
        `${where}: block dimension ${i} is ${program.block[i]}, above the limit ${p.maxBlockDim[i]}.`,
      );
    }
  }
  const threads = program.block[0] * program.block[1] * program.block[2];
  if (threads > p.maxThreadsPerBlock) {
    throw new TesseraError(
      'InvalidConfiguration',
      `${where}: ${threads} threads per block is above the device limit of ${p.maxThreadsPerBlock}.`,
      { hint: `Use at most ${p.maxThreadsPerBlock} threads per block and more blocks.` },
    );
  }
}

function checkDTypes(cost: CostRecord, p: DeviceProperties): void {
  for (const d of cost.dtypes) {
    if (d === 'bool' || p.dtypes.includes(d)) continue;
    throw new TesseraError('Unsupported', `${p.name} does not support ${DTYPE_INFO[d].label} (${d}).`, {
      hint: `This device supports ${p.dtypes.join(', ')}.`,
    });
  }
}

function totalsOf(c: CostRecord): CostTotals {
  const t = c.total;
  return {
    programs: c.programs,
    flops: t.totalMatrixFlops + t.totalVectorOps + t.specialOps,
    matrixFlops: t.totalMatrixFlops,
    vectorOps: t.totalVectorOps,
    specialOps: t.specialOps,
    bytesRead: t.bytesRead,
    bytesWritten: t.bytesWritten,
    atomicOps: t.atomicOps,
    exact: c.exact,
    bounds: (c.bounds ?? []).map((b) => `${b.op} \`${b.snippet}\`: ${b.what}`),
  };
}
