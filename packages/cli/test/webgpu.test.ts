/**
 * `webgpu` in the CLI: an opt-in backend (it opens a real GPU), created only when a command names it by `--backend`
 * or `TESSERA_BACKEND`; `tessera devices` lists its adapter, and `tessera bench … --backend webgpu` runs the kernel on
 * it and prints the measured time beside the modelled one (and the simulator's, when the adapter is a product a
 * simulator knows). The plumbing is checked first with a stand-in backend whose executor measures a fixed time; the
 * real adapter (in CI: Mesa's llvmpipe) after that, skipped with a visible message where none exists.
 */
import { webgpuAvailability } from '@tessera/backend-webgpu';
import { type Backend, createBackend, type DeviceProperties, registerBackend, removeBackend } from '@tessera/device';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../src/index';

// turbo passes TESSERA_BACKEND through from the caller's shell; these tests set it themselves.
const savedBackendEnv = process.env.TESSERA_BACKEND;
beforeEach(() => {
  delete process.env.TESSERA_BACKEND;
});
afterEach(() => {
  if (savedBackendEnv === undefined) delete process.env.TESSERA_BACKEND;
  else process.env.TESSERA_BACKEND = savedBackendEnv;
});

async function tessera(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('a backend on real hardware (a stand-in with an executor)', () => {
  // An H100 "adapter": nvidia-sim's catalogue entry under the id the webgpu backend gives a known product
  // (`<catalogue id>-<backend>`), modelled by nvidia-sim, whose executor runs nothing and measures 125 µs.
  let created = 0;
  beforeAll(() => {
    registerBackend(
      'fakegpu',
      async (): Promise<Backend> => {
        created++;
        const nv = await createBackend('nvidia-sim');
        const h100 = nv.catalog().find((d) => d.id === 'h100')!;
        const device: DeviceProperties = { ...h100, id: 'h100-fakegpu', name: `${h100.name} via a stand-in` };
        return {
          ...nv,
          name: 'fakegpu',
          description: 'a stand-in for a real GPU',
          catalog: () => [device],
          executor: { prepare: () => () => ({ ms: 0.125, by: 'timestamp-query' }) },
        };
      },
      { priority: -5 },
    );
  });
  afterAll(() => {
    removeBackend('fakegpu');
  });

  it('is created only when a command names it, and `tessera devices` says what it left out', async () => {
    const all = await tessera('devices');
    expect(all.code).toBe(0);
    expect(all.out).not.toMatch(/h100-fakegpu/);
    expect(all.out).toMatch(/^Not listed: fakegpu, webgpu — real hardware, opened only when named/m);
    const bench = await tessera('bench', 'gemm', '--device', 'h100', '--m', '64', '--n', '64', '--k', '64');
    expect(bench.code).toBe(0);
    expect(created).toBe(0);
    const named = await tessera('devices', '--backend', 'fakegpu', '--json');
    expect(JSON.parse(named.out).map((d: { id: string }) => d.id)).toEqual(['h100-fakegpu']);
    expect(created).toBe(1);
    process.env.TESSERA_BACKEND = 'fakegpu';
    expect(JSON.parse((await tessera('devices', '--json')).out)).toHaveLength(1);
    delete process.env.TESSERA_BACKEND;
    const unknown = await tessera('bench', 'gemm', '--device', 'h100-fakegpu', '--m', '1', '--n', '1', '--k', '1');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/Unknown device 'h100-fakegpu'.*name it with --backend or TESSERA_BACKEND=fakegpu/);
  });

  it('bench prints the measured time beside the modelled one, and what nvidia-sim models on the same product', async () => {
    const argv = ['--m', '256', '--n', '256', '--k', '256', '--dtype', 'f32'];
    const sim = JSON.parse((await tessera('bench', 'gemm', '--device', 'h100', ...argv, '--json')).out);
    const t = await tessera('bench', 'gemm', '--backend', 'fakegpu', '--iters', '3', ...argv, '--json');
    expect(t.code, t.err).toBe(0);
    const r = JSON.parse(t.out);
    expect(r).toMatchObject({ device: 'h100-fakegpu', backend: 'fakegpu', op: 'gemm', dtype: 'f32' });
    expect(r.measured).toEqual({
      ms: 0.125,
      min_ms: 0.125,
      by: 'timestamp-query',
      iterations: 3,
      tflops: (2 * 256 ** 3) / 0.125e-3 / 1e12,
    });
    expect(r.reference).toEqual({ backend: 'nvidia-sim', device: 'h100', simulated_ms: sim.simulated_ms });
    expect(r.simulated_ms).toBeGreaterThan(0);
    expect(r.notes).toBeUndefined(); // not a CPU

    const text = (await tessera('bench', 'gemm', '--backend', 'fakegpu', ...argv)).out;
    expect(text).toMatch(/^gemm 256×256×256 f32 on h100-fakegpu \(fakegpu\)$/m);
    expect(text).toMatch(
      /^ {2}measured time +125\.0 µs +\(GPU timestamps; median of 5 after a warm-up, min 125\.0 µs; /m,
    );
    expect(text).toMatch(/^ {2}modelled time +[\d.]+ µs$/m);
    expect(text).toMatch(/^ {2}nvidia-sim models [\d.]+ µs for the same launch on h100$/m);
    expect(text).toMatch(/^ {2}first launch +\d+ ms of wall time/m);
  });

  it('--device is optional with --backend (its first device) and TESSERA_BACKEND; otherwise it is asked for', async () => {
    const argv = ['bench', 'copy', '--bytes', '4K', '--json'];
    expect(JSON.parse((await tessera(...argv, '--backend', 'fakegpu')).out).device).toBe('h100-fakegpu');
    process.env.TESSERA_BACKEND = 'fakegpu';
    expect(JSON.parse((await tessera(...argv)).out).device).toBe('h100-fakegpu');
    delete process.env.TESSERA_BACKEND;
    const none = await tessera(...argv);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/bench needs --device <id> .* or --backend <name>/);
    const wrong = await tessera(...argv, '--backend', 'fakegpu', '--device', 'a100');
    expect(wrong.err).toMatch(/Backend 'fakegpu' has no device 'a100'/);
    expect((await tessera(...argv, '--backend', 'fakegpu', '--iters', '0')).err).toMatch(/--iters must be a positive/);
  });
});

