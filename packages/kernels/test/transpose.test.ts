import { relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { transpose } from '../src/transpose';
import { errorOf, FLOATS, poisoned, randomBuffer, read } from './helpers';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

/** float64 reference: (batch, rows, cols) → (batch, cols, rows). */
function refTranspose(x: ArrayLike<number>, batch: number, rows: number, cols: number): Float64Array {
  const y = new Float64Array(batch * rows * cols);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) y[(b * cols + j) * rows + i] = x[(b * rows + i) * cols + j]!;
  return y;
}

/** (batch, rows, cols, BLOCK): one element, primes, many tiles per side, skinny both ways, empty. */
const SHAPES = [
  [1, 1, 1, undefined],
  [1, 37, 53, undefined],
  [3, 130, 67, 16],
  [2, 1, 1000, undefined],
  [1, 1000, 3, undefined],
  [2, 61, 97, 32],
  [0, 4, 4, undefined],
  [2, 0, 5, undefined],
] as const;

for (const target of NUMERIC_TARGETS) {
  describe(`transpose on ${target.device}`, () => {
    for (const dtype of floatsFor(target, [...FLOATS, 'i8'] as const)) {
      it(`matches the reference exactly (${dtype}; batches, ragged tiles, skinny and empty shapes)`, async () => {
        const dev = await openDevice(target);
        for (const [batch, rows, cols, BLOCK] of SHAPES) {
          const n = batch * rows * cols;
          const [x, xv] = randomBuffer(dev, dtype, n, n + 1, -100, 100);
          const out = poisoned(dev, dtype, n);
          if (dtype === 'i8') dev.fill(out, -128);
          transpose(dev, { x, out, batch, rows, cols }, { config: BLOCK ? { BLOCK } : {} });
          const got = read(dev, out, n);
          const ref = refTranspose(xv, batch, rows, cols);
          const shape = `${batch}×${rows}×${cols}`;
          expect(relativeError(got, ref), shape).toBeLessThan(dtype === 'i8' ? 1e-12 : TOLERANCE[dtype]);
          expect(Array.from(got), shape).toEqual(Array.from(ref));
        }
      });
    }

    it('validates operands', async () => {
      const dev = await openDevice(target);
      const x = dev.alloc('f32', 12);
      const y = dev.alloc('f32', 12);
      expect(errorOf(() => transpose(dev, { x, out: y, rows: 4, cols: 4 }))).toMatch(
        /^transpose: 'x' holds 12 elements, but \(batch, rows, cols\) = \(1, 4, 4\) needs 16/,
      );
      expect(errorOf(() => transpose(dev, { x: dev.alloc('f32', 18), out: y, rows: 2, cols: 3, batch: 3 }))).toMatch(
        /^transpose: 'out' holds 12 elements, but \(batch, cols, rows\) = \(3, 3, 2\) needs 18/,
      );
      expect(errorOf(() => transpose(dev, { x, out: dev.alloc('bf16', 12), rows: 3, cols: 4 }))).toMatch(
        /^transpose: 'x' is f32 but 'out' is bf16; they must match/,
      );
      expect(errorOf(() => transpose(dev, { x, out: x, rows: 3, cols: 4 }))).toMatch(
        /^transpose: 'out' overlaps 'x'; this operator cannot run in place/,
      );
      expect(errorOf(() => transpose(dev, { x, out: y, rows: 3, cols: 4, batch: 0.5 }))).toMatch(
        /^transpose: batch = 0.5 must be an integer ≥ 0/,
      );
    });

    it('is memory-bound on a large shape in timing-only mode', async () => {
      const td = await openDevice(target, 'timing');
      const [batch, rows, cols] = [8, 4096, 4096];
      const r = transpose(td, {
        x: td.alloc('bf16', batch * rows * cols),
        out: td.alloc('bf16', batch * rows * cols),
        batch,
        rows,
        cols,
      });
      expect(r.timing.bound).toBe('memory');
      expect(r.cost.programs).toBeLessThanOrEqual(65535);
      expect(r.cost.total.bytesRead).toBe(batch * rows * cols * 2); // every element read once
    });
  });
}
