/**
 * Transpose: out (batch, cols, rows) = x (batch, rows, cols) with the last two axes swapped. Tiled: each program
 * walks BR×BC tiles grid-stride, loads one with a block load, swaps its axes with `trans()` (a register layout
 * change, free by design), and stores it as a BC×BR tile of the output — every global access is a whole block, as
 * in a shared-memory CUDA transpose or an Ascend `Transpose` through the Unified Buffer. Exact for every dtype.
 */
import { type Device, type DeviceBuffer, type LaunchResult, tileKernel } from '@tessera/device';
import { checkAliasing } from './alias';
import { ALL_DTYPES } from './cast';
import { checkBuffer, checkDims, checkSameDType, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';
import { blockOption } from './tiling';

export const transposeKernel = tileKernel(
  {
    name: 'transpose',
    params: { x: 'ptr', out: 'ptr', batch: 'i64', rows: 'i64', cols: 'i64', BR: 'constexpr', BC: 'constexpr' },
  },
  (t, { x, out, batch, rows, cols, BR, BC }) => {
    const X = t.tensor(x, [batch, rows, cols]);
    const Y = t.tensor(out, [batch, cols, rows]);
    const nbr = Math.ceil(rows / BR);
    const nbc = Math.ceil(cols / BC);
    const tiles = batch * nbr * nbc;
    for (let i = t.programId(0); i < tiles; i += t.numPrograms(0)) {
      const b = Math.floor(i / (nbr * nbc));
      const r = Math.floor(i / nbc) % nbr;
      const c = i % nbc;
      const tile = t.loadBlock(X, [b, r * BR, c * BC], [1, BR, BC]).trans(); // (1, BC, BR)
      t.storeBlock(Y, [b, c * BC, r * BR], tile);
    }
  },
);

export interface TransposeArgs {
  /** (batch, rows, cols), any dtype. */
  x: DeviceBuffer;
  /** (batch, cols, rows), x's dtype; must not overlap x. */
  out: DeviceBuffer;
  rows: number;
  cols: number;
  /** Leading batch dimension (default 1). */
  batch?: number;
}

/**
 * Tile sides: BLOCK×BLOCK (default 64×64, smaller if the device's on-chip budget demands), shrunk to a small matrix's
 * sides; a side cut short that way gives its area to the other, so a skinny matrix still moves BLOCK² elements per
 * tile.
 */
function tileShape(rows: number, cols: number, T: number): { BR: number; BC: number } {
  const area = T * T;
  const BC0 = Math.min(T, nextPow2(cols));
  const BR = Math.min(nextPow2(rows), Math.max(1, Math.floor(area / BC0)));
  const BC = Math.min(nextPow2(cols), Math.max(1, Math.floor(area / BR)));
  return { BR, BC };
}

/** out[b, j, i] = x[b, i, j]. */
export function transpose(
  dev: Device,
  a: TransposeArgs,
  options: OpOptions & { config?: { BLOCK?: number } } = {},
): LaunchResult {
  const op = 'transpose';
  const batch = a.batch ?? 1;
  checkDims(op, { batch, rows: a.rows, cols: a.cols });
  const n = batch * a.rows * a.cols;
  checkBuffer(op, 'x', a.x, {
    shape: [batch, a.rows, a.cols],
    shapeText: `(batch, rows, cols) = (${batch}, ${a.rows}, ${a.cols})`,
    dtypes: ALL_DTYPES,
  });
  checkBuffer(op, 'out', a.out, {
    shape: [batch, a.cols, a.rows],
    shapeText: `(batch, cols, rows) = (${batch}, ${a.cols}, ${a.rows})`,
    dtypes: ALL_DTYPES,
  });
  checkSameDType(op, ['x', a.x], ['out', a.out]);
  checkAliasing(op, ['out', a.out, n], ['x', a.x, n], false);
  const side = Math.min(64, 2 ** Math.floor(Math.log2(maxVectorBlock(dev.properties, 2)) / 2));
  const { BR, BC } = tileShape(a.rows, a.cols, blockOption(op, options.config?.BLOCK, side));
  const tiles = batch * Math.ceil(a.rows / BR) * Math.ceil(a.cols / BC);
  return dev.launch(
    transposeKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, tiles)), stream: options.stream },
    { x: a.x, out: a.out, batch, rows: a.rows, cols: a.cols, BR, BC },
  );
}
