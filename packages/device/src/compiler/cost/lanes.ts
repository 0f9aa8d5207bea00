/**
 * Tiles whose lanes the cost analysis must know: masks and offsets of gathers, scatters and atomics, and the index
 * arithmetic they come from (arange, comparisons, and/or/not, where, broadcast, reshape, …). Everything else a kernel
 * computes on tiles only matters through its static shape and dtype.
 *
 * A lane tile holds a concrete base (typed data exactly as a run holds it) plus, for i32 tiles,
 * one offset `s` shared by every lane — `arange(0, B) + pid·B` is the base [0 … B−1] plus pid·B — a number or a Sym,
 * so index tiles stay exact over a whole piece of programs, and bases depend only on a kernel's structure: they are
 * shared between pieces and launches, and what is computed from them (sums of bases, broadcasts, per-row ranges) is
 * cached by identity. Lanes computed from loaded data are unknown (`unk`); bool tiles use three-valued logic
 * (false ∧ unknown is false), so a mask that is partly index arithmetic and partly data bounds its active lanes as
 * tightly as the index part allows.
 *
 * Comparisons against a Sym decide each lane over the piece; a lane whose outcome changes inside the piece throws a
 * `Split` at that lane's breakpoint. Values are computed with the runtime's own elementwise loops and
 * conversions (and i32 offsets are checked never to wrap), so concrete lanes are bit for bit what the functional
 * interpreter computes.
 */
import { castScalar, dtypeBytes, type TileDType } from '../../dtype/dtype';
import { type BinaryOp, binaryLoop, type UnaryOp, unaryLoop } from '../../kernel/elementwise';
import { broadcastData, sizeOf, stridesOf } from '../../kernel/shape';
import type { TileData } from '../../kernel/tile-data';
import { allocTileData, finishData, kindOf } from '../../kernel/tile-data';
import {
  addS,
  compareS,
  type Domains,
  divS,
  isPoint,
  mulS,
  needPoints,
  negS,
  numRange,
  pointValue,
  type Scalar,
  Sym,
  sameScalar,
  settle,
  valueRange,
} from './sym';

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

export class LaneTile {
  constructor(
    readonly dtype: TileDType,
    readonly shape: readonly number[],
    readonly size: number,
    /** Lane values with `s` = 0, or null when every lane is unknown (data). Never written after creation. */
    readonly base: TileData | null,
    /** Offset added to every lane: 0 for non-i32 tiles; a number or a Sym for i32 (the sum never wraps). */
    readonly s: number | Sym,
    /** 1 where the lane depends on loaded data (null: none does). */
    readonly unk: Uint8Array | null,
    readonly fromDot: boolean,
  ) {}

  /** Smallest and largest base lane. */
  baseRange(): readonly [number, number] {
    return rangeOf(this.base!);
  }

  get known(): boolean {
    return this.base !== null;
  }
}

export function unknownTile(dtype: TileDType, shape: readonly number[], fromDot: boolean): LaneTile {
  return new LaneTile(dtype, shape, sizeOf(shape), null, 0, null, fromDot);
}

// ------------------------------------------------------------------------------------------- caches

const ranges = new WeakMap<TileData, readonly [number, number]>();

function rangeOf(b: TileData): readonly [number, number] {
  let r = ranges.get(b);
  if (!r) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < b.length; i++) {
      const v = b[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    r = [lo, hi];
    ranges.set(b, r);
  }
  return r;
}

const aranges = new Map<number, Int32Array>();
const zerosI32 = new Map<number, Int32Array>();
const fulls = new Map<string, TileData>();

function arangeBase(n: number): Int32Array {
  let b = aranges.get(n);
  if (!b) {
    b = new Int32Array(n);
    for (let i = 0; i < n; i++) b[i] = i;
    aranges.set(n, b);
  }
  return b;
}

function zeroBase(n: number): Int32Array {
  let b = zerosI32.get(n);
  if (!b) {
    b = new Int32Array(n);
    zerosI32.set(n, b);
  }
  return b;
}

/** Results derived from one base (or a pair), keyed by what else they depend on. */
const derived = new WeakMap<object, Map<string, unknown>>();
const pairs = new WeakMap<object, WeakMap<object, Map<string, unknown>>>();

function memo1<T>(a: object, key: string, make: () => T): T {
  let m = derived.get(a);
  if (!m) {
    m = new Map();
    derived.set(a, m);
  }
  let r = m.get(key) as T | undefined;
  if (r === undefined) {
    r = make();
    if (m.size > 64) m.clear();
    m.set(key, r);
  }
  return r;
}

function memo2<T>(a: object, b: object, key: string, make: () => T): T {
  let m1 = pairs.get(a);
  if (!m1) {
    m1 = new WeakMap();
    pairs.set(a, m1);
  }
  let m = m1.get(b);
  if (!m) {
    m = new Map();
    m1.set(b, m);
  }
  let r = m.get(key) as T | undefined;
  if (r === undefined) {
    r = make();
    if (m.size > 64) m.clear();
    m.set(key, r);
  }
  return r;
}

/** `data` (shape `from`) broadcast to `to`, cached. */
function bcast<T extends TileData>(data: T, from: readonly number[], to: readonly number[]): T {
  if (data.length === sizeOf(to)) return data;
  return memo1(data, `b${from.join(',')}>${to.join(',')}`, () => broadcastData(data, from, to));
}

