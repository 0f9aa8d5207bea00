import '../src/register-backends';
import { webgpuAvailability } from '@tessera/backend-webgpu';
import { isTesseraError } from '@tessera/device';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { backendFlag, selectBackends, tour } from '../src/tour';

// turbo passes TESSERA_BACKEND through from the caller's shell; these tests set it themselves.
const savedBackendEnv = process.env.TESSERA_BACKEND;
beforeEach(() => {
  delete process.env.TESSERA_BACKEND;
});
afterEach(() => {
  if (savedBackendEnv === undefined) delete process.env.TESSERA_BACKEND;
  else process.env.TESSERA_BACKEND = savedBackendEnv;
});

it('lists devices of both backends and runs vectorAdd correctly on each, with a modelled time', async () => {
  const lines: string[] = [];
  const backends = await selectBackends();
  expect(backends.map((b) => b.name)).toEqual(['nvidia-sim', 'ascend-sim']);
  await tour(backends, (l) => lines.push(l));
  const runs = lines.filter((l) => l.includes('µs modelled'));
  expect(runs.length).toBe(backends.reduce((n, b) => n + b.catalog().length, 0));
  for (const l of runs) expect(l).toMatch(/result correct/);
  // The same kernel, different modelled times: faster memory, faster kernel.
  const us = (id: string) => Number(/([\d.]+) µs modelled/.exec(runs.find((l) => l.includes(` ${id} `))!)![1]);
  expect(us('b200')).toBeLessThan(us('h100'));
  expect(us('h100')).toBeLessThan(us('a100'));
});

it('visits only the backend TESSERA_BACKEND names, and names the registered ones when it is unknown', async () => {
  process.env.TESSERA_BACKEND = 'ascend-sim';
  expect((await selectBackends()).map((b) => b.name)).toEqual(['ascend-sim']);
  process.env.TESSERA_BACKEND = 'cuda';
  const e = await selectBackends().catch((x: unknown) => x);
  expect(isTesseraError(e, 'NoBackend')).toBe(true);
  expect((e as Error).message).toMatch(
    /TESSERA_BACKEND names 'cuda'.*Registered backends: nvidia-sim, ascend-sim, webgpu/,
  );
});

it('takes --backend NAME (or --backend=NAME) as its one flag, and nothing else', () => {
  expect(backendFlag([])).toBeUndefined();
  expect(backendFlag(['--backend', 'webgpu'])).toBe('webgpu');
  expect(backendFlag(['--backend=ascend-sim'])).toBe('ascend-sim');
  expect(() => backendFlag(['--backend'])).toThrow(/--backend needs a backend name/);
  expect(() => backendFlag(['--device', 'h100'])).toThrow(/Unknown argument '--device'.*--backend <name>/);
});

// webgpu opens a real GPU: the tour visits it only when asked (in CI: Mesa's llvmpipe; skipped where none exists).
const gpu = webgpuAvailability();
if (!gpu.ok) console.warn(`SKIP: the tour on webgpu: ${gpu.reason}`);

it('leaves webgpu out unless asked; without an adapter, asking for it is a NoBackend error saying why', async () => {
  expect((await selectBackends()).map((b) => b.name)).not.toContain('webgpu');
  if (gpu.ok) {
    expect((await selectBackends('webgpu')).map((b) => b.name)).toEqual(['webgpu']);
    process.env.TESSERA_BACKEND = 'webgpu';
    expect((await selectBackends()).map((b) => b.name)).toEqual(['webgpu']);
    return;
  }
  const e = await selectBackends('webgpu').catch((x: unknown) => x);
  expect(isTesseraError(e, 'NoBackend')).toBe(true);
  expect((e as Error).message).toMatch(/^webgpu: /);
});

// Needs the tile kernels on webgpu (vectorAdd is one).
it.runIf(gpu.ok)(
  'runs vectorAdd on the adapter: the result is correct, the modelled and the measured time are printed',
  async () => {
    const lines: string[] = [];
    await tour(await selectBackends('webgpu'), (l) => lines.push(l));
    expect(lines.some((l) => l.startsWith('Backend webgpu: WebGPU through Dawn'))).toBe(true);
    const runs = lines.filter((l) => l.includes('µs modelled'));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatch(
      /^ {2}webgpu +\S+ +[\d.]+ µs modelled .* result correct {2}[\d.]+ µs measured \((timestamp-query|host-wall)\)$/,
    );
  },
);
