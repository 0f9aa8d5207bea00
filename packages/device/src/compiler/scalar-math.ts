/**
 * The IR's scalar math ops that are JavaScript functions rather than operators — `s.unary` / `s.binary` named after
 * `Math.<name>` (and the `Number.is…` tests) — and what each one means. The front end maps a kernel's `Math.floor(x)`
 * to the op `floor`; constant folding and the interpreters call the function here; both CPU code generators (tile and
 * SIMT) emit its callee. Written once, so the four cannot drift. (The WGSL lowering spells each op its own way:
 * wgsl/scalar.ts.)
 */

/** `Math` functions of one argument that kernels may call, by op name (the op is the function's name). */
export const MATH_UNARY = [
  'floor',
  'ceil',
  'round',
  'trunc',
  'sign',
  'abs',
  'sqrt',
  'cbrt',
  'exp',
  'expm1',
  'log',
  'log2',
  'log10',
  'log1p',
  'sin',
  'cos',
  'tan',
  'tanh',
  'atan',
  'fround',
] as const;

/** `Number` tests of one argument (their results are booleans). */
export const NUMBER_TESTS = ['isNaN', 'isFinite', 'isInteger'] as const;

/** `Math` functions of two arguments that are scalar ops (`pow` is the operator `**`). */
export const MATH_BINARY = ['min', 'max', 'imul', 'atan2', 'hypot'] as const;

export type MathUnaryOp = (typeof MATH_UNARY)[number] | (typeof NUMBER_TESTS)[number];
export type MathBinaryOp = (typeof MATH_BINARY)[number];

/** The JavaScript callee of each unary math op ("Math.floor", "Number.isNaN"): what the code generators emit. */
export const SCALAR_UNARY_JS: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries([...MATH_UNARY.map((n) => [n, `Math.${n}`]), ...NUMBER_TESTS.map((n) => [n, `Number.${n}`])]),
);

/** The JavaScript callee of each binary math op ("Math.min"). */
export const SCALAR_BINARY_JS: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(MATH_BINARY.map((n) => [n, `Math.${n}`])),
);

/** The function each unary math op computes: what constant folding and the interpreters call. */
export const SCALAR_UNARY_FN: Readonly<Record<string, (x: number) => number | boolean>> = Object.freeze(
  Object.fromEntries([
    ...MATH_UNARY.map((n) => [n, Math[n] as (x: number) => number]),
    ...NUMBER_TESTS.map((n) => [n, Number[n] as (x: number) => boolean]),
  ]),
);

/** The function each binary math op computes. */
export const SCALAR_BINARY_FN: Readonly<Record<string, (x: number, y: number) => number>> = Object.freeze(
  Object.fromEntries(MATH_BINARY.map((n) => [n, Math[n] as (x: number, y: number) => number])),
);
