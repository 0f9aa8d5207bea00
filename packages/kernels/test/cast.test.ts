import { type Device, DTYPE_INFO, type DType, isFloat } from '@tessera/device';
import { randomArray, randomInts, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { cast } from '../src/cast';
import { errorOf, read } from './helpers';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

const SPECIALS = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0.5, 0.99, -1e10, 1e10, 300, -129];

/** Source values: random over (roughly) the dtype's range, fractions for floats, plus the special values. */
function sourceValues(dtype: DType, n: number, seed: number): ArrayLike<number> {
  if (isFloat(dtype)) {
    const v = randomArray(n, seed, -400, 400);
    v.set(SPECIALS.slice(0, Math.min(n, SPECIALS.length)));
    return v;
  }
  const { min, max } = DTYPE_INFO[dtype];
  const v = randomInts(n, seed, min, max);
  if (n > 2) v.set([min, max]);
  return v;
}

/**
 * float64 reference of the tile language's conversion of a stored value `v`: integer targets truncate and saturate
 * (NaN → 0) from floats and wrap from integers; float targets round to nearest even — done by the device's upload,
 * whose rounding the device package checks bit for bit.
 */
function refCast(dev: Device, v: Float64Array, from: DType, to: DType): Float64Array {
  if (isFloat(to)) {
    const tmp = dev.alloc(to, Math.max(1, v.length));
    dev.upload(tmp, v);
    return read(dev, tmp, v.length);
  }
  const { min, max } = DTYPE_INFO[to];
  const wrap = (x: number) =>
    to === 'i32' ? x | 0 : to === 'i16' ? (x << 16) >> 16 : to === 'i8' ? (x << 24) >> 24 : x & 0xff;
  return v.map((x) => {
    if (!isFloat(from)) return wrap(x);
    if (Number.isNaN(x)) return 0;
    return Math.min(max, Math.max(min, Math.trunc(x) || 0)); // -0 truncates to integer 0
  });
}

for (const target of NUMERIC_TARGETS) {
  describe(`cast on ${target.device}`, () => {
    it('converts between every pair of the device’s dtypes exactly as the tile language casts', async () => {
      const dev = await openDevice(target);
      const dtypes = dev.properties.dtypes;
      for (const from of dtypes) {
        for (const to of dtypes) {
          for (const [n, BLOCK] of [
            [1, undefined],
            [0, undefined],
            [1000, 128],
            [331, undefined],
          ] as const) {
            const x = dev.alloc(from, Math.max(1, n));
            dev.upload(x, sourceValues(from, n, n + from.length * 7 + to.length));
            const xv = read(dev, x, n);
            const out = dev.alloc(to, Math.max(1, n));
            dev.fill(out, isFloat(to) ? Number.NaN : 77);
            cast(dev, { x, out, n }, { config: BLOCK ? { BLOCK } : {} });
            const got = read(dev, out, n);
            const ref = refCast(dev, xv, from, to);
            expect(Array.from(got), `${from} → ${to}, n = ${n}`).toEqual(Array.from(ref));
          }
        }
      }
    });

    for (const dtype of floatsFor(target, ['f32', 'f16', 'bf16'] as const)) {
      it(`rounds f32 values to ${dtype} within its tolerance of float64, and back`, async () => {
        const dev = await openDevice(target);
        const n = 4099;
        const x = dev.alloc('f32', n);
        const xv = randomArray(n, 5, -10, 10);
        dev.upload(x, xv);
        const y = dev.alloc(dtype, n);
        dev.fill(y, Number.NaN);
        cast(dev, { x, out: y, n }, { config: { BLOCK: 512 } });
        expect(relativeError(read(dev, y, n), xv)).toBeLessThan(TOLERANCE[dtype]);
        const back = dev.alloc('f32', n);
        dev.fill(back, Number.NaN);
        cast(dev, { x: y, out: back, n });
        expect(Array.from(read(dev, back, n))).toEqual(Array.from(read(dev, y, n)));
      });
    }

    it('runs in place between dtypes of one size and validates operands', async () => {
      const dev = await openDevice(target);
      const buf = dev.alloc('f32', 8);
      dev.upload(buf, [1.5, -2.5, 3.7, 1e10, -1e10, Number.NaN, 0, 7]);
      cast(dev, { x: buf, out: buf.as('i32'), n: 8 });
      expect(Array.from(dev.download(buf.as('i32')))).toEqual([1, -2, 3, 2147483647, -2147483648, 0, 0, 7]);
      expect(errorOf(() => cast(dev, { x: buf, out: buf, n: 9 }))).toMatch(
        /^cast: 'x' holds 8 elements, but \(n,\) = \(9,\) needs 9/,
      );
      expect(errorOf(() => cast(dev, { x: buf, out: buf.as('i16'), n: 8 }))).toMatch(
        /^cast: 'out' partly overlaps 'x'/,
      );
      expect(errorOf(() => cast(dev, { x: buf, out: undefined as never, n: 8 }))).toMatch(
        /^cast: operand 'out' is missing/,
      );
    });

    it('is memory-bound on a large shape in timing-only mode', async () => {
      const td = await openDevice(target, 'timing');
      const n = 1 << 28;
      for (const [from, to] of [
        ['f32', 'bf16'],
        ['bf16', 'f32'],
        ['f16', 'i8'],
      ] as const) {
        const r = cast(td, { x: td.alloc(from, n), out: td.alloc(to, n), n });
        expect(r.timing.bound, `${from} → ${to}`).toBe('memory');
        expect(r.cost.programs).toBeLessThanOrEqual(65535);
      }
    });
  });
}
