/**
 * The kernel stack bundles for a browser (the kernel playground of the dashboard issue needs it): @tessera/device, the
 * two simulator backends and @tessera/kernels are bundled by esbuild for `platform: 'browser'` — no Node built-in
 * may be imported on that path — and the bundle runs in a fresh V8 context that has no `process` and no `require`,
 * computing a real kernel's result on both simulators.
 */
import vm from 'node:vm';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

const ENTRY = `
import { createRuntime } from '@tessera/device';
import { rmsnorm } from '@tessera/kernels';
import '@tessera/backend-nvidia-sim';
import '@tessera/backend-ascend-sim';
export async function demo() {
  const out = [];
  for (const [backend, device] of [['nvidia-sim', 'h100'], ['ascend-sim', '910c']]) {
    const dev = (await createRuntime({ backend, devices: device })).device(0);
    const [rows, cols] = [3, 100];
    const xs = Array.from({ length: rows * cols }, (_, i) => Math.sin(i) + 0.5);
    const x = dev.alloc('f32', rows * cols);
    const w = dev.alloc('f32', cols);
    const y = dev.alloc('f32', rows * cols);
    dev.upload(x, xs);
    dev.fill(w, 1);
    dev.fill(y, Number.NaN);
    const r = rmsnorm(dev, { x, weight: w, out: y, rows, cols, eps: 1e-6 });
    out.push({ device, y: Array.from(dev.download(y)), ms: r.ms, xs });
  }
  return out;
}
`;

it('bundles for the browser and runs kernels in a context without Node', async () => {
  const result = await build({
    stdin: { contents: ENTRY, resolveDir: import.meta.dirname, loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'Tessera',
    conditions: ['@tessera/source'],
    write: false,
    logLevel: 'silent',
  });
  // For platform 'browser' esbuild cannot resolve a static import of a Node built-in: the build would have thrown.
  expect(result.errors).toEqual([]);
  const code = result.outputFiles[0]!.text;
  const sandbox: Record<string, unknown> = {
    console,
    WebAssembly: (globalThis as { WebAssembly?: unknown }).WebAssembly,
    SharedArrayBuffer,
    Atomics,
    performance,
    TextEncoder,
    TextDecoder,
    setTimeout,
    queueMicrotask,
  };
  sandbox.globalThis = sandbox;
  sandbox.self = sandbox;
  vm.createContext(sandbox);
  vm.runInContext(code, sandbox);
  expect(vm.runInContext('typeof process', sandbox)).toBe('undefined');
  const runs = (await vm.runInContext('Tessera.demo()', sandbox)) as {
    device: string;
    y: number[];
    ms: number;
    xs: number[];
  }[];
  expect(runs.map((r) => r.device)).toEqual(['h100', '910c']);
  for (const r of runs) {
    expect(r.ms).toBeGreaterThan(0);
    for (let row = 0; row < 3; row++) {
      const xs = r.xs.slice(row * 100, row * 100 + 100);
      const rms = Math.sqrt(xs.reduce((a, v) => a + Math.fround(v) ** 2, 0) / 100 + 1e-6);
      for (let c = 0; c < 100; c++) expect(r.y[row * 100 + c]).toBeCloseTo(Math.fround(xs[c]!) / rms, 5);
    }
  }
});
