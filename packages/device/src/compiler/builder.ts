/**
 * Builds IR into regions. Scalar ops fold when their operands are constants, and integer additions, subtractions and
 * multiplications by constants are kept in affine form so that `(m0 + BM) - m0` folds to `BM` — which is what lets
 * `t.arange(m0, m0 + BM)` have a static size. Pure ops are value-numbered (CSE) within the regions that dominate the
 * insertion point.
 */
import { BOOL, FLOAT, INT, Op, Region, type ScalarKind, type SourceLoc, type Type, Value } from './ir';
import { SCALAR_BINARY_FN, SCALAR_UNARY_FN } from './scalar-math';

/** c + Σ coeff·value over int scalars. */
interface Affine {
  c: number;
  terms: Map<Value, number>;
}

/** Opcodes without side effects (safe to CSE and to drop when unused). */
const PURE = new Set([
  'const',
  's.binary',
  's.unary',
  's.select',
  'prog.id',
  'prog.num',
  'simt.tid',
  'simt.bid',
  'simt.bdim',
  'simt.gdim',
  'arr.get',
  'arr.len',
  'buf.len',
  'tile.arange',
  'tile.full',
  'tile.binary',
  'tile.unary',
  'tile.where',
  'tile.cast',
  'tile.reshape',
  'tile.broadcast',
  'tile.permute',
  'tile.reduce',
  'tile.cumsum',
  'tile.sort',
  'tile.dot',
  'mem.tensor',
  'simt.shared_view',
  'simt.dynamic_shared',
]);

export function isPure(opcode: string): boolean {
  return PURE.has(opcode);
}

const SAFE_INT = Number.MAX_SAFE_INTEGER;

function constKind(v: number | boolean): ScalarKind {
  return typeof v === 'boolean' ? 'bool' : Number.isInteger(v) ? 'int' : 'float';
}

export class Builder {
  private readonly stack: { region: Region; cse: Map<string, Value> }[] = [];
  private readonly consts = new Map<string, Value>();
  private readonly affine = new WeakMap<Value, Affine>();
  /** The constant value of each `const` result. */
  readonly constants = new WeakMap<Value, number | boolean>();
  loc: SourceLoc | undefined;

  constructor(readonly root: Region) {
    this.stack.push({ region: root, cse: new Map() });
  }

  get region(): Region {
    return this.stack[this.stack.length - 1]!.region;
  }

  /** The current region's op count and value numbering, to roll back to (unrolling that ran too long). */
  snapshot(): { region: Region; length: number; cse: Map<string, Value> } {
    const top = this.stack[this.stack.length - 1]!;
    return { region: top.region, length: top.region.ops.length, cse: new Map(top.cse) };
  }

  restore(s: { region: Region; length: number; cse: Map<string, Value> }): void {
    const top = this.stack[this.stack.length - 1]!;
    if (top.region !== s.region) throw new Error('Builder.restore: not in the snapshot region');
    s.region.ops.length = s.length;
    top.cse.clear();
    for (const [k, v] of s.cse) top.cse.set(k, v);
  }

  /** Runs `fn` with ops going into `region` (a new CSE scope nested in the current one). */
  inRegion<T>(region: Region, fn: () => T): T {
    this.stack.push({ region, cse: new Map() });
    try {
      return fn();
    } finally {
      this.stack.pop();
    }
  }

  /** Appends an op; pure ops with the same opcode, operands and attributes reuse the dominating one. */
  op(
    opcode: string,
    operands: Value[],
    resultTypes: readonly Type[],
    attrs: Record<string, unknown> = {},
    regions: Region[] = [],
  ): Op {
    const clean: Record<string, never> = {};
    let attrKey = '';
    for (const k in attrs) {
      const v = attrs[k];
      if (v === undefined) continue;
      clean[k] = v as never;
      attrKey += `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : typeof v === 'string' ? `"${v}"` : String(Object.is(v, -0) ? '-0' : v)};`;
    }
    if (PURE.has(opcode) && regions.length === 0) {
      let key = opcode;
      for (const o of operands) key += `,${o.id}`;
      key += `|${attrKey}`;
      for (let i = this.stack.length - 1; i >= 0; i--) {
        const hit = this.stack[i]!.cse.get(key);
        if (hit) return hit.def!;
      }
      const op = new Op(opcode, operands, resultTypes, clean, regions, this.loc);
      this.region.ops.push(op);
      if (op.results.length === 1) this.stack[this.stack.length - 1]!.cse.set(key, op.result);
      return op;
    }
    const op = new Op(opcode, operands, resultTypes, clean, regions, this.loc);
    this.region.ops.push(op);
    return op;
  }

