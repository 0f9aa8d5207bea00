/**
 * The IR interpreter for SIMT kernels: the plain reference for `compiler/simt/codegen.ts` (`TESSERA_INTERPRET=1`) and
 * the instrumented execution the sanitizer runs (packages/device/docs/sanitizer.md).
 *
 * A SIMT kernel's IR is one thread's program. The interpreter compiles it once per specialisation into closures over a
 * register file (one array per thread, a slot per SSA value) and runs a block as the generated code does: the body is
 * cut at barriers and warp intrinsics (cut points); between them each thread runs in turn, in CUDA's linear order (x
 * fastest); a warp intrinsic runs for the whole block at once, warp by warp (the generated code's runtime,
 * `simt/warp.ts`). Control flow that holds a cut point runs predicated — each thread takes its own side of an `if`
 * (the `then` threads first), loops run in lock step until no thread is left in them — so nothing assumes the
 * threads agree: a barrier that only part of a block reaches is seen (and, with hooks, reported) instead of run as if
 * every thread had reached it. For kernels the compiler accepts this is the generated code's order, so both give the
 * same results, races included.
 *
 * Without hooks every fault is raised as the generated code raises it (the same runtime messages). With hooks, every
 * access is shown to them first: an out-of-bounds access is reported to the hook and skipped (a load reads 0) instead
 * of faulting, so one run can find every bad access of a launch.
 */
import { type DType, isFloat, type StorageArray } from '../dtype/dtype';
import { evalBinary, evalUnary } from './builder';
import { type KernelIR, type Op, type Region, type Value, WARP_OPS } from './ir';
import type { SimtRuntime } from './simt/codegen';
import { WARP_WHAT, type WarpSite } from './simt/warp';

// ------------------------------------------------------------------------------------------------------ the API

/** What a launch gives the interpreter: device memory and arguments as plain arrays, in parameter order. */
export interface SimtInterpretLaunch {
  grid: readonly [number, number, number];
  /** Storage views of the buffer parameters. */
  buffers: StorageArray[];
  /** Buffer lengths in elements. */
  lengths: number[];
  scalars: number[];
  arrays: (readonly number[])[];
  /** Faults, conversions and warp intrinsics (the generated code's runtime). */
  rt: SimtRuntime;
  /** Instrumentation (the sanitizer); null runs the plain reference. */
  hooks?: SimtHooks | null;
}

export type Access = 'read' | 'write' | 'atomic';

/** A shared array as the interpreter holds it: a static `__shared__` array, a dynamic-shared view, or a subarray. */
export interface SharedRef {
  /** The name messages use: `partial`, `dynamicShared(f32, 0)`, `partial.subarray(0, 32)`. */
  name: string;
  dtype: string;
  length: number;
  /** Bytes per element. */
  eb: number;
  /** Its first element's byte address in the block's shared memory (static arrays first, then the dynamic area). */
  base: number;
  /** The op that made the view (null for static arrays). */
  op: Op | null;
  /** Element storage (f16 / bf16: their bits). */
  view: ArrayLike<number> & { [i: number]: number; fill(v: number, s?: number, e?: number): unknown };
}

/** One thread, as hooks see it. */
export interface SimtThread {
  /** Linear index in the block (x fastest). */
  t: number;
  tx: number;
  ty: number;
  tz: number;
}

/** The block being run, as hooks see it. */
export interface SimtBlock {
  /** Linear index in the grid (x fastest). */
  index: number;
  bx: number;
  by: number;
  bz: number;
  /** Barriers the block has passed so far (accesses in different epochs are ordered). */
  epoch: number;
  /** Per warp: `syncwarp`s (and barriers) it has passed (accesses of one warp in different counts are ordered). */
  warpSyncs: Int32Array;
  warpSize: number;
  /** Per thread: 1 once it has returned from the kernel (`simt.exit`). */
  exited: Uint8Array;
  threads: readonly SimtThread[];
}

export interface SimtHooks {
  /** A block starts; shared memory has just been zeroed. */
  beginBlock?(b: SimtBlock): void;
  endBlock?(b: SimtBlock): void;
  /** A global access about to be made, in bounds (`value`: what a write or atomic stores, or its operand). */
  global?(op: Op, access: Access, k: number, index: number, th: SimtThread, b: SimtBlock, value: number): void;
  /** An out-of-bounds global access: reported here instead of faulting, and skipped (a load reads 0). */
  globalOutOfBounds?(op: Op, access: Access, k: number, index: unknown, th: SimtThread, b: SimtBlock): void;
  /** A shared-memory access about to be made, in bounds. */
  shared?(op: Op, access: Access, s: SharedRef, index: number, th: SimtThread, b: SimtBlock, value: number): void;
  sharedOutOfBounds?(op: Op, access: Access, s: SharedRef, index: unknown, th: SimtThread, b: SimtBlock): void;
  /** A barrier reached by the threads `arrived` (ascending); before the block's epoch moves on. */
  barrier?(b: SimtBlock, op: Op, arrived: readonly number[]): void;
  /** A warp intrinsic misused (its mask): the `LaunchFailure` about to be thrown. */
  warpFault?(b: SimtBlock, op: Op, error: Error): void;
}

