/**
 * The abstract evaluator of the cost analysis. It runs a kernel's IR once per *piece* — a box of programs (and, inside
 * summarised loops, of iterations) on which every decision the kernel makes is the same — instead of once per
 * program. Program ids are variables; scalars are numbers or exact affine forms over them (`sym.ts`); the lanes of
 * masks and offsets are evaluated where they matter (`lanes.ts`). An op whose outcome differs inside the piece cuts it
 * (`Split`) and the evaluation continues on each part from that op: a piece forks, it never restarts from the top.
 *
 * Loops: a loop whose trip count is the same over the piece and whose carried state stops changing after its first
 * iteration(s) is *summarised*: its counter becomes one more variable, the body is evaluated over the whole range of
 * iterations (cut where needed, e.g. at a partial last block), and each part's cost counts as often as the part has
 * iterations — so a grid-stride loop over a gigabyte costs a few evaluations. Other loops run iteration by iteration
 * (still forking pieces, never programs). Variables of an enclosing level are frozen inside a summarised loop: a cut
 * there is handed to the level that owns the variable, which cuts its own state and summarises each part again.
 */
import { castScalar, type DType, type TileDType } from '../../dtype/dtype';
import { errorOfName, TesseraError } from '../../errors';
import type { BinaryOp, UnaryOp } from '../../kernel/elementwise';
import { evalBinary, evalUnary } from '../builder';
import type { Type } from '../ir';
import {
  arangeTile,
  binaryTile,
  broadcastTile,
  castTile,
  cumsumTile,
  firstOutOfBounds,
  fullTile,
  intValued,
  LaneTile,
  laneSummary,
  permuteTile,
  reduceTile,
  reshapeTile,
  settleTile,
  sortTile,
  unaryTile,
  unknownTile,
  whereTile,
} from './lanes';
import { C, type LiteStep, type Plan, type POp, type PRegion } from './plan';
import {
  addS,
  ceilS,
  compareS,
  DATA,
  type Domains,
  divS,
  floorS,
  geNum,
  isPoint,
  MAXV,
  mulS,
  needPoints,
  negS,
  numRange,
  pointValue,
  type Scalar,
  Split,
  Sym,
  sameScalar,
  signS,
  valueRange,
  varSym,
} from './sym';

/** Cost vector layout: matrix FLOPs and vector ops by cost dtype, then the scalar counters. */
export const NDT = 11;
export const SPECIAL = 2 * NDT;
export const BYTES_READ = SPECIAL + 1;
export const BYTES_WRITTEN = SPECIAL + 2;
export const ATOMIC = SPECIAL + 3;
export const MEMORY_OPS = SPECIAL + 4;
export const DOT_OPS = SPECIAL + 5;
export const COST_LEN = SPECIAL + 6;

/** A tile whose lanes do not matter: only whether it derives from a `dot` (resources skip those). */
const PLAIN = Object.freeze({ tile: 'plain' });
const DOTTED = Object.freeze({ tile: 'dot' });

function fromDot(v: unknown): boolean {
  return v === DOTTED || (v instanceof LaneTile && v.fromDot);
}

/** What a launch binds: buffers (length, dtype, description), host arrays, scalars. */
export interface BufferArg {
  length: number;
  dtype: DType;
  describe(): string;
}

/** What a piece has touched so far (launch-wide maxima and sets); shared between forks until one writes. */
export class Effects {
  /** vectorTileBytes, vectorWorkingSetBytes, dotOperandBytes, accumulatorBytes, minSharedAlignment (0: none). */
  res = new Float64Array(5);
  /** Per buffer param: 1 read, 2 written; and the order in which the piece first touched them. */
  touch: Uint8Array;
  order: number[] = [];
  dtypes = 0;
  /** Dtype indices in the order the piece first used them. */
  dtOrder: number[] = [];
  bounds: number[] | null = null;

  constructor(buffers: number) {
    this.touch = new Uint8Array(buffers);
  }

  copy(): Effects {
    const e = new Effects(0);
    e.res = this.res.slice();
    e.touch = this.touch.slice();
    e.order = this.order.slice();
    e.dtypes = this.dtypes;
    e.dtOrder = this.dtOrder.slice();
    e.bounds = this.bounds ? this.bounds.slice() : null;
    return e;
  }

  same(o: Effects): boolean {
    if (this === o) return true;
    for (let i = 0; i < 5; i++) if (this.res[i] !== o.res[i]) return false;
    if (this.dtypes !== o.dtypes || this.order.length !== o.order.length || this.dtOrder.length !== o.dtOrder.length)
      return false;
    for (let i = 0; i < this.order.length; i++) if (this.order[i] !== o.order[i]) return false;
    for (let i = 0; i < this.touch.length; i++) if (this.touch[i] !== o.touch[i]) return false;
    for (let i = 0; i < this.dtOrder.length; i++) if (this.dtOrder[i] !== o.dtOrder[i]) return false;
    return (this.bounds?.join() ?? '') === (o.bounds?.join() ?? '');
  }
}

export class Piece implements Domains {
  nv = 0;
  frozen = 0;
  /** SIMT: barriers passed (the phase a fault happens in). */
  barriers = 0;
  /** SIMT: the thread pieces of a faulting block that fault. */
  threadFaults: Piece[] | null = null;
  fault: POp | null = null;
  /** `cost` and `fx` may be shared with forks: write through `wcost` / `wfx`. */
  costShared = false;
  fxShared = false;

  constructor(
    public lo: number[],
    public st: number[],
    public n: number[],
    public slots: unknown[],
    public cost: Float64Array,
    public fx: Effects,
  ) {}

  static initial(slots: unknown[], buffers: number): Piece {
    const z = () => new Array<number>(MAXV).fill(0);
    return new Piece(z(), z(), z(), slots, new Float64Array(COST_LEN), new Effects(buffers));
  }

  clone(): Piece {
    const q = new Piece(this.lo.slice(), this.st.slice(), this.n.slice(), this.slots.slice(), this.cost, this.fx);
    this.costShared = q.costShared = true;
    this.fxShared = q.fxShared = true;
    q.nv = this.nv;
    q.frozen = this.frozen;
    q.fault = this.fault;
    q.barriers = this.barriers;
    return q;
  }

  /** The cost counters, writable. */
  wcost(): Float64Array {
    if (this.costShared) {
      this.cost = this.cost.slice();
      this.costShared = false;
    }
    return this.cost;
  }

  /** The effects, writable. */
  wfx(): Effects {
    if (this.fxShared) {
      this.fx = this.fx.copy();
      this.fxShared = false;
    }
    return this.fx;
  }

  /** A fresh cost accumulator (summarised loop bodies, SIMT threads). */
  zeroCost(): void {
    this.cost = new Float64Array(COST_LEN);
    this.costShared = false;
  }
}

export interface EvalStats {
  /** Ops evaluated (over all pieces). */
  ops: number;
  /** Pieces merged back into a neighbour. */
  merged: number;
  /** Cuts made. */
  splits: number;
  /** Loops summarised / run iteration by iteration. */
  summarised: number;
  iterated: number;
}

export interface LaunchInfo {
  style: 'tile' | 'simt';
  grid: readonly [number, number, number];
  block: readonly [number, number, number];
  dynamicSharedBytes: number;
  kernelName: string;
  ownerLabel: string;
  /** Values by slot for the params (numbers, arrays, buffers). */
  bufs: BufferArg[];
}

/** Loops shorter than this run iteration by iteration. */
const SHORT_LOOP = 3;
/** Iterations peeled before a loop is summarised, at most. */
const MAX_PEEL = 3;
/** A loop running longer than this on one piece is taken as not terminating. */
const MAX_ITERATIONS = 50_000_000;

function isLocalSplit(e: unknown, p: Domains): e is Split {
  return e instanceof Split && e.v >= p.frozen && e.v < p.nv;
}

export class Evaluator {
  faulted: Piece[] = [];
  readonly stats: EvalStats = { ops: 0, merged: 0, splits: 0, summarised: 0, iterated: 0 };
  private readonly runs = new Map<unknown, Runs>();

  constructor(
    readonly plan: Plan,
    readonly launch: LaunchInfo,
    /** Point mode: every variable is a single value, faults throw their error, loops run iteration by iteration. */
    readonly pointMode: boolean,
  ) {}

  // ------------------------------------------------------------------------------------------------ pieces

  fork(p: Piece, s: Split): Piece[] {
    this.stats.splits++;
    const out: Piece[] = [];
    const parts = s.parts;
    for (let i = 0; i < parts.length; i += 3) {
      const q = i === 0 ? p : p.clone();
      out.push(q);
    }
    for (let i = 0, k = 0; i < parts.length; i += 3, k++) {
      const q = out[k]!;
      q.lo[s.v] = parts[i]!;
      q.st[s.v] = parts[i + 1]!;
      q.n[s.v] = parts[i + 2]!;
    }
    return out;
  }

  /** Runs a region's ops from `from` on a piece; the pieces that reach its end go to `out`. */
  runOps(r: PRegion, from: number, p: Piece, out: Piece[]): void {
    const ops = r.ops;
    for (let i = from; i < ops.length; i++) {
      const op = ops[i]!;
      this.stats.ops++;
      let res: Piece[] | null;
      try {
        res = this.exec(op, p);
      } catch (e) {
        if (!isLocalSplit(e, p)) throw e;
        for (const q of this.fork(p, e)) this.runOps(r, i, q, out);
        return;
      }
      if (res !== null) {
        if (res.length > 1) res = this.merge(res, op.x.visible as Int32Array);
        if (res.length === 1) {
          p = res[0]!;
          continue;
        }
        for (const q of res) this.runOps(r, i + 1, q, out);
        return;
      }
      if (p.fault) {
        this.faulted.push(p);
        return;
      }
    }
    out.push(p);
  }

