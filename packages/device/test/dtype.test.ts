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
import { rng } from '../src/testing/reference';

const view = new DataView(new ArrayBuffer(2));
const libBits = (x: number) => {
  setFloat16(view, 0, x);
  return view.getUint16(0);
};
const libValue = (bits: number) => {
  view.setUint16(0, bits);
  return getFloat16(view, 0);
};

/** Random float32 values spread over every exponent, plus edge cases. */
function samples(n: number): number[] {
  const r = rng(42);
  const u = new Uint32Array(1);
  const f = new Float32Array(u.buffer);
  const out = [
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
  for (let i = 0; i < n; i++) {
    u[0] = Math.floor(r() * 2 ** 32);
    out.push(f[0]!);
  }
  return out.map(Math.fround);
}

describe('float16', () => {
  it('decodes every bit pattern like @petamoriken/float16', () => {
    for (let h = 0; h < 65536; h++) {
      const a = f32FromF16Bits(h);
      const b = libValue(h);
      if (Number.isNaN(b)) expect(Number.isNaN(a)).toBe(true);
      else expect(Object.is(a, b)).toBe(true);
    }
  });

  it('encodes with round-to-nearest-even exactly like @petamoriken/float16', () => {
    for (const x of samples(200_000)) {
      const ours = f16BitsFromF32(x);
      const lib = libBits(x);
      if (Number.isNaN(x)) expect(ours & 0x7c00).toBe(0x7c00);
      else expect(ours, `f16 of ${x}`).toBe(lib);
    }
  });
});

describe('bfloat16', () => {
  it('rounds to the nearest bf16 value, ties to even, keeping NaN', () => {
    const r = rng(7);
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < 100_000; i++) {
      u[0] = Math.floor(r() * 2 ** 32);
      const x = f[0]!;
      const bits = bf16BitsFromF32(x);
      if (Number.isNaN(x)) {
        expect(Number.isNaN(f32FromBf16Bits(bits))).toBe(true);
        continue;
      }
      // Candidates: truncation and the next bf16 away from zero.
      const lo = f32FromBf16Bits(u[0]! >>> 16);
      const hiBits = (u[0]! >>> 16) + 1;
      const hi = f32FromBf16Bits(hiBits);
      const got = f32FromBf16Bits(bits);
      // Past the largest finite bf16 the next value up is infinity, which RNE reaches at 2^128 (unbounded exponent).
      const hiValue = Number.isFinite(hi) ? hi : Math.sign(x) * 2 ** 128;
      const dl = Math.abs(x - lo);
      const dh = Math.abs(hiValue - x);
      if (dl < dh) expect(got).toBe(lo);
      else if (dh < dl) expect(got).toBe(hi);
      else expect(bits & 1).toBe(0);
    }
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