/** Runs blocks [b0, b1) (linear, x fastest) of a launch of a compiled SIMT specialisation. */
export function interpretSimtBlocks(
  ir: KernelIR,
  block: readonly [number, number, number],
  dynamicSharedBytes: number,
  launch: SimtInterpretLaunch,
  b0: number,
  b1: number,
): void {
  if (ir.style !== 'simt') throw new Error(`interpretSimtBlocks: ${ir.name} is a ${ir.style} kernel`);
  programFor(ir, block, dynamicSharedBytes).run(launch, b0, b1);
}

/** The shared arrays of a specialisation with their byte addresses (for reports): static arrays, then dynamic views. */
export function simtSharedLayout(
  ir: KernelIR,
  block: readonly [number, number, number],
  dynamicSharedBytes: number,
): { refs: readonly SharedRef[]; bytes: number } {
  const p = programFor(ir, block, dynamicSharedBytes);
  return { refs: p.sharedRefs, bytes: p.sharedBytes };
}

// -------------------------------------------------------------------------------------------------- compilation

type Reg = unknown[];
/** The mutable state compiled closures read: set per launch and per thread. */
interface Ctx {
  mem: StorageArray[];
  lengths: number[];
  grid: readonly [number, number, number];
  rt: SimtRuntime;
  hooks: SimtHooks | null;
  th: SimtThread;
  b: SimtBlock;
}
type Fn = (r: Reg, c: Ctx) => void;

/** A warp intrinsic: what the runtime needs, the operand slots (mask first) and the result slot. */
interface WarpItem {
  kind: 'warp';
  op: Op;
  site: WarpSite;
  call: 'shfl' | 'vote' | 'redux' | 'sync';
  args: number[];
  out: number;
}

/** A construct that holds a cut point (barrier or warp intrinsic): run at block level, predicated. */
type SyncItem =
  | { kind: 'barrier'; op: Op }
  | WarpItem
  | { kind: 'if'; cond: number; yes: Body; no: Body; results: number[] }
  | {
      kind: 'for';
      lo: number;
      hi: number;
      step: number;
      inits: number[];
      iv: number;
      iters: number[];
      body: Body;
      results: number[];
    }
  | {
      kind: 'while';
      inits: number[];
      before: Body;
      beforeArgs: number[];
      after: Body;
      afterArgs: number[];
      results: number[];
    };

interface Body {
  /** Segments (closures every thread runs in turn) and cut constructs, in order. */
  items: (Fn[] | SyncItem)[];
  /** The slots the region's terminator yields (a while's first region: the condition first). */
  yields: number[];
  /** The region as closures, when it holds no cut point (run inside one thread's turn). */
  fns: Fn[];
}

const SHARED_ARRAY: Record<string, new (n: number) => SharedRef['view']> = {
  f32: Float32Array,
  f16: Uint16Array,
  bf16: Uint16Array,
  i32: Int32Array,
  u32: Uint32Array,
  i16: Int16Array,
  i8: Int8Array,
  u8: Uint8Array,
};

const ELEM_BYTES: Record<string, number> = { f32: 4, i32: 4, u32: 4, f16: 2, bf16: 2, i16: 2, i8: 1, u8: 1 };

function isCut(op: Op): boolean {
  return op.opcode === 'simt.barrier' || WARP_OPS.has(op.opcode);
}

function containsCut(op: Op): boolean {
  for (const r of op.regions) for (const o of r.ops) if (isCut(o) || containsCut(o)) return true;
  return false;
}

/** Closure factories for scalar ops: one per operator, built once (monomorphic closures V8 inlines well). */
type BinFactory = (a: number, b: number, o: number) => Fn;
type UnFactory = (a: number, o: number) => Fn;
const BIN_FACTORY = new Map<string, BinFactory>();
const UN_FACTORY = new Map<string, UnFactory>();
const BIN_JS = new Set([
  '+',
  '-',
  '*',
  '/',
  '%',
  '**',
  '<',
  '<=',
  '>',
  '>=',
  '===',
  '!==',
  '&',
  '|',
  '^',
  '<<',
  '>>',
  '>>>',
]);
const UN_JS: Record<string, string> = {
  '-': '-r[a]',
  '+': '+r[a]',
  '!': '!r[a]',
  '~': '~r[a]',
  floor: 'Math.floor(r[a])',
  ceil: 'Math.ceil(r[a])',
  round: 'Math.round(r[a])',
  trunc: 'Math.trunc(r[a])',
  sign: 'Math.sign(r[a])',
  abs: 'Math.abs(r[a])',
  sqrt: 'Math.sqrt(r[a])',
  exp: 'Math.exp(r[a])',
  log: 'Math.log(r[a])',
  fround: 'Math.fround(r[a])',
};

function binaryFn(op: string, a: number, b: number, o: number): Fn {
  let f = BIN_FACTORY.get(op);
  if (!f) {
    if (BIN_JS.has(op)) {
      f = new Function('a', 'b', 'o', `return function (r) { r[o] = r[a] ${op} r[b]; };`) as BinFactory;
    } else if (op === 'min' || op === 'max') {
      f = new Function('a', 'b', 'o', `return function (r) { r[o] = Math.${op}(r[a], r[b]); };`) as BinFactory;
    } else {
      f = (a2, b2, o2) => (r) => {
        r[o2] = evalBinary(op, r[a2] as number, r[b2] as number);
      };
    }
    BIN_FACTORY.set(op, f);
  }
  return f(a, b, o);
}