  // ------------------------------------------------------------------------------------------------ merging

  /**
   * Pieces that come out of a control-flow op apart (a scan over host-array sequences ends at a different iteration
   * for each program) but hold the same state up to an affine function of one variable become one piece again:
   * `s = 3` for program 3 and `s = 4` for program 4 is `s = pid` for programs 3–4. Only values visible after the op
   * are compared.
   */
  merge(list: Piece[], visible: Int32Array): Piece[] {
    const out: Piece[] = [];
    let cur = list[0]!;
    for (let i = 1; i < list.length; i++) {
      const m = this.tryMerge(cur, list[i]!, visible);
      if (m) cur = m;
      else {
        out.push(cur);
        cur = list[i]!;
      }
    }
    out.push(cur);
    if (out.length < list.length) this.stats.merged += list.length - out.length;
    return out;
  }

  private tryMerge(a: Piece, b: Piece, visible: Int32Array): Piece | null {
    if (a.nv !== b.nv || a.frozen !== b.frozen || a.fault || b.fault || a.barriers !== b.barriers) return null;
    // Exactly one variable (owned by this level) differs, and b continues a's lattice along it.
    let v = -1;
    for (let k = 0; k < a.nv; k++) {
      if (a.lo[k] === b.lo[k] && a.st[k] === b.st[k] && a.n[k] === b.n[k]) continue;
      if (v >= 0 || k < a.frozen) return null;
      v = k;
    }
    if (v < 0) return null;
    let st = a.st[v]!;
    if (a.n[v] === 1) st = b.lo[v]! - a.lo[v]!;
    else if (b.n[v]! > 1 && b.st[v] !== st) return null;
    if (!(st > 0) || b.lo[v] !== a.lo[v]! + st * a.n[v]!) return null;
    if (a.cost !== b.cost) for (let i = 0; i < COST_LEN; i++) if (a.cost[i] !== b.cost[i]) return null;
    if (!a.fx.same(b.fx)) return null;
    const merged = new Map<number, unknown>();
    for (let k = 0; k < visible.length; k++) {
      const slot = visible[k]!;
      const x = a.slots[slot];
      const y = b.slots[slot];
      if (x === y) continue;
      const f = fitValue(a, b, v, st, x, y);
      if (f === FAIL) return null;
      if (f !== x) merged.set(slot, f);
    }
    a.n[v] = a.n[v]! + b.n[v]!;
    a.st[v] = st;
    for (const [slot, val] of merged) a.slots[slot] = val;
    return a;
  }

  // ------------------------------------------------------------------------------------------------ values

  private get(p: Piece, slot: number): unknown {
    const v = p.slots[slot];
    if (v instanceof Sym && isPoint(p, v)) return pointValue(p, v);
    if (v instanceof LaneTile && v.s instanceof Sym && isPoint(p, v.s)) {
      // The piece was cut to a point since the tile was made: fold its offset into the lanes.
      const t = settleTile(p, v);
      p.slots[slot] = t;
      return t;
    }
    return v;
  }

  private num(p: Piece, slot: number): number | Sym {
    const v = this.get(p, slot);
    if (typeof v === 'number' || v instanceof Sym) return v;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (v === undefined) return Number.NaN;
    if (v === DATA)
      throw new Error('cost analysis: a loop bound, extent or count depends on loaded data, so the cost has no bound');
    throw new Error(`cost analysis: slot ${slot} holds ${String(v)}, not a number`);
  }

  private truthy(p: Domains, v: unknown): boolean | typeof DATA {
    if (v === DATA) return DATA;
    if (v instanceof Sym) return !compareS(p, '===', v, 0);
    return !!v;
  }

  // ------------------------------------------------------------------------------------------------ ops

  private exec(op: POp, p: Piece): Piece[] | null {
    switch (op.code) {
      case C.SBinary:
        p.slots[op.outs[0]!] = this.sBinary(
          p,
          op.op.attrs.op as string,
          this.get(p, op.ins[0]!),
          this.get(p, op.ins[1]!),
        );
        if (op.vecN) this.countScalar(p, op);
        return null;
      case C.SUnary:
        p.slots[op.outs[0]!] = this.sUnary(p, op.op.attrs.op as string, this.get(p, op.ins[0]!));
        if (op.vecN) this.countScalar(p, op);
        return null;
      case C.SSelect: {
        const c = this.truthy(p, this.get(p, op.ins[0]!));
        const a = this.get(p, op.ins[1]!);
        const b = this.get(p, op.ins[2]!);
        p.slots[op.outs[0]!] = c === DATA ? (sameScalar(a, b) ? a : DATA) : c ? a : b;
        return null;
      }
      case C.ProgId: {
        const v = op.op.attrs.axis as number;
        p.slots[op.outs[0]!] = p.n[v] === 1 ? p.lo[v]! : varSym(v);
        return null;
      }
      case C.ProgNum:
        p.slots[op.outs[0]!] = this.launch.grid[op.op.attrs.axis as number]!;
        return null;
      case C.ArrGet:
        p.slots[op.outs[0]!] = this.arrGet(p, op);
        return null;
      case C.ArrLen:
        p.slots[op.outs[0]!] = (this.get(p, op.ins[0]!) as readonly number[]).length;
        return null;
      case C.BufLen:
        p.slots[op.outs[0]!] = (this.get(p, op.ins[0]!) as BufferArg).length;
        return null;
      case C.Trap:
        this.fault(p, op, () => this.trapError(p, op));
        return null;
      case C.Arange:
        return this.arange(p, op);
      case C.Full: {
        const out = op.outs[0]!;
        const v = this.plan.need[out] ? fullTile(p, this.get(p, op.ins[0]!) as Scalar, op.shape, op.dtype) : PLAIN;
        useDType(p, op.dtIdx);
        p.slots[out] = v;
        return null;
      }
      case C.Binary:
      case C.Unary:
      case C.Where:
      case C.Cast:
      case C.Reshape:
      case C.Broadcast:
      case C.Permute:
      case C.Reduce:
      case C.Cumsum:
      case C.Sort:
        this.tileOp(p, op);
        return null;
      case C.Dot: {
        const c = p.wcost();
        c[op.x.costIdx as number]! += op.x.flops as number;
        c[DOT_OPS]! += 1;
        if ((op.x.opBytes as number) > p.fx.res[2]!) p.wfx().res[2] = op.x.opBytes as number;
        if ((op.x.accBytes as number) > p.fx.res[3]!) p.wfx().res[3] = op.x.accBytes as number;
        const out = op.outs[0]!;
        p.slots[out] = this.plan.need[out] ? unknownTile(op.dtype, op.shape, true) : DOTTED;
        return null;
      }
      case C.Load:
      case C.Store:
      case C.Atomic:
        this.gather(p, op);
        return null;
      case C.View:
        this.view(p, op);
        return null;
      case C.LoadBlock:
      case C.StoreBlock:
        this.block(p, op);
        return null;
      case C.SimtTid: {
        const v = 3 + (op.op.attrs.axis as number);
        p.slots[op.outs[0]!] = p.n[v] === 1 ? p.lo[v]! : varSym(v);
        return null;
      }
      case C.SimtBid: {
        const v = op.op.attrs.axis as number;
        p.slots[op.outs[0]!] = p.n[v] === 1 ? p.lo[v]! : varSym(v);
        return null;
      }
      case C.SimtBdim:
        p.slots[op.outs[0]!] = this.launch.block[op.op.attrs.axis as number]!;
        return null;
      case C.SimtGdim:
        p.slots[op.outs[0]!] = this.launch.grid[op.op.attrs.axis as number]!;
        return null;
      case C.SimtLoad:
      case C.SimtStore:
      case C.SimtAtomic:
        this.simtAccess(p, op);
        return null;
      case C.SimtSharedLoad:
      case C.SimtSharedStore:
      case C.SimtSharedAtomic:
        this.sharedAccess(p, op);
        return null;
      case C.SimtWarp:
        // Warp intrinsics (shfl, vote, redux, syncwarp): values from other lanes; not costed yet.
        for (const o of op.outs) p.slots[o] = DATA;
        return null;
      case C.SimtExit:
        return null;
      case C.SimtFlops: {
        const n = this.get(p, op.ins[0]!);
        if (n === DATA) throw new Error('cost analysis: countFlops of a value computed from loaded data');
        const k = this.constant(p, this.num(p, op.ins[0]!));
        if (!(k >= 0) || !Number.isFinite(k)) {
          this.fault(
            p,
            op,
            () =>
              new TesseraError(
                'InvalidValue',
                `${this.location(p)}: countFlops(${k}, '${op.op.attrs.dtype ?? 'f32'}'): n must be a finite number ≥ 0 and dtype one of f32, f16, bf16, i32.`,
              ),
          );
          return null;
        }
        // Deprecated: FLOPs are counted from the IR's arithmetic (plan.ts); the declaration only keeps its checks.
        return null;
      }
      case C.SimtBarrier:
        p.barriers++;
        return null;
      case C.SimtDynShared: {
        const off = op.op.attrs.offset as number;
        const align = off === 0 ? 256 : Math.min(256, off & -off);
        if (!p.fx.res[4] || align < p.fx.res[4]!) p.wfx().res[4] = align;
        p.slots[op.outs[0]!] = {
          name: `dynamicShared(${op.op.attrs.dtype}, ${off})`,
          dtype: op.op.attrs.dtype as string,
          length: op.op.attrs.length as number,
        } satisfies SharedInfo;
        return null;
      }
      case C.SimtSharedView: {
        // `s.subarray(b, e)`: a window of a shared array (bounds compile-time), checked against its own length.
        const sh = this.get(p, op.ins[0]!) as SharedInfo;
        const off = op.op.attrs.offset as number;
        const length = op.op.attrs.length as number;
        p.slots[op.outs[0]!] = {
          name: `${sh.name}.subarray(${off}, ${off + length})`,
          dtype: sh.dtype,
          length,
        } satisfies SharedInfo;
        return null;
      }
      case C.SimtSharedFill:
        // TypedArray.fill clamps its range: never a fault; shared-memory traffic is the warp analysis's (warp.ts).
        return null;
      case C.SimtOther:
        for (const o of op.outs) p.slots[o] = DATA;
        return null;
      case C.For:
        return this.forLoop(p, op);
      case C.While:
        return this.whileLoop(p, op);
      case C.If:
        return this.ifOp(p, op);
      default:
        throw new Error(`cost analysis: op '${op.op.opcode}' is not supported`);
    }
  }

