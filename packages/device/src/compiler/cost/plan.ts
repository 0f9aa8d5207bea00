/**
 * A kernel IR compiled once into what the cost analysis evaluates: values numbered into slots, ops into a compact
 * list with their static facts precomputed (tile sizes, bytes, the cost each op adds, the resources it notes), and
 * a static dataflow that marks the tiles whose lanes the analysis must know (masks and offsets of gathers, scatters
 * and atomics, and what they are computed from, through loop-carried values and branches).
 */
import { type DType, dtypeBytes, isFloat, isFp8, type TileDType } from '../../dtype/dtype';
import { COST_DTYPE_INDEX, type CostDType } from '../../kernel/cost';
import { BINARY_OPS, type BinaryOp, UNARY_OPS, type UnaryOp } from '../../kernel/elementwise';
import type { KernelIR, Op, Region, Type, Value } from '../ir';
import { MATH_UNARY } from '../scalar-math';

export enum C {
  SBinary,
  SUnary,
  SSelect,
  ProgId,
  ProgNum,
  ArrGet,
  ArrLen,
  BufLen,
  Trap,
  Arange,
  Full,
  Binary,
  Unary,
  Where,
  Cast,
  Reshape,
  Broadcast,
  Permute,
  Reduce,
  Cumsum,
  Sort,
  Dot,
  Load,
  Store,
  Atomic,
  View,
  LoadBlock,
  StoreBlock,
  For,
  While,
  If,
  Const,
  SimtTid,
  SimtBid,
  SimtBdim,
  SimtGdim,
  SimtLoad,
  SimtStore,
  SimtAtomic,
  SimtSharedLoad,
  SimtSharedStore,
  SimtFlops,
  SimtBarrier,
  SimtDynShared,
  SimtSharedView,
  SimtSharedFill,
  SimtWarp,
  SimtSharedAtomic,
  SimtExit,
  /** A SIMT op without a cost rule of its own: no counters, unknown results. */
  SimtOther,
  Unsupported,
}

export interface PRegion {
  args: number[];
  ops: POp[];
  /** Slots the terminator (scf.yield / scf.condition) passes on. */
  term: number[];
}

export interface POp {
  code: C;
  /** Position in program order (for bounds reports and buffer order). */
  id: number;
  op: Op;
  ins: number[];
  outs: number[];
  regions: PRegion[];
  /** Result tile facts (tile ops): dtype, shape, elements, bytes. */
  dtype: TileDType;
  shape: readonly number[];
  size: number;
  bytes: number;
  /** Vector-op dtype index and count, special ops (elementwise and reductions). */
  vecIdx: number;
  vecN: number;
  special: number;
  /** noteVector inputs: slot of each tile input (−1 for a scalar turned into a 0-d tile), and its bytes. */
  noteSlots: number[];
  noteBytes: number[];
  /** Whether the op notes its output at all. */
  notes: boolean;
  /** Buffer ops: the buffer param's index among buffer params, its element bytes, dtype index. */
  buf: number;
  elemBytes: number;
  dtIdx: number;
  /** Free-form static data per opcode. */
  x: Record<string, unknown>;
}

export interface Plan {
  ir: KernelIR;
  nslots: number;
  body: PRegion;
  /** Constant slots and their values. */
  consts: [number, number | boolean][];
  /** SIMT: static shared arrays (slot, name, dtype, length). */
  shared: { slot: number; name: string; dtype: string; length: number }[];
  /** Param name → slot (runtime params only). */
  params: { name: string; spec: string; slot: number; kind: 'buffer' | 'array' | 'scalar'; bufIndex: number }[];
  /** Buffer params in declaration order. */
  bufParams: string[];
  /** Tiles whose lanes must be known. */
  need: Uint8Array;
  ops: POp[];
  /** Deepest nesting of loops (bounds the variables a piece needs). */
  loopDepth: number;
  hasUnsupported: string | null;
}

