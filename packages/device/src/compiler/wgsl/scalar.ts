/**
 * The scalar ops of both WGSL lowerings (SIMT: simt.ts, tile: tile.ts), in one place: IR scalar kinds and their
 * WGSL types, literals, conversions between kinds, and `s.binary` / `s.unary` / `s.select` as WGSL expressions with
 * JavaScript's meaning, computed in f32 and wrapping i32 instead of float64 (docs/ir.md, "WGSL lowering"):
 *
 * - bitwise operators and `imul` apply JavaScript's ToInt32 to float operands (`tsr_f32_toint32`), exactly; shift
 *   counts are taken modulo 32 (`& 31i`) as JavaScript does; `>>>` shifts through u32 (the result is carried as its
 *   i32 bits);
 * - `/`, `**` (→ `pow`), `atan2` and `hypot` are float; float `%` truncates (`a - b·trunc(a / b)`); integer `%` is
 *   `tt_irem` (0 for a zero divisor, never a WGSL error); `Math.min` / `Math.max` on floats propagate NaN and order
 *   −0 below +0 (`tt_fmin` / `tt_fmax`);
 * - `Math.round` rounds halves up (`floor(x + 0.5)`); `sin` / `cos` / `tanh` are accurate helpers (`tt_sin`, …);
 *   `floor` / `ceil` / `trunc` of an integer quotient are computed exactly in integers (`tt_div_*`);
 * - → bool is JavaScript's truthiness (`tsr_f32_to_bool`: not ±0, not NaN); float → int truncates and saturates
 *   (`tsr_f32_to_i32`, NaN → 0).
 *
 * The dtype library's integer and bool conversions (dtypes.ts: `tsr_f32_to_i32`, `tsr_f32_toint32`,
 * `tsr_f32_to_bool`, and `tsr_f32_bits` for NaN / ±inf / subnormal literals) must be in every program that uses these
 * expressions (`SCALAR_DTYPES`); the `tt_*` helpers an expression calls are requested from its host (`need`) and
 * emitted by `scalarHelpers`.
 */
import type { Op, Value } from '../ir';

/** IR scalar kinds; on the GPU `int` is i32, `float` is f32, `bool` is bool. */
export type Kind = 'int' | 'float' | 'bool';

export const WGSL_TYPE: Record<Kind, string> = { int: 'i32', float: 'f32', bool: 'bool' };

/** The dtypes whose conversion functions (dtypes.ts `conversionLibrary`) scalar expressions call. */
export const SCALAR_DTYPES = ['i32', 'bool'] as const;

// ------------------------------------------------------------------------------------------------------ literals

/**
 * A float literal (f32; negative ones parenthesised), or a call that makes NaN / ±inf / subnormals / −0 without a
 * constant expression (one that evaluates to NaN or infinity is a WGSL error).
 */
export function f32Lit(x: number): string {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return 'tsr_f32_bits(0x7fc00000u)';
  if (!Number.isFinite(f)) return f > 0 ? 'tsr_f32_bits(0x7f800000u)' : 'tsr_f32_bits(0xff800000u)';
  if (Object.is(f, -0)) return 'tsr_f32_bits(0x80000000u)';
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38)
    return `tsr_f32_bits(${new Uint32Array(new Float32Array([f]).buffer)[0]}u)`;
  const s = String(f);
  const lit = `${s.includes('.') || s.includes('e') ? s : `${s}.0`}f`;
  return f < 0 ? `(${lit})` : lit; // `-(-1.5f)` must not read as `--`
}

/** An i32 literal of `x` wrapped to 32 bits (negative ones parenthesised: `-(-1i)` must not read as `--`). */
export function i32Lit(x: number): string {
  const v = x | 0;
  return v === -2147483648 ? 'bitcast<i32>(0x80000000u)' : v < 0 ? `(${v}i)` : `${v}i`;
}

