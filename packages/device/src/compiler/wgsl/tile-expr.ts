/**
 * WGSL expressions for the tile lowering (tile.ts): scalar ops (JavaScript semantics, in i32 / f32 / bool), the
 * tile language's elementwise ops on element values (floats as f32, integers and bools as i32), conversions
 * (`castTo`, `tile.cast`) and the rounding / wrapping of a result to its tile dtype, plus the helper functions they
 * call (`tt_*`; the dtype conversions `tsr_*` come from dtypes.ts).
 */
import { castScalar, type DType, isFloat, type TileDType } from '../../dtype/dtype';

export type Kind = 'int' | 'float' | 'bool';
export type EKind = 'float' | 'int' | 'bool';

export function ekind(d: TileDType): EKind {
  return d === 'bool' ? 'bool' : isFloat(d) ? 'float' : 'int';
}

/** The WGSL type a tile dtype's elements are carried in. */
export function elemType(d: TileDType): 'f32' | 'i32' {
  return ekind(d) === 'float' ? 'f32' : 'i32';
}

/** A float literal (f32), or a call that makes NaN / ±inf / subnormals without a constant expression. */
export function f32Lit(x: number): string {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return 'tsr_f32_bits(0x7fc00000u)';
  if (!Number.isFinite(f)) return f > 0 ? 'tsr_f32_bits(0x7f800000u)' : 'tsr_f32_bits(0xff800000u)';
  if (Object.is(f, -0)) return 'tsr_f32_bits(0x80000000u)';
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38)
    return `tsr_f32_bits(${new Uint32Array(new Float32Array([f]).buffer)[0]}u)`;
  const s = String(f);
  return `${s.includes('.') || s.includes('e') ? s : `${s}.0`}f`;
}

export function i32Lit(x: number): string {
  const v = x | 0;
  return v === -2147483648 ? 'bitcast<i32>(0x80000000u)' : v < 0 ? `(${v}i)` : `${v}i`;
}

/** A tile element literal: `castTo(x, dtype)` computed here exactly. */
export function tileLit(x: number, d: TileDType): string {
  const k = ekind(d);
  if (k === 'bool') return x !== 0 && !Number.isNaN(x) ? '1i' : '0i';
  const v = castScalar(x, d);
  return k === 'float' ? f32Lit(v) : i32Lit(v);
}

/** What storing `x` into a tile of kind `k` leaves (a typed array's conversion: gather `other`, block `padding`). */
export function storageLit(x: number, d: TileDType): string {
  const k = ekind(d);
  if (k === 'float') return f32Lit(x);
  if (k === 'bool') return i32Lit(new Uint8Array([x])[0]!);
  return i32Lit(new Int32Array([x])[0]!);
}

/** Rounds / wraps an element value to its dtype (float tiles hold f32 values rounded to their dtype). */
export function finish(e: string, d: TileDType): string {
  switch (d) {
    case 'f32':
    case 'i32':
    case 'bool':
      return e;
    case 'f16':
    case 'bf16':
    case 'fp8e4m3':
    case 'fp8e5m2':
      return `tsr_round_${d}(${e})`;
    case 'i16':
    case 'i8':
    case 'u8':
      return `tsr_wrap_${d}(${e})`;
  }
}

/** Scalar (WGSL `kind`) → tile element of dtype `d`, as `castTo` does. */
export function scalarToTile(e: string, k: Kind, d: TileDType): string {
  const tk = ekind(d);
  if (tk === 'bool') {
    if (k === 'bool') return `select(0i, 1i, ${e})`;
    return k === 'int' ? `select(0i, 1i, ${e} != 0i)` : `select(0i, 1i, tsr_f32_to_bool(${e}))`;
  }
  if (tk === 'float') {
    const f = k === 'float' ? e : k === 'int' ? `f32(${e})` : `select(0.0f, 1.0f, ${e})`;
    return d === 'f32' ? f : `tsr_round_${d}(${f})`;
  }
  // Integer dtypes: castScalar truncates and saturates (NaN → 0).
  if (k === 'bool') return `select(0i, 1i, ${e})`;
  if (k === 'float') return `tsr_f32_to_${d}(${e})`;
  return d === 'i32' ? e : `tsr_sat_${d}(${e})`;
}