const gpu = webgpuAvailability();

describe('the webgpu adapter', () => {
  it('`tessera devices --backend webgpu` and TESSERA_BACKEND=webgpu list it; without one: exit 1 with the reason', async () => {
    const t = await tessera('devices', '--backend', 'webgpu', '--json');
    if (!gpu.ok) {
      console.warn(`SKIP: listing the webgpu adapter: ${gpu.reason}`);
      expect(t.code).toBe(1);
      expect(t.err).toMatch(/^tessera: webgpu: /);
      return;
    }
    expect(t.code, t.err).toBe(0);
    const list = JSON.parse(t.out) as Array<{ id: string; backend: string; name: string; sources: object }>;
    expect(list).toHaveLength(1);
    const adapter = (await createBackend('webgpu')).catalog()[0]!;
    expect(list[0]).toMatchObject({ backend: 'webgpu', id: adapter.id, name: adapter.name });
    expect(list[0]!.name).toMatch(/via WebGPU on (Vulkan|OpenGL ES)/);
    const table = await tessera('devices', '--backend', 'WebGPU');
    expect(table.out).toMatch(new RegExp(`^\\| ${list[0]!.id} +\\| .* \\| webgpu +\\|`, 'm'));
    process.env.TESSERA_BACKEND = 'webgpu';
    const env = await tessera('devices', '--json');
    expect((JSON.parse(env.out) as Array<{ id: string }>).map((d) => d.id)).toEqual([list[0]!.id]);
  });

  // Needs the tile kernels on webgpu (every operator of @tessera/kernels is one).
  it.runIf(gpu.ok)(
    '`tessera bench softmax --backend webgpu` prints the measured GPU time next to the modelled one',
    async () => {
      const argv = ['bench', 'softmax', '--backend', 'webgpu', '--rows', '8', '--cols', '256', '--dtype', 'f32'];
      const t = await tessera(...argv, '--iters', '3', '--json');
      expect(t.code, t.err).toBe(0);
      const r = JSON.parse(t.out);
      expect(r).toMatchObject({ backend: 'webgpu', op: 'softmax', dtype: 'f32' });
      expect(r.simulated_ms).toBeGreaterThan(0);
      expect(r.measured.iterations).toBe(3);
      expect(r.measured.ms).toBeGreaterThan(0);
      expect(r.measured.min_ms).toBeLessThanOrEqual(r.measured.ms);
      expect(['timestamp-query', 'host-wall']).toContain(r.measured.by);
      const cpu = (await createBackend('webgpu')).catalog()[0]!.computeUnitName === 'CPU core';
      if (cpu) expect(r.notes.join(' ')).toMatch(/software rasteriser on the host CPU/);
      const text = (await tessera(...argv, '--iters', '2')).out;
      expect(text).toMatch(/^ {2}measured time +[\d.]+ (µs|ms) +\(/m);
      expect(text).toMatch(/^ {2}modelled time +[\d.]+ (µs|ms)$/m);
      if (cpu) expect(text).toMatch(/^ {2}note: .* is a software rasteriser on the host CPU/m);
    },
  );
});
if (!gpu.ok) console.warn(`SKIP: tessera bench on the webgpu adapter: ${gpu.reason}`);
