/**
 * @tessera/kernels — the portable operator library. Each operator: a tile kernel written once, a host function that
 * validates shapes and dtypes and picks tiles for the device, and a float64 reference in the tests.
 */
export { chooseGemmConfig, type GemmConfig, gemmTileFits, streamingGrid } from './config';
export { copy, copyKernel } from './copy';
export { type GemmArgs, gemm, gemmKernel, type LaunchOptions } from './gemm';
