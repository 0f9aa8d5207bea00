import { getFloat16, setFloat16 } from '@petamoriken/float16';
import { describe, expect, it } from 'vitest';
import { castScalar, parseDType } from '../src/dtype/dtype';
import {
  bf16BitsFromF32,
  FP8_E4M3_MAX,
  FP8_E5M2_MAX,
  f16BitsFromF32,
  f32FromBf16Bits,
  f32FromF16Bits,
  f32FromFp8e4m3Bits,
  f32FromFp8e5m2Bits,
  fp8e4m3BitsFromF32,
  fp8e5m2BitsFromF32,
  roundTf32,
} from '../src/dtype/float-formats';
import { rng } from '../src/random';

// These tests check every f16 and bf16 bit pattern and hundreds of thousands of random f32 values. A per-value
// `expect` costs microseconds, which made the file take seconds; instead each loop collects its mismatches and one
// assertion per check compares the list with [] (it shows the first ones when something is wrong).

const view = new DataView(new ArrayBuffer(2));
const libBits = (x: number) => {
  setFloat16(view, 0, x);
  return view.getUint16(0);
};
const libValue = (bits: number) => {
  view.setUint16(0, bits);
  return getFloat16(view, 0);
};

/** Runs `check` for 0..n-1 and returns the descriptions of the first `limit` failures and how many failed. */
function mismatches(
  n: number,
  check: (i: number) => string | undefined,
  limit = 10,
): { count: number; first: string[] } {
  const first: string[] = [];
  let count = 0;
  for (let i = 0; i < n; i++) {
    const bad = check(i);
    if (bad === undefined) continue;
    if (count++ < limit) first.push(bad);
  }
  return { count, first };
}

const NONE = { count: 0, first: [] };
const hex = (bits: number) => `0x${bits.toString(16).padStart(4, '0')}`;
/** Same value, telling -0 from 0; any NaN matches any NaN. */
const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

/** Random float32 values spread over every exponent (uniform bit patterns), plus edge cases. */
function samples(n: number): Float32Array {
  const edges = [
    0,
    -0,
    1,
    -1,
    65504,
    65519.99,
    65520,
    65536,
    1e-8,
    2 ** -24,
    2 ** -25,
    3 * 2 ** -26,
    2 ** -14,
    6e-5,
    Infinity,
    -Infinity,
    Number.NaN,
  ];
  const out = new Float32Array(edges.length + n);
  out.set(edges);
  const bits = new Uint32Array(out.buffer, edges.length * 4, n);
  const r = rng(42);
  for (let i = 0; i < n; i++) bits[i] = Math.floor(r() * 2 ** 32);
  return out;
}

/** Every 16-bit pattern. */
const ALL_BITS = Uint16Array.from({ length: 65536 }, (_, i) => i);

describe('float16', () => {
  it('decodes every bit pattern like @petamoriken/float16', () => {
    expect(mismatches(65536, (h) => (same(f32FromF16Bits(h), libValue(h)) ? undefined : hex(h)))).toEqual(NONE);
  });

  it('round-trips every non-NaN bit pattern through f32', () => {
    const back = mismatches(65536, (h) => {
      const v = f32FromF16Bits(h);
      if (Number.isNaN(v)) return (f16BitsFromF32(v) & 0x7c00) === 0x7c00 ? undefined : `NaN ${hex(h)}`;
      return f16BitsFromF32(v) === h ? undefined : hex(h);
    });
    expect(back).toEqual(NONE);
    expect(ALL_BITS.filter((h) => Number.isNaN(f32FromF16Bits(h))).length).toBe(2 * 1023); // exponent 31, mantissa ≠ 0
  });

  it('encodes with round-to-nearest-even exactly like @petamoriken/float16', () => {
    const xs = samples(200_000);
    const bad = mismatches(xs.length, (i) => {
      const x = xs[i]!;
      const ours = f16BitsFromF32(x);
      if (Number.isNaN(x)) return (ours & 0x7c00) === 0x7c00 && (ours & 0x3ff) !== 0 ? undefined : `NaN → ${hex(ours)}`;
      const lib = libBits(x);
      return ours === lib ? undefined : `f16 of ${x}: ${hex(ours)}, expected ${hex(lib)}`;
    });
    expect(bad).toEqual(NONE);
  });
});

