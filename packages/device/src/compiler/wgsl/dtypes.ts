/**
 * The dtype library the WGSL lowerings share: exact conversions between f32 and the narrow formats, the integer
 * conversions of `castScalar` and of typed-array stores, and per-binding accessors and atomics over the ABI's buffer
 * layouts (abi.ts). Everything matches the CPU back ends bit for bit (dtype/float-formats.ts, dtype.ts): rounding is
 * done with integer operations on `bitcast<u32>`, because WGSL leaves the rounding of `pack2x16float` /
 * `quantizeToF16` to the implementation, and NaN / infinity bit patterns go through user functions (`tsr_f32_bits`)
 * because a constant expression that evaluates to NaN or infinity is a shader-creation error.
 *
 * Functions (each emitted only when a dtype in `conversionLibrary(used)` needs it; `tsr_f32_bits(b: u32) -> f32`,
 * the f32 with bits b, always):
 *   tsr_dec_<f>(bits: u32) -> f32   <f> ∈ f16 bf16 fp8e4m3 fp8e5m2: the stored bits' value (NaN → 0x7fc00000, except
 *                                   bf16: its bits as the top half of an f32's, made quiet, as on the CPU)
 *   tsr_enc_<f>(x: f32) -> u32      round to nearest even; f16 / bf16 overflow → ±inf, NaN → quiet NaN with its sign;
 *                                   fp8 saturates (±inf too) to ±max finite, NaN → the positive NaN pattern
 *   tsr_round_<d>(x: f32) -> f32    x rounded to float dtype d (d = f32: x itself): the tile language's rounding
 *   tsr_f32_to_<i>(x: f32) -> i32   <i> ∈ i32 i16 i8 u8: castScalar — truncate, saturate, NaN → 0
 *   tsr_sat_<i>(x: i32) -> i32      <i> ∈ i16 i8 u8: castScalar of an integer (saturate)
 *   tsr_wrap_<i>(x: i32) -> i32     <i> ∈ i16 i8 u8: two's-complement wrap (integer tile arithmetic, typed arrays)
 *   tsr_f32_toint32(x: f32) -> i32  JavaScript's ToInt32 (modulo 2^32; NaN, ±inf → 0): typed-array stores
 *   tsr_f32_to_bool(x: f32) -> bool x ≠ 0 and not NaN
 */
import { DTYPE_INFO, type DType } from '../../dtype/dtype';
import type { WgslBufferBinding } from './abi';

/** Narrow float formats: exponent bits, mantissa bits, bias. */
const FP8 = {
  fp8e4m3: { exp: 4, man: 3, bias: 7, ieee: false },
  fp8e5m2: { exp: 5, man: 2, bias: 15, ieee: true },
} as const;

const F32_BITS = 'fn tsr_f32_bits(b: u32) -> f32 { return bitcast<f32>(b); }';

const F16 = `fn tsr_dec_f16(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 31u) { return tsr_f32_bits(select(s | 0x7f800000u, 0x7fc00000u, m != 0u)); }
  if (e == 0u) {
    if (m == 0u) { return tsr_f32_bits(s); }
    // Subnormal m · 2^-24: normal in f32, exponent from the highest set bit.
    let p = 31u - countLeadingZeros(m);
    return tsr_f32_bits(s | ((p + 103u) << 23u) | ((m << (23u - p)) & 0x7fffffu));
  }
  return tsr_f32_bits(s | ((e + 112u) << 23u) | (m << 13u));
}
fn tsr_enc_f16(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let s = (u >> 16u) & 0x8000u;
  let a = u & 0x7fffffffu;
  if (a > 0x7f800000u) { return s | 0x7e00u; }
  if (a >= 0x477ff000u) { return s | 0x7c00u; } // ≥ 65520 rounds to infinity
  if (a < 0x38800000u) {
    if (a < 0x33000000u) { return s; } // ≤ 2^-25 rounds to zero
    let shift = 126u - (a >> 23u);
    let mant = (a & 0x7fffffu) | 0x800000u;
    let q = mant >> shift;
    let rem = mant & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    return s | select(q, q + 1u, rem > half || (rem == half && (q & 1u) == 1u));
  }
  let r = a - 0x38000000u;
  let low = r & 0x1fffu;
  let h = r >> 13u;
  return s | select(h, h + 1u, low > 0x1000u || (low == 0x1000u && (h & 1u) == 1u));
}`;

