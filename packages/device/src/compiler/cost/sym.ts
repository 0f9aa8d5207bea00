/**
 * The scalar domain of the cost analysis. A kernel's scalars are functions of a few integer variables — program ids
 * (SIMT: block and thread ids) and the iteration counters of loops the analysis summarises — and everything else is a
 * number known at launch. A value is either a plain number / boolean, or a `Sym`: an exact affine form
 * (c + Σ aᵥ·xᵥ) / d with integer c, aᵥ and d > 0 over those variables.
 *
 * Each variable ranges over a lattice {lo + st·k : 0 ≤ k < n} (a "domain"); the domains of all variables form a piece
 * (a box of programs × loop iterations). Whenever an op's outcome is not the same over the whole piece — a comparison
 * whose sign changes, a floor whose value changes, a product of two variables — the op throws a `Split`: the variable
 * to cut and its new domains, chosen so that the outcome becomes uniform (or the value representable) on each part.
 * The evaluator re-runs the op on each part; within a piece where every such event is uniform, the cost is constant.
 */

/** Most variables a piece can have (3 program axes or 6 SIMT ids, plus nested summarised loops). */
export const MAXV = 16;

/** An exact affine form (c + Σ a[v]·x_v) / d; `mask` has bit v set iff a[v] ≠ 0. Immutable. */
export class Sym {
  constructor(
    readonly c: number,
    readonly a: Float64Array,
    readonly d: number,
    readonly mask: number,
  ) {}
}

/** A scalar whose value depends on loaded data (SIMT loads): unknown to the analysis. */
export const DATA: unique symbol = Symbol('data');
export type Scalar = number | boolean | Sym | typeof DATA;

/** Cut variable `v` into the given domains (flat [lo, st, n] triples) and evaluate again on each part. */
export class Split {
  constructor(
    readonly v: number,
    readonly parts: number[],
  ) {}
}

/** The variable domains of a piece (the evaluator's Piece extends this). */
/** Indexable numbers: a Float64Array, or a plain array for light pieces. */
export interface Nums {
  [i: number]: number;
  readonly length: number;
}

export interface Domains {
  lo: number[];
  st: number[];
  n: number[];
  /** Variables below this index belong to an enclosing level (a summarised loop cannot cut them itself). */
  frozen: number;
  /** Variables in use. */
  nv: number;
}

const SAFE = 2 ** 52;

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

function lowBit(m: number): number {
  return 31 - Math.clz32(m & -m);
}

export function varSym(v: number): Sym {
  const a = new Float64Array(MAXV);
  a[v] = 1;
  return new Sym(0, a, 1, 1 << v);
}

/**
 * Builds a Sym from coefficients `a` (used only at the bits of `hint`, a superset of the non-zero ones), reducing
 * by the gcd and turning a constant form into a number. Returns null if not exact in float64.
 */
function make(c: number, a: Float64Array, d: number, hint: number): Sym | number | null {
  let mask = 0;
  let g = d;
  for (let m = hint; m; m &= m - 1) {
    const v = lowBit(m);
    const k = a[v]!;
    if (k !== 0) {
      if (!Number.isInteger(k) || Math.abs(k) > SAFE) return null;
      mask |= 1 << v;
      if (g !== 1) g = gcd(g, k);
    } else a[v] = 0; // normalise −0
  }
  if (!Number.isInteger(c) || Math.abs(c) > SAFE || !Number.isInteger(d) || d > SAFE) return null;
  if (mask === 0) return c / d;
  if (g !== 1) g = gcd(g, c);
  if (g > 1) {
    for (let m = mask; m; m &= m - 1) {
      const v = lowBit(m);
      a[v] = a[v]! / g;
    }
    return new Sym(c / g, a, d / g, mask);
  }
  return new Sym(c, a, d, mask);
}

// ------------------------------------------------------------------------------------------ ranges and events

/** Smallest and largest numerator over the piece. */
export function numRange(p: Domains, s: Sym, out: Float64Array): void {
  let lo = s.c;
  let hi = s.c;
  for (let m = s.mask; m; m &= m - 1) {
    const v = lowBit(m);
    const k = s.a[v]!;
    const x0 = p.lo[v]!;
    const x1 = x0 + p.st[v]! * (p.n[v]! - 1);
    if (k > 0) {
      lo += k * x0;
      hi += k * x1;
    } else {
      lo += k * x1;
      hi += k * x0;
    }
  }
  out[0] = lo;
  out[1] = hi;
}

const R = new Float64Array(2);

