// The registration entry point first: the tour finds its backends in the registry.
import './register-backends';
import { isTesseraError } from '@tessera/device';
import { selectBackends, tour } from './tour';

try {
  await tour(await selectBackends());
  console.log(
    '\nNext: `pnpm tessera devices`, `pnpm tessera bench gemm --device h100 --m 8192 --n 8192 --k 8192`, and examples/basics.',
  );
} catch (e) {
  if (!isTesseraError(e)) throw e;
  console.error(`tour: ${e.message}`); // e.g. TESSERA_BACKEND names a backend that is not registered
  process.exitCode = 1;
}
