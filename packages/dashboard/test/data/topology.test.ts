import { describe, expect, it } from 'vitest';
import type { TopologyLink, TopologyNode, TopologyView } from '../../src/api';
import { busiestEdges, layoutTopology, mergeClusterView, utilisationColour } from '../../ui/src/data/topology';

function device(rank: number): TopologyNode {
  return {
    id: `rank${rank}`,
    kind: 'device',
    rank,
    label: `h100:${rank}`,
    domain: Math.floor(rank / 4),
    failed: false,
  };
}
function sw(id: string, domain: number | null): TopologyNode {
  return { id, kind: 'switch', rank: null, label: id, domain, failed: false };
}
let nextId = 0;
function link(from: string, to: string, kind: TopologyLink['kind'], utilisation = 0): TopologyLink {
  return {
    id: String(nextId++),
    from,
    to,
    kind,
    bandwidthGBs: 450,
    latencyUs: 1,
    cut: false,
    degraded: 1,
    utilisation,
  };
}
function both(a: string, b: string, kind: TopologyLink['kind'], u = 0): TopologyLink[] {
  return [link(a, b, kind, u), link(b, a, kind, u / 2)];
}

/** Two nodes of 4 devices: a switch each (scale-up) and two rail leaves plus a spine (scale-out). */
function twoNodes(): TopologyView {
  const nodes = [0, 1, 2, 3, 4, 5, 6, 7].map(device);
  nodes.push(sw('sw0', 0), sw('sw1', 1), sw('leaf0', null), sw('leaf1', null), sw('spine', null));
  const links: TopologyLink[] = [];
  for (let r = 0; r < 8; r++) links.push(...both(`rank${r}`, `sw${Math.floor(r / 4)}`, 'scale-up', r === 0 ? 0.8 : 0));
  for (let r = 0; r < 8; r++) if (r % 4 < 2) links.push(...both(`rank${r}`, `leaf${r % 4}`, 'scale-out'));
  links.push(...both('leaf0', 'spine', 'scale-out', 0.3), ...both('leaf1', 'spine', 'scale-out'));
  return { name: 't', description: '', device: 'h100', vendor: 'nvidia', ranks: 8, nodes, links };
}