function unkOf(t: LaneTile | Scalar, to: readonly number[]): Uint8Array | null {
  if (!(t instanceof LaneTile)) return null;
  if (!t.base) return new Uint8Array(sizeOf(to)).fill(1);
  return t.unk ? bcast(t.unk, t.shape, to) : null;
}

function unionUnk(a: Uint8Array | null, b: Uint8Array | null): Uint8Array | null {
  if (!a) return b;
  if (!b) return a;
  const o = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = a[i]! | b[i]!;
  return o;
}

function anyUnknown(u: Uint8Array | null): Uint8Array | null {
  if (!u) return null;
  for (let i = 0; i < u.length; i++) if (u[i]) return u;
  return null;
}

/** A scalar operand as a number or an integral-or-not Sym (booleans as 0/1). */
function checkedScalar(p: Domains, x: Scalar): number | Sym {
  const v = settle(p, x);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'symbol') throw new Error('cost analysis: data scalar in a lane op');
  return v;
}

/** Whether a Sym takes only integer values on the piece's lattice. */
export function intValued(p: Domains, s: Sym): boolean {
  if (s.d === 1) return true;
  let num = s.c;
  for (let v = 0; v < p.nv; v++) {
    const k = s.a[v]!;
    if (k === 0) continue;
    num += k * p.lo[v]!;
    if (p.n[v]! > 1 && (k * p.st[v]!) % s.d !== 0) return false;
  }
  return num % s.d === 0;
}

/** Whether base + s stays inside int32 over the piece (then a run's i32 lanes never wrap or saturate). */
function fitsI32(p: Domains, base: TileData, s: number | Sym): boolean {
  if (base.length === 0) return true;
  const [lo, hi] = rangeOf(base);
  const [smin, smax] = typeof s === 'number' ? [s, s] : valueRange(p, s);
  return lo + smin >= I32_MIN && hi + smax <= I32_MAX;
}

/** An i32 lane tile base + s (s settled to a number when its variables are points). */
function makeTile(
  p: Domains,
  dtype: TileDType,
  shape: readonly number[],
  base: TileData,
  s: number | Sym,
  unk: Uint8Array | null,
  fromDot: boolean,
): LaneTile {
  const v = s instanceof Sym && isPoint(p, s) ? pointValue(p, s) : s;
  return new LaneTile(dtype, shape, base.length, base, v, unk, fromDot);
}

/** A tile whose offset's variables became points (its piece was cut). */
export function settleTile(p: Domains, t: LaneTile): LaneTile {
  return makeTile(p, t.dtype, t.shape, t.base!, t.s, t.unk, t.fromDot);
}

/** The lanes' values (base + a numeric offset), as a run holds them. */
function values(t: LaneTile): TileData {
  const s = t.s as number;
  if (s === 0) return t.base!;
  return memo1(t.base!, `v${s}`, () => {
    const b = t.base!;
    const out = new Int32Array(b.length);
    for (let i = 0; i < b.length; i++) out[i] = b[i]! + s;
    return out;
  });
}

// ------------------------------------------------------------------------------------------- creation

export function arangeTile(p: Domains, start: Scalar, size: number): LaneTile {
  const base = arangeBase(size);
  const s = checkedScalar(p, start);
  if (s instanceof Sym && !intValued(p, s)) throw needPoints(p, s.mask);
  if (!fitsI32(p, base, s)) {
    if (s instanceof Sym) throw needPoints(p, s.mask);
    const out = new Int32Array(size);
    for (let i = 0; i < size; i++) out[i] = s + i; // wraps as an Int32Array store does
    return new LaneTile('i32', [size], size, out, 0, null, false);
  }
  return makeTile(p, 'i32', [size], base, s, null, false);
}

export function fullTile(p: Domains, value: Scalar, shape: readonly number[], dtype: TileDType): LaneTile {
  const n = sizeOf(shape);
  const v = settle(p, value);
  if (typeof v === 'symbol') return unknownTile(dtype, shape, false);
  if (dtype === 'i32' && (typeof v === 'number' || v instanceof Sym)) {
    const s = typeof v === 'number' ? castScalar(v, 'i32') : v;
    if (s instanceof Sym && !intValued(p, s)) throw needPoints(p, s.mask);
    if (s instanceof Sym) {
      const [lo, hi] = valueRange(p, s);
      if (lo < I32_MIN || hi > I32_MAX) throw needPoints(p, s.mask);
    }
    return makeTile(p, dtype, shape, zeroBase(n), s, null, false);
  }
  if (v instanceof Sym) throw needPoints(p, v.mask);
  const x = castScalar(typeof v === 'boolean' ? (v ? 1 : 0) : v, dtype);
  const key = `${dtype}|${n}|${Object.is(x, -0) ? '-0' : x}`;
  let d = fulls.get(key);
  if (!d) {
    d = allocTileData(dtype, n);
    d.fill(x);
    if (fulls.size > 1024) fulls.clear();
    fulls.set(key, d);
  }
  return new LaneTile(dtype, shape, n, d, 0, null, false);
}

// ------------------------------------------------------------------------------------------- elementwise

type Opnd = LaneTile | Scalar;

const CMP: Partial<Record<BinaryOp, string>> = { lt: '<', le: '<=', gt: '>', ge: '>=', eq: '===', ne: '!==' };