/** `tile.cast`: element `e` of dtype `from` to dtype `to` (dtype.ts / runtime-ops.ts `cast`). */
export function castElem(e: string, from: TileDType, to: TileDType): string {
  if (from === to) return e;
  const fk = ekind(from);
  const tk = ekind(to);
  if (tk === 'bool') return fk === 'float' ? `select(0i, 1i, tsr_f32_to_bool(${e}))` : `select(0i, 1i, ${e} != 0i)`;
  if (tk === 'float') {
    const f = fk === 'float' ? e : `f32(${e})`;
    return to === 'f32' ? f : `tsr_round_${to}(${f})`;
  }
  if (fk === 'float') return `tsr_f32_to_${to}(${e})`;
  return finish(e, to);
}

/** Element value → what a buffer of dtype `d` stores for it, in the accessor's value type (`st_<name>`). */
export function toBuffer(e: string, from: TileDType, d: DType): string {
  // Stored tiles are already of the buffer's dtype (the front end casts); convert defensively otherwise.
  return castElem(e, from, d as TileDType);
}

const cmp = (a: string, op: string, b: string) => `select(0i, 1i, ${a} ${op} ${b})`;

/** `tile.binary` on element values of compute kind `k` (kernel/elementwise.ts BINARY_OPS). */
export function binaryElem(op: string, k: EKind, a: string, b: string): string {
  switch (op) {
    case 'add':
      return `(${a} + ${b})`;
    case 'sub':
      return `(${a} - ${b})`;
    case 'mul':
      return `(${a} * ${b})`;
    case 'div':
      return `(${a} / ${b})`;
    case 'maximum':
      return k === 'float' ? `tt_fmax(${a}, ${b})` : k === 'bool' ? `(${a} | ${b})` : `max(${a}, ${b})`;
    case 'minimum':
      return k === 'float' ? `tt_fmin(${a}, ${b})` : k === 'bool' ? `(${a} & ${b})` : `min(${a}, ${b})`;
    case 'idiv':
      return `tt_idiv(${a}, ${b})`;
    case 'rem':
      return `tt_irem(${a}, ${b})`;
    case 'and':
      return `(${a} & ${b})`;
    case 'or':
      return `(${a} | ${b})`;
    case 'xor':
      return `(${a} ^ ${b})`;
    case 'shl':
      return `(${a} << u32(${b} & 31i))`;
    case 'shr':
      return `(${a} >> u32(${b} & 31i))`;
    case 'shru':
      return `bitcast<i32>(bitcast<u32>(${a}) >> u32(${b} & 31i))`;
    case 'lt':
      return cmp(a, '<', b);
    case 'le':
      return cmp(a, '<=', b);
    case 'gt':
      return cmp(a, '>', b);
    case 'ge':
      return cmp(a, '>=', b);
    case 'eq':
      return cmp(a, '==', b);
    case 'ne':
      return cmp(a, '!=', b);
    default:
      throw new Error(`binary op ${op}`);
  }
}

/** `tile.unary` on an element value of compute kind `k` (UNARY_OPS). */
export function unaryElem(op: string, k: EKind, a: string): string {
  if (k !== 'float') {
    switch (op) {
      case 'neg':
        return `(-${a})`;
      case 'abs':
        return `abs(${a})`;
      case 'floor':
      case 'ceil':
      case 'trunc':
      case 'round':
        return a;
      case 'not':
        return k === 'bool' ? `(1i - ${a})` : `(~${a})`;
      case 'isnan':
        return '0i';
      default:
        throw new Error(`unary op ${op} on ${k}`);
    }
  }
  switch (op) {
    case 'neg':
      return `(-${a})`;
    case 'abs':
    case 'exp':
    case 'exp2':
    case 'log':
    case 'log2':
    case 'sqrt':
    case 'floor':
    case 'ceil':
    case 'trunc':
    case 'round': // WGSL's round() is half to even, as `rint`
      return `${op}(${a})`;
    case 'sin':
    case 'cos':
      return `tt_${op}(${a})`;
    case 'rsqrt':
      return `(1.0f / sqrt(${a}))`;
    case 'tanh':
      return `tt_tanh(${a})`;
    case 'sigmoid':
      return `(1.0f / (1.0f + exp(-${a})))`;
    case 'erf':
      return `tt_erf(${a})`;
    case 'isnan':
      return `select(0i, 1i, tt_isnan(${a}))`;
    default:
      throw new Error(`unary op ${op}`);
  }
}