function unaryFn(op: string, a: number, o: number): Fn {
  let f = UN_FACTORY.get(op);
  if (!f) {
    const js = UN_JS[op];
    f = js
      ? (new Function('a', 'o', `return function (r) { r[o] = ${js}; };`) as UnFactory)
      : (a2, o2) => (r) => {
          r[o2] = evalUnary(op, r[a2] as number);
        };
    UN_FACTORY.set(op, f);
  }
  return f(a, o);
}

const AXES = ['tx', 'ty', 'tz'] as const;
const BAXES = ['bx', 'by', 'bz'] as const;

function siteOf(op: Op): string {
  const loc = op.loc;
  if (!loc) return '';
  const file = loc.file?.split(/[\\/]/).slice(-2).join('/');
  return `${loc.line ? `${file}:${loc.line} ` : ''}— in \`${loc.snippet}\``;
}

/** The value a shared-memory atomic's operand takes in the element dtype (CUDA's typed parameter). */
function sharedConv(dtype: string, x: number, rt: SimtRuntime): number {
  switch (dtype) {
    case 'f32':
      return Math.fround(x);
    case 'f16':
    case 'bf16':
      return rt.castScalar(x, dtype);
    case 'i32':
      return x | 0;
    case 'u32':
      return x >>> 0;
    case 'i16':
      return (x << 16) >> 16;
    case 'i8':
      return (x << 24) >> 24;
    default:
      return x & 255;
  }
}

class SimtProgram {
  private readonly slots = new Map<Value, number>();
  /** Initial register values (constants; parameters are filled per launch). */
  private readonly template: unknown[] = [];
  private readonly params: { slot: number; kind: 'buffer' | 'scalar' | 'array'; index: number }[] = [];
  readonly sharedRefs: SharedRef[] = [];
  private readonly sharedOf = new Map<Value, SharedRef>();
  readonly sharedBytes: number;
  private readonly staticViews: SharedRef[] = [];
  private readonly dynamic: { buffer: ArrayBuffer; bytes: Uint8Array } | null;
  private readonly body: Body;
  private readonly threads: SimtThread[] = [];
  private readonly all: number[];
  private readonly warpSize: number;

  constructor(
    readonly ir: KernelIR,
    readonly block: readonly [number, number, number],
    readonly dynamicSharedBytes: number,
  ) {
    this.warpSize = ir.warpSize ?? 32;
    let b = 0;
    let s = 0;
    let a = 0;
    for (const p of ir.params) {
      if (!p.value) continue;
      const t = p.value.type;
      const slot = this.slot(p.value);
      if (t.kind === 'buffer') this.params.push({ slot, kind: 'buffer', index: b++ });
      else if (t.kind === 'array') this.params.push({ slot, kind: 'array', index: a++ });
      else this.params.push({ slot, kind: 'scalar', index: s++ });
    }
    // Shared memory: static arrays at 16-byte-aligned addresses, then the dynamic area; one set reused by every block.
    let addr = 0;
    for (const sh of ir.shared) {
      const t = sh.value.type as { dtype: string; length: number };
      const Ctor = SHARED_ARRAY[t.dtype];
      if (!Ctor) throw new Error(`interpreter: shared arrays of ${t.dtype} are not supported`);
      const eb = ELEM_BYTES[t.dtype]!;
      const ref: SharedRef = {
        name: sh.name,
        dtype: t.dtype,
        length: t.length,
        eb,
        base: addr,
        op: null,
        view: new Ctor(t.length),
      };
      addr += Math.ceil((t.length * eb) / 16) * 16;
      this.staticViews.push(ref);
      this.sharedRefs.push(ref);
      this.sharedOf.set(sh.value, ref);
    }
    const dynBase = addr;
    if (dynamicSharedBytes > 0) {
      const buffer = new ArrayBuffer(dynamicSharedBytes);
      this.dynamic = { buffer, bytes: new Uint8Array(buffer) };
    } else this.dynamic = null;
    this.sharedBytes = dynBase + dynamicSharedBytes;
    // Views (dynamic shared, subarrays) are static facts of the IR: made once.
    const views = (region: Region) => {
      for (const op of region.ops) {
        if (op.opcode === 'simt.dynamic_shared') {
          const { dtype, offset, length } = op.attrs as { dtype: string; offset: number; length: number };
          const Ctor = SHARED_ARRAY[dtype] as unknown as new (
            b: ArrayBuffer,
            o: number,
            n: number,
          ) => SharedRef['view'];
          const ref: SharedRef = {
            name: `dynamicShared(${dtype}, ${offset})`,
            dtype,
            length,
            eb: ELEM_BYTES[dtype]!,
            base: dynBase + offset,
            op,
            view: new Ctor(this.dynamic!.buffer, offset, length),
          };
          this.sharedRefs.push(ref);
          this.sharedOf.set(op.result, ref);
        } else if (op.opcode === 'simt.shared_view') {
          const base = this.sharedOf.get(op.operands[0]!)!;
          const { offset, length } = op.attrs as { offset: number; length: number };
          const view = (base.view as unknown as { subarray(b: number, e: number): SharedRef['view'] }).subarray(
            offset,
            offset + length,
          );
          const ref: SharedRef = {
            name: `${base.name}.subarray(${offset}, ${offset + length})`,
            dtype: base.dtype,
            length,
            eb: base.eb,
            base: base.base + offset * base.eb,
            op,
            view,
          };
          this.sharedRefs.push(ref);
          this.sharedOf.set(op.result, ref);
        }
        for (const r of op.regions) views(r);
      }
    };
    views(ir.body);
    const [bx, by, bz] = block;
    for (let t = 0; t < bx * by * bz; t++) {
      this.threads.push({ t, tx: t % bx, ty: Math.floor(t / bx) % by, tz: Math.floor(t / (bx * by)) });
    }
    this.all = this.threads.map((t) => t.t);
    this.body = this.region(ir.body);
  }

