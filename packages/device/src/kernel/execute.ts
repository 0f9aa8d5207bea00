/**
 * Runs a launch: every program of the grid in functional mode, or a sample of them in timing-only mode, and gathers
 * the cost record. A one-program probe in timing-only mode runs first, so resource and dtype checks can reject a
 * launch before it touches any memory.
 *
 * Timing-only sampling: per grid axis, programs at indices {0, 1, n/2, n−2} are compared with the other axes held at
 * their first and last index. If their costs agree, the axis is taken as uniform except for its last index (the
 * masked tail); otherwise every index of the axis is traced. Costs that vary with the program id (causal attention)
 * are therefore traced in full; costs that differ only at an isolated interior index would be missed, which no
 * kernel in this repository does. `exact: true` traces every program.
 */

import { executeCompiled } from '../compiler/launch';
import { shadowAfter, shadowBefore, shadowEnabled } from '../compiler/shadow';
import { isTesseraError, TesseraError } from '../errors';
import type { BufferOwner } from '../memory/buffer';
import { describeValue } from '../validate';
import { type ExecMode, type LaunchState, TileContext } from './context';
import { type CostRecord, emptyResources, type ProgramClass, ProgramCost } from './cost';
import type { Kernel } from './kernel';
import { SimtExecution } from './simt';

export type Grid3 = readonly [number, number, number];

/** Grids up to this many programs are traced in full even in timing-only mode. */
const FULL_TRACE_LIMIT = 256;

export interface ExecuteOptions {
  kernel: Kernel;
  args: Record<string, unknown>;
  grid: Grid3;
  block: Grid3 | null;
  dynamicSharedBytes: number;
  mode: ExecMode;
  owner: BufferOwner;
  /** Trace every program in timing-only mode. */
  exact?: boolean;
  /** Called with the probe's record before any program runs for real; throws to reject the launch. */
  check?: (probe: CostRecord) => void;
}

function newState(o: ExecuteOptions, mode: ExecMode): LaunchState {
  return {
    kernel: o.kernel.name,
    mode,
    owner: o.owner,
    grid: o.grid,
    resources: emptyResources(),
    buffers: new Map(),
    dtypes: new Set(),
  };
}

type Runner = (pid: Grid3) => ProgramCost;

/**
 * Runs one program (or SIMT block) per call. A throw from the kernel body becomes a kernel fault here:
 *
 * - a fault already (an illegal address) passes through;
 * - anything that is not a TesseraError (a TypeError of the body, a thrown string) becomes a `LaunchFailure` naming
 *   the kernel, the program (block and thread for SIMT) and the original message;
 * - a non-sticky TesseraError (misuse of the kernel language, e.g. mismatched tile shapes) passes through while no
 *   program has touched memory (the probe, timing-only mode), and becomes a `LaunchFailure` once functional programs
 *   may have written it.
 *
 * Either way the launch errors out of `executeLaunch`; sticky errors make the device unusable until reset.
 */
function makeRunner(o: ExecuteOptions, state: LaunchState, writes: boolean): Runner {
  if (o.kernel.style === 'tile') {
    const ctx = new TileContext(state);
    const k = o.kernel;
    return (pid) => {
      try {
        ctx.begin(pid);
        k.body(ctx, o.args as never);
        return ctx.cost;
      } catch (e) {
        throw kernelFault(e, ctx.location(), o, pid, writes);
      }
    };
  }
  const ex = new SimtExecution(state, o.kernel, o.args, o.block ?? [1, 1, 1], o.dynamicSharedBytes);
  return (pid) => {
    try {
      return ex.runBlock(pid);
    } catch (e) {
      throw kernelFault(e, ex.location(), o, pid, writes);
    }
  };
}

function kernelFault(e: unknown, where: string, o: ExecuteOptions, pid: Grid3, writes: boolean): unknown {
  if (isTesseraError(e) && (e.sticky || !writes)) return e;
  const what = isTesseraError(e)
    ? `failed once the launch could have written memory: ${e.message.replace(/\.$/, '')}`
    : `threw ${e instanceof Error ? `${e.name}: ${e.message}` : typeof e === 'string' ? `'${e}'` : describeValue(e)}`;
  return new TesseraError('LaunchFailure', `${where} ${what}.`, {
    hint:
      'Fix the kernel body. The device is now in an error state, as after a CUDA kernel fault: every call on it ' +
      'fails until device.reset(), which releases its memory (what the launch wrote is undefined).',
    device: o.owner.label,
    kernel: o.kernel.name,
    program: [...pid],
    cause: e,
  });
}