/** True when every variable the form uses is a single point of the piece. */
export function isPoint(p: Domains, s: Sym): boolean {
  for (let m = s.mask; m; m &= m - 1) if (p.n[lowBit(m)]! !== 1) return false;
  return true;
}

/** The form's value where every variable it uses is a point (call only then). */
export function pointValue(p: Domains, s: Sym): number {
  let num = s.c;
  for (let m = s.mask; m; m &= m - 1) {
    const v = lowBit(m);
    num += s.a[v]! * p.lo[v]!;
  }
  return s.d === 1 ? num : num / s.d;
}

/** A Sym whose variables are all points becomes its number. */
export function settle(p: Domains, x: Scalar): Scalar {
  return x instanceof Sym && isPoint(p, x) ? pointValue(p, x) : x;
}

function domainParts(lo: number, st: number, k0: number, k1: number, out: number[]): void {
  if (k1 >= k0) out.push(lo + st * k0, st, k1 - k0 + 1);
}

/**
 * Cuts the piece so that "numerator ≥ T" is uniform, or at least makes progress towards it. Variables the current
 * level owns are cut first (innermost first), so a summarised loop cuts its own counter before asking its caller to
 * cut a program axis.
 */
function splitFor(p: Domains, s: Sym, T: number, nmin: number, nmax: number): Split {
  const order: number[] = [];
  for (let v = p.nv - 1; v >= p.frozen; v--) if (s.a[v] !== 0 && p.n[v]! > 1) order.push(v);
  for (let v = Math.min(p.frozen, p.nv) - 1; v >= 0; v--) if (s.a[v] !== 0 && p.n[v]! > 1) order.push(v);
  for (const v of order) {
    const k = s.a[v]!;
    const lo = p.lo[v]!;
    const st = p.st[v]!;
    const n = p.n[v]!;
    const x0 = lo;
    const x1 = lo + st * (n - 1);
    const cmin = k > 0 ? k * x0 : k * x1;
    const cmax = k > 0 ? k * x1 : k * x0;
    const rmin = nmin - cmin;
    const rmax = nmax - cmax;
    // k·x + rmin ≥ T for every rest ⇒ uniformly true; k·x + rmax ≤ T − 1 ⇒ uniformly false.
    let kTrue0: number;
    let kTrue1: number;
    let kFalse0: number;
    let kFalse1: number;
    if (k > 0) {
      const xt = Math.ceil((T - rmin) / k); // x ≥ xt: true
      const xf = Math.floor((T - 1 - rmax) / k); // x ≤ xf: false
      kTrue0 = Math.max(0, Math.ceil((xt - lo) / st));
      kTrue1 = n - 1;
      kFalse0 = 0;
      kFalse1 = Math.min(n - 1, Math.floor((xf - lo) / st));
    } else {
      const xt = Math.floor((T - rmin) / k); // x ≤ xt: true
      const xf = Math.ceil((T - 1 - rmax) / k); // x ≥ xf: false
      kTrue0 = 0;
      kTrue1 = Math.min(n - 1, Math.floor((xt - lo) / st));
      kFalse0 = Math.max(0, Math.ceil((xf - lo) / st));
      kFalse1 = n - 1;
    }
    const parts: number[] = [];
    if (k > 0) {
      domainParts(lo, st, kFalse0, kFalse1, parts);
      domainParts(lo, st, Math.max(kFalse1 + 1, 0), Math.min(kTrue0 - 1, n - 1), parts);
      domainParts(lo, st, kTrue0, kTrue1, parts);
    } else {
      domainParts(lo, st, kTrue0, kTrue1, parts);
      domainParts(lo, st, Math.max(kTrue1 + 1, 0), Math.min(kFalse0 - 1, n - 1), parts);
      domainParts(lo, st, kFalse0, kFalse1, parts);
    }
    if (parts.length > 3) return new Split(v, parts);
  }
  // No variable alone decides it: bisect the one contributing most (the current level's first).
  let best = -1;
  let bestW = -1;
  for (const v of order) {
    const w = Math.abs(s.a[v]!) * p.st[v]! * (p.n[v]! - 1);
    if (best >= 0 && v >= p.frozen !== best >= p.frozen) continue;
    if (w > bestW) {
      best = v;
      bestW = w;
    }
  }
  return bisect(p, best);
}

export function bisect(p: Domains, v: number): Split {
  const lo = p.lo[v]!;
  const st = p.st[v]!;
  const n = p.n[v]!;
  const h = Math.floor(n / 2);
  return new Split(v, [lo, st, h, lo + st * h, st, n - h]);
}