  private slot(v: Value): number {
    let s = this.slots.get(v);
    if (s === undefined) {
      s = this.template.length;
      this.template.push(undefined);
      this.slots.set(v, s);
    }
    return s;
  }

  /** The slot of an operand (constants are placed in the template). */
  private use(v: Value): number {
    const s = this.slot(v);
    if (v.def?.opcode === 'const') this.template[s] = v.def.attrs.value;
    return s;
  }

  private region(region: Region): Body {
    const items: (Fn[] | SyncItem)[] = [];
    const all: Fn[] = [];
    let seg: Fn[] | null = null;
    let cut = false;
    let yields: number[] = [];
    for (const op of region.ops) {
      if (op.opcode === 'scf.yield' || op.opcode === 'scf.condition') {
        yields = op.operands.map((v) => this.use(v));
        continue;
      }
      if (isCut(op) || (op.regions.length && containsCut(op))) {
        items.push(this.syncOp(op));
        seg = null;
        cut = true;
        continue;
      }
      const f = this.op(op);
      if (!f) continue;
      all.push(f);
      if (!seg) items.push((seg = []));
      seg.push(f);
    }
    return { items, yields, fns: cut ? [] : all };
  }

  private syncOp(op: Op): SyncItem {
    if (op.opcode === 'simt.barrier') return { kind: 'barrier', op };
    if (WARP_OPS.has(op.opcode)) return this.warpOp(op);
    const res = op.results.map((v) => this.slot(v));
    if (op.opcode === 'scf.if') {
      return {
        kind: 'if',
        cond: this.use(op.operands[0]!),
        yes: this.region(op.regions[0]!),
        no: this.region(op.regions[1]!),
        results: res,
      };
    }
    if (op.opcode === 'scf.for') {
      const [lo, hi, step, ...inits] = op.operands;
      const body = op.regions[0]!;
      return {
        kind: 'for',
        lo: this.use(lo!),
        hi: this.use(hi!),
        step: this.use(step!),
        inits: inits.map((v) => this.use(v)),
        iv: this.slot(body.args[0]!),
        iters: body.args.slice(1).map((v) => this.slot(v)),
        body: this.region(body),
        results: res,
      };
    }
    if (op.opcode === 'scf.while') {
      const [before, after] = op.regions as [Region, Region];
      return {
        kind: 'while',
        inits: op.operands.map((v) => this.use(v)),
        beforeArgs: before.args.map((v) => this.slot(v)),
        before: this.region(before),
        afterArgs: after.args.map((v) => this.slot(v)),
        after: this.region(after),
        results: res,
      };
    }
    throw new Error(`interpreter: ${op.opcode} cannot contain a barrier or a warp intrinsic`);
  }

  private warpOp(op: Op): WarpItem {
    const a = op.attrs;
    const call =
      op.opcode === 'simt.shfl'
        ? 'shfl'
        : op.opcode === 'simt.vote'
          ? 'vote'
          : op.opcode === 'simt.redux'
            ? 'redux'
            : 'sync';
    const kind = call === 'shfl' ? (a.mode as string) : call === 'sync' ? 'sync' : (a.kind as string);
    const site: WarpSite = {
      what: WARP_WHAT[kind] ?? op.opcode,
      site: siteOf(op),
      kind,
      width: (a.width as number | undefined) ?? this.warpSize,
      unsigned: a.unsigned === true,
      threads: this.threads.length,
      warpSize: this.warpSize,
      block: [...this.block],
    };
    return {
      kind: 'warp',
      op,
      site,
      call,
      args: op.operands.map((v) => this.use(v)),
      out: op.results.length ? this.slot(op.result) : -1,
    };
  }

