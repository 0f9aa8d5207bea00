/**
 * Lays out a TopologyView for the cluster view: up to 64 devices in one row by rank, scale-up switches in rows above
 * (by distance from the devices: node switches, then a second tier), scale-out switches below (rail leaves, then the
 * spine); larger clusters as a grid of node blocks (gridLayout). Each switch row is ordered by the mean position of what it connects to, then spread evenly, so rails and
 * per-node switches sit over their devices without overlapping. Directed links are merged into one edge per pair,
 * drawn with the busier direction's utilisation. Pure geometry: the view scales it with an SVG viewBox.
 */
import type { TopologyLink, TopologyNode, TopologyView } from '../../../src/api';

export interface PlacedNode extends TopologyNode {
  x: number;
  y: number;
  layer: number;
}

export interface Edge {
  a: string;
  b: string;
  kind: TopologyLink['kind'];
  /** Link ids in either direction. */
  ids: string[];
  bandwidthGBs: number;
  utilisation: number;
  cut: boolean;
  degraded: number;
  /** Both ends are devices (a point-to-point mesh): drawn as an arc off the device row. */
  deviceToDevice: boolean;
}

export interface TopologyLayout {
  nodes: PlacedNode[];
  byId: Map<string, PlacedNode>;
  edges: Edge[];
  width: number;
  height: number;
  /** y of the device row. */
  deviceY: number;
  pitch: number;
}

const ROW_GAP = 70;
const MARGIN = 24;

function layers(view: TopologyView): Map<string, number> {
  const layer = new Map<string, number>();
  const adjacent = new Map<string, { id: string; kind: TopologyLink['kind'] }[]>();
  for (const l of view.links) {
    let a = adjacent.get(l.from);
    if (!a) adjacent.set(l.from, (a = []));
    a.push({ id: l.to, kind: l.kind });
  }
  let frontier: string[] = [];
  for (const n of view.nodes) {
    if (n.kind === 'device') {
      layer.set(n.id, 0);
      frontier.push(n.id);
    }
  }
  // Breadth-first from the devices; a switch's row is its distance, above for scale-up and below for scale-out.
  for (let d = 1; frontier.length > 0; d++) {
    const next: string[] = [];
    for (const id of frontier) {
      const sign = Math.sign(layer.get(id)!) || 0;
      for (const n of adjacent.get(id) ?? []) {
        if (layer.has(n.id)) continue;
        const dir = sign !== 0 ? sign : n.kind === 'scale-up' ? 1 : -1;
        layer.set(n.id, dir * d);
        next.push(n.id);
      }
    }
    frontier = next;
  }
  return layer;
}

/** Rows of switches outward from the devices, each ordered by the mean x of its placed neighbours, spread evenly. */
function placeSwitchRows(
  rows: Map<number, TopologyNode[]>,
  placed: Map<string, PlacedNode>,
  neighbours: Map<string, string[]>,
  width: number,
  yOf: (layer: number) => number,
): void {
  const order = [...rows.keys()].filter((l) => l !== 0).sort((a, b) => Math.abs(a) - Math.abs(b) || b - a);
  for (const l of order) {
    const row = rows.get(l)!.filter((n) => !placed.has(n.id));
    if (row.length === 0) continue;
    const centroid = (n: TopologyNode) => {
      const xs = (neighbours.get(n.id) ?? []).map((id) => placed.get(id)?.x).filter((x) => x !== undefined);
      return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : width / 2;
    };
    const sorted = row.map((n) => ({ n, c: centroid(n) })).sort((a, b) => a.c - b.c || a.n.id.localeCompare(b.n.id));
    const step = (width - 2 * MARGIN) / sorted.length;
    sorted.forEach(({ n }, i) => {
      placed.set(n.id, { ...n, x: MARGIN + step * (i + 0.5), y: yOf(l), layer: l });
    });
  }
}

/** Up to 64 devices: one row by rank, switch rows above and below. */
function rowLayout(
  view: TopologyView,
  devices: TopologyNode[],
  rows: Map<number, TopologyNode[]>,
  neighbours: Map<string, string[]>,
) {
  const pitch = devices.length <= 16 ? 40 : 18;
  const width = Math.max(320, MARGIN * 2 + pitch * Math.max(1, devices.length));
  const top = Math.max(0, ...rows.keys());
  const bottom = Math.min(0, ...rows.keys());
  const yOf = (l: number) => MARGIN + (top - l) * ROW_GAP;
  const placed = new Map<string, PlacedNode>();
  devices.forEach((n, i) => {
    placed.set(n.id, { ...n, x: MARGIN + pitch * (i + 0.5), y: yOf(0), layer: 0 });
  });
  placeSwitchRows(rows, placed, neighbours, width, yOf);
  const mesh = view.links.some((l) => placed.get(l.from)?.kind === 'device' && placed.get(l.to)?.kind === 'device');
  return { placed, pitch, width, height: yOf(bottom) + MARGIN + (mesh ? ROW_GAP : 0), deviceY: yOf(0) };
}

/**
 * More than 64 devices (a SuperPoD, an NVL72, a multi-node cluster): one row would be a thin line, so each scale-up
 * switch's devices (a node) form a small block, the blocks a grid of landscape shape, with the node switch on top of
 * its block; higher switch tiers sit in a band above the grid and the scale-out network in bands below it.
 */
