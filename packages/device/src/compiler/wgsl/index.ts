/**
 * `@tessera/device/wgsl`: the IR → WGSL lowerings, the contract their output follows (abi.ts), and the runner that
 * dispatches a lowered kernel on any WebGPU device (run-program.ts, typed against gpu-api.ts) — for
 * `@tessera/backend-webgpu` (Dawn in Node) and the dashboard's playground (the browser's own WebGPU). Nothing here
 * touches Node or WebGPU globals, so it bundles for a browser.
 */
export * from './abi';
export * from './gpu-api';
export { type LowerToWgslOptions, lowerToWgsl } from './lower';
export {
  type BoundBuffer,
  compileProgram,
  type DispatchResult,
  dispatchProgram,
  type FaultRecord,
  type ProgramBuffer,
  type ProgramLaunch,
  type ProgramRegion,
  type ProgramResult,
  readBuffer,
  runProgram,
  uploadBuffer,
  WgslCompileError,
  writeHost,
} from './run-program';
export { type SimtToWgslOptions, simtToWgsl } from './simt';
export { type TileToWgslOptions, tileToWgsl } from './tile';
