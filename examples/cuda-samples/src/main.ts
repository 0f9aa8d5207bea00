/**
 * Runs every sample on one device of each simulated backend: first at small sizes in functional mode, checking every
 * kernel's result, then at scale in timing-only mode. Prints the modelled kernel time per device.
 * `pnpm --filter @tessera/examples-cuda-samples start`.
 */
// Importing a backend package registers it; runtimes then name their backend.
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
import { createRuntime, type Device, type ExecMode } from '@tessera/device';
import { atScale, type SampleResult, samples } from './index';

const targets = [
  { backend: 'nvidia-sim', device: 'h100' },
  { backend: 'nvidia-sim', device: 'a100' },
  { backend: 'ascend-sim', device: '910b2' },
];

/** Runs each sample on every target; returns, per sample, its result on each target. */
async function runAll(list: ReadonlyArray<(dev: Device) => SampleResult>, mode: ExecMode): Promise<SampleResult[][]> {
  const out: SampleResult[][] = [];
  for (const run of list) {
    const perTarget: SampleResult[] = [];
    for (const t of targets) {
      const rt = await createRuntime({ backend: t.backend, devices: t.device, mode });
      perTarget.push(run(rt.device(0)));
    }
    out.push(perTarget);
  }
  return out;
}

function table(results: SampleResult[][], marks: boolean): void {
  const rows: string[][] = [];
  for (const perTarget of results) {
    // Variants by name: a device may run fewer (warp-shuffle kernels need warps, which Ascend 910B/910C lack).
    const names = [...new Set(perTarget.flatMap((r) => r.variants.map((v) => v.name)))];
    for (const name of names) {
      const first = perTarget.flatMap((r) => r.variants).find((v) => v.name === name)!;
      const cells = perTarget.map((r) => {
        const x = r.variants.find((v) => v.name === name);
        if (!x) return `${'—'.padStart(11)}${marks ? '  ' : ''}`;
        return `${(x.modelledMs * 1000).toFixed(1).padStart(8)} µs${marks ? (x.ok ? ' ✓' : ' ✗') : ''}`;
      });
      rows.push([name, first.detail, ...cells]);
    }
  }
  const w0 = Math.max(6, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(4, ...rows.map((r) => r[1]!.length));
  const wc = rows[0]![2]!.length;
  console.log(`${'kernel'.padEnd(w0)}  ${'size'.padEnd(w1)}  ${targets.map((t) => t.device.padStart(wc)).join('  ')}`);
  for (const r of rows) console.log(`${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(w1)}  ${r.slice(2).join('  ')}`);
}

console.log('Small sizes, functional mode: every result checked against a float64 reference.\n');
const checked = await runAll(samples, 'functional');
table(checked, true);
const failed = checked.flat().flatMap((r) => r.variants.filter((v) => !v.ok));

console.log('\nAt scale, timing-only mode (nothing computed or checked): modelled time only.\n');
const scaled = await runAll(atScale, 'timing');
table(scaled, false);

const mm = scaled.find((perTarget) => perTarget[0]!.name === 'matrixMul')!;
const speedups = mm.map(
  (r, i) => `${(r.variants[0]!.modelledMs / r.variants[2]!.modelledMs).toFixed(1)}× on ${targets[i]!.device}`,
);
console.log(`\nmatrixMul ${mm[0]!.detail}: t.dot on f16 (matrix unit) vs the SIMT kernel: ${speedups.join(', ')}.`);

console.log(
  failed.length === 0
    ? 'Every result matches its float64 reference.'
    : `${failed.length} result(s) did not match: ${failed.map((v) => v.name).join('; ')}.`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
