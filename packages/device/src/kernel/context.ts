/**
 * The tile language: the object a tile kernel receives as `t`. One context serves every program of a launch; `begin`
 * points it at the next program. Every op does two things: it counts its cost into the program's cost record, and (in
 * functional mode, when its inputs hold values) computes its result. Timing-only mode runs the same kernel with
 * value-less tiles for loaded data, so control flow and costs are the same and no data is touched.
 */
import {
  bitsEncoder,
  castScalar,
  DTYPE_INFO,
  type DType,
  dtypeBytes,
  isFloat,
  isFp8,
  type TileDType,
} from '../dtype/dtype';
import { roundBf16Array, roundF16Array, roundTf32 } from '../dtype/float-formats';
import { TesseraError } from '../errors';
import type { BufferOwner, DeviceBuffer } from '../memory/buffer';
import { type CostDType, type KernelResources, ProgramCost } from './cost';
import { dotF32, dotI32 } from './dot';
import {
  BINARY_OPS,
  type BinaryOp,
  type BinaryOpDef,
  type BroadcastVariant,
  binaryExpr,
  binaryLoop,
  broadcastLoop,
  UNARY_OPS,
  type UnaryOp,
  type UnaryOpDef,
  unaryLoop,
} from './elementwise';
import * as mem from './memory-ops';
import * as red from './reduce';
import {
  broadcastData,
  broadcastShapes,
  checkShape,
  normalizeAxis,
  type Shape,
  sameShape,
  sizeOf,
  stridesOf,
} from './shape';
import { type Operand, Tile, type TileData } from './tile';

export type ExecMode = 'functional' | 'timing';
type Kind = 'float' | 'int' | 'bool';

export function kindOf(d: TileDType): Kind {
  return d === 'bool' ? 'bool' : isFloat(d) ? 'float' : 'int';
}

export function allocTileData(dtype: TileDType, n: number): TileData {
  const k = kindOf(dtype);
  return k === 'float' ? new Float32Array(n) : k === 'int' ? new Int32Array(n) : new Uint8Array(n);
}

/** Rounds / wraps freshly computed values to what `dtype` can hold (float32 storage is already rounded to f32). */
export function finishData(data: TileData, dtype: TileDType): void {
  switch (dtype) {
    case 'f16':
      roundF16Array(data as Float32Array);
      return;
    case 'bf16':
      roundBf16Array(data as Float32Array);
      return;
    case 'i8':
      for (let i = 0; i < data.length; i++) data[i] = (data[i]! << 24) >> 24;
      return;
    case 'u8':
      for (let i = 0; i < data.length; i++) data[i] = data[i]! & 0xff;
      return;
    case 'i16':
      for (let i = 0; i < data.length; i++) data[i] = (data[i]! << 16) >> 16;
      return;
    default:
  }
}

/** What every program of one launch shares: identity, mode, and the launch-wide maxima and sets. */
export interface LaunchState {
  kernel: string;
  mode: ExecMode;
  owner: BufferOwner;
  grid: readonly [number, number, number];
  resources: KernelResources;
  buffers: Map<number, { buffer: DeviceBuffer; read: boolean; written: boolean }>;
  dtypes: Set<TileDType>;
}

type Weak = 'int-scalar' | 'float-scalar';

/**
 * Recognises the broadcasts softmax, norms and attention use — one operand full, the other one value per row
 * ((…, R, 1) against (…, R, C)) or one per column ((1, …, C) against (…, C)) — so they run without materialising the
 * small operand. Returns null for other patterns.
 */
function broadcastVariant(x: Tile, y: Tile, shape: readonly number[]): BroadcastVariant | null {
  const n = sizeOf(shape);
  const cols = shape[shape.length - 1] ?? 1;
  if (shape.length === 0 || cols === 1) return null;
  const kindOfSmall = (small: Tile): 'row' | 'col' | null => {
    const s = small.shape;
    const last = s[s.length - 1] ?? 1;
    if (last === 1 && small.size * cols === n) return 'row'; // one value per row, rows in order
    if (last === cols && small.size === cols) return 'col'; // one value per column
    return null;
  };
  if (x.size === n) {
    const k = kindOfSmall(y);
    return k === 'row' ? 'tc' : k === 'col' ? 'tv' : null;
  }
  if (y.size === n) {
    const k = kindOfSmall(x);
    return k === 'row' ? 'ct' : k === 'col' ? 'vt' : null;
  }
  return null;
}

