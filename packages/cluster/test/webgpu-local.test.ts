/**
 * `webgpu-local`: a topology for this machine's WebGPU adapter, its device taken from the webgpu backend's catalogue
 * when the cluster is created; `webgpu-localxN`: N ranks sharing the adapter, linked through host memory. The tests
 * that open the adapter skip with a visible message where there is none (in CI: Mesa's llvmpipe is there).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { webgpuAvailability } from '@tessera/backend-webgpu';
import { getBackend, tileKernel } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import {
  AUTO_DEVICE,
  BUILTIN_TOPOLOGIES,
  builtinTopology,
  createCluster,
  LOCAL_TOPOLOGIES,
  resolveTopology,
  systemPower,
  TopologyGraph,
  validateTopologySpec,
} from '../src/index';

describe('webgpu-local (no adapter needed)', () => {
  it('is a local topology of one rank whose device is the backend’s own, not a system one could project', () => {
    const spec = builtinTopology('webgpu-local');
    expect(spec).toBe(LOCAL_TOPOLOGIES['webgpu-local']);
    expect(spec).toMatchObject({ backend: 'webgpu', device: AUTO_DEVICE, nodes: 1, devicesPerNode: 1 });
    expect(BUILTIN_TOPOLOGIES['webgpu-local']).toBeUndefined(); // no power figure, no projections
    expect(new TopologyGraph(spec).ranks).toBe(1);
    expect(validateTopologySpec({ ...spec })).toBeDefined();
    expect(resolveTopology('WebGPU-Local')).toBe(spec);
  });

  it('webgpu-localxN is N ranks sharing the adapter, through host memory', () => {
    const x4 = builtinTopology('webgpu-localx4');
    expect(x4).toMatchObject({ name: 'webgpu-localx4', backend: 'webgpu', device: AUTO_DEVICE, devicesPerNode: 4 });
    expect(x4.scaleOut).toBeUndefined();
    const g = new TopologyGraph(x4);
    expect(g.ranks).toBe(4);
    expect(g.ranksPerDomain).toBe(4);
    expect(() => builtinTopology('webgpu-localx0')).toThrow(/1\.\.64/);
    expect(() => builtinTopology('webgpu-localx65')).toThrow(/1\.\.64/);
    expect(() => builtinTopology('nope')).toThrow(/local: webgpu-local/);
  });

  it('accepts backend webgpu and device auto in a spec file, and refuses other backends by name', () => {
    const spec = { ...builtinTopology('dgx-h100'), name: 'mine', backend: 'webgpu', device: 'auto' };
    expect(validateTopologySpec(spec).backend).toBe('webgpu');
    expect(() => validateTopologySpec({ ...spec, backend: 'cuda' })).toThrow(
      /'backend' must be "nvidia-sim", "ascend-sim" or "webgpu"/,
    );
  });

  it('refuses more ranks than the topology has, pointing at webgpu-localxN, before opening anything', async () => {
    await expect(createCluster({ topology: 'webgpu-local', ranks: 2 })).rejects.toThrow(
      /ranks = 2: 'webgpu-local' has 1 ranks.*webgpu-localx2/,
    );
  });

  it('has no system power, and says so without opening the adapter', async () => {
    await expect(systemPower('webgpu-local')).rejects.toThrow(/topology 'webgpu-local' has no system power/);
  });

  it('importing @tessera/cluster and running a simulated cluster never starts the GPU thread', async () => {
    // The GPU thread sets EGL_PLATFORM for Dawn when it starts; a fresh process shows whether it started.
    const script = [
      "const { createCluster } = await import('@tessera/cluster');",
      "const c = await createCluster({ topology: 'dgx-h100', ranks: 2 });",
      'const b = c.devices.map((d) => d.alloc("f32", 4));',
      'c.world.allReduce(b, b);',
      'process.stdout.write(JSON.stringify({ egl: process.env.EGL_PLATFORM ?? null, size: c.size }));',
    ].join('\n');
    const env = { ...process.env };
    delete env.EGL_PLATFORM;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=@tessera/source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), env, timeout: 60_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ egl: null, size: 2 });
  });
});

const gpu = webgpuAvailability();
if (!gpu.ok) console.warn(`SKIP: webgpu-local clusters on the adapter: ${gpu.reason}`);

describe.skipIf(!gpu.ok)('webgpu-local on the adapter', () => {
  const fill = tileKernel(
    { name: 'fill_rank', params: { out: 'ptr<f32>', value: 'f32', n: 'i32', BLOCK: 'constexpr' } },
    (t, { out, value, n, BLOCK }) => {
      const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
      t.store(out, offs, offs.add(value), { mask: offs.lt(n) });
    },
  );

  it('takes its device from the webgpu backend’s catalogue when the cluster is created', async () => {
    const adapter = (await getBackend('webgpu')).catalog()[0]!;
    const c = await createCluster({ topology: 'webgpu-local' });
    expect(c.size).toBe(1);
    expect(c.spec.device).toBe(adapter.id);
    expect(c.spec.backend).toBe('webgpu');
    expect(c.devices[0]!.properties.id).toBe(adapter.id);
  });

  it('webgpu-localx2: two ranks on one adapter, each with its own memory; kernels run on the GPU, collectives through host memory', async () => {
    const c = await createCluster({ topology: 'webgpu-localx2' });
    expect(c.size).toBe(2);
    const n = 64;
    const bufs = c.devices.map((d) => d.alloc('f32', n));
    const measured = c.devices.map((d, r) =>
      d.launch(fill, { grid: 2 }, { out: bufs[r]!, value: 100 * r, n, BLOCK: 32 }),
    );
    for (const m of measured) expect(m.measured?.ms).toBeGreaterThanOrEqual(0);
    c.world.allReduce(bufs, bufs);
    const want = Array.from({ length: n }, (_, i) => 100 + 2 * i);
    for (const [r, d] of c.devices.entries()) expect(Array.from(d.download(bufs[r]!)), `rank ${r}`).toEqual(want);
    // The link between the ranks is host memory: a modelled copy between them is a read-back and an upload.
    const us = c.memcpyPeer(bufs[1]!, bufs[0]!);
    expect(us).toBeGreaterThan(40);
  });
});
