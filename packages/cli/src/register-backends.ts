/**
 * The CLI's registration entry point: importing the backend packages registers them (`nvidia-sim`, `ascend-sim`,
 * `webgpu`) in `@tessera/device`'s registry. Both entry points (`index.ts`, `main.ts`) import it; everything else in
 * the CLI finds backends through the registry, by name. Registering `webgpu` is cheap: it opens no GPU until a
 * command names it (`--backend webgpu`, `TESSERA_BACKEND=webgpu`), and it is never the default.
 */
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
import '@tessera/backend-webgpu';
