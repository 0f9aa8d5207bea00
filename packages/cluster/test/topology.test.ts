import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getBackend } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { BUILTIN_TOPOLOGIES, builtinTopology, createCluster, TopologyGraph, validateTopologySpec } from '../src/index';

describe('topologies', () => {
  it('builds every built-in with its rank count and device, and xN copies on a fat-tree', () => {
    const expect_ = {
      'dgx-a100': 8,
      'dgx-h100': 8,
      'hgx-h200': 8,
      'hgx-h800': 8,
      nvl72: 72,
      'atlas-800t-a2': 8,
      cloudmatrix384: 768,
    };
    for (const [name, ranks] of Object.entries(expect_)) {
      const g = new TopologyGraph(builtinTopology(name));
      expect(g.ranks, name).toBe(ranks);
      for (const s of [BUILTIN_TOPOLOGIES[name]!]) expect(Object.keys(s.sources ?? {}).length, name).toBeGreaterThan(0);
    }
    const x4 = builtinTopology('dgx-h100x4');
    expect(new TopologyGraph(x4).ranks).toBe(32);
    expect(x4.scaleUp.domainNodes).toBe(1);
    expect(() => builtinTopology('dgx-h1000')).toThrow(/Unknown topology.*Built in: .*cloudmatrix384/);
  });

  it('routes over the scale-up fabric inside a domain and over rails between domains', () => {
    const cm = new TopologyGraph(builtinTopology('cloudmatrix384'));
    expect(cm.route(0, 1).map((l) => l.name)).toEqual(['rank0→rank1']); // on-package die link
    expect(cm.route(0, 2).map((l) => l.name)).toEqual(['rank0→sw0', 'sw0→rank2']);
    expect(cm.route(0, 17).map((l) => l.name)).toEqual(['rank0→sw0', 'sw0→tier2-0', 'tier2-0→sw1', 'sw1→rank17']);
    const x2 = new TopologyGraph(builtinTopology('dgx-a100x2'));
    expect(x2.route(3, 11).map((l) => l.name)).toEqual(['rank3→leaf3', 'leaf3→rank11']);
    expect(x2.route(3, 12).map((l) => l.name)).toEqual(['rank3→leaf3', 'leaf3→spine', 'spine→leaf4', 'leaf4→rank12']);
  });

  it('loads JSON and YAML specs and names the bad field', async () => {
    const yaml = fileURLToPath(new URL('./fixtures/two-node-mesh.yaml', import.meta.url));
    const c = await createCluster({ topology: yaml, mode: 'timing' });
    expect(c.size).toBe(8);
    expect(c.graph.route(0, 5).some((l) => l.kind === 'scale-out')).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'topo-'));
    const json = join(dir, 'bad.json');
    writeFileSync(
      json,
      JSON.stringify({ ...BUILTIN_TOPOLOGIES['dgx-h100'], scaleUp: { kind: 'torus', bandwidthGBs: 1, latencyUs: 1 } }),
    );
    await expect(createCluster({ topology: json })).rejects.toThrow(
      /bad.json: 'scaleUp.kind' must be "switch" or "mesh"/,
    );
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'name: [unclosed');
    await expect(createCluster({ topology: broken })).rejects.toThrow(/not valid JSON or YAML/);
    expect(() => validateTopologySpec({ ...BUILTIN_TOPOLOGIES['dgx-h100'], nodes: 2, scaleOut: undefined })).toThrow(
      /'scaleOut' must be present/,
    );
    expect(() => validateTopologySpec({ ...BUILTIN_TOPOLOGIES['dgx-h100'], devicesPerNode: 0 })).toThrow(
      /'devicesPerNode' must be a positive integer/,
    );
    await expect(createCluster({ topology: 'dgx-h100', ranks: 9 })).rejects.toThrow(/has 8 ranks/);
    const h100 = BUILTIN_TOPOLOGIES['dgx-h100']!;
    expect(() => validateTopologySpec({ ...h100, scaleOut: { ...h100.scaleOut!, messageRateM: -1 } })).toThrow(
      /'messageRateM' must be a positive number/,
    );
  });

  it('finds the backend a topology names in the registry, which the package entry filled', async () => {
    const nv = await getBackend('nvidia-sim'); // registered by importing ../src/index
    const c = await createCluster({ topology: 'dgx-h100', ranks: 2, mode: 'timing' });
    expect(c.runtime.backend).toBe(nv);
    expect((await createCluster({ topology: 'atlas-800t-a2', ranks: 2, mode: 'timing' })).runtime.backend).toBe(
      await getBackend('ascend-sim'),
    );
    // A device added to the registry's backend can be a topology's device.
    nv.addDevice({ ...nv.catalog().find((d) => d.id === 'h100')!, id: 'h100-cluster-test', name: 'Test H100' });
    const custom = await createCluster({
      topology: { ...BUILTIN_TOPOLOGIES['dgx-h100']!, name: 'custom', device: 'h100-cluster-test' },
      mode: 'timing',
    });
    expect(custom.devices[0]!.properties.id).toBe('h100-cluster-test');
  });
});
