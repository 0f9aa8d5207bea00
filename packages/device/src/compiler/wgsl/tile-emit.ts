/**
 * The WGSL emitter of tile kernels (tile.ts drives it): text with block scopes, the storage of materialized tiles
 * (private arrays, workgroup memory, per-program scratch) with liveness-based reuse, barriers inserted where one
 * invocation's writes meet another's reads, and the evaluation of any tile element as a WGSL expression (lazy ops
 * fused into their consumer, memoized per scope as `let`s).
 */
import type { TileDType } from '../../dtype/dtype';
import { TesseraError } from '../../errors';
import { sizeOf, stridesOf } from '../../kernel/shape';
import type { KernelIR, Op, Value } from '../ir';
import { constAs, convertScalar, type Kind } from './scalar';
import { binaryElem, castElem, ekind, elemType, finish, scalarToTile, tileLit, unaryElem } from './tile-expr';
import { permuteIsIdentity, shapeOf, type TilePlan } from './tile-plan';

export type Rep =
  | { kind: 'lazy' }
  | { kind: 'priv'; name: string; J: number; type: 'f32' | 'i32' }
  | { kind: 'shared'; space: 'wg' | 'scr'; base: number; size: number; type: 'f32' | 'i32' };

export type Storage = Exclude<Rep, { kind: 'lazy' }>;

/** An element index into a tile of `shape`: its flat (row-major) index and/or its coordinates. */
export class Idx {
  constructor(
    readonly shape: readonly number[],
    public flatE: string | null,
    public coordsE: string[] | null = null,
  ) {}
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** `e / c` and `e % c` for a non-negative i32 expression and a constant. */
/** `e` parenthesized unless it is a name or already one parenthesized expression. */
export function paren(e: string): string {
  if (/^[A-Za-z0-9_]+$/.test(e)) return e;
  if (e.startsWith('(')) {
    let depth = 0;
    for (let i = 0; i < e.length; i++) {
      if (e[i] === '(') depth++;
      else if (e[i] === ')' && --depth === 0) return i === e.length - 1 ? e : `(${e})`;
    }
  }
  return `(${e})`;
}

export function idivC(e0: string, c: number): string {
  const e = paren(e0);
  if (c === 1) return e;
  return isPow2(c) ? `(${e} >> ${Math.log2(c)}u)` : `(${e} / ${c}i)`;
}
export function imodC(e0: string, c: number): string {
  const e = paren(e0);
  if (c === 1) return '0i';
  return isPow2(c) ? `(${e} & ${c - 1}i)` : `(${e} % ${c}i)`;
}

interface Alloc {
  base: number;
  size: number;
}

/** First-fit allocator of words. */
class Arena {
  private readonly used: Alloc[] = [];
  peak = 0;
  constructor(private readonly capacity: number) {}
  alloc(size: number): number | null {
    let at = 0;
    for (const u of [...this.used].sort((a, b) => a.base - b.base)) {
      if (u.base - at >= size) break;
      at = Math.max(at, u.base + u.size);
    }
    if (at + size > this.capacity) return null;
    this.used.push({ base: at, size });
    this.peak = Math.max(this.peak, at + size);
    return at;
  }
  free(base: number): void {
    const i = this.used.findIndex((u) => u.base === base);
    if (i >= 0) this.used.splice(i, 1);
  }
}

/** Accesses since the last barrier: shared ranges (words) per space, and global memory. */
interface Flags {
  wgW: Alloc[];
  wgR: Alloc[];
  scrW: Alloc[];
  scrR: Alloc[];
  glW: boolean;
  glR: boolean;
}

const noFlags = (): Flags => ({ wgW: [], wgR: [], scrW: [], scrR: [], glW: false, glR: false });
const overlaps = (a: Alloc, l: readonly Alloc[]) => l.some((b) => a.base < b.base + b.size && b.base < a.base + a.size);

export interface Access {
  /** Tile values read (their materialized leaves decide the memory touched). */
  reads?: readonly Value[];
  /** Storage written. */
  writes?: readonly (Storage | null)[];
  /** Global memory read / written. */
  globalRead?: boolean;
  globalWrite?: boolean;
  /** Extra storage read (temporaries). */
  readsStorage?: readonly Storage[];
}

/** Private words per invocation kept below WGSL's 8 KiB function-address-space limit. */
const PRIVATE_WORDS = 1536;
/** Element loops of up to this many elements per invocation are unrolled. */
export const UNROLL = 64;

export class Emitter {
  readonly lines: string[] = [];
  private indent = '  ';
  private readonly memo: Map<string, string>[] = [new Map()];
  private nextId = 0;
  readonly reps = new Map<Value, Rep>();
  readonly scalars = new Map<Value, string>();
  private readonly wg: Arena;
  private readonly scr = new Arena(Number.MAX_SAFE_INTEGER);
  private privWords = 0;
  private readonly privFree = new Map<string, string[]>();
  readonly privDecls: string[] = [];
  flags: Flags = noFlags();
  /** Values owning storage, freed after their last use. */
  readonly owners = new Map<Value, Storage>();

