import { builtinTopology, createCluster, TopologyGraph } from '@tessera/cluster';
import type { TopologySummary, TopologyView } from '@tessera/dashboard';
import { describe, expect, it } from 'vitest';
import { linkUtilisation, topologyView } from '../../src/ui/index';
import { get, refuses } from './helpers';

describe('GET /api/topologies and /api/topology', () => {
  it('lists every built-in topology with its device, vendor and rank count', async () => {
    const list = (await get('/api/topologies')) as TopologySummary[];
    const byName = Object.fromEntries(list.map((t) => [t.name, t]));
    expect(Object.keys(byName)).toEqual([
      'dgx-a100',
      'dgx-h100',
      'hgx-h200',
      'hgx-h800',
      'nvl72',
      'atlas-800t-a2',
      'cloudmatrix384',
    ]);
    expect(byName['dgx-h100']).toMatchObject({ device: 'h100', vendor: 'nvidia', ranks: 8 });
    expect(byName['nvl72']).toMatchObject({ device: 'b200', vendor: 'nvidia', ranks: 72 });
    expect(byName['atlas-800t-a2']).toMatchObject({ device: '910b2', vendor: 'ascend', ranks: 8 });
    // CloudMatrix384: 384 packages of two 910C dies, each die its own rank.
    expect(byName['cloudmatrix384']).toMatchObject({ device: '910c', vendor: 'ascend', ranks: 768 });
  });

  it('views a switched and a meshed topology with the graph’s links and nodes', async () => {
    for (const name of ['dgx-h100', 'atlas-800t-a2', 'cloudmatrix384']) {
      const graph = new TopologyGraph(builtinTopology(name));
      const view = (await get('/api/topology', `name=${name}`)) as TopologyView;
      expect(view.links).toHaveLength(graph.links.length);
      const ends = new Set(graph.links.flatMap((l) => [l.from, l.to]));
      expect(view.nodes.map((n) => n.id).sort()).toEqual([...ends].sort());
      expect(view.nodes.filter((n) => n.kind === 'device')).toHaveLength(graph.ranks);
      expect(view.links.every((l) => !l.cut && l.degraded === 1 && l.utilisation === 0)).toBe(true);
    }
    // DGX H100: 8 GPUs on one NVSwitch (both directions: 16 links) and 8 rails of NICs to leaves (16) and leaves to
    // the spine (16): 48 links; 8 GPUs + the switch + 8 leaves + the spine: 18 nodes.
    const h100 = (await get('/api/topology', 'name=dgx-h100')) as TopologyView;
    expect({ links: h100.links.length, nodes: h100.nodes.length }).toEqual({ links: 48, nodes: 18 });
    expect(h100.links.find((l) => l.id === 'rank3→sw0')).toMatchObject({
      from: 'rank3',
      to: 'sw0',
      kind: 'scale-up',
      bandwidthGBs: 450,
    });
    expect(h100.nodes.find((n) => n.id === 'rank3')).toMatchObject({
      kind: 'device',
      rank: 3,
      label: 'h100:3',
      domain: 0,
    });
    expect(h100.nodes.find((n) => n.id === 'spine')).toMatchObject({ kind: 'switch', rank: null, domain: null });
    // Atlas 800T A2: a full HCCS mesh of 8 NPUs (56 links) plus the same fat-tree (32 links).
    const atlas = (await get('/api/topology', 'name=atlas-800t-a2')) as TopologyView;
    expect(atlas.links.filter((l) => l.kind === 'scale-up')).toHaveLength(56);
    expect(atlas.links.filter((l) => l.kind === 'scale-out')).toHaveLength(32);
  });

  it('shows a cluster’s faults: failed ranks, cut and degraded links, and the utilisation given', async () => {
    const cluster = await createCluster({ topology: 'dgx-a100', mode: 'timing' });
    cluster.failDevice(2);
    cluster.cutLink('rank5→sw0');
    cluster.degradeLink('sw0→rank1', 0.5);
    const bytes = new Float64Array(cluster.graph.links.length);
    const l0 = cluster.graph.findLinks('rank0→sw0')[0]!;
    const l1 = cluster.graph.findLinks('sw0→rank1')[0]!;
    bytes[l0.id] = 150e6; // 300 GB/s for 1 ms carries 300 MB: half busy
    bytes[l1.id] = 150e6; // at half its bandwidth: fully busy
    const view = topologyView(cluster, 'dgx-a100', {
      utilisation: linkUtilisation(cluster.graph, bytes, 1e-3),
      failedRanks: [6],
    });
    expect(view.nodes.filter((n) => n.failed).map((n) => n.rank)).toEqual([2, 6]);
    const link = (id: string) => view.links.find((l) => l.id === id)!;
    expect(link('rank5→sw0')).toMatchObject({ cut: true, degraded: 1 });
    expect(link('sw0→rank1')).toMatchObject({ cut: false, degraded: 0.5, utilisation: 1 });
    expect(link('rank0→sw0').utilisation).toBeCloseTo(0.5, 12);
    expect(view.links.filter((l) => l.utilisation > 0)).toHaveLength(2);
  });

  it('refuses a missing, repeated or unknown name, listing the built-in ones', async () => {
    await refuses(get('/api/topology'), 400, 'name', /Give one topology as \?name=….*dgx-h100/);
    await refuses(get('/api/topology', 'name=dgx-h100&name=nvl72'), 400, 'name', /got 2/);
    await refuses(
      get('/api/topology', 'name=dgx-h100x4'),
      400,
      'name',
      /Unknown topology 'dgx-h100x4'; one of: dgx-a100, .*cloudmatrix384/,
    );
  });
});