function compareNum(op: string, a: number, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '===':
      return a === b;
    default:
      return a !== b;
  }
}

/** Lane-wise `diff op thr` for a concrete diff and a symbolic threshold, uniform over the piece. */
function compareLanes(p: Domains, op: string, diff: ArrayLike<number>, thr: Sym): Uint8Array {
  const R = new Float64Array(2);
  numRange(p, thr, R);
  const nmin = R[0]!;
  const nmax = R[1]!;
  const d = thr.d;
  const out = new Uint8Array(diff.length);
  for (let i = 0; i < diff.length; i++) {
    const x = diff[i]! * d;
    let r: number;
    switch (op) {
      case '<':
        r = x < nmin ? 1 : x >= nmax ? 0 : -1;
        break;
      case '<=':
        r = x <= nmin ? 1 : x > nmax ? 0 : -1;
        break;
      case '>':
        r = x > nmax ? 1 : x <= nmin ? 0 : -1;
        break;
      case '>=':
        r = x >= nmax ? 1 : x < nmin ? 0 : -1;
        break;
      case '===':
        r = x < nmin || x > nmax ? 0 : nmin === nmax ? 1 : -1;
        break;
      default:
        r = x < nmin || x > nmax ? 1 : nmin === nmax ? 0 : -1;
    }
    if (r < 0) {
      // This lane changes inside the piece: compareS cuts at its breakpoint (it throws).
      compareS(p, op, diff[i]!, thr);
      throw new Error('cost analysis: lane comparison inconsistent');
    }
    out[i] = r;
  }
  return out;
}

/** Integer base of an operand broadcast to `shape` (a scalar contributes zeros), for the offset arithmetic. */
function intBase(x: Opnd, shape: readonly number[]): TileData {
  if (x instanceof LaneTile) return bcast(x.base!, x.shape, shape);
  return zeroBase(sizeOf(shape));
}

/** An operand's offset: a tile's `s`, or a scalar as the i32 lanes would receive it (castScalar; integral Syms). */
function offsetOf(p: Domains, x: Opnd): number | Sym {
  if (x instanceof LaneTile) return x.s;
  const v = checkedScalar(p, x);
  if (typeof v === 'number') return castScalar(v, 'i32');
  if (!intValued(p, v)) throw needPoints(p, v.mask);
  const [lo, hi] = valueRange(p, v);
  if (lo < I32_MIN || hi > I32_MAX) throw needPoints(p, v.mask);
  return v;
}

/**
 * A binary tile op (IR `tile.binary`): `cd` is the compute dtype, `rd` the result dtype, `shape` the result shape.
 * Operands are lane tiles of dtype cd, or scalars.
 */
