import type { Device } from '@tessera/device';
import type { SampleResult } from './check';
import { runHistogram } from './histogram';
import { runMatrixMul } from './matrix-mul';
import { runReduction } from './reduction';
import { runScan } from './scan';
import { runSoftmax } from './softmax';
import { runTranspose } from './transpose';
import { runVectorAdd } from './vector-add';

export type { ExampleResult, SampleResult } from './check';
export { BINS, histogram256, histogramInput, histogramSynthetic, runHistogram, syntheticBin } from './histogram';
export { BLOCK_SIZE, matrixMulSimt, matrixMulTile, runMatrixMul } from './matrix-mul';
export { reduce0, reduce2, reduceShfl, reduceTile, runReduction } from './reduction';
export { prescan, runScan, uniformAdd } from './scan';
export { runSoftmax, softmaxSimt, softmaxTile } from './softmax';
export {
  BLOCK_ROWS,
  runTranspose,
  TILE_DIM,
  transposeCoalesced,
  transposeNaive,
  transposeNoBankConflicts,
  transposeTile,
} from './transpose';
export { runVectorAdd, vectorAdd } from './vector-add';

/** Every sample at a size a functional device runs in well under a second, each checking its own results. */
export const samples: ReadonlyArray<(dev: Device) => SampleResult> = [
  runVectorAdd,
  runMatrixMul,
  runReduction,
  runTranspose,
  runSoftmax,
  runScan,
  runHistogram,
];

/**
 * The same samples at sizes where the device, not the launch overhead, sets the time — for a timing-only device
 * (`createRuntime({ mode: 'timing' })`), which models them in a fraction of a second and checks nothing. vectorAdd
 * and reduction use 2²³ elements rather than the reduction sample's 2²⁴: one element per thread at 256 threads per
 * block would be 65 536 blocks, one more than Ascend's blockDim limit of 65 535.
 */
export const atScale: ReadonlyArray<(dev: Device) => SampleResult> = [
  (dev) => runVectorAdd(dev, 1 << 23),
  (dev) => runMatrixMul(dev, 2048, 2048, 2048),
  (dev) => runReduction(dev, 1 << 23),
  (dev) => runTranspose(dev, 4096, 4096),
  (dev) => runSoftmax(dev, 4096, 4096),
  (dev) => runScan(dev, 1 << 22),
  (dev) => runHistogram(dev, 1 << 24),
];

/** Kernels that need warps (warp intrinsics): launched only on devices with a warp size of 32. */
export const warpKernels: ReadonlySet<string> = new Set(['reduceShfl']);
