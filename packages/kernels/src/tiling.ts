/**
 * Block shapes and block walks shared by the row-wise and streaming operators (elementwise, reductions, softmax,
 * norms, RoPE). A (rows, cols) problem is cut into BR×BC blocks: BC covers a whole row when it fits in BLOCK elements
 * (so a row-wise op is a single pass), and several short rows then share one block (BR > 1), so a tensor of short
 * rows does not launch one tiny tile per row. Programs walk the blocks grid-stride (pid, pid + programs, …), which
 * keeps the grid within `streamingGrid` — Ascend accepts at most 65 535 programs per launch.
 */
import { deviceFunction, type Tile, type TileContext } from '@tessera/device';
import { check, checkDims, nextPow2 } from './common';

export interface BlockShape {
  /** Rows per block. */
  BR: number;
  /** Columns per block. */
  BC: number;
}

/**
 * BR×BC with BR·BC ≤ BLOCK: BC = the row rounded up to a power of two (at most BLOCK); BR = the rows that fit beside
 * it, at most the (rounded-up) row count. `cols` > BLOCK gives BR = 1 and BC = BLOCK (a row takes several blocks).
 */
export function blockShape(rows: number, cols: number, BLOCK: number): BlockShape {
  const BC = Math.min(nextPow2(cols), BLOCK);
  const BR = Math.max(1, Math.min(Math.floor(BLOCK / BC), nextPow2(rows)));
  return { BR, BC };
}

/** Validates a `config.BLOCK` override (an integer ≥ 1) or returns the default. */
export function blockOption(op: string, BLOCK: number | undefined, fallback: number): number {
  if (BLOCK === undefined) return fallback;
  checkDims(op, { 'config.BLOCK': BLOCK }, 1);
  return BLOCK;
}

/** Number of BR×BC blocks covering (rows, cols). */
export function blockCount(rows: number, cols: number, { BR, BC }: BlockShape): number {
  return Math.ceil(rows / BR) * Math.ceil(cols / BC);
}

/**
 * Calls `fn(r, c)` for the top-left corner of every BR×BC block this program owns, grid-stride, row-major order.
 * A device function: kernels call it with runtime sizes and the compiler inlines it (and `fn`) at the call.
 */
export const forEachBlock = deviceFunction(function forEachBlock(
  t: TileContext,
  rows: number,
  cols: number,
  BR: number,
  BC: number,
  fn: (r: number, c: number) => void,
): void {
  const nbc = Math.ceil(cols / BC);
  const blocks = Math.ceil(rows / BR) * nbc;
  for (let i = t.programId(0); i < blocks; i += t.numPrograms(0)) fn(Math.floor(i / nbc) * BR, (i % nbc) * BC);
});

/** Calls `fn(r)` for the first row of every BR-row block this program owns (row-wise ops: a block holds whole rows). */
export const forEachRowBlock = deviceFunction(function forEachRowBlock(
  t: TileContext,
  rows: number,
  BR: number,
  fn: (r: number) => void,
): void {
  const blocks = Math.ceil(rows / BR);
  for (let i = t.programId(0); i < blocks; i += t.numPrograms(0)) fn(i * BR);
});

/**
 * x (R, BC), the block of columns c … c + BC − 1 of rows `cols` long, with the columns past the row replaced by
 * `other`. Whether the block crosses the row's end is known only when the kernel runs (c is a runtime value), so
 * both paths return a tile of x's shape and dtype: x itself when the block lies inside the row (no mask op), else a
 * where() with the (1, BC) column mask.
 */
export const maskColumns = deviceFunction(function maskColumns(
  t: TileContext,
  x: Tile,
  c: number,
  cols: number,
  BC: number,
  other: number,
): Tile {
  return c + BC <= cols ? x : t.where(t.arange(0, BC).add(c).lt(cols).expandDims(0), x, other);
});

/** Throws unless `op`'s options name a known choice. */
export function checkChoice<T extends string>(op: string, name: string, v: T, choices: readonly T[]): void {
  check(
    choices.includes(v),
    op,
    `${name} = ${JSON.stringify(v)} must be ${choices.map((c) => `'${c}'`).join(' or ')}.`,
  );
}
