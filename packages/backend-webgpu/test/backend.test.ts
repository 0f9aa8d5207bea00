/**
 * What the webgpu backend adds to the conformance suite: the adapter as a device, measured time beside modelled,
 * faults from the GPU's fault record, views of one allocation sharing GPU memory, grids beyond WebGPU's 65535
 * workgroups per dimension, the adapter's limits as launch checks, and the registry (`TESSERA_BACKEND=webgpu`).
 */
import { createRuntime, type Device, getBackend, simtKernel, TesseraError } from '@tessera/device';
import { randomArray } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { createWebGpuBackend, webgpuAvailability } from '../src/index';

const gpu = webgpuAvailability();
if (!gpu.ok) console.warn(`SKIP: webgpu backend tests: ${gpu.reason}`);
const run = gpu.ok ? describe : describe.skip;

const scale = simtKernel(
  { name: 'webgpu_scale', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32', a: 'f32' } },
  (k, { x, out, n, a }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) out.set(i, x.get(i) * a);
  },
);

/** Writes out[i + shift] (no guard on the shifted index): faults when shift runs past the end. */
const shifted = simtKernel(
  { name: 'webgpu_shifted_store', params: { out: 'ptr<f32>', n: 'i32', shift: 'i32' } },
  (k, { out, n, shift }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) out.set(i + shift, 1);
  },
);

async function device(mode: 'functional' | 'timing' = 'functional'): Promise<Device> {
  const rt = await createRuntime({ backend: await createWebGpuBackend(), mode });
  return rt.device(0);
}

function expectCode(fn: () => unknown, code: string, text?: RegExp): TesseraError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(TesseraError);
  const err = caught as TesseraError;
  expect(err.code).toBe(code);
  if (text) expect(err.message).toMatch(text);
  return err;
}