/** WGSL for an IR scalar literal of kind `k` (an `int` constant is wrapped to 32 bits, as int arithmetic is). */
export function scalarLit(v: number | boolean, k: Kind): string {
  if (k === 'bool') return v ? 'true' : 'false';
  const x = Number(v);
  if (k === 'int') return i32Lit(Number.isFinite(x) ? x : 0);
  return f32Lit(x);
}

/** A constant of kind `from` as a literal of kind `to`: `convertScalar` folded. */
export function constAs(v: number | boolean, from: Kind, to: Kind): string {
  if (to === 'bool') return scalarLit(typeof v === 'boolean' ? v : v !== 0 && !Number.isNaN(v), 'bool');
  const x = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  if (to === 'int' && from === 'float') {
    // tsr_f32_to_i32 of the f32 value: truncate, saturate, NaN → 0.
    const f = Math.fround(x);
    return i32Lit(Number.isNaN(f) ? 0 : f >= 2147483648 ? 2147483647 : f < -2147483648 ? -2147483648 : Math.trunc(f));
  }
  return scalarLit(to === 'int' ? Math.trunc(x) : x, to);
}

// --------------------------------------------------------------------------------------------------- conversions

/** Converts a WGSL scalar expression between kinds, with JavaScript's truthiness for → bool. */
export function convertScalar(e: string, from: Kind, to: Kind): string {
  if (from === to) return e;
  if (to === 'bool') return from === 'int' ? `(${e} != 0i)` : `tsr_f32_to_bool(${e})`;
  if (from === 'bool') return to === 'int' ? `select(0i, 1i, ${e})` : `select(0.0f, 1.0f, ${e})`;
  return to === 'int' ? `tsr_f32_to_i32(${e})` : `f32(${e})`;
}

// ------------------------------------------------------------------------------------------------------- helpers