export function binaryTile(
  p: Domains,
  op: BinaryOp,
  cd: TileDType,
  rd: TileDType,
  x: Opnd,
  y: Opnd,
  shape: readonly number[],
  fromDot: boolean,
): LaneTile {
  const xt = x instanceof LaneTile ? x : null;
  const yt = y instanceof LaneTile ? y : null;
  // Unknown scalars (SIMT data) make every lane unknown.
  if (typeof x === 'symbol' || typeof y === 'symbol') return unknownTile(rd, shape, fromDot);
  // Three-valued logic for masks.
  if (cd === 'bool' && (op === 'and' || op === 'or' || op === 'minimum' || op === 'maximum')) {
    return boolLogic(p, op === 'and' || op === 'minimum' ? 'and' : 'or', x, y, shape, fromDot);
  }
  if ((xt && !xt.base) || (yt && !yt.base)) return unknownTile(rd, shape, fromDot);
  const unk = anyUnknown(unionUnk(unkOf(x, shape), unkOf(y, shape)));
  if (cd !== 'i32') return concreteBinary(p, op, cd, rd, x, y, shape, unk, fromDot);
  const sx = offsetOf(p, x);
  const sy = offsetOf(p, y);
  const symbolic = sx instanceof Sym || sy instanceof Sym;
  const mask = (sx instanceof Sym ? sx.mask : 0) | (sy instanceof Sym ? sy.mask : 0);
  const n = sizeOf(shape);
  switch (op) {
    case 'add':
    case 'sub': {
      const bx = intBase(x, shape);
      const by = intBase(y, shape);
      const base =
        !yt && !xt
          ? zeroBase(n)
          : !yt
            ? bx
            : !xt && op === 'add'
              ? by
              : memo2(bx, by, op, () => {
                  const o = new Int32Array(n);
                  if (op === 'add') for (let i = 0; i < n; i++) o[i] = bx[i]! + by[i]!;
                  else for (let i = 0; i < n; i++) o[i] = bx[i]! - by[i]!;
                  return o;
                });
      const s = addS(p, sx, sy, op === 'add' ? 1 : -1);
      if (fitsI32(p, base, s) && noWrap(bx, by, op)) return makeTile(p, rd, shape, base, s, unk, fromDot);
      break;
    }
    case 'mul': {
      // A tile times an integer scalar: base·k + s·k.
      const t = xt && !yt ? xt : yt && !xt ? yt : null;
      const k = t === xt ? sy : sx;
      if (t && typeof k === 'number' && Number.isInteger(k) && k >= I32_MIN && k <= I32_MAX) {
        const src = bcast(t.base!, t.shape, shape);
        const base = memo1(src, `*${k}`, () => {
          const o = new Float64Array(src.length);
          for (let i = 0; i < src.length; i++) o[i] = src[i]! * k;
          return o;
        });
        const s = mulS(p, t.s, k);
        if (fitsI32(p, base as unknown as TileData, s)) {
          return makeTile(
            p,
            rd,
            shape,
            memo1(base, 'i32', () => Int32Array.from(base)),
            s,
            unk,
            fromDot,
          );
        }
      }
      break;
    }
    case 'idiv':
    case 'rem': {
      // ⌊(b + s)/k⌋ = ⌊b/k⌋ + s/k when s/k is an integer; truncation equals floor for lanes ≥ 0.
      if (xt && !yt && typeof sy === 'number' && Number.isInteger(sy) && sy > 0 && sx instanceof Sym) {
        const q = divS(p, sx, sy);
        const [lo] = xt.baseRange();
        if ((typeof q === 'number' ? Number.isInteger(q) : intValued(p, q)) && lo + valueRange(p, sx)[0] >= 0) {
          const b = bcast(xt.base!, xt.shape, shape);
          const base = memo1(b, `${op}${sy}`, () => {
            const o = new Int32Array(n);
            for (let i = 0; i < n; i++) {
              const f = Math.floor(b[i]! / sy);
              o[i] = op === 'idiv' ? f : b[i]! - f * sy;
            }
            return o;
          });
          return makeTile(p, rd, shape, base, op === 'idiv' ? q : 0, unk, fromDot);
        }
      }
      break;
    }
    default: {
      const cmp = CMP[op];
      if (cmp) {
        // x op y ⟺ (bx − by) op (sy − sx).
        const bx = intBase(x, shape);
        const by = intBase(y, shape);
        const diff = !yt
          ? bx
          : memo2(bx, by, '-', () => {
              const o = new Float64Array(n);
              for (let i = 0; i < n; i++) o[i] = bx[i]! - by[i]!;
              return o;
            });
        const thr = addS(p, sy, sx, -1);
        let out: Uint8Array;
        if (typeof thr === 'number') {
          out = memo1(diff, `${cmp}${thr}`, () => {
            const o = new Uint8Array(n);
            for (let i = 0; i < n; i++) o[i] = compareNum(cmp, diff[i]!, thr) ? 1 : 0;
            return o;
          });
        } else out = compareLanes(p, cmp, diff, thr);
        if (unk) {
          out = out.slice();
          for (let i = 0; i < n; i++) if (unk[i]) out[i] = 0;
        }
        return new LaneTile('bool', shape, n, out, 0, unk, fromDot);
      }
      if ((op === 'minimum' || op === 'maximum') && symbolic) {
        // Each lane picks one side; fine while both sides share the offset, or one side wins everywhere.
        const bx = intBase(x, shape);
        const by = intBase(y, shape);
        const diff = memo2(bx, by, '-', () => {
          const o = new Float64Array(n);
          for (let i = 0; i < n; i++) o[i] = bx[i]! - by[i]!;
          return o;
        });
        const thr = addS(p, sy, sx, -1);
        const c = op === 'minimum' ? '<=' : '>=';
        const pickX =
          typeof thr === 'number'
            ? Uint8Array.from(diff as ArrayLike<number>, (d) => (compareNum(c, d, thr) ? 1 : 0))
            : compareLanes(p, c, diff, thr);
        let all = 1;
        let none = 1;
        for (let i = 0; i < n; i++) {
          if (pickX[i]) none = 0;
          else all = 0;
        }
        if (all || none) {
          const src = all ? x : y;
          return makeTile(p, rd, shape, intBase(src, shape), offsetOf(p, src), unk, fromDot);
        }
        if (sameScalar(sx, sy)) {
          const base = new Int32Array(n);
          for (let i = 0; i < n; i++) base[i] = pickX[i] ? bx[i]! : by[i]!;
          return makeTile(p, rd, shape, base, sx, unk, fromDot);
        }
      }
    }
  }
  if (symbolic) throw needPoints(p, mask);
  return concreteBinary(p, op, cd, rd, x, y, shape, unk, fromDot);
}

/** The offset sums did not wrap in the bases themselves. */
function noWrap(bx: TileData, by: TileData, op: string): boolean {
  const [xl, xh] = rangeOf(bx);
  const [yl, yh] = rangeOf(by);
  const lo = op === 'add' ? xl + yl : xl - yh;
  const hi = op === 'add' ? xh + yh : xh - yl;
  return lo >= I32_MIN && hi <= I32_MAX;
}

/** Concrete data of an operand in dtype `cd`, broadcast to `to`. */
function dataOf(x: LaneTile, to: readonly number[]): TileData {
  return bcast(values(x), x.shape, to);
}

