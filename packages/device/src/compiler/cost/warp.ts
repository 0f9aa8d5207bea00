/**
 * The warp-level part of a SIMT launch's cost: a block's threads are grouped into warps (linear thread index, x
 * fastest, `warpSize` lanes each, as CUDA forms them) and each warp runs the kernel's IR with its lanes in lock step
 * under an active mask — concretely: thread and block ids, scalars, host arrays and buffer sizes are numbers, values
 * loaded from memory are unknown (`DATA`). What it counts (`SimtCost`):
 *
 *   - issue: every op a warp executes with at least one active lane is one warp instruction; a branch whose lanes
 *     disagree runs both sides, each under its own mask (divergence), and a loop runs until its last lane leaves;
 *   - global memory: per instruction, the distinct 32-byte sectors and 128-byte lines its active lanes touch
 *     (coalescing), buffers taken as 256-byte aligned allocations (as cudaMalloc's) plus the view's offset;
 *   - shared memory: per instruction, the bank-conflict degree — the most distinct 4-byte words the lanes address in
 *     one of 32 banks (lanes reading the same word share it: broadcast); for atomics the most lanes in one bank;
 *   - atomics: same-address lanes of one instruction serialise; each address's updates are counted over the launch
 *     (the hottest one serialises at its L2 slice).
 *
 * Addresses computed from loaded data are unknown: such a lane is taken to touch its own sector and line, no bank
 * conflict and no other lane's address ("spread"), and the op is reported in `record.bounds`. A branch on loaded
 * data issues both sides for the lanes that may take either (an upper bound, reported).
 *
 * Long loops (more than LOOP_EXACT iterations) whose carried values are affine in the iteration (or unknown) are
 * evaluated at LOOP_SAMPLES stratified iterations after their first three, each standing for its stratum; in exact
 * mode every iteration runs. Which blocks are evaluated is decided by the caller (analyze.ts).
 */
import { evalBinary, evalUnary } from '../builder';
import type { BufferArg } from './evaluate';
import { C, type Plan, type POp, type PRegion } from './plan';
import { DATA } from './sym';

/** Loops with at most this many iterations (per warp) always run iteration by iteration. */
export const LOOP_EXACT = 24;
/** Iterations evaluated (one per stratum) for the rest of a longer loop with affine carried state. */
export const LOOP_SAMPLES = 12;
/** Banks of shared memory and their width (CUDA, compute capability 5.0 and later). */
export const SHARED_BANKS = 32;
export const BANK_BYTES = 4;
/** Sector and line sizes of the L1/L2 caches (CUDA C++ Programming Guide, global memory accesses). */
export const SECTOR_BYTES = 32;
export const LINE_BYTES = 128;

/** Per-lane values of one slot (lanes a warp does not have, or that did not compute it, hold anything). */
class Lanes {
  constructor(readonly v: unknown[]) {}
}

/** A shared array as the warp sees it: element size and its byte offset in the block's shared memory. */
interface SharedHandle {
  elemBytes: number;
  base: number;
}

/** What the evaluation of one or more warps counted (weighted by the sampling of loop iterations). */
export class WarpCounters {
  warpInstructions = 0;
  vectorInstructions = 0;
  divergentBranches = 0;
  globalRequests = 0;
  sectorsRead = 0;
  sectorsWritten = 0;
  l2Requests = 0;
  sharedRequests = 0;
  sharedWavefronts = 0;
  /** Global atomic updates per address (buffer parameter × 2³² + element). */
  atomics = new Map<number, number>();
  /** Op ids whose cost here rests on an assumption (data-dependent address or branch), by kind. */
  dataAddress = new Set<number>();
  dataBranch = new Set<number>();
  /** Whether a loop was evaluated at sampled iterations. */
  sampledLoops = false;
}

export interface WarpLaunch {
  grid: readonly [number, number, number];
  block: readonly [number, number, number];
  warpSize: number;
  /** Buffer arguments by buffer-parameter index, and each one's byte offset from a 256-byte aligned base. */
  bufs: BufferArg[];
  bufBase: number[];
  /** Every loop iteration (no sampling inside warps). */
  exact: boolean;
}

const SHARED_ELEM_BYTES: Record<string, number> = { f32: 4, i32: 4, u32: 4, f16: 2, bf16: 2, i16: 2, i8: 1, u8: 1 };

