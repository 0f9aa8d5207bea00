/**
 * Runs every example on one device of each simulated backend, checks each result, and prints the modelled time per
 * device. `pnpm --filter @tessera/examples-basics start`.
 *
 * `--backend NAME` (or `TESSERA_BACKEND=NAME`) runs them on that backend's devices instead: `--backend webgpu` on this
 * machine's GPU through WebGPU (Mesa's software rasteriser where there is none), printing what the GPU measured next
 * to the modelled time.
 */
// Importing a backend package registers it; runtimes then name their backend. webgpu is opt-in: it opens the GPU
// only when a runtime names it.
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
import '@tessera/backend-webgpu';
import { createRuntime, getBackend, type Runtime, TesseraError } from '@tessera/device';
import { type ExampleResult, examples } from './index';

/** `--backend NAME` / `--backend=NAME`, else `TESSERA_BACKEND`; undefined: the simulated devices below. */
function chosenBackend(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--backend') {
      if (argv[i + 1] === undefined || argv[i + 1]!.startsWith('-')) {
        console.error('--backend needs a backend name, e.g. --backend webgpu.');
        process.exit(1);
      }
      return argv[i + 1];
    }
    if (argv[i]!.startsWith('--backend=')) return argv[i]!.slice('--backend='.length);
  }
  return process.env.TESSERA_BACKEND?.trim() || undefined;
}

/** What the hardware measured over the runtime's kernel launches (none on a simulator). */
function measured(rt: Runtime): { ms: number; by: string } | null {
  const kernels = rt.profiler.records.filter((a) => a.kind === 'kernel');
  if (kernels.length === 0 || kernels.some((k) => typeof k.args?.measuredMs !== 'number')) return null;
  return {
    ms: kernels.reduce((s, k) => s + (k.args!.measuredMs as number), 0),
    by: [...new Set(kernels.map((k) => String(k.args!.measuredBy)))].join('+'),
  };
}

const us = (ms: number) => `${(ms * 1000).toFixed(1).padStart(8)} µs`;

let targets: { backend: string; device: string }[] = [
  { backend: 'nvidia-sim', device: 'h100' },
  { backend: 'nvidia-sim', device: 'a100' },
  { backend: 'ascend-sim', device: '910b2' },
];
const chosen = chosenBackend(process.argv.slice(2));
if (chosen !== undefined) {
  try {
    const b = await getBackend(chosen);
    targets = b.catalog().map((d) => ({ backend: b.name, device: d.id }));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}

const rows: string[][] = [];
const methods = new Set<string>();
let failed = 0;
for (const run of examples) {
  const row: string[] = [];
  let name = run.name;
  for (const t of targets) {
    const rt = await createRuntime({ backend: t.backend, devices: t.device, profile: true });
    let r: ExampleResult;
    try {
      r = run(rt.device(0));
    } catch (e) {
      failed++;
      row.push(`${(e instanceof TesseraError ? e.code : 'error').padStart(11)} ✗`);
      console.error(`${run.name} on ${t.device}: ${(e as Error).message}`);
      continue;
    }
    name = `${r.name} ${r.detail}`;
    if (!r.ok) failed++;
    const m = measured(rt);
    if (m) methods.add(m.by);
    row.push(`${us(r.modelledMs)}${m ? ` ${us(m.ms)}` : ''} ${r.ok ? '✓' : '✗'}`);
  }
  rows.push([name, ...row]);
}
const w = Math.max(...rows.map((r) => r[0]!.length));
const wc = Math.max(...rows.flatMap((r) => r.slice(1).map((c) => c.length)));
const header = targets.map((t) => (methods.size > 0 ? `${t.device}: modelled, measured` : t.device).padStart(wc));
console.log(`${'example'.padEnd(w)}  ${header.join('  ')}`);
for (const r of rows) console.log(`${r[0]!.padEnd(w)}  ${r.slice(1).join('  ')}`);
if (methods.size > 0)
  console.log(
    `\nMeasured: ${[...methods].join(', ')} (timestamp-query: GPU timestamps around the kernel; host-wall: the host's ` +
      "clock from submission to completion), one cold launch each. Modelled: the backend's model of this device.",
  );
console.log(
  failed === 0
    ? '\nEvery result matches its float64 reference.'
    : `\n${failed} result(s) did not match or did not run.`,
);
process.exitCode = failed === 0 ? 0 : 1;