// A signalling NaN comes back quiet, as the CPU's f32 → float64 conversion returns it.
const BF16 = `fn tsr_dec_bf16(h: u32) -> f32 {
  let u = (h & 0xffffu) << 16u;
  return tsr_f32_bits(select(u, u | 0x400000u, (u & 0x7fffffffu) > 0x7f800000u));
}
fn tsr_enc_bf16(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) { return ((u >> 16u) & 0x8000u) | 0x7fc0u; }
  return ((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) & 0xffffu;
}`;

function fp8Functions(name: 'fp8e4m3' | 'fp8e5m2'): string {
  const { exp, man, bias, ieee } = FP8[name];
  const expMax = (1 << exp) - 1;
  const manMask = (1 << man) - 1;
  const maxBits = ieee ? (((expMax - 1) << man) | manMask) >>> 0 : ((expMax << man) | (manMask - 1)) >>> 0;
  const nanBits = ieee ? 0x7e : 0x7f;
  // The largest finite value as f32 bits, and the smallest normal (2^(1−bias)).
  const maxExp = ieee ? expMax - 1 : expMax;
  const maxF32 = (((maxExp - bias + 127) << 23) | ((ieee ? manMask : manMask - 1) << (23 - man))) >>> 0;
  const minNormalF32 = (128 - bias) << 23;
  const special = ieee
    ? `if (e == ${expMax}u) { return tsr_f32_bits(select(s | 0x7f800000u, 0x7fc00000u, m != 0u)); }`
    : `if (e == ${expMax}u && m == ${manMask}u) { return tsr_f32_bits(0x7fc00000u); }`;
  return `fn tsr_dec_${name}(b: u32) -> f32 {
  let s = (b & 0x80u) << 24u;
  let e = (b >> ${man}u) & ${expMax}u;
  let m = b & ${manMask}u;
  ${special}
  if (e == 0u) {
    if (m == 0u) { return tsr_f32_bits(s); }
    let p = 31u - countLeadingZeros(m); // m · 2^${1 - bias - man}, normal in f32
    return tsr_f32_bits(s | ((p + ${127 + 1 - bias - man}u) << 23u) | ((m << (23u - p)) & 0x7fffffu));
  }
  return tsr_f32_bits(s | ((e + ${127 - bias}u) << 23u) | (m << ${23 - man}u));
}
fn tsr_enc_${name}(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let a = u & 0x7fffffffu;
  if (a > 0x7f800000u) { return 0x${nanBits.toString(16)}u; }
  let s = (u >> 24u) & 0x80u;
  if (a >= 0x${maxF32.toString(16)}u) { return s | 0x${maxBits.toString(16)}u; } // satfinite
  if (a < 0x${minNormalF32.toString(16)}u) {
    // Subnormal: units of 2^${1 - bias - man}; the 24-bit significand shifted onto them, rounded to nearest even.
    let shift = ${151 - bias - man}u - (a >> 23u);
    if (shift > 24u) { return s; }
    let mant = (a & 0x7fffffu) | 0x800000u;
    let q = mant >> shift;
    let rem = mant & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    return s | select(q, q + 1u, rem > half || (rem == half && (q & 1u) == 1u));
  }
  let r = a - ${(127 - bias) << 23}u;
  let low = r & 0x${((1 << (23 - man)) - 1).toString(16)}u;
  let h = r >> ${23 - man}u;
  let tie = 0x${(1 << (22 - man)).toString(16)}u;
  return s | select(h, h + 1u, low > tie || (low == tie && (h & 1u) == 1u));
}`;
}

const INT_RANGE = { i16: [-32768, 32767], i8: [-128, 127], u8: [0, 255] } as const;