const OPCODES: Record<string, C> = {
  's.binary': C.SBinary,
  's.unary': C.SUnary,
  's.select': C.SSelect,
  'prog.id': C.ProgId,
  'prog.num': C.ProgNum,
  'arr.get': C.ArrGet,
  'arr.len': C.ArrLen,
  'buf.len': C.BufLen,
  trap: C.Trap,
  'tile.arange': C.Arange,
  'tile.full': C.Full,
  'tile.binary': C.Binary,
  'tile.unary': C.Unary,
  'tile.where': C.Where,
  'tile.cast': C.Cast,
  'tile.reshape': C.Reshape,
  'tile.broadcast': C.Broadcast,
  'tile.permute': C.Permute,
  'tile.reduce': C.Reduce,
  'tile.cumsum': C.Cumsum,
  'tile.sort': C.Sort,
  'tile.dot': C.Dot,
  'mem.load': C.Load,
  'mem.store': C.Store,
  'mem.atomic': C.Atomic,
  'mem.view': C.View,
  'mem.load_block': C.LoadBlock,
  'mem.store_block': C.StoreBlock,
  'scf.for': C.For,
  'scf.while': C.While,
  'scf.if': C.If,
  const: C.Const,
  'simt.tid': C.SimtTid,
  'simt.bid': C.SimtBid,
  'simt.bdim': C.SimtBdim,
  'simt.gdim': C.SimtGdim,
  'simt.load': C.SimtLoad,
  'simt.store': C.SimtStore,
  'simt.atomic': C.SimtAtomic,
  'simt.shared_load': C.SimtSharedLoad,
  'simt.shared_store': C.SimtSharedStore,
  'simt.flops': C.SimtFlops,
  'simt.barrier': C.SimtBarrier,
  'simt.dynamic_shared': C.SimtDynShared,
  'simt.shared_view': C.SimtSharedView,
  'simt.shared_fill': C.SimtSharedFill,
  'simt.shfl': C.SimtWarp,
  'simt.vote': C.SimtWarp,
  'simt.redux': C.SimtWarp,
  'simt.syncwarp': C.SimtWarp,
  'simt.shared_atomic': C.SimtSharedAtomic,
  'simt.exit': C.SimtExit,
};

function tileOf(t: Type): { dtype: TileDType; shape: readonly number[] } | null {
  return t.kind === 'tile' ? t : null;
}

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

function shapeOfOperand(v: Value): readonly number[] {
  const t = tileOf(v.type);
  return t ? t.shape : [];
}

export function compilePlan(ir: KernelIR): Plan {
  const slotOf = new Map<Value, number>();
  let nslots = 0;
  const slot = (v: Value): number => {
    let s = slotOf.get(v);
    if (s === undefined) {
      s = nslots++;
      slotOf.set(v, s);
    }
    return s;
  };
  const bufParams: string[] = [];
  const params: Plan['params'] = [];
  const bufIndexOf = new Map<Value, number>();
  for (const p of ir.params) {
    if (!p.value) continue;
    const k = p.value.type.kind;
    const kind = k === 'buffer' ? 'buffer' : k === 'array' ? 'array' : 'scalar';
    let bi = -1;
    if (kind === 'buffer') {
      bi = bufParams.length;
      bufParams.push(p.name);
      bufIndexOf.set(p.value, bi);
    }
    params.push({ name: p.name, spec: p.spec, slot: slot(p.value), kind, bufIndex: bi });
  }
  const consts: [number, number | boolean][] = [];
  const shared = ir.shared.map((sh) => {
    const t = sh.value.type as { dtype: string; length: number };
    return { slot: slot(sh.value), name: sh.name, dtype: t.dtype, length: t.length };
  });
  const ops: POp[] = [];
  let hasUnsupported: string | null = null;
  let loopDepth = 0;

  // `scope`: slots of the values visible at the region's start (besides params and constants, which never differ
  // between pieces): what must agree for two pieces to merge after a control-flow op.
  const build = (r: Region, depth: number, scope: number[]): PRegion => {
    const pr: PRegion = { args: r.args.map(slot), ops: [], term: [] };
    const local = [...scope, ...pr.args];
    for (const op of r.ops) {
      if (op.opcode === 'scf.yield' || op.opcode === 'scf.condition') {
        pr.term = op.operands.map(slot);
        continue;
      }
      const code = OPCODES[op.opcode] ?? (op.opcode.startsWith('simt.') ? C.SimtOther : C.Unsupported);
      if (code === C.Const) {
        consts.push([slot(op.result), op.attrs.value as number | boolean]);
        continue;
      }
      if (code === C.Unsupported) hasUnsupported ??= op.opcode;
      const isLoop = code === C.For || code === C.While;
      if (isLoop) loopDepth = Math.max(loopDepth, depth + 1);
      const p = makeOp(op, code, slot, bufIndexOf, ir.style === 'simt');
      p.id = ops.length;
      ops.push(p);
      p.regions = op.regions.map((reg) => build(reg, isLoop ? depth + 1 : depth, local));
      pr.ops.push(p);
      for (const o of p.outs) local.push(o);
      if (op.regions.length) p.x.visible = Int32Array.from(local);
    }
    return pr;
  };
  const body = build(ir.body, 0, []);
  checkDefined(ir, slotOf);
  const plan: Plan = {
    ir,
    nslots,
    body,
    consts,
    shared,
    params,
    bufParams,
    need: new Uint8Array(nslots),
    ops,
    loopDepth,
    hasUnsupported,
  };
  markNeeded(plan);
  markScalarLoops(plan);
  if (ir.style === 'simt') markFreeIssue(plan);
  return plan;
}

