import { isTesseraError } from '@tessera/device';
import { randomArray, randomInts, relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { embedding } from '../src/embedding';
import { floatsFor, NUMERIC_TARGETS, openDevice } from './setup';

/** float64 reference lookup; ids outside [0, vocab) give zero rows. */
function refEmbedding(table: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, dim: number): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    if (id < 0 || id >= vocab) continue;
    for (let d = 0; d < dim; d++) out[t * dim + d] = table[id * dim + d]!;
  }
  return out;
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
  describe(`embedding on ${target.device}`, () => {
    for (const dtype of floatsFor(target, ['f32', 'bf16', 'f16'] as const)) {
      it(`matches the float64 reference (${dtype}; edge shapes, small tiles)`, async () => {
        const dev = await openDevice(target);
        for (const [tokens, vocab, dim, config] of [
          [1, 1, 1, {}],
          [7, 13, 333, {}],
          [130, 101, 64, {}],
          [37, 50, 97, { BT: 4, BD: 16 }],
        ] as const) {
          const table = dev.alloc(dtype, vocab * dim);
          const ids = dev.alloc('i32', tokens);
          const out = dev.alloc(dtype, tokens * dim);
          dev.upload(table, randomArray(vocab * dim, vocab + dim, -2, 2));
          dev.upload(ids, randomInts(tokens, tokens + vocab, 0, vocab - 1));
          dev.fill(out, Number.NaN);
          embedding(dev, { table, ids, out, tokens, vocab, dim }, { config });
          const ref = refEmbedding(dev.download(table), dev.download(ids), vocab, dim);
          // A lookup copies: exact, whatever the dtype.
          expect(relativeError(dev.download(out), ref), `${tokens}×${vocab}×${dim}`).toBe(0);
        }
      });
    }

    it('writes zero rows for ids outside [0, vocab) instead of faulting, and converts to the output dtype', async () => {
      const dev = await openDevice(target);
      const [tokens, vocab, dim] = [9, 20, 40];
      const table = dev.alloc('f32', vocab * dim);
      dev.upload(table, randomArray(vocab * dim, 5, -1, 1));
      const ids = dev.alloc('i32', tokens);
      const idv = Int32Array.of(3, -1, 19, 20, 2 ** 31 - 1, -(2 ** 31), 0, 7, 1 << 26);
      dev.upload(ids, idv);
      const out = dev.alloc('bf16', tokens * dim);
      dev.fill(out, Number.NaN);
      embedding(dev, { table, ids, out, tokens, vocab, dim });
      const ref = refEmbedding(dev.download(table), idv, vocab, dim);
      const got = dev.download(out);
      expect(relativeError(got, ref)).toBeLessThan(TOLERANCE.bf16);
      for (const bad of [1, 3, 4, 5, 8])
        expect(Array.from(got.slice(bad * dim, (bad + 1) * dim))).toEqual(Array(dim).fill(0));
      // The device is still healthy: no sticky fault.
      expect(dev.getLastError()).toBeFalsy();
    });

    it('handles zero tokens, validates operands, and runs in timing-only mode', async () => {
      const dev = await openDevice(target);
      const table = dev.alloc('f32', 64);
      const ids = dev.alloc('i32', 4);
      embedding(dev, { table, ids, out: table, tokens: 0, vocab: 8, dim: 8 });
      expect(message(() => embedding(dev, { table, ids, out: table, tokens: 4, vocab: 16, dim: 8 }))).toMatch(
        /^embedding: 'table' holds 64 elements, but \(vocab, dim\) = \(16, 8\) needs 128/,
      );
      expect(message(() => embedding(dev, { table, ids: table, out: table, tokens: 4, vocab: 8, dim: 8 }))).toMatch(
        /^embedding: 'ids' is f32; expected i32/,
      );
      expect(message(() => embedding(dev, { table, ids, out: ids, tokens: 4, vocab: 8, dim: 1 }))).toMatch(
        /^embedding: 'out' is i32; expected f32 or f16 or bf16/,
      );
      expect(message(() => embedding(dev, { table, ids, out: table, tokens: 4, vocab: 8, dim: -1 }))).toMatch(
        /^embedding: dim = -1 must be an integer ≥ 0/,
      );
      const td = await openDevice(target, 'timing');
      const [tokens, vocab, dim] = [8192, 128256, 4096];
      const r = embedding(td, {
        table: td.alloc('bf16', vocab * dim),
        ids: td.alloc('i32', tokens),
        out: td.alloc('bf16', tokens * dim),
        tokens,
        vocab,
        dim,
      });
      expect(r.ms).toBeGreaterThan(0);
      expect(r.timing.bound).toBe('memory');
    });
  });
}