  // ------------------------------------------------------------------------------------------------ scalars

  /** A constant scalar, hoisted to the kernel's entry region (constants dominate everything). */
  constant(v: number | boolean): Value {
    const kind = constKind(v);
    const key = `${kind}:${Object.is(v, -0) ? '-0' : String(v)}`;
    let val = this.consts.get(key);
    if (!val) {
      const op = new Op('const', [], [kind === 'bool' ? BOOL : kind === 'int' ? INT : FLOAT], { value: v as never });
      this.root.ops.unshift(op);
      val = op.result;
      this.consts.set(key, val);
      this.constants.set(val, v);
      if (kind === 'int') this.affine.set(val, { c: v as number, terms: new Map() });
    }
    return val;
  }

  constantOf(v: Value): number | boolean | undefined {
    return this.constants.get(v);
  }

  private affineOf(v: Value): Affine | undefined {
    if (v.type.kind !== 'scalar' || v.type.s !== 'int') return undefined;
    let a = this.affine.get(v);
    if (!a) {
      a = { c: 0, terms: new Map([[v, 1]]) };
      this.affine.set(v, a);
    }
    return a;
  }

  /** Materialises an affine form, or returns null if it is not exact in float64. */
  private fromAffine(a: Affine): Value | null {
    if (!Number.isSafeInteger(a.c) || Math.abs(a.c) > SAFE_INT) return null;
    const terms = [...a.terms].filter(([, k]) => k !== 0);
    if (terms.length === 0) return this.constant(a.c);
    if (terms.length === 1 && terms[0]![1] === 1 && a.c === 0) return terms[0]![0];
    return null;
  }

  private combine(x: Affine, y: Affine, sign: 1 | -1): Affine {
    const terms = new Map(x.terms);
    for (const [v, k] of y.terms) terms.set(v, (terms.get(v) ?? 0) + sign * k);
    for (const [v, k] of terms) if (k === 0) terms.delete(v);
    return { c: x.c + sign * y.c, terms };
  }

  private scale(x: Affine, k: number): Affine {
    const terms = new Map<Value, number>();
    if (k !== 0) for (const [v, c] of x.terms) terms.set(v, c * k);
    return { c: x.c * k, terms };
  }

  /** The type of a binary scalar op's result. */
  static binaryResultKind(op: string, a: ScalarKind, b: ScalarKind): ScalarKind {
    switch (op) {
      case '<':
      case '<=':
      case '>':
      case '>=':
      case '===':
      case '!==':
        return 'bool';
      case '&&':
      case '||':
        return a === 'bool' && b === 'bool' ? 'bool' : a === b ? a : 'float';
      case '&':
      case '|':
      case '^':
      case '<<':
      case '>>':
      case '>>>':
      case 'imul':
        return 'int';
      case '/':
      case '**':
      case 'atan2':
      case 'hypot':
        return 'float';
      case '+':
      case '-':
      case '*':
      case '%':
      case 'min':
      case 'max':
        return a === 'int' && b === 'int'
          ? 'int'
          : a === 'bool' && b === 'bool' && (op === 'min' || op === 'max')
            ? 'int'
            : (a === 'int' || a === 'bool') && (b === 'int' || b === 'bool')
              ? 'int'
              : 'float';
      default:
        throw new Error(`unknown scalar op ${op}`);
    }
  }

  /** `a op b` with JavaScript's semantics on numbers. */
  binary(op: string, a: Value, b: Value): Value {
    const ca = this.constants.get(a);
    const cb = this.constants.get(b);
    if (ca !== undefined && cb !== undefined) {
      const r = evalBinary(op, ca, cb);
      if (typeof r === 'number' || typeof r === 'boolean') return this.constant(r);
    }
    const kind = Builder.binaryResultKind(op, (a.type as { s: ScalarKind }).s, (b.type as { s: ScalarKind }).s);
    // Identities that keep index arithmetic small.
    if ((op === '+' || op === '-') && cb === 0 && kind === (a.type as { s: ScalarKind }).s) return a;
    if (op === '+' && ca === 0 && kind === (b.type as { s: ScalarKind }).s) return b;
    if (op === '*' && cb === 1 && kind === (a.type as { s: ScalarKind }).s) return a;
    if (op === '*' && ca === 1 && kind === (b.type as { s: ScalarKind }).s) return b;
    if (kind === 'int' && (op === '+' || op === '-' || op === '*')) {
      const fa = this.affineOf(a);
      const fb = this.affineOf(b);
      if (fa && fb) {
        let r: Affine | null = null;
        if (op === '+') r = this.combine(fa, fb, 1);
        else if (op === '-') r = this.combine(fa, fb, -1);
        else if (fa.terms.size === 0) r = this.scale(fb, fa.c);
        else if (fb.terms.size === 0) r = this.scale(fa, fb.c);
        if (r) {
          const folded = this.fromAffine(r);
          if (folded) return folded;
          const v = this.op('s.binary', [a, b], [INT], { op }).result;
          if (!this.affine.has(v)) this.affine.set(v, r);
          return v;
        }
      }
    }
    const type = kind === 'bool' ? BOOL : kind === 'int' ? INT : FLOAT;
    return this.op('s.binary', [a, b], [type], { op }).result;
  }