run('webgpu backend', () => {
  it('describes the adapter as a device: WebGPU limits, sourced figures', async () => {
    const b = await createWebGpuBackend();
    const d = b.catalog()[0]!;
    const limits = gpu.ok ? gpu.adapter.limits : {};
    expect(d.maxThreadsPerBlock).toBe(limits.maxComputeInvocationsPerWorkgroup);
    expect(d.onChip.sharedPerBlock).toBe(limits.maxComputeWorkgroupStorageSize);
    expect(d.name).toMatch(/WebGPU/);
    for (const f of ['peakTflops', 'memoryBytes', 'limits']) expect(d.sources[f], f).toBeTruthy();
    expect(d.memoryBytes).toBeGreaterThan(0);
  });

  it('runs a kernel on the GPU and reports measured time beside modelled time', async () => {
    const dev = await device();
    const n = 5000;
    const xv = randomArray(n, 7, -2, 2);
    const x = dev.alloc('f32', n);
    const out = dev.alloc('f32', n);
    dev.upload(x, xv);
    dev.fill(out, Number.NaN);
    const r = dev.launch(scale, { grid: Math.ceil(n / 128), block: 128 }, { x, out, n, a: 0.5 });
    const got = dev.download(out);
    for (let i = 0; i < n; i++) expect(got[i]).toBe(Math.fround(Math.fround(xv[i]!) * 0.5));
    expect(r.ms).toBeGreaterThan(0);
    expect(r.measured?.ms).toBeGreaterThan(0);
    expect(['timestamp-query', 'host-wall']).toContain(r.measured?.by);
  });

  it('timing-only launches model time and touch no GPU', async () => {
    const dev = await device('timing');
    const x = dev.alloc('f32', 1 << 20);
    const r = dev.launch(scale, { grid: 4096, block: 256 }, { x, out: x, n: 1 << 20, a: 2 });
    expect(r.ms).toBeGreaterThan(0);
    expect(r.measured).toBeUndefined();
  });

  it('views of one allocation share GPU memory within a launch', async () => {
    const dev = await device();
    const all = dev.alloc('f32', 300);
    dev.upload(
      all,
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    const src = all.view(0, 100);
    const dst = all.view(150, 100);
    dev.launch(scale, { grid: 1, block: 128 }, { x: src, out: dst, n: 100, a: 3 });
    const got = dev.download(all);
    expect(got[0]).toBe(1); // the source is intact
    expect(got[150]).toBe(3); // dst[i] = 3·src[i]
    expect(got[249]).toBe(300);
    expect(got[250]).toBe(251); // past the view: untouched
  });

  it('folds grids beyond 65535 workgroups per dimension', async () => {
    const dev = await device();
    const n = 70_000;
    const x = dev.alloc('f32', n);
    const out = dev.alloc('f32', n);
    dev.upload(x, randomArray(n, 3, 1, 2));
    dev.fill(out, Number.NaN);
    dev.launch(scale, { grid: n, block: 1 }, { x, out, n, a: 1 });
    expect(Array.from(dev.download(out))).toEqual(Array.from(dev.download(x)));
  });

  it('an out-of-bounds store is a sticky IllegalAddress naming block, thread and index', async () => {
    const dev = await device();
    const out = dev.alloc('f32', 64);
    dev.launch(shifted, { grid: 1, block: 64 }, { out, n: 64, shift: 0 });
    const err = expectCode(
      () => dev.launch(shifted, { grid: 1, block: 64 }, { out, n: 64, shift: 1 }),
      'IllegalAddress',
      /block \(0, 0, 0\) thread \(63, 0, 0\): write of .* at index 64 is out of bounds \(valid 0\.\.63\)/,
    );
    expect(err.sticky).toBe(true);
    expectCode(() => dev.alloc('f32', 4), 'IllegalAddress', /unusable/);
    dev.reset();
    const y = dev.alloc('f32', 4);
    dev.fill(y, 2);
    expect(Array.from(dev.download(y))).toEqual([2, 2, 2, 2]);
  });

  it("refuses blocks above the adapter's invocation limit before running", async () => {
    const dev = await device();
    const max = dev.properties.maxThreadsPerBlock;
    const x = dev.alloc('f32', 8);
    expect(() => dev.launch(scale, { grid: 1, block: max * 2 }, { x, out: x, n: 8, a: 1 })).toThrow(TesseraError);
    // the device is still usable
    dev.launch(scale, { grid: 1, block: 8 }, { x, out: x, n: 8, a: 1 });
  });

  it('binds as many buffers as the adapter allows per stage, and refuses one more naming the limit', async () => {
    const dev = await device();
    const limit = gpu.ok ? (gpu.adapter.limits.maxStorageBuffersPerShaderStage ?? 8) : 8;
    /** A kernel of `count` buffers, b0[i] = b1[i] + … (spelled out: the stager reads a kernel's source). */
    const wide = (count: number) => {
      const names = Array.from({ length: count }, (_, i) => `b${i}`);
      const params = Object.fromEntries([...names.map((n) => [n, 'ptr<f32>']), ['n', 'i32']]);
      const sum = names
        .slice(1)
        .map((n) => `p.${n}.get(i)`)
        .join(' + ');
      const body = new Function('k', 'p', `const i = k.threadIdx.x; p.b0.set(i, ${sum});`);
      const kernel = simtKernel({ name: `webgpu_wide${count}`, params }, body as Parameters<typeof simtKernel>[1]);
      const args = Object.fromEntries([...names.map((n) => [n, dev.alloc('f32', 4)]), ['n', 4]]);
      return { kernel, args, names };
    };
    // limit − 1 buffers and the fault record: exactly the limit.
    const fits = wide(limit - 1);
    for (const [j, n] of fits.names.slice(1).entries()) dev.upload(fits.args[n], new Float32Array(4).fill(j + 1));
    dev.fill(fits.args.b0, Number.NaN);
    dev.launch(fits.kernel, { grid: 1, block: 4 }, fits.args);
    expect(Array.from(dev.download(fits.args.b0))).toEqual(new Array(4).fill(((limit - 2) * (limit - 1)) / 2));
    // One more: refused before anything compiles, in the kernel's terms; the device goes on.
    const over = wide(limit);
    expectCode(
      () => dev.launch(over.kernel, { grid: 1, block: 4 }, over.args),
      'Unsupported',
      new RegExp(`webgpu_wide${limit}.*${limit + 1} storage buffers.*${limit}.*maxStorageBuffersPerShaderStage`),
    );
    const x = dev.alloc('f32', 8);
    dev.launch(scale, { grid: 1, block: 8 }, { x, out: x, n: 8, a: 1 });
  });

  it('registers as `webgpu` in the registry', async () => {
    const b = await getBackend('webgpu');
    expect(b.name).toBe('webgpu');
    expect(b.executor).toBeDefined();
  });
});
