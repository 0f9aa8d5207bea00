/**
 * Bit-exact conversions between float32 and the narrow float formats, all with round-to-nearest-even.
 *
 * - bfloat16: the top 16 bits of a float32, rounded (TPU/Ampere+ format).
 * - float16: IEEE 754 binary16. Decoding uses a 65 536-entry table; encoding follows the classic
 *   float_to_half algorithm with correct rounding, including subnormals. Tests check both against
 *   `@petamoriken/float16`.
 * - float8 e4m3 / e5m2: the OCP 8-bit formats (OCP 8-bit Floating Point Specification v1.0, 2023). e4m3 is the "FN"
 *   variant: no infinities, one NaN pattern per sign (S.1111.111), largest finite 448. e5m2 is IEEE-like with
 *   infinities and largest finite 57 344. Conversions saturate finite overflow (and infinities) to the largest finite
 *   value, as PTX `cvt.rn.satfinite.e4m3x2.f32` does; NaN stays NaN.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

// ---------------------------------------------------------------- bfloat16

export function bf16BitsFromF32(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) & 0x8000) | 0x7fc0; // quiet NaN, sign kept
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32FromBf16Bits(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** Rounds a number to the nearest bfloat16 value (via float32, as hardware converting an f32 result would). */
export function roundBf16(x: number): number {
  return f32FromBf16Bits(bf16BitsFromF32(x));
}

/** In-place bfloat16 rounding of a Float32Array (its values become exactly representable in bf16). */
export function roundBf16Array(a: Float32Array, n = a.length): void {
  const bits = new Uint32Array(a.buffer, a.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const u = bits[i]!;
    if ((u & 0x7fffffff) > 0x7f800000) bits[i] = (u & 0x80000000) | 0x7fc00000;
    else bits[i] = ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
}

// ---------------------------------------------------------------- float16

const F16_DECODE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m ? Number.NaN : s * Number.POSITIVE_INFINITY;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

export function f32FromF16Bits(h: number): number {
  return F16_DECODE[h & 0xffff]!;
}

export function f16BitsFromF32(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const absU = u & 0x7fffffff;
  if (absU > 0x7f800000) return sign | 0x7e00; // NaN
  if (absU >= 0x477ff000) return sign | 0x7c00; // ≥ 65520 rounds to infinity
  if (absU < 0x38800000) {
    // Result is subnormal (or zero): value = m · 2^-24 with m < 1024.
    if (absU < 0x33000000) return sign; // < 2^-25: rounds to zero (exactly 2^-25 ties to even = 0)
    const e = absU >>> 23; // biased f32 exponent, 102..112
    const mant = (absU & 0x7fffff) | 0x800000;
    const shift = 126 - e; // how far to shift the 24-bit significand to land on 2^-24 units
    const q = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    const r = rem > half || (rem === half && q & 1) ? q + 1 : q;
    return sign | r;
  }
  // Normal: rebias exponent 127 → 15 and round the 23-bit mantissa to 10 bits.
  const rebased = absU - 0x38000000; // exponent - 112 in the exponent field
  const lower = rebased & 0x1fff;
  let h = rebased >>> 13;
  if (lower > 0x1000 || (lower === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function roundF16(x: number): number {
  return F16_DECODE[f16BitsFromF32(x)]!;
}

export function roundF16Array(a: Float32Array, n = a.length): void {
  for (let i = 0; i < n; i++) a[i] = F16_DECODE[f16BitsFromF32(a[i]!)]!;
}

// ---------------------------------------------------------------- float8

interface Fp8Format {
  decode: Float32Array; // 256 entries
  positive: Float64Array; // finite positive values in increasing order (including +0)
  positiveBits: Uint8Array; // their bit patterns
  maxFinite: number;
  nanBits: number;
}

function buildFp8(expBits: number, manBits: number, bias: number, ieeeSpecials: boolean): Fp8Format {
  const decode = new Float32Array(256);
  const expMax = (1 << expBits) - 1;
  for (let b = 0; b < 256; b++) {
    const s = b & 0x80 ? -1 : 1;
    const e = (b >> manBits) & expMax;
    const m = b & ((1 << manBits) - 1);
    let v: number;
    if (ieeeSpecials && e === expMax) v = m ? Number.NaN : s * Number.POSITIVE_INFINITY;
    else if (!ieeeSpecials && e === expMax && m === (1 << manBits) - 1) v = Number.NaN;
    else if (e === 0) v = s * m * 2 ** (1 - bias - manBits);
    else v = s * (1 + m / (1 << manBits)) * 2 ** (e - bias);
    decode[b] = v;
  }
  const pos: Array<[number, number]> = [];
  for (let b = 0; b < 128; b++) {
    const v = decode[b]!;
    if (Number.isFinite(v)) pos.push([v, b]);
  }
  pos.sort((a, c) => a[0] - c[0]);
  return {
    decode,
    positive: Float64Array.from(pos.map((p) => p[0])),
    positiveBits: Uint8Array.from(pos.map((p) => p[1])),
    maxFinite: pos[pos.length - 1]![0],
    nanBits: ieeeSpecials ? 0x7e : 0x7f,
  };
}

const E4M3 = buildFp8(4, 3, 7, false);
const E5M2 = buildFp8(5, 2, 15, true);

function fp8Encode(fmt: Fp8Format, x: number): number {
  if (Number.isNaN(x)) return fmt.nanBits;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.min(Math.abs(Math.fround(x)), fmt.maxFinite); // satfinite
  const p = fmt.positive;
  // Binary search for the largest representable value <= a.
  let lo = 0;
  let hi = p.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (p[mid]! <= a) lo = mid;
    else hi = mid - 1;
  }
  let idx = lo;
  if (lo < p.length - 1) {
    const dLo = a - p[lo]!;
    const dHi = p[lo + 1]! - a;
    // Ties go to the even bit pattern (round-to-nearest-even on the encoding's last mantissa bit).
    if (dHi < dLo || (dHi === dLo && (fmt.positiveBits[lo]! & 1) === 1)) idx = lo + 1;
  }
  return sign | fmt.positiveBits[idx]!;
}

export const fp8e4m3BitsFromF32 = (x: number): number => fp8Encode(E4M3, x);
export const fp8e5m2BitsFromF32 = (x: number): number => fp8Encode(E5M2, x);
export const f32FromFp8e4m3Bits = (b: number): number => E4M3.decode[b & 0xff]!;
export const f32FromFp8e5m2Bits = (b: number): number => E5M2.decode[b & 0xff]!;
export const FP8_E4M3_MAX = E4M3.maxFinite;
export const FP8_E5M2_MAX = E5M2.maxFinite;

/** Rounds to TensorFloat-32 (8-bit exponent, 10-bit mantissa) with round-to-nearest-even, as Tensor Cores read f32. */
export function roundTf32(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7fffffff) >= 0x7f800000) return f32[0]!;
  u32[0] = ((u + 0xfff + ((u >>> 13) & 1)) & 0xffffe000) >>> 0;
  return f32[0]!;
}