/** Helper functions the element expressions call (all of them; WGSL compilers drop what is unused). */
export const TILE_HELPERS = `fn tt_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn tt_isfinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
var<private> tt_zero: u32;
fn tt_keep(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ tt_zero); }
fn tt_fmax(a: f32, b: f32) -> f32 {
  if (tt_isnan(a) || tt_isnan(b)) { return tsr_f32_bits(0x7fc00000u); }
  if (a > b) { return a; }
  if (b > a) { return b; }
  return bitcast<f32>(bitcast<u32>(a) & bitcast<u32>(b)); // max(-0, +0) = +0
}
fn tt_fmin(a: f32, b: f32) -> f32 {
  if (tt_isnan(a) || tt_isnan(b)) { return tsr_f32_bits(0x7fc00000u); }
  if (a < b) { return a; }
  if (b < a) { return b; }
  return bitcast<f32>(bitcast<u32>(a) | bitcast<u32>(b)); // min(-0, +0) = -0
}
fn tt_idiv(a: i32, b: i32) -> i32 {
  if (b == 0i) { return 0i; }
  if (b == -1i) { return 0i - a; }
  return a / b;
}
fn tt_irem(a: i32, b: i32) -> i32 {
  if (b == 0i || b == -1i) { return 0i; }
  return a % b;
}
fn tt_div_trunc(a: i32, b: i32) -> i32 { return tt_idiv(a, b); }
fn tt_div_floor(a: i32, b: i32) -> i32 {
  let q = tt_idiv(a, b);
  return select(q, q - 1i, b != 0i && q * b != a && ((a < 0i) != (b < 0i)));
}
fn tt_div_ceil(a: i32, b: i32) -> i32 {
  let q = tt_idiv(a, b);
  return select(q, q + 1i, b != 0i && q * b != a && ((a < 0i) == (b < 0i)));
}
fn tt_tanh(x: f32) -> f32 {
  if (abs(x) > 9.0f) { return sign(x); }
  return tanh(x);
}
fn tt_erf(x: f32) -> f32 {
  // Abramowitz–Stegun 7.1.26 is too coarse; this is erf via erfc's rational approximation (Numerical Recipes erfcc,
  // |rel err| < 1.2e-7) with the Maclaurin series near zero.
  let ax = abs(x);
  if (ax < 0.5f) {
    let x2 = x * x;
    return x * (1.1283791670955126f + x2 * (-0.37612638903183754f + x2 * (0.11283791670955126f + x2 * (-0.026866170645131252f + x2 * (0.005223977625442188f + x2 * (-0.0008548327023450852f))))));
  }
  let t = 1.0f / (1.0f + 0.5f * ax);
  let y = t * exp(-ax * ax - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
  return select(y - 1.0f, 1.0f - y, x >= 0.0f);
}
// sin / cos to ~1e-7 absolute for |x| < 823000 (Cephes sinf / cosf polynomials on [-π/4, π/4]), not the builtins:
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
}
fn tt_sin(x: f32) -> f32 { if (abs(x) > 823000.0f) { return sin(x); } return tt_sincos(x, false); }
fn tt_cos(x: f32) -> f32 { if (abs(x) > 823000.0f) { return cos(x); } return tt_sincos(x, true); }
fn tt_round_tf32(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) >= 0x7f800000u) { return x; }
  return bitcast<f32>((u + 0xfffu + ((u >> 13u) & 1u)) & 0xffffe000u);
}`;