  // ------------------------------------------------------------------------------------------------ scalars

  private sBinary(p: Domains, op: string, x: unknown, y: unknown): unknown {
    if (x === DATA || y === DATA) {
      if (op === '&&' && x !== DATA) return this.truthy(p, x) ? y : x;
      if (op === '||' && x !== DATA) return this.truthy(p, x) ? x : y;
      return DATA;
    }
    if (!(x instanceof Sym) && !(y instanceof Sym)) {
      if (x === undefined || y === undefined) return evalBinary(op, x as number, y as number);
      return evalBinary(op, x as number | boolean, y as number | boolean);
    }
    if (op === '&&') return this.truthy(p, x) ? y : x;
    if (op === '||') return this.truthy(p, x) ? x : y;
    const a = typeof x === 'boolean' ? (x ? 1 : 0) : (x as number | Sym);
    const b = typeof y === 'boolean' ? (y ? 1 : 0) : (y as number | Sym);
    if ((typeof a === 'number' && Number.isNaN(a)) || (typeof b === 'number' && Number.isNaN(b))) {
      // NaN poisons arithmetic and makes comparisons false whatever the Sym's value.
      if (op === '<' || op === '<=' || op === '>' || op === '>=' || op === '===') return false;
      if (op === '!==') return true;
      return Number.NaN;
    }
    switch (op) {
      case '+':
        return addS(p, a, b, 1);
      case '-':
        return addS(p, a, b, -1);
      case '*':
        return mulS(p, a, b);
      case '/':
        return divS(p, a, b);
      case '%':
        return this.mod(p, a, b);
      case '<':
      case '<=':
      case '>':
      case '>=':
      case '===':
      case '!==':
        return compareS(p, op, a, b);
      case 'min':
        return compareS(p, '<=', a, b) ? a : b;
      case 'max':
        return compareS(p, '>=', a, b) ? a : b;
      case 'imul': {
        if (typeof a !== 'number' && typeof b !== 'number') throw needPoints(p, a.mask | b.mask);
        const r = mulS(p, a, b);
        this.requireInt32(p, r);
        return r;
      }
      case '>>':
      case '>>>':
      case '<<':
      case '|':
      case '&':
      case '^':
        return this.bitwise(p, op, a, b);
      default:
        throw needPoints(p, (a instanceof Sym ? a.mask : 0) | (b instanceof Sym ? b.mask : 0));
    }
  }

  private requireInt32(p: Domains, x: number | Sym): void {
    if (typeof x === 'number') return;
    const [lo, hi] = valueRange(p, x);
    if (!intValued(p, x) || lo < -(2 ** 31) || hi > 2 ** 31 - 1) throw needPoints(p, x.mask);
  }

  private bitwise(p: Domains, op: string, a: number | Sym, b: number | Sym): number | Sym {
    const mask = (a instanceof Sym ? a.mask : 0) | (b instanceof Sym ? b.mask : 0);
    if (typeof b !== 'number' || !(a instanceof Sym)) {
      if (typeof a === 'number' && b instanceof Sym && (op === '|' || op === '^') && a === 0)
        return this.bitwise(p, op, b, 0);
      throw needPoints(p, mask);
    }
    this.requireInt32(p, a);
    const k = b & 31;
    switch (op) {
      case '|':
      case '^':
        if (b === 0) return a;
        break;
      case '<<': {
        const r = mulS(p, a, 2 ** k);
        this.requireInt32(p, r);
        return r;
      }
      case '>>':
        return floorS(p, divS(p, a, 2 ** k), false);
      case '>>>':
        if (k === 0) break;
        if (valueRange(p, a)[0] >= 0) return floorS(p, divS(p, a, 2 ** k), false);
        break;
      case '&':
        if (b >= 0 && Number.isInteger(Math.log2(b + 1)) && valueRange(p, a)[0] >= 0) return this.mod(p, a, b + 1);
        break;
      default:
    }
    throw needPoints(p, mask);
  }

  private mod(p: Domains, a: number | Sym, b: number | Sym): number | Sym {
    if (typeof a === 'number' && typeof b === 'number') return a % b;
    if (typeof b !== 'number') throw needPoints(p, b.mask | (a instanceof Sym ? a.mask : 0));
    if (b === 0 || !Number.isFinite(b)) return Number.NaN;
    const m = Math.abs(b);
    const s = a as Sym;
    if (signS(p, s) >= 0) return addS(p, s, mulS(p, floorS(p, divS(p, s, m), false), m), -1);
    return addS(p, s, mulS(p, ceilS(p, divS(p, s, m), false), m), -1);
  }

  private sUnary(p: Domains, op: string, x: unknown): unknown {
    if (x === DATA) return DATA;
    if (!(x instanceof Sym)) return evalUnary(op, x as number | boolean);
    switch (op) {
      case '-':
        return negS(p, x);
      case '+':
        return x;
      case '!':
        return compareS(p, '===', x, 0);
      case '~': {
        this.requireInt32(p, x);
        return addS(p, negS(p, x), 1, -1);
      }
      case 'floor':
        return floorS(p, x, false);
      case 'ceil':
        return ceilS(p, x, false);
      case 'round':
        return floorS(p, addS(p, x, 0.5, 1), false);
      case 'trunc':
        return signS(p, x) >= 0 ? floorS(p, x, false) : ceilS(p, x, false);
      case 'sign':
        return signS(p, x);
      case 'abs':
        return signS(p, x) >= 0 ? x : negS(p, x);
      case 'isNaN':
        return false;
      case 'isFinite':
        return true;
      case 'isInteger':
        if (intValued(p, x)) return true;
        throw needPoints(p, x.mask);
      case 'fround': {
        const [lo, hi] = valueRange(p, x);
        if (intValued(p, x) && lo >= -(2 ** 24) && hi <= 2 ** 24) return x;
        throw needPoints(p, x.mask);
      }
      default:
        throw needPoints(p, x.mask);
    }
  }

  private arrGet(p: Piece, op: POp): unknown {
    return this.arrValue(p, this.get(p, op.ins[0]!) as readonly number[], this.get(p, op.ins[1]!));
  }

  private arrValue(p: Domains, arr: readonly number[], i: unknown): unknown {
    if (i === DATA) return DATA;
    if (!(i instanceof Sym)) {
      const v = arr[i as number];
      return v === undefined ? Number.NaN : v;
    }
    if (!intValued(p, i)) throw needPoints(p, i.mask);
    const [imin, imax] = valueRange(p, i);
    if (imin < 0 && !compareS(p, '>=', i, 0)) return Number.NaN;
    if (imax >= arr.length && !compareS(p, '<', i, arr.length)) return Number.NaN;
    let runs = this.runs.get(arr);
    if (!runs) {
      runs = affineRuns(arr);
      this.runs.set(arr, runs);
    }
    const k = runs.find(imin);
    const end = runs.end[k]!;
    if (imax > end) {
      compareS(p, '<=', i, end);
      throw new Error('cost analysis: array run inconsistent');
    }
    const start = runs.start[k]!;
    const slope = runs.slope[k]!;
    const v0 = arr[start]!;
    if (slope === 0) return v0;
    if (!Number.isInteger(v0) || !Number.isInteger(slope)) throw needPoints(p, i.mask);
    return addS(p, mulS(p, addS(p, i, start, -1), slope), v0, 1);
  }

  /** A SIMT thread's float arithmetic (FLOPs counted from the IR: plan.ts). */
  private countScalar(p: Piece, op: POp): void {
    const c = p.wcost();
    c[NDT + op.vecIdx]! += op.vecN;
    if (op.special) c[SPECIAL]! += op.special;
  }

  // ------------------------------------------------------------------------------------------------ tiles

  private note(p: Piece, op: POp, outFromDot: boolean): void {
    if (outFromDot) return;
    const ob = op.x.outBytes as number;
    const res = p.fx.res;
    if (ob > res[0]!) p.wfx().res[0] = ob;
    let ws = ob;
    const ns = op.noteSlots;
    for (let k = 0; k < ns.length; k++) {
      const s = ns[k]!;
      if (s >= 0 && fromDot(p.slots[s])) continue;
      ws += op.noteBytes[k]!;
    }
    if (ws > res[1]!) p.wfx().res[1] = ws;
  }

  private operand(
    p: Piece,
    slot: number,
    isTile: boolean,
    dtype: TileDType,
    shape: readonly number[],
  ): LaneTile | Scalar {
    const v = this.get(p, slot);
    if (!isTile) return v as Scalar;
    if (v instanceof LaneTile) return v;
    return unknownTile(dtype, shape, fromDot(v));
  }

