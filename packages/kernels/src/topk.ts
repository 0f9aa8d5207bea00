/**
 * Top-k along the last axis of x (rows, cols): values (rows, k) largest first and their column indices (rows, k, i32).
 *
 * Order: descending; ties go to the lower index, so results are deterministic and the same on every backend. NaN
 * ranks as +∞ (above every finite number, as `torch.topk` and `argmax` treat it; a NaN and a +∞ tie by index).
 *
 * One program walks rows in a grid-stride loop.
 * - Rows of at most BLOCK columns (BLOCK = the device's vector tile, 8192 on H100 and 910B): one tile, one stable
 *   descending `argsort`, the first k indices stored and their values gathered back from x. Any k ≤ cols.
 * - Longer rows: a blockwise merge. The current top k (their indices, kept in `indices` itself) occupy the first
 *   KP = nextPow2(k) lanes of a BLOCK-wide tile and the next BLOCK − KP columns of the row fill the rest; one argsort
 *   of that tile gives the top k of everything seen so far. Candidates always precede newer columns in the tile and
 *   argsort is stable, so ties still go to the lower index. Needs k ≤ BLOCK / 2 (checked).
 *
 * Offsets are i32: rows · cols and rows · k must stay below 2³¹ (checked).
 */
import { type Device, type DeviceBuffer, type LaunchResult, type Tile, tileKernel } from '@tessera/device';
import { check, checkBuffer, checkDims, FLOAT_DTYPES, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';

const I32_MAX = 2 ** 31 - 1;

export const topkKernel = tileKernel(
  {
    name: 'topk',
    params: {
      x: 'ptr',
      values: 'ptr',
      indices: 'ptr<i32>',
      rows: 'i32',
      cols: 'i32',
      k: 'i32',
      BLOCK: 'constexpr',
      KP: 'constexpr',
    },
  },
  (t, { x, values, indices, rows, cols, k, BLOCK, KP }) => {
    const lane = t.arange(0, BLOCK); // (BLOCK,)
    const top = lane.lt(k); // the lanes that hold the result after a descending sort (and the candidates' lanes)
    // Sort key: NaN → +∞; lanes that hold nothing → NaN, which a descending argsort puts last.
    const keyOf = (v: Tile, valid: Tile) =>
      t.where(valid, t.where(t.isnan(v), Number.POSITIVE_INFINITY, v), Number.NaN);
    const width = BLOCK - KP; // new columns per merge step
    const isCand = lane.lt(KP);
    const freshLane = KP > 0 ? lane.ge(KP) : null; // the lanes new columns fill (merging only)
    const single = KP === 0 ? lane.lt(cols) : null; // KP is a constexpr: which path is known at compile time
    for (let r = t.programId(0); r < rows; r += t.numPrograms(0)) {
      const base = r * cols;
      const outBase = r * k;
      let gidx: Tile; // (BLOCK,) column index of each sorted lane (the first k matter)
      if (single !== null) {
        const v = t.load(x, lane.add(base), { mask: single });
        gidx = t.argsort(keyOf(v, single), { descending: true });
        t.store(indices, lane.add(outBase), gidx, { mask: top });
      } else {
        /** One merge step: the top k of the candidates `cand` (the top k so far; none at c = 0) and columns c …. */
        const merge = (c: number, cand: Tile | null): Tile => {
          const col = lane.add(c - KP); // the column each fresh lane reads
          const fresh = freshLane!.and(col.lt(cols));
          const idx = cand !== null ? t.where(isCand, cand, col) : col;
          const valid = cand !== null ? top.or(fresh) : fresh;
          const v = t.load(x, idx.add(base), { mask: valid });
          const order = t.argsort(keyOf(v, valid), { descending: true }); // positions in this tile
          const fromCand = order.lt(KP);
          const prev = t.load(indices, order.add(outBase), { mask: top.and(fromCand) });
          const merged = t.where(fromCand, prev, order.add(c - KP));
          t.store(indices, lane.add(outBase), merged, { mask: top });
          return merged;
        };
        // Rows here are longer than BLOCK, so the first step always runs; it has no candidates. The number of
        // further steps depends on cols, a runtime value: a runtime loop, each step reading back the candidates.
        gidx = merge(0, null);
        for (let c = width; c < cols; c += width) gidx = merge(c, t.load(indices, lane.add(outBase), { mask: top }));
      }
      t.store(values, lane.add(outBase), t.load(x, gidx.add(base), { mask: top }), { mask: top });
    }
  },
);

export interface TopKArgs {
  /** (rows, cols) input, f32, f16 or bf16. */
  x: DeviceBuffer;
  /** (rows, k) output values, largest first (f32, f16 or bf16; converted on store). */
  values: DeviceBuffer;
  /** (rows, k) i32 output column indices. */
  indices: DeviceBuffer;
  rows: number;
  cols: number;
  k: number;
}

/** Largest BLOCK topk uses on `dev` (rows up to this many columns take one sort; longer rows need k ≤ BLOCK / 2). */
export function topkBlock(dev: Device): number {
  return maxVectorBlock(dev.properties, 4);
}

export function topk(
  dev: Device,
  a: TopKArgs,
  options: OpOptions & { config?: { BLOCK?: number } } = {},
): LaunchResult {
  const op = 'topk';
  checkDims(op, { rows: a.rows });
  checkDims(op, { cols: a.cols, k: a.k }, 1);
  check(a.k <= a.cols, op, `k = ${a.k} must be at most cols = ${a.cols}.`);
  checkBuffer(op, 'x', a.x, {
    shape: [a.rows, a.cols],
    shapeText: `(rows, cols) = (${a.rows}, ${a.cols})`,
    dtypes: FLOAT_DTYPES,
  });
  const outText = `(rows, k) = (${a.rows}, ${a.k})`;
  checkBuffer(op, 'values', a.values, { shape: [a.rows, a.k], shapeText: outText, dtypes: FLOAT_DTYPES });
  checkBuffer(op, 'indices', a.indices, { shape: [a.rows, a.k], shapeText: outText, dtypes: ['i32'] });
  check(a.rows * a.cols <= I32_MAX, op, `rows · cols = ${a.rows * a.cols} must stay below 2³¹ (i32 offsets).`);
  const max = options.config?.BLOCK ?? topkBlock(dev);
  check(Number.isInteger(Math.log2(max)) && max >= 2, op, `config.BLOCK = ${max} must be a power of two ≥ 2.`);
  let BLOCK = max;
  let KP = 0;
  if (a.cols <= max) BLOCK = nextPow2(a.cols);
  else {
    KP = nextPow2(a.k);
    check(
      KP <= max / 2,
      op,
      `k = ${a.k} is too large for rows of ${a.cols} columns: rows longer than ${max} columns are merged blockwise, ` +
        `which supports k ≤ ${max / 2} on ${dev.properties.name}.`,
      'Use a smaller k, or sort the rows instead.',
    );
  }
  return dev.launch(
    topkKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, a.rows)), stream: options.stream },
    { x: a.x, values: a.values, indices: a.indices, rows: a.rows, cols: a.cols, k: a.k, BLOCK, KP },
  );
}
