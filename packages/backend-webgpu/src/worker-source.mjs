// Starts worker.ts from source (tests, `pnpm start` without a build): registers tsx in this worker, then loads it.
// Node 20 does not apply `--import` from a worker's execArgv, so the bridge points source-mode workers here.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