const HELPERS = {
  tt_isnan: { deps: [], code: 'fn tt_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }' },
  tt_isfinite: {
    deps: [],
    code: 'fn tt_isfinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }',
  },
  tt_fmax: {
    deps: ['tt_isnan'],
    code: `fn tt_fmax(a: f32, b: f32) -> f32 {
  if (tt_isnan(a) || tt_isnan(b)) { return tsr_f32_bits(0x7fc00000u); }
  if (a > b) { return a; }
  if (b > a) { return b; }
  return bitcast<f32>(bitcast<u32>(a) & bitcast<u32>(b)); // max(-0, +0) = +0
}`,
  },
  tt_fmin: {
    deps: ['tt_isnan'],
    code: `fn tt_fmin(a: f32, b: f32) -> f32 {
  if (tt_isnan(a) || tt_isnan(b)) { return tsr_f32_bits(0x7fc00000u); }
  if (a < b) { return a; }
  if (b < a) { return b; }
  return bitcast<f32>(bitcast<u32>(a) | bitcast<u32>(b)); // min(-0, +0) = -0
}`,
  },
  tt_idiv: {
    deps: [],
    code: `fn tt_idiv(a: i32, b: i32) -> i32 {
  if (b == 0i) { return 0i; }
  if (b == -1i) { return 0i - a; }
  return a / b;
}`,
  },
  tt_irem: {
    deps: [],
    code: `fn tt_irem(a: i32, b: i32) -> i32 {
  if (b == 0i || b == -1i) { return 0i; }
  return a % b;
}`,
  },
  tt_div_trunc: { deps: ['tt_idiv'], code: 'fn tt_div_trunc(a: i32, b: i32) -> i32 { return tt_idiv(a, b); }' },
  tt_div_floor: {
    deps: ['tt_idiv'],
    code: `fn tt_div_floor(a: i32, b: i32) -> i32 {
  let q = tt_idiv(a, b);
  return select(q, q - 1i, b != 0i && q * b != a && ((a < 0i) != (b < 0i)));
}`,
  },
  tt_div_ceil: {
    deps: ['tt_idiv'],
    code: `fn tt_div_ceil(a: i32, b: i32) -> i32 {
  let q = tt_idiv(a, b);
  return select(q, q + 1i, b != 0i && q * b != a && ((a < 0i) == (b < 0i)));
}`,
  },
  tt_tanh: {
    deps: [],
    code: `fn tt_tanh(x: f32) -> f32 {
  if (abs(x) > 9.0f) { return sign(x); }
  return tanh(x);
}`,
  },
  tt_sincos: {
    deps: ['tt_isfinite'],
    code: `// sin / cos to ~1e-7 absolute for |x| < 823000 (Cephes sinf / cosf polynomials on [-π/4, π/4]), not the builtins:
// WGSL bounds their error only on [-π, π], and loosely (2^-11), while RoPE angles reach 10^5 and more. The reduction
// r = |x| − j·π/4 is exact: j splits into 4096·jh + jl (jh < 2^8, jl < 2^12) and π/4 into four 12-bit pieces, so
// every product is exact in f32 and each subtraction cancels exactly (Cody–Waite).
fn tt_sincos(x: f32, cosine: bool) -> f32 {
  if (!tt_isfinite(x)) { return tsr_f32_bits(0x7fc00000u); }
  var sgn = select(1.0f, -1.0f, x < 0.0f && !cosine);
  let ax = abs(x);
  var j = u32(ax * 1.2732395447351628f);
  j = j + (j & 1u);
  let jh = f32(j >> 12u) * 4096.0f;
  let jl = f32(j & 4095u);
  var r = ax;
  r = r - jh * 0.785400390625f;
  r = r - jl * 0.785400390625f;
  r = r - jh * -2.226792275905609e-6f;
  r = r - jl * -2.226792275905609e-6f;
  r = r - jh * -4.353069016360678e-10f;
  r = r - jl * -4.353069016360678e-10f;
  r = r - jh * 3.108624468950438e-14f;
  r = r - jl * 3.108624468950438e-14f;
  var q = j & 7u;
  if (cosine) { q = (q + 2u) & 7u; }
  if (q > 3u) { sgn = -sgn; q = q - 4u; }
  let z = r * r;
  var v: f32;
  if (q == 1u || q == 2u) {
    v = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
  } else {
    v = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
  }
  return sgn * v;
}`,
  },
  tt_sin: {
    deps: ['tt_sincos'],
    code: 'fn tt_sin(x: f32) -> f32 { if (abs(x) > 823000.0f) { return sin(x); } return tt_sincos(x, false); }',
  },
  tt_cos: {
    deps: ['tt_sincos'],
    code: 'fn tt_cos(x: f32) -> f32 { if (abs(x) > 823000.0f) { return cos(x); } return tt_sincos(x, true); }',
  },
} satisfies Record<string, { deps: string[]; code: string }>;

/** The helper functions scalar (and tile element) expressions call. */
export type ScalarHelper = keyof typeof HELPERS;

export const ALL_SCALAR_HELPERS = Object.keys(HELPERS) as ScalarHelper[];

/** The WGSL of the `needed` helpers and of those they call (each once, in a fixed order). */
export function scalarHelpers(needed: Iterable<ScalarHelper>): string {
  const all = new Set<ScalarHelper>();
  const add = (h: ScalarHelper): void => {
    if (all.has(h)) return;
    all.add(h);
    for (const d of HELPERS[h].deps) add(d as ScalarHelper);
  };
  for (const h of needed) add(h);
  return ALL_SCALAR_HELPERS.filter((h) => all.has(h))
    .map((h) => HELPERS[h].code)
    .join('\n');
}

// ----------------------------------------------------------------------------------------------------------- ops

/** What the scalar op builders need from a lowering. */
export interface ScalarHost {
  kind(v: Value): Kind;
  /** The WGSL expression of `v` converted to `k` (`convertScalar`; constants as `constAs`). */
  as(v: Value, k: Kind): string;
  /** Marks a helper function the expression calls (`scalarHelpers`). */
  need(h: ScalarHelper): void;
  /** Refuses the kernel (`Unsupported`) for `what`. */
  refuse(what: string): never;
}

