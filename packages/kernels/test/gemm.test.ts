import { type DType, isTesseraError } from '@tessera/device';
import { randomArray, randomInts, referenceMatmul, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { chooseGemmConfig, gemm } from '../src/index';
import { floatsFor, NUMERIC_TARGETS, openDevice, TARGETS } from './setup';

/** Row-major transpose of an (r, c) matrix. */
function transpose(x: ArrayLike<number>, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x[i * c + j]!;
  return out;
}

for (const target of NUMERIC_TARGETS) {
  describe(`gemm on ${target.device}`, () => {
    for (const dtype of floatsFor(target, ['f32', 'bf16', 'f16'] as const)) {
      it(`matches a float64 reference (${dtype}, edge shapes, transposes)`, async () => {
        const dev = await openDevice(target);
        for (const [M, N, K, transA, transB] of [
          [1, 1, 1, false, false],
          [37, 29, 41, false, true],
          [130, 67, 97, true, false],
          [3, 257, 64, true, true],
        ] as const) {
          const a = dev.alloc(dtype, M * K);
          const b = dev.alloc(dtype, K * N);
          const c = dev.alloc('f32', M * N);
          dev.upload(a, randomArray(M * K, M * 7 + 1));
          dev.upload(b, randomArray(K * N, N * 5 + 2));
          const av = Float64Array.from(dev.download(a));
          const bv = Float64Array.from(dev.download(b));
          dev.fill(c, Number.NaN);
          gemm(dev, { a, b, c, M, N, K, transA, transB });
          const ref = referenceMatmul(transA ? transpose(av, K, M) : av, transB ? transpose(bv, N, K) : bv, M, N, K);
          expect(relativeError(dev.download(c), ref), `${M}×${N}×${K} ${transA}/${transB}`).toBeLessThan(TOLERANCE.f32);
        }
      });
    }

    it('computes int8 GEMMs exactly in int32', async () => {
      const dev = await openDevice(target);
      const [M, N, K] = [33, 65, 129];
      const av = randomInts(M * K, 3, -128, 127);
      const bv = randomInts(K * N, 4, -128, 127);
      const [a, b, c] = [dev.alloc('i8', M * K), dev.alloc('i8', K * N), dev.alloc('i32', M * N)];
      dev.upload(a, av);
      dev.upload(b, bv);
      dev.fill(c, -1);
      gemm(dev, { a, b, c, M, N, K });
      expect(Array.from(dev.download(c))).toEqual(Array.from(referenceMatmul(av, bv, M, N, K)));
    });

    it('rejects mismatched shapes and dtypes with the operand named', async () => {
      const dev = await openDevice(target);
      const a = dev.alloc('bf16', 16);
      const b = dev.alloc('f16', 16);
      const msg = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          return isTesseraError(e) ? e.message : String(e);
        }
        return '';
      };
      expect(msg(() => gemm(dev, { a, b: a, c: a, M: 4, N: 4, K: 5 }))).toMatch(
        /^gemm: 'a' holds 16 elements, but \(M, K\) = \(4, 5\) needs 20/,
      );
      expect(msg(() => gemm(dev, { a, b, c: a, M: 4, N: 4, K: 4 }))).toMatch(/'a' is bf16 but 'b' is f16/);
      const i8 = dev.alloc('i8', 16);
      expect(msg(() => gemm(dev, { a: i8, b: i8, c: a, M: 4, N: 4, K: 4 }))).toMatch(/'c' must be i32/);
    });
  });
}

describe('gemm tile choice', () => {
  it('picks tiles that fit each device and shrinks them for small problems', async () => {
    for (const target of TARGETS) {
      const dev = await openDevice(target, 'timing');
      expect(chooseGemmConfig(dev.properties, 8192, 8192, 8192, 'bf16' as DType)).toEqual({ BM: 128, BN: 256, BK: 64 });
      expect(chooseGemmConfig(dev.properties, 1, 4096, 4096, 'bf16').BM).toBe(16);
    }
  });
});