  /** One op as a closure (null for ops with no run-time effect). */
  private op(op: Op): Fn | null {
    const o = op.operands.map((v) => this.use(v));
    const out = op.results.length ? this.slot(op.result) : -1;
    const a = op.attrs;
    switch (op.opcode) {
      case 'const':
        this.template[out] = a.value;
        return null;
      case 's.binary':
        return binaryFn(a.op as string, o[0]!, o[1]!, out);
      case 's.unary':
        return unaryFn(a.op as string, o[0]!, out);
      case 's.select': {
        const [c, x, y] = o as [number, number, number];
        return (r) => {
          r[out] = r[c] ? r[x] : r[y];
        };
      }
      case 'simt.tid': {
        const axis = AXES[a.axis as number]!;
        return (r, c) => {
          r[out] = c.th[axis];
        };
      }
      case 'simt.bid': {
        const axis = BAXES[a.axis as number]!;
        return (r, c) => {
          r[out] = c.b[axis];
        };
      }
      case 'simt.gdim': {
        const axis = a.axis as number;
        return (r, c) => {
          r[out] = c.grid[axis];
        };
      }
      case 'simt.bdim':
        this.template[out] = this.block[a.axis as number];
        return null;
      case 'arr.get': {
        const [arr, i] = o as [number, number];
        return (r) => {
          r[out] = (r[arr] as readonly number[])[r[i] as number];
        };
      }
      case 'arr.len': {
        const arr = o[0]!;
        return (r) => {
          r[out] = (r[arr] as readonly number[]).length;
        };
      }
      case 'buf.len': {
        const k = this.bufferIndex(op.operands[0]!);
        return (r, c) => {
          r[out] = c.lengths[k];
        };
      }
      case 'simt.load':
        return this.load(op, o[1]!, out);
      case 'simt.store':
        return this.store(op, o[1]!, o[2]!);
      case 'simt.atomic':
        return this.atomic(op, o, out);
      case 'simt.shared_load':
      case 'simt.shared_store':
        return this.sharedAccess(op, o, out);
      case 'simt.shared_atomic':
        return this.sharedAtomic(op, o, out);
      case 'simt.shared_fill':
        return this.sharedFill(op, o);
      case 'simt.exit':
        return (_r, c) => {
          c.b.exited[c.th.t] = 1;
        };
      case 'simt.dynamic_shared':
      case 'simt.shared_view':
      case 'simt.flops':
        return null;
      case 'trap': {
        const message = a.message as string;
        const name = (a.name as string | undefined) ?? 'Error';
        return (_r, c) => {
          c.rt.trap(message, blockIds(c.b), threadIds(c.th), name);
        };
      }
      case 'scf.if':
        return this.plainIf(op, o[0]!);
      case 'scf.for':
        return this.plainFor(op, o);
      case 'scf.while':
        return this.plainWhile(op, o);
      default:
        throw new Error(`interpreter: op ${op.opcode} is not supported in SIMT kernels`);
    }
  }

  private bufferIndex(v: Value): number {
    const p = this.params.find((q) => q.slot === this.slots.get(v));
    if (p?.kind !== 'buffer') throw new Error('interpreter: a memory op on something that is not a buffer');
    return p.index;
  }

  private dtypeOf(v: Value): DType {
    return (v.type as { dtype: DType }).dtype;
  }

  private load(op: Op, iSlot: number, out: number): Fn {
    const k = this.bufferIndex(op.operands[0]!);
    const dtype = this.dtypeOf(op.operands[0]!);
    const decodes = isFloat(dtype) && dtype !== 'f32';
    return (r, c) => {
      const i = r[iSlot] as number;
      const h = c.hooks;
      if (!(Number.isInteger(i) && i >= 0 && i < c.lengths[k]!)) {
        if (!h?.globalOutOfBounds) c.rt.globalFault('read', k, i, blockIds(c.b), threadIds(c.th));
        h!.globalOutOfBounds!(op, 'read', k, i, c.th, c.b);
        r[out] = 0;
        return;
      }
      h?.global?.(op, 'read', k, i, c.th, c.b, 0);
      const bits = c.mem[k]![i]!;
      r[out] = decodes ? c.rt.decode[dtype]!(bits) : bits;
    };
  }

  private store(op: Op, iSlot: number, vSlot: number): Fn {
    const k = this.bufferIndex(op.operands[0]!);
    const dtype = this.dtypeOf(op.operands[0]!);
    const encodes = isFloat(dtype) && dtype !== 'f32';
    return (r, c) => {
      const i = r[iSlot] as number;
      const v = r[vSlot];
      const h = c.hooks;
      if (!(Number.isInteger(i) && i >= 0 && i < c.lengths[k]!)) {
        if (!h?.globalOutOfBounds) c.rt.globalFault('write', k, i, blockIds(c.b), threadIds(c.th));
        h!.globalOutOfBounds!(op, 'write', k, i, c.th, c.b);
        return;
      }
      if (typeof v !== 'number') c.rt.badValue('set', k, i, v, blockIds(c.b), threadIds(c.th));
      const x = c.rt.castScalar(v as number, dtype);
      h?.global?.(op, 'write', k, i, c.th, c.b, x);
      c.mem[k]![i] = encodes ? c.rt.encode[dtype]!(x) : x;
    };
  }

  private atomic(op: Op, o: number[], out: number): Fn {
    const k = this.bufferIndex(op.operands[0]!);
    const dtype = this.dtypeOf(op.operands[0]!);
    const kind = op.attrs.kind as 'add' | 'max' | 'min' | 'exch' | 'cas';
    const name = kind === 'cas' ? 'atomicCAS' : `atomic${kind[0]!.toUpperCase()}${kind.slice(1)}`;
    const float = isFloat(dtype) && dtype !== 'f32';
    const [iSlot, vSlot, cmpSlot] = [o[1]!, o[2]!, o[3]];
    return (r, c) => {
      const i = r[iSlot] as number;
      const v = r[vSlot];
      const h = c.hooks;
      if (!(Number.isInteger(i) && i >= 0 && i < c.lengths[k]!)) {
        if (!h?.globalOutOfBounds) c.rt.globalFault(name, k, i, blockIds(c.b), threadIds(c.th));
        h!.globalOutOfBounds!(op, 'atomic', k, i, c.th, c.b);
        r[out] = 0;
        return;
      }
      if (typeof v !== 'number') c.rt.badValue(name, k, i, v, blockIds(c.b), threadIds(c.th));
      h?.global?.(op, 'atomic', k, i, c.th, c.b, v as number);
      const st = c.mem[k]!;
      const old = float ? c.rt.decode[dtype]!(st[i]!) : st[i]!;
      let next: number;
      if (kind === 'add') next = old + (v as number);
      else if (kind === 'max') next = (v as number) > old ? (v as number) : old;
      else if (kind === 'min') next = (v as number) < old ? (v as number) : old;
      else if (kind === 'exch') next = v as number;
      else {
        const cmp = r[cmpSlot!];
        if (typeof cmp !== 'number') c.rt.badValue('atomicCAS', k, i, cmp, blockIds(c.b), threadIds(c.th));
        next = old === cmp ? (v as number) : old;
      }
      const x = c.rt.castScalar(next, dtype);
      st[i] = float ? c.rt.encode[dtype]!(x) : x;
      r[out] = old;
    };
  }