/** Whether numerator(s) ≥ T over the whole piece; throws a Split where it is not uniform. */
export function geNum(p: Domains, s: Sym, T: number): boolean {
  let nmin = s.c;
  let nmax = s.c;
  const a = s.a;
  const lo = p.lo;
  const st = p.st;
  const n = p.n;
  for (let m = s.mask; m; m &= m - 1) {
    const v = 31 - Math.clz32(m & -m);
    const k = a[v]!;
    const x0 = lo[v]!;
    const x1 = x0 + st[v]! * (n[v]! - 1);
    if (k > 0) {
      nmin += k * x0;
      nmax += k * x1;
    } else {
      nmin += k * x1;
      nmax += k * x0;
    }
  }
  if (nmin >= T) return true;
  if (nmax < T) return false;
  throw splitFor(p, s, T, nmin, nmax);
}

/** Cuts one of `mask`'s variables into points (or in half when it is long): the value needs concrete inputs. */
export function needPoints(p: Domains, mask: number): Split {
  let best = -1;
  for (let m = mask; m; m &= m - 1) {
    const v = lowBit(m);
    if (p.n[v]! <= 1) continue;
    if (best < 0) {
      best = v;
      continue;
    }
    const local = v >= p.frozen;
    const bl = best >= p.frozen;
    if (local !== bl) {
      if (local) best = v;
    } else if (p.n[v]! < p.n[best]!) best = v;
  }
  if (best < 0) throw new Error('cost analysis: a value needs concrete inputs but already has them (internal)');
  const n = p.n[best]!;
  if (n > 64) return bisect(p, best);
  const parts: number[] = [];
  for (let k = 0; k < n; k++) parts.push(p.lo[best]! + p.st[best]! * k, 1, 1);
  return new Split(best, parts);
}

// ------------------------------------------------------------------------------------------------ arithmetic

function symOf(x: number, d: number): { c: number; d: number } | null {
  // x as a numerator over d (or a multiple of d): exact for integers and halves/quarters of them.
  for (let s = 1; s <= 8; s *= 2) {
    const c = x * d * s;
    if (Number.isInteger(c) && Math.abs(c) <= SAFE) return { c, d: s };
  }
  return null;
}

function scaled(s: Sym, k: number): { c: number; a: Float64Array; mask: number } {
  const a = new Float64Array(MAXV);
  for (let m = s.mask; m; m &= m - 1) {
    const v = lowBit(m);
    a[v] = s.a[v]! * k;
  }
  return { c: s.c * k, a, mask: s.mask };
}

/** x + y (sign −1: x − y). */
export function addS(p: Domains, x: number | Sym, y: number | Sym, sign: 1 | -1): number | Sym {
  if (typeof x === 'number' && typeof y === 'number') return sign === 1 ? x + y : x - y;
  if (typeof y === 'number') {
    const s = x as Sym;
    const k = sign * y * s.d;
    // The common case: an integer shift of the constant; the coefficients are shared (Syms are immutable).
    if (s.d === 1 && Number.isInteger(k) && Math.abs(s.c + k) <= SAFE) return new Sym(s.c + k, s.a, 1, s.mask);
    const q = symOf(sign * y, s.d);
    if (!q) throw needPoints(p, s.mask);
    const base = scaled(s, q.d);
    const r = make(base.c + q.c, base.a, s.d * q.d, base.mask);
    if (r === null) throw needPoints(p, s.mask);
    return r;
  }
  if (typeof x === 'number') {
    const s = y as Sym;
    const q = symOf(x, s.d);
    if (!q) throw needPoints(p, s.mask);
    const base = scaled(s, sign * q.d);
    const r = make(base.c + q.c, base.a, s.d * q.d, base.mask);
    if (r === null) throw needPoints(p, s.mask);
    return r;
  }
  const l = x as Sym;
  const r = y as Sym;
  const a = new Float64Array(MAXV);
  const m = l.mask | r.mask;
  for (let mm = m; mm; mm &= mm - 1) {
    const v = lowBit(mm);
    a[v] = l.a[v]! * r.d + sign * r.a[v]! * l.d;
  }
  const out = make(l.c * r.d + sign * r.c * l.d, a, l.d * r.d, m);
  if (out === null) throw needPoints(p, m);
  return out;
}

export function negS(p: Domains, x: number | Sym): number | Sym {
  return addS(p, 0, x, -1);
}

