/**
 * `@tessera/device/wgsl`: the IR → WGSL lowerings and the contract their output follows (abi.ts), for back ends that
 * run kernels on WebGPU (`@tessera/backend-webgpu`).
 */
export * from './abi';
export { type LowerToWgslOptions, lowerToWgsl } from './lower';
export { type SimtToWgslOptions, simtToWgsl } from './simt';
export { type TileToWgslOptions, tileToWgsl } from './tile';