function promote(x: TileDType | Weak, y: TileDType | Weak, what: string): TileDType {
  if (x === 'int-scalar' || x === 'float-scalar') {
    if (y === 'int-scalar' || y === 'float-scalar') return x === 'float-scalar' || y === 'float-scalar' ? 'f32' : 'i32';
    return promote(y, x, what);
  }
  if (y === 'int-scalar') return x;
  if (y === 'float-scalar') return isFloat(x) ? x : 'f32';
  if (x === y) return x;
  if (isFp8(x) || isFp8(y)) {
    throw new TesseraError('InvalidValue', `${what}: fp8 tiles only support cast() and dot().`, {
      hint: 'Cast them to f16, bf16 or f32 first: x.cast("f32").',
    });
  }
  const fx = isFloat(x);
  const fy = isFloat(y);
  if (fx && fy) return 'f32'; // f32 with anything, or f16 with bf16
  if (fx) return x;
  if (fy) return y;
  if (x === 'bool') return y;
  if (y === 'bool') return x;
  return 'i32';
}

/**
 * Per-program bump allocator for tile storage: tiles live only while their program runs, so each program reuses the
 * same backing arrays (subarray views) instead of asking the engine for fresh zeroed memory per op. Memory handed out
 * is NOT zeroed; callers that need zeros fill. When a program outgrows an arena, it falls back to fresh arrays.
 */
class Arena {
  private f = new Float32Array(0);
  private i = new Int32Array(0);
  private b = new Uint8Array(0);
  private fUsed = 0;
  private iUsed = 0;
  private bUsed = 0;

  constructor(private readonly capacity: number) {}

  reset(): void {
    this.fUsed = 0;
    this.iUsed = 0;
    this.bUsed = 0;
  }

  alloc(dtype: TileDType, n: number): TileData {
    const k = kindOf(dtype);
    if (k === 'float') {
      if (this.fUsed + n > this.f.length) {
        if (this.f.length >= this.capacity || n > this.capacity / 4) return new Float32Array(n);
        this.f = new Float32Array(this.capacity); // grown once, then reused by every later program
        this.fUsed = 0;
      }
      const v = this.f.subarray(this.fUsed, this.fUsed + n);
      this.fUsed += n;
      return v;
    }
    if (k === 'int') {
      if (this.iUsed + n > this.i.length) {
        if (this.i.length >= this.capacity / 4 || n > this.capacity / 16) return new Int32Array(n);
        this.i = new Int32Array(this.capacity / 4);
        this.iUsed = 0;
      }
      const v = this.i.subarray(this.iUsed, this.iUsed + n);
      this.iUsed += n;
      return v;
    }
    if (this.bUsed + n > this.b.length) {
      if (this.b.length >= this.capacity / 4 || n > this.capacity / 16) return new Uint8Array(n);
      this.b = new Uint8Array(this.capacity / 4);
      this.bUsed = 0;
    }
    const v = this.b.subarray(this.bUsed, this.bUsed + n);
    this.bUsed += n;
    return v;
  }
}

/**
 * One arena for the process: programs run one at a time on this thread, and a program's tiles die when the next
 * program (of any launch) begins. 4 Mi f32 elements (16 MiB); the int and bool arenas get a quarter.
 */
const ARENA = new Arena(1 << 22);

export class TileContext {
  /** Cost of the program now running. */
  cost = new ProgramCost();
  private pid: [number, number, number] = [0, 0, 0];
  private loc: string | null = null;
  private readonly arena = ARENA;

  constructor(readonly launch: LaunchState) {}

  /** @internal Points the context at program `pid` with a fresh cost record; the previous program's tiles are dead. */
  begin(pid: readonly [number, number, number]): void {
    this.pid = [pid[0], pid[1], pid[2]];
    this.cost = new ProgramCost();
    this.loc = null;
    this.arena.reset();
  }

  /** @internal Uninitialised tile storage for `n` elements of `dtype`, valid until the program ends. */
  alloc(dtype: TileDType, n: number): TileData {
    return this.arena.alloc(dtype, n);
  }

  get mode(): ExecMode {
    return this.launch.mode;
  }

  /** "kernel 'matmul' program (3, 0, 0)": how errors name where they happened. */
  location(): string {
    this.loc ??= `kernel '${this.launch.kernel}' program (${this.pid.join(', ')})`;
    return this.loc;
  }

  // ------------------------------------------------------------------ program identity

  /** Index of this program along `axis` (0, 1 or 2), like `tl.program_id` / `blockIdx` / `GetBlockIdx()`. */
  programId(axis: 0 | 1 | 2 = 0): number {
    return this.pid[axis];
  }

