/**
 * The elementwise ops of the tile language: their semantics (a JS expression per dtype kind), their result type,
 * and their cost weight. Loops are generated once per op with `new Function`, so each op gets its own monomorphic,
 * JIT-friendly loop instead of a switch per element.
 */
import { erf, rint } from './math';

type Kind = 'float' | 'int' | 'bool';

export interface BinaryOpDef {
  /** Expression over `a`, `b` for float operands, int operands, bool operands (absent = not allowed). */
  float?: string;
  int?: string;
  bool?: string;
  /** `promote`: result has the promoted operand type; `bool`: comparison; `float`: ints promote to f32 first. */
  result: 'promote' | 'bool' | 'float';
  /** Special-function (SFU) operations per element, on top of one vector op. */
  special: number;
}

export const BINARY_OPS = {
  add: { float: 'a + b', int: 'a + b', result: 'promote', special: 0 },
  sub: { float: 'a - b', int: 'a - b', result: 'promote', special: 0 },
  mul: { float: 'a * b', int: 'Math.imul(a, b)', result: 'promote', special: 0 },
  div: { float: 'a / b', result: 'float', special: 1 },
  maximum: { float: 'Math.max(a, b)', int: 'a > b ? a : b', bool: 'a | b', result: 'promote', special: 0 },
  minimum: { float: 'Math.min(a, b)', int: 'a < b ? a : b', bool: 'a & b', result: 'promote', special: 0 },
  idiv: { int: 'b === 0 ? 0 : (a / b) | 0', result: 'promote', special: 1 },
  rem: { int: 'b === 0 ? 0 : a % b', result: 'promote', special: 1 },
  and: { int: 'a & b', bool: 'a & b', result: 'promote', special: 0 },
  or: { int: 'a | b', bool: 'a | b', result: 'promote', special: 0 },
  xor: { int: 'a ^ b', bool: 'a ^ b', result: 'promote', special: 0 },
  shl: { int: 'a << (b & 31)', result: 'promote', special: 0 },
  shr: { int: 'a >> (b & 31)', result: 'promote', special: 0 },
  shru: { int: '(a >>> (b & 31)) | 0', result: 'promote', special: 0 },
  lt: { float: 'a < b ? 1 : 0', int: 'a < b ? 1 : 0', bool: 'a < b ? 1 : 0', result: 'bool', special: 0 },
  le: { float: 'a <= b ? 1 : 0', int: 'a <= b ? 1 : 0', bool: 'a <= b ? 1 : 0', result: 'bool', special: 0 },
  gt: { float: 'a > b ? 1 : 0', int: 'a > b ? 1 : 0', bool: 'a > b ? 1 : 0', result: 'bool', special: 0 },
  ge: { float: 'a >= b ? 1 : 0', int: 'a >= b ? 1 : 0', bool: 'a >= b ? 1 : 0', result: 'bool', special: 0 },
  eq: { float: 'a === b ? 1 : 0', int: 'a === b ? 1 : 0', bool: 'a === b ? 1 : 0', result: 'bool', special: 0 },
  ne: { float: 'a !== b ? 1 : 0', int: 'a !== b ? 1 : 0', bool: 'a !== b ? 1 : 0', result: 'bool', special: 0 },
} as const satisfies Record<string, BinaryOpDef>;

export type BinaryOp = keyof typeof BINARY_OPS;

export interface UnaryOpDef {
  float?: string;
  int?: string;
  bool?: string;
  /** `same`: result keeps the operand type; `float`: ints promote to f32; `bool`: predicate. */
  result: 'same' | 'float' | 'bool';
  special: number;
}

export const UNARY_OPS = {
  neg: { float: '-a', int: '-a', result: 'same', special: 0 },
  abs: { float: 'Math.abs(a)', int: 'a < 0 ? -a : a', result: 'same', special: 0 },
  exp: { float: 'Math.exp(a)', result: 'float', special: 1 },
  exp2: { float: '2 ** a', result: 'float', special: 1 },
  log: { float: 'Math.log(a)', result: 'float', special: 1 },
  log2: { float: 'Math.log2(a)', result: 'float', special: 1 },
  sqrt: { float: 'Math.sqrt(a)', result: 'float', special: 1 },
  rsqrt: { float: '1 / Math.sqrt(a)', result: 'float', special: 1 },
  sin: { float: 'Math.sin(a)', result: 'float', special: 1 },
  cos: { float: 'Math.cos(a)', result: 'float', special: 1 },
  tanh: { float: 'Math.tanh(a)', result: 'float', special: 1 },
  sigmoid: { float: '1 / (1 + Math.exp(-a))', result: 'float', special: 2 },
  erf: { float: 'erf(a)', result: 'float', special: 1 },
  floor: { float: 'Math.floor(a)', int: 'a', result: 'same', special: 0 },
  ceil: { float: 'Math.ceil(a)', int: 'a', result: 'same', special: 0 },
  trunc: { float: 'Math.trunc(a)', int: 'a', result: 'same', special: 0 },
  round: { float: 'rint(a)', int: 'a', result: 'same', special: 0 },
  not: { int: '~a', bool: '1 - a', result: 'same', special: 0 },
  isnan: { float: 'a !== a ? 1 : 0', int: '0', bool: '0', result: 'bool', special: 0 },
} as const satisfies Record<string, UnaryOpDef>;