  private tileOp(p: Piece, op: POp): void {
    const out = op.outs[0]!;
    const need = this.plan.need[out] === 1;
    const irop = op.op;
    const ins = op.ins;
    let fd: boolean;
    let value: unknown;
    switch (op.code) {
      case C.Binary: {
        const a = p.slots[ins[0]!];
        const b = p.slots[ins[1]!];
        fd = fromDot(a) || fromDot(b);
        if (need) {
          const ta = irop.operands[0]!.type;
          const tb = irop.operands[1]!.type;
          const x = this.operand(p, ins[0]!, ta.kind === 'tile', tileDtype(ta), tileShape(ta));
          const y = this.operand(p, ins[1]!, tb.kind === 'tile', tileDtype(tb), tileShape(tb));
          value = binaryTile(p, irop.attrs.op as BinaryOp, op.x.cd as TileDType, op.dtype, x, y, op.shape, fd);
        }
        break;
      }
      case C.Unary: {
        const a = p.slots[ins[0]!];
        fd = fromDot(a);
        if (need)
          value = unaryTile(p, irop.attrs.op as UnaryOp, op.x.cd as TileDType, op.dtype, this.laneIn(p, op, 0), fd);
        break;
      }
      case C.Where: {
        const a = p.slots[ins[1]!];
        const b = p.slots[ins[2]!];
        fd = fromDot(a) || fromDot(b);
        if (need) {
          const c = this.laneIn(p, op, 0);
          const ta = irop.operands[1]!.type;
          const tb = irop.operands[2]!.type;
          const x = this.operand(p, ins[1]!, ta.kind === 'tile', op.dtype, tileShape(ta));
          const y = this.operand(p, ins[2]!, tb.kind === 'tile', op.dtype, tileShape(tb));
          value = whereTile(p, c, x, y, op.dtype, op.shape, fd);
        }
        break;
      }
      case C.Cast:
        fd = fromDot(p.slots[ins[0]!]);
        if (need) value = castTile(p, this.laneIn(p, op, 0), op.dtype, fd);
        useDType(p, op.dtIdx);
        break;
      case C.Reshape:
        fd = fromDot(p.slots[ins[0]!]);
        if (need) value = reshapeTile(this.laneIn(p, op, 0), op.shape, fd);
        break;
      case C.Broadcast:
        fd = fromDot(p.slots[ins[0]!]);
        if (need) value = broadcastTile(this.laneIn(p, op, 0), op.shape, fd);
        break;
      case C.Permute:
        fd = fromDot(p.slots[ins[0]!]);
        if (need) value = permuteTile(this.laneIn(p, op, 0), irop.attrs.perm as number[], fd);
        break;
      case C.Reduce:
        fd = fromDot(p.slots[ins[0]!]);
        if (need) {
          value = reduceTile(
            p,
            irop.attrs.kind as 'sum',
            this.laneIn(p, op, 0),
            irop.attrs.axis as number | null,
            op.dtype,
            op.shape,
            fd,
          );
        }
        break;
      case C.Cumsum:
        fd = fromDot(p.slots[ins[0]!]);
        if (need) value = cumsumTile(p, this.laneIn(p, op, 0), irop.attrs.axis as number, op.dtype, fd);
        break;
      default: // Sort
        fd = false;
        if (need) {
          value = sortTile(
            p,
            this.laneIn(p, op, 0),
            irop.attrs.axis as number,
            !!irop.attrs.descending,
            !!irop.attrs.indices,
            op.dtype,
          );
        }
    }
    // Everything that can cut the piece has run: count.
    if (op.vecIdx >= 0 && op.vecN) p.wcost()[NDT + op.vecIdx]! += op.vecN;
    if (op.special) p.wcost()[SPECIAL]! += op.special;
    if (op.notes) this.note(p, op, fd);
    p.slots[out] = need ? value : fd ? DOTTED : PLAIN;
  }

  private laneIn(p: Piece, op: POp, i: number): LaneTile {
    const v = this.get(p, op.ins[i]!);
    if (v instanceof LaneTile) return v;
    const t = op.op.operands[i]!.type as { dtype: TileDType; shape: readonly number[] };
    return unknownTile(t.dtype, t.shape, fromDot(v));
  }

  private arange(p: Piece, op: POp): null {
    const start = this.get(p, op.ins[0]!);
    const size = op.op.attrs.size as number;
    if (start instanceof Sym && !intValued(p, start)) throw needPoints(p, start.mask);
    if (typeof start === 'number' && !Number.isInteger(start)) {
      this.fault(
        p,
        op,
        () =>
          new TesseraError(
            'InvalidValue',
            `${this.location(p)}: arange(${start}, ${start + size}) needs integers with end ≥ start.`,
          ),
      );
      return null;
    }
    const out = op.outs[0]!;
    const v = this.plan.need[out]
      ? start === DATA
        ? unknownTile('i32', op.shape, false)
        : arangeTile(p, start as Scalar, size)
      : PLAIN;
    if (op.vecN) p.wcost()[NDT + op.vecIdx]! += op.vecN;
    p.slots[out] = v;
    return null;
  }

  // ------------------------------------------------------------------------------------------------ memory

  private touch(p: Piece, buf: number, flags: number): void {
    if (buf < 0) return;
    const t = p.fx.touch[buf]!;
    if ((t | flags) === t) return;
    const fx = p.wfx();
    if (t === 0) fx.order.push(buf);
    fx.touch[buf] = t | flags;
  }

  private bound(p: Piece, op: POp): void {
    if (p.fx.bounds?.includes(op.id)) return;
    const fx = p.wfx();
    if (!fx.bounds) fx.bounds = [op.id];
    else fx.bounds.push(op.id);
  }

  /** mem.load / mem.store / mem.atomic. */
  private gather(p: Piece, op: POp): void {
    const buf = this.get(p, op.ins[0]!) as BufferArg;
    const masked = op.x.masked as boolean;
    const maskSlot = op.code === C.Load ? 2 : 3;
    const what =
      op.code === C.Load
        ? 'load'
        : op.code === C.Store
          ? 'store'
          : `atomic${(op.x.kind as string)[0]!.toUpperCase()}${(op.x.kind as string).slice(1)}`;
    // Offsets: a lane tile, or a scalar (a 0-d offset).
    const offV = this.get(p, op.ins[1]!);
    let off: LaneTile;
    if (offV instanceof LaneTile) off = offV;
    else if (offV === DATA) off = unknownTile('i32', [], false);
    else if (offV instanceof Sym) {
      if (!intValued(p, offV)) throw needPoints(p, offV.mask);
      off = new LaneTile('i32', [], 1, new Int32Array(1), offV, null, false);
    } else if (typeof offV === 'number') {
      if (!Number.isInteger(offV)) {
        this.fault(
          p,
          op,
          () => new TesseraError('InvalidValue', `${this.location(p)}: ${what} offsets ${offV} is not an integer.`),
        );
        return;
      }
      off = new LaneTile('i32', [], 1, Int32Array.of(offV), 0, null, false);
    } else off = unknownTile('i32', [], fromDot(offV));
    const mask = masked ? this.laneIn(p, op, maskSlot) : null;
    const shape = op.shape;
    const sum = laneSummary(off, mask, op.shape);
    if (sum.offsetsKnown && sum.active > 0) {
      const lo = addS(p, sum.lo, sum.s, 1);
      const hi = addS(p, sum.hi, sum.s, 1);
      const ok = compareS(p, '>=', lo, 0) && compareS(p, '<', hi, buf.length);
      if (!ok) {
        this.fault(p, op, () => {
          const index = firstOutOfBounds(p, off, mask, shape, buf.length)!;
          return new TesseraError(
            'IllegalAddress',
            `${this.location(p)}: ${what} of ${buf.describe()} at element ${index} is out of bounds (valid 0..${buf.length - 1}).`,
            {
              hint:
                'Mask the access (e.g. t.load(x, offs, { mask: offs.lt(n) })) or fix the index math. ' +
                'The device is now in an error state, as after a CUDA illegal-address fault: call device.reset().',
              device: this.launch.ownerLabel,
              kernel: this.launch.kernelName,
              index,
            },
          );
        });
        return;
      }
    }
    if (sum.maskBound) this.bound(p, op);
    const c = p.wcost();
    const bytes = sum.active * op.elemBytes;
    c[MEMORY_OPS]! += 1;
    useDType(p, op.dtIdx);
    if (op.code === C.Load) {
      c[BYTES_READ]! += bytes;
      this.touch(p, op.buf, 1);
      const b = op.bytes;
      if (b > p.fx.res[0]! || b > p.fx.res[1]!) {
        const r = p.wfx().res;
        if (b > r[0]!) r[0] = b;
        if (b > r[1]!) r[1] = b;
      }
      p.slots[op.outs[0]!] = this.plan.need[op.outs[0]!] ? unknownTile(op.dtype, op.shape, false) : PLAIN;
    } else if (op.code === C.Store) {
      c[BYTES_WRITTEN]! += bytes;
      this.touch(p, op.buf, 2);
      this.noteStored(p, op);
    } else {
      c[ATOMIC]! += sum.active;
      c[BYTES_READ]! += bytes;
      c[BYTES_WRITTEN]! += bytes;
      this.touch(p, op.buf, 3);
      p.slots[op.outs[0]!] = this.plan.need[op.outs[0]!] ? unknownTile(op.dtype, op.shape, false) : PLAIN;
    }
  }

  private noteStored(p: Piece, op: POp): void {
    const s = op.noteSlots[0]!;
    if (s >= 0 && fromDot(p.slots[s])) return;
    const b = op.noteBytes[0]!;
    if (b > p.fx.res[0]! || b > p.fx.res[1]!) {
      const r = p.wfx().res;
      if (b > r[0]!) r[0] = b;
      if (b > r[1]!) r[1] = b;
    }
  }

