// The registration entry point first: the tour finds its backends in the registry.
import './register-backends';
import { isTesseraError } from '@tessera/device';
import { backendFlag, selectBackends, tour } from './tour';

const argv = process.argv.slice(2);
try {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('Usage: pnpm tour [--backend <name>]   (or TESSERA_BACKEND=<name>; default: every simulated backend)');
  } else {
    const backends = await selectBackends(backendFlag(argv));
    await tour(backends);
    // On real hardware, the bench that measures; on the simulators, the one that models.
    const real = backends.find((b) => b.executor);
    console.log(
      real
        ? `\nNext: \`pnpm tessera devices --backend ${real.name}\`, \`pnpm tessera bench gemm --backend ${real.name} --dtype f32 --m 256 --n 256 --k 256\`, and examples/basics.`
        : '\nNext: `pnpm tessera devices`, `pnpm tessera bench gemm --device h100 --m 8192 --n 8192 --k 8192`, and examples/basics.',
    );
  }
} catch (e) {
  if (!isTesseraError(e)) throw e;
  console.error(`tour: ${e.message}`); // e.g. TESSERA_BACKEND names a backend that is not registered
  process.exitCode = 1;
}
