/**
 * The dashboard's registration entry point: importing the simulator packages registers them (`nvidia-sim`,
 * `ascend-sim`) in `@tessera/device`'s registry, where the kernel playground finds them by name. Nothing else in the
 * dashboard names a backend package (docs/architecture.md). WebGPU is not registered here: the playground drives the
 * visitor's GPU itself through `navigator.gpu` (playground/webgpu.ts), since @tessera/backend-webgpu opens Dawn in Node.
 *
 * The dashboard's package.json says `"sideEffects": false`, under which a bundler may drop a module imported only for
 * its effects. So this module also exports the names it registered, and the playground reads them: a used binding
 * keeps the module — and with it the two imports below, whose packages declare their own side effects — in the bundle.
 */
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';

/** The simulator backends this entry point registered, by registry name. */
export const REGISTERED_SIMULATORS: readonly string[] = Object.freeze(['nvidia-sim', 'ascend-sim']);