function intFunctions(d: 'i16' | 'i8' | 'u8'): string {
  const [lo, hi] = INT_RANGE[d];
  const wrap =
    d === 'u8'
      ? 'x & 0xffi'
      : `bitcast<i32>(bitcast<u32>(x) << ${d === 'i16' ? 16 : 24}u) >> ${d === 'i16' ? 16 : 24}u`;
  return `fn tsr_wrap_${d}(x: i32) -> i32 { return ${wrap}; }
fn tsr_sat_${d}(x: i32) -> i32 { return clamp(x, ${lo}i, ${hi}i); }
fn tsr_f32_to_${d}(x: f32) -> i32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { return 0i; }
  return i32(clamp(x, ${lo}.0f, ${hi}.0f));
}`;
}

const I32 = `fn tsr_f32_to_i32(x: f32) -> i32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { return 0i; }
  if (x >= 2147483648.0f) { return 2147483647i; }
  if (x < -2147483648.0f) { return bitcast<i32>(0x80000000u); }
  return i32(x);
}`;

const TOINT32 = `fn tsr_f32_toint32(x: f32) -> i32 {
  let u = bitcast<u32>(x);
  let e = (u >> 23u) & 0xffu;
  if (e == 255u) { return 0i; }
  if (e < 158u) { return i32(x); } // |x| < 2^31: truncation is exact
  // |x| ≥ 2^31 is an integer m · 2^k with k ≥ 8: only its low 32 bits survive.
  let k = e - 150u;
  let m = (u & 0x7fffffu) | 0x800000u;
  let r = select(0u, m << k, k < 32u);
  return bitcast<i32>(select(r, 0u - r, (u >> 31u) != 0u));
}`;

const BOOL = 'fn tsr_f32_to_bool(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) - 1u < 0x7f800000u; }';

const NARROW_FLOATS = ['f16', 'bf16', 'fp8e4m3', 'fp8e5m2'] as const;
type NarrowFloat = (typeof NARROW_FLOATS)[number];

function isNarrowFloat(d: string): d is NarrowFloat {
  return (NARROW_FLOATS as readonly string[]).includes(d);
}

/**
 * The WGSL conversion functions `used` dtypes need (see the module comment for the list). Every f32 → integer
 * conversion (`tsr_f32_to_i32`, `tsr_f32_toint32`) comes with any integer dtype; `bool` adds `tsr_f32_to_bool`.
 */
export function conversionLibrary(used: Iterable<DType | 'bool'>): string {
  const set = new Set(used);
  const out: string[] = [F32_BITS]; // always: literals of NaN and ±inf need it
  const floats = NARROW_FLOATS.filter((d) => set.has(d));
  for (const d of floats) {
    out.push(d === 'f16' ? F16 : d === 'bf16' ? BF16 : fp8Functions(d));
    out.push(`fn tsr_round_${d}(x: f32) -> f32 { return tsr_dec_${d}(tsr_enc_${d}(x)); }`);
  }
  if (set.has('f32')) out.push('fn tsr_round_f32(x: f32) -> f32 { return x; }');
  if (['i32', 'i16', 'i8', 'u8'].some((d) => set.has(d as DType))) out.push(I32, TOINT32);
  for (const d of ['i16', 'i8', 'u8'] as const) if (set.has(d)) out.push(intFunctions(d));
  if (set.has('bool')) out.push(BOOL);
  return out.join('\n');
}

/** The WGSL value type a dtype's elements are carried in: f32 for floats, i32 for integers. */
export function valueType(d: DType): 'f32' | 'i32' {
  return DTYPE_INFO[d].kind === 'float' ? 'f32' : 'i32';
}

/** Bits per element. */
function bitsOf(d: DType): number {
  return DTYPE_INFO[d].bytes * 8;
}

/** The element's value (f32 or i32) from its zero-extended bits `e` (a u32 expression). */
function decodeBits(d: DType, e: string): string {
  if (isNarrowFloat(d)) return `tsr_dec_${d}(${e})`;
  if (d === 'u8') return `i32(${e})`;
  const shift = 32 - bitsOf(d);
  return `(bitcast<i32>(${e} << ${shift}u) >> ${shift}u)`;
}

/** The element's bits (a u32 expression, only the low `bits` meaningful) from its value `v`. */
function encodeBits(d: DType, v: string): string {
  return isNarrowFloat(d) ? `tsr_enc_${d}(${v})` : `bitcast<u32>(${v})`;
}