function concreteBinary(
  p: Domains,
  op: BinaryOp,
  cd: TileDType,
  rd: TileDType,
  x: Opnd,
  y: Opnd,
  shape: readonly number[],
  unk: Uint8Array | null,
  fromDot: boolean,
): LaneTile {
  const n = sizeOf(shape);
  const kind = kindOf(cd);
  const xs = x instanceof LaneTile ? null : checkedScalar(p, x);
  const ys = y instanceof LaneTile ? null : checkedScalar(p, y);
  if (xs instanceof Sym || ys instanceof Sym)
    throw needPoints(p, (xs instanceof Sym ? xs.mask : 0) | (ys instanceof Sym ? ys.mask : 0));
  const compute = (): TileData => {
    const out = allocTileData(rd, n);
    if (x instanceof LaneTile && y instanceof LaneTile) {
      binaryLoop(op, kind, 'tt')(dataOf(x, shape), dataOf(y, shape), out, n);
    } else if (x instanceof LaneTile) {
      binaryLoop(op, kind, 'ts')(dataOf(x, shape), castScalar(ys as number, cd) as never, out, n);
    } else if (y instanceof LaneTile) {
      binaryLoop(op, kind, 'st')(castScalar(xs as number, cd) as never, dataOf(y, shape), out, n);
    } else {
      const tmp = allocTileData(cd, 1);
      tmp[0] = castScalar(ys as number, cd);
      binaryLoop(op, kind, 'st')(castScalar(xs as number, cd) as never, tmp, out, 1);
    }
    finishData(out, rd);
    if (unk) for (let i = 0; i < n; i++) if (unk[i]) out[i] = 0;
    return out;
  };
  let out: TileData;
  const key = `${op}|${cd}|${rd}|${shape.join(',')}`;
  if (x instanceof LaneTile && y instanceof LaneTile && !unk) out = memo2(values(x), values(y), key, compute);
  else if (x instanceof LaneTile && !unk) out = memo1(values(x), `${key}|s${ys}`, compute);
  else if (y instanceof LaneTile && !unk) out = memo1(values(y), `${key}|f${xs}`, compute);
  else out = compute();
  return new LaneTile(rd, shape, n, out, 0, unk, fromDot);
}

/** and / or on bool tiles with unknown lanes: false ∧ ? = false, true ∨ ? = true. */
function boolLogic(
  p: Domains,
  op: 'and' | 'or',
  x: Opnd,
  y: Opnd,
  shape: readonly number[],
  fromDot: boolean,
): LaneTile {
  const n = sizeOf(shape);
  const val = (t: Opnd): { d: TileData; u: Uint8Array | null } => {
    if (t instanceof LaneTile) {
      if (!t.base) return { d: new Uint8Array(n), u: new Uint8Array(n).fill(1) };
      return { d: bcast(t.base, t.shape, shape), u: t.unk ? bcast(t.unk, t.shape, shape) : null };
    }
    const v = checkedScalar(p, t);
    if (v instanceof Sym) throw needPoints(p, v.mask);
    return { d: new Uint8Array(n).fill(castScalar(v, 'bool')), u: null };
  };
  const a = val(x);
  const b = val(y);
  if (!a.u && !b.u) {
    const out = memo2(a.d, b.d, op, () => {
      const o = new Uint8Array(n);
      if (op === 'and') for (let i = 0; i < n; i++) o[i] = a.d[i]! & b.d[i]!;
      else for (let i = 0; i < n; i++) o[i] = a.d[i]! | b.d[i]!;
      return o;
    });
    return new LaneTile('bool', shape, n, out, 0, null, fromDot);
  }
  const out = new Uint8Array(n);
  let unk: Uint8Array | null = null;
  for (let i = 0; i < n; i++) {
    const ua = a.u ? a.u[i]! : 0;
    const ub = b.u ? b.u[i]! : 0;
    const va = a.d[i]!;
    const vb = b.d[i]!;
    let r: number;
    let u = 0;
    if (op === 'and') {
      if ((!ua && !va) || (!ub && !vb)) r = 0;
      else if (ua || ub) {
        r = 0;
        u = 1;
      } else r = 1;
    } else if ((!ua && va) || (!ub && vb)) r = 1;
    else if (ua || ub) {
      r = 0;
      u = 1;
    } else r = 0;
    out[i] = r;
    if (u) {
      unk ??= new Uint8Array(n);
      unk[i] = 1;
    }
  }
  return new LaneTile('bool', shape, n, out, 0, unk, fromDot);
}

export function unaryTile(
  p: Domains,
  op: UnaryOp,
  cd: TileDType,
  rd: TileDType,
  x: LaneTile,
  fromDot: boolean,
): LaneTile {
  if (!x.base) return unknownTile(rd, x.shape, fromDot);
  const n = x.size;
  if (
    x.s instanceof Sym ||
    (x.s !== 0 && (op === 'neg' || op === 'floor' || op === 'ceil' || op === 'trunc' || op === 'round'))
  ) {
    if (op === 'neg' && cd === 'i32') {
      const b = x.base;
      const base = memo1(b, 'neg', () => Int32Array.from(b, (v) => -v));
      const s = negS(p, x.s);
      if (fitsI32(p, base, s)) return makeTile(p, rd, x.shape, base, s, x.unk, fromDot);
    }
    if ((op === 'floor' || op === 'ceil' || op === 'trunc' || op === 'round') && kindOf(cd) === 'int') {
      return new LaneTile(rd, x.shape, n, x.base, x.s, x.unk, fromDot);
    }
    if (x.s instanceof Sym) throw needPoints(p, x.s.mask);
  }
  const src = values(x);
  const out = memo1(src, `u${op}|${cd}|${rd}`, () => {
    const o = allocTileData(rd, n);
    unaryLoop(op, kindOf(cd))(src, o, n);
    finishData(o, rd);
    return o;
  });
  if (x.unk) {
    const o = out.slice();
    for (let i = 0; i < n; i++) if (x.unk[i]) o[i] = 0;
    return new LaneTile(rd, x.shape, n, o, 0, x.unk, fromDot);
  }
  return new LaneTile(rd, x.shape, n, out, 0, null, fromDot);
}