describe('layoutTopology', () => {
  it('puts devices in one row, scale-up switches above and scale-out switches below, by distance', () => {
    const l = layoutTopology(twoNodes());
    const y = (id: string) => l.byId.get(id)!.y;
    expect(new Set([0, 1, 2, 3, 4, 5, 6, 7].map((r) => y(`rank${r}`))).size).toBe(1);
    expect(y('sw0')).toBeLessThan(l.deviceY);
    expect(y('leaf0')).toBeGreaterThan(l.deviceY);
    expect(y('spine')).toBeGreaterThan(y('leaf0'));
    // Devices in rank order; each node switch over its own devices.
    const x = (id: string) => l.byId.get(id)!.x;
    expect(x('rank0')).toBeLessThan(x('rank7'));
    expect(x('sw0')).toBeLessThan(x('sw1'));
    expect(x('leaf0')).not.toBe(x('leaf1'));
  });

  it('merges the two directions of a link and keeps the busier one', () => {
    const l = layoutTopology(twoNodes());
    const e = l.edges.find((e) => e.ids.length === 2 && [e.a, e.b].includes('rank0') && e.kind === 'scale-up')!;
    expect(e.utilisation).toBe(0.8);
    expect(l.edges).toHaveLength(8 + 4 + 2);
    expect(busiestEdges(l).map((e) => e.utilisation)).toEqual([0.8, 0.3]);
  });

  it('draws a point-to-point mesh as device-to-device edges', () => {
    const nodes = [0, 1, 2].map(device);
    const links = [
      ...both('rank0', 'rank1', 'scale-up'),
      ...both('rank1', 'rank2', 'scale-up'),
      ...both('rank0', 'rank2', 'scale-up'),
    ];
    const l = layoutTopology({ name: 'm', description: '', device: '910b2', vendor: 'ascend', ranks: 3, nodes, links });
    expect(l.edges.every((e) => e.deviceToDevice)).toBe(true);
    expect(l.height).toBeGreaterThan(l.deviceY + 40);
  });

  it('draws a CloudMatrix-sized cluster as a grid of node blocks, each under its switch', () => {
    // 48 nodes × 16 dies, a node switch each, one second-tier switch; one scale-out rail leaf per die position.
    const nodes = Array.from({ length: 768 }, (_, r) => device(r));
    const links: TopologyLink[] = [];
    for (let n = 0; n < 48; n++) {
      nodes.push(sw(`sw${n}`, 0));
      for (let d = 0; d < 16; d++) links.push(...both(`rank${n * 16 + d}`, `sw${n}`, 'scale-up'));
      links.push(...both(`sw${n}`, 'tier2-0', 'scale-up'));
    }
    nodes.push(sw('tier2-0', 0));
    for (let d = 0; d < 16; d++) {
      nodes.push(sw(`leaf${d}`, null));
      for (let n = 0; n < 48; n++) links.push(...both(`rank${n * 16 + d}`, `leaf${d}`, 'scale-out'));
    }
    const l = layoutTopology({
      name: 'cm',
      description: '',
      device: '910c',
      vendor: 'ascend',
      ranks: 768,
      nodes,
      links,
    });
    const devs = l.nodes.filter((n) => n.kind === 'device');
    expect(devs).toHaveLength(768);
    // No two devices closer than the pitch.
    const seen = new Set(devs.map((d) => `${Math.round(d.x / l.pitch)},${Math.round(d.y / l.pitch)}`));
    expect(seen.size).toBe(768);
    // Landscape, not a line: the picture stays legible at any width.
    expect(l.width / l.height).toBeGreaterThan(0.8);
    expect(l.width / l.height).toBeLessThan(3);
    const at = (id: string) => l.byId.get(id)!;
    for (const n of [0, 17, 47]) {
      const mine = devs.filter((d) => Math.floor(d.rank! / 16) === n);
      const xs = mine.map((d) => d.x);
      expect(at(`sw${n}`).x).toBeGreaterThanOrEqual(Math.min(...xs));
      expect(at(`sw${n}`).x).toBeLessThanOrEqual(Math.max(...xs));
      expect(at(`sw${n}`).y).toBeLessThan(Math.min(...mine.map((d) => d.y)));
    }
    expect(at('tier2-0').y).toBeLessThan(Math.min(...devs.map((d) => d.y)));
    expect(at('leaf0').y).toBeGreaterThan(Math.max(...devs.map((d) => d.y)));
  });
});

describe('utilisationColour', () => {
  it('is grey when idle and moves from amber to red', () => {
    expect(utilisationColour(0)).toBe('#9aa5b1');
    expect(utilisationColour(0.5)).not.toBe(utilisationColour(1));
    expect(utilisationColour(2)).toBe(utilisationColour(1));
  });
});

describe('mergeClusterView', () => {
  const view: TopologyView = {
    name: 'n',
    description: '',
    device: 'h100',
    vendor: 'nvidia',
    ranks: 2,
    nodes: [device(0), device(1)],
    links: both('rank0', 'rank1', 'scale-up', 0.5),
  };
  it('takes a sent topology as it is, and otherwise puts the poll’s utilisation on the held one, in link order', () => {
    expect(mergeClusterView(null, { topology: view, utilisation: [0, 0] })).toBe(view);
    const merged = mergeClusterView(view, { topology: null, utilisation: [0.9, 0.1] })!;
    expect(merged.links.map((l) => l.utilisation)).toEqual([0.9, 0.1]);
    expect(merged.links.map((l) => l.id)).toEqual(view.links.map((l) => l.id));
    expect(view.links.map((l) => l.utilisation)).toEqual([0.5, 0.25]);
  });
  it('gives up (ask again for the whole drawing) when nothing is held or the link count differs', () => {
    expect(mergeClusterView(null, { topology: null, utilisation: [1] })).toBeNull();
    expect(mergeClusterView(view, { topology: null, utilisation: [1] })).toBeNull();
  });
});