/** The WGSL storage variable of a buffer binding (`b_<name>`). */
export function bufferVar(b: WgslBufferBinding): string {
  return `b_${b.name}`;
}

/** The declaration of a buffer binding's storage variable, per the ABI's layouts. */
export function bufferDecl(b: WgslBufferBinding): string {
  let elem: string;
  if (b.layout === 'packed') elem = b.atomic ? 'atomic<u32>' : 'u32';
  else if (b.atomic) elem = b.dtype === 'f32' ? 'atomic<u32>' : 'atomic<i32>';
  else elem = b.dtype;
  return `@group(0) @binding(${b.binding}) var<storage, ${b.access}> ${bufferVar(b)}: array<${elem}>;`;
}

/**
 * `ld_<name>(i: i32) -> f32|i32` and, for writable bindings, `st_<name>(i: i32, v: f32|i32)`: element `i` of the
 * parameter (the accessor adds `params.off_<name>`), decoded to its value / encoded from it. No bounds check: the
 * lowering checks `i` against `params.len_<name>` first. `st_` stores `v`'s encoding: float dtypes round to nearest
 * even (fp8 saturating); integer dtypes keep the low bits, so callers convert first (`tsr_sat_*`, `tsr_f32_to_*`, or
 * `tsr_wrap_*`). Packed stores replace their bits of the shared word with a compare-exchange loop, so elements that
 * other invocations write into the same word survive and a store of one element is atomic.
 */
export function bufferAccessors(b: WgslBufferBinding): string {
  const n = b.name;
  const arr = bufferVar(b);
  const t = valueType(b.dtype);
  const idx = `params.off_${n} + i`;
  const out: string[] = [];
  if (b.layout === 'word') {
    const raw = b.atomic ? `atomicLoad(&${arr}[${idx}])` : `${arr}[${idx}]`;
    const val = b.atomic && b.dtype === 'f32' ? `bitcast<f32>(${raw})` : raw;
    out.push(`fn ld_${n}(i: i32) -> ${t} { return ${val}; }`);
    if (b.access === 'read_write') {
      const st = b.atomic
        ? `atomicStore(&${arr}[${idx}], ${b.dtype === 'f32' ? 'bitcast<u32>(v)' : 'v'});`
        : `${arr}[${idx}] = v;`;
      out.push(`fn st_${n}(i: i32, v: ${t}) { ${st} }`);
    }
    return out.join('\n');
  }
  const bits = bitsOf(b.dtype);
  const per = 32 / bits;
  const mask = `0x${((1 << bits) - 1).toString(16)}u`;
  const word = `(${idx}) / ${per}`;
  const shift = `u32((${idx}) % ${per}) * ${bits}u`;
  const load = b.atomic ? `atomicLoad(&${arr}[${word}])` : `${arr}[${word}]`;
  out.push(
    `fn ld_${n}(i: i32) -> ${t} {\n  let e = (${load} >> (${shift})) & ${mask};\n  return ${decodeBits(b.dtype, 'e')};\n}`,
  );
  if (b.access === 'read_write') {
    if (!b.atomic) throw new Error(`WGSL accessors: packed buffer '${n}' is written, so it must be declared atomic`);
    out.push(
      `fn st_${n}(i: i32, v: ${t}) {\n` +
        `  let w = ${word};\n  let sh = ${shift};\n` +
        `  let bits = (${encodeBits(b.dtype, 'v')} & ${mask}) << sh;\n` +
        `  var old = atomicLoad(&${arr}[w]);\n` +
        '  loop {\n' +
        `    let r = atomicCompareExchangeWeak(&${arr}[w], old, (old & ~(${mask} << sh)) | bits);\n` +
        '    if (r.exchanged) { break; }\n' +
        '    old = r.old_value;\n' +
        '  }\n}',
    );
  }
  return out.join('\n');
}

export type AtomicKind = 'add' | 'max' | 'min' | 'exch' | 'cas';