  constructor(
    readonly ir: KernelIR,
    readonly plan: TilePlan,
    readonly W: number,
    maxWorkgroupBytes: number,
  ) {
    this.wg = new Arena(Math.floor(maxWorkgroupBytes / 4));
  }

  get wgWords(): number {
    return this.wg.peak;
  }
  get scratchWords(): number {
    return this.scr.peak;
  }

  refuse(what: string, hint?: string): never {
    throw new TesseraError('Unsupported', `WGSL lowering of tile kernel '${this.ir.name}': ${what}.`, {
      kernel: this.ir.name,
      ...(hint ? { hint } : {}),
    });
  }

  internal(what: string): never {
    throw new TesseraError('Unsupported', `WGSL lowering of tile kernel '${this.ir.name}': internal error: ${what}.`, {
      kernel: this.ir.name,
      hint: 'This is a bug of the tile → WGSL lowering; the CPU back ends run the kernel.',
    });
  }

  // ------------------------------------------------------------------------------------------------- text

  emit(line: string): void {
    this.lines.push(this.indent + line);
  }

  id(prefix: string): string {
    let n = `${prefix}${this.nextId++}`;
    // Not a type name or reserved word (i32, f16, u8, vec2, …).
    while (/^([iuf](8|16|32|64|128)|vec[234]|mat[234](x[234])?)$/.test(n)) n = `${prefix}${this.nextId++}`;
    return n;
  }

  /** Emits `head {`, runs `body` one scope deeper, then `}`. */
  block(head: string, body: () => void, tail = '}'): void {
    this.emit(`${head}{`.replace(/([^ ]){$/, '$1 {'));
    this.nested(body);
    this.emit(tail);
  }

  nested(body: () => void): void {
    const saved = this.indent;
    this.indent += '  ';
    this.memo.push(new Map());
    try {
      body();
    } finally {
      this.memo.pop();
      this.indent = saved;
    }
  }

  /** A `let` for `expr` in the current scope, reused while the scope lasts. */
  bind(expr: string, prefix = 't'): string {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(expr) || /^\(?-?[0-9][0-9.e+-]*[if]?\)?$/.test(expr)) return expr;
    for (let i = this.memo.length - 1; i >= 0; i--) {
      const hit = this.memo[i]!.get(expr);
      if (hit) return hit;
    }
    const n = this.id(prefix);
    this.emit(`let ${n} = ${expr};`);
    this.memo[this.memo.length - 1]!.set(expr, n);
    return n;
  }

  // -------------------------------------------------------------------------------------------- scalars

  kind(v: Value): Kind {
    if (v.type.kind !== 'scalar') this.internal(`a ${v.type.kind} value where a scalar was expected`);
    return v.type.s;
  }

  /** A scalar operand as a WGSL expression of kind `to`. */
  scalar(v: Value, to: Kind): string {
    if (v.def?.opcode === 'const') return constAs(v.def.attrs.value as number | boolean, this.kind(v), to);
    const s = this.scalars.get(v);
    if (!s) this.internal(`scalar %${v.id} is used before it is defined`);
    return convertScalar(s, this.kind(v), to);
  }

  /** A scalar operand converted to a tile element of dtype `d` (`castTo`). */
  scalarElem(v: Value, d: TileDType): string {
    if (v.def?.opcode === 'const') {
      const x = v.def.attrs.value as number | boolean;
      return this.bind(tileLit(typeof x === 'boolean' ? (x ? 1 : 0) : x, d), 'c');
    }
    return this.bind(scalarToTile(this.scalar(v, this.kind(v)), this.kind(v), d), 'c');
  }

  // -------------------------------------------------------------------------------------------- storage

