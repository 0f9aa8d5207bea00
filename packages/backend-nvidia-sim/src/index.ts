/**
 * @tessera/backend-nvidia-sim — simulated NVIDIA GPUs. Importing this module registers the backend as `nvidia-sim`.
 */
import { registerBackend } from '@tessera/device';
import { createNvidiaSimBackend } from './backend';

export { archOf, archParameters, type NvidiaArch } from './arch';
export { createNvidiaSimBackend } from './backend';
export { A100, B200, H100, H200, NVIDIA_CATALOG } from './catalog';
export { type Occupancy, occupancy } from './mapping';

registerBackend('nvidia-sim', createNvidiaSimBackend, { priority: 10 });