const INFIX: Record<string, string> = {
  '+': '+',
  '-': '-',
  '*': '*',
  '/': '/',
  '%': '%',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  '===': '==',
  '!==': '!=',
  '&': '&',
  '|': '|',
  '^': '^',
};
const COMPARE = new Set(['<', '<=', '>', '>=', '===', '!==']);
const BITWISE = new Set(['&', '|', '^', '<<', '>>', '>>>']);

/** An operand as i32 the way JavaScript's bitwise operators see it (ToInt32). */
function int32(h: ScalarHost, v: Value): string {
  const c = v.def?.opcode === 'const' ? v.def.attrs.value : undefined;
  if (typeof c === 'number') return i32Lit(c | 0); // 0xffffffff is -1 here, as in JavaScript
  if (h.kind(v) !== 'float') return h.as(v, 'int');
  return `tsr_f32_toint32(${h.as(v, 'float')})`;
}

/** `s.binary`: the WGSL expression of its result (of the result's kind). */
export function scalarBinary(h: ScalarHost, op: Op): string {
  const [x, y] = op.operands as [Value, Value];
  const bop = op.attrs.op as string;
  const rk = h.kind(op.result);
  const kx = h.kind(x);
  const ky = h.kind(y);
  // The kind the operation is computed in.
  const ck: Kind = COMPARE.has(bop)
    ? kx === 'bool' && ky === 'bool'
      ? 'bool'
      : kx === 'float' || ky === 'float'
        ? 'float'
        : 'int'
    : bop === '&&' || bop === '||'
      ? 'bool'
      : BITWISE.has(bop) || bop === 'imul'
        ? 'int'
        : bop === '/' || bop === '**' || bop === 'atan2' || bop === 'hypot'
          ? 'float'
          : rk === 'bool'
            ? 'int'
            : rk;
  if ((bop === '&&' || bop === '||') && (kx !== 'bool' || ky !== 'bool' || rk !== 'bool'))
    h.refuse(`\`${bop}\` on non-boolean operands (JavaScript returns an operand)`);
  const integer = BITWISE.has(bop) || bop === 'imul';
  const a = integer ? int32(h, x) : h.as(x, ck);
  const b = integer ? int32(h, y) : h.as(y, ck);
  let e: string;
  switch (bop) {
    case '<<':
      e = `(${a} << u32(${b} & 31i))`;
      break;
    case '>>':
      e = `(${a} >> u32(${b} & 31i))`;
      break;
    case '>>>':
      e = `bitcast<i32>(bitcast<u32>(${a}) >> u32(${b} & 31i))`;
      break;
    case '**':
      e = `pow(${a}, ${b})`;
      break;
    case 'min':
    case 'max':
      if (ck === 'float') {
        h.need(bop === 'min' ? 'tt_fmin' : 'tt_fmax');
        e = `tt_f${bop}(${a}, ${b})`;
      } else e = `${bop}(${a}, ${b})`;
      break;
    case 'imul':
      e = `(${a} * ${b})`;
      break;
    case 'atan2':
      e = `atan2(${a}, ${b})`;
      break;
    case 'hypot':
      e = `length(vec2<f32>(${a}, ${b}))`;
      break;
    case '&&':
      e = `(${a} && ${b})`;
      break;
    case '||':
      e = `(${a} || ${b})`;
      break;
    default: {
      const inf = INFIX[bop];
      if (!inf) h.refuse(`the scalar operator \`${bop}\``);
      if (bop === '%' && ck === 'float') e = `(${a} - ${b} * trunc(${a} / ${b}))`;
      else if (bop === '%' && ck === 'int') {
        h.need('tt_irem');
        e = `tt_irem(${a}, ${b})`;
      } else e = `(${a} ${inf} ${b})`;
    }
  }
  return convertScalar(e, COMPARE.has(bop) ? 'bool' : ck, rk);
}

