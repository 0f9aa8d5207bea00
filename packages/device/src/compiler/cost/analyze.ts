/**
 * The cost of a launch from its IR, by analysis: `analyzeCost(ir, launch)` returns the cost record a trace of every
 * program would gather (tests hold it to `analyzeCostByPrograms`, which makes that trace), for any grid and scalars,
 * without running any program — so functional and timing-only launches get identical records by construction, and timing-only cost does
 * not grow with the grid.
 *
 * Results are cached per IR and (grid, scalars, host arrays, buffer lengths): a launch repeating all of them is a
 * lookup. Faults the launch would raise (a view outside its buffer, an unmasked access out of bounds, a `throw`
 * reached) are raised here with the run's message, for the first program (in launch order) that hits
 * one.
 */
import type { TileDType } from '../../dtype/dtype';
import {
  type BufferUse,
  COST_DTYPES,
  type CostBound,
  type CostRecord,
  emptyResources,
  type ProgramClass,
  ProgramCost,
  SIMT_FIELDS,
  type SimtCostInfo,
} from '../../kernel/cost';
import { type KernelIR, type SharedElem, sharedElemBytes } from '../ir';
import { type BufferArg, COST_LEN, type EvalStats, Evaluator, type LaunchInfo, NDT, Piece } from './evaluate';
import { compilePlan, type Plan } from './plan';
import { seeded, WarpCounters, WarpEvaluator } from './warp';

export interface CostLaunch {
  grid: readonly [number, number, number];
  block: readonly [number, number, number] | null;
  /** The launch's runtime arguments by parameter name (constexprs are folded into the IR already). */
  args: Record<string, unknown>;
  dynamicSharedBytes: number;
  kernelName: string;
  /** The device's label, for fault details. */
  ownerLabel: string;
  /**
   * @deprecated Ignored: SIMT FLOPs are counted from the kernel's arithmetic (compiler/cost/plan.ts). Accepted so
   * that callers written for it keep working.
   */
  flopsPerThread?: number;
  /**
   * SIMT: the device's warp size, which forms the warps of the warp-level analysis (default: the one the IR was
   * specialised for, else 32). Below 2 (a device without warps) there is no warp-level analysis.
   */
  warpSize?: number;
  /** SIMT: evaluate every block and every loop iteration instead of a sample (also `TESSERA_COST_EXACT=1`). */
  exact?: boolean;
}

/** Warps a launch may have for every block to be evaluated without sampling. */
export const EXACT_WARPS = 2048;
/** Warps evaluated (in whole blocks, at least two blocks per class) when a launch has more. */
export const SAMPLE_WARPS = 1024;

type Env = { TESSERA_COST_EXACT?: string };
const envExact = (): boolean => (globalThis as { process?: { env: Env } }).process?.env?.TESSERA_COST_EXACT === '1';

interface Cached {
  classes: ProgramClass[];
  total: ProgramCost;
  programs: number;
  resources: ReturnType<typeof emptyResources>;
  /** Buffer params (indices into plan.bufParams) in first-touch order, with their read/write flags. */
  touched: { param: number; flags: number }[];
  dtypes: TileDType[];
  bounds: CostBound[];
  /** The blocks of each class (boxes of block ids in launch order), for the warp-level analysis. */
  boxes: Box[][];
  exact: boolean;
  simt?: SimtCostInfo;
}

/** A box of programs / blocks: per axis the lattice lo + st·k, 0 ≤ k < n. */
interface Box {
  lo: [number, number, number];
  st: [number, number, number];
  n: [number, number, number];
}

interface PlanEntry {
  plan: Plan;
  results: Map<string, Cached>;
}

const plans = new WeakMap<KernelIR, PlanEntry>();
const CACHE_LIMIT = 512;

/** Work the last analysis did (for tests: it must not grow with the grid for regular kernels). */
export const costAnalysisStats: EvalStats & { pieces: number; cacheHits: number; analyses: number } = {
  ops: 0,
  merged: 0,
  splits: 0,
  summarised: 0,
  iterated: 0,
  pieces: 0,
  cacheHits: 0,
  analyses: 0,
};