  /** Number of programs along `axis`, like `tl.num_programs` / `gridDim` / `GetBlockNum()`. */
  numPrograms(axis: 0 | 1 | 2 = 0): number {
    return this.launch.grid[axis];
  }

  // ------------------------------------------------------------------ creation

  /** Integers start, start+1, …, end−1 as an i32 tile. */
  arange(start: number, end: number): Tile {
    if (!Number.isInteger(start) || !Number.isInteger(end) || end < start) {
      throw new TesseraError(
        'InvalidValue',
        `${this.location()}: arange(${start}, ${end}) needs integers with end ≥ start.`,
      );
    }
    const n = end - start;
    const d = this.alloc('i32', n);
    for (let i = 0; i < n; i++) d[i] = start + i;
    this.cost.addVector('i32', n);
    return this.tile([n], 'i32', d);
  }

  /** A tile of `shape` filled with `value`. */
  full(shape: readonly number[], value: number, dtype: TileDType = 'f32'): Tile {
    checkShape(shape, `${this.location()}: full`);
    this.useDType(dtype);
    const d = this.alloc(dtype, sizeOf(shape));
    d.fill(castScalar(value, dtype));
    return this.tile(shape, dtype, d);
  }

  zeros(shape: readonly number[], dtype: TileDType = 'f32'): Tile {
    return this.full(shape, 0, dtype);
  }

  /** @internal */
  tile(shape: Shape, dtype: TileDType, data: TileData | null, fromDot = false): Tile {
    return new Tile(this, shape, dtype, data, fromDot);
  }

  /** @internal */
  useDType(d: TileDType): void {
    this.launch.dtypes.add(d);
  }

  /** @internal Records on-chip footprint of an op outside the matrix unit. */
  noteVector(out: Tile, ...inputs: Tile[]): void {
    if (out.fromDot) return;
    const r = this.launch.resources;
    const ob = out.size * dtypeBytes(out.dtype);
    if (ob > r.vectorTileBytes) r.vectorTileBytes = ob;
    let ws = ob;
    for (const t of inputs) if (t !== out && !t.fromDot) ws += t.size * dtypeBytes(t.dtype);
    if (ws > r.vectorWorkingSetBytes) r.vectorWorkingSetBytes = ws;
  }

  private asTile(x: Operand, dtype: TileDType): Tile {
    if (x instanceof Tile) return x.dtype === dtype ? x : this.cast(x, dtype);
    const d = this.alloc(dtype, 1);
    d[0] = castScalar(x, dtype);
    return this.tile([], dtype, d);
  }

  // ------------------------------------------------------------------ elementwise

  /** @internal */
  binary(op: BinaryOp, a: Operand, b: Operand): Tile {
    const def: BinaryOpDef = BINARY_OPS[op];
    const what = `${this.location()}: ${op}`;
    const ta = a instanceof Tile ? a : null;
    const tb = b instanceof Tile ? b : null;
    if (ta && isFp8(ta.dtype)) promoteFp8Error(what, ta);
    if (tb && isFp8(tb.dtype)) promoteFp8Error(what, tb);
    const weak = (x: number): Weak => (Number.isInteger(x) ? 'int-scalar' : 'float-scalar');
    let cd = promote(ta ? ta.dtype : weak(a as number), tb ? tb.dtype : weak(b as number), what);
    if (def.result === 'float' && !isFloat(cd)) cd = 'f32';
    if (cd === 'bool' && !def.bool) cd = 'i32';
    let kind = kindOf(cd);
    if (binaryExpr(op, kind) === undefined) {
      if (kind === 'float') {
        throw new TesseraError('InvalidValue', `${what} needs integer tiles, got ${cd}.`, {
          hint: op === 'idiv' || op === 'rem' ? 'For floats use floor(div(a, b)) or a - floor(a / b) * b.' : undefined,
        });
      }
      cd = 'f32';
      kind = 'float';
    }
    const rd: TileDType = def.result === 'bool' ? 'bool' : cd;
    const shape = broadcastShapes(ta ? ta.shape : [], tb ? tb.shape : [], what);
    const n = sizeOf(shape);
    this.cost.addVector(rd === 'bool' ? cd : rd, n);
    if (def.special) this.cost.specialOps += n * def.special;
    const x = ta ? this.asTile(ta, cd) : null;
    const y = tb ? this.asTile(tb, cd) : null;
    if ((x && !x.raw) || (y && !y.raw)) {
      const out = this.tile(shape, rd, null, !!(ta?.fromDot || tb?.fromDot));
      this.noteVector(out, ...(x ? [x] : []), ...(y ? [y] : []));
      return out;
    }
    const out = this.alloc(rd, n);
    if (x && y) {
      const variant = x.size === n && y.size === n ? null : broadcastVariant(x, y, shape);
      if (variant) {
        const cols = shape[shape.length - 1]!;
        broadcastLoop(op, kind, variant)(x.raw!, y.raw!, out, n / cols, cols);
      } else if (y.size === 1 && x.size === n) binaryLoop(op, kind, 'ts')(x.raw!, y.raw![0]! as never, out, n);
      else if (x.size === 1 && y.size === n) binaryLoop(op, kind, 'st')(x.raw![0]! as never, y.raw!, out, n);
      else {
        const xa = x.size === n ? x.raw! : broadcastData(x.raw!, x.shape, shape);
        const ya = y.size === n ? y.raw! : broadcastData(y.raw!, y.shape, shape);
        binaryLoop(op, kind, 'tt')(xa, ya, out, n);
      }
    } else if (x) {
      binaryLoop(op, kind, 'ts')(x.raw!, castScalar(b as number, cd) as never, out, n);
    } else if (y) {
      binaryLoop(op, kind, 'st')(castScalar(a as number, cd) as never, y.raw!, out, n);
    } else {
      const tmp = this.alloc(cd, 1);
      tmp[0] = castScalar(b as number, cd);
      binaryLoop(op, kind, 'st')(castScalar(a as number, cd) as never, tmp, out, 1);
    }
    finishData(out, rd);
    const res = this.tile(shape, rd, out, !!(ta?.fromDot || tb?.fromDot));
    this.noteVector(res, ...(x ? [x] : []), ...(y ? [y] : []));
    return res;
  }

