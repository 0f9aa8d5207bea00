/**
 * Streaming device-to-device copy: a persistent, grid-stride kernel (each program copies BLOCK-element blocks
 * pid, pid + programs, …) — the shape a bandwidth test uses, and what Ascend needs anyway (blocks ≤ cores).
 */
import {
  cdiv,
  type Device,
  type DeviceBuffer,
  type LaunchResult,
  type Stream,
  TesseraError,
  tileKernel,
} from '@tessera/device';
import { streamingGrid } from './config';

export const copyKernel = tileKernel(
  { name: 'copy', params: { src: 'ptr', dst: 'ptr', n: 'i64', BLOCK: 'constexpr' } },
  (t, { src, dst, n, BLOCK }) => {
    const S = t.tensor(src, [n]);
    const D = t.tensor(dst, [n]);
    const blocks = Math.ceil(n / BLOCK);
    for (let b = t.programId(0); b < blocks; b += t.numPrograms(0)) {
      t.storeBlock(D, [b * BLOCK], t.loadBlock(S, [b * BLOCK], [BLOCK])); // (BLOCK,)
    }
  },
);

/** Elements per block: 32 KiB of data, which fits a GPU block's registers and Ascend's 192 KiB Unified Buffer. */
const BLOCK_BYTES = 32 * 1024;

/** Copies `n` elements (default: all of `src`) from `src` to `dst` with the copy kernel. */
export function copy(
  dev: Device,
  src: DeviceBuffer,
  dst: DeviceBuffer,
  options: { n?: number; stream?: Stream } = {},
): LaunchResult {
  const n = options.n ?? src.length;
  if (src.dtype !== dst.dtype) {
    throw new TesseraError('InvalidValue', `copy: src is ${src.dtype} but dst is ${dst.dtype}.`, {
      hint: 'Use cast() to convert between dtypes.',
    });
  }
  if (!Number.isInteger(n) || n < 0 || n > src.length || n > dst.length) {
    throw new TesseraError(
      'InvalidValue',
      `copy: n = ${n} is more than src (${src.length}) or dst (${dst.length}) holds.`,
    );
  }
  const BLOCK = BLOCK_BYTES / (src.byteLength / Math.max(1, src.length) || 4);
  const grid = streamingGrid(dev.properties, cdiv(Math.max(n, 1), BLOCK));
  return dev.launch(copyKernel, { grid, stream: options.stream }, { src, dst, n, BLOCK });
}