  /** mem.view: the checks `t.tensor` makes. */
  private view(p: Piece, op: POp): void {
    const rank = op.x.rank as number;
    const buf = this.get(p, op.ins[0]!) as BufferArg;
    const offset = this.num(p, op.ins[1]!);
    let concrete = typeof offset === 'number';
    for (let d = 0; d < 2 * rank && concrete; d++) concrete = typeof this.num(p, op.ins[2 + d]!) === 'number';
    if (concrete) {
      // The common case: every extent known; plain arithmetic.
      let last = offset as number;
      let empty = false;
      let bad = !Number.isInteger(last) || last < 0;
      for (let d = 0; d < rank; d++) {
        const sh = this.num(p, op.ins[2 + d]!) as number;
        const st = this.num(p, op.ins[2 + rank + d]!) as number;
        if (!Number.isInteger(sh) || sh < 0 || !Number.isInteger(st) || st < 0) bad = true;
        if (!(sh > 0)) empty = true;
        last += (sh - 1) * st;
      }
      if (!bad && (empty || last < buf.length)) {
        useDType(p, op.dtIdx);
        return;
      }
      this.viewFault(p, op, buf);
      return;
    }
    const nonNegInt = (x: number | Sym): boolean => {
      if (typeof x === 'number') return Number.isInteger(x) && x >= 0;
      if (!intValued(p, x)) throw needPoints(p, x.mask);
      return compareS(p, '>=', x, 0);
    };
    let empty = false;
    let last: number | Sym = offset;
    let ok = nonNegInt(offset);
    for (let d = 0; d < rank && ok; d++) {
      const sh = this.num(p, op.ins[2 + d]!);
      const st = this.num(p, op.ins[2 + rank + d]!);
      if (!nonNegInt(sh) || !nonNegInt(st)) ok = false;
      else {
        if (!compareS(p, '>', sh, 0)) empty = true;
        last = addS(p, last, mulS(p, addS(p, sh, 1, -1), st), 1);
      }
    }
    if (ok && (empty || !compareS(p, '>=', last, buf.length))) {
      useDType(p, op.dtIdx);
      return;
    }
    this.viewFault(p, op, buf);
  }