  private sharedAccess(op: Op, o: number[], out: number): Fn {
    const s = this.sharedOf.get(op.operands[0]!)!;
    const write = op.opcode === 'simt.shared_store';
    const [iSlot, vSlot] = [o[1]!, o[2]!];
    const len = s.length;
    const view = s.view;
    const half = s.dtype === 'f16' || s.dtype === 'bf16' ? s.dtype : null;
    return (r, c) => {
      const i = r[iSlot] as number;
      const h = c.hooks;
      if (!(i >= 0 && i < len && (i | 0) === i)) {
        if (!h?.sharedOutOfBounds)
          c.rt.sharedFault(write ? 'write' : 'read', s.name, s.dtype, len, i, blockIds(c.b), threadIds(c.th));
        h!.sharedOutOfBounds!(op, write ? 'write' : 'read', s, i, c.th, c.b);
        if (!write) r[out] = 0;
        return;
      }
      if (write) {
        const v = r[vSlot] as number;
        h?.shared?.(op, 'write', s, i, c.th, c.b, v);
        view[i] = half ? c.rt.encode[half]!(v) : v;
      } else {
        h?.shared?.(op, 'read', s, i, c.th, c.b, 0);
        r[out] = half ? c.rt.decode[half]!(view[i]!) : view[i];
      }
    };
  }

  /** `s.atomicAdd(i, v)` & co. (as the generated code: convert, compute in the dtype, store; the old value). */
  private sharedAtomic(op: Op, o: number[], out: number): Fn {
    const s = this.sharedOf.get(op.operands[0]!)!;
    const kind = op.attrs.kind as string;
    const name = kind === 'cas' ? 'atomicCAS' : `atomic${kind[0]!.toUpperCase()}${kind.slice(1)}`;
    const [iSlot, vSlot, cmpSlot] = [o[1]!, o[2]!, o[3]];
    const len = s.length;
    const view = s.view;
    const half = s.dtype === 'f16' || s.dtype === 'bf16' ? s.dtype : null;
    const float = half !== null || s.dtype === 'f32';
    return (r, c) => {
      const i = r[iSlot] as number;
      const h = c.hooks;
      if (!(i >= 0 && i < len && (i | 0) === i)) {
        if (!h?.sharedOutOfBounds) c.rt.sharedFault(name, s.name, s.dtype, len, i, blockIds(c.b), threadIds(c.th));
        h!.sharedOutOfBounds!(op, 'atomic', s, i, c.th, c.b);
        r[out] = 0;
        return;
      }
      const val = sharedConv(s.dtype, r[vSlot] as number, c.rt);
      h?.shared?.(op, 'atomic', s, i, c.th, c.b, val);
      const old = half ? c.rt.decode[half]!(view[i]!) : view[i]!;
      let next: number;
      if (kind === 'add') next = old + val;
      else if (kind === 'max') next = val > old ? val : old;
      else if (kind === 'min') next = val < old ? val : old;
      else if (kind === 'exch') next = val;
      else {
        const cmp = sharedConv(s.dtype, r[cmpSlot!] as number, c.rt);
        next = (float ? Object.is(old, cmp) : old === cmp) ? val : old;
      }
      view[i] = half ? c.rt.encode[half]!(next) : next;
      r[out] = old;
    };
  }

  private sharedFill(op: Op, o: number[]): Fn {
    const s = this.sharedOf.get(op.operands[0]!)!;
    const [vSlot, s0, s1] = [o[1]!, o[2]!, o[3]!];
    const half = s.dtype === 'f16' || s.dtype === 'bf16' ? s.dtype : null;
    return (r, c) => {
      const v = r[vSlot] as number;
      const h = c.hooks;
      if (h?.shared) {
        // Typed-array fill clamps its range (never a fault): the elements it writes, as the hook sees them.
        const len = s.length;
        const rel = (x: number) => {
          const n = Math.trunc(Number(x)) || 0;
          return n < 0 ? Math.max(len + n, 0) : Math.min(n, len);
        };
        const [from, to] = [rel(r[s0] as number), rel(r[s1] as number)];
        for (let i = from; i < to; i++) h.shared(op, 'write', s, i, c.th, c.b, v);
      }
      s.view.fill(half ? c.rt.encode[half]!(v) : v, r[s0] as number, r[s1] as number);
    };
  }