const INDEX_USERS = new Set([
  C.SimtLoad,
  C.SimtStore,
  C.SimtAtomic,
  C.SimtSharedLoad,
  C.SimtSharedStore,
  C.SimtSharedAtomic,
]);

/**
 * SIMT ops that take no issue slot of their own in the warp analysis (`x.free`), as a CUDA compiler would emit them:
 * `Math.fround` and unary `+` (f32 rounding is what `float` arithmetic does anyway); an integer `± constant` used
 * only as memory indices (folded into the load's or store's immediate offset); a float multiply whose one use is a
 * float add or subtract, looking through `fround` (contracted into one FFMA, nvcc's default `-fmad=true`). FLOPs
 * are unaffected: an FMA is still two.
 */
function markFreeIssue(plan: Plan): void {
  const uses = new Map<number, { op: POp; k: number }[]>();
  const terms = new Set<number>();
  const walk = (r: PRegion): void => {
    for (const t of r.term) terms.add(t);
    for (const op of r.ops) {
      op.ins.forEach((s, k) => {
        let u = uses.get(s);
        if (!u) uses.set(s, (u = []));
        u.push({ op, k });
      });
      for (const reg of op.regions) walk(reg);
    }
  };
  walk(plan.body);
  const isConst = new Set(plan.consts.map(([s]) => s));
  const passThrough = (op: POp) => op.code === C.SUnary && (op.op.attrs.op === 'fround' || op.op.attrs.op === '+');
  /** The single use of `slot`, looking through fround; null if there are several, none, or a yield. */
  const soleUse = (slot: number): { op: POp; k: number } | null => {
    for (;;) {
      const u = uses.get(slot);
      if (u?.length !== 1 || terms.has(slot)) return null;
      if (!passThrough(u[0]!.op)) return u[0]!;
      slot = u[0]!.op.outs[0]!;
    }
  };
  for (const op of plan.ops) {
    const o = op.op;
    if (passThrough(op)) op.x.free = true;
    if (op.code !== C.SBinary) continue;
    const t = o.results[0]!.type;
    const a = o.attrs.op;
    if ((a === '+' || a === '-') && t.kind === 'scalar' && t.s === 'int' && op.ins.some((s) => isConst.has(s))) {
      const u = uses.get(op.outs[0]!) ?? [];
      if (
        u.length > 0 &&
        !terms.has(op.outs[0]!) &&
        u.every(({ op: user, k }) => INDEX_USERS.has(user.code) && k === 1)
      )
        op.x.free = true;
    }
    if (a === '*' && isFloatScalar(t)) {
      const u = soleUse(op.outs[0]!);
      if (
        u &&
        u.op.code === C.SBinary &&
        (u.op.op.attrs.op === '+' || u.op.op.attrs.op === '-') &&
        isFloatScalar(u.op.op.results[0]!.type)
      )
        op.x.free = true;
    }
  }
}