export function castTile(p: Domains, x: LaneTile, dtype: TileDType, fromDot: boolean): LaneTile {
  if (!x.base) return unknownTile(dtype, x.shape, fromDot);
  const n = x.size;
  if (x.s instanceof Sym) {
    // x ≠ 0 lane by lane.
    if (dtype === 'bool') return binaryTile(p, 'ne', 'i32', 'bool', x, 0, x.shape, fromDot);
    throw needPoints(p, x.s.mask);
  }
  const src = values(x);
  const fromKind = kindOf(x.dtype);
  const out = memo1(src, `c${x.dtype}>${dtype}`, () => {
    const o = allocTileData(dtype, n);
    const toKind = kindOf(dtype);
    if (toKind === 'bool') {
      for (let i = 0; i < n; i++) {
        const v = src[i]!;
        o[i] = v !== 0 && !Number.isNaN(v) ? 1 : 0;
      }
    } else if (toKind === 'float') {
      if (dtype === 'f32' || dtype === 'f16' || dtype === 'bf16') {
        (o as Float32Array).set(src);
        finishData(o, dtype);
      } else for (let i = 0; i < n; i++) o[i] = castScalar(src[i]!, dtype);
    } else if (fromKind === 'float') {
      for (let i = 0; i < n; i++) o[i] = castScalar(src[i]!, dtype);
    } else {
      (o as Int32Array).set(src);
      finishData(o, dtype);
    }
    return o;
  });
  return new LaneTile(dtype, x.shape, n, out, 0, x.unk, fromDot);
}

export function whereTile(
  p: Domains,
  c: LaneTile,
  a: Opnd,
  b: Opnd,
  rd: TileDType,
  shape: readonly number[],
  fromDot: boolean,
): LaneTile {
  const n = sizeOf(shape);
  if (typeof a === 'symbol' || typeof b === 'symbol') return unknownTile(rd, shape, fromDot);
  if (!c.base || (a instanceof LaneTile && !a.base) || (b instanceof LaneTile && !b.base)) {
    return unknownTile(rd, shape, fromDot);
  }
  const cd = bcast(c.base, c.shape, shape);
  const cu = c.unk ? bcast(c.unk, c.shape, shape) : null;
  const sa = offsetOf(p, a);
  const sb = offsetOf(p, b);
  let s: number | Sym = 0;
  let ad: TileData | null;
  let bd: TileData | null;
  let av = 0;
  let bv = 0;
  if (rd === 'i32') {
    // Both sides as base + offset; a shared offset passes through.
    let all = 1;
    let none = 1;
    for (let i = 0; i < n; i++) {
      if (cd[i]) none = 0;
      else all = 0;
    }
    if (!cu && (all || none)) {
      const src = all ? a : b;
      if (src instanceof LaneTile) {
        return makeTile(
          p,
          rd,
          shape,
          bcast(src.base!, src.shape, shape),
          src.s,
          src.unk ? bcast(src.unk, src.shape, shape) : null,
          fromDot,
        );
      }
      return fullTile(p, src, shape, rd);
    }
    if (sameScalar(sa, sb)) {
      s = sa;
      ad = intBase(a, shape);
      bd = intBase(b, shape);
    } else {
      if (sa instanceof Sym || sb instanceof Sym)
        throw needPoints(p, (sa instanceof Sym ? sa.mask : 0) | (sb instanceof Sym ? sb.mask : 0));
      ad = a instanceof LaneTile ? dataOf(a, shape) : null;
      bd = b instanceof LaneTile ? dataOf(b, shape) : null;
      av = castScalar(sa as number, rd);
      bv = castScalar(sb as number, rd);
    }
  } else {
    if (sa instanceof Sym || sb instanceof Sym)
      throw needPoints(p, (sa instanceof Sym ? sa.mask : 0) | (sb instanceof Sym ? sb.mask : 0));
    ad = a instanceof LaneTile ? dataOf(a, shape) : null;
    bd = b instanceof LaneTile ? dataOf(b, shape) : null;
    av = ad ? 0 : castScalar(sa as number, rd);
    bv = bd ? 0 : castScalar(sb as number, rd);
  }
  const out = allocTileData(rd, n);
  for (let i = 0; i < n; i++) out[i] = cd[i] ? (ad ? ad[i]! : av) : bd ? bd[i]! : bv;
  const ua = unkOf(a, shape);
  const ub = unkOf(b, shape);
  let unk: Uint8Array | null = null;
  if (cu || ua || ub) {
    unk = new Uint8Array(n);
    let any = 0;
    for (let i = 0; i < n; i++) {
      const u = cu?.[i] ? 1 : cd[i] ? (ua ? ua[i]! : 0) : ub ? ub[i]! : 0;
      unk[i] = u;
      any |= u;
      if (u) out[i] = 0;
    }
    if (!any) unk = null;
  }
  return makeTile(p, rd, shape, out, s, unk, fromDot);
}

