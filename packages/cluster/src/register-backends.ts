/**
 * The cluster's registration entry point: importing the backend packages registers them (`nvidia-sim`, `ascend-sim`,
 * `webgpu`) in `@tessera/device`'s registry, where `createCluster` looks up the backend a topology names. The package
 * entry imports this module, so users of `@tessera/cluster` need not register anything themselves; the cluster's own
 * code only talks to the registry. `webgpu` opens its GPU only when a topology names it (`webgpu-local`).
 */
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
import '@tessera/backend-webgpu';