  /** Storage for a tile of `size` elements: private arrays (each invocation its elements) or shared. */
  alloc(size: number, dtype: TileDType, shared: boolean): Storage {
    const type = elemType(dtype);
    const J = Math.ceil(size / this.W);
    // Private arrays only where every access has a constant index (element loops unroll up to UNROLL): a
    // dynamically indexed private array is local memory on GPUs (and very slow to compile on llvmpipe).
    if (!shared && J <= UNROLL && (this.privFree.get(`${type}${J}`)?.length || this.privWords + J <= PRIVATE_WORDS)) {
      const free = this.privFree.get(`${type}${J}`);
      const reuse = free?.pop();
      if (reuse) return { kind: 'priv', name: reuse, J, type };
      const name = this.id('p');
      this.privWords += J;
      this.privDecls.push(`var ${name}: array<${type}, ${J}>;`);
      return { kind: 'priv', name, J, type };
    }
    const base = this.wg.alloc(size);
    if (base !== null) return { kind: 'shared', space: 'wg', base, size, type };
    return { kind: 'shared', space: 'scr', base: this.scr.alloc(size)!, size, type };
  }

  /** Storage shaped like `s` (same mode, size and type): a temporary for copies. */
  allocLike(s: Storage, dtype: TileDType): Storage {
    return s.kind === 'priv' ? this.alloc(s.J * this.W, dtype, false) : this.alloc(s.size, dtype, true);
  }

  free(s: Storage): void {
    if (s.kind === 'priv') {
      const key = `${s.type}${s.J}`;
      let l = this.privFree.get(key);
      if (!l) this.privFree.set(key, (l = []));
      if (!l.includes(s.name)) l.push(s.name);
    } else if (s.space === 'wg') this.wg.free(s.base);
    else this.scr.free(s.base);
  }

  /** Materialized storage for value `v` (planned mode), owned by `v`. */
  allocFor(v: Value): Storage {
    const t = v.type as { dtype: TileDType; shape: readonly number[] };
    const s = this.alloc(sizeOf(t.shape), t.dtype, this.plan.shared.has(v));
    this.reps.set(v, s);
    this.owners.set(v, s);
    return s;
  }

  /** Frees what dies after `op` (values of its region whose last use it is, and its unused results). */
  freeAfter(op: Op): void {
    for (const [v, s] of this.owners) {
      const last = this.plan.lastUse.get(v);
      if (last === op || (!last && v.def === op)) {
        this.owners.delete(v);
        this.free(s);
      }
    }
  }

  // ------------------------------------------------------------------------------------------- barriers

  /** The storage a read of `vs` touches (materialized leaves under lazy ops). */
  leaves(vs: readonly Value[], out = new Set<Storage>(), seen = new Set<Value>()): Set<Storage> {
    for (const v of vs) {
      if (seen.has(v) || v.type.kind !== 'tile') continue;
      seen.add(v);
      const r = this.reps.get(v);
      if (!r) this.internal(`tile %${v.id} is used before it is defined`);
      if (r.kind === 'lazy') this.leaves(v.def!.operands, out, seen);
      else out.add(r);
    }
    return out;
  }

  /** Emits a barrier if `a` would race with accesses since the last one, then records `a`. */
  sync(a: Access): void {
    const reads: { wg: Alloc[]; scr: Alloc[] } = { wg: [], scr: [] };
    const writes: { wg: Alloc[]; scr: Alloc[] } = { wg: [], scr: [] };
    const note = (s: Storage | null, into: { wg: Alloc[]; scr: Alloc[] }) => {
      if (s?.kind !== 'shared') return;
      into[s.space === 'wg' ? 'wg' : 'scr'].push({ base: s.base, size: s.size });
    };
    for (const s of this.leaves(a.reads ?? [])) note(s, reads);
    for (const s of a.readsStorage ?? []) note(s, reads);
    for (const s of a.writes ?? []) note(s, writes);
    const glR = !!a.globalRead;
    const glW = !!a.globalWrite;
    const f = this.flags;
    const hazard =
      reads.wg.some((r) => overlaps(r, f.wgW)) ||
      writes.wg.some((w) => overlaps(w, f.wgW) || overlaps(w, f.wgR)) ||
      reads.scr.some((r) => overlaps(r, f.scrW)) ||
      writes.scr.some((w) => overlaps(w, f.scrW) || overlaps(w, f.scrR)) ||
      (glR && f.glW) ||
      (glW && (f.glR || f.glW));
    if (hazard) this.barrier();
    const g = this.flags;
    g.wgR.push(...reads.wg);
    g.wgW.push(...writes.wg);
    g.scrR.push(...reads.scr);
    g.scrW.push(...writes.scr);
    g.glR ||= glR;
    g.glW ||= glW;
  }

