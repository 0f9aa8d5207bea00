import { relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { logSoftmax, softmax } from '../src/softmax';
import { errorOf, FLOATS, poisoned, randomBuffer, read } from './helpers';
import { floatsFor, isSimulator, NUMERIC_TARGETS, openDevice } from './setup';

/** float64 reference (log-)softmax of scale·x along rows. */
function refSoftmax(x: ArrayLike<number>, rows: number, cols: number, scale: number, log: boolean): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) m = Math.max(m, scale * x[r * cols + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(scale * x[r * cols + c]! - m);
    for (let c = 0; c < cols; c++) {
      const z = scale * x[r * cols + c]! - m;
      y[r * cols + c] = log ? z - Math.log(s) : Math.exp(z) / s;
    }
  }
  return y;
}

/** (rows, cols, BLOCK, scale): one element, prime width, two-pass rows, many short rows per tile, empty. */
const SHAPES = [
  [1, 1, undefined, 1],
  [7, 333, undefined, 0.125],
  [3, 5000, 1024, 1],
  [130, 61, 256, -2],
  [1000, 3, undefined, 1],
  [5, 100, 16, 0],
  [0, 5, undefined, 1],
] as const;

const OPS = [
  ['softmax', softmax, false],
  ['logSoftmax', logSoftmax, true],
] as const;

for (const target of NUMERIC_TARGETS) {
  describe(`softmax and logSoftmax on ${target.device}`, () => {
    for (const dtype of floatsFor(target, FLOATS)) {
      it(`match float64 (${dtype}; one tile, two passes, scales, edge shapes)`, async () => {
        const dev = await openDevice(target);
        for (const [rows, cols, BLOCK, scale] of SHAPES) {
          const [x, xv] = randomBuffer(dev, dtype, rows * cols, rows + cols, -4, 4);
          for (const [name, fn, log] of OPS) {
            const out = poisoned(dev, dtype, rows * cols);
            fn(dev, { x, out, rows, cols, scale }, { config: BLOCK ? { BLOCK } : {} });
            const ref = refSoftmax(xv, rows, cols, scale, log);
            expect(relativeError(read(dev, out, rows * cols), ref), `${name} ${rows}×${cols} ×${scale}`).toBeLessThan(
              TOLERANCE[dtype],
            );
          }
        }
      });
    }

    it('handles −∞ (masked) logits, a fully masked row, large logits, and runs in place', async () => {
      const dev = await openDevice(target);
      const [rows, cols] = [4, 50];
      const v = Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 3);
      for (let c = 0; c < 20; c++) v[c] = Number.NEGATIVE_INFINITY; // row 0: its first blocks all masked
      for (let c = 30; c < cols; c++) v[cols + c] = Number.NEGATIVE_INFINITY; // row 1: a masked tail
      for (let c = 0; c < cols; c++) v[2 * cols + c] = 1000 + c; // row 2: exp would overflow without the max
      for (let c = 0; c < cols; c++) v[3 * cols + c] = Number.NEGATIVE_INFINITY; // row 3: all masked → NaN
      for (const BLOCK of [16, 64]) {
        for (const [name, fn, log] of OPS) {
          const x = dev.alloc('f32', rows * cols);
          dev.upload(x, v);
          const xv = read(dev, x, rows * cols);
          fn(dev, { x, out: x, rows, cols }, { config: { BLOCK } }); // in place
          const got = read(dev, x, rows * cols);
          const ref = refSoftmax(xv, rows, cols, 1, log);
          const live = 3 * cols;
          const finite = (a: Float64Array) => a.subarray(0, live).map((y) => (Number.isFinite(y) ? y : -1e30));
          expect(relativeError(finite(got), finite(ref)), `${name} BLOCK ${BLOCK}`).toBeLessThan(TOLERANCE.f32);
          expect(got.subarray(0, live).every((y, i) => Number.isFinite(y) === Number.isFinite(ref[i]!))).toBe(true);
          expect(got.subarray(live).every(Number.isNaN), `${name}: a fully masked row is NaN`).toBe(true);
        }
      }
    });

    it('validates operands', async () => {
      const dev = await openDevice(target);
      const x = dev.alloc('f32', 12);
      const y = dev.alloc('f32', 12);
      expect(errorOf(() => softmax(dev, { x, out: y, rows: 4, cols: 4 }))).toMatch(
        /^softmax: 'x' holds 12 elements, but \(rows, cols\) = \(4, 4\) needs 16/,
      );
      expect(errorOf(() => logSoftmax(dev, { x, out: dev.alloc('i8', 12), rows: 3, cols: 4 }))).toMatch(
        /^logSoftmax: 'out' is i8; expected f32 or f16 or bf16/,
      );
      expect(errorOf(() => softmax(dev, { x, out: y, rows: 3, cols: 4, scale: Number.POSITIVE_INFINITY }))).toMatch(
        /^softmax: scale = Infinity must be a finite number/,
      );
      expect(errorOf(() => softmax(dev, { x, out: x.view(2, 10), rows: 2, cols: 4 }))).toMatch(
        /^softmax: 'out' partly overlaps 'x'/,
      );
      expect(errorOf(() => softmax(dev, { x, out: y, rows: 1.5, cols: 4 }))).toMatch(
        /^softmax: rows = 1.5 must be an integer ≥ 0/,
      );
    });

    it.runIf(isSimulator(target))(
      'is memory-bound on large shapes in timing-only mode (one tile per row, and two passes)',
      async () => {
        const td = await openDevice(target, 'timing');
        for (const [rows, cols] of [
          [4096, 4096],
          [1024, 1 << 16],
        ] as const) {
          const x = td.alloc('bf16', rows * cols);
          for (const fn of [softmax, logSoftmax]) {
            const r = fn(td, { x, out: x, rows, cols });
            expect(r.timing.bound, `${r.kernel} ${rows}×${cols}`).toBe('memory');
            expect(r.cost.programs).toBeLessThanOrEqual(65535);
          }
        }
      },
    );
  });
}