// ------------------------------------------------------------------------------------------- shape ops

export function reshapeTile(x: LaneTile, shape: readonly number[], fromDot: boolean): LaneTile {
  return new LaneTile(x.dtype, shape, x.size, x.base, x.s, x.unk, fromDot);
}

export function broadcastTile(x: LaneTile, shape: readonly number[], fromDot: boolean): LaneTile {
  if (!x.base) return unknownTile(x.dtype, shape, fromDot);
  return new LaneTile(
    x.dtype,
    shape,
    sizeOf(shape),
    bcast(x.base, x.shape, shape),
    x.s,
    x.unk ? bcast(x.unk, x.shape, shape) : null,
    fromDot,
  );
}

function permuteData<T extends TileData>(src: T, from: readonly number[], perm: readonly number[]): T {
  const shape = perm.map((q) => from[q]!);
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const inStrides = stridesOf(from);
  const strides = perm.map((q) => inStrides[q]!);
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
  return out;
}

export function permuteTile(x: LaneTile, perm: readonly number[], fromDot: boolean): LaneTile {
  const shape = perm.map((q) => x.shape[q]!);
  if (!x.base) return unknownTile(x.dtype, shape, fromDot);
  const key = `p${x.shape.join(',')}|${perm.join(',')}`;
  return new LaneTile(
    x.dtype,
    shape,
    x.size,
    memo1(x.base, key, () => permuteData(x.base!, x.shape, perm)),
    x.s,
    x.unk ? permuteData(x.unk, x.shape, perm) : null,
    fromDot,
  );
}

// ------------------------------------------------------------------------------------------- reductions

function split3(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}

export function reduceTile(
  p: Domains,
  kind: 'sum' | 'max' | 'min' | 'argmax' | 'argmin',
  x: LaneTile,
  axis: number | null,
  rd: TileDType,
  shape: readonly number[],
  fromDot: boolean,
): LaneTile {
  if (!x.base) return unknownTile(rd, shape, fromDot);
  const src = axis === null ? [x.size] : x.shape;
  const [outer, n, inner] = split3(src, axis ?? 0);
  const a = x.base; // lanes without the offset: sum adds n·s, max/min add s, argmax/argmin ignore it
  const m = outer * inner;
  const acc = new Float64Array(m);
  const unk = x.unk ? new Uint8Array(m) : null;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = n ? a[o * n * inner + j]! : 0;
      let bi = 0;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const k = (o * n + i) * inner + j;
        const v = a[k]!;
        if (unk && x.unk![k]) unk[o * inner + j] = 1;
        sum += v;
        if (
          i > 0 &&
          !Number.isNaN(best) &&
          (Number.isNaN(v) || (kind === 'max' || kind === 'argmax' ? v > best : v < best))
        ) {
          best = v;
          bi = i;
        }
      }
      acc[o * inner + j] = kind === 'sum' ? sum : kind === 'argmax' || kind === 'argmin' ? bi : best;
    }
  }
  let s: number | Sym = 0;
  if (x.s !== 0 && kind !== 'argmax' && kind !== 'argmin') s = kind === 'sum' ? mulS(p, x.s, n) : x.s;
  const out = allocTileData(rd, m);
  if (typeof s === 'number') {
    // A numeric offset is applied now, as a run's sum of base + s lanes stored into i32 would (wrapping).
    for (let i = 0; i < m; i++) out[i] = acc[i]! + s;
    finishData(out, rd);
    return new LaneTile(rd, shape, m, out, 0, unk && anyUnknown(unk), fromDot);
  }
  for (let i = 0; i < m; i++) out[i] = acc[i]!;
  finishData(out, rd);
  if (!fitsI32(p, out, s) || rd !== 'i32') throw needPoints(p, s.mask);
  return makeTile(p, rd, shape, out, s, unk && anyUnknown(unk), fromDot);
}

export function cumsumTile(p: Domains, x: LaneTile, axis: number, rd: TileDType, fromDot: boolean): LaneTile {
  if (!x.base) return unknownTile(rd, x.shape, fromDot);
  if (x.s instanceof Sym) throw needPoints(p, x.s.mask);
  const [outer, n, inner] = split3(x.shape, axis);
  const a = values(x);
  const out = allocTileData(rd, x.size);
  const unk = x.unk ? new Uint8Array(x.size) : null;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let s = 0;
      let u = 0;
      for (let i = 0; i < n; i++) {
        const k = (o * n + i) * inner + j;
        s += a[k]!;
        if (unk) {
          u |= x.unk![k]!;
          unk[k] = u;
        }
        out[k] = s;
      }
    }
  }
  finishData(out, rd);
  return new LaneTile(rd, x.shape, x.size, out, 0, unk && anyUnknown(unk), fromDot);
}