const SCALAR_OPS = new Set([
  C.SBinary,
  C.SUnary,
  C.SSelect,
  C.ProgId,
  C.ProgNum,
  C.ArrGet,
  C.ArrLen,
  C.BufLen,
  C.SimtTid,
  C.SimtBid,
  C.SimtBdim,
  C.SimtGdim,
]);

/** One step of a scalar loop flattened to straight-line code: an op, a conditional jump, a jump, or a move. */
export interface LiteStep {
  kind: 0 | 1 | 2 | 3;
  op: POp | null;
  /** kind 1: slot of the condition; jump to `target` when it is false. kind 2: jump to `target`. */
  cond: number;
  target: number;
  /** kind 3: dst[i] ← src[i]. */
  dst: readonly number[];
  src: readonly number[];
}

function flatten(r: PRegion, code: LiteStep[]): void {
  for (const op of r.ops) {
    if (op.code !== C.If) {
      code.push({ kind: 0, op, cond: -1, target: -1, dst: [], src: [] });
      continue;
    }
    const [a, b] = op.regions as [PRegion, PRegion];
    const jf: LiteStep = { kind: 1, op, cond: op.ins[0]!, target: -1, dst: [], src: [] };
    code.push(jf);
    flatten(a, code);
    code.push({ kind: 3, op: null, cond: -1, target: -1, dst: op.outs, src: a.term });
    const jmp: LiteStep = { kind: 2, op: null, cond: -1, target: -1, dst: [], src: [] };
    code.push(jmp);
    jf.target = code.length;
    flatten(b, code);
    code.push({ kind: 3, op: null, cond: -1, target: -1, dst: op.outs, src: b.term });
    jmp.target = code.length;
  }
}

/**
 * While loops made of scalar ops only (and branches of them) get a numbering of the values they define and
 * straight-line code for their two regions, for the evaluator's light path (`scalarLocals`: slot → local index or −1).
 */
function markScalarLoops(plan: Plan): void {
  for (const op of plan.ops) {
    if (op.code !== C.While) continue;
    const slots: number[] = [];
    let pure = true;
    const visit = (r: PRegion): void => {
      slots.push(...r.args);
      for (const o of r.ops) {
        if (o.code === C.If) {
          for (const reg of o.regions) visit(reg);
        } else if (!SCALAR_OPS.has(o.code) || o.vecN) pure = false;
        slots.push(...o.outs);
      }
    };
    for (const reg of op.regions) visit(reg);
    if (!pure) continue;
    const locals = new Int32Array(plan.nslots).fill(-1);
    let n = 0;
    for (const s of slots) if (locals[s] === -1) locals[s] = n++;
    op.x.scalarLocals = locals;
    op.x.scalarCount = n;
    const before: LiteStep[] = [];
    const after: LiteStep[] = [];
    flatten(op.regions[0]!, before);
    flatten(op.regions[1]!, after);
    op.x.scalarCode = [before, after];
  }
}

/**
 * SIMT arithmetic the cost counts as FLOPs (f32 vector ops, as CUDA's `float`): binary ops with a float operand and
 * a float result, and the float math functions; those marked 1 also go to the special-function units (as the tile
 * language counts division and transcendentals). Negation, `abs`, `Math.fround` (rounding to f32, free on a GPU),
 * rounding to integers, comparisons and selects are not FLOPs; integer arithmetic is issue slots, not FLOPs.
 */
const SIMT_FLOP_BINARY: Readonly<Record<string, 0 | 1>> = {
  '+': 0,
  '-': 0,
  '*': 0,
  '/': 1,
  '%': 1,
  '**': 1,
  min: 0,
  max: 0,
  atan2: 1,
  hypot: 1,
};
/** The math functions that are not arithmetic: sign and magnitude, rounding (to integers, or f32's `fround`). */
const NOT_FLOPS = new Set(['floor', 'ceil', 'round', 'trunc', 'sign', 'abs', 'fround']);
const SIMT_FLOP_UNARY: ReadonlySet<string> = new Set(MATH_UNARY.filter((n) => !NOT_FLOPS.has(n)));

const isFloatScalar = (t: Type) => t.kind === 'scalar' && t.s === 'float';

