import { erf } from '@tessera/device';
import { randomArray, referenceMatmul, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { gemm } from '../src/gemm';
import { groupedGemm } from '../src/grouped-gemm';
import { quantizePerToken, quantizeWeightsPerChannel } from '../src/quant';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

const ACT: Record<string, (x: number) => number> = {
  none: (x) => x,
  relu: (x) => Math.max(0, x),
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
};

for (const target of NUMERIC_TARGETS) {
  describe(`gemm variants on ${target.device}`, () => {
    it('fuses alpha, bias, every activation and a residual', async () => {
      const dev = await openDevice(target);
      const [M, N, K] = [45, 70, 33];
      for (const dtype of floatsFor(target, ['f32', 'bf16'] as const)) {
        const a = dev.alloc(dtype, M * K);
        const b = dev.alloc(dtype, K * N);
        const bias = dev.alloc(dtype, N);
        const res = dev.alloc(dtype, M * N);
        const c = dev.alloc(dtype, M * N);
        dev.upload(a, randomArray(M * K, 1));
        dev.upload(b, randomArray(K * N, 2));
        dev.upload(bias, randomArray(N, 3));
        dev.upload(res, randomArray(M * N, 4));
        const [av, bv, biasv, resv] = [a, b, bias, res].map((x) => Float64Array.from(dev.download(x)));
        const prod = referenceMatmul(av!, bv!, M, N, K);
        for (const activation of ['none', 'relu', 'silu', 'gelu', 'gelu_tanh'] as const) {
          dev.fill(c, Number.NaN);
          gemm(dev, { a, b, c, M, N, K, alpha: 0.5, bias, activation, residual: res });
          const ref = prod.map((v, i) => ACT[activation]!(0.5 * v + biasv![i % N]!) + resv![i]!);
          expect(relativeError(dev.download(c), ref), `${dtype} ${activation}`).toBeLessThan(TOLERANCE[dtype]);
        }
      }
    });

    it('runs batched GEMMs, including a broadcast operand (stride 0)', async () => {
      const dev = await openDevice(target);
      const [batch, M, N, K] = [3, 17, 24, 40];
      const a = dev.alloc('f32', batch * M * K);
      const b = dev.alloc('f32', K * N); // shared by every batch
      const c = dev.alloc('f32', batch * M * N);
      dev.upload(a, randomArray(batch * M * K, 5));
      dev.upload(b, randomArray(K * N, 6));
      dev.fill(c, Number.NaN);
      gemm(dev, { a, b, c, M, N, K, batch, strideB: 0 });
      const av = dev.download(a);
      const bv = dev.download(b);
      const out = dev.download(c);
      for (let z = 0; z < batch; z++) {
        const ref = referenceMatmul(av.subarray(z * M * K, (z + 1) * M * K), bv, M, N, K);
        expect(relativeError(out.subarray(z * M * N, (z + 1) * M * N), ref)).toBeLessThan(TOLERANCE.f32);
      }
    });

    it('runs grouped GEMMs of different sizes (MoE experts), including empty groups', async () => {
      const dev = await openDevice(target);
      const [N, K] = [48, 36];
      const offsets = [0, 5, 5, 40, 41, 77];
      const groups = offsets.length - 1;
      const rows = offsets[groups]!;
      for (const transB of [false, true]) {
        const a = dev.alloc('bf16', rows * K);
        const b = dev.alloc('bf16', groups * K * N);
        const c = dev.alloc('f32', rows * N);
        dev.upload(a, randomArray(rows * K, 7));
        dev.upload(b, randomArray(groups * K * N, 8));
        dev.fill(c, Number.NaN);
        groupedGemm(dev, { a, b, c, offsets, N, K, transB });
        const av = dev.download(a);
        const bv = dev.download(b);
        const out = dev.download(c);
        for (let g = 0; g < groups; g++) {
          const [r0, r1] = [offsets[g]!, offsets[g + 1]!];
          if (r1 === r0) continue;
          let w = Float64Array.from(bv.subarray(g * K * N, (g + 1) * K * N));
          if (transB) {
            const t = new Float64Array(K * N);
            for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[k * N + n] = w[n * K + k]!;
            w = t;
          }
          const ref = referenceMatmul(av.subarray(r0 * K, r1 * K), w, r1 - r0, N, K);
          expect(relativeError(out.subarray(r0 * N, r1 * N), ref), `group ${g}`).toBeLessThan(TOLERANCE.f32);
        }
      }
    });

    it('W8A8: per-token activation and per-channel weight scales approximate the float GEMM', async () => {
      const dev = await openDevice(target);
      const [M, N, K] = [20, 64, 128];
      const xv = randomArray(M * K, 9, -2, 2);
      const wv = randomArray(K * N, 10, -0.5, 0.5);
      const x = dev.alloc('bf16', M * K);
      dev.upload(x, xv);
      const xq = dev.alloc('i8', M * K);
      const xs = dev.alloc('f32', M);
      dev.fill(xs, Number.NaN);
      quantizePerToken(dev, { x, out: xq, scales: xs, rows: M, cols: K });
      const { q, scales } = quantizeWeightsPerChannel(wv, K, N);
      const wq = dev.alloc('i8', K * N);
      const ws = dev.alloc('f32', N);
      dev.upload(wq, q);
      dev.upload(ws, scales);
      const y = dev.alloc('bf16', M * N);
      dev.fill(y, Number.NaN);
      gemm(dev, { a: xq, b: wq, c: y, M, N, K, scales: { a: xs, b: ws } });
      // Exact check of the integer path: dequantise the quantised operands and multiply in float64.
      const qa = dev.download(xq);
      const sa = dev.download(xs);
      const exact = referenceMatmul(qa, q, M, N, K).map((v, i) => v * sa[Math.floor(i / N)]! * scales[i % N]!);
      expect(relativeError(dev.download(y), exact)).toBeLessThan(TOLERANCE.bf16);
      // And against the unquantised float GEMM: int8 rounding error stays small.
      expect(
        relativeError(dev.download(y), referenceMatmul(Float64Array.from(dev.download(x)), wv, M, N, K)),
      ).toBeLessThan(0.03);
      expect(Math.max(...Array.from(qa).map(Math.abs))).toBe(127);
    });

    it('reports a clear error for bad epilogue operands', async () => {
      const dev = await openDevice(target);
      const a = dev.alloc('i8', 16);
      const c = dev.alloc('i32', 16);
      expect(() => gemm(dev, { a, b: a, c, M: 4, N: 4, K: 4, activation: 'relu' })).toThrow(
        /int32 output takes no epilogue/,
      );
      const f = dev.alloc('f32', 16);
      expect(() => gemm(dev, { a: f, b: f, c: f, M: 4, N: 4, K: 4, bias: dev.alloc('f32', 3) })).toThrow(
        /'bias' holds 3 elements, but \(N,\) = \(4,\) needs 4/,
      );
      expect(() => gemm(dev, { a: f, b: f, c: f, M: 4, N: 4, K: 4, activation: 'tanh' as never })).toThrow(
        /activation 'tanh'/,
      );
      expect(() => groupedGemm(dev, { a: f, b: f, c: f, offsets: [0, 3, 2], N: 4, K: 4 })).toThrow(/non-decreasing/);
      expect(() => gemm(dev, { a: f, b: f, c: f, M: 4, N: 4, K: 4, scales: { a: f, b: f } })).toThrow(
        /scales are for int8/,
      );
      expect(() => quantizePerToken(dev, { x: f, out: f, scales: f, rows: 2, cols: 8 })).toThrow(
        /'out' is f32; expected i8/,
      );
    });
  });
}
