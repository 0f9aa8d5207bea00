/**
 * Row reductions over the last axis: (rows, cols) → (rows,). `reduce` computes sum, max or min (sums accumulate in
 * f32; max and min are exact and propagate NaN); `argmax` gives the i32 index of each row's first maximum (a NaN
 * counts as the largest, as in PyTorch). A program takes BR whole rows at a time (BR > 1 for short rows); a row
 * longer than one tile is walked in BC-column blocks, carrying the running result — for argmax the best value and
 * its index, replaced only by a strictly larger value, so ties keep the earlier index.
 */
import { type Device, type DeviceBuffer, type LaunchResult, type Tile, tileKernel } from '@tessera/device';
import { checkAliasing } from './alias';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';
import { blockOption, blockShape, checkChoice, forEachRowBlock } from './tiling';

export type ReduceOp = 'sum' | 'max' | 'min';

function reduceKernel(op: ReduceOp) {
  // Padding outside the row is the op's identity, so partial blocks need no mask.
  const padding = op === 'sum' ? 0 : op === 'max' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return tileKernel(
    {
      name: `reduce_${op}`,
      uses: { op, padding, forEachRowBlock },
      params: { x: 'ptr', out: 'ptr', rows: 'i64', cols: 'i64', BR: 'constexpr', BC: 'constexpr' },
    },
    (t, { x, out, rows, cols, BR, BC }) => {
      const X = t.tensor(x, [rows, cols]);
      const O = t.tensor(out, [rows, 1]);
      forEachRowBlock(t, rows, BR, (r) => {
        let acc: Tile | null = null; // (BR, 1)
        // At least one block, so a sum over cols = 0 stores zeros.
        for (let c = 0; c === 0 || c < cols; c += BC) {
          const v = t.loadBlock(X, [r, c], [BR, BC], { padding }); // (BR, BC)
          const part = op === 'sum' ? v.cast('f32').sum(1, true) : op === 'max' ? v.max(1, true) : v.min(1, true);
          acc =
            acc === null ? part : op === 'sum' ? acc.add(part) : op === 'max' ? acc.maximum(part) : acc.minimum(part);
        }
        t.storeBlock(O, [r, 0], acc!);
      });
    },
  );
}

export const reduceKernels: Readonly<Record<ReduceOp, ReturnType<typeof reduceKernel>>> = {
  sum: reduceKernel('sum'),
  max: reduceKernel('max'),
  min: reduceKernel('min'),
};

export const argmaxKernel = tileKernel(
  {
    name: 'argmax',
    uses: { forEachRowBlock },
    params: { x: 'ptr', out: 'ptr<i32>', rows: 'i64', cols: 'i64', BR: 'constexpr', BC: 'constexpr' },
  },
  (t, { x, out, rows, cols, BR, BC }) => {
    const X = t.tensor(x, [rows, cols]);
    const O = t.tensor(out, [rows, 1]);
    forEachRowBlock(t, rows, BR, (r) => {
      /** (BR, 1) maximum and (BR, 1) i32 column of its first occurrence in the block at column c. */
      const block = (c: number) => {
        // −∞ padding never beats a value of the row (ties keep the earlier, real, index).
        const v = t.loadBlock(X, [r, c], [BR, BC], { padding: Number.NEGATIVE_INFINITY });
        return { m: v.max(1, true), i: v.argmax(1, true).add(c) };
      };
      // The first block starts the running maximum (cols ≥ 1), so it has a tile type before the loop.
      let { m: best, i: index } = block(0); // (BR, 1) running maximum, (BR, 1) i32 its column
      for (let c = BC; c < cols; c += BC) {
        const { m, i } = block(c);
        // Strictly larger, or the first NaN (NaN is the largest; a NaN already held stays).
        const take = m.gt(best).or(t.isnan(m).and(t.isnan(best).not()));
        index = t.where(take, i, index);
        best = t.where(take, m, best);
      }
      t.storeBlock(O, [r, 0], index);
    });
  },
);

export interface ReduceArgs {
  /** (rows, cols). */
  x: DeviceBuffer;
  /** (rows,); must not overlap x. */
  out: DeviceBuffer;
  rows: number;
  cols: number;
}

type ReduceOptions = OpOptions & { config?: { BLOCK?: number } };

function setup(op: string, dev: Device, a: ReduceArgs, outDtypes: readonly DeviceBuffer['dtype'][], o: ReduceOptions) {
  checkDims(op, { rows: a.rows, cols: a.cols });
  checkBuffer(op, 'x', a.x, {
    shape: [a.rows, a.cols],
    shapeText: `(rows, cols) = (${a.rows}, ${a.cols})`,
    dtypes: FLOAT_DTYPES,
  });
  checkBuffer(op, 'out', a.out, { shape: [a.rows], shapeText: `(rows,) = (${a.rows},)`, dtypes: outDtypes });
  checkAliasing(op, ['out', a.out, a.rows], ['x', a.x, a.rows * a.cols], false);
  const shape = blockShape(a.rows, a.cols, blockOption(op, o.config?.BLOCK, maxVectorBlock(dev.properties, 3)));
  const grid = streamingGrid(dev.properties, Math.max(1, Math.ceil(a.rows / shape.BR)));
  return { shape, grid };
}

/** out[r] = op(x[r, :]) for op = 'sum' (f32 accumulation; 0 for an empty row), 'max' or 'min'. */
export function reduce(dev: Device, a: ReduceArgs & { op: ReduceOp }, options: ReduceOptions = {}): LaunchResult {
  checkChoice('reduce', 'op', a.op, ['sum', 'max', 'min']);
  const { shape, grid } = setup('reduce', dev, a, FLOAT_DTYPES, options);
  check(a.op === 'sum' || a.cols > 0 || a.rows === 0, 'reduce', `'${a.op}' of an empty row (cols = 0) is undefined.`);
  return dev.launch(
    reduceKernels[a.op],
    { grid, stream: options.stream },
    { x: a.x, out: a.out, rows: a.rows, cols: a.cols, ...shape },
  );
}

/** out[r] = the index (i32) of the first maximum of x[r, :] (NaN counts as the largest). */
export function argmax(dev: Device, a: ReduceArgs, options: ReduceOptions = {}): LaunchResult {
  const { shape, grid } = setup('argmax', dev, a, ['i32'], options);
  check(a.cols > 0 || a.rows === 0, 'argmax', 'an empty row (cols = 0) has no maximum.');
  return dev.launch(
    argmaxKernel,
    { grid, stream: options.stream },
    { x: a.x, out: a.out, rows: a.rows, cols: a.cols, ...shape },
  );
}