  unary(op: string, a: Value): Value {
    const ca = this.constants.get(a);
    if (ca !== undefined) {
      const r = evalUnary(op, ca);
      if (typeof r === 'number' || typeof r === 'boolean') return this.constant(r);
    }
    const s = (a.type as { s: ScalarKind }).s;
    let kind: ScalarKind;
    switch (op) {
      case '!':
      case 'isNaN':
      case 'isFinite':
      case 'isInteger':
        kind = 'bool';
        break;
      case '~':
      case 'floor':
      case 'ceil':
      case 'round':
      case 'trunc':
      case 'sign':
        kind = 'int';
        break;
      case '-':
      case '+':
      case 'abs':
        kind = s === 'bool' ? 'int' : s;
        break;
      default:
        kind = 'float';
    }
    if (op === '-' && kind === 'int') {
      const fa = this.affineOf(a);
      if (fa) {
        const r = this.scale(fa, -1);
        const folded = this.fromAffine(r);
        if (folded) return folded;
        const v = this.op('s.unary', [a], [INT], { op }).result;
        this.affine.set(v, r);
        return v;
      }
    }
    if ((op === 'floor' || op === 'ceil' || op === 'round' || op === 'trunc') && s === 'int') return a;
    return this.op('s.unary', [a], [kind === 'bool' ? BOOL : kind === 'int' ? INT : FLOAT], { op }).result;
  }

  select(c: Value, a: Value, b: Value): Value {
    const cc = this.constants.get(c);
    if (cc !== undefined) return cc ? a : b;
    if (a === b) return a;
    const sa = (a.type as { s: ScalarKind }).s;
    const sb = (b.type as { s: ScalarKind }).s;
    const kind: ScalarKind = sa === sb ? sa : sa === 'float' || sb === 'float' ? 'float' : 'int';
    return this.op('s.select', [c, a, b], [kind === 'bool' ? BOOL : kind === 'int' ? INT : FLOAT]).result;
  }

  /** A region for a structured op, with arguments of the given types. */
  newRegion(types: readonly Type[], hints: readonly (string | undefined)[] = []): Region {
    const r = new Region();
    types.forEach((t, i) => {
      r.args.push(new Value(t, hints[i]));
    });
    return r;
  }
}

/** JavaScript semantics of the binary scalar ops (used for folding and by the IR interpreter). */
export function evalBinary(op: string, a: number | boolean, b: number | boolean): number | boolean {
  const x = a as number;
  const y = b as number;
  switch (op) {
    case '+':
      return x + y;
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      return x / y;
    case '%':
      return x % y;
    case '**':
      return x ** y;
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
    case '!==':
      return x !== y;
    case '&':
      return x & y;
    case '|':
      return x | y;
    case '^':
      return x ^ y;
    case '<<':
      return x << y;
    case '>>':
      return x >> y;
    case '>>>':
      return x >>> y;
    case '&&':
      return (a && b) as number | boolean;
    case '||':
      return (a || b) as number | boolean;
    default: {
      const f = SCALAR_BINARY_FN[op];
      if (f) return f(x, y);
      throw new Error(`unknown scalar op ${op}`);
    }
  }
}

export function evalUnary(op: string, a: number | boolean): number | boolean {
  const x = a as number;
  switch (op) {
    case '-':
      return -x;
    case '+':
      return +x;
    case '!':
      return !a;
    case '~':
      return ~x;
    default: {
      const f = SCALAR_UNARY_FN[op];
      if (f) return f(x);
      throw new Error(`unknown scalar op ${op}`);
    }
  }
}