function gridLayout(
  view: TopologyView,
  devices: TopologyNode[],
  rows: Map<number, TopologyNode[]>,
  neighbours: Map<string, string[]>,
  layerOf: Map<string, number>,
) {
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  // A device's group: the first scale-up switch it links to; a switchless mesh groups by domain.
  const groupOf = new Map<string, string>();
  for (const l of view.links) {
    if (l.kind !== 'scale-up' || groupOf.has(l.from)) continue;
    if (byId.get(l.from)?.kind === 'device' && byId.get(l.to)?.kind === 'switch') groupOf.set(l.from, l.to);
  }
  const groups = new Map<string, TopologyNode[]>();
  for (const d of devices) {
    const key = groupOf.get(d.id) ?? `domain:${d.domain ?? 0}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(d);
  }
  const pitch = 10;
  const perGroup = Math.max(...[...groups.values()].map((g) => g.length));
  const inner = Math.ceil(Math.sqrt(perGroup));
  const cellW = inner * pitch + 14;
  const cellH = Math.ceil(perGroup / inner) * pitch + 30;
  const cols = Math.max(1, Math.min(groups.size, Math.round(Math.sqrt((groups.size * cellH * 1.8) / cellW))));
  const gridRows = Math.ceil(groups.size / cols);
  const width = Math.max(320, MARGIN * 2 + cols * cellW);
  const top = Math.max(0, ...rows.keys());
  const bandsAbove = Math.max(0, top - 1); // tiers above the node switches
  const gridTop = MARGIN + bandsAbove * ROW_GAP;
  const gridBottom = gridTop + gridRows * cellH;
  const yOf = (l: number) => (l > 1 ? MARGIN + (top - l) * ROW_GAP : gridBottom + ROW_GAP * (-l - 0.5));
  const placed = new Map<string, PlacedNode>();
  [...groups.entries()].forEach(([key, members], g) => {
    const x0 = MARGIN + (g % cols) * cellW + (width - 2 * MARGIN - cols * cellW) / 2;
    const y0 = gridTop + Math.floor(g / cols) * cellH;
    const sw = byId.get(key);
    if (sw) placed.set(sw.id, { ...sw, x: x0 + cellW / 2, y: y0 + 8, layer: layerOf.get(sw.id) ?? 1 });
    members.forEach((d, i) => {
      const x = x0 + 7 + pitch * ((i % inner) + 0.5);
      placed.set(d.id, { ...d, x, y: y0 + 22 + pitch * Math.floor(i / inner), layer: 0 });
    });
  });
  placeSwitchRows(rows, placed, neighbours, width, yOf);
  const bottom = Math.min(0, ...rows.keys());
  return { placed, pitch, width, height: (bottom < 0 ? yOf(bottom) : gridBottom) + MARGIN, deviceY: gridTop };
}

export function layoutTopology(view: TopologyView): TopologyLayout {
  const devices = view.nodes.filter((n) => n.kind === 'device').sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0));
  const layerOf = layers(view);
  const rows = new Map<number, TopologyNode[]>();
  for (const n of view.nodes) {
    const l = layerOf.get(n.id) ?? -99; // unreachable switches: a row of their own at the bottom
    let row = rows.get(l);
    if (!row) rows.set(l, (row = []));
    row.push(n);
  }
  const neighbours = new Map<string, string[]>();
  for (const l of view.links) {
    let a = neighbours.get(l.from);
    if (!a) neighbours.set(l.from, (a = []));
    a.push(l.to);
  }
  const { placed, pitch, width, height, deviceY } =
    devices.length > 64
      ? gridLayout(view, devices, rows, neighbours, layerOf)
      : rowLayout(view, devices, rows, neighbours);
  const edges = new Map<string, Edge>();
  for (const l of view.links) {
    const [a, b] = l.from < l.to ? [l.from, l.to] : [l.to, l.from];
    const key = `${a}|${b}|${l.kind}`;
    const e = edges.get(key);
    if (e) {
      e.ids.push(l.id);
      e.utilisation = Math.max(e.utilisation, l.utilisation);
      e.cut ||= l.cut;
      e.degraded = Math.min(e.degraded, l.degraded);
      continue;
    }
    edges.set(key, {
      a,
      b,
      kind: l.kind,
      ids: [l.id],
      bandwidthGBs: l.bandwidthGBs,
      utilisation: l.utilisation,
      cut: l.cut,
      degraded: l.degraded,
      deviceToDevice: placed.get(a)?.kind === 'device' && placed.get(b)?.kind === 'device',
    });
  }
  return { nodes: [...placed.values()], byId: placed, edges: [...edges.values()], width, height, deviceY, pitch };
}

/** Utilisation → a colour from calm grey-blue (idle) through amber to red (saturated). */
export function utilisationColour(u: number): string {
  const t = Math.min(1, Math.max(0, u));
  if (t === 0) return '#9aa5b1';
  const hue = 45 - 45 * t; // amber → red
  return `hsl(${hue.toFixed(0)} 90% ${(52 - 12 * t).toFixed(0)}%)`;
}

/** The busiest links first: the table beside the picture (readable text for what the colours say). */
export function busiestEdges(layout: TopologyLayout, n = 8): Edge[] {
  return [...layout.edges]
    .filter((e) => e.utilisation > 0)
    .sort((a, b) => b.utilisation - a.utilisation)
    .slice(0, n);
}

/**
 * The serving cluster's drawing after a poll of /api/cluster?known=KEY: the new topology when the server sent one,
 * else the one held with this poll's utilisation (null when nothing is held yet: ask again without `known`).
 */
export function mergeClusterView(
  held: TopologyView | null,
  view: { topology: TopologyView | null; utilisation: readonly number[] },
): TopologyView | null {
  if (view.topology) return view.topology;
  if (!held || held.links.length !== view.utilisation.length) return null;
  return { ...held, links: held.links.map((l, i) => ({ ...l, utilisation: view.utilisation[i] ?? 0 })) };
}
