/**
 * @tessera/backend-ascend-sim — simulated Huawei Ascend NPUs. Importing this module registers the backend as
 * `ascend-sim`.
 */
import { registerBackend } from '@tessera/device';
import { createAscendSimBackend } from './backend';

export { DAVINCI } from './arch';
export { createAscendSimBackend } from './backend';
export { ASCEND_910B2, ASCEND_910B4, ASCEND_910C, ASCEND_CATALOG } from './catalog';

registerBackend('ascend-sim', createAscendSimBackend, { priority: 5 });