export type UnaryOp = keyof typeof UNARY_OPS;

type Arr = Float32Array | Int32Array | Uint8Array;
export type BinaryLoop = (A: Arr, B: Arr, O: Arr, n: number) => void;
export type BinaryScalarLoop = (A: Arr, b: number, O: Arr, n: number) => void;
export type ScalarBinaryLoop = (a: number, B: Arr, O: Arr, n: number) => void;
export type UnaryLoop = (A: Arr, O: Arr, n: number) => void;
/** Broadcast loops over a (rows, cols) output: one operand full, the other one value per row or per column. */
export type BroadcastLoop = (A: Arr, B: Arr, O: Arr, rows: number, cols: number) => void;
/** tc: B holds one value per row; tv: B one per column; ct / vt: the same with A as the small operand. */
export type BroadcastVariant = 'tc' | 'tv' | 'ct' | 'vt';

function compile<T>(params: string, body: string): T {
  // The helpers erf and rint are the only free names the expressions may use.
  return new Function('erf', 'rint', `return function (${params}) { ${body} };`)(erf, rint) as T;
}

const cache = new Map<string, unknown>();

export function binaryExpr(op: BinaryOp, kind: Kind): string | undefined {
  return (BINARY_OPS[op] as BinaryOpDef)[kind];
}

export function binaryLoop(op: BinaryOp, kind: Kind, variant: 'tt' | 'ts' | 'st'): BinaryLoop {
  const key = `b:${op}:${kind}:${variant}`;
  let f = cache.get(key);
  if (!f) {
    const expr = binaryExpr(op, kind)!;
    const a = variant === 'st' ? '' : 'const a = A[i];';
    const b = variant === 'ts' ? '' : 'const b = B[i];';
    const params = variant === 'tt' ? 'A, B, O, n' : variant === 'ts' ? 'A, b, O, n' : 'a, B, O, n';
    f = compile(params, `for (let i = 0; i < n; i++) { ${a} ${b} O[i] = ${expr}; }`);
    cache.set(key, f);
  }
  return f as BinaryLoop;
}

export function broadcastLoop(op: BinaryOp, kind: Kind, variant: BroadcastVariant): BroadcastLoop {
  const key = `bb:${op}:${kind}:${variant}`;
  let f = cache.get(key);
  if (!f) {
    const expr = binaryExpr(op, kind)!;
    const a = variant === 'ct' ? 'const a = A[r];' : variant === 'vt' ? '' : '';
    const b = variant === 'tc' ? 'const b = B[r];' : '';
    const inner =
      variant === 'tc'
        ? 'const a = A[o + c];'
        : variant === 'tv'
          ? 'const a = A[o + c]; const b = B[c];'
          : variant === 'ct'
            ? 'const b = B[o + c];'
            : 'const a = A[c]; const b = B[o + c];';
    f = compile(
      'A, B, O, rows, cols',
      `for (let r = 0; r < rows; r++) { ${a} ${b} const o = r * cols; for (let c = 0; c < cols; c++) { ${inner} O[o + c] = ${expr}; } }`,
    );
    cache.set(key, f);
  }
  return f as BroadcastLoop;
}

export function unaryLoop(op: UnaryOp, kind: Kind): UnaryLoop {
  const key = `u:${op}:${kind}`;
  let f = cache.get(key);
  if (!f) {
    const expr = (UNARY_OPS[op] as UnaryOpDef)[kind]!;
    f = compile('A, O, n', `for (let i = 0; i < n; i++) { const a = A[i]; O[i] = ${expr}; }`);
    cache.set(key, f);
  }
  return f as UnaryLoop;
}