// ------------------------------------------------------------------------------------------------------ scalars

/** WGSL for an IR scalar literal of kind `k`. */
export function scalarLit(v: number | boolean, k: Kind): string {
  if (k === 'bool') return v ? 'true' : 'false';
  const x = Number(v);
  if (k === 'int') return i32Lit(Number.isFinite(x) ? x : 0);
  return f32Lit(x);
}

/** Converts a WGSL scalar expression between kinds, with JavaScript's truthiness for → bool. */
export function convertScalar(e: string, from: Kind, to: Kind): string {
  if (from === to) return e;
  if (to === 'bool') return from === 'int' ? `(${e} != 0i)` : `tsr_f32_to_bool(${e})`;
  if (from === 'bool') return to === 'int' ? `select(0i, 1i, ${e})` : `select(0.0f, 1.0f, ${e})`;
  return to === 'int' ? `tsr_f32_to_i32(${e})` : `f32(${e})`;
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

/**
 * `s.binary`: `as(v, kind)` gives an operand converted to a kind; returns the expression of the result's kind, or a
 * refusal reason (a string starting with '!').
 */
export function scalarBinary(bop: string, kx: Kind, ky: Kind, rk: Kind, as: (i: 0 | 1, k: Kind) => string): string {
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
    return `!\`${bop}\` on non-boolean operands (JavaScript returns an operand)`;
  const a = as(0, ck);
  const b = as(1, ck);
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
      e = ck === 'float' ? `tt_fmin(${a}, ${b})` : `min(${a}, ${b})`;
      break;
    case 'max':
      e = ck === 'float' ? `tt_fmax(${a}, ${b})` : `max(${a}, ${b})`;
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
      if (!inf) return `!the scalar operator \`${bop}\``;
      if (bop === '%' && ck === 'float') e = `(${a} - ${b} * trunc(${a} / ${b}))`;
      else if (bop === '%' && ck === 'int') e = `tt_irem(${a}, ${b})`;
      else if (bop === '/' && ck === 'int') e = `tt_idiv(${a}, ${b})`;
      else e = `(${a} ${inf} ${b})`;
    }
  }
  const k: Kind = COMPARE.has(bop) ? 'bool' : ck;
  return convertScalar(e, k, rk);
}

/** `s.unary` (see scalarBinary for the contract). */
export function scalarUnary(u: string, xk: Kind, rk: Kind, as: (k: Kind) => string): string {
  const f = (): string => as('float');
  let e: string;
  let k: Kind = 'float';
  switch (u) {
    case '-':
    case '+':
      k = xk === 'int' ? 'int' : 'float';
      e = u === '-' ? `(-${as(k)})` : as(k);
      break;
    case '!':
      k = 'bool';
      e = `(!${as('bool')})`;
      break;
    case '~':
      if (xk === 'float') return '!`~` on a float operand';
      k = 'int';
      e = `(~${as('int')})`;
      break;
    case 'floor':
    case 'ceil':
    case 'trunc':
    case 'sign':
    case 'abs':
      if (xk !== 'float') {
        k = 'int';
        e = u === 'abs' || u === 'sign' ? `${u}(${as('int')})` : as('int');
      } else e = `${u}(${f()})`;
      break;
    case 'round': // JavaScript rounds halves up
      e = xk !== 'float' ? f() : `floor(${f()} + 0.5f)`;
      break;
    case 'sin':
    case 'cos':
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
    case 'tanh':
      e = `tt_tanh(${f()})`;
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
      e = xk === 'float' ? `tt_isnan(${f()})` : 'false';
      break;
    case 'isFinite':
      k = 'bool';
      e = xk === 'float' ? `tt_isfinite(${f()})` : 'true';
      break;
    case 'isInteger':
      k = 'bool';
      e = xk !== 'float' ? 'true' : `(tt_isfinite(${f()}) && trunc(${f()}) == ${f()})`;
      break;
    default:
      return `!the scalar function \`${u}\``;
  }
  return convertScalar(e, k, rk);
}