function record(o: ExecuteOptions, state: LaunchState, classes: ProgramClass[], exact: boolean): CostRecord {
  const total = new ProgramCost();
  let programs = 0;
  for (const c of classes) {
    total.accumulate(c.cost, c.count);
    programs += c.count;
  }
  return {
    kernel: o.kernel.name,
    style: o.kernel.style,
    grid: o.grid,
    block: o.block,
    programs,
    classes,
    total,
    resources: state.resources,
    buffers: [...state.buffers.values()].map((b) => ({ bytes: b.buffer.byteLength, read: b.read, written: b.written })),
    dtypes: [...state.dtypes],
    exact,
  };
}

class ClassTable {
  private readonly map = new Map<string, ProgramClass>();
  add(cost: ProgramCost, count: number): void {
    const sig = cost.signature();
    const c = this.map.get(sig);
    if (c) c.count += count;
    else this.map.set(sig, { cost, count });
  }
  get classes(): ProgramClass[] {
    return [...this.map.values()];
  }
}

function traceAll(run: Runner, grid: Grid3): ProgramClass[] {
  const table = new ClassTable();
  for (let z = 0; z < grid[2]; z++)
    for (let y = 0; y < grid[1]; y++) for (let x = 0; x < grid[0]; x++) table.add(run([x, y, z]), 1);
  return table.classes;
}

interface AxisClass {
  rep: number;
  count: number;
}

function sampled(run: Runner, grid: Grid3, first: ProgramCost): { classes: ProgramClass[]; exact: boolean } {
  const memo = new Map<string, { cost: ProgramCost; sig: string }>();
  const evalAt = (pid: Grid3) => {
    const key = `${pid[0]},${pid[1]},${pid[2]}`;
    let e = memo.get(key);
    if (!e) {
      const cost = key === '0,0,0' ? first : run(pid);
      e = { cost, sig: cost.signature() };
      memo.set(key, e);
    }
    return e;
  };
  evalAt([0, 0, 0]);
  let exact = true;
  const axes: AxisClass[][] = [];
  for (let a = 0; a < 3; a++) {
    const n = grid[a]!;
    const all = (): AxisClass[] => Array.from({ length: n }, (_, i) => ({ rep: i, count: 1 }));
    if (n <= 5) {
      axes.push(all());
      continue;
    }
    const probes = [...new Set([0, 1, n >> 1, n - 2])];
    let uniform = true;
    for (const held of ['first', 'last'] as const) {
      let sig: string | undefined;
      for (const i of probes) {
        const pid: [number, number, number] = held === 'first' ? [0, 0, 0] : [grid[0] - 1, grid[1] - 1, grid[2] - 1];
        pid[a] = i;
        const s = evalAt(pid).sig;
        if (sig === undefined) sig = s;
        else if (s !== sig) uniform = false;
      }
    }
    if (uniform) {
      axes.push([
        { rep: 0, count: n - 1 },
        { rep: n - 1, count: 1 },
      ]);
      exact = false;
    } else axes.push(all());
  }
  const table = new ClassTable();
  for (const cz of axes[2]!)
    for (const cy of axes[1]!)
      for (const cx of axes[0]!) table.add(evalAt([cx.rep, cy.rep, cz.rep]).cost, cx.count * cy.count * cz.count);
  return { classes: table.classes, exact };
}

/** Executes one launch and returns its cost record. */
export function executeLaunch(o: ExecuteOptions): CostRecord {
  if (process.env.TESSERA_COMPILED === '1') return executeCompiled(o);
  const shadow = shadowEnabled() ? shadowBefore(o) : null;
  const rec = executeEager(o);
  shadowAfter(o, shadow, rec);
  return rec;
}

function executeEager(o: ExecuteOptions): CostRecord {
  const probeState = newState(o, 'timing');
  const probeRun = makeRunner(o, probeState, false);
  const first = probeRun([0, 0, 0]);
  const probe = record(o, probeState, [{ cost: first, count: 1 }], false);
  o.check?.(probe);
  const programs = o.grid[0] * o.grid[1] * o.grid[2];
  if (o.mode === 'timing') {
    if (o.exact || programs <= FULL_TRACE_LIMIT) {
      return record(o, probeState, traceAllFrom(probeRun, o.grid, first), true);
    }
    const { classes, exact } = sampled(probeRun, o.grid, first);
    return record(o, probeState, classes, exact);
  }
  const state = newState(o, 'functional');
  return record(o, state, traceAll(makeRunner(o, state, true), o.grid), true);
}

function traceAllFrom(run: Runner, grid: Grid3, first: ProgramCost): ProgramClass[] {
  let used = false;
  return traceAll((pid) => {
    if (!used && pid[0] === 0 && pid[1] === 0 && pid[2] === 0) {
      used = true;
      return first;
    }
    return run(pid);
  }, grid);
}