function entryFor(ir: KernelIR): PlanEntry {
  let e = plans.get(ir);
  if (!e) {
    e = { plan: compilePlan(ir), results: new Map() };
    plans.set(ir, e);
  }
  return e;
}

let generation = 0;

/** Forgets every cached result (plans stay): for benchmarks that must measure the analysis itself. */
export function clearCostCache(): void {
  generation++;
}

/** A buffer argument's byte offset from a 256-byte aligned base (views start inside their allocation). */
function bufBase(v: unknown): number {
  const off = (v as { byteOffset?: number }).byteOffset ?? 0;
  return ((off % 256) + 256) % 256;
}

function warpSizeOf(plan: Plan, launch: CostLaunch): number {
  return launch.warpSize ?? plan.ir.warpSize ?? 32;
}

function keyOf(plan: Plan, launch: CostLaunch): string {
  let k = `${generation}|${launch.grid[0]},${launch.grid[1]},${launch.grid[2]}`;
  if (plan.ir.style === 'simt') k += `|w${warpSizeOf(plan, launch)}|${launch.exact || envExact() ? 'x' : 's'}`;
  for (const p of plan.params) {
    const v = launch.args[p.name];
    if (p.kind === 'buffer') k += `|b${(v as BufferArg).length}@${bufBase(v)}`;
    else if (p.kind === 'array') k += `|a${(v as readonly number[]).join(',')}`;
    else k += `|${typeof v === 'number' && Object.is(v, -0) ? '-0' : String(v)}`;
  }
  return k;
}

const BRANCH_WHAT =
  'a branch on loaded data: both sides were costed and each counter takes the larger, and warps issue both sides for the lanes that may take either (an upper bound)';
const WARP_ADDRESS_WHAT =
  'its address depends on loaded data: the warp analysis takes each such lane to touch its own 32-byte sector and line, no shared-memory bank another lane uses and no address another lane updates';
const BOUND_WHAT =
  'its mask depends on loaded data: bytes count every lane the index arithmetic does not rule out (an upper bound)';

/** The cost record of one launch of `ir`, by analysis. */
export function analyzeCost(ir: KernelIR, launch: CostLaunch): CostRecord {
  const entry = entryFor(ir);
  const plan = entry.plan;
  if (plan.hasUnsupported) throw new Error(`cost analysis: op '${plan.hasUnsupported}' is not supported yet`);
  const key = keyOf(plan, launch);
  let cached = entry.results.get(key);
  if (cached) {
    costAnalysisStats.cacheHits++;
    // Most recently used last.
    entry.results.delete(key);
    entry.results.set(key, cached);
  } else {
    cached = analyze(plan, launch);
    entry.results.set(key, cached);
    if (entry.results.size > CACHE_LIMIT) entry.results.delete(entry.results.keys().next().value!);
  }
  return toRecord(plan, launch, cached);
}

function toRecord(plan: Plan, launch: CostLaunch, c: Cached): CostRecord {
  // Buffers by identity: two parameters bound to one buffer are one entry, as a run sees them.
  const byId = new Map<unknown, BufferUse>();
  for (const t of c.touched) {
    const buf = launch.args[plan.bufParams[t.param]!] as { id: unknown; byteLength: number };
    const e = byId.get(buf.id);
    if (e) {
      e.read ||= (t.flags & 1) !== 0;
      e.written ||= (t.flags & 2) !== 0;
    } else byId.set(buf.id, { bytes: buf.byteLength, read: (t.flags & 1) !== 0, written: (t.flags & 2) !== 0 });
  }
  const rec: CostRecord = {
    kernel: launch.kernelName,
    style: plan.ir.style,
    grid: launch.grid,
    block: launch.block,
    programs: c.programs,
    // Copies: the cached analysis serves later launches in either mode, so no caller may hold its objects.
    classes: c.classes.map((cl) => ({ cost: cl.cost.clone(), count: cl.count })),
    total: c.total.clone(),
    resources: { ...c.resources },
    buffers: [...byId.values()],
    dtypes: [...c.dtypes],
    exact: c.exact,
  };
  if (c.simt) rec.simt = { ...c.simt };
  if (c.bounds.length) rec.bounds = c.bounds.map((b) => ({ ...b }));
  return rec;
}

