/**
 * The CPU back end: IR → JavaScript for one kernel specialisation.
 *
 * The output is the body of `function (rt) { … return function run(L, pidStart, pidEnd) { … } }` (see compile.ts):
 * static typed arrays ("slots") for every materialised tile, allocated once and reused by every program, then a
 * loop over the programs of the range whose body is the kernel. Scalars are JS locals; scf ops are JS control flow
 * (loop-carried scalars are `let`s, loop-carried tiles live in one slot the loop owns); chains of elementwise ops are
 * fused into the loop nest of the op that consumes them (plan.ts has the rules), each value rounded exactly as the
 * tile language rounds it (Math.fround for f32, the f16 / bf16 helpers, integer wrapping with `| 0` and shifts),
 * broadcast operands read through strides, values that do not depend on the inner loops hoisted out of them.
 *
 * Slots: linear scan over the program in pre-order, by value lifetime (a value used inside a loop it was not defined
 * in lives to the loop's end). A value takes the slot of an operand that dies at its op when it reads each element
 * only where it writes it (elementwise, or a dot's accumulator); a loop's initial value, an if's yielded outer value
 * and a value yielded back into a loop take the loop's / if's slot when nothing else needs it then — so a K loop
 * accumulates into its slot in place, and branches do not copy. What a `dot` wrote is remembered by the WebAssembly
 * kernel (it skips copying an accumulator back in); any other write to such a slot tells it (`rt.dotForget`).
 */
import type { DType, TileDType } from '../../dtype/dtype';
import { BINARY_OPS, UNARY_OPS } from '../../kernel/elementwise';
import { sizeOf, stridesOf } from '../../kernel/shape';
import { type KernelIR, laneShape, type Op, type Region, type Value } from '../ir';
import { SCALAR_BINARY_JS, SCALAR_UNARY_JS } from '../scalar-math';
import {
  alignedCtx,
  type Ctx,
  childCtx,
  ctxKey,
  ELEMENTWISE,
  flatCoef,
  fusedOperands,
  identity,
  isTileValue,
  Plan,
  rootShape,
  tileDType,
  tileShape,
} from './plan';
import { castTo, kindOf } from './runtime';

export function generate(ir: KernelIR): string {
  if (ir.style !== 'tile') throw new Error(`codegen: ${ir.name} is a ${ir.style} kernel`);
  return new Generator(ir).source();
}

// ------------------------------------------------------------------------------------------------ expressions

export function literal(v: number | boolean): string {
  if (typeof v === 'boolean') return String(v);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '(-Infinity)';
  if (Object.is(v, -0)) return '(-0)';
  return v < 0 ? `(${v})` : String(v);
}

/** The number a literal expression stands for, or null. */
function numOf(e: string): number | null {
  const m = /^\(?(-?\d+(\.\d+)?(e[+-]?\d+)?)\)?$/.exec(e);
  return m ? Number(m[1]) : null;
}

/**
 * Index arithmetic the generator writes itself (block bounds, addresses), folded where operands are literals. Only for
 * values known to be finite integers (view offsets, shapes, strides and block positions have been checked), where
 * 0·x = 0 holds — V8 cannot fold it (x might be NaN), and an unfolded product keeps whole index chains in floats.
 */
function iadd(...terms: string[]): string {
  let c = 0;
  const rest: string[] = [];
  for (const t of terms) {
    const n = numOf(t);
    if (n !== null) c += n;
    else rest.push(t);
  }
  if (c !== 0 || rest.length === 0) rest.push(literal(c));
  return rest.join(' + ');
}

function imul(a: string, b: string): string {
  const x = numOf(a);
  const y = numOf(b);
  if (x !== null && y !== null) return literal(x * y + 0);
  if (x === 0 || y === 0) return '0';
  if (x === 1) return b;
  if (y === 1) return a;
  return `${paren(a)} * ${paren(b)}`;
}

const SIMPLE = /^([A-Za-z_$][\w$]*(\[[^[\]]*\])?|\d+(\.\d+)?(e[+-]?\d+)?|\(.*\))$/;

/** Wraps an expression in parentheses unless it is an identifier, a member read, a literal or already wrapped. */
function paren(e: string): string {
  if (SIMPLE.test(e) && balanced(e)) return e;
  return `(${e})`;
}

function balanced(e: string): boolean {
  if (!e.startsWith('(')) return true;
  let depth = 0;
  for (let i = 0; i < e.length; i++) {
    if (e[i] === '(') depth++;
    else if (e[i] === ')') {
      depth--;
      if (depth === 0 && i < e.length - 1) return false;
    }
  }
  return true;
}

/** Substitutes operands into an expression template of BINARY_OPS / UNARY_OPS (`a`, `b`). */
function template(t: string, a: string, b = ''): string {
  return t.replace(/\b[ab]\b/g, (m) => (m === 'a' ? paren(a) : paren(b)));
}

/** `e` as the value a tile of `dtype` holds after storing it (typed-array conversion + finishData). */
function roundTo(dtype: TileDType, e: string): string {
  switch (dtype) {
    case 'f32':
      return `Math.fround(${e})`;
    case 'f16':
      return `roundF16(${e})`;
    case 'bf16':
      return `roundBf16(${e})`;
    case 'fp8e4m3':
    case 'fp8e5m2':
      return `Math.fround(${e})`;
    case 'i32':
      return `${paren(e)} | 0`;
    case 'i16':
      return `(${paren(e)} << 16) >> 16`;
    case 'i8':
      return `(${paren(e)} << 24) >> 24`;
    case 'u8':
      return `${paren(e)} & 255`;
    case 'bool':
      return e;
  }
}

/** `castScalar(e, dtype)` as a tile of `dtype` holds it. */
function castScalarExpr(dtype: TileDType, e: string): string {
  switch (dtype) {
    case 'f32':
      return `Math.fround(${e})`;
    case 'f16':
      return `roundF16(${e})`;
    case 'bf16':
      return `roundBf16(${e})`;
    case 'fp8e4m3':
      return `castE4M3(${e})`;
    case 'fp8e5m2':
      return `castE5M2(${e})`;
    case 'i32':
      return `toI32(${e})`;
    case 'i16':
      return `toI16(${e})`;
    case 'i8':
      return `toI8(${e})`;
    case 'u8':
      return `toU8(${e})`;
    case 'bool':
      return `toBool(${e})`;
  }
}

/** `x.cast(to)` of a value held by a tile of dtype `from`. */
function castExpr(from: TileDType, to: TileDType, x: string): string {
  const fk = kindOf(from);
  const tk = kindOf(to);
  if (tk === 'bool') return `${paren(x)} !== 0 && ${paren(x)} === ${paren(x)} ? 1 : 0`;
  if (tk === 'float') {
    if (to === 'f32') return fk === 'float' ? x : `Math.fround(${x})`;
    return castScalarExpr(to, x);
  }
  if (fk === 'float') return castScalarExpr(to, x);
  switch (to) {
    case 'i32':
      return x;
    case 'i16':
      return `(${paren(x)} << 16) >> 16`;
    case 'i8':
      return `(${paren(x)} << 24) >> 24`;
    default:
      return `${paren(x)} & 255`;
  }
}

function decodeExpr(dtype: DType, read: string): string {
  switch (dtype) {
    case 'f16':
      return `F16[${read}]`;
    case 'bf16':
      return `decBf16(${read})`;
    case 'fp8e4m3':
      return `E4M3[${read}]`;
    case 'fp8e5m2':
      return `E5M2[${read}]`;
    default:
      return read;
  }
}

function encodeExpr(dtype: DType, v: string): string {
  switch (dtype) {
    case 'f16':
      return `encF16(${v})`;
    case 'bf16':
      return `encBf16(${v})`;
    case 'fp8e4m3':
      return `encE4M3(${v})`;
    case 'fp8e5m2':
      return `encE5M2(${v})`;
    default:
      return v;
  }
}

// --------------------------------------------------------------------------------------------------------- slots

interface Slot {
  name: string;
  kind: 'float' | 'int' | 'bool';
  size: number;
  /** Some dot writes it: other writes must tell the dot kernel (rt.dotForget). */
  dotOut: boolean;
  /** An Int32Array view is needed (bf16 block loads write bit patterns). */
  bits: boolean;
}

interface Active {
  slot: Slot;
  end: number;
  owner: Value | null;
}

const ARRAY_OF = { float: 'Float32Array', int: 'Int32Array', bool: 'Uint8Array' } as const;

/** Scalars of a block access, computed where the op stands. */
interface BlockInfo {
  lo: string[];
  hi: string[];
  base: string;
  strides: string[];
  buf: string;
  k: number;
  dtype: DType;
  block: readonly number[];
}

// ------------------------------------------------------------------------------------------------------ nests

interface NestDim {
  /** Static extent, or runtime bounds [lo, hi). */
  extent: number;
  lo?: string;
  hi?: string;
}

/**
 * One loop nest: statements by level (0: before the loops; l: inside loop l−1), values computed at the shallowest
 * level their indices allow, index arithmetic as running partial sums.
 */