describe('bfloat16', () => {
  it('decodes every bit pattern as the f32 with those bits on top', () => {
    const f32 = new Float32Array(65536);
    new Uint32Array(f32.buffer).set(Uint32Array.from(ALL_BITS, (b) => b << 16));
    expect(mismatches(65536, (b) => (same(f32FromBf16Bits(b), f32[b]!) ? undefined : hex(b)))).toEqual(NONE);
  });

  it('round-trips every non-NaN bit pattern through f32', () => {
    const bad = mismatches(65536, (b) => {
      const v = f32FromBf16Bits(b);
      const back = bf16BitsFromF32(v);
      if (Number.isNaN(v)) return Number.isNaN(f32FromBf16Bits(back)) ? undefined : `NaN ${hex(b)} → ${hex(back)}`;
      return back === b ? undefined : `${hex(b)} → ${hex(back)}`;
    });
    expect(bad).toEqual(NONE);
  });

  it('rounds to the nearest bf16 value, ties to even, keeping NaN', () => {
    const r = rng(7);
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    const bad = mismatches(100_000, () => {
      u[0] = Math.floor(r() * 2 ** 32);
      const x = f[0]!;
      const bits = bf16BitsFromF32(x);
      if (Number.isNaN(x)) return Number.isNaN(f32FromBf16Bits(bits)) ? undefined : `NaN → ${hex(bits)}`;
      // Candidates: truncation and the next bf16 away from zero.
      const lo = f32FromBf16Bits(u[0]! >>> 16);
      const hiBits = (u[0]! >>> 16) + 1;
      const hi = f32FromBf16Bits(hiBits);
      const got = f32FromBf16Bits(bits);
      // Past the largest finite bf16 the next value up is infinity, which RNE reaches at 2^128 (unbounded exponent).
      const hiValue = Number.isFinite(hi) ? hi : Math.sign(x) * 2 ** 128;
      const dl = Math.abs(x - lo);
      const dh = Math.abs(hiValue - x);
      const ok = dl < dh ? got === lo : dh < dl ? got === hi : (bits & 1) === 0;
      return ok ? undefined : `bf16 of ${x} (${u[0]!.toString(16)}): ${got}, candidates ${lo} and ${hi}`;
    });
    expect(bad).toEqual(NONE);
    expect(f32FromBf16Bits(bf16BitsFromF32(1 + 2 ** -8))).toBe(1); // a tie rounds to the even mantissa
    expect(f32FromBf16Bits(bf16BitsFromF32(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
  });
});

describe('fp8', () => {
  it('has the OCP ranges and round-trips every finite pattern', () => {
    expect(FP8_E4M3_MAX).toBe(448);
    expect(FP8_E5M2_MAX).toBe(57344);
    for (let b = 0; b < 256; b++) {
      const v4 = f32FromFp8e4m3Bits(b);
      if (!Number.isNaN(v4) && !(v4 === 0 && b === 0x80)) expect(fp8e4m3BitsFromF32(v4)).toBe(b);
      const v5 = f32FromFp8e5m2Bits(b);
      if (Number.isFinite(v5) && !(v5 === 0 && b === 0x80)) expect(fp8e5m2BitsFromF32(v5)).toBe(b);
    }
    expect(f32FromFp8e4m3Bits(0x01)).toBe(2 ** -9); // smallest subnormal
    expect(Number.isNaN(f32FromFp8e4m3Bits(0x7f))).toBe(true);
    expect(f32FromFp8e5m2Bits(0x7c)).toBe(Infinity);
  });

  it('saturates overflow to the largest finite value and rounds ties to even', () => {
    expect(f32FromFp8e4m3Bits(fp8e4m3BitsFromF32(1e6))).toBe(448);
    expect(f32FromFp8e4m3Bits(fp8e4m3BitsFromF32(-Infinity))).toBe(-448);
    expect(f32FromFp8e5m2Bits(fp8e5m2BitsFromF32(1e9))).toBe(57344);
    expect(Number.isNaN(f32FromFp8e4m3Bits(fp8e4m3BitsFromF32(Number.NaN)))).toBe(true);
    // e4m3 values near 1: 1, 1.125, 1.25 — 1.0625 is a tie between 1 (even) and 1.125 (odd)
    expect(f32FromFp8e4m3Bits(fp8e4m3BitsFromF32(1.0625))).toBe(1);
    expect(f32FromFp8e4m3Bits(fp8e4m3BitsFromF32(1.1875))).toBe(1.25);
    expect(f32FromFp8e4m3Bits(fp8e4m3BitsFromF32(1.07))).toBe(1.125);
  });
});

describe('casts and names', () => {
  it('converts floats to ints by truncation with saturation, NaN to zero', () => {
    expect(castScalar(3.9, 'i32')).toBe(3);
    expect(castScalar(-3.9, 'i8')).toBe(-3);
    expect(castScalar(300, 'i8')).toBe(127);
    expect(castScalar(-1, 'u8')).toBe(0);
    expect(castScalar(Number.NaN, 'i32')).toBe(0);
    expect(castScalar(1e20, 'i32')).toBe(2147483647);
  });

  it('rounds f32 to TF32 (10 mantissa bits)', () => {
    expect(roundTf32(1 + 2 ** -11)).toBe(1);
    expect(roundTf32(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
  });

  it('parses dtype names and common aliases', () => {
    expect(parseDType('float32')).toBe('f32');
    expect(parseDType('BF16')).toBe('bf16');
    expect(parseDType('half')).toBe('f16');
    expect(parseDType('int8')).toBe('i8');
    expect(parseDType('e5m2')).toBe('fp8e5m2');
    expect(parseDType('float128')).toBeUndefined();
  });
});