function makeOp(op: Op, code: C, slot: (v: Value) => number, bufIndexOf: Map<Value, number>, simt: boolean): POp {
  const res = op.results[0];
  const rt = res ? tileOf(res.type) : null;
  const p: POp = {
    code,
    id: 0,
    op,
    ins: op.operands.map(slot),
    outs: op.results.map(slot),
    regions: [],
    dtype: rt?.dtype ?? 'f32',
    shape: rt?.shape ?? [],
    size: rt ? sizeOf(rt.shape) : 0,
    bytes: rt ? sizeOf(rt.shape) * dtypeBytes(rt.dtype) : 0,
    vecIdx: -1,
    vecN: 0,
    special: 0,
    noteSlots: [],
    noteBytes: [],
    notes: false,
    buf: -1,
    elemBytes: 0,
    dtIdx: -1,
    x: {},
  };
  const tileIn = (i: number): boolean => !!tileOf(op.operands[i]!.type);
  const inBytes = (i: number): number => {
    const t = tileOf(op.operands[i]!.type)!;
    return sizeOf(t.shape) * dtypeBytes(t.dtype);
  };
  const noteInputs = (idx: number[]): void => {
    p.notes = true;
    for (const i of idx) {
      if (tileIn(i)) {
        p.noteSlots.push(p.ins[i]!);
        p.noteBytes.push(inBytes(i));
      }
    }
  };
  const bufOperand = (): void => {
    const b = op.operands[0]!;
    p.buf = bufIndexOf.get(b) ?? -1;
    const dt = (b.type as { dtype: DType }).dtype;
    p.elemBytes = dtypeBytes(dt);
    p.dtIdx = COST_DTYPE_INDEX[dt as CostDType];
    p.x.bufDtype = dt;
  };
  switch (code) {
    case C.SBinary: {
      const special = SIMT_FLOP_BINARY[op.attrs.op as string];
      if (simt && special !== undefined && isFloatScalar(res!.type) && op.operands.some((v) => isFloatScalar(v.type))) {
        p.vecIdx = COST_DTYPE_INDEX.f32;
        p.vecN = 1;
        p.special = special;
      }
      break;
    }
    case C.SUnary:
      if (simt && SIMT_FLOP_UNARY.has(op.attrs.op as string) && isFloatScalar(res!.type)) {
        p.vecIdx = COST_DTYPE_INDEX.f32;
        p.vecN = 1;
        p.special = 1;
      }
      break;
    case C.Arange:
      p.vecIdx = COST_DTYPE_INDEX.i32;
      p.vecN = op.attrs.size as number;
      break;
    case C.Full:
      p.dtIdx = COST_DTYPE_INDEX[op.attrs.dtype as CostDType];
      break;
    case C.Binary: {
      const cd = op.attrs.dtype as TileDType;
      const rd = rt!.dtype;
      p.vecIdx = COST_DTYPE_INDEX[(rd === 'bool' ? cd : rd) as CostDType];
      p.vecN = p.size;
      p.special = p.size * (BINARY_OPS[op.attrs.op as BinaryOp] as { special: number }).special;
      noteInputs([0, 1]);
      p.x.cd = cd;
      break;
    }
    case C.Unary: {
      const cd = op.attrs.dtype as TileDType;
      const rd = rt!.dtype;
      p.vecIdx = COST_DTYPE_INDEX[(rd === 'bool' ? cd : rd) as CostDType];
      p.vecN = p.size;
      p.special = p.size * (UNARY_OPS[op.attrs.op as UnaryOp] as { special: number }).special;
      noteInputs([0]);
      p.x.cd = cd;
      break;
    }
    case C.Where: {
      const rd = rt!.dtype;
      p.vecIdx = COST_DTYPE_INDEX[rd as CostDType];
      p.vecN = p.size;
      p.notes = true;
      for (const i of [0, 1, 2]) {
        if (tileIn(i)) {
          p.noteSlots.push(p.ins[i]!);
          p.noteBytes.push(inBytes(i));
        } else {
          // A scalar becomes a 0-d tile of the result dtype.
          p.noteSlots.push(-1);
          p.noteBytes.push(dtypeBytes(rd));
        }
      }
      break;
    }
    case C.Cast:
      p.vecIdx = COST_DTYPE_INDEX[op.attrs.dtype as CostDType];
      p.vecN = p.size;
      p.dtIdx = p.vecIdx;
      noteInputs([0]);
      break;
    case C.Permute:
      // Functional execution notes the permuted tile (timing-only execution did not).
      noteInputs([0]);
      break;
    case C.Reduce: {
      const xt = tileOf(op.operands[0]!.type)!;
      p.vecIdx = COST_DTYPE_INDEX[(xt.dtype === 'bool' ? 'i32' : xt.dtype) as CostDType];
      p.vecN = sizeOf(xt.shape);
      noteInputs([0]);
      break;
    }
    case C.Cumsum: {
      const xt = tileOf(op.operands[0]!.type)!;
      p.vecIdx = COST_DTYPE_INDEX[(isFloat(xt.dtype) ? xt.dtype : 'i32') as CostDType];
      p.vecN = sizeOf(xt.shape);
      noteInputs([0]);
      break;
    }
    case C.Sort: {
      const xt = tileOf(op.operands[0]!.type)!;
      const axis = op.attrs.axis as number;
      const n = xt.shape[axis]!;
      const outer = sizeOf(xt.shape.slice(0, axis));
      const inner = sizeOf(xt.shape.slice(axis + 1));
      const lg = Math.ceil(Math.log2(Math.max(2, n)));
      p.vecIdx = COST_DTYPE_INDEX[xt.dtype as CostDType];
      p.vecN = ((outer * inner * n * lg * (lg + 1)) / 4) * 2;
      noteInputs([0]);
      break;
    }
    case C.Dot: {
      const a = tileOf(op.operands[0]!.type)!;
      const b = tileOf(op.operands[1]!.type)!;
      const [M, K] = a.shape as [number, number];
      const N = b.shape[1]!;
      const costType: CostDType =
        a.dtype === 'f32' && op.attrs.precision === 'tf32' ? 'tf32' : isFp8(a.dtype) ? a.dtype : (a.dtype as CostDType);
      p.x.flops = 2 * M * N * K;
      p.x.costIdx = COST_DTYPE_INDEX[costType];
      p.x.opBytes = M * K * dtypeBytes(a.dtype) + K * N * dtypeBytes(b.dtype);
      p.x.accBytes = M * N * 4;
      break;
    }
    case C.Load:
      bufOperand();
      p.x.masked = op.attrs.masked;
      break;
    case C.Store: {
      bufOperand();
      p.x.masked = op.attrs.masked;
      const shape = broadcast(
        broadcast(shapeOfOperand(op.operands[1]!), op.attrs.masked ? shapeOfOperand(op.operands[3]!) : []),
        shapeOfOperand(op.operands[2]!),
      );
      p.shape = shape;
      p.size = sizeOf(shape);
      // The stored value as the record notes it: the tile, or a 0-d tile of the buffer's dtype.
      p.notes = true;
      if (tileIn(2)) {
        p.noteSlots.push(p.ins[2]!);
        p.noteBytes.push(inBytes(2));
      } else {
        p.noteSlots.push(-1);
        p.noteBytes.push(p.elemBytes);
      }
      break;
    }
    case C.Atomic:
      bufOperand();
      p.x.masked = op.attrs.masked;
      p.x.kind = op.attrs.kind;
      break;
    case C.View:
      bufOperand();
      p.x.rank = op.attrs.rank;
      break;
    case C.LoadBlock:
      bufOperand();
      p.x.rank = op.attrs.rank;
      p.x.block = op.attrs.block;
      break;
    case C.StoreBlock: {
      bufOperand();
      p.x.rank = op.attrs.rank;
      const v = op.operands[op.operands.length - 1]!;
      const vt = tileOf(v.type)!;
      p.x.block = vt.shape;
      p.notes = true;
      p.noteSlots.push(p.ins[p.ins.length - 1]!);
      p.noteBytes.push(inBytes(op.operands.length - 1));
      break;
    }
    case C.SimtLoad:
    case C.SimtStore:
    case C.SimtAtomic:
      bufOperand();
      p.x.kind = op.attrs.kind;
      break;
    case C.SimtFlops:
      p.dtIdx = COST_DTYPE_INDEX[(op.attrs.dtype as CostDType) ?? 'f32'];
      break;
    case C.Trap:
      p.x.message = op.attrs.message;
      p.x.name = op.attrs.name;
      break;
    default:
  }
  if (p.notes && code !== C.Store && code !== C.StoreBlock) p.x.outBytes = p.bytes;
  return p;
}