export function sortTile(
  p: Domains,
  x: LaneTile,
  axis: number,
  descending: boolean,
  indices: boolean,
  rd: TileDType,
): LaneTile {
  if (!x.base || x.unk) return unknownTile(rd, x.shape, false);
  const [outer, n, inner] = split3(x.shape, axis);
  const a = x.base; // a shared offset does not change the order
  const out = allocTileData(rd, x.size);
  const idx = new Array<number>(n);
  const nanLast = (q: number, r: number): number => {
    const vq = a[q]!;
    const vr = a[r]!;
    if (Number.isNaN(vq)) return Number.isNaN(vr) ? 0 : 1;
    if (Number.isNaN(vr)) return -1;
    return descending ? vr - vq : vq - vr;
  };
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      for (let i = 0; i < n; i++) idx[i] = (o * n + i) * inner + j;
      const order = idx.map((k, i) => [k, i] as const).sort((q, r) => nanLast(q[0], r[0]) || q[1] - r[1]);
      for (let i = 0; i < n; i++) out[(o * n + i) * inner + j] = indices ? order[i]![1] : a[order[i]![0]]!;
    }
  }
  return indices
    ? new LaneTile(rd, x.shape, x.size, out, 0, null, false)
    : makeTile(p, rd, x.shape, out, x.s, null, false);
}

// ------------------------------------------------------------------------------------------- memory lanes

/** A gather/scatter's lanes: how many are active (known or possibly), and the active offsets' range. */
export interface LaneSummary {
  /** Lanes that are active for sure or may be (an unknown mask lane counts). */
  active: number;
  /** True when some lane's activity depends on loaded data. */
  maskBound: boolean;
  /** True when the active lanes' offsets are all known (bounds can be checked); then lo/hi hold their range. */
  offsetsKnown: boolean;
  /** Smallest / largest active base offset (add `s`). */
  lo: number;
  hi: number;
  s: number | Sym;
}

/** Per mask lane, the smallest and largest offset among the lanes it covers (offsets reduced over the mask's broadcast axes). */
function rangesUnder(
  off: TileData,
  offShape: readonly number[],
  maskShape: readonly number[],
  lanes: readonly number[],
) {
  return memo1(off, `r${offShape.join(',')}|${maskShape.join(',')}|${lanes.join(',')}`, () => {
    const r = lanes.length;
    const pad = (s: readonly number[]) => [...new Array<number>(r - s.length).fill(1), ...s];
    const os = pad(offShape);
    const ms = pad(maskShape);
    const oStr = stridesOf(os).map((v, i) => (os[i] === 1 ? 0 : v));
    const mStr = stridesOf(ms).map((v, i) => (ms[i] === 1 ? 0 : v));
    const m = sizeOf(maskShape);
    const lo = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
    const hi = new Float64Array(m).fill(Number.NEGATIVE_INFINITY);
    const idx = new Array<number>(r).fill(0);
    const n = sizeOf(lanes);
    for (let l = 0; l < n; l++) {
      let oi = 0;
      let mi = 0;
      for (let d = 0; d < r; d++) {
        oi += idx[d]! * oStr[d]!;
        mi += idx[d]! * mStr[d]!;
      }
      const v = off[oi]!;
      if (v < lo[mi]!) lo[mi] = v;
      if (v > hi[mi]!) hi[mi] = v;
      for (let d = r - 1; d >= 0; d--) {
        if (++idx[d]! < lanes[d]!) break;
        idx[d] = 0;
      }
    }
    return { lo, hi };
  });
}

export function laneSummary(off: LaneTile, mask: LaneTile | null, shape: readonly number[]): LaneSummary {
  const n = sizeOf(shape);
  const res: LaneSummary = { active: n, maskBound: false, offsetsKnown: false, lo: 0, hi: 0, s: off.s };
  const mk = mask?.base as Uint8Array | null | undefined;
  if (mask) {
    if (!mk) {
      res.maskBound = n > 0;
      return res;
    }
    // Every mask lane covers n / mask.size lanes of the access.
    const per = mask.size ? n / mask.size : 0;
    let c = 0;
    const mu = mask.unk;
    for (let i = 0; i < mk.length; i++) {
      if (mk[i] || mu?.[i]) c++;
      if (mu?.[i]) res.maskBound = true;
    }
    res.active = c * per;
  }
  // Bounds are checked only when every lane's activity and offset is known, as the generated code checks them.
  if (!off.base || off.unk || res.maskBound || res.active === 0) return res;
  res.offsetsKnown = true;
  if (!mk || res.active === n) {
    [res.lo, res.hi] = off.baseRange();
    return res;
  }
  const { lo, hi } = rangesUnder(off.base, off.shape, mask!.shape, shape);
  let l = Number.POSITIVE_INFINITY;
  let h = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < mk.length; i++) {
    if (!mk[i]) continue;
    if (lo[i]! < l) l = lo[i]!;
    if (hi[i]! > h) h = hi[i]!;
  }
  res.lo = l;
  res.hi = h;
  return res;
}

/** The first active lane (in lane order) whose offset is outside [0, len), for fault messages; null if none. */
export function firstOutOfBounds(
  p: Domains,
  off: LaneTile,
  mask: LaneTile | null,
  shape: readonly number[],
  len: number,
): number | null {
  const n = sizeOf(shape);
  const ob = bcast(off.base!, off.shape, shape);
  const s = off.s instanceof Sym ? pointValue(p, off.s) : off.s;
  const mk = mask?.base ? bcast(mask.base as Uint8Array, mask.shape, shape) : null;
  for (let i = 0; i < n; i++) {
    if (mk && !mk[i]) continue;
    const o = (ob[i]! + s) | 0;
    if (o < 0 || o >= len) return o;
  }
  return null;
}

export function tileBytes(dtype: TileDType, shape: readonly number[]): number {
  return sizeOf(shape) * dtypeBytes(dtype);
}
