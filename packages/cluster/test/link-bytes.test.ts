import { describe, expect, it } from 'vitest';
import { CollectiveCostModel, TopologyGraph, type TopologySpec } from '../src/index';

// Small fabrics whose per-link traffic is easy to work out by hand.
const switched: TopologySpec = {
  name: 'four-on-a-switch',
  backend: 'nvidia-sim',
  device: 'h100',
  nodes: 1,
  devicesPerNode: 4,
  scaleUp: { kind: 'switch', bandwidthGBs: 100, latencyUs: 1, inSwitchReduction: true },
};
const mesh: TopologySpec = {
  name: 'four-in-a-mesh',
  backend: 'ascend-sim',
  device: '910b2',
  nodes: 1,
  devicesPerNode: 4,
  scaleUp: { kind: 'mesh', bandwidthGBs: 50, latencyUs: 1 },
};

const S = 1_000_000;
const byName = (g: TopologyGraph, bytes: Float64Array) =>
  Object.fromEntries(g.links.map((l) => [l.name, bytes[l.id]!]).filter(([, b]) => b !== 0));

describe('CollectiveCostModel.linkBytes: the bytes each link carries', () => {
  it('ring all-reduce on a switch: every rank↔switch link carries 2(n−1)·S/n each way', () => {
    const g = new TopologyGraph(switched);
    const bytes = new CollectiveCostModel(g).linkBytes([0, 1, 2, 3], 'allreduce', S, 'ring');
    expect(g.links).toHaveLength(8);
    for (const l of g.links) expect(bytes[l.id]).toBeCloseTo((2 * 3 * S) / 4, 6); // 1.5 MB
  });

  it('NVLS all-reduce: each GPU sends S up to the switch and receives S back', () => {
    const g = new TopologyGraph(switched);
    const bytes = new CollectiveCostModel(g).linkBytes([0, 1, 2, 3], 'allreduce', S, 'nvls');
    for (const l of g.links) expect(bytes[l.id]).toBe(S);
  });

  it('ring all-gather on a full mesh: only the ring’s links carry (n−1)·S/n; a cut link reroutes through a relay', () => {
    const g = new TopologyGraph(mesh);
    const model = new CollectiveCostModel(g);
    const share = (3 * S) / 4;
    expect(byName(g, model.linkBytes([0, 1, 2, 3], 'allgather', S, 'ring'))).toEqual({
      'rank0→rank1': share,
      'rank1→rank2': share,
      'rank2→rank3': share,
      'rank3→rank0': share,
    });
    // Cut rank1→rank2: the breadth-first detour leaves rank1 on its first live link (to rank0), then rank0→rank2.
    g.setLinkState(g.findLinks('rank1→rank2'), { cut: true });
    expect(byName(g, model.linkBytes([0, 1, 2, 3], 'allgather', S, 'ring'))).toEqual({
      'rank0→rank1': share,
      'rank1→rank0': share,
      'rank0→rank2': share,
      'rank2→rank3': share,
      'rank3→rank0': share,
    });
  });

  it('all-to-all, direct and one-sided alike: every ordered pair’s link carries S/n; zero bytes carry nothing', () => {
    const g = new TopologyGraph(mesh);
    const model = new CollectiveCostModel(g);
    for (const algorithm of ['direct', 'onesided'] as const) {
      const bytes = model.linkBytes([0, 1, 2, 3], 'alltoall', S, algorithm);
      for (const l of g.links) expect(bytes[l.id]).toBe(S / 4);
    }
    expect(model.linkBytes([0, 1, 2, 3], 'alltoall', 0, 'direct').every((b) => b === 0)).toBe(true);
  });

  it('agrees with the time model: the busiest link’s bytes at its efficient rate are the Simple transfer time', () => {
    const g = new TopologyGraph(mesh);
    const model = new CollectiveCostModel(g);
    const ranks = [0, 1, 2, 3];
    const big = 2 ** 30;
    const bytes = model.linkBytes(ranks, 'allgather', big, 'ring');
    const t = model.time(ranks, 'allgather', big, 'ring', 'Simple');
    const busiest = Math.max(...bytes);
    const transferUs = (busiest / (50e9 * 0.77)) * 1e6; // LINK_EFFICIENCY['scale-up'] = 0.77
    // The rest of the modelled time is latency: base + 3 steps × (hop + route latency).
    expect(t.us - transferUs).toBeCloseTo(8.4 + 3 * (3.4 + 1), 6);
  });
});