  add(a: Operand, b: Operand): Tile {
    return this.binary('add', a, b);
  }
  sub(a: Operand, b: Operand): Tile {
    return this.binary('sub', a, b);
  }
  mul(a: Operand, b: Operand): Tile {
    return this.binary('mul', a, b);
  }
  /** True division; integer operands give f32. */
  div(a: Operand, b: Operand): Tile {
    return this.binary('div', a, b);
  }
  maximum(a: Operand, b: Operand): Tile {
    return this.binary('maximum', a, b);
  }
  minimum(a: Operand, b: Operand): Tile {
    return this.binary('minimum', a, b);
  }
  /** Integer division truncating toward zero (C semantics); division by zero gives 0. */
  idiv(a: Operand, b: Operand): Tile {
    return this.binary('idiv', a, b);
  }
  /** Integer remainder with the sign of the dividend (C `%`); remainder by zero gives 0. */
  rem(a: Operand, b: Operand): Tile {
    return this.binary('rem', a, b);
  }
  and(a: Operand, b: Operand): Tile {
    return this.binary('and', a, b);
  }
  or(a: Operand, b: Operand): Tile {
    return this.binary('or', a, b);
  }
  xor(a: Operand, b: Operand): Tile {
    return this.binary('xor', a, b);
  }
  shl(a: Operand, b: Operand): Tile {
    return this.binary('shl', a, b);
  }
  /** Arithmetic shift right. */
  shr(a: Operand, b: Operand): Tile {
    return this.binary('shr', a, b);
  }
  /** Logical shift right (zero fill), treating the int32 bits as unsigned. */
  shru(a: Operand, b: Operand): Tile {
    return this.binary('shru', a, b);
  }
  lt(a: Operand, b: Operand): Tile {
    return this.binary('lt', a, b);
  }
  le(a: Operand, b: Operand): Tile {
    return this.binary('le', a, b);
  }
  gt(a: Operand, b: Operand): Tile {
    return this.binary('gt', a, b);
  }
  ge(a: Operand, b: Operand): Tile {
    return this.binary('ge', a, b);
  }
  eq(a: Operand, b: Operand): Tile {
    return this.binary('eq', a, b);
  }
  ne(a: Operand, b: Operand): Tile {
    return this.binary('ne', a, b);
  }

