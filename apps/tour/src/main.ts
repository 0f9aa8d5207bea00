import { createAscendSimBackend } from '@tessera/backend-ascend-sim';
import { createNvidiaSimBackend } from '@tessera/backend-nvidia-sim';
import { tour } from './tour';

await tour([createNvidiaSimBackend(), createAscendSimBackend()]);
console.log(
  '\nNext: `pnpm tessera devices`, `pnpm tessera bench gemm --device h100 --m 8192 --n 8192 --k 8192`, and examples/basics.',
);
