/**
 * The tour: list the devices of every backend (or of the one asked for), run one kernel (vectorAdd) on each, check
 * the result and print the modelled time — and, on real hardware (`--backend webgpu`), the measured one. `tour`
 * prints through `print` so tests can read the lines.
 */
import { type Backend, cdiv, createRuntime, getBackend, listBackends, TesseraError, tileKernel } from '@tessera/device';

/**
 * The backends the tour visits, from the registry: the one `--backend` (`name`) or else `TESSERA_BACKEND` names, else
 * every registered backend that is not opt-in (highest priority first) — `webgpu` opens a real GPU, so the tour visits
 * it only when asked for it by name. A name that is not registered, or an empty registry, is a `NoBackend` error
 * listing the registered backends.
 */
export async function selectBackends(name?: string): Promise<Backend[]> {
  if (name?.trim()) return [await getBackend(name.trim())];
  const names = listBackends({ optIn: false });
  // getBackend() with no name reads TESSERA_BACKEND, and its error names the variable.
  if (process.env.TESSERA_BACKEND?.trim() || names.length === 0) return [await getBackend()];
  return Promise.all(names.map((n) => getBackend(n)));
}

/** `--backend NAME` / `--backend=NAME` from the tour's command line (its only flag); undefined when absent. */
export function backendFlag(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--backend') {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('-'))
        throw new TesseraError('InvalidValue', '--backend needs a backend name, e.g. --backend webgpu.', {
          hint: `Registered backends: ${listBackends().join(', ')}.`,
        });
      return v;
    }
    if (a.startsWith('--backend=')) return a.slice('--backend='.length);
    if (a === '--help' || a === '-h') continue;
    throw new TesseraError('InvalidValue', `Unknown argument '${a}'.`, {
      hint: `The tour takes one flag: --backend <name> (${listBackends().join(', ')}).`,
    });
  }
  return undefined;
}

const vectorAdd = tileKernel(
  { name: 'vector_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    t.store(out, offs, t.load(x, offs, { mask }).add(t.load(y, offs, { mask })), { mask });
  },
);

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(0)} GB`;

export async function tour(backends: readonly Backend[], print: (line: string) => void = console.log): Promise<void> {
  print('Tessera — write a kernel once, run it on simulated GPUs and NPUs.\n');
  for (const backend of backends) {
    print(`Backend ${backend.name}: ${backend.description}`);
    for (const d of backend.catalog()) {
      const bf16 = d.peakTflops.matrix.bf16 ?? d.peakTflops.matrix.f16;
      print(
        `  ${d.id.padEnd(10)} ${d.name.padEnd(34)} ${String(d.computeUnits).padStart(4)} ${d.computeUnitName}s  ` +
          `${gb(d.memoryBytes).padStart(7)}  ${(d.memoryBandwidthGBs / 1000).toFixed(2)} TB/s  ` +
          `${bf16 ? `${bf16} TFLOPS bf16` : ''}`,
      );
    }
  }
  print('\nvectorAdd of 1M floats (the same kernel source on every device):');
  const n = 1 << 20;
  const xs = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const ys = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
  for (const backend of backends) {
    for (const d of backend.catalog()) {
      const rt = await createRuntime({ backend, devices: d.id });
      const dev = rt.device(0);
      const [x, y, out] = [dev.alloc('f32', n), dev.alloc('f32', n), dev.alloc('f32', n)];
      dev.upload(x, xs);
      dev.upload(y, ys);
      const r = dev.launch(vectorAdd, { grid: cdiv(n, 4096) }, { x, y, out, n, BLOCK: 4096 });
      const res = dev.download(out);
      let ok = true;
      for (let i = 0; i < n; i++) if (res[i] !== Math.fround(xs[i]! + ys[i]!)) ok = false;
      const gbs = (3 * n * 4) / (r.ms * 1e6);
      // A backend on real hardware (webgpu) also reports what the launch took there.
      const measured = r.measured ? `  ${(r.measured.ms * 1000).toFixed(1)} µs measured (${r.measured.by})` : '';
      print(
        `  ${backend.name.padEnd(12)} ${d.id.padEnd(10)} ${(r.ms * 1000).toFixed(1).padStart(8)} µs modelled  ` +
          `${gbs.toFixed(0).padStart(5)} GB/s  (${r.timing.bound}-bound)  result ${ok ? 'correct' : 'WRONG'}${measured}`,
      );
    }
  }
}