  /** @internal */
  unary(op: UnaryOp, x: Tile): Tile {
    const def: UnaryOpDef = UNARY_OPS[op];
    const what = `${this.location()}: ${op}`;
    if (isFp8(x.dtype)) promoteFp8Error(what, x);
    let cd: TileDType = x.dtype;
    let kind = kindOf(cd);
    if (def[kind] === undefined) {
      if (kind === 'float') throw new TesseraError('InvalidValue', `${what} needs integer or bool tiles, got ${cd}.`);
      cd = 'f32';
      kind = 'float';
    }
    const rd: TileDType = def.result === 'bool' ? 'bool' : cd;
    const n = x.size;
    this.cost.addVector(rd === 'bool' ? cd : rd, n);
    if (def.special) this.cost.specialOps += n * def.special;
    const src = this.asTile(x, cd);
    if (!src.raw) {
      const out = this.tile(x.shape, rd, null, x.fromDot);
      this.noteVector(out, src);
      return out;
    }
    const out = this.alloc(rd, n);
    unaryLoop(op, kind)(src.raw, out, n);
    finishData(out, rd);
    const res = this.tile(x.shape, rd, out, x.fromDot);
    this.noteVector(res, src);
    return res;
  }

  neg(x: Tile): Tile {
    return this.unary('neg', x);
  }
  abs(x: Tile): Tile {
    return this.unary('abs', x);
  }
  exp(x: Tile): Tile {
    return this.unary('exp', x);
  }
  exp2(x: Tile): Tile {
    return this.unary('exp2', x);
  }
  log(x: Tile): Tile {
    return this.unary('log', x);
  }
  log2(x: Tile): Tile {
    return this.unary('log2', x);
  }
  sqrt(x: Tile): Tile {
    return this.unary('sqrt', x);
  }
  rsqrt(x: Tile): Tile {
    return this.unary('rsqrt', x);
  }
  sin(x: Tile): Tile {
    return this.unary('sin', x);
  }
  cos(x: Tile): Tile {
    return this.unary('cos', x);
  }
  tanh(x: Tile): Tile {
    return this.unary('tanh', x);
  }
  sigmoid(x: Tile): Tile {
    return this.unary('sigmoid', x);
  }
  erf(x: Tile): Tile {
    return this.unary('erf', x);
  }
  floor(x: Tile): Tile {
    return this.unary('floor', x);
  }
  ceil(x: Tile): Tile {
    return this.unary('ceil', x);
  }
  trunc(x: Tile): Tile {
    return this.unary('trunc', x);
  }
  /** Round half to even. */
  round(x: Tile): Tile {
    return this.unary('round', x);
  }
  /** Logical not for bool tiles, bitwise not for integers. */
  not(x: Tile): Tile {
    return this.unary('not', x);
  }
  isnan(x: Tile): Tile {
    return this.unary('isnan', x);
  }

  /** Elementwise select: `cond ? a : b`, broadcasting all three. */
  where(cond: Tile, a: Operand, b: Operand): Tile {
    const what = `${this.location()}: where`;
    const weak = (x: number): Weak => (Number.isInteger(x) ? 'int-scalar' : 'float-scalar');
    const rd = promote(a instanceof Tile ? a.dtype : weak(a), b instanceof Tile ? b.dtype : weak(b), what);
    const ta = this.asTile(a, rd);
    const tb = this.asTile(b, rd);
    const c = cond.dtype === 'bool' ? cond : this.ne(cond, 0);
    const shape = broadcastShapes(broadcastShapes(c.shape, ta.shape, what), tb.shape, what);
    const n = sizeOf(shape);
    this.cost.addVector(rd, n);
    const fromDot = ta.fromDot || tb.fromDot;
    if (!c.raw || !ta.raw || !tb.raw) {
      const out = this.tile(shape, rd, null, fromDot);
      this.noteVector(out, c, ta, tb);
      return out;
    }
    const cd = c.size === n ? c.raw : broadcastData(c.raw, c.shape, shape);
    const ad = ta.size === n ? ta.raw : broadcastData(ta.raw, ta.shape, shape);
    const bd = tb.size === n ? tb.raw : broadcastData(tb.raw, tb.shape, shape);
    const out = this.alloc(rd, n);
    for (let i = 0; i < n; i++) out[i] = cd[i] ? ad[i]! : bd[i]!;
    const res = this.tile(shape, rd, out, fromDot);
    this.noteVector(res, c, ta, tb);
    return res;
  }