  private plainIf(op: Op, cond: number): Fn {
    const t = this.region(op.regions[0]!);
    const e = this.region(op.regions[1]!);
    const res = op.results.map((v) => this.slot(v));
    const [tf, ef, ty, ey] = [t.fns, e.fns, t.yields, e.yields];
    return (r, c) => {
      if (r[cond]) {
        for (let i = 0; i < tf.length; i++) tf[i]!(r, c);
        for (let i = 0; i < res.length; i++) r[res[i]!] = r[ty[i]!];
      } else {
        for (let i = 0; i < ef.length; i++) ef[i]!(r, c);
        for (let i = 0; i < res.length; i++) r[res[i]!] = r[ey[i]!];
      }
    };
  }

  private plainFor(op: Op, o: number[]): Fn {
    const [lo, hi, step, ...inits] = o as [number, number, number, ...number[]];
    const body = op.regions[0]!;
    const iv = this.slot(body.args[0]!);
    const iters = body.args.slice(1).map((v) => this.slot(v));
    const b = this.region(body);
    const res = op.results.map((v) => this.slot(v));
    const fns = b.fns;
    const ys = b.yields;
    const n = iters.length;
    const tmp = new Array<unknown>(n);
    return (r, c) => {
      for (let i = 0; i < n; i++) r[iters[i]!] = r[inits[i]!];
      const h = r[hi] as number;
      const s = r[step] as number;
      for (let x = r[lo] as number; x < h; x += s) {
        r[iv] = x;
        for (let i = 0; i < fns.length; i++) fns[i]!(r, c);
        for (let i = 0; i < n; i++) tmp[i] = r[ys[i]!];
        for (let i = 0; i < n; i++) r[iters[i]!] = tmp[i];
      }
      for (let i = 0; i < n; i++) r[res[i]!] = r[iters[i]!];
    };
  }

  private plainWhile(op: Op, o: number[]): Fn {
    const [before, after] = op.regions as [Region, Region];
    const bArgs = before.args.map((v) => this.slot(v));
    const aArgs = after.args.map((v) => this.slot(v));
    const bb = this.region(before);
    const ab = this.region(after);
    const res = op.results.map((v) => this.slot(v));
    const [cond, ...vals] = bb.yields;
    const tmp = new Array<unknown>(bArgs.length);
    return (r, c) => {
      for (let i = 0; i < bArgs.length; i++) r[bArgs[i]!] = r[o[i]!];
      for (;;) {
        for (let i = 0; i < bb.fns.length; i++) bb.fns[i]!(r, c);
        if (!r[cond!]) {
          for (let i = 0; i < res.length; i++) r[res[i]!] = r[vals[i]!];
          return;
        }
        for (let i = 0; i < aArgs.length; i++) r[aArgs[i]!] = r[vals[i]!];
        for (let i = 0; i < ab.fns.length; i++) ab.fns[i]!(r, c);
        for (let i = 0; i < bArgs.length; i++) tmp[i] = r[ab.yields[i]!];
        for (let i = 0; i < bArgs.length; i++) r[bArgs[i]!] = tmp[i];
      }
    };
  }

  // --------------------------------------------------------------------------------------------------- running

  run(L: SimtInterpretLaunch, b0: number, b1: number): void {
    const [gx, gy] = L.grid;
    const base = this.template.slice();
    for (const p of this.params) {
      base[p.slot] = p.kind === 'buffer' ? p.index : p.kind === 'scalar' ? L.scalars[p.index] : L.arrays[p.index];
    }
    const T = this.threads.length;
    const b: SimtBlock = {
      index: 0,
      bx: 0,
      by: 0,
      bz: 0,
      epoch: 0,
      warpSyncs: new Int32Array(Math.ceil(T / this.warpSize)),
      warpSize: this.warpSize,
      exited: new Uint8Array(T),
      threads: this.threads,
    };
    const ctx: Ctx = {
      mem: L.buffers,
      lengths: L.lengths,
      grid: L.grid,
      rt: L.rt,
      hooks: L.hooks ?? null,
      th: this.threads[0]!,
      b,
    };
    const regs: Reg[] = [];
    for (let t = 0; t < T; t++) regs.push(base.slice());
    const h = ctx.hooks;
    for (let blk = b0; blk < b1; blk++) {
      b.index = blk;
      b.bx = blk % gx;
      b.by = Math.floor(blk / gx) % gy;
      b.bz = Math.floor(blk / (gx * gy));
      b.epoch = 0;
      b.warpSyncs.fill(0);
      b.exited.fill(0);
      for (const s of this.staticViews) s.view.fill(0);
      this.dynamic?.bytes.fill(0);
      h?.beginBlock?.(b);
      this.exec(this.body, this.all, regs, ctx);
      h?.endBlock?.(b);
    }
  }

