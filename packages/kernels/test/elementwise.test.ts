import { relativeError, TOLERANCE } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { add, gelu, mul, silu, siluAndMul } from '../src/elementwise';
import { erf64, errorOf, FLOATS, poisoned, randomBuffer, read } from './helpers';
import { floatsFor, isSimulator, NUMERIC_TARGETS, openDevice } from './setup';

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const refSilu = (v: number) => v * sigmoid(v);
const refGelu = (v: number) => 0.5 * v * (1 + erf64(v / Math.SQRT2));
const refGeluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));

/** (rows, cols, BLOCK override): one element, a prime-width ragged shape, rows longer than a block, many short rows, empty. */
const SHAPES = [
  [1, 1, undefined],
  [7, 333, undefined],
  [3, 5000, 1024],
  [130, 61, undefined],
  [0, 5, undefined],
] as const;

for (const target of NUMERIC_TARGETS) {
  describe(`elementwise on ${target.device}`, () => {
    for (const dtype of floatsFor(target, FLOATS)) {
      it(`add and mul match float64 (${dtype}; same shape, row vector, scalar; edge shapes)`, async () => {
        const dev = await openDevice(target);
        for (const [rows, cols, BLOCK] of SHAPES) {
          const n = rows * cols;
          const config = BLOCK ? { BLOCK } : {};
          const [a, av] = randomBuffer(dev, dtype, n, rows + cols, -3, 3);
          const [b, bv] = randomBuffer(dev, dtype, n, rows * 7 + cols, -3, 3);
          const [row, rv] = randomBuffer(dev, dtype, cols, cols + 11, -3, 3);
          for (const [name, fn, f] of [
            ['add', add, (x: number, y: number) => x + y],
            ['mul', mul, (x: number, y: number) => x * y],
          ] as const) {
            const cases = [
              ['same shape', b, (i: number) => bv[i]!],
              ['row vector', row, (i: number) => rv[i % cols]!],
              ['scalar', 0.375, () => 0.375],
            ] as const;
            for (const [what, bArg, bAt] of cases) {
              const out = poisoned(dev, dtype, n);
              fn(dev, { a, b: bArg, out, rows, cols }, { config });
              const ref = Float64Array.from(av, (x, i) => f(x, bAt(i)));
              expect(relativeError(read(dev, out, n), ref), `${name} ${what} ${rows}×${cols}`).toBeLessThan(
                TOLERANCE[dtype],
              );
            }
          }
        }
      });

      it(`silu and gelu (exact and tanh) match float64 (${dtype})`, async () => {
        const dev = await openDevice(target);
        for (const [n, BLOCK] of [
          [1, undefined],
          [1009, undefined],
          [5003, 1024],
          [0, undefined],
        ] as const) {
          const config = BLOCK ? { BLOCK } : {};
          const [x, xv] = randomBuffer(dev, dtype, n, n + 3, -5, 5);
          for (const [what, run, f] of [
            ['silu', (out: typeof x) => silu(dev, { x, out, n }, { config }), refSilu],
            ['gelu', (out: typeof x) => gelu(dev, { x, out, n }, { config }), refGelu],
            ['gelu tanh', (out: typeof x) => gelu(dev, { x, out, n, approximate: 'tanh' }, { config }), refGeluTanh],
          ] as const) {
            const out = poisoned(dev, dtype, n);
            run(out);
            expect(relativeError(read(dev, out, n), xv.map(f)), `${what} n=${n}`).toBeLessThan(TOLERANCE[dtype]);
          }
        }
      });

      it(`siluAndMul matches float64 (${dtype})`, async () => {
        const dev = await openDevice(target);
        for (const [rows, d, BLOCK] of SHAPES) {
          const [x, xv] = randomBuffer(dev, dtype, rows * 2 * d, rows + d, -4, 4);
          const out = poisoned(dev, dtype, rows * d);
          siluAndMul(dev, { x, out, rows, d }, { config: BLOCK ? { BLOCK } : {} });
          const ref = new Float64Array(rows * d);
          for (let r = 0; r < rows; r++)
            for (let c = 0; c < d; c++) ref[r * d + c] = refSilu(xv[r * 2 * d + c]!) * xv[r * 2 * d + d + c]!;
          expect(relativeError(read(dev, out, rows * d), ref), `${rows}×${d}`).toBeLessThan(TOLERANCE[dtype]);
        }
      });
    }

    it('mixes dtypes, runs in place, and leaves empty outputs alone', async () => {
      const dev = await openDevice(target);
      const [rows, cols] = [9, 45];
      const [a, av] = randomBuffer(dev, 'bf16', rows * cols, 1, -2, 2);
      const [b, bv] = randomBuffer(dev, 'f32', cols, 2, -2, 2);
      const out = poisoned(dev, 'f16', rows * cols);
      mul(dev, { a, b, out, rows, cols });
      const ref = Float64Array.from(av, (x, i) => x * bv[i % cols]!);
      expect(relativeError(read(dev, out, rows * cols), ref)).toBeLessThan(TOLERANCE.f16);
      add(dev, { a, b: a, out: a, rows, cols }); // a = a + a, in place
      expect(
        relativeError(
          read(dev, a, rows * cols),
          av.map((x) => 2 * x),
        ),
      ).toBeLessThan(TOLERANCE.bf16);
      const [x, xv] = randomBuffer(dev, 'f32', 100, 3, -3, 3);
      gelu(dev, { x, out: x, n: 100 });
      expect(relativeError(read(dev, x, 100), xv.map(refGelu))).toBeLessThan(TOLERANCE.f32);
      const empty = poisoned(dev, 'f32', 1);
      silu(dev, { x, out: empty, n: 0 });
      expect(Number.isNaN(read(dev, empty, 1)[0]!)).toBe(true);
    });

    it('validates operands', async () => {
      const dev = await openDevice(target);
      const x = dev.alloc('f32', 16);
      const y = dev.alloc('f32', 16);
      expect(errorOf(() => add(dev, { a: x, b: y, out: y, rows: 4, cols: 5 }))).toMatch(
        /^add: 'a' holds 16 elements, but \(rows, cols\) = \(4, 5\) needs 20/,
      );
      expect(errorOf(() => mul(dev, { a: x, b: dev.alloc('f32', 3), out: y, rows: 4, cols: 4 }))).toMatch(
        /^mul: 'b' holds 3 elements; it must be \(rows, cols\) = \(4, 4\) \(16 elements\) or a \(cols,\) = \(4,\) row vector/,
      );
      expect(errorOf(() => add(dev, { a: x, b: Number.NaN, out: y, rows: 4, cols: 4 }))).toMatch(
        /^add: scalar b = NaN must be a finite number/,
      );
      expect(errorOf(() => add(dev, { a: x, b: x.view(0, 4), out: x, rows: 4, cols: 4 }))).toMatch(
        /^add: 'out' overlaps 'b \(row vector\)'/,
      );
      expect(errorOf(() => silu(dev, { x: dev.alloc('i32', 16), out: y, n: 16 }))).toMatch(
        /^silu: 'x' is i32; expected f32 or f16 or bf16/,
      );
      expect(errorOf(() => silu(dev, { x, out: x.view(1, 15), n: 15 }))).toMatch(/^silu: 'out' partly overlaps 'x'/);
      expect(errorOf(() => gelu(dev, { x, out: y, n: 16, approximate: 'fast' as 'tanh' }))).toMatch(
        /^gelu: approximate = "fast" must be 'none' or 'tanh'/,
      );
      expect(errorOf(() => gelu(dev, { x, out: y, n: -1 }))).toMatch(/^gelu: n = -1 must be an integer ≥ 0/);
      expect(errorOf(() => siluAndMul(dev, { x, out: y, rows: 2, d: 5 }))).toMatch(
        /^siluAndMul: 'x' holds 16 elements, but \(rows, 2·d\) = \(2, 10\) needs 20/,
      );
      expect(errorOf(() => siluAndMul(dev, { x, out: x, rows: 2, d: 4 }))).toMatch(
        /^siluAndMul: 'out' overlaps 'x'; this operator cannot run in place/,
      );
      expect(errorOf(() => silu(dev, { x, out: y, n: 16 }, { config: { BLOCK: 0 } }))).toMatch(
        /^silu: config.BLOCK = 0 must be an integer ≥ 1/,
      );
    });

    it.runIf(isSimulator(target))(
      'is memory-bound on large shapes in timing-only mode, within the launch limits',
      async () => {
        const td = await openDevice(target, 'timing');
        const [rows, cols] = [8192, 8192];
        const a = td.alloc('bf16', rows * cols);
        const b = td.alloc('bf16', rows * cols);
        const out = td.alloc('bf16', rows * cols);
        const row = td.alloc('bf16', cols);
        const results = [
          add(td, { a, b, out, rows, cols }),
          mul(td, { a, b: row, out, rows, cols }),
          mul(td, { a, b: 0.5, out, rows, cols }),
          silu(td, { x: a, out, n: rows * cols }),
          gelu(td, { x: a, out, n: rows * cols }),
          gelu(td, { x: a, out, n: rows * cols, approximate: 'tanh' }),
          siluAndMul(td, { x: a, out, rows: rows / 2, d: cols }),
        ];
        for (const r of results) {
          expect(r.timing.bound, r.kernel).toBe('memory');
          expect(r.cost.programs).toBeLessThanOrEqual(65535);
        }
      },
    );
  });
}
