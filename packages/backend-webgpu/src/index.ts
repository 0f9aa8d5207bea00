/**
 * @tessera/backend-webgpu — Tessera kernels on real GPUs through WebGPU (Dawn in Node). Importing this module
 * registers the backend as `webgpu` (never the default: select it with `TESSERA_BACKEND=webgpu` or by name).
 */
import { registerBackend } from '@tessera/device';
import { createWebGpuBackend } from './backend';

export {
  type FaultRecord,
  type ProgramBuffer,
  type ProgramLaunch,
  type ProgramResult,
  runProgram,
} from '@tessera/device/wgsl';
export { createWebGpuBackend, webgpuAdapter, webgpuAvailability } from './backend';
export { type GpuHandle, openGpu } from './gpu/open';
export type { AdapterReport } from './protocol';

registerBackend('webgpu', createWebGpuBackend, { priority: -10 });
