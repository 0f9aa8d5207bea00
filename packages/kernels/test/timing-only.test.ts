/** Every operator also runs in timing-only mode (buffers without data) on both backends, with a positive modelled time. */
import { describe, expect, it } from 'vitest';
import { gemm, groupedGemm, quantizePerToken, reshapeAndCache } from '../src/index';
import { openDevice, TARGETS } from './setup';

for (const target of TARGETS) {
  describe(`timing-only operators on ${target.device}`, () => {
    it('GEMM variants, grouped GEMM, quantisation and KV-cache writes', async () => {
      const dev = await openDevice(target, 'timing');
      const [M, N, K] = [4096, 4096, 4096];
      const a = dev.alloc('bf16', M * K);
      const c = dev.alloc('bf16', M * N);
      const results = [
        gemm(dev, { a, b: a, c, M, N, K, bias: dev.alloc('bf16', N), activation: 'gelu', residual: c }),
        gemm(dev, { a, b: a, c, M: 512, N: 512, K: 512, batch: 8, strideB: 0 }),
        groupedGemm(dev, {
          a,
          b: dev.alloc('bf16', 8 * K * 1024),
          c,
          offsets: [0, 512, 512, 1500, 2048, 2048, 3000, 3500, 4096],
          N: 1024,
          K,
        }),
        quantizePerToken(dev, { x: a, out: dev.alloc('i8', M * K), scales: dev.alloc('f32', M), rows: M, cols: K }),
        gemm(dev, {
          a: dev.alloc('i8', M * K),
          b: dev.alloc('i8', K * N),
          c,
          M,
          N,
          K,
          scales: { a: dev.alloc('f32', M), b: dev.alloc('f32', N) },
        }),
        reshapeAndCache(dev, {
          key: a,
          value: a,
          keyCache: dev.alloc('bf16', 1 << 26),
          valueCache: dev.alloc('bf16', 1 << 26),
          slotMapping: dev.alloc('i32', 256),
          tokens: 256,
          kvHeads: 8,
          headDim: 128,
        }),
      ];
      for (const r of results) expect(r.ms, r.kernel).toBeGreaterThan(0);
      // W8A8 runs the matrix unit at the int8 rate: faster than the bf16 GEMM of the same shape.
      expect(results[4]!.ms).toBeLessThan(results[0]!.ms);
    });
  });
}
