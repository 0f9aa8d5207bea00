/**
 * Runs every sample on one device of each simulated backend: first at small sizes in functional mode, checking every
 * kernel's result, then at scale in timing-only mode. Prints the modelled kernel time per device.
 * `pnpm --filter @tessera/examples-cuda-samples start`.
 *
 * `--backend NAME` (or `TESSERA_BACKEND=NAME`) runs them on that backend's devices instead: `--backend webgpu` on this
 * machine's GPU through WebGPU (Mesa's software rasteriser where there is none), printing what the GPU measured next
 * to the modelled time. Warp intrinsics need the adapter's `subgroups` feature there: without it reduceShfl is
 * Unsupported, and the reduction sample runs its other kernels.
 */
// Importing a backend package registers it; runtimes then name their backend. webgpu is opt-in: it opens the GPU
// only when a runtime names it.
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
import '@tessera/backend-webgpu';
import { createRuntime, type Device, type ExecMode, getBackend, type Runtime, TesseraError } from '@tessera/device';
import { atScale, runReduction, type SampleResult, samples, warpKernels } from './index';

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

/** What the hardware measured for a variant (the sum over its launches): only backends that run kernels on hardware. */
interface Measured {
  ms: number;
  by: string;
}

/**
 * Splits the runtime's kernel launches among the variants, in order (a variant's modelled time is the sum of its
 * launches'), and sums what each launch measured. Null for a variant whose launches measured nothing (a simulator).
 */
function measuredPerVariant(rt: Runtime, r: SampleResult): (Measured | null)[] {
  const kernels = rt.profiler.records.filter((a) => a.kind === 'kernel');
  let i = 0;
  return r.variants.map((v) => {
    let modelled = 0;
    let ms = 0;
    const by = new Set<string>();
    let all = true;
    while (i < kernels.length && modelled < v.modelledMs * (1 - 1e-9)) {
      const k = kernels[i++]!;
      modelled += k.timing?.ms ?? 0;
      if (typeof k.args?.measuredMs === 'number') {
        ms += k.args.measuredMs;
        by.add(String(k.args.measuredBy));
      } else all = false;
    }
    const matched = Math.abs(modelled - v.modelledMs) <= 1e-9 * v.modelledMs;
    return matched && all && by.size > 0 ? { ms, by: [...by].join('+') } : null;
  });
}

interface Outcome {
  result: SampleResult;
  measured: (Measured | null)[];
}

/** Targets (by device id) whose warp intrinsics were Unsupported: the kernels in `warpKernels` do not run there. */
const noWarps = new Map<string, string>();

/**
 * Runs each sample on every target; returns, per sample, its outcome on each target. A sample whose warp kernel is
 * Unsupported on a target (a WebGPU adapter without subgroups) runs again without it (the reduction sample is the
 * one with a warp kernel); any other error stops the run.
 */
async function runAll(list: ReadonlyArray<(dev: Device) => SampleResult>, mode: ExecMode): Promise<Outcome[][]> {
  const out: Outcome[][] = [];
  for (const run of list) {
    const perTarget: Outcome[] = [];
    for (const t of targets) {
      let rt = await createRuntime({ backend: t.backend, devices: t.device, mode, profile: true });
      let result: SampleResult;
      try {
        result = run(rt.device(0));
      } catch (e) {
        const warp = [...warpKernels].some((k) => (e as Error).message.includes(`kernel '${k}'`));
        if (!(e instanceof TesseraError && e.code === 'Unsupported' && warp && run === runReduction)) throw e;
        noWarps.set(t.device, e.message);
        rt = await createRuntime({ backend: t.backend, devices: t.device, mode, profile: true });
        result = runReduction(rt.device(0), undefined, false);
      }
      perTarget.push({ result, measured: measuredPerVariant(rt, result) });
    }
    out.push(perTarget);
  }
  return out;
}

const us = (ms: number) => `${(ms * 1000).toFixed(1).padStart(8)} µs`;

function table(results: Outcome[][], marks: boolean): void {
  const rows: string[][] = [];
  const measuring = results.some((perTarget) => perTarget.some((o) => o.measured.some((m) => m)));
  for (const perTarget of results) {
    // Variants by name: a device may run fewer (warp-shuffle kernels need warps, which Ascend 910B/910C lack).
    const names = [...new Set(perTarget.flatMap((o) => o.result.variants.map((v) => v.name)))];
    for (const name of names) {
      const first = perTarget.flatMap((o) => o.result.variants).find((v) => v.name === name)!;
      const cells = perTarget.map((o, ti) => {
        const i = o.result.variants.findIndex((v) => v.name === name);
        const x = o.result.variants[i];
        // A warp kernel on a target where warp intrinsics are Unsupported: not run (at scale, not modelled either).
        const dropped = noWarps.has(targets[ti]!.device) && [...warpKernels].some((k) => name.includes(k));
        if (!x || dropped) return `${'—'.padStart(11)}${measuring ? ' '.repeat(12) : ''}${marks ? '  ' : ''}`;
        const m = o.measured[i];
        const measuredCell = measuring ? ` ${m ? us(m.ms) : '—'.padStart(11)}` : '';
        return `${us(x.modelledMs)}${measuredCell}${marks ? (x.ok ? ' ✓' : ' ✗') : ''}`;
      });
      rows.push([name, first.detail, ...cells]);
    }
  }
  const w0 = Math.max(6, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(4, ...rows.map((r) => r[1]!.length));
  const wc = rows[0]![2]!.length;
  const heads = targets.map((t) => (measuring ? `${t.device}: modelled, measured` : t.device).padStart(wc));
  console.log(`${'kernel'.padEnd(w0)}  ${'size'.padEnd(w1)}  ${heads.join('  ')}`);
  for (const r of rows) console.log(`${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(w1)}  ${r.slice(2).join('  ')}`);
  const methods = new Set(results.flat().flatMap((o) => o.measured.flatMap((m) => (m ? [m.by] : []))));
  if (methods.size > 0)
    console.log(
      `\nMeasured: ${[...methods].join(', ')} (timestamp-query: GPU timestamps around each kernel; host-wall: the ` +
        "host's clock from submission to completion), one cold launch each, summed over a variant's launches.",
    );
  if (marks) for (const [device, why] of noWarps) console.log(`\nNot run on ${device} (—): ${why.split('. ')[0]}.`);
}

console.log('Small sizes, functional mode: every result checked against a float64 reference.\n');
const checked = await runAll(samples, 'functional');
table(checked, true);
const failed = checked.flat().flatMap((o) => o.result.variants.filter((v) => !v.ok));

console.log('\nAt scale, timing-only mode (nothing computed or checked): modelled time only.\n');
const scaled = await runAll(atScale, 'timing');
table(scaled, false);

const mm = scaled.find((perTarget) => perTarget[0]!.result.name === 'matrixMul')!.map((o) => o.result);
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