function initialPiece(plan: Plan, launch: CostLaunch): Piece {
  const slots = new Array<unknown>(plan.nslots);
  for (const [s, v] of plan.consts) slots[s] = v;
  for (const prm of plan.params) slots[prm.slot] = launch.args[prm.name];
  for (const sh of plan.shared) slots[sh.slot] = { name: sh.name, dtype: sh.dtype, length: sh.length };
  const p = Piece.initial(slots, plan.bufParams.length);
  p.nv = 3;
  for (let v = 0; v < 3; v++) {
    p.lo[v] = 0;
    p.st[v] = 1;
    p.n[v] = launch.grid[v]!;
  }
  return p;
}

function linearFirst(p: Piece, grid: readonly [number, number, number]): number {
  return p.lo[0]! + grid[0] * (p.lo[1]! + grid[1] * p.lo[2]!);
}

function analyze(plan: Plan, launch: CostLaunch): Cached {
  costAnalysisStats.analyses++;
  const grid = launch.grid;
  const programs = grid[0] * grid[1] * grid[2];
  const simt = plan.ir.style === 'simt';
  const info: LaunchInfo = {
    style: plan.ir.style,
    grid,
    block: launch.block ?? [1, 1, 1],
    dynamicSharedBytes: launch.dynamicSharedBytes,
    kernelName: launch.kernelName,
    ownerLabel: launch.ownerLabel,
    bufs: plan.bufParams.map((n) => launch.args[n] as BufferArg),
  };
  const ev = new Evaluator(plan, info, false);
  const finals: Piece[] = [];
  if (programs > 0) {
    if (simt) ev.runBlocks(initialPiece(plan, launch), finals);
    else ev.runOps(plan.body, 0, initialPiece(plan, launch), finals);
  }
  Object.assign(costAnalysisStats, ev.stats, { pieces: finals.length + ev.faulted.length });
  if (ev.faulted.length) {
    // The first program (in launch order) that faults: evaluate it alone, where the fault throws with its message.
    let first = ev.faulted[0]!;
    for (const f of ev.faulted) if (linearFirst(f, grid) < linearFirst(first, grid)) first = f;
    const pt = initialPiece(plan, launch);
    for (let v = 0; v < 3; v++) {
      pt.lo[v] = first.lo[v]!;
      pt.n[v] = 1;
    }
    const pointEval = new Evaluator(plan, info, true);
    if (simt) {
      // The first faulting thread: earliest phase (barriers passed), then thread order (x fastest).
      const block = info.block;
      const lin = (q: Piece) => q.lo[3]! + block[0] * (q.lo[4]! + block[1] * q.lo[5]!);
      let t = first.threadFaults?.[0];
      for (const f of first.threadFaults ?? []) {
        if (f.barriers < t!.barriers || (f.barriers === t!.barriers && lin(f) < lin(t!))) t = f;
      }
      pt.nv = 6;
      for (let v = 3; v < 6; v++) {
        pt.lo[v] = t ? t.lo[v]! : 0;
        pt.st[v] = 1;
        pt.n[v] = 1;
      }
    }
    pointEval.runOps(plan.body, 0, pt, []);
    throw new Error(`cost analysis: program (${first.lo[0]}, ${first.lo[1]}, ${first.lo[2]}) was expected to fault`);
  }
  const c = summarize(plan, launch, finals, programs);
  if (simt) warpPass(plan, launch, c, launch.exact === true || envExact());
  return c;
}

/**
 * The reference the tests hold `analyzeCost` to: every program evaluated alone as a point (SIMT: every block, its
 * threads together), loops iterated one by one, nothing summarised or merged — the per-program trace an interpreter
 * would make, through the same op costs. Work grows with the grid and the trip counts: for tests, never launches.
 */