class Nest {
  readonly pre: string[][];
  readonly post: string[][];
  private readonly memo = new Map<string, string>();
  private readonly partials = new Map<string, string>();
  /** Original dimension → nest loop (−1: size 1, dropped); merged dimensions share a loop. */
  readonly loopOf: number[];
  readonly loops: NestDim[];
  /** Set when a fused gather found an out-of-bounds lane (flag mode). */
  flag: string | null = null;
  /** Faulting gathers in this nest and whether they throw directly. */
  directFaults = true;

  constructor(
    readonly g: Generator,
    readonly dims: readonly NestDim[],
    coefs: readonly number[][],
    collapse: boolean,
    /** Dimensions [0, barrier) and [barrier, n) never merge (a reduction's kept and reduced loops). */
    barrier = -1,
  ) {
    this.loopOf = new Array<number>(dims.length).fill(-1);
    const loops: NestDim[] = [];
    const last: number[] = [];
    dims.forEach((d, i) => {
      if (d.lo === undefined && d.extent === 1) return;
      const prev = last.length ? last[last.length - 1]! : -1;
      const canMerge =
        collapse &&
        prev >= 0 &&
        d.lo === undefined &&
        dims[prev]!.lo === undefined &&
        !(barrier >= 0 && prev < barrier && i >= barrier) &&
        coefs.every((c) => c[prev] === c[i]! * d.extent);
      if (canMerge) {
        loops[loops.length - 1] = { extent: loops[loops.length - 1]!.extent * d.extent };
        last[last.length - 1] = i;
        // Earlier members of the merged loop now read through this dimension's coefficient.
        for (let j = 0; j < i; j++) if (this.loopOf[j] === loops.length - 1) this.loopOf[j] = -2 - (loops.length - 1);
        this.loopOf[i] = loops.length - 1;
      } else {
        loops.push({ ...d });
        last.push(i);
        this.loopOf[i] = loops.length - 1;
      }
    });
    this.loops = loops;
    this.pre = Array.from({ length: loops.length + 1 }, () => []);
    this.post = Array.from({ length: loops.length + 1 }, () => []);
  }

  /** Coefficients over nest loops from coefficients over original dimensions. */
  map(coef: readonly number[]): number[] {
    const out = new Array<number>(this.loops.length).fill(0);
    coef.forEach((c, i) => {
      const l = this.loopOf[i]!;
      if (l >= 0) out[l] = c;
    });
    return out;
  }

  /** Level a value indexed by `coef` (over original dims) is computed at: 1 + its deepest loop, 0 for none. */
  level(coef: readonly number[]): number {
    const m = this.map(coef);
    for (let l = m.length - 1; l >= 0; l--) if (m[l] !== 0) return l + 1;
    return 0;
  }

  iv(l: number): string {
    return `i${this.g.depth}_${l}`;
  }

  private term(l: number, c: number): string {
    return c === 1 ? this.iv(l) : `${this.iv(l)} * ${c}`;
  }

  /** Σ coef·i over loops < upTo, as a variable (null if zero). */
  private partial(m: readonly number[], upTo: number): string | null {
    let last = -1;
    for (let l = 0; l < upTo; l++) if (m[l] !== 0) last = l;
    if (last < 0) return null;
    const key = m.slice(0, last + 1).join(',');
    let name = this.partials.get(key);
    if (!name) {
      const before = this.partial(m, last);
      name = this.g.fresh('o');
      this.pre[last + 1]!.push(`const ${name} = ${before ? `${before} + ` : ''}${this.term(last, m[last]!)};`);
      this.partials.set(key, name);
    }
    return name;
  }

  /** The flat index `coef`·i as an expression valid at `level(coef)`. */
  index(coef: readonly number[]): string {
    const m = this.map(coef);
    let last = -1;
    for (let l = 0; l < m.length; l++) if (m[l] !== 0) last = l;
    if (last < 0) return '0';
    const before = this.partial(m, last);
    return `${before ? `${before} + ` : ''}${this.term(last, m[last]!)}`;
  }

  /** Registers a memoised value; returns its local (emitting `make` at `level` the first time). */
  local(key: string, level: number, make: (name: string) => string[]): string {
    let name = this.memo.get(key);
    if (!name) {
      name = this.g.fresh('t');
      this.pre[level]!.push(...make(name));
      this.memo.set(key, name);
    }
    return name;
  }

  render(out: string[], indent: string): void {
    const emit = (l: number, ind: string) => {
      for (const s of this.pre[l]!) out.push(ind + s);
      if (l < this.loops.length) {
        const d = this.loops[l]!;
        const v = this.iv(l);
        out.push(`${ind}for (let ${v} = ${d.lo ?? 0}; ${v} < ${d.hi ?? d.extent}; ${v}++) {`);
        emit(l + 1, `${ind}  `);
        out.push(`${ind}}`);
      }
      for (const s of this.post[l]!) out.push(ind + s);
    };
    emit(0, indent);
  }
}

// -------------------------------------------------------------------------------------------------- generator

class Generator {
  readonly plan: Plan;
  private readonly out: string[] = [];
  private indent = '    ';
  private readonly names = new Map<Value, string>();
  private readonly storage = new Map<Value, Slot>();
  private readonly slots: Slot[] = [];
  private readonly bufIndex = new Map<Value, number>();
  private readonly argRegion = new Map<Value, Region>();
  private readonly argOwner = new Map<Value, Op>();
  private readonly lastUse = new Map<Value, number>();
  private readonly aliasOf = new Map<Value, Value>();
  /** Leaves (materialised values) each root reads, with the flat coefficients they are read at. */
  private readonly leafReads = new Map<Op, Map<Value, Set<string>>>();
  private counter = 0;
  /** Nesting depth of loop nests being emitted (loop variables are unique per depth). */
  depth = 0;

  /** Reductions computed inside the nest that materialises their operand (key: the operand's op). */
  private readonly fusedReduce: Map<Op, Op>;

  constructor(readonly ir: KernelIR) {
    this.plan = new Plan(ir.body);
    this.fusedReduce = this.plan.fusedReductions();
    this.indexArgs(ir.body);
    let nb = 0;
    for (const p of ir.params) if (p.value?.type.kind === 'buffer') this.bufIndex.set(p.value, nb++);
    this.liveness();
    this.allocate(ir.body);
    const marks = (r: Region) => {
      for (const op of r.ops) {
        if (op.opcode === 'tile.dot' && !this.plan.dead.has(op)) this.slotOf(op.result).dotOut = true;
        for (const sub of op.regions) marks(sub);
      }
    };
    marks(ir.body);
  }

