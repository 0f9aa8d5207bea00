import { randomInts, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { argmax, reduce } from '../src/reduce';
import { errorOf, FLOATS, poisoned, randomBuffer, read } from './helpers';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

/** float64 reference row reductions; argmax: first maximum, NaN the largest. */
function refReduce(x: ArrayLike<number>, rows: number, cols: number, op: 'sum' | 'max' | 'min' | 'argmax') {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = op === 'sum' ? 0 : x[r * cols]!;
    let at = 0;
    for (let c = op === 'sum' ? 0 : 1; c < cols; c++) {
      const v = x[r * cols + c]!;
      if (op === 'sum') acc += v;
      else if (Number.isNaN(acc)) break;
      else if (Number.isNaN(v) || (op === 'min' ? v < acc : v > acc)) {
        acc = v;
        at = c;
      }
    }
    out[r] = op === 'argmax' ? at : acc;
  }
  return out;
}

/** (rows, cols, BLOCK): one element, prime width, rows longer than a block, many short rows per block, empty. */
const SHAPES = [
  [1, 1, undefined],
  [7, 333, undefined],
  [3, 5000, 1024],
  [1000, 3, undefined],
  [130, 61, 256],
  [0, 5, undefined],
] as const;

for (const target of NUMERIC_TARGETS) {
  describe(`reduce and argmax on ${target.device}`, () => {
    for (const dtype of floatsFor(target, FLOATS)) {
      it(`sum, max and min match float64 (${dtype}; one block, several blocks, edge shapes)`, async () => {
        const dev = await openDevice(target);
        for (const [rows, cols, BLOCK] of SHAPES) {
          const [x, xv] = randomBuffer(dev, dtype, rows * cols, rows + cols, -3, 3);
          for (const op of ['sum', 'max', 'min'] as const) {
            const out = poisoned(dev, dtype, rows);
            reduce(dev, { x, out, rows, cols, op }, { config: BLOCK ? { BLOCK } : {} });
            const ref = refReduce(xv, rows, cols, op);
            expect(relativeError(read(dev, out, rows), ref), `${op} ${rows}×${cols}`).toBeLessThan(TOLERANCE[dtype]);
          }
        }
      });

      it(`argmax finds the first maximum (${dtype}; ties within and across blocks)`, async () => {
        const dev = await openDevice(target);
        for (const [rows, cols, BLOCK] of [...SHAPES, [5, 3000, 512]] as const) {
          // Few distinct values, so most rows have tied maxima, some in different blocks.
          const x = dev.alloc(dtype, Math.max(1, rows * cols));
          dev.upload(x, randomInts(rows * cols, rows * 3 + cols, -20, 20));
          const xv = read(dev, x, rows * cols);
          const out = dev.alloc('i32', Math.max(1, rows));
          dev.fill(out, -1);
          argmax(dev, { x, out, rows, cols }, { config: BLOCK ? { BLOCK } : {} });
          const ref = refReduce(xv, rows, cols, 'argmax');
          const got = read(dev, out, rows);
          expect(relativeError(got, ref), `${rows}×${cols}`).toBe(0);
          expect(Array.from(got), `${rows}×${cols}`).toEqual(Array.from(ref));
        }
      });
    }

    it('handles NaN, −∞ rows, ties across blocks and empty rows', async () => {
      const dev = await openDevice(target);
      const [rows, cols] = [4, 40];
      const v = new Float64Array(rows * cols).fill(1); // row 0: all equal → 0
      v[1 * cols + 25] = Number.NaN; // row 1: NaN in the second block
      v[1 * cols + 33] = Number.NaN;
      v[2 * cols + 3] = 5; // row 2: maxima in the first and third block
      v[2 * cols + 35] = 5;
      for (let c = 0; c < cols; c++) v[3 * cols + c] = Number.NEGATIVE_INFINITY; // row 3: all −∞ → 0
      const x = dev.alloc('f32', rows * cols);
      dev.upload(x, v);
      const idx = dev.alloc('i32', rows);
      argmax(dev, { x, out: idx, rows, cols }, { config: { BLOCK: 16 } });
      expect(Array.from(dev.download(idx))).toEqual([0, 25, 3, 0]);
      const mx = poisoned(dev, 'f32', rows);
      reduce(dev, { x, out: mx, rows, cols, op: 'max' }, { config: { BLOCK: 16 } });
      expect(Array.from(dev.download(mx))).toEqual([1, Number.NaN, 5, Number.NEGATIVE_INFINITY]);
      const sums = poisoned(dev, 'f32', 3);
      reduce(dev, { x, out: sums, rows: 3, cols: 0, op: 'sum' });
      expect(Array.from(dev.download(sums))).toEqual([0, 0, 0]);
    });

    it('validates operands', async () => {
      const dev = await openDevice(target);
      const x = dev.alloc('f32', 12);
      const y = dev.alloc('f32', 4);
      expect(errorOf(() => reduce(dev, { x, out: y, rows: 4, cols: 4, op: 'sum' }))).toMatch(
        /^reduce: 'x' holds 12 elements, but \(rows, cols\) = \(4, 4\) needs 16/,
      );
      expect(errorOf(() => reduce(dev, { x, out: y, rows: 5, cols: 2, op: 'max' }))).toMatch(
        /^reduce: 'out' holds 4 elements, but \(rows,\) = \(5,\) needs 5/,
      );
      expect(errorOf(() => reduce(dev, { x, out: y, rows: 3, cols: 4, op: 'mean' as 'sum' }))).toMatch(
        /^reduce: op = "mean" must be 'sum' or 'max' or 'min'/,
      );
      expect(errorOf(() => reduce(dev, { x, out: y, rows: 3, cols: 0, op: 'min' }))).toMatch(
        /^reduce: 'min' of an empty row \(cols = 0\) is undefined/,
      );
      expect(errorOf(() => reduce(dev, { x, out: x, rows: 3, cols: 4, op: 'sum' }))).toMatch(
        /^reduce: 'out' overlaps 'x'/,
      );
      expect(errorOf(() => argmax(dev, { x, out: y, rows: 3, cols: 4 }))).toMatch(
        /^argmax: 'out' is f32; expected i32/,
      );
      expect(errorOf(() => argmax(dev, { x: dev.alloc('i32', 12), out: y, rows: 3, cols: 4 }))).toMatch(
        /^argmax: 'x' is i32; expected f32 or f16 or bf16/,
      );
    });

    it('is memory-bound on a large shape in timing-only mode', async () => {
      const td = await openDevice(target, 'timing');
      const [rows, cols] = [4096, 8192];
      const x = td.alloc('bf16', rows * cols);
      for (const r of [
        reduce(td, { x, out: td.alloc('f32', rows), rows, cols, op: 'sum' }),
        reduce(td, { x, out: td.alloc('bf16', rows), rows, cols, op: 'max' }),
        argmax(td, { x, out: td.alloc('i32', rows), rows, cols }),
        reduce(td, { x, out: td.alloc('f32', rows * 1024), rows: rows * 1024, cols: 8, op: 'min' }),
      ]) {
        expect(r.timing.bound, r.kernel).toBe('memory');
        expect(r.cost.programs).toBeLessThanOrEqual(65535);
      }
    });
  });
}