export function analyzeCostByPrograms(ir: KernelIR, launch: CostLaunch): CostRecord {
  const plan = entryFor(ir).plan;
  const grid = launch.grid;
  const info: LaunchInfo = {
    style: plan.ir.style,
    grid,
    block: launch.block ?? [1, 1, 1],
    dynamicSharedBytes: launch.dynamicSharedBytes,
    kernelName: launch.kernelName,
    ownerLabel: launch.ownerLabel,
    bufs: plan.bufParams.map((n) => launch.args[n] as BufferArg),
  };
  const ev = new Evaluator(plan, info, true);
  const finals: Piece[] = [];
  for (let z = 0; z < grid[2]; z++)
    for (let y = 0; y < grid[1]; y++)
      for (let x = 0; x < grid[0]; x++) {
        const pt = initialPiece(plan, launch);
        [x, y, z].forEach((v, i) => {
          pt.lo[i] = v;
          pt.n[i] = 1;
        });
        if (plan.ir.style === 'simt') ev.runBlocks(pt, finals);
        else ev.runOps(plan.body, 0, pt, finals);
        if (ev.faulted.length) throw new Error(`program (${x}, ${y}, ${z}) faults: use analyzeCost for its error`);
      }
  const c = summarize(plan, launch, finals, grid[0] * grid[1] * grid[2]);
  if (plan.ir.style === 'simt') warpPass(plan, launch, c, true);
  return toRecord(plan, launch, c);
}