  /**
   * Converts to `dtype`. Floats round to nearest even (fp8 saturates); float → int truncates toward zero and
   * saturates (NaN → 0), as CUDA's `cvt.rzi.sat`; int → narrower int wraps, as a C cast does.
   */
  cast(x: Tile, dtype: TileDType): Tile {
    if (x.dtype === dtype) return x;
    this.useDType(dtype);
    this.cost.addVector(dtype, x.size);
    if (!x.raw) {
      const out = this.tile(x.shape, dtype, null, x.fromDot);
      this.noteVector(out, x);
      return out;
    }
    const n = x.size;
    const out = this.alloc(dtype, n);
    const src = x.raw;
    const fromKind = kindOf(x.dtype);
    const toKind = kindOf(dtype);
    if (toKind === 'bool') {
      for (let i = 0; i < n; i++) {
        const v = src[i]!;
        out[i] = v !== 0 && !Number.isNaN(v) ? 1 : 0;
      }
    } else if (toKind === 'float') {
      if (dtype === 'f32' || dtype === 'f16' || dtype === 'bf16') {
        (out as Float32Array).set(src);
        finishData(out, dtype);
      } else for (let i = 0; i < n; i++) out[i] = castScalar(src[i]!, dtype);
    } else if (fromKind === 'float') {
      for (let i = 0; i < n; i++) out[i] = castScalar(src[i]!, dtype);
    } else {
      (out as Int32Array).set(src);
      finishData(out, dtype);
    }
    const res = this.tile(x.shape, dtype, out, x.fromDot);
    this.noteVector(res, x);
    return res;
  }

  // ------------------------------------------------------------------ shape

  /** Same elements, new shape (row-major order kept); one axis may be -1. Free: no data moves. */
  reshape(x: Tile, shape: readonly number[]): Tile {
    const what = `${this.location()}: reshape`;
    const s = [...shape];
    const inferred = s.indexOf(-1);
    if (inferred >= 0) {
      const rest = s.reduce((a, d, i) => (i === inferred ? a : a * d), 1);
      s[inferred] = rest === 0 ? 0 : x.size / rest;
    }
    checkShape(s, what);
    if (sizeOf(s) !== x.size) {
      throw new TesseraError(
        'InvalidValue',
        `${what}: cannot reshape [${x.shape.join(', ')}] (${x.size} elements) to [${shape.join(', ')}].`,
      );
    }
    return this.tile(s, x.dtype, x.raw, x.fromDot);
  }

  /** Inserts a size-1 axis at `axis` (NumPy `x[:, None]` is `expandDims(x, 1)`). */
  expandDims(x: Tile, axis: number): Tile {
    const a = normalizeAxis(axis, x.rank + 1, `${this.location()}: expandDims`);
    const s = [...x.shape];
    s.splice(a, 0, 1);
    return this.tile(s, x.dtype, x.raw, x.fromDot);
  }

  broadcastTo(x: Tile, shape: readonly number[]): Tile {
    const what = `${this.location()}: broadcastTo`;
    const s = broadcastShapes(x.shape, shape, what);
    if (!sameShape(s, shape)) {
      throw new TesseraError(
        'InvalidValue',
        `${what}: [${x.shape.join(', ')}] cannot broadcast to [${shape.join(', ')}].`,
      );
    }
    if (sameShape(x.shape, s)) return x;
    return this.tile(s, x.dtype, x.raw ? broadcastData(x.raw, x.shape, s) : null, x.fromDot);
  }