/** The new element from the old one, as the CPU back end computes it before converting to the dtype. */
function nextValue(kind: AtomicKind): string {
  switch (kind) {
    case 'add':
      return 'old + v';
    case 'max': // JavaScript's `v > old ? v : old` (a NaN operand keeps old)
      return 'select(old, v, v > old)';
    case 'min':
      return 'select(old, v, v < old)';
    case 'exch':
      return 'v';
    case 'cas': // floats compare as numbers: −0 equals +0, NaN equals nothing
      return 'select(old, v, old == cmp)';
  }
}

/**
 * `atomic_<kind>_<name>(i: i32, v: T[, cmp: T]) -> T` on an atomic buffer binding (T its value type): read-modify-write
 * of element `i` (offset added, no bounds check), returning the old value. i32 word buffers use WGSL's atomics
 * (add wraps, as CUDA's does); f32 word buffers and packed buffers loop on `atomicCompareExchangeWeak` over the u32
 * word (WGSL has no float or sub-word atomics), computing the new element as the CPU does — `old + v`,
 * `v > old ? v : old`, `v < old ? v : old`, `v`, or for `cas` `old == cmp ? v : old` — converted to the dtype (floats
 * round to nearest even, fp8 saturating; packed integers saturate, as `castScalar`). `cas` is strong, as CUDA's.
 */
export function bufferAtomics(b: WgslBufferBinding, kinds: Iterable<AtomicKind>): string {
  if (!b.atomic) throw new Error(`WGSL atomics: buffer '${b.name}' is not declared atomic`);
  const n = b.name;
  const arr = bufferVar(b);
  const t = valueType(b.dtype);
  const idx = `params.off_${n} + i`;
  const out: string[] = [];
  for (const kind of new Set(kinds)) {
    const sig = `fn atomic_${kind}_${n}(i: i32, v: ${t}${kind === 'cas' ? `, cmp: ${t}` : ''}) -> ${t}`;
    if (b.layout === 'word' && b.dtype === 'i32') {
      if (kind === 'cas') {
        out.push(
          `${sig} {\n  loop {\n    let r = atomicCompareExchangeWeak(&${arr}[${idx}], cmp, v);\n` +
            '    if (r.exchanged || r.old_value != cmp) { return r.old_value; }\n  }\n}',
        );
      } else {
        const fn = { add: 'atomicAdd', max: 'atomicMax', min: 'atomicMin', exch: 'atomicExchange' }[kind];
        out.push(`${sig} { return ${fn}(&${arr}[${idx}], v); }`);
      }
      continue;
    }
    // A compare-exchange loop over the word holding the element.
    const packed = b.layout === 'packed';
    const bits = bitsOf(b.dtype);
    const mask = `0x${((1 << bits) - 1).toString(16)}u`;
    const word = packed ? `(${idx}) / ${32 / bits}` : idx;
    const shift = packed ? `u32((${idx}) % ${32 / bits}) * ${bits}u` : '0u';
    const oldOf = packed
      ? decodeBits(b.dtype, `((w >> sh) & ${mask})`)
      : b.dtype === 'f32'
        ? 'bitcast<f32>(w)'
        : 'bitcast<i32>(w)';
    let next = nextValue(kind);
    if (t === 'i32' && packed) {
      // The CPU saturates the exact sum; clamping v first keeps `old + v` inside i32 without changing the result.
      const d = b.dtype as 'i16' | 'i8' | 'u8';
      next = kind === 'add' ? `tsr_sat_${d}(old + clamp(v, -1048576i, 1048576i))` : `tsr_sat_${d}(${next})`;
    }
    const newBits = packed
      ? `(w & ~(${mask} << sh)) | ((${encodeBits(b.dtype, 'nv')} & ${mask}) << sh)`
      : 'bitcast<u32>(nv)';
    out.push(
      `${sig} {\n  let wi = ${word};\n  let sh = ${shift};\n  var w = atomicLoad(&${arr}[wi]);\n  loop {\n` +
        `    let old = ${oldOf};\n    let nv = ${next};\n` +
        `    let r = atomicCompareExchangeWeak(&${arr}[wi], w, ${newBits});\n` +
        '    if (r.exchanged) { return old; }\n    w = r.old_value;\n  }\n}',
    );
  }
  return out.join('\n');
}
