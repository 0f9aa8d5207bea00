/**
 * The CLI's registration entry point: importing the simulated backends registers them (`nvidia-sim`, `ascend-sim`)
 * in `@tessera/device`'s registry. Both entry points (`index.ts`, `main.ts`) import it; everything else in the CLI
 * finds backends through the registry, by name.
 */
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
