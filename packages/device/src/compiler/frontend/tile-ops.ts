/**
 * The tile language's ops as IR constructors: type promotion (Triton's rules, as the kernel-language docs give them),
 * broadcasting and shape checks happen here, at compile time, so every IR op is fully typed and every operand
 * conversion is an explicit `tile.cast` (which is also what the cost model counts). Scalars — JS numbers known at
 * compile time, or symbolic scalar values — stay scalar operands: they convert to the op's dtype when it runs.
 */
import { isFloat, isFp8, type TileDType } from '../../dtype/dtype';
import { BINARY_OPS, type BinaryOp, UNARY_OPS, type UnaryOp } from '../../kernel/elementwise';
import { sizeOf } from '../../kernel/shape';
import type { Builder } from '../builder';
import { INT, isScalar, isTile, type Type, tileType, type Value } from '../ir';

export type Operand = Value | number;
type Weak = 'int-scalar' | 'float-scalar';
type Kind = 'float' | 'int' | 'bool';

export function kindOf(d: TileDType): Kind {
  return d === 'bool' ? 'bool' : isFloat(d) ? 'float' : 'int';
}

/** Raises a compile error at the op being built. */
export type Fail = (message: string, hint?: string) => never;

export interface TileType {
  kind: 'tile';
  dtype: TileDType;
  shape: readonly number[];
}

