/**
 * `pnpm bench` for this package: serves the embedded model in this process on a free port, runs the serving
 * benchmark (`tessera-serve bench`, vLLM's random dataset, with the batch-1 TTFT/TPOT rows) against it, then stops.
 * Extra arguments go to the bench command (e.g. `-- --num-prompts 64 --json`); `TESSERA_BACKEND` picks the backend.
 * `pnpm serve:bench` at the root benchmarks a server you started yourself.
 */
import { run, type ServingHandle } from '../src/main';

const io = { out: (t: string) => process.stdout.write(`${t}\n`), err: (t: string) => process.stderr.write(`${t}\n`) };
let handle: ServingHandle | null = null;
const backend = process.env.TESSERA_BACKEND === 'ascend-sim' ? 'ascend-sim' : 'nvidia-sim';
const served = await run(
  ['--port', '0', '--backend', backend, '--disable-log-requests'],
  { out: () => {}, err: io.err },
  {
    onListening: (h) => {
      handle = h;
    },
  },
);
const server = handle as ServingHandle | null;
if (served !== 0 || !server) process.exit(served || 1);
const extra = process.argv.slice(2).filter((a) => a !== '--');
const defaults = ['--num-prompts', '16', '--input-len', '32', '--output-len', '32', '--no-progress'];
let code = 1;
try {
  code = await run(['bench', '--base-url', server.url, ...defaults, ...extra], io);
} finally {
  await server.stop();
}
process.exit(code);