  /** Runs a region at block level for the threads `act` (ascending): segments thread by thread, cut points at once. */
  private exec(body: Body, act: readonly number[], regs: Reg[], c: Ctx): void {
    for (const it of body.items) {
      if (Array.isArray(it)) {
        for (const t of act) {
          c.th = this.threads[t]!;
          const r = regs[t]!;
          for (let i = 0; i < it.length; i++) it[i]!(r, c);
        }
        continue;
      }
      switch (it.kind) {
        case 'barrier':
          c.hooks?.barrier?.(c.b, it.op, act);
          c.b.epoch++;
          c.b.warpSyncs.fill(0);
          break;
        case 'warp':
          this.warp(it, act, regs, c);
          break;
        case 'if': {
          const yes: number[] = [];
          const no: number[] = [];
          for (const t of act) (regs[t]![it.cond] ? yes : no).push(t);
          for (const [side, threads] of [
            [it.yes, yes],
            [it.no, no],
          ] as const) {
            if (!threads.length) continue;
            this.exec(side, threads, regs, c);
            for (const t of threads) {
              const r = regs[t]!;
              for (let i = 0; i < it.results.length; i++) r[it.results[i]!] = r[side.yields[i]!];
            }
          }
          break;
        }
        case 'for': {
          const n = it.iters.length;
          for (const t of act) {
            const r = regs[t]!;
            r[it.iv] = r[it.lo];
            for (let i = 0; i < n; i++) r[it.iters[i]!] = r[it.inits[i]!];
          }
          const tmp = new Array<unknown>(n);
          for (;;) {
            const inLoop = act.filter((t) => (regs[t]![it.iv] as number) < (regs[t]![it.hi] as number));
            if (!inLoop.length) break;
            this.exec(it.body, inLoop, regs, c);
            for (const t of inLoop) {
              const r = regs[t]!;
              for (let i = 0; i < n; i++) tmp[i] = r[it.body.yields[i]!];
              for (let i = 0; i < n; i++) r[it.iters[i]!] = tmp[i];
              (r[it.iv] as number) += r[it.step] as number;
            }
          }
          for (const t of act) {
            const r = regs[t]!;
            for (let i = 0; i < n; i++) r[it.results[i]!] = r[it.iters[i]!];
          }
          break;
        }
        case 'while': {
          for (const t of act) {
            const r = regs[t]!;
            for (let i = 0; i < it.beforeArgs.length; i++) r[it.beforeArgs[i]!] = r[it.inits[i]!];
          }
          let live = act;
          const [cond, ...vals] = it.before.yields;
          const tmp = new Array<unknown>(it.beforeArgs.length);
          while (live.length) {
            this.exec(it.before, live, regs, c);
            const next: number[] = [];
            for (const t of live) {
              const r = regs[t]!;
              for (let i = 0; i < vals.length; i++) r[it.results[i]!] = r[vals[i]!];
              if (r[cond!]) {
                for (let i = 0; i < it.afterArgs.length; i++) r[it.afterArgs[i]!] = r[vals[i]!];
                next.push(t);
              }
            }
            live = next;
            if (!live.length) break;
            this.exec(it.after, live, regs, c);
            for (const t of live) {
              const r = regs[t]!;
              for (let i = 0; i < tmp.length; i++) tmp[i] = r[it.after.yields[i]!];
              for (let i = 0; i < tmp.length; i++) r[it.beforeArgs[i]!] = tmp[i];
            }
          }
          break;
        }
      }
    }
  }

  /** A warp intrinsic over the block's arrived threads, through the generated code's runtime (rt.warp). */
  private warp(it: WarpItem, act: readonly number[], regs: Reg[], c: Ctx): void {
    const T = this.threads.length;
    let flags: Uint8Array | null = null;
    if (act.length !== T) {
      flags = new Uint8Array(T);
      for (const t of act) flags[t] = 1;
    }
    const operand = (slot: number): unknown[] => {
      const v = new Array<unknown>(T);
      for (const t of act) v[t] = regs[t]![slot];
      return v;
    };
    const args = it.args.map(operand);
    const out = new Array<unknown>(T);
    const block = blockIds(c.b);
    const w = c.rt.warp;
    try {
      if (it.call === 'shfl') w.shfl(it.site, flags, c.b.exited, block, args[0]!, args[1]!, args[2]!, out);
      else if (it.call === 'vote') {
        if (it.site.kind === 'active') w.vote(it.site, flags, c.b.exited, block, 0, true, out);
        else w.vote(it.site, flags, c.b.exited, block, args[0]!, args[1]!, out);
      } else if (it.call === 'redux') w.redux(it.site, flags, c.b.exited, block, args[0]!, args[1]!, out);
      else w.sync(it.site, flags, c.b.exited, block, args[0]!);
    } catch (e) {
      c.hooks?.warpFault?.(c.b, it.op, e as Error);
      throw e;
    }
    if (it.call === 'sync') {
      // __syncwarp orders the memory accesses of the lanes it joins (racecheck reads these counts).
      const ws = this.warpSize;
      const seen = new Set<number>();
      for (const t of act) seen.add(Math.floor(t / ws));
      for (const wi of seen) c.b.warpSyncs[wi]!++;
      return;
    }
    for (const t of act) regs[t]![it.out] = out[t];
  }
}

function blockIds(b: SimtBlock): number[] {
  return [b.bx, b.by, b.bz];
}

function threadIds(th: SimtThread): number[] {
  return [th.tx, th.ty, th.tz];
}

const programs = new WeakMap<KernelIR, Map<string, SimtProgram>>();

function programFor(ir: KernelIR, block: readonly [number, number, number], dyn: number): SimtProgram {
  let m = programs.get(ir);
  if (!m) programs.set(ir, (m = new Map()));
  const key = `${block.join(',')}|${dyn}`;
  let p = m.get(key);
  if (!p) m.set(key, (p = new SimtProgram(ir, block, dyn)));
  return p;
}