/** x · y, exact when one side is a number (an integer, or a power-of-two fraction). */
export function mulS(p: Domains, x: number | Sym, y: number | Sym): number | Sym {
  if (typeof x === 'number' && typeof y === 'number') return x * y;
  if (typeof x !== 'number' && typeof y !== 'number') {
    const px = isPoint(p, x);
    const py = isPoint(p, y);
    if (px) return mulS(p, pointValue(p, x), y);
    if (py) return mulS(p, x, pointValue(p, y));
    throw needPoints(p, x.mask | y.mask);
  }
  const s = (typeof x === 'number' ? y : x) as Sym;
  const k = (typeof x === 'number' ? x : y) as number;
  if (k === 0) return 0;
  if (!Number.isFinite(k)) throw needPoints(p, s.mask);
  if (k === 1) return s;
  const q = symOf(k, 1);
  if (!q) throw needPoints(p, s.mask);
  const base = scaled(s, q.c);
  const r = make(base.c, base.a, s.d * q.d, base.mask);
  if (r === null) throw needPoints(p, s.mask);
  return r;
}

/** x / y for a Sym x and a number y ≠ 0 (JS `/`). */
export function divS(p: Domains, x: number | Sym, y: number | Sym): number | Sym {
  if (typeof x === 'number' && typeof y === 'number') return x / y;
  if (typeof y !== 'number') {
    if (isPoint(p, y)) return divS(p, x, pointValue(p, y));
    throw needPoints(p, y.mask | (typeof x === 'number' ? 0 : x.mask));
  }
  const s = x as Sym;
  if (y === 0 || !Number.isFinite(y)) throw needPoints(p, s.mask);
  if (Number.isInteger(y)) {
    if (y === 1) return s;
    const base = scaled(s, y < 0 ? -1 : 1);
    const r = make(base.c, base.a, s.d * Math.abs(y), base.mask);
    if (r === null) throw needPoints(p, s.mask);
    return r;
  }
  const inv = 1 / y;
  if (Number.isInteger(inv) && 1 / inv === y) return mulS(p, s, inv);
  throw needPoints(p, s.mask);
}

/**
 * ⌊x⌋. With `uniform`, the result must be one number over the piece (cuts where it changes); otherwise a Sym is
 * fine, and the piece is cut into residue classes when that keeps the floor affine with fewer parts than cutting at
 * every change.
 */
export function floorS(p: Domains, x: number | Sym, uniform: boolean): number | Sym {
  if (typeof x === 'number') return Math.floor(x);
  const s = x;
  if (s.d === 1 && !uniform) return s;
  numRange(p, s, R);
  const f0 = Math.floor(R[0]! / s.d);
  const f1 = Math.floor(R[1]! / s.d);
  if (f0 === f1) return f0;
  if (!uniform) {
    let ok = true;
    let cut = -1;
    for (let m = s.mask; m; m &= m - 1) {
      const v = lowBit(m);
      if (p.n[v]! > 1 && (s.a[v]! * p.st[v]!) % s.d !== 0) {
        ok = false;
        if (cut < 0 || (v >= p.frozen && (cut < p.frozen || v > cut))) cut = v;
      }
    }
    if (ok) {
      let num = s.c;
      for (let m = s.mask; m; m &= m - 1) {
        const v = lowBit(m);
        num += s.a[v]! * p.lo[v]!;
      }
      const F = Math.floor(num / s.d);
      const a = new Float64Array(s.a);
      const r = make(s.d * F - (num - s.c), a, s.d, s.mask);
      if (r === null) throw needPoints(p, s.mask);
      return r;
    }
    // Terms that are whole at every point of the piece leave the floor exactly, ⌊(P + Q)/d⌋ = P/d + ⌊Q/d⌋
    // (⌊(256·bid + tid)/256⌋ = bid for tid < 256): only the rest can make the floor vary.
    let whole = 0;
    for (let m = s.mask; m; m &= m - 1) {
      const v = lowBit(m);
      if (p.n[v]! > 1 && (s.a[v]! * p.st[v]!) % s.d === 0 && (s.a[v]! * p.lo[v]!) % s.d === 0) whole |= 1 << v;
    }
    if (whole) {
      const pa = new Float64Array(MAXV);
      const qa = new Float64Array(s.a);
      for (let m = whole; m; m &= m - 1) {
        const v = lowBit(m);
        pa[v] = s.a[v]!;
        qa[v] = 0;
      }
      const P = make(0, pa, s.d, whole);
      const Q = make(s.c, qa, s.d, s.mask & ~whole);
      if (P !== null && Q !== null) return addS(p, P, floorS(p, Q, false), 1);
    }
    const period = s.d / gcd(s.a[cut]! * p.st[cut]!, s.d);
    if (period <= 64 && period < f1 - f0 + 1) {
      const lo = p.lo[cut]!;
      const st = p.st[cut]!;
      const n = p.n[cut]!;
      const parts: number[] = [];
      for (let r = 0; r < Math.min(period, n); r++) parts.push(lo + st * r, st * period, Math.ceil((n - r) / period));
      throw new Split(cut, parts);
    }
  }
  geNum(p, s, (f0 + 1) * s.d);
  // geNum returns only when uniform, which the range above rules out.
  throw new Error('cost analysis: floor range inconsistent');
}

