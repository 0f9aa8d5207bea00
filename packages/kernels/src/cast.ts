/**
 * Dtype conversion: out[i] = cast(x[i]) between any two of the device's dtypes (f32, f16, bf16, fp8 where the
 * device has it, i32, i16, i8, u8). The semantics are the tile language's `cast`: to a float, round to nearest even
 * (fp8 saturates); float → int truncates toward zero and saturates, NaN → 0 (CUDA's `cvt.rzi.sat`); int → narrower
 * int wraps (a C cast). A persistent grid-stride kernel over blocks, like `copy`.
 */
import { type Device, type DeviceBuffer, DTYPE_INFO, type DType, type LaunchResult, tileKernel } from '@tessera/device';
import { checkAliasing } from './alias';
import { checkBuffer, checkDims, nextPow2, type OpOptions } from './common';
import { maxVectorBlock, streamingGrid } from './config';
import { blockOption } from './tiling';

export const castKernel = tileKernel(
  { name: 'cast', params: { x: 'ptr', out: 'ptr', n: 'i64', BLOCK: 'constexpr' } },
  (t, { x, out, n, BLOCK }) => {
    const X = t.tensor(x, [n]);
    const O = t.tensor(out, [n]);
    for (let i = t.programId(0); i * BLOCK < n; i += t.numPrograms(0)) {
      t.storeBlock(O, [i * BLOCK], t.loadBlock(X, [i * BLOCK], [BLOCK]).cast(out.dtype)); // (BLOCK,)
    }
  },
);

/** Every dtype a buffer can have. */
export const ALL_DTYPES = Object.keys(DTYPE_INFO) as DType[];

export interface CastArgs {
  /** n elements of any dtype. */
  x: DeviceBuffer;
  /** n elements of any dtype; may be x itself when the dtypes have the same size. */
  out: DeviceBuffer;
  n: number;
}

/** out = cast(x, out.dtype), elementwise over n elements. */
export function cast(
  dev: Device,
  a: CastArgs,
  options: OpOptions & { config?: { BLOCK?: number } } = {},
): LaunchResult {
  const op = 'cast';
  checkDims(op, { n: a.n });
  const text = `(n,) = (${a.n},)`;
  checkBuffer(op, 'x', a.x, { shape: [a.n], shapeText: text, dtypes: ALL_DTYPES });
  checkBuffer(op, 'out', a.out, { shape: [a.n], shapeText: text, dtypes: ALL_DTYPES });
  checkAliasing(op, ['out', a.out, a.n], ['x', a.x, a.n], true);
  // Two tiles (the input and the converted one) live at a time; size them as f32, the widest a tile holds.
  const BLOCK = Math.min(blockOption(op, options.config?.BLOCK, maxVectorBlock(dev.properties, 2)), nextPow2(a.n));
  return dev.launch(
    castKernel,
    { grid: streamingGrid(dev.properties, Math.max(1, Math.ceil(a.n / BLOCK))), stream: options.stream },
    { x: a.x, out: a.out, n: a.n, BLOCK },
  );
}