  dirty(): boolean {
    const f = this.flags;
    return f.wgR.length > 0 || f.wgW.length > 0 || f.scrR.length > 0 || f.scrW.length > 0 || f.glR || f.glW;
  }

  /** The union of two access records (after the two sides of a branch). */
  static merge(a: Flags, b: Flags): Flags {
    return {
      wgW: [...a.wgW, ...b.wgW],
      wgR: [...a.wgR, ...b.wgR],
      scrW: [...a.scrW, ...b.scrW],
      scrR: [...a.scrR, ...b.scrR],
      glW: a.glW || b.glW,
      glR: a.glR || b.glR,
    };
  }

  static copyFlags(a: Flags): Flags {
    return Emitter.merge(a, noFlags());
  }

  /** A workgroup barrier for whatever memory has pending accesses (always in uniform control flow). */
  barrier(): void {
    const f = this.flags;
    const storage = f.scrR.length > 0 || f.scrW.length > 0 || f.glR || f.glW;
    const wg = f.wgR.length > 0 || f.wgW.length > 0;
    if (storage) this.emit('storageBarrier();');
    if (wg || !storage) this.emit('workgroupBarrier();');
    this.flags = noFlags();
  }

  // ------------------------------------------------------------------------------------- element loops

  /**
   * Runs `body(e, j)` for each element e < size this invocation owns (e = lid + j·W), unrolled when there are few;
   * `j` is a WGSL expression (a literal when unrolled).
   */
  forEachOwned(size: number, body: (e: string, j: string) => void): void {
    const W = this.W;
    const J = Math.ceil(size / W);
    const loop = () => {
      const jv = this.id('j');
      this.block(`for (var ${jv} = 0i; ${jv} < ${J}i; ${jv}++) `, () => {
        const e = this.id('e');
        this.emit(`let ${e} = lid + ${jv} * ${W}i;`);
        if (J * W > size) this.block(`if (${e} < ${size}i) `, () => body(e, jv));
        else body(e, jv);
      });
    };
    if (J > 1 && J <= UNROLL) {
      // A loop unless the body indexes private arrays by the slot (they need constant indices: unroll then).
      const mark = this.lines.length;
      const next = this.nextId;
      loop();
      const text = this.lines.slice(mark).join('\n');
      if (!/\bp[0-9]+\[/.test(text)) return;
      this.lines.length = mark;
      this.nextId = next;
    }
    if (J > UNROLL) {
      loop();
      return;
    }
    for (let j = 0; j < J; j++) {
      const guard = (j + 1) * W > size;
      this.block('', () => {
        const e = this.id('e');
        this.emit(`let ${e} = ${j === 0 ? 'lid' : `lid + ${j * W}i`};`);
        if (guard) this.block(`if (${e} < ${size}i) `, () => body(e, `${j}`));
        else body(e, `${j}`);
      });
    }
  }

  // ------------------------------------------------------------------------------------------- indices

  flat(i: Idx): string {
    if (i.flatE !== null) return i.flatE;
    const st = stridesOf(i.shape);
    const terms: string[] = [];
    i.coordsE!.forEach((c, d) => {
      if (i.shape[d] === 1 || c === '0i') return;
      terms.push(st[d] === 1 ? c : `${c} * ${st[d]}i`);
    });
    i.flatE = terms.length ? this.bind(terms.join(' + '), 'x') : '0i';
    return i.flatE;
  }

  coords(i: Idx): string[] {
    if (i.coordsE) return i.coordsE;
    const st = stridesOf(i.shape);
    const f = i.flatE!;
    i.coordsE = i.shape.map((s, d) => {
      if (s === 1) return '0i';
      const q = idivC(f, st[d]!);
      return this.bind(d === 0 ? q : imodC(q, s), 'x');
    });
    return i.coordsE;
  }

  /** The index into operand `o` (shape `os`) read for element `i` of a result broadcast from it (NumPy rules). */
  broadcastIdx(i: Idx, os: readonly number[]): Idx {
    if (sizeOf(os) === sizeOf(i.shape)) return i.flatE !== null ? new Idx(os, i.flatE) : new Idx(os, this.flat(i));
    if (sizeOf(os) === 1) return new Idx(os, '0i');
    const c = this.coords(i);
    const off = c.length - os.length;
    return new Idx(
      os,
      null,
      os.map((d, a) => (d === 1 ? '0i' : c[a + off]!)),
    );
  }

  // ------------------------------------------------------------------------------------------ elements

  /** Reads element `e` of shared storage `s` (a flat i32 expression) as its value type. */
  sharedRead(s: Storage & { kind: 'shared' }, e: string): string {
    const at = s.base ? `${s.base}i + ${e}` : e;
    const word = s.space === 'wg' ? `smem[${at}]` : `scratch[sb + ${at}]`;
    return `bitcast<${s.type}>(${word})`;
  }

  /** Writes element (e, j) of storage `s`. */
  writeAt(s: Storage, e: string, j: string, value: string): void {
    if (s.kind === 'priv') this.emit(`${s.name}[${j}] = ${value};`);
    else {
      const at = s.base ? `${s.base}i + ${e}` : e;
      const word = s.space === 'wg' ? `smem[${at}]` : `scratch[sb + ${at}]`;
      this.emit(`${word} = bitcast<u32>(${value});`);
    }
  }

  /** Reads element (e, j) of storage `s` (`j`: private arrays; only the owner of e reads it). */
  readAt(s: Storage, e: string, j: string | null): string {
    if (s.kind === 'priv') {
      if (j === null) this.internal("a private tile read at another invocation's element");
      return `${s.name}[${j}]`;
    }
    return this.bind(this.sharedRead(s, e), 'r');
  }

  /**
   * Element `i` of tile `v` as a WGSL expression of its element type. `j` is the owner slot when `i` is the owned
   * element lid + j·W of a tile of the same size as `v` (private storage is only readable then), else null.
   */
  at(v: Value, i: Idx, j: string | null): string {
    const r = this.reps.get(v);
    if (!r) this.internal(`tile %${v.id} is used before it is defined`);
    if (r.kind === 'priv') return this.readAt(r, '', j);
    if (r.kind === 'shared') return this.readAt(r, this.flat(i), null);
    return this.lazy(v.def!, i, j);
  }

  /** Element `i` of a lazy op's result. */
  lazy(op: Op, i: Idx, j: string | null): string {
    const a = op.attrs;
    const o = op.operands;
    const rshape = shapeOf(op.result);
    const rsize = sizeOf(rshape);
    const rd = (op.result.type as { dtype: TileDType }).dtype;
    /** Operand `k` (a tile broadcast to the result, or a scalar converted to dtype `d`). */
    const operand = (k: number, d: TileDType): string => {
      const v = o[k]!;
      if (v.type.kind !== 'tile') return this.scalarElem(v, d);
      const os = v.type.shape;
      return this.at(v, this.broadcastIdx(i, os), sizeOf(os) === rsize ? j : null);
    };
    let e: string;
    switch (op.opcode) {
      case 'tile.arange':
        e = `(${this.scalar(o[0]!, 'int')} + ${this.flat(i)})`;
        break;
      case 'tile.full':
        return this.scalarElem(o[0]!, a.dtype as TileDType);
      case 'tile.binary': {
        const cd = a.dtype as TileDType;
        e = finish(binaryElem(a.op as string, ekind(cd), operand(0, cd), operand(1, cd)), rd);
        break;
      }
      case 'tile.unary': {
        const cd = a.dtype as TileDType;
        e = finish(unaryElem(a.op as string, ekind(cd), operand(0, cd)), rd);
        break;
      }
      case 'tile.where':
        e = `select(${operand(2, rd)}, ${operand(1, rd)}, ${operand(0, 'bool')} != 0i)`;
        break;
      case 'tile.cast': {
        const from = (o[0]!.type as { dtype: TileDType }).dtype;
        e = castElem(operand(0, from), from, rd);
        break;
      }
      case 'tile.reshape': {
        const os = shapeOf(o[0]!);
        return this.at(o[0]!, new Idx(os, this.flat(i)), j);
      }
      case 'tile.broadcast': {
        const os = shapeOf(o[0]!);
        return this.at(o[0]!, this.broadcastIdx(i, os), sizeOf(os) === rsize ? j : null);
      }
      case 'tile.permute': {
        const os = shapeOf(o[0]!);
        const perm = a.perm as number[];
        const c = this.coords(i);
        const oc = new Array<string>(os.length);
        perm.forEach((p, d) => {
          oc[p] = c[d]!;
        });
        return this.at(o[0]!, new Idx(os, null, oc), permuteIsIdentity(os, perm) ? j : null);
      }
      default:
        return this.internal(`${op.opcode} is not an elementwise op`);
    }
    return this.bind(e, 'v');
  }
}