function popcount(m: number): number {
  let x = m - ((m >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function truthy(v: unknown): boolean {
  return !!v;
}

function sameVal(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));
}

/** mulberry32: the stratified samples' positions (deterministic, so both execution modes pick the same). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Evaluates the warps of one block at a time; counters accumulate into `c` until it is replaced. */
export class WarpEvaluator {
  c = new WarpCounters();
  private slots: unknown[] = [];
  private readonly template: unknown[];
  private readonly W: number;
  private readonly threads: number;
  /** Sampling weight of what runs now (the product of the strata sizes of enclosing sampled loop iterations). */
  private weight = 1;
  private readonly keys = new Float64Array(64);
  private readonly tmp = new Float64Array(64);
  private rand: () => number = seeded(1);

  constructor(
    readonly plan: Plan,
    readonly launch: WarpLaunch,
    args: Record<string, unknown>,
  ) {
    this.W = launch.warpSize;
    if (this.W < 1 || this.W > 32) throw new Error(`warp analysis: warp size ${this.W} is not supported (1..32)`);
    const b = launch.block;
    this.threads = b[0] * b[1] * b[2];
    const t = new Array<unknown>(plan.nslots);
    for (const [s, v] of plan.consts) t[s] = v;
    for (const prm of plan.params) t[prm.slot] = args[prm.name];
    for (const sh of plan.shared) t[sh.slot] = { elemBytes: SHARED_ELEM_BYTES[sh.dtype] ?? 4, base: 0 };
    this.template = t;
  }

  get warpsPerBlock(): number {
    return Math.ceil(this.threads / this.W);
  }

  /** Runs every warp of block (x, y, z). */
  runBlock(x: number, y: number, z: number): void {
    this.rand = seeded(1 + x + 65599 * (y + 65599 * z));
    for (let w = 0; w < this.warpsPerBlock; w++) this.runWarp([x, y, z], w);
  }

  private runWarp(bid: readonly number[], w: number): void {
    const W = this.W;
    const b = this.launch.block;
    const slots = this.template.slice();
    this.slots = slots;
    let mask = 0;
    const tx = new Array<unknown>(W);
    const ty = new Array<unknown>(W);
    const tz = new Array<unknown>(W);
    for (let l = 0; l < W; l++) {
      const t = w * W + l;
      if (t < this.threads) mask |= 1 << l;
      tx[l] = t % b[0];
      ty[l] = Math.floor(t / b[0]) % b[1];
      tz[l] = Math.floor(t / (b[0] * b[1]));
    }
    this.tids = [new Lanes(tx), new Lanes(ty), new Lanes(tz)];
    this.bid = bid;
    this.weight = 1;
    this.runRegion(this.plan.body, mask);
  }

  private tids: Lanes[] = [];
  private bid: readonly number[] = [0, 0, 0];

  // ------------------------------------------------------------------------------------------------ values

  private lane(v: unknown, l: number): unknown {
    return v instanceof Lanes ? v.v[l] : v;
  }

  private bin(op: string, x: unknown, y: unknown): unknown {
    if (x === DATA || y === DATA) {
      if (op === '&&' && x !== DATA) return truthy(x) ? y : x;
      if (op === '||' && x !== DATA) return truthy(x) ? x : y;
      return DATA;
    }
    if (typeof x === 'object' || typeof y === 'object') return DATA;
    return evalBinary(op, x as number, y as number);
  }

  private un(op: string, x: unknown): unknown {
    if (x === DATA || typeof x === 'object') return DATA;
    return evalUnary(op, x as number);
  }

  private lanewise2(a: unknown, b: unknown, f: (x: unknown, y: unknown) => unknown): unknown {
    if (!(a instanceof Lanes) && !(b instanceof Lanes)) return f(a, b);
    const out = new Array<unknown>(this.W);
    for (let l = 0; l < this.W; l++) out[l] = f(this.lane(a, l), this.lane(b, l));
    return new Lanes(out);
  }

  /** `dst` for the lanes of `m`, `old` for the others (a loop's carried value, a branch's result). */
  private mergeLanes(old: unknown, dst: unknown, m: number, all: number): unknown {
    if ((m & all) === all || old === dst) return dst;
    if (m === 0) return old;
    const out = new Array<unknown>(this.W);
    for (let l = 0; l < this.W; l++) out[l] = (m >>> l) & 1 ? this.lane(dst, l) : this.lane(old, l);
    return new Lanes(out);
  }

  /** Lanes of `m` where `v` is truthy / falsy / unknown. */
  private split(v: unknown, m: number): [t: number, f: number, u: number] {
    if (!(v instanceof Lanes)) {
      if (v === DATA) return [0, 0, m];
      return truthy(v) ? [m, 0, 0] : [0, m, 0];
    }
    let t = 0;
    let f = 0;
    let u = 0;
    for (let l = 0; l < this.W; l++) {
      if (!((m >>> l) & 1)) continue;
      const x = v.v[l];
      if (x === DATA) u |= 1 << l;
      else if (truthy(x)) t |= 1 << l;
      else f |= 1 << l;
    }
    return [t, f, u];
  }

  // ------------------------------------------------------------------------------------------------ ops

  private runRegion(r: PRegion, m: number): void {
    const ops = r.ops;
    for (let i = 0; i < ops.length; i++) this.exec(ops[i]!, m);
  }

  private issue(): void {
    this.c.warpInstructions += this.weight;
  }

  private exec(op: POp, m: number): void {
    if (op.x.free) {
      // No issue slot of its own (plan.ts, markFreeIssue): evaluate it without counting.
      const w = this.weight;
      this.weight = 0;
      try {
        this.exec1(op, m);
      } finally {
        this.weight = w;
      }
      return;
    }
    this.exec1(op, m);
  }

  private exec1(op: POp, m: number): void {
    const s = this.slots;
    const out = op.outs[0]!;
    switch (op.code) {
      case C.SBinary: {
        const o = op.op.attrs.op as string;
        s[out] = this.lanewise2(s[op.ins[0]!], s[op.ins[1]!], (x, y) => this.bin(o, x, y));
        this.issue();
        if (op.vecN) this.c.vectorInstructions += this.weight;
        return;
      }
      case C.SUnary: {
        const o = op.op.attrs.op as string;
        const a = s[op.ins[0]!];
        s[out] = a instanceof Lanes ? new Lanes(a.v.map((x) => this.un(o, x))) : this.un(o, a);
        this.issue();
        if (op.vecN) this.c.vectorInstructions += this.weight;
        return;
      }
      case C.SSelect: {
        const c = s[op.ins[0]!];
        const a = s[op.ins[1]!];
        const b = s[op.ins[2]!];
        const pick = (cv: unknown, x: unknown, y: unknown) =>
          cv === DATA ? (sameVal(x, y) ? x : DATA) : truthy(cv) ? x : y;
        if (!(c instanceof Lanes) && !(a instanceof Lanes) && !(b instanceof Lanes)) s[out] = pick(c, a, b);
        else {
          const v = new Array<unknown>(this.W);
          for (let l = 0; l < this.W; l++) v[l] = pick(this.lane(c, l), this.lane(a, l), this.lane(b, l));
          s[out] = new Lanes(v);
        }
        this.issue();
        return;
      }
      case C.SimtTid:
        s[out] = this.tids[op.op.attrs.axis as number];
        return;
      case C.SimtBid:
        s[out] = this.bid[op.op.attrs.axis as number];
        return;
      case C.SimtBdim:
        s[out] = this.launch.block[op.op.attrs.axis as number];
        return;
      case C.SimtGdim:
      case C.ProgNum:
        s[out] = this.launch.grid[op.op.attrs.axis as number];
        return;
      case C.ProgId:
        s[out] = this.bid[op.op.attrs.axis as number];
        return;
      case C.ArrGet: {
        const arr = s[op.ins[0]!] as readonly number[];
        const i = s[op.ins[1]!];
        const get = (x: unknown) => (x === DATA ? DATA : (arr[x as number] ?? Number.NaN));
        s[out] = i instanceof Lanes ? new Lanes(i.v.map(get)) : get(i);
        this.issue();
        return;
      }
      case C.ArrLen:
        s[out] = (s[op.ins[0]!] as readonly number[]).length;
        return;
      case C.BufLen:
        s[out] = (s[op.ins[0]!] as BufferArg).length;
        return;
      case C.SimtLoad:
      case C.SimtStore:
      case C.SimtAtomic:
        this.global(op, m);
        if (op.code !== C.SimtStore) s[out] = DATA;
        return;
      case C.SimtSharedLoad:
      case C.SimtSharedStore:
        this.shared(op, m, false);
        if (op.code === C.SimtSharedLoad) s[out] = DATA;
        return;
      case C.SimtDynShared: {
        const dt = op.op.attrs.dtype as string;
        s[out] = { elemBytes: SHARED_ELEM_BYTES[dt] ?? 4, base: op.op.attrs.offset as number } satisfies SharedHandle;
        return;
      }
      case C.SimtSharedView: {
        const h = s[op.ins[0]!] as SharedHandle;
        s[out] = { elemBytes: h.elemBytes, base: h.base + (op.op.attrs.offset as number) * h.elemBytes };
        return;
      }
      case C.SimtSharedAtomic:
        this.shared(op, m, true);
        s[out] = DATA;
        return;
      case C.SimtFlops:
      case C.SimtExit:
        // simt.exit marks a thread's return for warp intrinsics; the guards after it already mask the lane.
        return;
      case C.SimtBarrier:
      case C.SimtSharedFill:
      case C.Trap:
        this.issue();
        return;
      case C.If:
        this.ifOp(op, m);
        return;
      case C.For:
        this.forOp(op, m);
        return;
      case C.While:
        this.whileOp(op, m);
        return;
      default:
        // Warp intrinsics (shuffles, votes, reductions, syncwarp) and ops without a rule of their own: one
        // instruction; values from other lanes are unknown.
        this.issue();
        for (const o of op.outs) s[o] = DATA;
    }
  }

  // ------------------------------------------------------------------------------------------------ memory

  /** Sorts the first n keys and returns how many distinct values they hold. */
  private distinct(keys: Float64Array, n: number): number {
    if (n <= 1) return n;
    const k = keys.subarray(0, n).sort();
    let d = 1;
    for (let i = 1; i < n; i++) if (k[i] !== k[i - 1]) d++;
    return d;
  }

  private global(op: POp, m: number): void {
    this.issue();
    const w = this.weight;
    const c = this.c;
    const idx = this.slots[op.ins[1]!];
    const eb = op.elemBytes;
    const base = this.launch.bufBase[op.buf] ?? 0;
    const keys = this.keys;
    let n = 0;
    let unknown = 0;
    const active = popcount(m);
    if (!(idx instanceof Lanes)) {
      if (idx === DATA) unknown = active;
      else keys[n++] = idx as number;
    } else {
      for (let l = 0; l < this.W; l++) {
        if (!((m >>> l) & 1)) continue;
        const x = idx.v[l];
        if (x === DATA || typeof x !== 'number') unknown++;
        else keys[n++] = x;
      }
    }
    if (unknown) c.dataAddress.add(op.id);
    // Sectors and lines from byte addresses (elements never straddle a sector: they are naturally aligned).
    const t = this.tmp;
    for (let i = 0; i < n; i++) t[i] = Math.floor((base + keys[i]! * eb) / SECTOR_BYTES);
    const sectors = this.distinct(t, n) + unknown;
    for (let i = 0; i < n; i++) t[i] = Math.floor((base + keys[i]! * eb) / LINE_BYTES);
    const lines = this.distinct(t, n) + unknown;
    c.globalRequests += w;
    if (op.code === C.SimtLoad) {
      c.sectorsRead += sectors * w;
      c.l2Requests += lines * w;
      return;
    }
    if (op.code === C.SimtStore) {
      c.sectorsWritten += sectors * w;
      c.l2Requests += lines * w;
      return;
    }
    // Atomic: one request per line, plus one for each further update of the line's most-updated address.
    c.sectorsRead += sectors * w;
    c.sectorsWritten += sectors * w;
    const uniform = !(idx instanceof Lanes) && idx !== DATA;
    if (uniform) {
      c.l2Requests += active * w;
      const key = op.buf * 4294967296 + (idx as number);
      c.atomics.set(key, (c.atomics.get(key) ?? 0) + active * w);
      return;
    }
    const k = keys.subarray(0, n).sort();
    let requests = unknown;
    let i = 0;
    while (i < n) {
      const line = Math.floor((base + k[i]! * eb) / LINE_BYTES);
      let most = 0;
      while (i < n && Math.floor((base + k[i]! * eb) / LINE_BYTES) === line) {
        let j = i;
        while (j < n && k[j] === k[i]) j++;
        const key = op.buf * 4294967296 + k[i]!;
        c.atomics.set(key, (c.atomics.get(key) ?? 0) + (j - i) * w);
        if (j - i > most) most = j - i;
        i = j;
      }
      requests += most;
    }
    c.l2Requests += requests * w;
  }

  private shared(op: POp, m: number, atomic: boolean): void {
    this.issue();
    const w = this.weight;
    const h = this.slots[op.ins[0]!] as SharedHandle;
    const idx = this.slots[op.ins[1]!];
    const eb = h?.elemBytes ?? 4;
    const base = h?.base ?? 0;
    const c = this.c;
    c.sharedRequests += w;
    if (!(idx instanceof Lanes)) {
      if (idx === DATA) c.dataAddress.add(op.id);
      // One word: a broadcast (loads, stores); atomics to it serialise.
      c.sharedWavefronts += (atomic && idx !== DATA ? popcount(m) : 1) * w;
      return;
    }
    const words = this.keys;
    let n = 0;
    for (let l = 0; l < this.W; l++) {
      if (!((m >>> l) & 1)) continue;
      const x = idx.v[l];
      if (x === DATA || typeof x !== 'number') {
        c.dataAddress.add(op.id);
        continue;
      }
      words[n++] = Math.floor((base + x * eb) / BANK_BYTES);
    }
    const perBank = new Uint8Array(SHARED_BANKS);
    let degree = 1;
    if (atomic) {
      for (let i = 0; i < n; i++) {
        const bank = ((words[i]! % SHARED_BANKS) + SHARED_BANKS) % SHARED_BANKS;
        if (++perBank[bank]! > degree) degree = perBank[bank]!;
      }
    } else {
      const k = words.subarray(0, n).sort();
      for (let i = 0; i < n; i++) {
        if (i > 0 && k[i] === k[i - 1]) continue;
        const bank = ((k[i]! % SHARED_BANKS) + SHARED_BANKS) % SHARED_BANKS;
        if (++perBank[bank]! > degree) degree = perBank[bank]!;
      }
    }
    c.sharedWavefronts += degree * w;
  }

  // ------------------------------------------------------------------------------------------------ control flow

  private ifOp(op: POp, m: number): void {
    const s = this.slots;
    const [a, b] = op.regions as [PRegion, PRegion];
    this.issue();
    const [t, f, u] = this.split(s[op.ins[0]!], m);
    const mt = t | u;
    const mf = f | u;
    if (u) this.c.dataBranch.add(op.id);
    if (mt && mf) this.c.divergentBranches += this.weight;
    if (mt) this.runRegion(a, mt);
    if (mf) this.runRegion(b, mf);
    const outs = op.outs;
    for (let i = 0; i < outs.length; i++) {
      const x = mt ? s[a.term[i]!] : undefined;
      const y = mf ? s[b.term[i]!] : undefined;
      if (!mf) s[outs[i]!] = x;
      else if (!mt) s[outs[i]!] = y;
      else if (x === y) s[outs[i]!] = x;
      else {
        const v = new Array<unknown>(this.W);
        for (let l = 0; l < this.W; l++) {
          const bit = 1 << l;
          const xl = this.lane(x, l);
          const yl = this.lane(y, l);
          v[l] = u & bit ? (sameVal(xl, yl) ? xl : DATA) : t & bit ? xl : yl;
        }
        s[outs[i]!] = new Lanes(v);
      }
    }
  }

  /** Numbers (per lane) of a loop bound; null when one is unknown. */
  private numbers(v: unknown, m: number): number[] | null {
    const out = new Array<number>(this.W).fill(0);
    for (let l = 0; l < this.W; l++) {
      if (!((m >>> l) & 1)) continue;
      const x = this.lane(v, l);
      if (typeof x === 'boolean') out[l] = x ? 1 : 0;
      else if (typeof x !== 'number') return null;
      else out[l] = x;
    }
    return out;
  }

  private forOp(op: POp, m: number): void {
    const s = this.slots;
    const body = op.regions[0]!;
    const lo = s[op.ins[0]!];
    const hi = s[op.ins[1]!];
    const step = s[op.ins[2]!];
    const los = this.numbers(lo, m);
    const his = this.numbers(hi, m);
    const steps = this.numbers(step, m);
    if (!los || !his || !steps) throw new Error('warp analysis: a loop bound depends on loaded data');
    const nc = op.outs.length;
    let carried: unknown[] = [];
    for (let i = 0; i < nc; i++) carried.push(s[op.ins[3 + i]!]);
    // Trip counts per lane when they follow in closed form (integer bounds and step).
    let trips: number[] | null = new Array<number>(this.W).fill(0);
    for (let l = 0; l < this.W; l++) {
      if (!((m >>> l) & 1)) continue;
      const [a, b, st] = [los[l]!, his[l]!, steps[l]!];
      if (!(st > 0) || !Number.isInteger(a) || !Number.isInteger(b) || !Number.isInteger(st)) {
        if (!(st > 0) && a < b) throw new Error('warp analysis: a loop does not terminate');
        trips = null;
        break;
      }
      trips[l] = Math.max(0, Math.ceil((b - a) / st));
    }
    const history: unknown[][] = [carried];
    let iv: unknown = lo;
    let act = m;
    let k = 0;
    for (;;) {
      // The test: lanes whose counter passed the bound leave.
      this.issue();
      let next = 0;
      for (let l = 0; l < this.W; l++) {
        if (!((act >>> l) & 1)) continue;
        if ((this.lane(iv, l) as number) < his[l]!) next |= 1 << l;
      }
      if (next && next !== act) this.c.divergentBranches += this.weight;
      act = next;
      if (!act) break;
      if (k === 3 && trips && !this.launch.exact && this.sampleFor(op, m, act, los, steps, trips, history)) return;
      s[body.args[0]!] = iv;
      for (let i = 0; i < nc; i++) s[body.args[1 + i]!] = carried[i];
      this.runRegion(body, act);
      const nextCarried: unknown[] = [];
      for (let i = 0; i < nc; i++) nextCarried.push(this.mergeLanes(carried[i], s[body.term[i]!], act, m));
      carried = nextCarried;
      history.push(carried);
      iv = this.mergeLanes(
        iv,
        this.lanewise2(iv, step, (x, y) => (x as number) + (y as number)),
        act,
        m,
      );
      this.issue(); // the counter's increment
      k++;
    }
    for (let i = 0; i < nc; i++) s[op.outs[i]!] = carried[i];
  }

  /**
   * Per lane, the difference between consecutive states from state 1 on (S₁, S₂, S₃ of `history`), when every
   * carried value is affine in the iteration (or unknown, or unchanging); null otherwise.
   */
  private affine(history: unknown[][], act: number): { s1: unknown[]; d: (number[] | null)[] } | null {
    if (history.length < 4) return null;
    const [, s1, s2, s3] = history as [unknown[], unknown[], unknown[], unknown[]];
    const d: (number[] | null)[] = [];
    for (let i = 0; i < s1.length; i++) {
      const a = s1[i];
      const b = s2[i];
      const c = s3[i];
      if (a === b && b === c && !(a instanceof Lanes)) {
        d.push(null);
        continue;
      }
      const di = new Array<number>(this.W).fill(0);
      for (let l = 0; l < this.W; l++) {
        if (!((act >>> l) & 1)) continue;
        const x = this.lane(a, l);
        const y = this.lane(b, l);
        const z = this.lane(c, l);
        if (x === DATA && y === DATA && z === DATA) continue;
        if (typeof x === 'number' && typeof y === 'number' && typeof z === 'number') {
          const dd = y - x;
          if (z - y !== dd || !Number.isFinite(dd)) return null;
          di[l] = dd;
          continue;
        }
        if (sameVal(x, y) && sameVal(y, z)) continue;
        return null;
      }
      d.push(di);
    }
    return { s1, d };
  }

  /** State S_k (k ≥ 1) per lane from S₁ and the differences; `ks` per lane, or one k for all. */
  private extrapolate(aff: { s1: unknown[]; d: (number[] | null)[] }, ks: number | number[], m: number): unknown[] {
    const out: unknown[] = [];
    for (let i = 0; i < aff.s1.length; i++) {
      const d = aff.d[i];
      const a = aff.s1[i];
      if (!d) {
        out.push(a);
        continue;
      }
      const v = new Array<unknown>(this.W);
      for (let l = 0; l < this.W; l++) {
        const x = this.lane(a, l);
        const k = typeof ks === 'number' ? ks : ks[l]!;
        v[l] = (m >>> l) & 1 && typeof x === 'number' ? x + (k - 1) * d[l]! : x;
      }
      out.push(new Lanes(v));
    }
    return out;
  }

  /** Strata of [from, to): [start, size] each, at most LOOP_SAMPLES, and a position inside each. */
  private strata(from: number, to: number): { k: number; size: number }[] {
    const R = to - from;
    const n = Math.min(LOOP_SAMPLES, R);
    const out: { k: number; size: number }[] = [];
    for (let j = 0; j < n; j++) {
      const a = from + Math.floor((j * R) / n);
      const b = from + Math.floor(((j + 1) * R) / n);
      out.push({ k: a + Math.floor(this.rand() * (b - a)), size: b - a });
    }
    return out;
  }

  /**
   * The rest of a for loop (from iteration 3) at sampled iterations, when its carried values are affine; false (and
   * nothing done) when it must run iteration by iteration.
   */
  private sampleFor(
    op: POp,
    m: number,
    act: number,
    los: number[],
    steps: number[],
    trips: number[],
    history: unknown[][],
  ): boolean {
    let maxT = 0;
    for (let l = 0; l < this.W; l++) if ((act >>> l) & 1 && trips[l]! > maxT) maxT = trips[l]!;
    if (maxT - 3 <= LOOP_EXACT) return false;
    const aff = this.affine(history, act);
    if (!aff) return false;
    const s = this.slots;
    const body = op.regions[0]!;
    const nc = op.outs.length;
    this.c.sampledLoops = true;
    const saved = this.weight;
    for (const { k, size } of this.strata(3, maxT)) {
      let mk = 0;
      for (let l = 0; l < this.W; l++) if ((act >>> l) & 1 && trips[l]! > k) mk |= 1 << l;
      if (!mk) continue;
      this.weight = saved * size;
      const state = this.extrapolate(aff, k, act);
      const iv = new Array<unknown>(this.W);
      for (let l = 0; l < this.W; l++) iv[l] = los[l]! + k * steps[l]!;
      s[body.args[0]!] = new Lanes(iv);
      for (let i = 0; i < nc; i++) s[body.args[1 + i]!] = state[i];
      this.runRegion(body, mk);
      this.c.warpInstructions += 2 * this.weight; // the test and the increment
    }
    this.weight = saved;
    // The final test, and the divergent exits: each distinct trip count below the longest.
    this.issue();
    const exits = new Set<number>();
    for (let l = 0; l < this.W; l++) if ((act >>> l) & 1 && trips[l]! < maxT) exits.add(trips[l]!);
    this.c.divergentBranches += exits.size * saved;
    const final = this.extrapolate(aff, trips, act);
    const prev = history[history.length - 1]!;
    for (let i = 0; i < nc; i++) s[op.outs[i]!] = this.mergeLanes(prev[i], final[i], act, m);
    return true;
  }

  private whileOp(op: POp, m: number): void {
    const s = this.slots;
    const [before, after] = op.regions as [PRegion, PRegion];
    const nc = op.ins.length;
    let args: unknown[] = op.ins.map((i) => s[i]);
    const outs: unknown[] = new Array<unknown>(op.outs.length).fill(undefined);
    const history: unknown[][] = [args];
    let act = m;
    let k = 0;
    for (;;) {
      for (let i = 0; i < nc; i++) s[before.args[i]!] = args[i];
      this.runRegion(before, act);
      this.issue();
      const [t, f, u] = this.split(s[before.term[0]!], act);
      if (u) throw new Error('warp analysis: a loop condition depends on loaded data');
      const passed = before.term.slice(1).map((x) => s[x]);
      if (f) for (let i = 0; i < outs.length; i++) outs[i] = this.mergeLanes(outs[i], passed[i], f, m);
      if (t && f) this.c.divergentBranches += this.weight;
      act = t;
      if (!act) break;
      if (k === 3 && !this.launch.exact && this.sampleWhile(op, m, act, history, outs)) break;
      for (let i = 0; i < passed.length; i++) s[after.args[i]!] = passed[i];
      this.runRegion(after, act);
      const next: unknown[] = [];
      for (let i = 0; i < nc; i++) next.push(this.mergeLanes(args[i], s[after.term[i]!], act, m));
      args = next;
      history.push(args);
      k++;
    }
    for (let i = 0; i < op.outs.length; i++) s[op.outs[i]!] = outs[i];
  }

  /** The before region's condition per lane at state `args` (nothing counted). */
  private condAt(before: PRegion, args: unknown[], m: number): { t: number; passed: unknown[] } {
    const s = this.slots;
    const saved = this.weight;
    const savedC = this.c;
    this.weight = 0;
    this.c = new WarpCounters();
    try {
      for (let i = 0; i < args.length; i++) s[before.args[i]!] = args[i];
      this.runRegion(before, m);
      const [t, , u] = this.split(s[before.term[0]!], m);
      if (u) throw new Error('warp analysis: a loop condition depends on loaded data');
      return { t, passed: before.term.slice(1).map((x) => s[x]) };
    } finally {
      this.weight = saved;
      this.c = savedC;
    }
  }

  /**
   * The rest of a while loop at sampled iterations (its carried values affine from the first iterations on): each
   * lane's exit is found by testing the condition at extrapolated states (exponential then binary search, taking the
   * condition to stay false once false), then iterations are sampled as for a for loop.
   */
  private sampleWhile(op: POp, m: number, act: number, history: unknown[][], outs: unknown[]): boolean {
    const aff = this.affine(history, act);
    if (!aff) return false;
    const [before, after] = op.regions as [PRegion, PRegion];
    const at = (k: number) => this.condAt(before, this.extrapolate(aff, k, act), act).t;
    // Exponential search for an iteration at which every lane has left.
    let hiK = 4;
    while (at(hiK) & act) {
      hiK *= 2;
      if (hiK > 2 ** 31) return false;
    }
    if (hiK - 3 <= LOOP_EXACT) return false;
    // Per lane: the first iteration (≥ 3) whose test fails.
    const trips = new Array<number>(this.W).fill(3);
    const lo = new Array<number>(this.W).fill(3);
    const hi = new Array<number>(this.W).fill(hiK);
    for (let more = true; more; ) {
      more = false;
      const mids = new Map<number, number>();
      for (let l = 0; l < this.W; l++) {
        if (!((act >>> l) & 1) || lo[l]! >= hi[l]!) continue;
        const mid = Math.floor((lo[l]! + hi[l]!) / 2);
        mids.set(mid, (mids.get(mid) ?? 0) | (1 << l));
      }
      for (const [mid, lanes] of mids) {
        const t = at(mid);
        for (let l = 0; l < this.W; l++) {
          if (!((lanes >>> l) & 1)) continue;
          if ((t >>> l) & 1) lo[l] = mid + 1;
          else hi[l] = mid;
          if (lo[l]! < hi[l]!) more = true;
        }
      }
    }
    let maxT = 0;
    for (let l = 0; l < this.W; l++) {
      if (!((act >>> l) & 1)) continue;
      trips[l] = lo[l]!;
      if (lo[l]! > maxT) maxT = lo[l]!;
    }
    if (maxT - 3 <= LOOP_EXACT) return false;
    const s = this.slots;
    this.c.sampledLoops = true;
    const saved = this.weight;
    for (const { k, size } of this.strata(3, maxT)) {
      let mk = 0;
      for (let l = 0; l < this.W; l++) if ((act >>> l) & 1 && trips[l]! > k) mk |= 1 << l;
      if (!mk) continue;
      this.weight = saved * size;
      // Iteration k: the test (true for these lanes), then the body on what it passes.
      const state = this.extrapolate(aff, k, act);
      for (let i = 0; i < state.length; i++) s[before.args[i]!] = state[i];
      this.runRegion(before, mk);
      this.issue();
      for (let i = 0; i < after.args.length; i++) s[after.args[i]!] = s[before.term[1 + i]!];
      this.runRegion(after, mk);
    }
    this.weight = saved;
    this.issue(); // the final test
    const exits = new Set<number>();
    for (let l = 0; l < this.W; l++) if ((act >>> l) & 1 && trips[l]! < maxT) exits.add(trips[l]!);
    this.c.divergentBranches += exits.size * saved;
    // Each lane leaves with what the test passes at its own exit state.
    const { passed } = this.condAt(before, this.extrapolate(aff, trips, act), act);
    for (let i = 0; i < outs.length; i++) outs[i] = this.mergeLanes(outs[i], passed[i], act, m);
    return true;
  }
}
