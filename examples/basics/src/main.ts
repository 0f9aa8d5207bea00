/**
 * Runs every example on one device of each simulated backend, checks each result, and prints the modelled time per
 * device. `pnpm --filter @tessera/examples-basics start`.
 */
// Importing a backend package registers it; runtimes then name their backend.
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
import { createRuntime } from '@tessera/device';
import { examples } from './index';

const targets = [
  { backend: 'nvidia-sim', device: 'h100' },
  { backend: 'nvidia-sim', device: 'a100' },
  { backend: 'ascend-sim', device: '910b2' },
];

const rows: string[][] = [];
let failed = 0;
for (const run of examples) {
  const row: string[] = [];
  let name = '';
  for (const t of targets) {
    const rt = await createRuntime({ backend: t.backend, devices: t.device });
    const r = run(rt.device(0));
    name = `${r.name} ${r.detail}`;
    if (!r.ok) failed++;
    row.push(`${(r.modelledMs * 1000).toFixed(1).padStart(8)} µs ${r.ok ? '✓' : '✗'}`);
  }
  rows.push([name, ...row]);
}
const w = Math.max(...rows.map((r) => r[0]!.length));
console.log(`${'example'.padEnd(w)}  ${targets.map((t) => t.device.padStart(13)).join('  ')}`);
for (const r of rows) console.log(`${r[0]!.padEnd(w)}  ${r.slice(1).join('  ')}`);
console.log(failed === 0 ? '\nEvery result matches its float64 reference.' : `\n${failed} result(s) did not match.`);
process.exitCode = failed === 0 ? 0 : 1;