export function tileOf(v: Value): TileType | null {
  return isTile(v.type) ? (v.type as TileType) : null;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function broadcastShapes(a: readonly number[], b: readonly number[], fail: Fail, what: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      fail(
        `${what}: shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast (axis ${i}: ${da} vs ${db}).`,
        'Insert a size-1 axis with expandDims() or reshape() so the axes line up.',
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number, fail: Fail, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank)
    fail(`${what}: axis ${axis} is out of range for a tile of rank ${rank}.`);
  return a;
}

function promote(x: TileDType | Weak, y: TileDType | Weak, fail: Fail, what: string): TileDType {
  if (x === 'int-scalar' || x === 'float-scalar') {
    if (y === 'int-scalar' || y === 'float-scalar') return x === 'float-scalar' || y === 'float-scalar' ? 'f32' : 'i32';
    return promote(y, x, fail, what);
  }
  if (y === 'int-scalar') return x;
  if (y === 'float-scalar') return isFloat(x) ? x : 'f32';
  if (x === y) return x;
  if (isFp8(x) || isFp8(y))
    fail(`${what}: fp8 tiles only support cast() and dot().`, 'Cast them to f16, bf16 or f32 first: x.cast("f32").');
  const fx = isFloat(x);
  const fy = isFloat(y);
  if (fx && fy) return 'f32';
  if (fx) return x;
  if (fy) return y;
  if (x === 'bool') return y;
  if (y === 'bool') return x;
  return 'i32';
}

/** The tile-language constructors over one builder. */
export class TileOps {
  constructor(
    readonly b: Builder,
    readonly fail: Fail,
  ) {}

  private weak(x: Operand): Weak | null {
    if (typeof x === 'number') return Number.isInteger(x) ? 'int-scalar' : 'float-scalar';
    if (isScalar(x.type)) return x.type.s === 'float' ? 'float-scalar' : 'int-scalar';
    return null;
  }

  /** A scalar operand as an IR value. */
  scalar(x: Operand): Value {
    return typeof x === 'number' ? this.b.constant(x) : x;
  }

  private checkOperand(x: Operand, what: string): void {
    if (typeof x === 'number') return;
    if (!isScalar(x.type) && !isTile(x.type)) this.fail(`${what}: expected a tile or a number, got ${x.type.kind}.`);
    const t = tileOf(x);
    if (t && isFp8(t.dtype)) {
      this.fail(
        `${what}: fp8 tiles only support cast() and dot(), got ${t.dtype}.`,
        'Cast to f16, bf16 or f32 first: x.cast("f32").',
      );
    }
  }

  cast(x: Value, dtype: TileDType): Value {
    const t = tileOf(x);
    if (!t) {
      // A scalar: a 0-d tile of the dtype.
      return this.full([], x, dtype);
    }
    if (t.dtype === dtype) return x;
    return this.b.op('tile.cast', [x], [tileType(dtype, t.shape)], { dtype }).result;
  }

  /** `x` as a tile of `dtype` (scalars stay scalars: they convert when the op runs). */
  private asDType(x: Operand, dtype: TileDType): Value {
    if (typeof x === 'number') return this.b.constant(x);
    return tileOf(x) ? this.cast(x, dtype) : x;
  }

  binary(op: BinaryOp, a: Operand, b: Operand): Value {
    const def = BINARY_OPS[op] as (typeof BINARY_OPS)[BinaryOp] & { bool?: string; int?: string; float?: string };
    const what = op;
    this.checkOperand(a, what);
    this.checkOperand(b, what);
    const ta = typeof a === 'number' ? null : tileOf(a);
    const tb = typeof b === 'number' ? null : tileOf(b);
    let cd = promote(ta ? ta.dtype : this.weak(a)!, tb ? tb.dtype : this.weak(b)!, this.fail, what);
    if (def.result === 'float' && !isFloat(cd)) cd = 'f32';
    if (cd === 'bool' && !('bool' in def)) cd = 'i32';
    let kind = kindOf(cd);
    if ((def as Record<string, unknown>)[kind] === undefined) {
      if (kind === 'float') {
        this.fail(
          `${what} needs integer tiles, got ${cd}.`,
          op === 'idiv' || op === 'rem' ? 'For floats use floor(div(a, b)) or a - floor(a / b) * b.' : undefined,
        );
      }
      cd = 'f32';
      kind = 'float';
    }
    const rd: TileDType = def.result === 'bool' ? 'bool' : cd;
    const shape = broadcastShapes(ta ? ta.shape : [], tb ? tb.shape : [], this.fail, what);
    const x = this.asDType(a, cd);
    const y = this.asDType(b, cd);
    return this.b.op('tile.binary', [x, y], [tileType(rd, shape)], { op, dtype: cd }).result;
  }

  unary(op: UnaryOp, x: Value): Value {
    const def = UNARY_OPS[op] as (typeof UNARY_OPS)[UnaryOp] & Record<string, unknown>;
    const t =
      tileOf(x) ??
      this.fail(`${op}: expected a tile, got a ${x.type.kind}.`, 'Apply it to a tile, e.g. t.full([1], x).');
    this.checkOperand(x, op);
    let cd: TileDType = t.dtype;
    let kind = kindOf(cd);
    if (def[kind] === undefined) {
      if (kind === 'float') this.fail(`${op} needs integer or bool tiles, got ${cd}.`);
      cd = 'f32';
      kind = 'float';
    }
    const rd: TileDType = def.result === 'bool' ? 'bool' : cd;
    const src = this.cast(x, cd);
    return this.b.op('tile.unary', [src], [tileType(rd, t.shape)], { op, dtype: cd }).result;
  }

  where(cond: Value, a: Operand, b: Operand): Value {
    const what = 'where';
    const tc = tileOf(cond) ?? this.fail(`${what}: the condition must be a tile, got a ${cond.type.kind}.`);
    const ta = typeof a === 'number' ? null : tileOf(a);
    const tb = typeof b === 'number' ? null : tileOf(b);
    this.checkOperand(a, what);
    this.checkOperand(b, what);
    const rd = promote(ta ? ta.dtype : this.weak(a)!, tb ? tb.dtype : this.weak(b)!, this.fail, what);
    const c = tc.dtype === 'bool' ? cond : this.binary('ne', cond, 0);
    const shape = broadcastShapes(
      broadcastShapes(tc.shape, ta ? ta.shape : [], this.fail, what),
      tb ? tb.shape : [],
      this.fail,
      what,
    );
    return this.b.op('tile.where', [c, this.asDType(a, rd), this.asDType(b, rd)], [tileType(rd, shape)], { dtype: rd })
      .result;
  }

  arange(start: Operand, size: number): Value {
    if (!Number.isInteger(size) || size < 0) this.fail(`arange: the size ${size} must be an integer ≥ 0.`);
    return this.b.op('tile.arange', [this.scalar(start)], [tileType('i32', [size])], { size }).result;
  }

  full(shape: readonly number[], value: Operand, dtype: TileDType): Value {
    this.checkShape(shape, 'full');
    return this.b.op('tile.full', [this.scalar(value)], [tileType(dtype, shape)], { shape: [...shape], dtype }).result;
  }

  checkShape(shape: readonly unknown[], what: string): asserts shape is number[] {
    if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
      this.fail(
        `${what}: the shape [${(shape as unknown[]).map(String).join(', ')}] must hold integers ≥ 0 known at compile time.`,
        'Shapes come from constexpr parameters and literals (tile sizes), not from runtime scalars.',
      );
    }
  }

  reshape(x: Value, shape: readonly number[]): Value {
    const t = tileOf(x) ?? this.fail('reshape: expected a tile.');
    const s = [...shape];
    const inferred = s.indexOf(-1);
    if (inferred >= 0) {
      const rest = s.reduce((a, d, i) => (i === inferred ? a : a * d), 1);
      s[inferred] = rest === 0 ? 0 : sizeOf(t.shape) / rest;
    }
    this.checkShape(s, 'reshape');
    if (sizeOf(s) !== sizeOf(t.shape)) {
      this.fail(
        `reshape: cannot reshape [${t.shape.join(', ')}] (${sizeOf(t.shape)} elements) to [${shape.join(', ')}].`,
      );
    }
    if (sameShape(s, t.shape)) return x;
    return this.b.op('tile.reshape', [x], [tileType(t.dtype, s)], { shape: s }).result;
  }

  expandDims(x: Value, axis: number): Value {
    const t = tileOf(x) ?? this.fail('expandDims: expected a tile.');
    const a = normalizeAxis(axis, t.shape.length + 1, this.fail, 'expandDims');
    const s = [...t.shape];
    s.splice(a, 0, 1);
    return this.reshape(x, s);
  }

  broadcastTo(x: Value, shape: readonly number[]): Value {
    const t = tileOf(x) ?? this.fail('broadcastTo: expected a tile.');
    this.checkShape(shape, 'broadcastTo');
    const s = broadcastShapes(t.shape, shape, this.fail, 'broadcastTo');
    if (!sameShape(s, shape))
      this.fail(`broadcastTo: [${t.shape.join(', ')}] cannot broadcast to [${shape.join(', ')}].`);
    if (sameShape(t.shape, s)) return x;
    return this.b.op('tile.broadcast', [x], [tileType(t.dtype, s)], { shape: s }).result;
  }

  permute(x: Value, perm: readonly number[]): Value {
    const t = tileOf(x) ?? this.fail('permute: expected a tile.');
    if (perm.length !== t.shape.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
      this.fail(`permute: [${perm.join(', ')}] is not a permutation of ${t.shape.length} axes.`);
    }
    if (perm.every((p, i) => p === i)) return x;
    const shape = perm.map((p) => t.shape[p]!);
    return this.b.op('tile.permute', [x], [tileType(t.dtype, shape)], { perm: [...perm] }).result;
  }

  trans(x: Value): Value {
    const t = tileOf(x) ?? this.fail('trans: expected a tile.');
    if (t.shape.length < 2) return x;
    const perm = t.shape.map((_, i) => i);
    perm[t.shape.length - 1] = t.shape.length - 2;
    perm[t.shape.length - 2] = t.shape.length - 1;
    return this.permute(x, perm);
  }

  reduce(
    kind: 'sum' | 'max' | 'min' | 'argmax' | 'argmin',
    x: Value,
    axis: number | undefined,
    keepDims: boolean,
  ): Value {
    const t = tileOf(x) ?? this.fail(`${kind}: expected a tile.`);
    if (isFp8(t.dtype)) this.fail(`${kind} of an fp8 tile.`, 'Cast to f32 first.');
    const whole = axis === undefined || axis === null;
    const ax = whole ? null : normalizeAxis(axis, t.shape.length, this.fail, kind);
    const n = whole ? sizeOf(t.shape) : t.shape[ax!]!;
    if (n === 0 && kind !== 'sum') this.fail(`${kind} over an empty axis has no result.`);
    let shape: number[];
    if (whole) shape = keepDims ? t.shape.map(() => 1) : [];
    else {
      shape = [...t.shape];
      if (keepDims) shape[ax!] = 1;
      else shape.splice(ax!, 1);
    }
    const rd: TileDType =
      kind === 'argmax' || kind === 'argmin' ? 'i32' : kind === 'sum' && !isFloat(t.dtype) ? 'i32' : t.dtype;
    return this.b.op('tile.reduce', [x], [tileType(rd, shape)], { kind, axis: ax, keepDims }).result;
  }

  cumsum(x: Value, axis: number): Value {
    const t = tileOf(x) ?? this.fail('cumsum: expected a tile.');
    if (isFp8(t.dtype)) this.fail('cumsum of an fp8 tile.', 'Cast to f32 first.');
    const ax = normalizeAxis(axis, t.shape.length, this.fail, 'cumsum');
    const rd: TileDType = isFloat(t.dtype) ? t.dtype : 'i32';
    return this.b.op('tile.cumsum', [x], [tileType(rd, t.shape)], { axis: ax }).result;
  }

  sort(x: Value, axis: number, descending: boolean, indices: boolean): Value {
    const t = tileOf(x) ?? this.fail(`${indices ? 'argsort' : 'sort'}: expected a tile.`);
    if (isFp8(t.dtype)) this.fail(`${indices ? 'argsort' : 'sort'} of an fp8 tile.`, 'Cast to f32 first.');
    const ax = normalizeAxis(axis, t.shape.length, this.fail, 'sort');
    const rd: TileDType = indices ? 'i32' : t.dtype;
    return this.b.op('tile.sort', [x], [tileType(rd, t.shape)], { axis: ax, descending, indices }).result;
  }

  dot(a: Value, b: Value, acc: Value | undefined, precision: 'ieee' | 'tf32'): Value {
    const what = 'dot';
    const ta = tileOf(a) ?? this.fail(`${what}: expected tiles.`);
    const tb = tileOf(b) ?? this.fail(`${what}: expected tiles.`);
    if (ta.shape.length !== 2 || tb.shape.length !== 2) {
      this.fail(
        `${what} takes 2-D tiles, got [${ta.shape.join(', ')}] and [${tb.shape.join(', ')}].`,
        'Loop over the batch axis and dot each 2-D slice.',
      );
    }
    const [M, K] = ta.shape as [number, number];
    const [K2, N] = tb.shape as [number, number];
    if (K !== K2) this.fail(`${what}: inner dimensions differ: a is [${M}, ${K}], b is [${K2}, ${N}].`);
    const intOps = !isFloat(ta.dtype);
    const okInt = (d: TileDType) => d === 'i8' || d === 'u8';
    if (
      intOps
        ? !(okInt(ta.dtype) && okInt(tb.dtype))
        : !(isFloat(tb.dtype) && (ta.dtype === tb.dtype || (isFp8(ta.dtype) && isFp8(tb.dtype))))
    ) {
      this.fail(
        `${what}: operand types ${ta.dtype} and ${tb.dtype} cannot meet on the matrix unit.`,
        'Use two tiles of the same float type (f32, f16, bf16, or fp8), or int8/uint8 with int8/uint8; cast() one operand.',
      );
    }
    const accType: TileDType = intOps ? 'i32' : 'f32';
    if (acc) {
      const tc = tileOf(acc);
      if (!tc || tc.dtype !== accType || tc.shape.length !== 2 || tc.shape[0] !== M || tc.shape[1] !== N) {
        this.fail(
          `${what}: accumulator must be ${accType}[${M}, ${N}], got ${tc ? `${tc.dtype}[${tc.shape.join(', ')}]` : acc.type.kind}.`,
        );
      }
    }
    const operands = acc ? [a, b, acc] : [a, b];
    return this.b.op('tile.dot', operands, [tileType(accType, [M, N])], { precision, acc: !!acc }).result;
  }

  /** Integer offsets for gathers: an int tile or an integer scalar (a 0-d offset). */
  offsets(x: Operand, what: string): Value {
    if (typeof x === 'number') {
      if (!Number.isInteger(x)) this.fail(`${what} ${x} is not an integer.`);
      return this.b.constant(x);
    }
    const t = tileOf(x);
    if (t) {
      if (isFloat(t.dtype) || t.dtype === 'bool') {
        this.fail(
          `${what} must be an integer tile, got ${t.dtype}.`,
          'Build offsets from t.arange() and integer scalars, or cast("i32").',
        );
      }
      return x;
    }
    if (isScalar(x.type) && x.type.s === 'float') {
      this.fail(
        `${what} must be an integer; this scalar may hold fractions.`,
        'Use Math.floor(), | 0 or an integer parameter.',
      );
    }
    return x;
  }

  /** The shape lanes of a gather/scatter take: offsets, mask and value broadcast together. */
  laneShape(offsets: Value, mask: Value | undefined, value: Operand | undefined, what: string): number[] {
    let shape: readonly number[] = tileOf(offsets)?.shape ?? [];
    if (mask) {
      const tm = tileOf(mask);
      if (tm?.dtype !== 'bool') {
        this.fail(
          `${what} mask must be a bool tile, got ${tm ? tm.dtype : mask.type.kind}.`,
          'Build masks with comparisons, e.g. offs.lt(n).',
        );
      }
      shape = broadcastShapes(shape, tm.shape, this.fail, what);
    }
    const tv = value === undefined || typeof value === 'number' ? null : tileOf(value);
    if (tv) shape = broadcastShapes(shape, tv.shape, this.fail, what);
    return [...shape];
  }

  static readonly INT_TYPE: Type = INT;
}
