/**
 * Topologies as the dashboard draws them: a summary per built-in, and a TopologyView (nodes and links with their
 * fault state and utilisation) of any TopologyGraph — a built-in's, or a live cluster's (apps/llm-serve passes its
 * serving cluster, whose cut and degraded links and failed ranks then show).
 */
import { BUILTIN_TOPOLOGIES, type Cluster, type TopologyGraph, type TopologySpec } from '@tessera/cluster';
import type { TopologyLink, TopologyNode, TopologySummary, TopologyView } from '@tessera/dashboard';
import { oneOf } from './validate';

export type Vendor = TopologySummary['vendor'];

/** The vendor of a topology's devices, from the backend that simulates them. */
export function vendorOf(spec: TopologySpec): Vendor {
  return spec.backend === 'nvidia-sim' ? 'nvidia' : spec.backend === 'ascend-sim' ? 'ascend' : 'other';
}

export const BUILTIN_NAMES = Object.keys(BUILTIN_TOPOLOGIES);

export function topologySummary(spec: TopologySpec): TopologySummary {
  return {
    name: spec.name,
    description: spec.description ?? spec.name,
    device: spec.device,
    vendor: vendorOf(spec),
    ranks: spec.nodes * spec.devicesPerNode,
  };
}

/** A built-in topology by its exact name (the dashboard only offers those), or a 400 listing them. */
export function builtinSpec(name: unknown, param: string): TopologySpec {
  return BUILTIN_TOPOLOGIES[oneOf(name, param, BUILTIN_NAMES, 'topology')]!;
}

export interface TopologyViewExtras {
  /** Defaults to the spec's description. */
  description?: string;
  /**
   * Busy fraction per link, 0–1, indexed by the graph's link id (`Link.id`, the position in `graph.links`): e.g.
   * `linkUtilisation(graph, bytes, seconds)`. Links without an entry show 0.
   */
  utilisation?: ArrayLike<number>;
  /** Failed ranks; with a Cluster, its failedRanks() are added. */
  failedRanks?: Iterable<number>;
}

const RANK = /^rank(\d+)$/;

/** Busy fraction of each link: bytes carried ÷ (its current bandwidth × the window); a cut link carries nothing. */
export function linkUtilisation(graph: TopologyGraph, bytes: ArrayLike<number>, seconds: number): Float64Array {
  const out = new Float64Array(graph.links.length);
  if (!(seconds > 0)) return out;
  for (const l of graph.links) {
    const rate = l.bandwidthGBs * 1e9 * l.factor;
    const b = bytes[l.id] ?? 0;
    // Never above 1: the cost model's time already holds every byte at no more than the link's rate.
    out[l.id] = b > 0 && rate > 0 ? Math.min(1, b / (rate * seconds)) : 0;
  }
  return out;
}

/** What a switch node is, for its label and layout domain. */
function switchNode(graph: TopologyGraph, id: string): { label: string; domain: number | null } {
  const per = graph.spec.devicesPerNode;
  let m = /^sw(\d+)$/.exec(id);
  if (m) return { label: `node ${m[1]} switch`, domain: graph.domainOf(Number(m[1]) * per) };
  m = /^tier2-(\d+)$/.exec(id);
  if (m) return { label: `domain ${m[1]} switch tier 2`, domain: Number(m[1]) };
  m = /^leaf(\d+)$/.exec(id);
  if (m) return { label: `rail ${m[1]} leaf`, domain: null };
  return { label: id, domain: null };
}

const isCluster = (x: TopologyGraph | Cluster): x is Cluster => 'graph' in x && 'failedRanks' in x;

/**
 * The view of a topology graph (or a cluster's): every rank and switch the links join, every directed link with its
 * fabric, bandwidth, latency, cut / degraded state (Cluster.cutLink / degradeLink set them on the graph) and the
 * utilisation given. Link ids are the graph's link names ("rank3→sw0"), which Cluster.cutLink accepts.
 */
export function topologyView(
  source: TopologyGraph | Cluster,
  name: string,
  extras: TopologyViewExtras = {},
): TopologyView {
  const graph = isCluster(source) ? source.graph : source;
  const spec = graph.spec;
  const failed = new Set<number>(extras.failedRanks ?? []);
  if (isCluster(source)) for (const r of source.failedRanks()) failed.add(r);
  const nodes: TopologyNode[] = [];
  const seen = new Set<string>();
  const addNode = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const m = RANK.exec(id);
    if (m) {
      const rank = Number(m[1]);
      nodes.push({
        id,
        kind: 'device',
        rank,
        label: `${spec.device}:${rank}`,
        domain: graph.domainOf(rank),
        failed: failed.has(rank),
      });
    } else nodes.push({ id, kind: 'switch', rank: null, ...switchNode(graph, id), failed: false });
  };
  // Ranks first and in order (a rank with no links still shows), then switches as the links meet them.
  for (let r = 0; r < graph.ranks; r++) addNode(`rank${r}`);
  const util = extras.utilisation;
  const links: TopologyLink[] = graph.links.map((l) => {
    addNode(l.from);
    addNode(l.to);
    return {
      id: l.name,
      from: l.from,
      to: l.to,
      kind: l.kind,
      bandwidthGBs: l.bandwidthGBs,
      latencyUs: l.latencyUs,
      cut: l.cut,
      degraded: l.factor,
      utilisation: util?.[l.id] ?? 0,
    };
  });
  return {
    name,
    description: extras.description ?? spec.description ?? name,
    device: spec.device,
    vendor: vendorOf(spec),
    ranks: graph.ranks,
    nodes,
    links,
  };
}