/** `s.unary`: the WGSL expression of its result (of the result's kind). */
export function scalarUnary(h: ScalarHost, op: Op): string {
  const x = op.operands[0]!;
  const u = op.attrs.op as string;
  const rk = h.kind(op.result);
  const xk = h.kind(x);
  const f = (): string => h.as(x, 'float');
  // floor / ceil / trunc of an integer quotient (`Math.ceil(n / BLOCK)`): exact in integers, where the f32 quotient
  // could land an ulp past an integer.
  const q = x.def;
  if (
    (u === 'floor' || u === 'ceil' || u === 'trunc') &&
    rk === 'int' &&
    q?.opcode === 's.binary' &&
    q.attrs.op === '/'
  ) {
    const [n, d] = q.operands as [Value, Value];
    if (h.kind(n) === 'int' && h.kind(d) === 'int') {
      h.need(`tt_div_${u}`);
      return `tt_div_${u}(${h.as(n, 'int')}, ${h.as(d, 'int')})`;
    }
  }
  let e: string;
  let k: Kind = 'float';
  switch (u) {
    case '-':
    case '+':
      k = xk === 'int' ? 'int' : 'float';
      e = u === '-' ? `(-${h.as(x, k)})` : h.as(x, k);
      break;
    case '!':
      k = 'bool';
      e = `(!${h.as(x, 'bool')})`;
      break;
    case '~':
      k = 'int';
      e = `(~${int32(h, x)})`;
      break;
    case 'floor':
    case 'ceil':
    case 'trunc':
    case 'sign':
    case 'abs':
      if (xk !== 'float') {
        k = 'int';
        e = u === 'abs' || u === 'sign' ? `${u}(${h.as(x, 'int')})` : h.as(x, 'int');
      } else e = `${u}(${f()})`;
      break;
    case 'round': // JavaScript rounds halves up
      e = xk !== 'float' ? f() : `floor(${f()} + 0.5f)`;
      break;
    case 'sin':
    case 'cos':
    case 'tanh':
      h.need(`tt_${u}`);
      e = `tt_${u}(${f()})`;
      break;
    case 'sqrt':
    case 'exp':
    case 'log':
    case 'log2':
    case 'tan':
    case 'atan':
      e = `${u}(${f()})`;
      break;
    case 'cbrt':
      e = `(sign(${f()}) * pow(abs(${f()}), 1.0f / 3.0f))`;
      break;
    case 'expm1':
      e = `(exp(${f()}) - 1.0f)`;
      break;
    case 'log1p':
      e = `log(1.0f + ${f()})`;
      break;
    case 'log10':
      e = `(log2(${f()}) * 0.3010299956639812f)`;
      break;
    case 'fround':
      e = f();
      break;
    case 'isNaN':
      k = 'bool';
      if (xk === 'float') h.need('tt_isnan');
      e = xk === 'float' ? `tt_isnan(${f()})` : 'false';
      break;
    case 'isFinite':
      k = 'bool';
      if (xk === 'float') h.need('tt_isfinite');
      e = xk === 'float' ? `tt_isfinite(${f()})` : 'true';
      break;
    case 'isInteger':
      k = 'bool';
      if (xk === 'float') h.need('tt_isfinite');
      e = xk !== 'float' ? 'true' : `(tt_isfinite(${f()}) && trunc(${f()}) == ${f()})`;
      break;
    default:
      h.refuse(`the scalar function \`${u}\``);
  }
  return convertScalar(e, k, rk);
}

/** `s.select` (operands: condition, then, else). */
export function scalarSelect(h: ScalarHost, op: Op): string {
  const [c, t, f] = op.operands as [Value, Value, Value];
  const k = h.kind(op.result);
  return `select(${h.as(f, k)}, ${h.as(t, k)}, ${h.as(c, 'bool')})`;
}