/** Marks the tiles whose lanes the analysis must evaluate: masks and offsets of gathers/scatters, transitively. */
function markNeeded(plan: Plan): void {
  const need = plan.need;
  // Links between slots that are one variable (loop-carried values, branch results and their yields).
  const links: number[][] = [];
  const link = (group: number[]) => links.push(group);
  const visit = (r: PRegion): void => {
    for (const p of r.ops) {
      switch (p.code) {
        case C.Load:
          need[p.ins[1]!] = 1;
          if (p.x.masked) need[p.ins[2]!] = 1;
          break;
        case C.Store:
        case C.Atomic:
          need[p.ins[1]!] = 1;
          if (p.x.masked) need[p.ins[3]!] = 1;
          break;
        case C.For: {
          const body = p.regions[0]!;
          const n = p.outs.length;
          for (let i = 0; i < n; i++) link([p.ins[3 + i]!, body.args[1 + i]!, body.term[i]!, p.outs[i]!]);
          break;
        }
        case C.While: {
          const [before, after] = p.regions as [PRegion, PRegion];
          for (let i = 0; i < p.outs.length; i++) {
            link([p.ins[i]!, before.args[i]!, before.term[1 + i]!, after.args[i]!, after.term[i]!, p.outs[i]!]);
          }
          break;
        }
        case C.If: {
          const [a, b] = p.regions as [PRegion, PRegion];
          for (let i = 0; i < p.outs.length; i++) link([a.term[i]!, b.term[i]!, p.outs[i]!]);
          break;
        }
        default:
      }
      for (const reg of p.regions) visit(reg);
    }
  };
  visit(plan.body);
  const TILE_OPS = new Set([
    C.Binary,
    C.Unary,
    C.Where,
    C.Cast,
    C.Reshape,
    C.Broadcast,
    C.Permute,
    C.Reduce,
    C.Cumsum,
    C.Sort,
  ]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const g of links) {
      if (g.some((s) => need[s]) && g.some((s) => !need[s])) {
        for (const s of g) need[s] = 1;
        changed = true;
      }
    }
    for (let i = plan.ops.length - 1; i >= 0; i--) {
      const p = plan.ops[i]!;
      if (!TILE_OPS.has(p.code) || !need[p.outs[0]!]) continue;
      for (let k = 0; k < p.ins.length; k++) {
        const s = p.ins[k]!;
        if (!need[s] && p.op.operands[k]!.type.kind === 'tile') {
          need[s] = 1;
          changed = true;
        }
      }
    }
  }
}

/** Every operand must be defined where it is used (a kernel parameter, a dominating op's result or a region arg). */
function checkDefined(ir: KernelIR, slotOf: Map<Value, number>): void {
  const visible = new Set<Value>();
  for (const p of ir.params) if (p.value) visible.add(p.value);
  for (const s of ir.shared) visible.add(s.value);
  const walkRegion = (r: Region, scope: Set<Value>): void => {
    const local = new Set(scope);
    for (const a of r.args) local.add(a);
    for (const op of r.ops) {
      for (const v of op.operands) {
        if (!local.has(v)) {
          const snippet = op.loc?.snippet ? ` (\`${op.loc.snippet}\`)` : '';
          throw new Error(
            `cost analysis: kernel '${ir.name}': ${op.opcode}${snippet} uses a value (%${v.id}) that is not defined where it is used`,
          );
        }
      }
      for (const reg of op.regions) walkRegion(reg, local);
      for (const res of op.results) local.add(res);
    }
  };
  // Constants are hoisted to the top; they dominate everything.
  for (const op of ir.body.ops) if (op.opcode === 'const') visible.add(op.result);
  void slotOf;
  walkRegion(ir.body, visible);
}