export function ceilS(p: Domains, x: number | Sym, uniform: boolean): number | Sym {
  if (typeof x === 'number') return Math.ceil(x);
  return negS(p, floorS(p, negS(p, x), uniform));
}

/** Sign test of a Sym: −1, 0 or 1 uniformly over the piece (cuts where it changes). */
export function signS(p: Domains, x: number | Sym): number {
  if (typeof x === 'number') return Math.sign(x);
  if (geNum(p, x, 1)) return 1;
  return geNum(p, x, 0) ? 0 : -1;
}

/** JS comparison x op y for numbers and Syms (op: < <= > >= === !==). */
export function compareS(p: Domains, op: string, x: number | Sym, y: number | Sym): boolean {
  if (typeof x === 'number' && typeof y === 'number') {
    switch (op) {
      case '<':
        return x < y;
      case '<=':
        return x <= y;
      case '>':
        return x > y;
      case '>=':
        return x >= y;
      case '===':
        return x === y;
      default:
        return x !== y;
    }
  }
  if (typeof y === 'number' && !Number.isFinite(y)) {
    // A Sym is finite.
    if (Number.isNaN(y)) return op === '!==';
    const big = y > 0;
    switch (op) {
      case '<':
      case '<=':
        return big;
      case '>':
      case '>=':
        return !big;
      case '===':
        return false;
      default:
        return true;
    }
  }
  if (typeof x === 'number' && !Number.isFinite(x)) {
    const flip: Record<string, string> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '===': '===', '!==': '!==' };
    return compareS(p, flip[op]!, y, x);
  }
  // Numerator of x − y, scaled so the comparison is with an integer threshold.
  let s: Sym;
  let frac = false;
  let T0 = 0;
  if (typeof y === 'number') {
    const sx = x as Sym;
    const t = y * sx.d;
    if (Number.isInteger(t)) {
      s = sx;
      T0 = t;
    } else {
      s = sx;
      T0 = t;
      frac = true;
    }
  } else if (typeof x === 'number') {
    const sy = y;
    const t = x * sy.d;
    const neg = scaled(sy, -1);
    const ns = make(neg.c, neg.a, sy.d, neg.mask);
    if (typeof ns === 'number' || ns === null) return compareS(p, op, x, pointValue(p, sy));
    s = ns;
    T0 = -t;
    frac = !Number.isInteger(t);
  } else {
    const diff = addS(p, x, y, -1);
    if (typeof diff === 'number') return compareS(p, op, diff, 0);
    s = diff;
    T0 = 0;
  }
  // Now: compare numerator N (of s) with T0, where x op y ⟺ N op T0 (d > 0).
  if (frac) {
    const fl = Math.floor(T0);
    switch (op) {
      case '<':
      case '<=':
        return !geNum(p, s, fl + 1);
      case '>':
      case '>=':
        return geNum(p, s, fl + 1);
      case '===':
        return false;
      default:
        return true;
    }
  }
  switch (op) {
    case '<':
      return !geNum(p, s, T0);
    case '<=':
      return !geNum(p, s, T0 + 1);
    case '>':
      return geNum(p, s, T0 + 1);
    case '>=':
      return geNum(p, s, T0);
    case '===':
      return geNum(p, s, T0) && !geNum(p, s, T0 + 1);
    default:
      return !(geNum(p, s, T0) && !geNum(p, s, T0 + 1));
  }
}

/** Smallest and largest value of x over the piece (exact rationals as floats). */
export function valueRange(p: Domains, x: number | Sym): [number, number] {
  if (typeof x === 'number') return [x, x];
  numRange(p, x, R);
  return [R[0]! / x.d, R[1]! / x.d];
}

export function sameScalar(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x === 'number' && typeof y === 'number') return Number.isNaN(x) && Number.isNaN(y);
  if (x instanceof Sym && y instanceof Sym) {
    if (x.c !== y.c || x.d !== y.d || x.mask !== y.mask) return false;
    for (let m = x.mask; m; m &= m - 1) {
      const v = lowBit(m);
      if (x.a[v] !== y.a[v]) return false;
    }
    return true;
  }
  return false;
}

/** Bit mask of the variables a value depends on. */
export function varsOf(x: unknown): number {
  return x instanceof Sym ? x.mask : 0;
}

export { lowBit };
