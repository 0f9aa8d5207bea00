/**
 * Block shapes and block walks shared by the row-wise and streaming operators (elementwise, reductions, softmax,
 * norms, RoPE). A (rows, cols) problem is cut into BR×BC blocks: BC covers a whole row when it fits in BLOCK elements
 * (so a row-wise op is a single pass), and several short rows then share one block (BR > 1), so a tensor of short
 * rows does not launch one tiny tile per row. Programs walk the blocks grid-stride (pid, pid + programs, …), which
 * keeps the grid within `streamingGrid` — Ascend accepts at most 65 535 programs per launch.
 */
import type { TileContext } from '@tessera/device';
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

/** Calls `fn(r, c)` for the top-left corner of every BR×BC block this program owns, grid-stride, row-major order. */
export function forEachBlock(
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
}

/** Calls `fn(r)` for the first row of every BR-row block this program owns (row-wise ops: a block holds whole rows). */
export function forEachRowBlock(t: TileContext, rows: number, BR: number, fn: (r: number) => void): void {
  const blocks = Math.ceil(rows / BR);
  for (let i = t.programId(0); i < blocks; i += t.numPrograms(0)) fn(i * BR);
}

/**
 * (1, BC) bool tile: which columns c … c + BC − 1 are inside a row of `cols`, or `null` when all are (no mask
 * needed). Depends on scalars only, so the branch is legal in a kernel.
 */
export function columnMask(t: TileContext, c: number, cols: number, BC: number) {
  if (c + BC <= cols) return null;
  return t.arange(0, BC).add(c).lt(cols).expandDims(0);
}

/** Throws unless `op`'s options name a known choice. */
export function checkChoice<T extends string>(op: string, name: string, v: T, choices: readonly T[]): void {
  check(
    choices.includes(v),
    op,
    `${name} = ${JSON.stringify(v)} must be ${choices.map((c) => `'${c}'`).join(' or ')}.`,
  );
}