  fresh(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  private nameFor(v: Value, prefix = 'v'): string {
    const hint = v.hint ? v.hint.replace(/[^\w$]/g, '_').replace(/^(\d)/, '_$1') : prefix;
    return `${hint}_${v.id}`;
  }

  private indexArgs(r: Region): void {
    for (const op of r.ops) {
      for (const sub of op.regions) {
        for (const a of sub.args) {
          this.argRegion.set(a, sub);
          this.argOwner.set(a, op);
        }
        this.indexArgs(sub);
      }
    }
  }

  private posOfDef(v: Value): number {
    if (v.def) return this.plan.info.get(v.def)?.pos ?? -1;
    const owner = this.argOwner.get(v);
    return owner ? this.plan.info.get(owner)!.pos : -1;
  }

  /** The value whose slot holds `v` (following reshapes of materialised values). */
  private root(v: Value): Value {
    let r = v;
    for (let a = this.aliasOf.get(r); a; a = this.aliasOf.get(r)) r = a;
    return r;
  }

  private materialised(v: Value): boolean {
    if (!isTileValue(v)) return false;
    const d = v.def;
    return !d || !this.plan.inline.has(d);
  }

  // ------------------------------------------------------------------------------------------- liveness

  /** Walks a root's fused operand trees; calls `leaf` for every materialised value read, with its coefficients. */
  private walkRoot(root: Op, leaf: (v: Value, coef: number[]) => void): void {
    const rs = rootShape(root, ELEMENTWISE.has(root.opcode))!;
    const dims = rs.dims.length;
    const visit = (v: Value, ctx: Ctx, top: boolean) => {
      if (!isTileValue(v)) return;
      const n = v.def;
      if (!top && (!n || !this.plan.inline.has(n))) {
        leaf(v, flatCoef(tileShape(v), ctx, dims));
        return;
      }
      for (const u of fusedOperands(n!)) {
        const c = childCtx(n!, ctx, u, dims);
        if (c === null) throw new Error(`codegen: ${n!.opcode} cannot be fused in its context`);
        visit(u, c, false);
      }
    };
    for (const { value, ctx } of rs.operands) visit(value, ctx, value === root.result && root.results.length > 0);
  }

  private liveness(): void {
    const note = (v: Value, op: Op) => {
      const r = this.root(v);
      let p = this.plan.info.get(op)!.pos;
      // A use inside a loop that does not contain the definition keeps the value for the whole loop.
      const defPos = this.posOfDef(r);
      for (let a = this.plan.info.get(op)!.parent; a; a = this.plan.info.get(a)!.parent) {
        const ai = this.plan.info.get(a)!;
        if ((a.opcode === 'scf.for' || a.opcode === 'scf.while') && !(defPos >= ai.pos && defPos <= ai.end))
          p = Math.max(p, ai.end);
      }
      this.lastUse.set(r, Math.max(this.lastUse.get(r) ?? -1, p));
    };
    const walk = (r: Region) => {
      for (const op of r.ops) {
        if (this.plan.dead.has(op)) continue;
        // Reshapes of materialised values are views.
        if (op.opcode === 'tile.reshape' && !this.plan.inline.has(op) && this.materialised(op.operands[0]!)) {
          this.aliasOf.set(op.result, op.operands[0]!);
        }
        for (const sub of op.regions) walk(sub);
      }
    };
    walk(this.ir.body);
    const uses = (r: Region) => {
      for (const op of r.ops) {
        if (this.plan.dead.has(op) || this.plan.inline.has(op) || this.aliasOf.has(op.results[0]!)) {
          for (const sub of op.regions) uses(sub);
          continue;
        }
        if (rootShape(op, ELEMENTWISE.has(op.opcode))) {
          const reads = new Map<Value, Set<string>>();
          this.walkRoot(op, (v, coef) => {
            note(v, op);
            let s = reads.get(this.root(v));
            if (!s) reads.set(this.root(v), (s = new Set()));
            s.add(coef.join(','));
          });
          this.leafReads.set(op, reads);
        }
        for (const v of op.operands) if (this.materialised(v)) note(v, op);
        for (const sub of op.regions) uses(sub);
      }
    };
    uses(this.ir.body);
  }

  // ------------------------------------------------------------------------------------------ allocation

  private active: Active[] = [];
  /** An if result sharing the slot of a value one branch yields (the other branch must not clobber it early). */
  private readonly coalescedWith = new Map<Value, Value>();
  private readonly free = new Map<string, Slot[]>();
  /** A yielded value and the loop / if slot it should be computed in. */
  private readonly yieldInto = new Map<Value, { slot: Slot; arg: Value | null }>();

  private newSlot(kind: Slot['kind'], size: number): Slot {
    const key = `${kind}:${size}`;
    const l = this.free.get(key);
    if (l?.length) return l.pop()!;
    const s: Slot = { name: `S${this.slots.length}`, kind, size, dotOut: false, bits: false };
    this.slots.push(s);
    return s;
  }

  private expire(p: number): void {
    this.active = this.active.filter((a) => {
      if (a.end >= p) return true;
      const key = `${a.slot.kind}:${a.slot.size}`;
      let l = this.free.get(key);
      if (!l) this.free.set(key, (l = []));
      l.push(a.slot);
      return false;
    });
  }

  private take(v: Value, end: number): Slot {
    const s = this.newSlot(kindOf(tileDType(v)), sizeOf(tileShape(v)));
    this.active.push({ slot: s, end, owner: v });
    return s;
  }

  private end(v: Value, p: number): number {
    return this.lastUse.get(this.root(v)) ?? p;
  }

  /** True if `op` may write its result over `leaf`'s slot (it reads each element only where it writes it). */
  private inPlace(op: Op, leaf: Value): boolean {
    if (op.opcode === 'tile.dot') {
      const [a, b, acc] = op.operands;
      return !!acc && this.root(acc) === leaf && this.root(a!) !== leaf && this.root(b!) !== leaf;
    }
    if (!ELEMENTWISE.has(op.opcode) || op.opcode === 'tile.permute' || op.opcode === 'mem.load') return false;
    const reads = this.leafReads.get(op)?.get(leaf);
    if (reads?.size !== 1) return false;
    const shape = tileShape(op.result);
    const own = flatCoef(shape, identity(shape.length), shape.length).join(',');
    return [...reads][0] === own && sizeOf(tileShape(leaf)) === sizeOf(shape);
  }

  /** Tile operands an op reads (through its nest, or directly). */
  private readsOf(op: Op): Value[] {
    const r = this.leafReads.get(op);
    const direct = op.operands.filter((v) => this.materialised(v)).map((v) => this.root(v));
    return [...new Set([...(r ? r.keys() : []), ...direct])];
  }

  private allocate(r: Region): void {
    for (const op of r.ops) {
      if (this.plan.dead.has(op) || this.plan.inline.has(op)) continue;
      const p = this.plan.info.get(op)!.pos;
      this.expire(p);
      if (op.opcode === 'scf.for' || op.opcode === 'scf.while') {
        const le = this.plan.info.get(op)!.end;
        const inits = op.opcode === 'scf.for' ? op.operands.slice(3) : op.operands;
        const args = op.opcode === 'scf.for' ? op.regions[0]!.args.slice(1) : op.regions[0]!.args;
        const taken = new Set<Slot>();
        op.results.forEach((res, i) => {
          if (!isTileValue(res)) return;
          const end = Math.max(le, this.lastUse.get(res) ?? le);
          const init = this.root(inits[i]!);
          let slot: Slot | null = null;
          const act = this.active.find((a) => a.owner === init);
          if (act && (this.lastUse.get(init) ?? -1) <= p && !taken.has(act.slot)) {
            act.owner = res;
            act.end = end;
            slot = act.slot;
          }
          if (!slot) slot = this.take(res, end);
          taken.add(slot);
          this.storage.set(res, slot);
          for (const reg of op.regions) this.storage.set(reg.args[op.opcode === 'scf.for' ? i + 1 : i]!, slot);
          void args;
        });
        // Values yielded back into the loop's slots, computed in place when the argument is dead by then.
        const hint = (reg: Region, term: Op, offset: number, argRegion: Region) => {
          const seen = new Set<Value>();
          term.operands.slice(offset).forEach((y, i) => {
            const res = op.results[i]!;
            if (!isTileValue(res) || seen.has(y) || !y.def || this.plan.info.get(y.def)?.region !== reg) return;
            if (this.aliasOf.has(y) || this.plan.inline.has(y.def)) return;
            seen.add(y);
            const arg = argRegion.args[op.opcode === 'scf.for' && argRegion === op.regions[0] ? i + 1 : i]!;
            this.yieldInto.set(y, { slot: this.storage.get(res)!, arg });
          });
        };
        if (op.opcode === 'scf.for') {
          const body = op.regions[0]!;
          hint(body, body.ops[body.ops.length - 1]!, 0, body);
        } else {
          const [before, after] = op.regions as [Region, Region];
          hint(before, before.ops[before.ops.length - 1]!, 1, before);
          hint(after, after.ops[after.ops.length - 1]!, 0, after);
        }
        for (const reg of op.regions) this.allocate(reg);
        continue;
      }
      if (op.opcode === 'scf.if') {
        const info = this.plan.info.get(op)!;
        op.results.forEach((res, i) => {
          if (!isTileValue(res)) return;
          const end = this.lastUse.get(res) ?? p;
          // A branch yielding a value from outside that dies in this if: the result takes its slot (no copy), and
          // the other branch may compute its value in place.
          for (const reg of op.regions) {
            const y = reg.ops[reg.ops.length - 1]!.operands[i]!;
            if (y.def && this.plan.info.get(y.def)?.region === reg) continue;
            if (!this.materialised(y)) continue;
            const r = this.root(y);
            const act = this.active.find((a) => a.owner === r);
            if (!act || (this.lastUse.get(r) ?? -1) > info.end) continue;
            act.owner = res;
            act.end = end;
            this.storage.set(res, act.slot);
            this.coalescedWith.set(res, r);
            break;
          }
          if (!this.storage.has(res)) this.storage.set(res, this.take(res, end));
        });
        for (const reg of op.regions) {
          const term = reg.ops[reg.ops.length - 1]!;
          const seen = new Set<Value>();
          term.operands.forEach((y, i) => {
            const res = op.results[i]!;
            if (!isTileValue(res) || seen.has(y) || !y.def || this.plan.info.get(y.def)?.region !== reg) return;
            if (this.aliasOf.has(y) || this.plan.inline.has(y.def)) return;
            seen.add(y);
            this.yieldInto.set(y, { slot: this.storage.get(res)!, arg: this.coalescedWith.get(res) ?? null });
          });
          this.allocate(reg);
        }
        continue;
      }
      for (const sub of op.regions) this.allocate(sub);
      const red = this.fusedReduce.get(op);
      if (red) this.storage.set(red.result, this.take(red.result, this.end(red.result, p)));
      for (const res of op.results) {
        if (!isTileValue(res)) continue;
        if (this.aliasOf.has(res) || this.storage.has(res)) continue;
        const end = this.end(res, p);
        const y = this.yieldInto.get(res);
        if (y) {
          const argLast = y.arg ? (this.lastUse.get(y.arg) ?? -1) : -1;
          if (argLast < p || (argLast === p && this.inPlace(op, y.arg!))) {
            this.storage.set(res, y.slot);
            continue;
          }
        }
        let slot: Slot | null = null;
        for (const leaf of this.readsOf(op)) {
          if ((this.lastUse.get(leaf) ?? -1) !== p || !this.inPlace(op, leaf)) continue;
          const act = this.active.find((a) => a.owner === leaf);
          if (!act || act.slot.kind !== kindOf(tileDType(res)) || act.slot.size !== sizeOf(tileShape(res))) continue;
          act.owner = res;
          act.end = end;
          slot = act.slot;
          break;
        }
        this.storage.set(res, slot ?? this.take(res, end));
      }
    }
  }

  // ------------------------------------------------------------------------------------------- emission

  private line(s: string): void {
    this.out.push(this.indent + s);
  }

  slotOf(v: Value): Slot {
    const s = this.storage.get(this.root(v));
    if (!s) throw new Error(`codegen: %${v.id} has no storage`);
    return s;
  }

  /** A scalar value as an expression. */
  private scalar(v: Value): string {
    const n = this.names.get(v);
    if (n === undefined) {
      const c = v.def?.opcode === 'const' ? v.def.attrs.value : undefined;
      if (c !== undefined) return literal(c as number | boolean);
      throw new Error(`codegen: scalar %${v.id} is not defined here`);
    }
    return n;
  }

  private constOf(v: Value): number | boolean | undefined {
    return v.def?.opcode === 'const' ? (v.def.attrs.value as number | boolean) : undefined;
  }

  private pids(): string {
    return 'pid0, pid1, pid2';
  }

  source(): string {
    for (const p of this.ir.params) if (p.value) this.names.set(p.value, this.nameFor(p.value));
    const body: string[] = [];
    this.out.length = 0;
    this.indent = '    ';
    this.region(this.ir.body);
    body.push(...this.out);
    const head: string[] = [];
    head.push(`// ${this.ir.name} ${this.ir.key}`);
    head.push(`'use strict';`);
    head.push(
      'const { roundF16, roundBf16, castE4M3, castE5M2, toI32, toI16, toI8, toU8, toBool, F16, E4M3, E5M2, ' +
        'encF16, encBf16, encE4M3, encE5M2, decBf16, erf, rint } = rt;',
    );
    for (const s of this.slots) {
      head.push(`const ${s.name} = new ${ARRAY_OF[s.kind]}(${s.size});`);
      if (s.bits) head.push(`const ${s.name}b = new Int32Array(${s.name}.buffer);`);
    }
    const fn = this.ir.name.replace(/[^\w$]/g, '_');
    head.push(`return function ${fn}(L, pidStart, pidEnd) {`);
    head.push('  const g0 = L.grid[0], g1 = L.grid[1], g2 = L.grid[2];');
    let nb = 0;
    let ns = 0;
    let ni = 0;
    let nf = 0;
    let na = 0;
    head.push('  const SC = L.scalars, IN = L.ints, FL = L.floats;');
    for (const p of this.ir.params) {
      if (!p.value) continue;
      const name = this.names.get(p.value)!;
      if (p.value.type.kind === 'buffer') head.push(`  const ${name} = L.mem[${nb++}];`);
      else if (p.value.type.kind === 'array') head.push(`  const ${name} = L.arrays[${na++}];`);
      else if (p.value.type.kind === 'scalar' && p.value.type.s === 'float')
        head.push(`  const ${name} = FL !== undefined ? FL[${nf++}] : SC[${ns++}];`);
      else head.push(`  const ${name} = IN !== undefined ? IN[${ni++}] : SC[${ns++}];`);
    }
    for (const l of this.headLines) head.push(`  ${l}`);
    head.push('  void g2;');
    head.push('  for (let p = pidStart; p < pidEnd; p++) {');
    head.push('    const pid0 = p % g0, q = (p - pid0) / g0, pid1 = q % g1, pid2 = (q - pid1) / g1;');
    return [...head, ...body, '  }', '};', ''].join('\n');
  }

  private region(r: Region): void {
    for (const op of r.ops) this.op(op);
  }

  /** Writes `slot` by other means than a dot: keep the dot kernel from trusting a stale copy. */
  private wrote(slot: Slot): void {
    if (slot.dotOut) this.line(`rt.dotForget(${slot.name});`);
  }

  private copy(dst: Slot, src: Slot): void {
    if (dst === src) return;
    this.line(`${dst.name}.set(${src.name});`);
    this.wrote(dst);
  }

  private op(op: Op): void {
    if (this.plan.dead.has(op)) return;
    const a = op.attrs;
    const res = op.results[0];
    const def = (expr: string) => {
      const n = this.nameFor(res!);
      this.line(`const ${n} = ${expr};`);
      this.names.set(res!, n);
    };
    const s = (i: number) => this.scalar(op.operands[i]!);
    switch (op.opcode) {
      case 'const':
        this.names.set(res!, literal(a.value as number | boolean));
        return;
      case 's.binary': {
        const f = SCALAR_BINARY_JS[a.op as string];
        def(f ? `${f}(${s(0)}, ${s(1)})` : `${s(0)} ${a.op} ${s(1)}`);
        return;
      }
      case 's.unary': {
        const f = SCALAR_UNARY_JS[a.op as string];
        def(f ? `${f}(${s(0)})` : `${a.op}${s(0)}`);
        return;
      }
      case 's.select':
        def(`${s(0)} ? ${s(1)} : ${s(2)}`);
        return;
      case 'prog.id':
        this.names.set(res!, `pid${a.axis}`);
        return;
      case 'prog.num':
        this.names.set(res!, `g${a.axis}`);
        return;
      case 'arr.get':
        def(`${s(0)}[${s(1)}]`);
        return;
      case 'arr.len':
        def(`${s(0)}.length`);
        return;
      case 'buf.len':
        def(`${s(0)}.length`);
        return;
      case 'trap':
        this.line(
          `throw rt.trap(L, ${JSON.stringify(a.message)}, ${this.pids()}, ${JSON.stringify(a.name ?? 'Error')});`,
        );
        return;
      case 'scf.for':
        this.forLoop(op);
        return;
      case 'scf.while':
        this.whileLoop(op);
        return;
      case 'scf.if':
        this.ifOp(op);
        return;
      case 'scf.yield':
      case 'scf.condition':
        return; // handled by the parent op
      case 'mem.view':
        this.view(op);
        return;
      case 'mem.load_block':
        if (this.plan.inline.has(op))
          this.blockInfo.set(op, this.blockScalars(op, op.attrs.block as number[], 'loadBlock'));
        else this.loadBlock(op);
        return;
      case 'mem.store_block':
        this.storeBlock(op);
        return;
      case 'mem.store':
      case 'mem.atomic':
        this.scatter(op);
        return;
      case 'tile.dot':
        this.dot(op);
        return;
      case 'tile.reduce':
        this.reduce(op);
        return;
      case 'tile.cumsum':
        this.cumsum(op);
        return;
      case 'tile.sort': {
        const x = op.operands[0]!;
        const axis = a.axis as number;
        const shape = tileShape(x);
        const outer = sizeOf(shape.slice(0, axis));
        const inner = sizeOf(shape.slice(axis + 1));
        const out = this.slotOf(res!);
        this.line(
          `rt.sort(${this.slotOf(x).name}, ${out.name}, ${outer}, ${shape[axis]}, ${inner}, ${a.descending}, ${a.indices});`,
        );
        this.wrote(out);
        return;
      }
      default:
        break;
    }
    if (ELEMENTWISE.has(op.opcode)) {
      this.checks(op);
      if (this.plan.inline.has(op)) return;
      if (this.aliasOf.has(res!)) return;
      this.materialise(op);
      return;
    }
    throw new Error(`codegen: unsupported op ${op.opcode}`);
  }

  /** Runtime argument checks an op makes where it stands in program order (even when its values are fused). */
  private checks(op: Op): void {
    if (op.opcode === 'tile.arange') {
      const st = op.operands[0]!;
      if (this.constOf(st) === undefined) {
        this.line(
          `if (!Number.isInteger(${this.scalar(st)})) throw rt.arangeError(L, ${this.scalar(st)}, ${op.attrs.size}, ${this.pids()});`,
        );
      }
    }
    if (op.opcode === 'mem.load') this.offsetCheck(op.operands[1]!, 'load offsets');
  }

  private offsetCheck(off: Value, what: string): void {
    if (isTileValue(off) || this.constOf(off) !== undefined) return;
    const e = this.scalar(off);
    this.line(`if (!Number.isInteger(${e})) throw rt.offsetError(L, '${what}', ${e}, ${this.pids()});`);
  }

  // --------------------------------------------------------------------------------------- fused values

  /**
   * The value of `v` at the nest's current element in context `ctx`, as an expression: a fused op's local, a
   * materialised tile's read, or a scalar (unconverted; `operand` converts).
   */
  value(nest: Nest, v: Value, ctx: Ctx, top = false): string {
    const dims = nest.dims.length;
    const n = v.def;
    if (!top && (!n || !this.plan.inline.has(n))) {
      const slot = this.slotOf(v);
      return `${slot.name}[${nest.index(flatCoef(tileShape(v), ctx, dims))}]`;
    }
    const op = n!;
    const coef = flatCoef(tileShape(v), ctx, dims);
    const level = nest.level(coef);
    const key = `${v.id}:${ctxKey(ctx)}`;
    const rd = tileDType(v);
    const sub = (i: number) => {
      const u = op.operands[i]!;
      if (!isTileValue(u)) return this.scalarOperand(nest, u, (op.attrs.dtype as TileDType) ?? rd);
      const c = childCtx(op, ctx, u, dims);
      if (c === null) throw new Error(`codegen: ${op.opcode} cannot be fused in its context`);
      return this.value(nest, u, c);
    };
    switch (op.opcode) {
      case 'tile.reshape':
      case 'tile.broadcast':
      case 'tile.permute':
        return sub(0);
      case 'tile.full': {
        const val = op.operands[0]!;
        const c = this.constOf(val);
        if (c !== undefined) return literal(castTo(c as number, rd));
        return nest.local(key, 0, (t) => [`const ${t} = ${castScalarExpr(rd, this.scalar(val))};`]);
      }
      case 'tile.arange': {
        const idx = nest.index(coef);
        return nest.local(key, level, (t) => [`const ${t} = (${this.scalar(op.operands[0]!)} + ${idx}) | 0;`]);
      }
      case 'tile.binary': {
        const cd = op.attrs.dtype as TileDType;
        const x = sub(0);
        const y = sub(1);
        const t = (BINARY_OPS as unknown as Record<string, Record<string, string>>)[op.attrs.op as string]![
          kindOf(cd)
        ]!;
        return nest.local(key, level, (l) => [`const ${l} = ${roundTo(rd, template(t, x, y))};`]);
      }
      case 'tile.unary': {
        const cd = op.attrs.dtype as TileDType;
        const x = sub(0);
        const t = (UNARY_OPS as unknown as Record<string, Record<string, string>>)[op.attrs.op as string]![kindOf(cd)]!;
        return nest.local(key, level, (l) => [`const ${l} = ${roundTo(rd, template(t, x))};`]);
      }
      case 'tile.where': {
        const c = sub(0);
        const x = sub(1);
        const y = sub(2);
        return nest.local(key, level, (l) => [`const ${l} = ${paren(c)} ? ${x} : ${y};`]);
      }
      case 'tile.cast': {
        const x = sub(0);
        const from = tileDType(op.operands[0]!);
        return nest.local(key, level, (l) => [`const ${l} = ${castExpr(from, rd, x)};`]);
      }
      case 'mem.load':
        return this.gatherValue(nest, op, ctx, key, level);
      case 'mem.load_block':
        return this.blockValue(nest, op, ctx, key, level);
      default:
        throw new Error(`codegen: cannot fuse ${op.opcode}`);
    }
  }

  /** A scalar operand of a tile op, converted to the op's dtype (`castScalar`), computed before the nest. */
  private scalarOperand(nest: Nest, v: Value, dtype: TileDType): string {
    const c = this.constOf(v);
    if (c !== undefined) return literal(castTo(c as number, dtype));
    return nest.local(`s${v.id}:${dtype}`, 0, (t) => [`const ${t} = ${castScalarExpr(dtype, this.scalar(v))};`]);
  }

  /** Offsets of a gather / scatter lane: an int tile's value, or an integer scalar wrapped as Int32Array.of does. */
  private offsetOperand(nest: Nest, off: Value, ctx: Ctx | null): string {
    if (!isTileValue(off)) {
      const c = this.constOf(off);
      if (c !== undefined) return literal((c as number) | 0);
      return nest.local(`off${off.id}`, 0, (t) => [`const ${t} = ${this.scalar(off)} | 0;`]);
    }
    return this.value(nest, off, ctx!);
  }

  private gatherValue(nest: Nest, op: Op, ctx: Ctx, key: string, level: number): string {
    const k = this.bufIndex.get(op.operands[0]!)!;
    const buf = this.scalar(op.operands[0]!);
    const dtype = tileDType(op.result) as DType;
    const off = op.operands[1]!;
    const o = this.offsetOperand(nest, off, isTileValue(off) ? childCtx(op, ctx, off, nest.dims.length) : null);
    const m = op.attrs.masked
      ? this.value(nest, op.operands[2]!, childCtx(op, ctx, op.operands[2]!, nest.dims.length)!)
      : null;
    const other = op.attrs.other as number;
    const otherLit = literal(kindOf(dtype) === 'float' ? Math.fround(other) : other | 0);
    const flag = nest.flag;
    // A typed array read outside it gives undefined (and the in-bounds path of optimised code folds the test away):
    // the read itself is the bounds check.
    return nest.local(key, level, (t) => {
      const bad = flag ? `${flag} = 1;` : `throw rt.fault(L, 'load', ${k}, ${o}, ${this.pids()});`;
      const decoded = decodeExpr(dtype, 'x') !== 'x';
      const raw = decoded ? `${t}r` : t;
      const lines = [
        m === null
          ? `const ${raw} = ${buf}[${o}];`
          : `const ${raw} = ${paren(m)} ? ${buf}[${o}] : ${decoded ? 0 : otherLit};`,
        `if (${raw} === undefined) ${bad}`,
      ];
      if (decoded) {
        const dec = decodeExpr(dtype, raw);
        lines.push(m === null ? `const ${t} = ${dec};` : `const ${t} = ${paren(m)} ? ${dec} : ${otherLit};`);
      }
      return lines;
    });
  }

  /** Collects the flat coefficients of everything a root's nest reads (to decide which loops merge). */
  private coefsOf(root: Op): number[][] {
    const out: number[][] = [];
    const rs = rootShape(root, ELEMENTWISE.has(root.opcode))!;
    const dims = rs.dims.length;
    const visit = (v: Value, ctx: Ctx, top: boolean) => {
      if (!isTileValue(v)) return;
      out.push(flatCoef(tileShape(v), ctx, dims));
      const n = v.def;
      if (!top && (!n || !this.plan.inline.has(n))) return;
      for (const u of fusedOperands(n!)) {
        const c = childCtx(n!, ctx, u, dims);
        if (c) visit(u, c, false);
      }
    };
    for (const { value, ctx } of rs.operands) visit(value, ctx, value === root.result && root.results.length > 0);
    return out;
  }

  /** Sets up flag mode when a nest's gathers cannot raise their faults in program order as they go. */
  private gatherMode(nest: Nest, root: Op, ownFault: boolean, rowMajor: boolean): void {
    const gathers = this.plan.gathersOf(root);
    const faulting = gathers.length + (ownFault ? 1 : 0);
    if (faulting > 1 || (faulting === 1 && !rowMajor && gathers.length > 0)) {
      nest.flag = this.fresh('bad');
      nest.directFaults = false;
    }
  }

  /**
   * After a nest in flag mode found a bad lane: checks each faulting gather's lanes again, in program order, with its
   * own loop nest, and throws the first fault (the one the kernel raises first).
   */
  private faultReplay(flag: string, root: Op, own: { op: Op; kind: string } | null): void {
    const gathers: { op: Op; kind: string }[] = this.plan.gathersOf(root).map((g) => ({ op: g, kind: 'load' }));
    if (own) gathers.push(own);
    this.line(`if (${flag}) {`);
    const saved = this.indent;
    this.indent += '  ';
    for (const { op: g, kind } of gathers) {
      const shape = laneShape(g);
      this.depth++;
      const nest = new Nest(
        this,
        shape.map((e) => ({ extent: e })),
        [],
        false,
      );
      const k = this.bufIndex.get(g.operands[0]!)!;
      const buf = this.scalar(g.operands[0]!);
      const offV = g.operands[1]!;
      const o = this.offsetOperand(nest, offV, isTileValue(offV) ? alignedCtx(tileShape(offV), shape) : null);
      const maskIdx = g.opcode === 'mem.load' ? 2 : 3;
      const mv = g.operands[maskIdx];
      const m = g.attrs.masked ? this.value(nest, mv!, alignedCtx(tileShape(mv!), shape)) : null;
      const body = `if (${m ? `${m} && ` : ''}(${o} >>> 0) >= ${buf}.length) throw rt.fault(L, '${kind}', ${k}, ${o}, ${this.pids()});`;
      nest.pre[nest.loops.length]!.push(body);
      nest.render(this.out, this.indent);
      this.depth--;
    }
    this.indent = saved;
    this.line('}');
  }

  /** A root whose nest materialises an elementwise value (or a gather) into its slot. */
  private materialise(op: Op): void {
    const res = op.result;
    const slot = this.slotOf(res);
    if (op.opcode === 'tile.full') {
      const v = op.operands[0]!;
      const c = this.constOf(v);
      const dtype = tileDType(res);
      this.line(
        `${slot.name}.fill(${c !== undefined ? literal(castTo(c as number, dtype)) : castScalarExpr(dtype, this.scalar(v))});`,
      );
      this.wrote(slot);
      return;
    }
    const shape = tileShape(res);
    this.depth++;
    const coefs = this.coefsOf(op);
    const red = this.fusedReduce.get(op);
    const raxis = red ? ((red.attrs.axis as number | null) ?? 0) : -1;
    const outCoef = red ? this.outCoef(shape, (d) => d < raxis) : null;
    if (outCoef) coefs.push(outCoef);
    const nest = new Nest(
      this,
      shape.map((e) => ({ extent: e })),
      coefs,
      !this.fusesBlocks(op),
      raxis,
    );
    const ctx = identity(shape.length);
    const own = op.opcode === 'mem.load';
    this.gatherMode(nest, op, own, true);
    const value = this.value(nest, res, ctx, true);
    const idx = nest.index(flatCoef(shape, ctx, shape.length));
    nest.pre[nest.loops.length]!.push(`${slot.name}[${idx}] = ${value};`);
    // A second output: the reduction of the values just stored (each is already what the tile holds).
    if (red) this.accumulate(nest, red, value, raxis, outCoef!);
    if (nest.flag) this.line(`let ${nest.flag} = 0;`);
    nest.render(this.out, this.indent);
    this.depth--;
    if (nest.flag) this.faultReplay(nest.flag, op, own ? { op, kind: 'load' } : null);
    this.wrote(slot);
    if (red) this.wrote(this.slotOf(red.result));
  }

  // ------------------------------------------------------------------------------------------- reduce

  private reduce(op: Op): void {
    if ([...this.fusedReduce.values()].includes(op)) return; // computed with its operand
    const x = op.operands[0]!;
    const shape = tileShape(x);
    const rs = rootShape(op, false)!;
    const axis = op.attrs.axis as number | null;
    const kept = axis === null ? 0 : shape.length - 1;
    this.depth++;
    const coefs = this.coefsOf(op);
    const outCoef = this.outCoef(rs.dims, (d) => d < kept);
    coefs.push(outCoef);
    const nest = new Nest(
      this,
      rs.dims.map((e) => ({ extent: e })),
      coefs,
      !this.fusesBlocks(op),
      kept,
    );
    this.gatherMode(nest, op, false, rs.rowMajor);
    const v = this.value(nest, x, rs.operands[0]!.ctx);
    this.accumulate(nest, op, v, kept, outCoef);
    if (nest.flag) this.line(`let ${nest.flag} = 0;`);
    nest.render(this.out, this.indent);
    this.depth--;
    if (nest.flag) this.faultReplay(nest.flag, op, null);
    this.wrote(this.slotOf(op.result));
  }

  /** A reduction's output index over a nest's dimensions: row-major over the kept ones. */
  private outCoef(dims: readonly number[], keptDim: (d: number) => boolean): number[] {
    const keptExt = dims.filter((_, d) => keptDim(d));
    const st = stridesOf(keptExt);
    let k = 0;
    return dims.map((_, d) => (keptDim(d) ? st[k++]! : 0));
  }

  /**
   * Accumulates `v` (the element at the nest's innermost level) into reduction `op`: the accumulator starts before
   * the reduced loops (the nest's dimensions from `kept` on), and is rounded into the output after them.
   */
  private accumulate(nest: Nest, op: Op, value: string, kept: number, outCoef: number[]): void {
    const kind = op.attrs.kind as string;
    let v = value;
    if (!/^[\w$]+$/.test(v)) {
      v = this.fresh('t');
      nest.pre[nest.loops.length]!.push(`const ${v} = ${value};`);
    }
    const rd = tileDType(op.result);
    const out = this.slotOf(op.result);
    // Level of the first reduced loop: kept loops that survived (size-1 loops are dropped, merged ones share one).
    const lv = new Set(nest.loopOf.slice(0, kept).filter((l) => l >= 0)).size;
    const inner = nest.loops.length;
    const acc = this.fresh('acc');
    const oi = nest.index(outCoef);
    if (kind === 'sum') {
      nest.pre[lv]!.push(`let ${acc} = 0;`);
      nest.pre[inner]!.push(`${acc} += ${v};`);
      nest.post[lv]!.push(`${out.name}[${oi}] = ${roundTo(rd, acc)};`);
      return;
    }
    const k = this.fresh('k');
    const bi = this.fresh('bi');
    const cmp = kind === 'max' || kind === 'argmax' ? '>' : '<';
    nest.pre[lv]!.push(`let ${acc} = 0, ${bi} = 0, ${k} = 0;`);
    nest.pre[inner]!.push(
      `if (${k} === 0) ${acc} = ${v}; else if (${acc} === ${acc} && (${v} !== ${v} || ${v} ${cmp} ${acc})) { ${acc} = ${v}; ${bi} = ${k}; }`,
      `${k}++;`,
    );
    nest.post[lv]!.push(`${out.name}[${oi}] = ${kind === 'max' || kind === 'min' ? roundTo(rd, acc) : bi};`);
  }

  private cumsum(op: Op): void {
    const x = op.operands[0]!;
    const shape = tileShape(x);
    const axis = op.attrs.axis as number;
    const outer = sizeOf(shape.slice(0, axis));
    const n = shape[axis]!;
    const inner = sizeOf(shape.slice(axis + 1));
    const rd = tileDType(op.result);
    const src = this.slotOf(x).name;
    const out = this.slotOf(op.result);
    const [o, j, i, k, acc] = ['o', 'j', 'i', 'k', 's'].map((x) => this.fresh(x)) as [
      string,
      string,
      string,
      string,
      string,
    ];
    this.line(`for (let ${o} = 0; ${o} < ${outer}; ${o}++) {`);
    this.line(`  for (let ${j} = 0; ${j} < ${inner}; ${j}++) {`);
    this.line(`    let ${acc} = 0;`);
    this.line(`    for (let ${i} = 0, ${k} = ${o} * ${n * inner} + ${j}; ${i} < ${n}; ${i}++, ${k} += ${inner}) {`);
    this.line(`      ${acc} += ${src}[${k}];`);
    this.line(`      ${out.name}[${k}] = ${roundTo(rd, acc)};`);
    this.line('    }');
    this.line('  }');
    this.line('}');
    this.wrote(out);
  }

  // ---------------------------------------------------------------------------------------------- dot

  private tf32Scratch = new Map<Value, Slot>();

  private dot(op: Op): void {
    const [a, b, acc] = op.operands as [Value, Value, Value | undefined];
    const [M, K] = tileShape(a) as [number, number];
    const N = tileShape(b)[1]!;
    const out = this.slotOf(op.result);
    let an = this.slotOf(a).name;
    let bn = this.slotOf(b).name;
    if (op.attrs.precision === 'tf32' && tileDType(a) === 'f32') {
      const ta = this.scratch(a);
      const tb = this.scratch(b);
      this.line(`rt.tf32(${an}, ${ta.name}, ${M * K});`);
      this.line(`rt.tf32(${bn}, ${tb.name}, ${K * N});`);
      an = ta.name;
      bn = tb.name;
    }
    const fn = tileDType(op.result) === 'i32' ? 'rt.dotI32' : 'rt.dotF32';
    this.line(`${fn}(${an}, ${bn}, ${out.name}, ${M}, ${N}, ${K}, ${acc ? this.slotOf(acc).name : 'null'});`);
  }

  private scratch(v: Value): Slot {
    let s = this.tf32Scratch.get(v);
    if (!s) {
      s = { name: `S${this.slots.length}`, kind: 'float', size: sizeOf(tileShape(v)), dotOut: false, bits: false };
      this.slots.push(s);
      this.tf32Scratch.set(v, s);
    }
    return s;
  }

  // ------------------------------------------------------------------------------------------- memory

  private view(op: Op): void {
    const k = this.bufIndex.get(op.operands[0]!)!;
    const buf = this.scalar(op.operands[0]!);
    const r = op.attrs.rank as number;
    const vals = op.operands.slice(1);
    const off = vals[0]!;
    const shape = vals.slice(1, 1 + r);
    const strides = vals.slice(1 + r, 1 + 2 * r);
    const conds: string[] = [];
    for (const v of [off, ...shape, ...strides]) {
      const c = this.constOf(v);
      if (c !== undefined) {
        if (!(Number.isInteger(c) && (c as number) >= 0)) conds.push('true');
        continue;
      }
      conds.push(`!Number.isInteger(${this.scalar(v)}) || ${this.scalar(v)} < 0`);
    }
    const last = [
      this.scalar(off),
      ...shape.map((d, i) => `(${this.scalar(d)} - 1) * ${this.scalar(strides[i]!)}`),
    ].join(' + ');
    const nonEmpty = shape.map((d) => `${this.scalar(d)} > 0`).join(' && ');
    conds.push(`(${nonEmpty} && ${last} >= ${buf}.length)`);
    this.line(
      `if (${conds.join(' || ')}) rt.viewError(L, ${k}, ${this.scalar(off)}, [${shape.map((v) => this.scalar(v)).join(', ')}], [${strides
        .map((v) => this.scalar(v))
        .join(', ')}], ${this.pids()});`,
    );
  }

  /** Operands of a block op: buffer, offset, shape, strides, at (and the value for a store). */
  private blockArgs(op: Op) {
    const r = op.attrs.rank as number;
    const vals = op.operands.slice(1);
    return {
      k: this.bufIndex.get(op.operands[0]!)!,
      buf: this.scalar(op.operands[0]!),
      dtype: (op.operands[0]!.type as { dtype: DType }).dtype,
      off: this.scalar(vals[0]!),
      shape: vals.slice(1, 1 + r).map((v) => this.scalar(v)),
      strides: vals.slice(1 + r, 1 + 2 * r).map((v) => this.scalar(v)),
      at: vals.slice(1 + 2 * r, 1 + 3 * r),
      r,
    };
  }

  /** A block op's scalars where it stands: the offset check, clipped bounds per axis, and the base address. */
  private blockScalars(op: Op, block: readonly number[], what: string): BlockInfo {
    const { buf, off, shape, strides, at, r, k, dtype } = this.blockArgs(op);
    const atE = at.map((v) => this.scalar(v));
    const nonConst = at.filter((v) => this.constOf(v) === undefined);
    if (nonConst.length) {
      this.line(
        `if (${nonConst.map((v) => `!Number.isInteger(${this.scalar(v)})`).join(' || ')}) rt.blockAtError(L, '${what}', [${atE.join(', ')}], ${this.pids()});`,
      );
    }
    const lo: string[] = [];
    const hi: string[] = [];
    for (let d = 0; d < r; d++) {
      const l = this.fresh('lo');
      const h = this.fresh('hi');
      const a = numOf(atE[d]!);
      const sh = numOf(shape[d]!);
      const loE = a !== null ? literal(Math.max(0, -a) + 0) : `Math.max(0, -${paren(atE[d]!)})`;
      const hiE =
        a !== null && sh !== null
          ? literal(Math.min(block[d]!, sh - a))
          : a === 0
            ? `Math.min(${block[d]}, ${shape[d]})`
            : `Math.min(${block[d]}, ${shape[d]} - ${paren(atE[d]!)})`;
      // Literal bounds stay literals (they fold into the loops and tests); others become locals.
      if (numOf(loE) !== null) lo.push(loE);
      else {
        this.line(`const ${l} = ${loE};`);
        lo.push(l);
      }
      if (numOf(hiE) !== null) hi.push(hiE);
      else {
        this.line(`const ${h} = ${hiE};`);
        hi.push(h);
      }
    }
    const baseE = iadd(off, ...atE.map((e, d) => imul(e, strides[d]!)));
    let base = baseE;
    if (numOf(baseE) === null && !/^[\w$]+$/.test(baseE)) {
      base = this.fresh('base');
      this.line(`const ${base} = ${baseE};`);
    }
    return { lo, hi, base, strides, buf, k, dtype, block };
  }

  /** Clipped loop nest over a block and the storage address of its (row-major) element. */
  private blockNest(op: Op, block: readonly number[], what: string, coefs: number[][]) {
    const info = this.blockScalars(op, block, what);
    const { lo, hi, base, strides } = info;
    const r = block.length;
    this.depth++;
    const nest = new Nest(
      this,
      block.map((e, d) => ({ extent: e, lo: lo[d], hi: hi[d] })),
      coefs,
      false,
    );
    // Storage address: base + Σ i_d · stride_d, as running sums per loop.
    let addr = base;
    for (let d = 0; d < r; d++) {
      const term = imul(nest.iv(d), strides[d]!);
      if (d === r - 1) addr = iadd(addr, term);
      else if (term !== '0') {
        const a = this.fresh('a');
        nest.pre[d + 1]!.push(`const ${a} = ${iadd(addr, term)};`);
        addr = a;
      }
    }
    return { nest, addr, ...info };
  }

  private readonly blockInfo = new Map<Op, BlockInfo>();

  /**
   * A fused block load's element: inside the view (tested axis by axis, each test and address term at the loop level
   * its axis varies in) the decoded element, else the padding as the tile's storage holds it.
   */
  private blockValue(nest: Nest, op: Op, ctx: Ctx, key: string, level: number): string {
    const b = this.blockInfo.get(op)!;
    const pad = op.attrs.padding as number;
    const padLit = literal(kindOf(b.dtype) === 'float' ? Math.fround(pad) : pad | 0);
    const axes = b.block.map((size, d) => {
      // A size-1 axis sits at coordinate 0 (as its flat index coefficient, 0, says).
      const dim = size === 1 ? -1 : ctx.axes![d]!;
      const loop = dim >= 0 ? nest.loopOf[dim]! : -1;
      return { d, loop, c: loop >= 0 ? nest.iv(loop) : '0' };
    });
    const levels = [...new Set(axes.map((a) => a.loop))].sort((x, y) => x - y);
    let test = '';
    let addr = b.base;
    levels.forEach((lv, i) => {
      for (const a of axes.filter((x) => x.loop === lv)) {
        const lo = b.lo[a.d]!;
        const hi = b.hi[a.d]!;
        const parts: string[] = [];
        // Loop coordinates are ≥ 0: a lower bound of 0 needs no test.
        if (numOf(lo) !== 0) parts.push(`${a.c} >= ${lo}`);
        const c = numOf(a.c);
        const h = numOf(hi);
        // A literal bound no coordinate reaches (the loop's extent is within it) needs no test either.
        const reach = a.loop >= 0 && nest.loops[a.loop]!.lo === undefined ? nest.loops[a.loop]!.extent : null;
        const always = h !== null && ((c !== null && c < h) || (reach !== null && reach <= h));
        if (!always) parts.push(`${a.c} < ${hi}`);
        for (const pt of parts) test += `${test ? ' && ' : ''}${pt}`;
        if (a.c !== '0') addr = iadd(addr, imul(a.c, b.strides[a.d]!));
      }
      if (i < levels.length - 1) {
        const at = lv + 1;
        const tk = `${key}:t${lv}`;
        const t0 = test;
        const a0 = addr;
        if (t0) test = nest.local(tk, at, (t) => [`const ${t} = ${t0};`]);
        if (!/^[\w$]+$/.test(a0)) addr = nest.local(`${key}:a${lv}`, at, (t) => [`const ${t} = ${a0};`]);
      }
    });
    const read = decodeExpr(b.dtype, `${b.buf}[${addr}]`);
    return nest.local(key, level, (t) => [`const ${t} = ${test || 'true'} ? ${read} : ${padLit};`]);
  }

  private loadBlock(op: Op): void {
    const block = op.attrs.block as number[];
    const slot = this.slotOf(op.result);
    const { nest, addr, lo, hi, buf, dtype } = this.blockNest(op, block, 'loadBlock', []);
    const partial = block.map((b, d) => `${hi[d]} - ${lo[d]} < ${b}`).join(' || ');
    const pad = op.attrs.padding as number;
    this.line(
      `if (${partial || 'false'}) ${slot.name}.fill(${literal(kindOf(dtype) === 'float' ? Math.fround(pad) : pad | 0)});`,
    );
    const idx = nest.index(stridesOf(block));
    const read = `${buf}[${addr}]`;
    if (dtype === 'bf16') {
      slot.bits = true;
      nest.pre[nest.loops.length]!.push(`${slot.name}b[${idx}] = ${read} << 16;`);
    } else nest.pre[nest.loops.length]!.push(`${slot.name}[${idx}] = ${decodeExpr(dtype, read)};`);
    nest.render(this.out, this.indent);
    this.depth--;
    this.wrote(slot);
  }

  private storeBlock(op: Op): void {
    this.guarded(op, () => {
      const v = op.operands[op.operands.length - 1]!;
      const block = tileShape(v);
      const coefs = this.coefsOf(op);
      const { nest, addr, buf, dtype } = this.blockNest(op, block, 'storeBlock', coefs);
      const val = this.value(nest, v, identity(block.length));
      nest.pre[nest.loops.length]!.push(`${buf}[${addr}] = ${encodeExpr(dtype, val)};`);
      nest.render(this.out, this.indent);
      this.depth--;
    });
  }

  /** Scatters and atomics: one pass over the lanes, checking each active lane, then writing it. */
  private scatter(op: Op): void {
    const atomic = op.opcode === 'mem.atomic';
    const kind = op.attrs.kind as string;
    const what = atomic ? `atomic${kind[0]!.toUpperCase()}${kind.slice(1)}` : 'store';
    this.offsetCheck(op.operands[1]!, `${what} offsets`);
    this.guarded(op, () => this.scatterNest(op, what));
  }

  private scatterNest(op: Op, what: string): void {
    const atomic = op.opcode === 'mem.atomic';
    const k = this.bufIndex.get(op.operands[0]!)!;
    const buf = this.scalar(op.operands[0]!);
    const dtype = (op.operands[0]!.type as { dtype: DType }).dtype;
    const kind = op.attrs.kind as string;
    const shape = laneShape(op);
    this.depth++;
    const coefs = this.coefsOf(op);
    const lanes = identity(shape.length);
    const laneCoef = flatCoef(shape, lanes, shape.length);
    coefs.push(laneCoef);
    const nest = new Nest(
      this,
      shape.map((e) => ({ extent: e })),
      coefs,
      !this.fusesBlocks(op),
    );
    this.gatherMode(nest, op, true, true);
    const ctxOf = (u: Value) => alignedCtx(tileShape(u), shape);
    const offV = op.operands[1]!;
    const o = this.offsetOperand(nest, offV, isTileValue(offV) ? ctxOf(offV) : null);
    const valV = op.operands[2]!;
    const val = isTileValue(valV) ? this.value(nest, valV, ctxOf(valV)) : this.scalarOperand(nest, valV, dtype);
    const m = op.attrs.masked ? this.value(nest, op.operands[3]!, ctxOf(op.operands[3]!)) : null;
    const body: string[] = [];
    const ov = this.fresh('o');
    body.push(`const ${ov} = ${o};`);
    const bad = nest.flag ? `${nest.flag} = 1;` : `throw rt.fault(L, '${what}', ${k}, ${ov}, ${this.pids()});`;
    body.push(`if ((${ov} >>> 0) >= ${buf}.length) ${bad}`);
    let masked = '';
    if (!atomic) body.push(`${buf}[${ov}] = ${encodeExpr(dtype, val)};`);
    else {
      const old = this.slotOf(op.result);
      const prev = this.fresh('prev');
      const li = nest.index(laneCoef);
      body.push(`const ${prev} = ${decodeExpr(dtype, `${buf}[${ov}]`)};`);
      body.push(`${old.name}[${li}] = ${prev};`);
      const next =
        kind === 'add'
          ? dtype === 'f32'
            ? `Math.fround(${prev} + ${val})`
            : dtype === 'i32'
              ? `(${prev} + ${val}) | 0`
              : `${prev} + ${val}`
          : kind === 'max'
            ? `${val} > ${prev} ? ${val} : ${prev}`
            : `${val} < ${prev} ? ${val} : ${prev}`;
      body.push(`${buf}[${ov}] = ${encodeExpr(dtype, next)};`);
      masked = ` else ${old.name}[${li}] = 0;`;
    }
    const inner = nest.pre[nest.loops.length]!;
    if (m) inner.push(`if (${m}) {`, ...body.map((b) => `  ${b}`), `}${masked}`);
    else inner.push(...body);
    if (nest.flag) this.line(`let ${nest.flag} = 0;`);
    nest.render(this.out, this.indent);
    this.depth--;
    if (nest.flag) this.faultReplay(nest.flag, op, { op, kind: what });
    if (atomic) this.wrote(this.slotOf(op.result));
  }

  /** True when a root's nest reads a fused block load (its loops then keep one axis each). */
  private fusesBlocks(root: Op): boolean {
    for (const n of this.plan.nodesOf.get(root) ?? [])
      if (n.opcode === 'mem.load_block' && this.plan.inline.has(n)) return true;
    return false;
  }

  private readonly scratchOf = new Map<Op, Slot>();
  private readonly headLines: string[] = [];

  /**
   * Emits a root that writes memory and reads memory through fused loads: the fused nest when the buffers cannot
   * overlap (decided once per call of the program function), else the loads materialised first, in program order.
   */
  private guarded(op: Op, emit: () => void): void {
    const reads = [...(this.plan.guards.get(op) ?? [])].sort(
      (a, b) => this.plan.info.get(a)!.pos - this.plan.info.get(b)!.pos,
    );
    if (!reads.length) {
      emit();
      return;
    }
    const dst = this.scalar(op.operands[0]!);
    const srcs = [...new Set(reads.map((r) => this.scalar(r.operands[0]!)))];
    const flag = this.fresh('apart');
    this.headLines.push(
      `const ${flag} = ${srcs.map((b) => (b === dst ? 'false' : `rt.disjoint(${dst}, ${b})`)).join(' && ')};`,
    );
    const saved = this.indent;
    this.line(`if (${flag}) {`);
    this.indent = `${saved}  `;
    emit();
    this.indent = saved;
    this.line('} else {');
    this.indent = `${saved}  `;
    for (const r of reads) {
      this.plan.inline.delete(r);
      let slot = this.scratchOf.get(r);
      if (!slot) {
        const res = r.result;
        slot = {
          name: `S${this.slots.length}`,
          kind: kindOf(tileDType(res)),
          size: sizeOf(tileShape(res)),
          dotOut: false,
          bits: false,
        };
        this.slots.push(slot);
        this.scratchOf.set(r, slot);
      }
      this.storage.set(r.result, slot);
    }
    for (const r of reads) {
      if (r.opcode === 'mem.load') this.materialise(r);
      else this.loadBlock(r);
    }
    emit();
    for (const r of reads) {
      this.plan.inline.add(r);
      this.storage.delete(r.result);
    }
    this.indent = saved;
    this.line('}');
  }

  // ------------------------------------------------------------------------------------- control flow

  private tileCopyParallel(pairs: { dst: Slot; src: Slot }[]): void {
    const real = pairs.filter((p) => p.dst !== p.src);
    const dsts = new Set(real.map((p) => p.dst));
    const hazard = real.some((p) => dsts.has(p.src));
    if (!hazard) {
      for (const p of real) this.copy(p.dst, p.src);
      return;
    }
    const temps = real.map((p) => {
      const t: Slot = { name: `S${this.slots.length}`, kind: p.src.kind, size: p.src.size, dotOut: false, bits: false };
      this.slots.push(t);
      this.line(`${t.name}.set(${p.src.name});`);
      return { dst: p.dst, src: t };
    });
    for (const p of temps) this.copy(p.dst, p.src);
  }

  private scalarAssign(pairs: { dst: string; src: string }[]): void {
    const real = pairs.filter((p) => p.dst !== p.src);
    if (real.length <= 1) {
      for (const p of real) this.line(`${p.dst} = ${p.src};`);
      return;
    }
    const temps = real.map((p) => {
      const t = this.fresh('n');
      this.line(`const ${t} = ${p.src};`);
      return t;
    });
    real.forEach((p, i) => {
      this.line(`${p.dst} = ${temps[i]};`);
    });
  }

  /** Passes values to loop-carried variables / slots (`targets`) from `values`. */
  private pass(targets: Value[], values: Value[]): void {
    const tiles: { dst: Slot; src: Slot }[] = [];
    const scalars: { dst: string; src: string }[] = [];
    targets.forEach((t, i) => {
      const v = values[i]!;
      if (isTileValue(t)) tiles.push({ dst: this.slotOf(t), src: this.slotOf(v) });
      else scalars.push({ dst: this.names.get(t)!, src: this.scalar(v) });
    });
    this.tileCopyParallel(tiles);
    this.scalarAssign(scalars);
  }

  private declareCarried(vals: Value[], inits: Value[] | null): void {
    vals.forEach((v, i) => {
      if (isTileValue(v)) return;
      const n = this.nameFor(v, 'c');
      this.names.set(v, n);
      this.line(`let ${n}${inits ? ` = ${this.scalar(inits[i]!)}` : ''};`);
    });
  }

  private forLoop(op: Op): void {
    const [lo, hi, step, ...inits] = op.operands as Value[];
    const body = op.regions[0]!;
    const [iv, ...args] = body.args;
    // Results and arguments share variables / slots.
    this.declareCarried(args, inits);
    args.forEach((a, i) => {
      if (!isTileValue(a)) this.names.set(op.results[i]!, this.names.get(a)!);
    });
    this.tileCopyParallel(
      args.flatMap((a, i) => (isTileValue(a) ? [{ dst: this.slotOf(a), src: this.slotOf(inits[i]!) }] : [])),
    );
    const ivn = this.nameFor(iv!, 'iv');
    this.names.set(iv!, ivn);
    this.line(
      `for (let ${ivn} = ${this.scalar(lo!)}; ${ivn} < ${this.scalar(hi!)}; ${ivn} += ${this.scalar(step!)}) {`,
    );
    const saved = this.indent;
    this.indent += '  ';
    this.region(body);
    const term = body.ops[body.ops.length - 1]!;
    this.pass(args, term.operands);
    this.indent = saved;
    this.line('}');
  }

  private whileLoop(op: Op): void {
    const [before, after] = op.regions as [Region, Region];
    const inits = op.operands;
    this.declareCarried(before.args, inits);
    before.args.forEach((a, i) => {
      if (!isTileValue(a)) {
        this.names.set(after.args[i]!, this.names.get(a)!);
        this.names.set(op.results[i]!, this.names.get(a)!);
      }
    });
    this.tileCopyParallel(
      before.args.flatMap((a, i) => (isTileValue(a) ? [{ dst: this.slotOf(a), src: this.slotOf(inits[i]!) }] : [])),
    );
    this.line('for (;;) {');
    const saved = this.indent;
    this.indent += '  ';
    this.region(before);
    const cond = before.ops[before.ops.length - 1]!;
    const c = this.fresh('cond');
    this.line(`const ${c} = ${this.scalar(cond.operands[0]!)};`);
    this.pass(before.args, cond.operands.slice(1));
    this.line(`if (!${c}) break;`);
    this.region(after);
    const term = after.ops[after.ops.length - 1]!;
    this.pass(before.args, term.operands);
    this.indent = saved;
    this.line('}');
  }

  private ifOp(op: Op): void {
    const results = op.results;
    this.declareCarried(results, null);
    this.line(`if (${this.scalar(op.operands[0]!)}) {`);
    const saved = this.indent;
    op.regions.forEach((reg, i) => {
      if (i === 1) this.line('} else {');
      this.indent = `${saved}  `;
      this.region(reg);
      const term = reg.ops[reg.ops.length - 1]!;
      this.pass(results, term.operands);
      this.indent = saved;
    });
    this.line('}');
  }
}