function summarize(plan: Plan, launch: CostLaunch, finals: Piece[], programs: number): Cached {
  const grid = launch.grid;
  finals.sort((a, b) => linearFirst(a, grid) - linearFirst(b, grid));
  const classes: ProgramClass[] = [];
  const boxes: Box[][] = [];
  const classCost: Float64Array[] = [];
  const total = new ProgramCost();
  const resources = emptyResources();
  const touchFlags = new Uint8Array(plan.bufParams.length);
  const touchOrder: number[] = [];
  const dtSeen = new Set<number>();
  const dtypes: TileDType[] = [];
  const boundIds = new Set<number>();
  let counted = 0;
  for (const p of finals) {
    const count = p.n[0]! * p.n[1]! * p.n[2]!;
    counted += count;
    const c = p.cost;
    let cls: ProgramClass | undefined;
    for (let k = 0; k < classCost.length && !cls; k++) {
      const o = classCost[k]!;
      let same = o === c;
      if (!same) {
        same = true;
        for (let i = 0; i < COST_LEN; i++) {
          if (o[i] !== c[i]) {
            same = false;
            break;
          }
        }
      }
      if (same) cls = classes[k];
    }
    if (!cls) {
      const cost = new ProgramCost();
      for (let i = 0; i < NDT; i++) {
        cost.matrixFlops[i] = c[i]!;
        cost.vectorOps[i] = c[NDT + i]!;
      }
      cost.specialOps = c[2 * NDT]!;
      cost.bytesRead = c[2 * NDT + 1]!;
      cost.bytesWritten = c[2 * NDT + 2]!;
      cost.atomicOps = c[2 * NDT + 3]!;
      cost.memoryOps = c[2 * NDT + 4]!;
      cost.dotOps = c[2 * NDT + 5]!;
      cls = { cost, count: 0 };
      classes.push(cls);
      classCost.push(c);
      boxes.push([]);
    }
    cls.count += count;
    boxes[classes.indexOf(cls)]!.push({
      lo: [p.lo[0]!, p.lo[1]!, p.lo[2]!],
      st: [p.st[0]!, p.st[1]!, p.st[2]!],
      n: [p.n[0]!, p.n[1]!, p.n[2]!],
    });
    const fx = p.fx;
    if (fx.res[0]! > resources.vectorTileBytes) resources.vectorTileBytes = fx.res[0]!;
    if (fx.res[1]! > resources.vectorWorkingSetBytes) resources.vectorWorkingSetBytes = fx.res[1]!;
    if (fx.res[2]! > resources.dotOperandBytes) resources.dotOperandBytes = fx.res[2]!;
    if (fx.res[3]! > resources.accumulatorBytes) resources.accumulatorBytes = fx.res[3]!;
    for (const b of fx.order) {
      if (touchFlags[b] === 0) touchOrder.push(b);
      touchFlags[b]! |= fx.touch[b]!;
    }
    for (const d of fx.dtOrder) {
      if (!dtSeen.has(d)) {
        dtSeen.add(d);
        dtypes.push(COST_DTYPES[d] as TileDType);
      }
    }
    if (fx.bounds) for (const b of fx.bounds) boundIds.add(b);
  }
  if (counted !== programs) throw new Error(`cost analysis: pieces cover ${counted} programs of ${programs}`);
  if (plan.ir.style === 'simt') {
    // The SIMT executor declares the block's shared memory and every buffer parameter's dtype up front.
    let smem = launch.dynamicSharedBytes;
    for (const sh of plan.shared) smem += sh.length * sharedElemBytes(sh.dtype as SharedElem);
    resources.sharedMemoryBytes = smem;
    let align = 0;
    for (const p of finals) if (p.fx.res[4]! && (!align || p.fx.res[4]! < align)) align = p.fx.res[4]!;
    resources.minSharedAlignment = align;
    dtypes.length = 0;
    const isBuf = new Set(plan.bufParams);
    for (const name of Object.keys(launch.args)) {
      if (!isBuf.has(name)) continue;
      const d = (launch.args[name] as { dtype: TileDType }).dtype;
      if (!dtypes.includes(d)) dtypes.push(d);
    }
  }
  const list = classes;
  for (const cl of list) total.accumulate(cl.cost, cl.count);
  const bounds: CostBound[] = [];
  const seenBounds = new Set<string>();
  for (const id of [...boundIds].sort((a, b) => a - b)) {
    const op = plan.ops[id]!.op;
    const b = {
      op: op.opcode,
      snippet: op.loc?.snippet ?? '',
      what: op.opcode === 'scf.if' ? BRANCH_WHAT : BOUND_WHAT,
    };
    const k = `${b.op}|${b.snippet}`;
    if (seenBounds.has(k)) continue;
    seenBounds.add(k);
    bounds.push(b);
  }
  return {
    classes: list,
    total,
    programs,
    resources,
    touched: touchOrder.map((param) => ({ param, flags: touchFlags[param]! })),
    dtypes,
    bounds,
    boxes,
    exact: true,
  };
}

/** The `i`-th block (launch order) of a class's boxes. */
function blockAt(boxes: Box[], i: number): [number, number, number] {
  for (const b of boxes) {
    const size = b.n[0] * b.n[1] * b.n[2];
    if (i >= size) {
      i -= size;
      continue;
    }
    const x = i % b.n[0];
    const y = Math.floor(i / b.n[0]) % b.n[1];
    const z = Math.floor(i / (b.n[0] * b.n[1]));
    return [b.lo[0] + b.st[0] * x, b.lo[1] + b.st[1] * y, b.lo[2] + b.st[2] * z];
  }
  throw new Error('cost analysis: block index past its class');
}

/**
 * The warp-level counters of a SIMT launch (warp.ts), per class: the mean over the class's blocks — every block when
 * the launch has at most EXACT_WARPS warps or in exact mode, else a stratified sample (the class's blocks in launch
 * order cut into n equal strata, one block drawn from each by a seeded generator, n in proportion to the class's
 * share of the launch and at least two) totalling about SAMPLE_WARPS warps. The relative standard error of the
 * stratified estimate is reported; per-address atomic counts are scaled by each class's count / n.
 */
