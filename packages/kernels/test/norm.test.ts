import { isTesseraError } from '@tessera/device';
import { randomArray, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { layernorm, rmsnorm } from '../src/norm';
import { errorOf, FLOATS, poisoned, randomBuffer, read } from './helpers';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

/** float64 reference RMSNorm. */
function refRmsnorm(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, cols: number, eps: number): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[r * cols + c]! ** 2;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c]! * inv * w[c]!;
  }
  return y;
}

for (const target of NUMERIC_TARGETS) {
  describe(`rmsnorm on ${target.device}`, () => {
    for (const dtype of floatsFor(target, ['f32', 'bf16', 'f16'] as const)) {
      it(`matches the float64 reference (${dtype}; one tile, two passes, edge shapes)`, async () => {
        const dev = await openDevice(target);
        for (const [rows, cols, BLOCK] of [
          [1, 1, undefined],
          [7, 333, undefined],
          [3, 5000, 1024],
          [130, 64, undefined],
        ] as const) {
          const x = dev.alloc(dtype, rows * cols);
          const w = dev.alloc(dtype, cols);
          const y = dev.alloc(dtype, rows * cols);
          dev.upload(x, randomArray(rows * cols, rows + cols, -3, 3));
          dev.upload(w, randomArray(cols, cols, 0.5, 1.5));
          dev.fill(y, Number.NaN);
          rmsnorm(dev, { x, weight: w, out: y, rows, cols, eps: 1e-5 }, { config: BLOCK ? { BLOCK } : {} });
          const ref = refRmsnorm(dev.download(x), dev.download(w), rows, cols, 1e-5);
          expect(relativeError(dev.download(y), ref), `${rows}×${cols}`).toBeLessThan(TOLERANCE[dtype]);
        }
      });
    }

    it('handles zero rows, validates operands, and runs in timing-only mode', async () => {
      const dev = await openDevice(target);
      const x = dev.alloc('f32', 8);
      rmsnorm(dev, { x, weight: x, out: x, rows: 0, cols: 8 });
      const err = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          return isTesseraError(e) ? e.message : String(e);
        }
        return '';
      };
      expect(err(() => rmsnorm(dev, { x, weight: x, out: x, rows: 2, cols: 8 }))).toMatch(
        /^rmsnorm: 'x' holds 8 elements, but \(rows, cols\) = \(2, 8\) needs 16/,
      );
      expect(err(() => rmsnorm(dev, { x: dev.alloc('i32', 8), weight: x, out: x, rows: 1, cols: 8 }))).toMatch(
        /'x' is i32; expected f32 or f16 or bf16/,
      );
      const td = await openDevice(target, 'timing');
      const big = td.alloc('bf16', 4096 * 8192);
      const r = rmsnorm(td, { x: big, weight: td.alloc('bf16', 8192), out: big, rows: 4096, cols: 8192 });
      expect(r.timing.bound).toBe('memory');
    });
  });
}

/** float64 reference LayerNorm (biased variance). */
function refLayernorm(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | null,
  rows: number,
  cols: number,
  eps: number,
): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[r * cols + c]!;
    mean /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[r * cols + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c]! - mean) * inv * w[c]! + (b ? b[c]! : 0);
  }
  return y;
}

for (const target of NUMERIC_TARGETS) {
  describe(`layernorm on ${target.device}`, () => {
    for (const dtype of floatsFor(target, FLOATS)) {
      it(`matches the float64 reference (${dtype}; one tile, two passes, short rows, bias or none)`, async () => {
        const dev = await openDevice(target);
        for (const [rows, cols, BLOCK, offset] of [
          [1, 1, undefined, 0],
          [7, 333, undefined, 0],
          [3, 5000, 1024, 0],
          [1000, 3, undefined, 0],
          [130, 61, 16, 0],
          [5, 777, 256, 50], // |mean| ≫ std: E[x²] − mean² would cancel
          [0, 8, undefined, 0],
        ] as const) {
          const n = rows * cols;
          const [x, xv] = randomBuffer(dev, dtype, n, rows + cols, offset - 3, offset + 3);
          const [w, wv] = randomBuffer(dev, dtype, cols, cols, 0.5, 1.5);
          const [b, bv] = randomBuffer(dev, dtype, cols, cols + 1, -1, 1);
          for (const bias of [b, undefined]) {
            const y = poisoned(dev, dtype, n);
            layernorm(dev, { x, weight: w, bias, out: y, rows, cols, eps: 1e-5 }, { config: BLOCK ? { BLOCK } : {} });
            const ref = refLayernorm(xv, wv, bias ? bv : null, rows, cols, 1e-5);
            expect(relativeError(read(dev, y, n), ref), `${rows}×${cols} bias=${!!bias}`).toBeLessThan(
              TOLERANCE[dtype],
            );
          }
        }
      });
    }

    it('runs in place, validates operands, and is memory-bound in timing-only mode', async () => {
      const dev = await openDevice(target);
      const [x, xv] = randomBuffer(dev, 'f32', 4 * 100, 9, -2, 2);
      const [w, wv] = randomBuffer(dev, 'f32', 100, 10, 0.5, 1.5);
      layernorm(dev, { x, weight: w, out: x, rows: 4, cols: 100 }, { config: { BLOCK: 32 } });
      expect(relativeError(read(dev, x, 400), refLayernorm(xv, wv, null, 4, 100, 1e-5))).toBeLessThan(TOLERANCE.f32);
      const v = dev.alloc('f32', 8);
      expect(errorOf(() => layernorm(dev, { x: v, weight: v, out: x, rows: 2, cols: 8 }))).toMatch(
        /^layernorm: 'x' holds 8 elements, but \(rows, cols\) = \(2, 8\) needs 16/,
      );
      expect(errorOf(() => layernorm(dev, { x, weight: w, bias: v, out: x, rows: 4, cols: 100 }))).toMatch(
        /^layernorm: 'bias' holds 8 elements, but \(cols,\) = \(100,\) needs 100/,
      );
      expect(errorOf(() => layernorm(dev, { x, weight: dev.alloc('i32', 100), out: x, rows: 4, cols: 100 }))).toMatch(
        /^layernorm: 'weight' is i32; expected f32 or f16 or bf16/,
      );
      expect(errorOf(() => layernorm(dev, { x, weight: w, out: x, rows: 4, cols: 100, eps: -1 }))).toMatch(
        /^layernorm: eps = -1 must be a finite number ≥ 0/,
      );
      expect(errorOf(() => layernorm(dev, { x, weight: x.view(0, 100), out: x, rows: 4, cols: 100 }))).toMatch(
        /^layernorm: 'out' overlaps 'weight'/,
      );
      const td = await openDevice(target, 'timing');
      for (const [rows, cols] of [
        [4096, 8192],
        [1024, 65536],
      ] as const) {
        const big = td.alloc('bf16', rows * cols);
        const wb = td.alloc('bf16', cols);
        const r = layernorm(td, { x: big, weight: wb, bias: wb, out: big, rows, cols });
        expect(r.timing.bound, `${rows}×${cols}`).toBe('memory');
        expect(r.cost.programs).toBeLessThanOrEqual(65535);
      }
    });
  });
}
