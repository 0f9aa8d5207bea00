/**
 * WGSL expressions for the tile lowering (tile.ts; its scalar ops are scalar.ts's, shared with the SIMT lowering): the
 * tile language's elementwise ops on element values (floats as f32, integers and bools as i32), conversions
 * (`castTo`, `tile.cast`) and the rounding / wrapping of a result to its tile dtype, plus the helper functions they
 * call (`tt_*`; the dtype conversions `tsr_*` come from dtypes.ts).
 */
import { castScalar, type DType, isFloat, type TileDType } from '../../dtype/dtype';
import { ALL_SCALAR_HELPERS, f32Lit, i32Lit, type Kind, scalarHelpers } from './scalar';

export type EKind = 'float' | 'int' | 'bool';

export function ekind(d: TileDType): EKind {
  return d === 'bool' ? 'bool' : isFloat(d) ? 'float' : 'int';
}

/** The WGSL type a tile dtype's elements are carried in. */
export function elemType(d: TileDType): 'f32' | 'i32' {
  return ekind(d) === 'float' ? 'f32' : 'i32';
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

/**
 * Helper functions the element expressions call (all of them; WGSL compilers drop what is unused): scalar.ts's
 * (`tt_isnan`, `tt_fmax`, `tt_idiv`, `tt_sin`, …) and the tile ones below.
 */
export const TILE_HELPERS = `${scalarHelpers(ALL_SCALAR_HELPERS)}
var<private> tt_zero: u32;
fn tt_keep(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ tt_zero); }
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
fn tt_round_tf32(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) >= 0x7f800000u) { return x; }
  return bitcast<f32>((u + 0xfffu + ((u >> 13u) & 1u)) & 0xffffe000u);
}`;