function warpPass(plan: Plan, launch: CostLaunch, c: Cached, exact: boolean): void {
  const W = warpSizeOf(plan, launch);
  if (W < 2) return;
  const block = launch.block ?? [1, 1, 1];
  const ev = new WarpEvaluator(
    plan,
    {
      grid: launch.grid,
      block,
      warpSize: W,
      bufs: plan.bufParams.map((n) => launch.args[n] as BufferArg),
      bufBase: plan.bufParams.map((n) => bufBase(launch.args[n])),
      exact,
    },
    launch.args,
  );
  const wpb = ev.warpsPerBlock;
  const everyBlock = exact || c.programs * wpb <= EXACT_WARPS;
  const budget = Math.max(1, Math.floor(SAMPLE_WARPS / wpb));
  const nf = SIMT_FIELDS.length;
  const totals = new Float64Array(nf);
  const variances = new Float64Array(nf);
  const hot = new Map<number, number>();
  const dataAddress = new Set<number>();
  let evaluated = 0;
  let sampledLoops = false;
  c.classes.forEach((cl, k) => {
    const count = cl.count;
    const n = everyBlock ? count : Math.min(count, Math.max(2, Math.round((budget * count) / c.programs)));
    const picks: number[] = [];
    if (n === count) for (let i = 0; i < count; i++) picks.push(i);
    else {
      const rand = seeded(0x9e3779b9 ^ Math.imul(k + 1, 2654435761));
      for (let j = 0; j < n; j++) {
        const a = Math.floor((j * count) / n);
        const b = Math.floor(((j + 1) * count) / n);
        picks.push(a + Math.floor(rand() * (b - a)));
      }
    }
    const sum = new Float64Array(nf);
    const sumSq = new Float64Array(nf);
    const atomics = new Map<number, number>();
    for (const i of picks) {
      const [x, y, z] = blockAt(c.boxes[k]!, i);
      ev.c = new WarpCounters();
      ev.c.atomics = atomics;
      ev.runBlock(x, y, z);
      for (let f = 0; f < nf; f++) {
        const v = ev.c[SIMT_FIELDS[f]!];
        sum[f]! += v;
        sumSq[f]! += v * v;
      }
      for (const id of ev.c.dataAddress) dataAddress.add(id);
      sampledLoops ||= ev.c.sampledLoops;
    }
    evaluated += n;
    const sc = cl.cost.simt;
    for (let f = 0; f < nf; f++) {
      const mean = sum[f]! / n;
      sc[SIMT_FIELDS[f]!] = mean;
      totals[f]! += mean * count;
      if (n >= 2 && n < count) {
        const s2 = Math.max(0, (sumSq[f]! - n * mean * mean) / (n - 1));
        variances[f]! += ((count * count * (1 - n / count)) / n) * s2;
      }
    }
    const scale = count / n;
    for (const [key, v] of atomics) hot.set(key, (hot.get(key) ?? 0) + v * scale);
  });
  let rse = 0;
  for (let f = 0; f < nf; f++) if (totals[f]! > 0) rse = Math.max(rse, Math.sqrt(variances[f]!) / totals[f]!);
  let hottest = 0;
  for (const v of hot.values()) if (v > hottest) hottest = v;
  const total = new ProgramCost();
  for (const cl of c.classes) total.accumulate(cl.cost, cl.count);
  c.total = total;
  c.exact = everyBlock && !sampledLoops;
  c.simt = {
    warpSize: W,
    blocksEvaluated: evaluated,
    iterationsSampled: sampledLoops,
    relStdErr: rse,
    hotAtomicUpdates: hottest,
  };
  const seen = new Set(c.bounds.map((b) => `${b.op}|${b.snippet}`));
  for (const id of [...dataAddress].sort((a, b) => a - b)) {
    const op = plan.ops[id]!.op;
    const b = { op: op.opcode, snippet: op.loc?.snippet ?? '', what: WARP_ADDRESS_WHAT };
    const key = `${b.op}|${b.snippet}`;
    if (seen.has(key)) continue;
    seen.add(key);
    c.bounds.push(b);
  }
}

/** The plan of an IR (compiled once per IR object). */
export function costPlan(ir: KernelIR): Plan {
  return entryFor(ir).plan;
}
