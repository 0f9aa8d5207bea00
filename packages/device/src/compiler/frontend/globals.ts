/**
 * The JavaScript globals a kernel may use: `Math`, `Number`, `Infinity`, `NaN`, `undefined`, a little of `Array` and
 * `Object` (compile-time only). `Math.*` and `Number.is*` also work on runtime scalars, where they become IR scalar
 * ops with the same semantics. Nothing else of the global object is visible: a kernel must not reach the host.
 */
import type { Builder } from '../builder';
import { isScalar, Value } from '../ir';
import { MATH_UNARY } from '../scalar-math';
import { Builtin } from './values';

/** The builder of the kernel being staged (set by the stager around each compile; staging is synchronous). */
export const current: {
  b: Builder | null;
  fail: (m: string, h?: string) => never;
  /** Makes a stager value callable from native JavaScript (closures call back into the stager). */
  native: (x: unknown) => unknown;
} = {
  b: null,
  fail: (m) => {
    throw new Error(m);
  },
  native: (x) => x,
};

function scalarArg(x: unknown, fn: string): Value | number {
  if (x instanceof Value) {
    if (!isScalar(x.type))
      current.fail(
        `Math.${fn} takes numbers; a ${x.type.kind} is not one.`,
        x.type.kind === 'tile' ? 'Use the tile method of the same name (x.exp(), x.maximum(y)).' : undefined,
      );
    return x;
  }
  if (typeof x !== 'number' && typeof x !== 'boolean') current.fail(`Math.${fn} takes numbers, got ${typeof x}.`);
  return Number(x);
}

function unaryMath(name: string, native: (x: number) => number, irOp = name): Builtin {
  return new Builtin(`Math.${name}`, (args) => {
    const x = scalarArg(args[0], name);
    if (!(x instanceof Value)) return native(x);
    return current.b!.unary(irOp, x);
  });
}

function variadic(name: 'min' | 'max'): Builtin {
  return new Builtin(`Math.${name}`, (args) => {
    const xs = args.map((a) => scalarArg(a, name));
    if (xs.every((x) => !(x instanceof Value))) return (name === 'min' ? Math.min : Math.max)(...(xs as number[]));
    if (xs.length === 0) return name === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    const b = current.b!;
    let acc = xs[0] instanceof Value ? xs[0] : b.constant(xs[0] as number);
    for (const x of xs.slice(1)) acc = b.binary(name, acc, x instanceof Value ? x : b.constant(x));
    return acc;
  });
}

function binaryMath(name: string, native: (x: number, y: number) => number, irOp: string): Builtin {
  return new Builtin(`Math.${name}`, (args) => {
    const x = scalarArg(args[0], name);
    const y = scalarArg(args[1], name);
    if (!(x instanceof Value) && !(y instanceof Value)) return native(x, y);
    const b = current.b!;
    return b.binary(irOp, x instanceof Value ? x : b.constant(x), y instanceof Value ? y : b.constant(y));
  });
}

const MATH: Record<string, unknown> = Object.freeze({
  PI: Math.PI,
  E: Math.E,
  LN2: Math.LN2,
  LN10: Math.LN10,
  LOG2E: Math.LOG2E,
  LOG10E: Math.LOG10E,
  SQRT2: Math.SQRT2,
  SQRT1_2: Math.SQRT1_2,
  // Math.floor(x) → the op `floor`, … (scalar-math.ts: the one list of them).
  ...Object.fromEntries(MATH_UNARY.map((n) => [n, unaryMath(n, Math[n])])),
  min: variadic('min'),
  max: variadic('max'),
  pow: binaryMath('pow', Math.pow, '**'),
  imul: binaryMath('imul', Math.imul, 'imul'),
  atan2: binaryMath('atan2', Math.atan2, 'atan2'),
  hypot: binaryMath('hypot', Math.hypot, 'hypot'),
});

function numberTest(name: 'isInteger' | 'isFinite' | 'isNaN' | 'isSafeInteger'): Builtin {
  return new Builtin(`Number.${name}`, (args) => {
    const x = args[0];
    if (x instanceof Value) {
      if (!isScalar(x.type)) return false;
      if (name === 'isSafeInteger') {
        const b = current.b!;
        const isInt = b.unary('isInteger', x);
        return b.binary('&&', isInt, b.binary('<=', b.unary('abs', x), b.constant(Number.MAX_SAFE_INTEGER)));
      }
      return current.b!.unary(name, x);
    }
    return Number[name](x);
  });
}

const NUMBER: Record<string, unknown> = Object.freeze({
  POSITIVE_INFINITY: Number.POSITIVE_INFINITY,
  NEGATIVE_INFINITY: Number.NEGATIVE_INFINITY,
  MAX_SAFE_INTEGER: Number.MAX_SAFE_INTEGER,
  MIN_SAFE_INTEGER: Number.MIN_SAFE_INTEGER,
  MAX_VALUE: Number.MAX_VALUE,
  MIN_VALUE: Number.MIN_VALUE,
  EPSILON: Number.EPSILON,
  NaN: Number.NaN,
  isInteger: numberTest('isInteger'),
  isFinite: numberTest('isFinite'),
  isNaN: numberTest('isNaN'),
  isSafeInteger: numberTest('isSafeInteger'),
});

const compileTimeOnly = (name: string, fn: (...a: unknown[]) => unknown) =>
  new Builtin(name, (args) => {
    if (args.some((a) => a instanceof Value))
      current.fail(`${name} runs at compile time only; it got a runtime value.`);
    return fn(...args.map((a) => current.native(a)));
  });

export const GLOBALS: Record<string, unknown> = Object.freeze({
  Math: MATH,
  Number: NUMBER,
  Infinity: Number.POSITIVE_INFINITY,
  NaN: Number.NaN,
  undefined: undefined,
  Array: Object.freeze({
    isArray: compileTimeOnly('Array.isArray', (a) => Array.isArray(a)),
    from: compileTimeOnly('Array.from', (a, f) =>
      f
        ? Array.from(a as ArrayLike<unknown>, f as (v: unknown, k: number) => unknown)
        : Array.from(a as ArrayLike<unknown>),
    ),
  }),
  Object: Object.freeze({
    keys: compileTimeOnly('Object.keys', (o) => Object.keys(o as object)),
    values: compileTimeOnly('Object.values', (o) => Object.values(o as object)),
    entries: compileTimeOnly('Object.entries', (o) => Object.entries(o as object)),
  }),
  Error,
  TypeError,
  RangeError,
});
