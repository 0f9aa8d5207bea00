import { isTesseraError } from '@tessera/device';
import { randomArray, randomInts, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { topk } from '../src/topk';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

/** float64 reference: per row, the k largest (NaN as +∞), ties to the lower index. */
function refTopk(x: ArrayLike<number>, rows: number, cols: number, k: number) {
  const values = new Float64Array(rows * k);
  const indices = new Int32Array(rows * k);
  const key = (v: number) => (Number.isNaN(v) ? Number.POSITIVE_INFINITY : v);
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: cols }, (_, i) => i).sort(
      (a, b) => key(x[r * cols + b]!) - key(x[r * cols + a]!) || a - b,
    );
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = order[j]!;
      values[r * k + j] = x[r * cols + order[j]!]!;
    }
  }
  return { values, indices };
}

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return isTesseraError(e) ? e.message : String(e);
  }
  return '';
};

for (const target of NUMERIC_TARGETS) {
  describe(`topk on ${target.device}`, () => {
    for (const dtype of floatsFor(target, ['f32', 'bf16', 'f16'] as const)) {
      it(`matches the float64 reference (${dtype}; one tile and blockwise merge, ties, edge shapes)`, async () => {
        const dev = await openDevice(target);
        for (const [rows, cols, k, BLOCK, ties] of [
          [1, 1, 1, undefined, false],
          [3, 7, 7, undefined, false], // k = cols
          [5, 333, 17, undefined, false],
          [4, 101, 1, undefined, true], // k = 1 with ties: the lowest index of the maximum
          [3, 1000, 10, 64, false], // merge: 64-wide tiles, 16 candidate lanes
          [2, 301, 32, 64, true], // merge with k = BLOCK / 2 and many ties
          [2, 257, 5, 16, true],
        ] as const) {
          const x = dev.alloc(dtype, rows * cols);
          const values = dev.alloc(dtype, rows * k);
          const indices = dev.alloc('i32', rows * k);
          // Ties: small integers, so many columns share a value.
          dev.upload(x, ties ? randomInts(rows * cols, cols, -4, 4) : randomArray(rows * cols, rows + cols, -3, 3));
          dev.fill(values, Number.NaN);
          dev.fill(indices, -1);
          topk(dev, { x, values, indices, rows, cols, k }, { config: BLOCK ? { BLOCK } : {} });
          const ref = refTopk(dev.download(x), rows, cols, k);
          const what = `${rows}×${cols}, k = ${k}, BLOCK ${BLOCK ?? 'auto'}`;
          expect(Array.from(dev.download(indices)), what).toEqual(Array.from(ref.indices));
          expect(relativeError(dev.download(values), ref.values), what).toBeLessThan(TOLERANCE[dtype]);
        }
      });
    }

    it('ranks NaN as +∞ and -∞ last, in one tile and in the merge', async () => {
      const dev = await openDevice(target);
      const cols = 40;
      const xs = Array.from(randomArray(cols, 3, -1, 1));
      xs[5] = Number.NaN;
      xs[30] = Number.NaN;
      xs[7] = Number.POSITIVE_INFINITY;
      xs[1] = Number.NEGATIVE_INFINITY;
      const x = dev.alloc('f32', cols);
      dev.upload(x, xs);
      const ref = refTopk(dev.download(x), 1, cols, cols);
      expect(Array.from(ref.indices.slice(0, 3))).toEqual([5, 7, 30]);
      expect(ref.indices[cols - 1]).toBe(1);
      for (const [k, BLOCK] of [
        [cols, undefined],
        [8, 16],
      ] as const) {
        const values = dev.alloc('f32', k);
        const indices = dev.alloc('i32', k);
        topk(dev, { x, values, indices, rows: 1, cols, k }, { config: BLOCK ? { BLOCK } : {} });
        expect(Array.from(dev.download(indices))).toEqual(Array.from(ref.indices.slice(0, k)));
        expect(Array.from(dev.download(values))).toEqual(Array.from(ref.values.slice(0, k)));
      }
    });

    it('handles zero rows, validates operands and its limit, and runs in timing-only mode', async () => {
      const dev = await openDevice(target);
      const x = dev.alloc('f32', 64);
      const idx = dev.alloc('i32', 64);
      topk(dev, { x, values: x, indices: idx, rows: 0, cols: 8, k: 2 });
      expect(message(() => topk(dev, { x, values: x, indices: idx, rows: 2, cols: 40, k: 2 }))).toMatch(
        /^topk: 'x' holds 64 elements, but \(rows, cols\) = \(2, 40\) needs 80/,
      );
      expect(message(() => topk(dev, { x, values: x, indices: x, rows: 2, cols: 8, k: 2 }))).toMatch(
        /^topk: 'indices' is f32; expected i32/,
      );
      expect(message(() => topk(dev, { x, values: x, indices: idx, rows: 2, cols: 8, k: 9 }))).toMatch(
        /^topk: k = 9 must be at most cols = 8/,
      );
      expect(message(() => topk(dev, { x, values: x, indices: idx, rows: 2, cols: 8, k: 0 }))).toMatch(
        /^topk: k = 0 must be an integer ≥ 1/,
      );
      expect(
        message(() => topk(dev, { x, values: x, indices: idx, rows: 1, cols: 64, k: 9 }, { config: { BLOCK: 16 } })),
      ).toMatch(/^topk: k = 9 is too large for rows of 64 columns: .* supports k ≤ 8/);
      const td = await openDevice(target, 'timing');
      const [rows, cols, k] = [64, 128000, 64];
      const r = topk(td, {
        x: td.alloc('bf16', rows * cols),
        values: td.alloc('bf16', rows * k),
        indices: td.alloc('i32', rows * k),
        rows,
        cols,
        k,
      });
      expect(r.ms).toBeGreaterThan(0);
    });
  });
}
