/**
 * The tour's registration entry point: importing the simulated backends registers them (`nvidia-sim`, `ascend-sim`)
 * in `@tessera/device`'s registry. `main.ts` imports it once; the tour itself finds backends through the registry.
 */
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