  /** A view that faults (uniformly over the piece): the checks a run makes, in its order, with its messages. */
  private viewFault(p: Piece, op: POp, buf: BufferArg): void {
    if (!this.pointMode) {
      p.fault = op;
      return;
    }
    const rank = op.x.rank as number;
    const cv = (slot: number) => {
      const x = this.num(p, slot);
      return typeof x === 'number' ? x : pointValue(p, x);
    };
    const offset = cv(op.ins[1]!);
    const shape = Array.from({ length: rank }, (_, d) => cv(op.ins[2 + d]!));
    const strides = Array.from({ length: rank }, (_, d) => cv(op.ins[2 + rank + d]!));
    const what = `${this.location(p)}: tensor`;
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new TesseraError('InvalidValue', `${what}: shape [${shape.join(', ')}] must hold integers ≥ 0.`);
    }
    if (!Number.isInteger(offset) || offset < 0)
      throw new TesseraError('InvalidValue', `${what}: offset ${offset} must be an integer ≥ 0.`);
    if (strides.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new TesseraError('InvalidValue', `${what}: strides [${strides.join(', ')}] must be ${rank} integers ≥ 0.`);
    }
    let last = offset;
    for (let d = 0; d < rank; d++) last += (shape[d]! - 1) * strides[d]!;
    throw new TesseraError(
      'IllegalAddress',
      `${what}: a [${shape.join(', ')}] view with strides [${strides.join(', ')}] at offset ${offset} reaches element ${last}, past the end of ${buf.describe()}.`,
      {
        hint: 'Check the shape and strides against the buffer you allocated; then call device.reset().',
        device: this.launch.ownerLabel,
      },
    );
  }

  /** mem.load_block / mem.store_block: bytes of the in-bounds part of the block. */
  private block(p: Piece, op: POp): void {
    const rank = op.x.rank as number;
    const block = op.x.block as readonly number[];
    const atBase = 2 + 2 * rank;
    let count: number | Sym = 1;
    for (let d = 0; d < rank; d++) {
      const at = this.num(p, op.ins[atBase + d]!);
      const S = this.num(p, op.ins[2 + d]!);
      if (typeof at === 'number' ? !Number.isInteger(at) : !intValued(p, at)) {
        if (at instanceof Sym) throw needPoints(p, at.mask);
        const name = op.code === C.LoadBlock ? 'loadBlock' : 'storeBlock';
        this.fault(
          p,
          op,
          () => new TesseraError('InvalidValue', `${this.location(p)}: ${name}: offset ${at} is not an integer.`),
        );
        return;
      }
      const lo = compareS(p, '>=', at, 0) ? at : 0;
      const end = addS(p, at, block[d]!, 1);
      const hi = compareS(p, '<=', end, S) ? end : S;
      const f = addS(p, hi, lo, -1);
      const fc = compareS(p, '>', f, 0) ? f : 0;
      count = mulS(p, count, fc);
      if (count === 0) break;
    }
    const n = this.constant(p, count);
    const c = p.wcost();
    c[MEMORY_OPS]! += 1;
    if (op.code === C.LoadBlock) {
      c[BYTES_READ]! += n * op.elemBytes;
      this.touch(p, op.buf, 1);
      const b = op.bytes;
      if (b > p.fx.res[0]! || b > p.fx.res[1]!) {
        const r = p.wfx().res;
        if (b > r[0]!) r[0] = b;
        if (b > r[1]!) r[1] = b;
      }
      p.slots[op.outs[0]!] = this.plan.need[op.outs[0]!] ? unknownTile(op.dtype, op.shape, false) : PLAIN;
    } else {
      c[BYTES_WRITTEN]! += n * op.elemBytes;
      this.touch(p, op.buf, 2);
      this.noteStored(p, op);
    }
  }

  /** A value the cost needs as one number over the piece (cuts where it changes). */
  private constant(p: Piece, x: number | Sym): number {
    if (typeof x === 'number') return x;
    const R = new Float64Array(2);
    numRange(p, x, R);
    if (R[0] === R[1]) return R[0]! / x.d;
    geNum(p, x, R[0]! + 1);
    throw new Error('cost analysis: constant range inconsistent');
  }

  // ------------------------------------------------------------------------------------------------ faults

  location(p: Piece): string {
    if (this.launch.style === 'simt') {
      return `kernel '${this.launch.kernelName}' block (${p.lo[0]}, ${p.lo[1]}, ${p.lo[2]}) thread (${p.lo[3]}, ${p.lo[4]}, ${p.lo[5]})`;
    }
    return `kernel '${this.launch.kernelName}' program (${p.lo[0]}, ${p.lo[1]}, ${p.lo[2]})`;
  }

  // ------------------------------------------------------------------------------------------------ SIMT

  /** An element index as the SIMT executor checks it: integer and inside [0, length); null if fine. */
  private indexFault(p: Piece, idx: unknown, length: number): boolean {
    if (idx === DATA) return false; // cannot be checked: the functional run checks it
    if (typeof idx === 'number') return !Number.isInteger(idx) || idx < 0 || idx >= length;
    if (typeof idx === 'boolean') return false;
    const s = idx as Sym;
    if (!intValued(p, s)) throw needPoints(p, s.mask);
    return !(compareS(p, '>=', s, 0) && compareS(p, '<', s, length));
  }

  private simtAccess(p: Piece, op: POp): void {
    const buf = this.get(p, op.ins[0]!) as BufferArg;
    const idx = this.get(p, op.ins[1]!);
    const name =
      op.code === C.SimtLoad
        ? 'read'
        : op.code === C.SimtStore
          ? 'write'
          : `atomic${(op.x.kind as string) === 'cas' ? 'CAS' : `${(op.x.kind as string)[0]!.toUpperCase()}${(op.x.kind as string).slice(1)}`}`;
    if (this.indexFault(p, idx, buf.length)) {
      this.fault(p, op, () => {
        const index = idx instanceof Sym ? pointValue(p, idx) : (idx as number);
        return new TesseraError(
          'IllegalAddress',
          `${this.location(p)}: ${name} of ${buf.describe()} at index ${index} is out of bounds (valid 0..${buf.length - 1}).`,
          {
            hint: 'Guard the access (if (i < n)) or fix the index math. The device is now in an error state, as after a CUDA illegal-address fault: call device.reset().',
            device: this.launch.ownerLabel,
            kernel: this.launch.kernelName,
            index,
          },
        );
      });
      return;
    }
    const c = p.wcost();
    c[MEMORY_OPS]! += 1;
    if (op.code === C.SimtLoad) {
      c[BYTES_READ]! += op.elemBytes;
      this.touch(p, op.buf, 1);
      p.slots[op.outs[0]!] = DATA;
    } else if (op.code === C.SimtStore) {
      c[BYTES_WRITTEN]! += op.elemBytes;
      this.touch(p, op.buf, 2);
    } else {
      c[BYTES_READ]! += op.elemBytes;
      c[BYTES_WRITTEN]! += op.elemBytes;
      c[ATOMIC]! += 1;
      this.touch(p, op.buf, 3);
      p.slots[op.outs[0]!] = DATA;
    }
  }

  private sharedAccess(p: Piece, op: POp): void {
    const sh = this.get(p, op.ins[0]!) as SharedInfo;
    const idx = this.get(p, op.ins[1]!);
    if (this.indexFault(p, idx, sh.length)) {
      const kind = op.op.attrs.kind as string | undefined;
      const what =
        op.code === C.SimtSharedLoad
          ? 'read'
          : op.code === C.SimtSharedStore
            ? 'write'
            : `atomic${kind === 'cas' ? 'CAS' : `${kind![0]!.toUpperCase()}${kind!.slice(1)}`}`;
      this.fault(p, op, () => {
        const index = idx instanceof Sym ? pointValue(p, idx) : (idx as number);
        return new TesseraError(
          'IllegalAddress',
          `${this.location(p)}: ${what} of shared array '${sh.name}' (${sh.dtype}[${sh.length}]) at index ${String(index)} is out of bounds ` +
            `(valid 0..${sh.length - 1}).`,
          {
            hint:
              'Size the shared array for every index the block uses, or guard the access. The device is now in an error ' +
              'state, as after a CUDA illegal-address fault: call device.reset().',
            device: this.launch.ownerLabel,
            kernel: this.launch.kernelName,
            array: sh.name,
            index,
            length: sh.length,
          },
        );
      });
      return;
    }
    if (op.code === C.SimtSharedLoad || op.code === C.SimtSharedAtomic) p.slots[op.outs[0]!] = DATA;
  }

  /**
   * A SIMT launch: pieces are boxes of blocks; a block's cost is the sum over its threads, which are three more
   * variables summed like a summarised loop (a cut on a block axis inside comes back here and cuts the block box).
   */
  runBlocks(p: Piece, out: Piece[]): void {
    // A worklist, not recursion: a launch cut into thousands of block pieces must not run out of stack.
    const work = [p];
    while (work.length) {
      const q = work.pop()!;
      try {
        this.blockOnce(q);
      } catch (e) {
        if (!isLocalSplit(e, q)) throw e;
        const parts = this.fork(q, e);
        for (let i = parts.length - 1; i >= 0; i--) work.push(parts[i]!);
        continue;
      }
      if (q.fault) this.faulted.push(q);
      else out.push(q);
    }
  }

  private blockOnce(p: Piece): void {
    const sub = p.clone();
    sub.nv = 6;
    sub.frozen = 3;
    const block = this.launch.block;
    for (let v = 0; v < 3; v++) {
      sub.lo[3 + v] = 0;
      sub.st[3 + v] = 1;
      sub.n[3 + v] = block[v]!;
    }
    sub.zeroCost();
    const results: Piece[] = [];
    const saved = this.faulted;
    this.faulted = [];
    let faulted: Piece[];
    try {
      this.runOps(this.plan.body, 0, sub, results);
    } finally {
      faulted = this.faulted;
      this.faulted = saved;
    }
    if (faulted.length) {
      p.fault = faulted[0]!.fault;
      p.threadFaults = faulted;
      return;
    }
    for (const r of results) {
      const count = r.n[3]! * r.n[4]! * r.n[5]!;
      const pc = p.wcost();
      for (let i = 0; i < COST_LEN; i++) if (r.cost[i]) pc[i]! += r.cost[i]! * count;
      mergeEffects(p, r);
    }
  }

  private fault(p: Piece, op: POp, make: () => TesseraError): void {
    if (this.pointMode) throw make();
    p.fault = op;
  }

  private trapError(p: Piece, op: POp): TesseraError {
    const message = String(op.x.message ?? '');
    const name = (op.x.name as string | undefined) ?? 'Error';
    const cause = errorOfName(name, message);
    return new TesseraError('LaunchFailure', `${this.location(p)} threw ${name}: ${message}.`, {
      hint:
        'Fix the kernel body. The device is now in an error state, as after a CUDA kernel fault: every call on it ' +
        'fails until device.reset(), which releases its memory (what the launch wrote is undefined).',
      device: this.launch.ownerLabel,
      kernel: this.launch.kernelName,
      program: [p.lo[0], p.lo[1], p.lo[2]],
      cause,
    });
  }

  // ------------------------------------------------------------------------------------------------ control flow

  private ifOp(p: Piece, op: POp): Piece[] {
    const c = this.truthy(p, this.get(p, op.ins[0]!));
    if (c === DATA) return this.dataIf(p, op);
    const region = op.regions[c ? 0 : 1]!;
    const out: Piece[] = [];
    this.runOps(region, 0, p, out);
    for (const q of out) this.assign(q, op.outs, region.term, 0);
    return out;
  }

  /**
   * A branch on loaded data (SIMT): both sides are evaluated and each counter takes the larger of the two — an upper
   * bound, reported as such; results that differ become unknown.
   */
  private dataIf(p: Piece, op: POp): Piece[] {
    const sides: (Piece | null)[] = [];
    for (const region of op.regions) {
      const q = p.clone();
      const res: Piece[] = [];
      const saved = this.faulted;
      this.faulted = [];
      let faulted: Piece[];
      try {
        this.runOps(region, 0, q, res);
      } finally {
        faulted = this.faulted;
        this.faulted = saved;
      }
      if (res.length > 1) throw new Error('cost analysis: a branch on loaded data whose sides cut the piece');
      sides.push(faulted.length || res.length === 0 ? null : res[0]!);
    }
    const [a, b] = sides;
    if (!a && !b) {
      // Both sides fault: so does the program (whatever the data).
      p.fault = op;
      this.faulted.push(p);
      return [];
    }
    const r = a ?? b!;
    if (a && b) {
      const rc = r.wcost();
      for (let i = 0; i < COST_LEN; i++) if (b.cost[i]! > rc[i]!) rc[i] = b.cost[i]!;
      mergeEffects(r, b);
      r.barriers = Math.max(a.barriers, b.barriers);
      const [ra, rb] = op.regions as [PRegion, PRegion];
      for (let i = 0; i < op.outs.length; i++) {
        const x = a.slots[ra.term[i]!];
        const y = b.slots[rb.term[i]!];
        r.slots[op.outs[i]!] = sameValue(x, y) ? x : joinUnknown(x, y);
      }
    } else {
      const region = op.regions[a ? 0 : 1]!;
      this.assign(r, op.outs, region.term, 0);
    }
    this.bound(r, op);
    return [r];
  }

  /** dst[i] = src[from + i] (parallel assignment through a temporary). */
  private assign(p: Piece, dst: readonly number[], src: readonly number[], from: number): void {
    const n = dst.length;
    if (n === 0) return;
    if (n === 1) {
      p.slots[dst[0]!] = p.slots[src[from]!];
      return;
    }
    const tmp = new Array<unknown>(n);
    for (let i = 0; i < n; i++) tmp[i] = p.slots[src[from + i]!];
    for (let i = 0; i < n; i++) p.slots[dst[i]!] = tmp[i];
  }

  private whileLoop(p: Piece, op: POp): Piece[] {
    const [before, after] = op.regions as [PRegion, PRegion];
    this.stats.iterated++;
    if (op.x.scalarLocals && !this.pointMode) return this.scalarWhile(p, op);
    const out: Piece[] = [];
    // Inits → before args.
    const tmp = op.ins.map((s) => p.slots[s]);
    for (let i = 0; i < before.args.length; i++) p.slots[before.args[i]!] = tmp[i];
    let work: Piece[] = [p];
    let iterations = 0;
    while (work.length) {
      const next: Piece[] = [];
      for (const q of work) {
        const tested: Piece[] = [];
        this.runOps(before, 0, q, tested);
        for (const r of tested) {
          const c = this.truthy(r, this.get(r, before.term[0]!));
          if (c === DATA) throw new Error('cost analysis: a loop condition on loaded data');
          if (!c) {
            this.assign(r, op.outs, before.term, 1);
            out.push(r);
            continue;
          }
          this.assign(r, after.args, before.term, 1);
          const ran: Piece[] = [];
          this.runOps(after, 0, r, ran);
          for (const s of ran) {
            this.assign(s, before.args, after.term, 0);
            next.push(s);
          }
        }
      }
      if (++iterations > MAX_ITERATIONS) throw new Error('cost analysis: a while loop does not terminate');
      work = next;
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------ scalar loops

  /**
   * A while loop of scalar ops only (a scan over host arrays, say): it runs on light pieces holding just the loop's
   * own values, cut as usual where a decision differs; the pieces that leave the loop are merged (affine in the cut
   * variable) before they become full pieces again. Same semantics as the general path, a fraction of the work.
   */
  private scalarWhile(p: Piece, op: POp): Piece[] {
    const [before, after] = op.regions as [PRegion, PRegion];
    const locals = op.x.scalarLocals as Int32Array;
    const nl = op.x.scalarCount as number;
    const [codeB, codeA] = op.x.scalarCode as [LiteStep[], LiteStep[]];
    const nv = p.nv;
    const start = new LitePiece(p.lo.slice(), p.st.slice(), p.n.slice(), nv, p.frozen, new Array<unknown>(nl));
    for (let i = 0; i < before.args.length; i++) start.local[locals[before.args[i]!]!] = p.slots[op.ins[i]!];
    const work: LitePiece[] = [start];
    const exits: LitePiece[] = [];
    const carried = before.args.length;
    let steps = 0;
    while (work.length) {
      const q = work.pop()!;
      // Runs q from (phase, pc) until it leaves the loop or is cut.
      for (;;) {
        const code = q.phase === 0 ? codeB : codeA;
        try {
          while (q.pc < code.length) {
            const st = code[q.pc]!;
            if (st.kind === 0) this.liteOp(st.op!, q, p, locals);
            else if (st.kind === 1) {
              const c = this.truthy(q, this.liteGet(q, p, locals, st.cond));
              if (c === DATA) throw new Error('cost analysis: a branch on loaded data in a scalar loop');
              if (!c) {
                q.pc = st.target;
                continue;
              }
            } else if (st.kind === 2) {
              q.pc = st.target;
              continue;
            } else {
              const n = st.dst.length;
              if (n === 1) q.local[locals[st.dst[0]!]!] = this.liteGet(q, p, locals, st.src[0]!);
              else {
                const tmp = new Array<unknown>(n);
                for (let k = 0; k < n; k++) tmp[k] = this.liteGet(q, p, locals, st.src[k]!);
                for (let k = 0; k < n; k++) q.local[locals[st.dst[k]!]!] = tmp[k];
              }
            }
            q.pc++;
            if (++steps > MAX_ITERATIONS) throw new Error('cost analysis: a while loop does not terminate');
          }
          const tmp = new Array<unknown>(carried);
          if (q.phase === 0) {
            const c = this.truthy(q, this.liteGet(q, p, locals, before.term[0]!));
            if (c === DATA) throw new Error('cost analysis: a loop condition on loaded data');
            for (let i = 0; i < carried; i++) tmp[i] = this.liteGet(q, p, locals, before.term[1 + i]!);
            if (!c) {
              q.result = tmp;
              exits.push(q);
              break;
            }
            for (let i = 0; i < carried; i++) q.local[locals[after.args[i]!]!] = tmp[i];
            q.phase = 1;
          } else {
            for (let i = 0; i < carried; i++) tmp[i] = this.liteGet(q, p, locals, after.term[i]!);
            for (let i = 0; i < carried; i++) q.local[locals[before.args[i]!]!] = tmp[i];
            q.phase = 0;
          }
          q.pc = 0;
        } catch (e) {
          if (!isLocalSplit(e, q)) throw e;
          // Each part continues from the step that cut it (which wrote nothing yet).
          this.stats.splits++;
          for (let k = 3; k < e.parts.length; k += 3) {
            const r = q.copy();
            r.lo[e.v] = e.parts[k]!;
            r.st[e.v] = e.parts[k + 1]!;
            r.n[e.v] = e.parts[k + 2]!;
            work.push(r);
          }
          q.lo[e.v] = e.parts[0]!;
          q.st[e.v] = e.parts[1]!;
          q.n[e.v] = e.parts[2]!;
        }
      }
    }
    // Merge the exits (the same result up to an affine function of the cut variable), then rebuild full pieces.
    exits.sort((a, b) => {
      for (let k = nv - 1; k >= 0; k--) if (a.lo[k] !== b.lo[k]) return a.lo[k]! - b.lo[k]!;
      return 0;
    });
    const merged: LitePiece[] = [];
    for (const q of exits) {
      const last = merged[merged.length - 1];
      if (last && liteMerge(last, q)) {
        this.stats.merged++;
        continue;
      }
      merged.push(q);
    }
    const out: Piece[] = [];
    for (let k = 0; k < merged.length; k++) {
      const q = merged[k]!;
      const r = k === merged.length - 1 ? p : p.clone();
      for (let v = 0; v < nv; v++) {
        r.lo[v] = q.lo[v]!;
        r.st[v] = q.st[v]!;
        r.n[v] = q.n[v]!;
      }
      for (let i = 0; i < op.outs.length; i++) r.slots[op.outs[i]!] = q.result![i];
      out.push(r);
    }
    return out;
  }

  private liteGet(q: LitePiece, p: Piece, locals: Int32Array, slot: number): unknown {
    const li = locals[slot]!;
    const v = li >= 0 ? q.local[li] : p.slots[slot];
    if (v instanceof Sym && isPoint(q, v)) return pointValue(q, v);
    return v;
  }

  private liteOp(op: POp, q: LitePiece, p: Piece, locals: Int32Array): void {
    this.stats.ops++;
    const ins = op.ins;
    let v: unknown;
    switch (op.code) {
      case C.SBinary:
        v = this.sBinary(
          q,
          op.op.attrs.op as string,
          this.liteGet(q, p, locals, ins[0]!),
          this.liteGet(q, p, locals, ins[1]!),
        );
        break;
      case C.SUnary:
        v = this.sUnary(q, op.op.attrs.op as string, this.liteGet(q, p, locals, ins[0]!));
        break;
      case C.SSelect: {
        const c = this.truthy(q, this.liteGet(q, p, locals, ins[0]!));
        const a = this.liteGet(q, p, locals, ins[1]!);
        const b = this.liteGet(q, p, locals, ins[2]!);
        v = c === DATA ? (sameScalar(a, b) ? a : DATA) : c ? a : b;
        break;
      }
      case C.ProgId:
      case C.SimtBid:
      case C.SimtTid: {
        const x = (op.code === C.SimtTid ? 3 : 0) + (op.op.attrs.axis as number);
        v = q.n[x] === 1 ? q.lo[x]! : varSym(x);
        break;
      }
      case C.ProgNum:
      case C.SimtGdim:
        v = this.launch.grid[op.op.attrs.axis as number]!;
        break;
      case C.SimtBdim:
        v = this.launch.block[op.op.attrs.axis as number]!;
        break;
      case C.ArrGet:
        v = this.arrValue(
          q,
          this.liteGet(q, p, locals, ins[0]!) as readonly number[],
          this.liteGet(q, p, locals, ins[1]!),
        );
        break;
      case C.ArrLen:
        v = (this.liteGet(q, p, locals, ins[0]!) as readonly number[]).length;
        break;
      case C.BufLen:
        v = (this.liteGet(q, p, locals, ins[0]!) as BufferArg).length;
        break;
      default:
        throw new Error(`cost analysis: op '${op.op.opcode}' in a scalar loop`);
    }
    q.local[locals[op.outs[0]!]!] = v;
  }

  private forLoop(p: Piece, op: POp): Piece[] {
    const out: Piece[] = [];
    this.forStart(p, op, out);
    return out;
  }

  private forStart(p: Piece, op: POp, out: Piece[]): void {
    const body = op.regions[0]!;
    let lo: number | Sym;
    let hi: number | Sym;
    let step: number | Sym;
    let trip: number;
    try {
      lo = this.num(p, op.ins[0]!);
      hi = this.num(p, op.ins[1]!);
      step = this.num(p, op.ins[2]!);
      if (step instanceof Sym) throw needPoints(p, step.mask);
      if (!(step > 0)) {
        if (compareS(p, '<', lo, hi)) throw new Error(`cost analysis: a loop with step ${step} does not terminate`);
        trip = 0;
      } else if (this.pointMode && typeof lo === 'number' && typeof hi === 'number' && !Number.isInteger(step)) {
        trip = -1; // float stepping: iterate exactly as JS does
      } else {
        const t = ceilS(p, divS(p, addS(p, hi, lo, -1), step), true) as number;
        trip = t > 0 ? t : 0;
      }
    } catch (e) {
      if (!isLocalSplit(e, p)) throw e;
      for (const q of this.fork(p, e)) this.forStart(q, op, out);
      return;
    }
    // Carried values start as the inits.
    const n = op.outs.length;
    const tmp = new Array<unknown>(n);
    for (let i = 0; i < n; i++) tmp[i] = p.slots[op.ins[3 + i]!];
    for (let i = 0; i < n; i++) p.slots[body.args[1 + i]!] = tmp[i];
    if (trip === 0) {
      this.assign(p, op.outs, body.args, 1);
      out.push(p);
      return;
    }
    const info: ForInfo = { lo, hi, step, trip };
    if (this.pointMode || trip < 0 || trip <= SHORT_LOOP || !Number.isInteger(step)) {
      this.iterate(op, info, [{ p, k: 0 }], Number.POSITIVE_INFINITY, out);
      return;
    }
    // Peel the first iteration when state is carried (an accumulator starts as zeros, then holds a dot result).
    if (n > 0) this.iterate(op, info, [{ p, k: 0 }], 1, out);
    else this.summarise(op, info, p, 0, 0, out);
  }

  /**
   * Runs iterations one by one from each (piece, k). Pieces that reach iteration `stopAt` go on to be summarised;
   * pieces whose loop ends go to `out`.
   */
  private iterate(op: POp, info: ForInfo, start: { p: Piece; k: number }[], stopAt: number, out: Piece[]): void {
    const body = op.regions[0]!;
    this.stats.iterated++;
    let work = start;
    let total = 0;
    while (work.length) {
      const next: { p: Piece; k: number }[] = [];
      for (const { p, k } of work) {
        const iv = addS(p, info.lo, mulS(p, info.step, k), 1);
        let go: boolean;
        try {
          go = info.trip >= 0 ? k < info.trip : compareS(p, '<', iv, info.hi);
        } catch (e) {
          if (!isLocalSplit(e, p)) throw e;
          for (const q of this.fork(p, e)) next.push({ p: q, k });
          continue;
        }
        if (!go) {
          this.assign(p, op.outs, body.args, 1);
          out.push(p);
          continue;
        }
        if (k >= stopAt) {
          this.summarise(op, info, p, k, stopAt, out);
          continue;
        }
        p.slots[body.args[0]!] = iv;
        const ran: Piece[] = [];
        this.runOps(body, 0, p, ran);
        const carried = iterArgs(op);
        for (const r of ran) {
          // body.args[0] is the counter; the carried values are args[1..] ← term[0..].
          this.assign(r, carried, body.term, 0);
          next.push({ p: r, k: k + 1 });
        }
      }
      total++;
      if (total > MAX_ITERATIONS) throw new Error('cost analysis: a loop does not terminate');
      work = next;
    }
  }

  /** Tries to summarise iterations [k0, trip) of a for loop on piece p; falls back to iterating. */
  private summarise(op: POp, info: ForInfo, p: Piece, k0: number, peeled: number, out: Piece[]): void {
    let ok: boolean;
    try {
      ok = this.trySummary(op, info, p, k0);
    } catch (e) {
      if (!isLocalSplit(e, p)) throw e;
      for (const q of this.fork(p, e)) this.summarise(op, info, q, k0, peeled, out);
      return;
    }
    if (ok) {
      out.push(p);
      return;
    }
    // Not stationary yet: peel another iteration, or give up and iterate.
    if (peeled < MAX_PEEL && op.outs.length > 0) this.iterate(op, info, [{ p, k: k0 }], k0 + 1, out);
    else this.iterate(op, info, [{ p, k: k0 }], Number.POSITIVE_INFINITY, out);
  }

  private trySummary(op: POp, info: ForInfo, p: Piece, k0: number): boolean {
    const body = op.regions[0]!;
    const J = p.nv;
    if (J >= MAXV) return false;
    const sub = p.clone();
    sub.nv = J + 1;
    sub.frozen = J;
    sub.lo[J] = k0;
    sub.st[J] = 1;
    sub.n[J] = info.trip - k0;
    sub.zeroCost();
    sub.slots[body.args[0]!] = addS(sub, info.lo, mulS(sub, info.step, varSym(J)), 1);
    const results: Piece[] = [];
    const saved = this.faulted;
    this.faulted = [];
    let faulted: Piece[];
    try {
      this.runOps(body, 0, sub, results);
    } finally {
      faulted = this.faulted;
      this.faulted = saved;
    }
    if (faulted.length) return false;
    const n = op.outs.length;
    for (const r of results) {
      for (let i = 0; i < n; i++) if (!sameValue(r.slots[body.term[i]!], p.slots[body.args[1 + i]!])) return false;
    }
    this.stats.summarised++;
    for (const r of results) {
      const count = r.n[J]!;
      const pc = p.wcost();
      for (let i = 0; i < COST_LEN; i++) if (r.cost[i]) pc[i]! += r.cost[i]! * count;
      mergeEffects(p, r);
    }
    this.assign(p, op.outs, body.args, 1);
    return true;
  }
}

const FAIL = Symbol('fail');

/** The value that is x on piece a and y on piece b (b follows a along variable v with step st), or FAIL. */
function fitValue(a: Domains, b: Domains, v: number, st: number, x: unknown, y: unknown): unknown {
  if (sameValue(x, y)) return x;
  if (x instanceof LaneTile && y instanceof LaneTile) {
    if (
      !x.base ||
      !y.base ||
      x.fromDot !== y.fromDot ||
      x.dtype !== y.dtype ||
      x.size !== y.size ||
      !!x.unk !== !!y.unk
    )
      return FAIL;
    const s = fitScalar(a, b, v, st, x.s, y.s);
    if (s === FAIL) return FAIL;
    // Bases must agree once the offsets are apart: compare lanes with the offsets' difference folded in.
    for (let i = 0; i < x.base.length; i++) if (x.base[i] !== y.base[i]) return FAIL;
    if (x.unk) for (let i = 0; i < x.unk.length; i++) if (x.unk[i] !== y.unk![i]) return FAIL;
    return new LaneTile(x.dtype, x.shape, x.size, x.base, s as number | Sym, x.unk, x.fromDot);
  }
  if ((typeof x === 'number' || x instanceof Sym) && (typeof y === 'number' || y instanceof Sym))
    return fitScalar(a, b, v, st, x, y);
  return FAIL;
}

function fitScalar(a: Domains, b: Domains, v: number, st: number, x: number | Sym, y: number | Sym): unknown {
  if (sameScalar(x, y)) return x;
  // x's form extended over b, or y's over a.
  if (x instanceof Sym && agrees(b, x, y)) return x;
  if (y instanceof Sym && agrees(a, y, x)) return y;
  if (typeof x === 'number' && typeof y === 'number' && a.n[v] === 1 && b.n[v] === 1) {
    const slope = (y - x) / st;
    if (!Number.isInteger(slope) || !Number.isInteger(x)) return FAIL;
    const f = addS(a, x, mulS(a, slope, addS(a, varSym(v), a.lo[v]!, -1)), 1);
    return f;
  }
  return FAIL;
}

/** Whether the form f takes value g everywhere on piece p (g a number over p, or the same form). */
function agrees(p: Domains, f: Sym, g: number | Sym): boolean {
  if (typeof g === 'number') return isPoint(p, f) && pointValue(p, f) === g;
  return sameScalar(f, g);
}

/** The state of a scalar loop on a light piece: variable domains and the loop's own values. */
class LitePiece implements Domains {
  result: unknown[] | null = null;
  /** Where it is: phase 0 = the loop's test region, 1 = its body; pc = step in that region's code. */
  phase = 0;
  pc = 0;
  constructor(
    public lo: number[],
    public st: number[],
    public n: number[],
    public nv: number,
    public frozen: number,
    public local: unknown[],
  ) {}

  copy(): LitePiece {
    const c = new LitePiece(this.lo.slice(), this.st.slice(), this.n.slice(), this.nv, this.frozen, this.local.slice());
    c.phase = this.phase;
    c.pc = this.pc;
    return c;
  }
}

/** Merges b into a when b continues a along one variable and their results are one affine function. */
function liteMerge(a: LitePiece, b: LitePiece): boolean {
  let v = -1;
  for (let k = 0; k < a.nv; k++) {
    if (a.lo[k] === b.lo[k] && a.st[k] === b.st[k] && a.n[k] === b.n[k]) continue;
    if (v >= 0 || k < a.frozen) return false;
    v = k;
  }
  if (v < 0) return false;
  let st = a.st[v]!;
  if (a.n[v] === 1) st = b.lo[v]! - a.lo[v]!;
  else if (b.n[v]! > 1 && b.st[v] !== st) return false;
  if (!(st > 0) || b.lo[v] !== a.lo[v]! + st * a.n[v]!) return false;
  const ra = a.result!;
  const rb = b.result!;
  const fitted = new Array<unknown>(ra.length);
  for (let i = 0; i < ra.length; i++) {
    const f = fitValue(a, b, v, st, ra[i], rb[i]);
    if (f === FAIL) return false;
    fitted[i] = f;
  }
  a.n[v] = a.n[v]! + b.n[v]!;
  a.st[v] = st;
  a.result = fitted;
  return true;
}

/** A SIMT shared array: its name (for faults), dtype and length. */
export interface SharedInfo {
  name: string;
  dtype: string;
  length: number;
}

/** Two different values a data-dependent branch may produce: unknown (a tile keeps its dot-ness if both have it). */
function joinUnknown(x: unknown, y: unknown): unknown {
  if (x instanceof LaneTile || y instanceof LaneTile || x === PLAIN || x === DOTTED) {
    const fd = fromDot(x) && fromDot(y);
    if (x instanceof LaneTile) return unknownTile(x.dtype, x.shape, fd);
    if (y instanceof LaneTile) return unknownTile(y.dtype, y.shape, fd);
    return fd ? DOTTED : PLAIN;
  }
  return DATA;
}

function tileShape(t: Type): readonly number[] {
  return t.kind === 'tile' ? t.shape : [];
}

function tileDtype(t: Type): TileDType {
  return t.kind === 'tile' ? t.dtype : 'f32';
}

function iterArgs(op: POp): number[] {
  let a = op.x.iterArgs as number[] | undefined;
  if (!a) {
    a = op.regions[0]!.args.slice(1);
    op.x.iterArgs = a;
  }
  return a;
}

interface ForInfo {
  lo: number | Sym;
  hi: number | Sym;
  step: number;
  /** Trip count (uniform over the piece), or −1 to test the bound each iteration. */
  trip: number;
}

/** Side effects of a finished sub-piece merged into its parent: resources, buffers, dtypes, bounds. */
export function mergeEffects(p: Piece, r: Piece): void {
  if (p.fx === r.fx || p.fx.same(r.fx)) return;
  const f = p.wfx();
  const rf = r.fx;
  for (let i = 0; i < 4; i++) if (rf.res[i]! > f.res[i]!) f.res[i] = rf.res[i]!;
  if (rf.res[4]! && (!f.res[4] || rf.res[4]! < f.res[4]!)) f.res[4] = rf.res[4]!;
  for (const b of rf.order) {
    if (f.touch[b] === 0) f.order.push(b);
    f.touch[b]! |= rf.touch[b]!;
  }
  for (const d of rf.dtOrder) useDType(p, d);
  if (rf.bounds) for (const b of rf.bounds) if (!f.bounds?.includes(b)) (f.bounds ??= []).push(b);
}

function useDType(p: Piece, i: number): void {
  const bit = 1 << i;
  if (p.fx.dtypes & bit) return;
  const f = p.wfx();
  f.dtypes |= bit;
  f.dtOrder.push(i);
}

/** Abstract values equal (stationary loop state). */
export function sameValue(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (x instanceof LaneTile && y instanceof LaneTile) {
    if (x.fromDot !== y.fromDot || x.dtype !== y.dtype || x.size !== y.size) return false;
    if (!x.base || !y.base) return !x.base && !y.base;
    if (!sameScalar(x.s, y.s)) return false;
    for (let i = 0; i < x.base.length; i++)
      if (x.base[i] !== y.base[i] && !(Number.isNaN(x.base[i]) && Number.isNaN(y.base[i]))) return false;
    if (!!x.unk !== !!y.unk) return false;
    if (x.unk) for (let i = 0; i < x.unk.length; i++) if (x.unk[i] !== y.unk![i]) return false;
    return true;
  }
  return sameScalar(x, y);
}

// ---------------------------------------------------------------------------------------- host arrays

/** Maximal runs of a host array on which it is affine in the index. */
class Runs {
  start: number[] = [];
  end: number[] = [];
  slope: number[] = [];
  find(i: number): number {
    let lo = 0;
    let hi = this.start.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.start[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function affineRuns(arr: readonly number[]): Runs {
  const r = new Runs();
  let s = 0;
  while (s < arr.length) {
    let e = s;
    const slope = s + 1 < arr.length ? arr[s + 1]! - arr[s]! : 0;
    while (e + 1 < arr.length && arr[e + 1]! - arr[e]! === slope && Number.isFinite(slope)) e++;
    r.start.push(s);
    r.end.push(e);
    r.slope.push(e > s ? slope : 0);
    s = e + 1;
  }
  if (!r.start.length) {
    r.start.push(0);
    r.end.push(-1);
    r.slope.push(0);
  }
  return r;
}

export { castScalar, DATA, DOTTED, PLAIN };
