/**
 * W8A8 GEMMs of quantised operands: fp8 GEMMs with scales (vLLM's `cutlass_scaled_mm`), grouped GEMMs with per-row
 * and per-(expert, column) scales (int8 and fp8), dynamic per-token fp8 quantisation, the clear error on a device
 * without fp8 (Ascend), errors for bad scale operands, and the fp8 matrix rate in the timing model.
 */
import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { castScalar, createRuntime, type Device, DTYPE_INFO, type DType, erf, isTesseraError } from '@tessera/device';
import { randomArray, referenceMatmul, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { gemm, groupedGemm, quantizePerToken, quantizeWeightsPerChannel } from '../src/index';
import { errorOf, poisoned, randomBuffer, read } from './helpers';
import { isSimulator, NUMERIC_TARGETS, openDevice } from './setup';

const FP8 = ['fp8e4m3', 'fp8e5m2'] as const;
type Quant = 'i8' | (typeof FP8)[number];

/**
 * Bounds on ‖W8A8 − float GEMM‖ / ‖float GEMM‖ when both operands are quantised to the dtype: int8 keeps ~7
 * significant bits, e4m3 3 mantissa bits (rounding error ≤ 2⁻⁴ relative), e5m2 2 (≤ 2⁻³). Measured on the shapes
 * below: ≈ 0.005, 0.035, 0.07; a dequantised fp8 row alone (half the bound) ≈ 0.026 and 0.051.
 */
const QUANT_ERROR: Record<Quant, number> = { i8: 0.02, fp8e4m3: 0.06, fp8e5m2: 0.12 };

const ACT = {
  silu: (x: number) => x / (1 + Math.exp(-x)),
  gelu: (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
};

/** Row-major transpose of an (r, c) matrix. */
function transpose(x: ArrayLike<number>, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x[i * c + j]!;
  return out;
}

/** float64 W8A8 reference: (A·B)[m, n] · sa[m] · sb[n] over the stored quantised values and scales. */
function scaledMatmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  sa: ArrayLike<number>,
  sb: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
) {
  return referenceMatmul(a, b, M, N, K).map((v, i) => v * sa[Math.floor(i / N)]! * sb[i % N]!);
}

/** What `fn` throws (undefined if it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Asserts `fn` throws `Unsupported` naming the operator, the fp8 operand and the device, pointing at int8 W8A8. */
function expectNoFp8(dev: Device, op: string, operand: string, fn: () => unknown): void {
  const error = thrown(fn);
  expect(isTesseraError(error) && error.code, op).toBe('Unsupported');
  const message = (error as Error).message;
  const start = `${op}: '${operand}' is fp8e4m3 (float8 e4m3), which ${dev.properties.name} does not support`;
  expect(message.startsWith(start), message).toBe(true);
  expect(message).toMatch(/Use int8 W8A8 instead/);
}

for (const target of NUMERIC_TARGETS) {
  // The catalogues: H100 has fp8 (dtype and a matrix rate), Ascend 910B has neither — checked by the first test.
  const hasFp8 = target.backend === 'nvidia-sim';
  const quants: readonly Quant[] = hasFp8 ? ['i8', ...FP8] : ['i8'];

  describe(`W8A8 with quantised operands on ${target.device}`, () => {
    it.runIf(isSimulator(target))(`the device catalogue ${hasFp8 ? 'has' : 'has no'} fp8`, async () => {
      const dev = await openDevice(target);
      for (const d of FP8) {
        expect(dev.properties.dtypes.includes(d)).toBe(hasFp8);
        expect(dev.properties.peakTflops.matrix[d] !== undefined).toBe(hasFp8);
      }
    });

    for (const dtype of hasFp8 ? FP8 : []) {
      it(`${dtype} GEMM with scales matches the float64 product, then alpha, bias, activation and residual`, async () => {
        const dev = await openDevice(target);
        let seed = 1;
        for (const [M, N, K, transB, out] of [
          [1, 1, 1, false, 'f32'],
          [37, 45, 70, false, 'bf16'],
          [70, 33, 129, true, 'f32'],
        ] as const) {
          const [a, av] = randomBuffer(dev, dtype, M * K, seed++, -4, 4);
          const [b, bv] = randomBuffer(dev, dtype, K * N, seed++, -4, 4);
          const [sa, sav] = randomBuffer(dev, 'f32', M, seed++, 0.01, 0.1);
          const [sb, sbv] = randomBuffer(dev, 'f32', N, seed++, 0.01, 0.1);
          const [bias, biasv] = randomBuffer(dev, 'bf16', N, seed++);
          const [residual, resv] = randomBuffer(dev, 'f32', M * N, seed++);
          const prod = scaledMatmul(av, transB ? transpose(bv, N, K) : bv, sav, sbv, M, N, K);
          const scales = { a: sa, b: sb };
          const shape = `${M}×${N}×${K}${transB ? ' transB' : ''} → ${out}`;
          let c = poisoned(dev, out, M * N);
          gemm(dev, { a, b, c, M, N, K, transB, scales });
          expect(relativeError(read(dev, c, M * N), prod), shape).toBeLessThan(TOLERANCE[out]);
          for (const activation of ['silu', 'gelu'] as const) {
            c = poisoned(dev, out, M * N);
            gemm(dev, { a, b, c, M, N, K, transB, scales, alpha: 0.5, bias, activation, residual });
            const ref = prod.map((v, i) => ACT[activation](0.5 * v + biasv[i % N]!) + resv[i]!);
            expect(relativeError(read(dev, c, M * N), ref), `${shape} ${activation}`).toBeLessThan(TOLERANCE[out]);
          }
        }
      });

      it(`quantizePerToken to ${dtype}: scale = max|row| / ${DTYPE_INFO[dtype].max}, values rounded to ${dtype}`, async () => {
        const dev = await openDevice(target);
        const qmax = DTYPE_INFO[dtype].max;
        // One row of zeros (scale 1, q 0) and one with an outlier; rows longer than a block (walked in blocks).
        const [rows, cols] = [5, 9000];
        const xv = randomArray(rows * cols, 11, -3, 3);
        xv.fill(0, cols, 2 * cols);
        xv[3 * cols + 4321] = 250;
        const x = dev.alloc('bf16', rows * cols);
        dev.upload(x, xv);
        const xs = read(dev, x, rows * cols);
        const [q, scales] = [poisoned(dev, dtype, rows * cols), poisoned(dev, 'f32', rows)];
        quantizePerToken(dev, { x, out: q, scales, rows, cols });
        const [qv, sv] = [read(dev, q, rows * cols), read(dev, scales, rows)];
        for (let r = 0; r < rows; r++) {
          const row = xs.subarray(r * cols, (r + 1) * cols);
          const amax = Math.max(...Array.from(row, Math.abs));
          const s = amax > 0 ? Math.fround(amax / qmax) : 1;
          expect(sv[r], `row ${r} scale`).toBe(s);
          const ref = row.map((v) => castScalar(Math.max(-qmax, Math.min(qmax, Math.fround(v / s))), dtype));
          const got = qv.subarray(r * cols, (r + 1) * cols);
          expect(Array.from(got), `row ${r} values`).toEqual(Array.from(ref));
          if (amax > 0) {
            expect(Math.max(...Array.from(got, Math.abs)), `row ${r} uses the full range`).toBe(qmax);
            // Dequantised, the row is the input to within fp8's rounding.
            const deq = got.map((v) => v * sv[r]!);
            expect(relativeError(deq, row), `row ${r} dequantised`).toBeLessThan(QUANT_ERROR[dtype] / 2);
          }
        }
      });
    }

    it(`per-token × per-channel W8A8 approximates the float GEMM (${quants.join(', ')})`, async () => {
      const dev = await openDevice(target);
      const [M, N, K] = [20, 64, 128];
      const xv = randomArray(M * K, 9, -2, 2);
      const wv = randomArray(K * N, 10, -0.5, 0.5);
      const x = dev.alloc('bf16', M * K);
      dev.upload(x, xv);
      const float = referenceMatmul(read(dev, x, M * K), wv, M, N, K);
      for (const dtype of quants) {
        const [xq, xs] = [poisoned(dev, dtype, M * K), poisoned(dev, 'f32', M)];
        quantizePerToken(dev, { x, out: xq, scales: xs, rows: M, cols: K });
        const w = dtype === 'i8' ? quantizeWeightsPerChannel(wv, K, N) : quantizeWeightsPerChannel(wv, K, N, dtype);
        const [wq, ws] = [dev.alloc(dtype, K * N), dev.alloc('f32', N)];
        dev.upload(wq, w.q);
        dev.upload(ws, w.scales);
        expect(Array.from(read(dev, wq, K * N)), `${dtype} weights are exact ${dtype} values`).toEqual(Array.from(w.q));
        const y = poisoned(dev, 'f32', M * N);
        gemm(dev, { a: xq, b: wq, c: y, M, N, K, scales: { a: xs, b: ws } });
        const exact = scaledMatmul(read(dev, xq, M * K), w.q, read(dev, xs, M), w.scales, M, N, K);
        expect(relativeError(read(dev, y, M * N), exact), `${dtype} vs dequantised`).toBeLessThan(TOLERANCE.f32);
        expect(relativeError(read(dev, y, M * N), float), `${dtype} vs float`).toBeLessThan(QUANT_ERROR[dtype]);
      }
    });

    it(`grouped GEMM with per-row and per-(expert, column) scales (${quants.join(', ')})`, async () => {
      const dev = await openDevice(target);
      const [N, K] = [48, 36];
      const offsets = [0, 5, 5, 40, 41, 77]; // an empty group, groups ending mid-block
      const groups = offsets.length - 1;
      const rows = offsets[groups]!;
      let seed = 100;
      for (const dtype of quants) {
        for (const [transB, out] of [
          [false, 'f32'],
          [true, 'bf16'],
        ] as const) {
          const range = dtype === 'i8' ? 127 : 4;
          const [a, av] = randomBuffer(dev, dtype, rows * K, seed++, -range, range);
          const [b, bv] = randomBuffer(dev, dtype, groups * K * N, seed++, -range, range);
          const [sa, sav] = randomBuffer(dev, 'f32', rows, seed++, 0.001, 0.01);
          const [sb, sbv] = randomBuffer(dev, 'f32', groups * N, seed++, 0.001, 0.01);
          const c = poisoned(dev, out, rows * N);
          groupedGemm(dev, { a, b, c, offsets, N, K, transB, scales: { a: sa, b: sb } });
          const ref = new Float64Array(rows * N);
          for (let g = 0; g < groups; g++) {
            const [r0, r1] = [offsets[g]!, offsets[g + 1]!];
            const w = bv.subarray(g * K * N, (g + 1) * K * N);
            const part = scaledMatmul(
              av.subarray(r0 * K, r1 * K),
              transB ? transpose(w, N, K) : w,
              sav.subarray(r0, r1),
              sbv.subarray(g * N, (g + 1) * N),
              r1 - r0,
              N,
              K,
            );
            ref.set(part, r0 * N);
          }
          const what = `${dtype}${transB ? ' transB' : ''} → ${out}`;
          expect(relativeError(read(dev, c, rows * N), ref), what).toBeLessThan(TOLERANCE[out]);
        }
      }
    });

    if (!hasFp8 && isSimulator(target)) {
      it('fp8 GEMMs and fp8 quantisation fail with a clear Unsupported error (Ascend 910B and 910C)', async () => {
        for (const device of [target.device, '910c']) {
          const dev = (await createRuntime({ backend: createAscendSimBackend(), devices: device })).device(0);
          const [M, N, K] = [4, 8, 16];
          const [a, b] = [dev.alloc('fp8e4m3', M * K), dev.alloc('fp8e4m3', 2 * K * N)];
          const scales = { a: dev.alloc('f32', M), b: dev.alloc('f32', 2 * N) };
          const c = dev.alloc('bf16', M * N);
          expectNoFp8(dev, 'gemm', 'a', () => gemm(dev, { a, b, c, M, N, K, scales }));
          expectNoFp8(dev, 'gemm', 'a', () => gemm(dev, { a, b, c: dev.alloc('f32', M * N), M, N, K }));
          expectNoFp8(dev, 'groupedGemm', 'a', () => groupedGemm(dev, { a, b, c, offsets: [0, 1, 4], N, K, scales }));
          const x = dev.alloc('bf16', M * K);
          expectNoFp8(dev, 'quantizePerToken', 'out', () =>
            quantizePerToken(dev, { x, out: a, scales: scales.a, rows: M, cols: K }),
          );
        }
      });
    }

    it('reports clear errors for bad scale operands', async () => {
      const dev = await openDevice(target);
      const [M, N, K] = [4, 8, 16];
      const [a8, b8, f] = [dev.alloc('i8', M * K), dev.alloc('i8', 5 * K * N), dev.alloc('f32', 77 * K * N)];
      const [sa, sb, c] = [dev.alloc('f32', M), dev.alloc('f32', N), dev.alloc('bf16', 77 * N)];
      const mnk = { M, N, K };
      const cases: [() => unknown, RegExp][] = [
        [
          () => gemm(dev, { a: a8, b: b8, c, ...mnk, scales: { a: dev.alloc('f32', 3), b: sb } }),
          /^gemm: 'scales\.a' holds 3 elements, but \(M,\) = \(4,\) needs 4\./,
        ],
        [
          () => gemm(dev, { a: a8, b: b8, c, ...mnk, scales: { a: sa, b: dev.alloc('f16', N) } }),
          /^gemm: 'scales\.b' is f16; expected f32\./,
        ],
        [
          () => gemm(dev, { a: a8, b: b8, c: dev.alloc('i32', M * N), ...mnk, scales: { a: sa, b: sb } }),
          /^gemm: a W8A8 GEMM writes a float output, but 'c' is i32\./,
        ],
        [
          () => gemm(dev, { a: f, b: f, c, ...mnk, scales: { a: sa, b: sb } }),
          /^gemm: scales are for int8 or fp8 operands \(W8A8\), but the operands are f32\./,
        ],
        [
          () => gemm(dev, { a: a8, b: dev.alloc('fp8e4m3', K * N), c, ...mnk, scales: { a: sa, b: sb } }),
          /^gemm: 'a' is i8 but 'b' is fp8e4m3; both operands must have one dtype\./,
        ],
      ];
      // Grouped: 77 rows in 5 groups.
      const grouped = { a: dev.alloc('i8', 77 * K), b: b8, c, offsets: [0, 5, 5, 40, 41, 77], N, K };
      const rowScales = dev.alloc('f32', 77);
      cases.push(
        [
          () => groupedGemm(dev, { ...grouped, scales: { a: dev.alloc('f32', 76), b: dev.alloc('f32', 5 * N) } }),
          /^groupedGemm: 'scales\.a' holds 76 elements, but \(rows,\) = \(77,\) needs 77\./,
        ],
        [
          () => groupedGemm(dev, { ...grouped, scales: { a: rowScales, b: sb } }),
          /^groupedGemm: 'scales\.b' holds 8 elements, but \(groups, N\) = \(5, 8\) needs 40\./,
        ],
        [
          () => groupedGemm(dev, { ...grouped, scales: { a: rowScales, b: dev.alloc('bf16', 5 * N) } }),
          /^groupedGemm: 'scales\.b' is bf16; expected f32\./,
        ],
        [
          () => groupedGemm(dev, { ...grouped, a: f, b: f, scales: { a: rowScales, b: dev.alloc('f32', 5 * N) } }),
          /^groupedGemm: scales are for int8 or fp8 operands \(W8A8\), but the operands are f32\./,
        ],
        [
          () =>
            groupedGemm(dev, {
              ...grouped,
              c: dev.alloc('i32', 77 * N),
              scales: { a: rowScales, b: dev.alloc('f32', 5 * N) },
            }),
          /^groupedGemm: a W8A8 GEMM writes a float output, but 'c' is i32\./,
        ],
        [
          () => groupedGemm(dev, grouped),
          /^groupedGemm: int8 inputs accumulate in int32, so 'c' must be i32 \(got bf16\)\./,
        ],
        [
          () => quantizePerToken(dev, { x: f, out: dev.alloc('f16', M * K), scales: sa, rows: M, cols: K }),
          /^quantizePerToken: 'out' is f16; expected i8 or fp8e4m3 or fp8e5m2\./,
        ],
        [
          () => quantizeWeightsPerChannel([1, 2], 1, 2, 'f16' as never),
          /^quantizeWeightsPerChannel: dtype 'f16' must be one of i8, fp8e4m3, fp8e5m2\./,
        ],
        [
          () => quantizeWeightsPerChannel([1, 2], 2, 2, 'fp8e4m3'),
          /^quantizeWeightsPerChannel: 'w' holds 2 values, but \(K, N\) = \(2, 2\) needs 4\./,
        ],
      );
      for (const [fn, message] of cases) {
        expect(errorOf(fn)).toMatch(message);
        const error = thrown(fn);
        expect(isTesseraError(error) && error.code, String(message)).toBe('InvalidValue');
      }
    });
  });
}

describe('fp8 GEMM timing', () => {
  for (const device of ['h100', 'b200']) {
    it(`charges fp8 matrix FLOPs at ${device}'s fp8 rate: a compute-bound GEMM models ≈ 2× faster than bf16`, async () => {
      const target = NUMERIC_TARGETS.find((t) => t.backend === 'nvidia-sim')!;
      const dev = (await createRuntime({ backend: await target.create(), devices: device, mode: 'timing' })).device(0);
      const S = 8192;
      const [M, N, K] = [S, S, S];
      const run = (dtype: DType) =>
        gemm(dev, {
          a: dev.alloc(dtype, M * K),
          b: dev.alloc(dtype, K * N),
          c: dev.alloc('bf16', M * N),
          M,
          N,
          K,
          ...(dtype === 'bf16' ? {} : { scales: { a: dev.alloc('f32', M), b: dev.alloc('f32', N) } }),
        });
      const rates = dev.properties.peakTflops.matrix;
      const speedup = rates.fp8e4m3! / rates.bf16!; // the catalogue's dense rates: H100 1978.9 vs 989.4 TFLOPS
      const [bf16, fp8] = [run('bf16'), run('fp8e4m3')];
      // The cost record names the operand dtype of every matrix FLOP; the timing model charges each at its rate.
      expect(fp8.cost.total.matrixFlopsOf('fp8e4m3')).toBe(2 * M * N * K);
      expect(fp8.cost.total.matrixFlopsOf('bf16')).toBe(0);
      expect(bf16.cost.total.matrixFlopsOf('bf16')).toBe(2 * M * N * K);
      expect([bf16.timing.bound, fp8.timing.bound]).toEqual(['matrix', 'matrix']);
      const matrixTime = (r: typeof fp8) => r.timing.breakdown.matrix as number;
      expect(matrixTime(bf16) / matrixTime(fp8)).toBeCloseTo(speedup, 9);
      // The whole kernel: within 5 % of the rate ratio (launch, pipeline fill and the epilogue do not speed up).
      expect(bf16.ms / fp8.ms).toBeGreaterThan(speedup * 0.95);
      expect(bf16.ms / fp8.ms).toBeLessThan(speedup * 1.05);
    });
  }
});