  /** Reorders axes: `permute(x, [1, 0])` transposes a matrix. Costs nothing (a register layout change). */
  permute(x: Tile, perm: readonly number[]): Tile {
    const what = `${this.location()}: permute`;
    if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      throw new TesseraError('InvalidValue', `${what}: [${perm.join(', ')}] is not a permutation of ${x.rank} axes.`);
    }
    const shape = perm.map((p) => x.shape[p]!);
    // No cost: a layout change that compilers fold into the consumer (a transposed MMA operand, a strided store).
    if (!x.raw) return this.tile(shape, x.dtype, null, x.fromDot);
    const src = x.raw;
    const out = this.alloc(x.dtype, x.size);
    if (perm.length === 2 && perm[0] === 1) {
      // The common case (a transposed dot operand): a plain 2-D transpose, row by row of the output.
      const [R, C] = x.shape as [number, number];
      for (let c = 0, o = 0; c < C; c++) for (let r = 0; r < R; r++, o++) out[o] = src[r * C + c]!;
      const res = this.tile(shape, x.dtype, out, x.fromDot);
      this.noteVector(res, x);
      return res;
    }
    const inStrides = stridesOf(x.shape);
    const strides = perm.map((p) => inStrides[p]!);
    const idx = new Array<number>(shape.length).fill(0);
    for (let o = 0; o < out.length; o++) {
      let s = 0;
      for (let d = 0; d < idx.length; d++) s += idx[d]! * strides[d]!;
      out[o] = src[s]!;
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d]! < shape[d]!) break;
        idx[d] = 0;
      }
    }
    const res = this.tile(shape, x.dtype, out, x.fromDot);
    this.noteVector(res, x);
    return res;
  }

  /** Swaps the last two axes. */
  trans(x: Tile): Tile {
    if (x.rank < 2) return x;
    const perm = x.shape.map((_, i) => i);
    perm[x.rank - 1] = x.rank - 2;
    perm[x.rank - 2] = x.rank - 1;
    return this.permute(x, perm);
  }

  // ------------------------------------------------------------------ reductions and scans

  sum(x: Tile, axis?: number, keepDims = false): Tile {
    return red.reduce(this, 'sum', x, axis, keepDims);
  }
  max(x: Tile, axis?: number, keepDims = false): Tile {
    return red.reduce(this, 'max', x, axis, keepDims);
  }
  min(x: Tile, axis?: number, keepDims = false): Tile {
    return red.reduce(this, 'min', x, axis, keepDims);
  }
  /** Index (i32) of the first largest element along `axis`; a NaN counts as largest. */
  argmax(x: Tile, axis?: number, keepDims = false): Tile {
    return red.reduce(this, 'argmax', x, axis, keepDims);
  }
  argmin(x: Tile, axis?: number, keepDims = false): Tile {
    return red.reduce(this, 'argmin', x, axis, keepDims);
  }
  /** Inclusive prefix sum along `axis` (default: last). */
  cumsum(x: Tile, axis = -1): Tile {
    return red.cumsum(this, x, axis);
  }
  /** Sorted values along `axis` (stable; NaN last). */
  sort(x: Tile, options: { axis?: number; descending?: boolean } = {}): Tile {
    return red.sort(this, x, options.axis ?? -1, options.descending ?? false, false);
  }
  /** Indices (i32) that sort `x` along `axis` (stable; NaN last). */
  argsort(x: Tile, options: { axis?: number; descending?: boolean } = {}): Tile {
    return red.sort(this, x, options.axis ?? -1, options.descending ?? false, true);
  }

  // ------------------------------------------------------------------ matrix unit

  /**
   * Matrix product on the matrix unit (Tensor Cores / Cube): returns acc + a·b for a (M,K), b (K,N), acc (M,N).
   * Float operands accumulate in f32, int8/uint8 operands in i32. Per output element the sum runs over k in
   * ascending order, each product and each sum rounded to f32 — so results do not depend on tile sizes.
   * `precision: 'tf32'` rounds f32 operands to TensorFloat-32 first (and is costed at the TF32 rate).
   */
  dot(a: Tile, b: Tile, acc?: Tile, options: { precision?: 'ieee' | 'tf32' } = {}): Tile {
    const what = `${this.location()}: dot`;
    if (a.rank !== 2 || b.rank !== 2) {
      throw new TesseraError(
        'InvalidValue',
        `${what} takes 2-D tiles, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}].`,
        {
          hint: 'Loop over the batch axis and dot each 2-D slice.',
        },
      );
    }
    const [M, K] = a.shape as [number, number];
    const [K2, N] = b.shape as [number, number];
    if (K !== K2) {
      throw new TesseraError(
        'InvalidValue',
        `${what}: inner dimensions differ: a is [${M}, ${K}], b is [${K2}, ${N}].`,
      );
    }
    const intOps = !isFloat(a.dtype);
    const okInt = (d: TileDType) => d === 'i8' || d === 'u8';
    if (
      intOps
        ? !(okInt(a.dtype) && okInt(b.dtype))
        : !(isFloat(b.dtype) && (a.dtype === b.dtype || (isFp8(a.dtype) && isFp8(b.dtype))))
    ) {
      throw new TesseraError(
        'InvalidValue',
        `${what}: operand types ${a.dtype} and ${b.dtype} cannot meet on the matrix unit.`,
        {
          hint: 'Use two tiles of the same float type (f32, f16, bf16, or fp8), or int8/uint8 with int8/uint8; cast() one operand.',
        },
      );
    }
    const accType: TileDType = intOps ? 'i32' : 'f32';
    if (acc && (acc.dtype !== accType || acc.rank !== 2 || acc.shape[0] !== M || acc.shape[1] !== N)) {
      throw new TesseraError(
        'InvalidValue',
        `${what}: accumulator must be ${accType}[${M}, ${N}], got ${acc.dtype}[${acc.shape.join(', ')}].`,
      );
    }
    const precision = options.precision ?? 'ieee';
    const costType: CostDType =
      a.dtype === 'f32' && precision === 'tf32' ? 'tf32' : isFp8(a.dtype) ? a.dtype : (a.dtype as CostDType);
    this.cost.addMatrix(costType, 2 * M * N * K);
    this.cost.dotOps += 1;
    const r = this.launch.resources;
    const opBytes = M * K * dtypeBytes(a.dtype) + K * N * dtypeBytes(b.dtype);
    if (opBytes > r.dotOperandBytes) r.dotOperandBytes = opBytes;
    if (M * N * 4 > r.accumulatorBytes) r.accumulatorBytes = M * N * 4;
    if (!a.raw || !b.raw || (acc && !acc.raw)) return this.tile([M, N], accType, null, true);
    if (intOps) {
      const c = this.alloc('i32', M * N) as Int32Array;
      if (acc) dotI32(a.raw as Int32Array, b.raw as Int32Array, c, M, N, K, acc.raw as Int32Array);
      else dotI32(a.raw as Int32Array, b.raw as Int32Array, c.fill(0), M, N, K);
      return this.tile([M, N], 'i32', c, true);
    }
    let ad = a.raw as Float32Array;
    let bd = b.raw as Float32Array;
    if (costType === 'tf32') {
      ad = ad.map(roundTf32);
      bd = bd.map(roundTf32);
    }
    const c = this.alloc('f32', M * N) as Float32Array;
    if (acc) dotF32(ad, bd, c, M, N, K, acc.raw as Float32Array);
    else dotF32(ad, bd, c.fill(0), M, N, K);
    return this.tile([M, N], 'f32', c, true);
  }

  // ------------------------------------------------------------------ global memory

  /** Gathers `ptr[offsets]` (element offsets); masked-off lanes read `other` (default 0) and touch no memory. */
  load(ptr: DeviceBuffer, offsets: Operand, options: { mask?: Tile; other?: number } = {}): Tile {
    return mem.load(this, ptr, offsets, options);
  }
  /** Scatters `value` to `ptr[offsets]`, converting to the buffer's dtype; masked-off lanes write nothing. */
  store(ptr: DeviceBuffer, offsets: Operand, value: Operand, options: { mask?: Tile } = {}): void {
    mem.store(this, ptr, offsets, value, options);
  }
  /** Atomic `ptr[o] += v` per active lane (in lane order); returns the old values. */
  atomicAdd(ptr: DeviceBuffer, offsets: Operand, value: Operand, options: { mask?: Tile } = {}): Tile {
    return mem.atomic(this, 'add', ptr, offsets, value, options);
  }
  atomicMax(ptr: DeviceBuffer, offsets: Operand, value: Operand, options: { mask?: Tile } = {}): Tile {
    return mem.atomic(this, 'max', ptr, offsets, value, options);
  }
  atomicMin(ptr: DeviceBuffer, offsets: Operand, value: Operand, options: { mask?: Tile } = {}): Tile {
    return mem.atomic(this, 'min', ptr, offsets, value, options);
  }
  /**
   * Describes `ptr` as an n-D tensor (element strides; row-major by default) starting `offset` elements in, for block
   * loads and stores — like Triton's tensor descriptors / cuTile arrays / Ascend C `GlobalTensor` with a shape.
   * Block accesses pad or clip at this tensor's bounds, so a sub-tensor (one batch, one expert's rows) clips at its own.
   */
  tensor(ptr: DeviceBuffer, shape: readonly number[], strides?: readonly number[], offset = 0): mem.TensorDesc {
    return mem.tensor(this, ptr, shape, strides, offset);
  }
  /** Loads the block at element offsets `at` with shape `block`; elements outside the tensor read `padding` (0). */
  loadBlock(
    desc: mem.TensorDesc,
    at: readonly number[],
    block: readonly number[],
    options: { padding?: number } = {},
  ): Tile {
    return mem.loadBlock(this, desc, at, block, options.padding ?? 0);
  }
  /** Stores `value` as the block at element offsets `at`; elements outside the tensor are skipped. */
  storeBlock(desc: mem.TensorDesc, at: readonly number[], value: Tile): void {
    mem.storeBlock(this, desc, at, value);
  }

  /** @internal Encoder for storing into a buffer of `dtype`. */
  static encoderFor(dtype: DType): ((x: number) => number) | null {
    return bitsEncoder(dtype);
  }
}

function promoteFp8Error(what: string, x: Tile): never {
  throw new TesseraError('InvalidValue', `${what}: fp8 tiles only support cast() and dot(), got ${x.dtype}.`, {
    hint: 'Cast to f16, bf16 or f32 first: x.cast("f32").',
  });
}

export { DTYPE_INFO };
