/**
 * The tour's registration entry point: importing the backend packages registers them (`nvidia-sim`, `ascend-sim`,
 * `webgpu`) in `@tessera/device`'s registry. `main.ts` imports it once; the tour itself finds backends through the
 * registry. `webgpu` is opt-in: the tour visits it (and opens the GPU) only when asked for it by name.
 */
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
import '@tessera/backend-webgpu';
