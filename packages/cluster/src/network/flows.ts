/**
 * The flow-level network model. A phase of a collective is a set of concurrent transfers (flows), each with a weight
 * in bytes per byte of message. Every flow loads each link on its route; the phase's bandwidth term is set by the most
 * loaded link — load / (bandwidth × efficiency) — so contention, hierarchy and oversubscription show, and a degraded
 * link slows exactly the phases whose flows cross it. Its latency term is the longest route. Costs are linear in the
 * message size, so a phase is evaluated once and scaled: a 384-rank sweep over 30 sizes costs one evaluation per
 * algorithm.
 */
import type { Link, TopologyGraph } from '../topology/graph';

export interface Flow {
  src: number;
  dst: number;
  /** Bytes moved per byte of message. */
  weight: number;
}

/** Link efficiency by fabric: the fraction of a link's rate a collective's transfers achieve (see docs/model.md). */
export interface LinkEfficiency {
  'scale-up': number;
  'scale-out': number;
}

export interface PhaseCost {
  /** Seconds per byte of message. */
  secondsPerByte: number;
  /** Longest route latency, µs. */
  latencyUs: number;
  /** The route crosses the scale-out network. */
  crossesNetwork: boolean;
  /** The busiest link. */
  bottleneck: Link | null;
}

/** Extra link loads for in-network operations (bytes per byte of message on a named link id). */
export type LinkLoads = Map<number, number>;

/** Where a phase's bytes go: per link, and the route facts its cost needs. */
export interface PhaseLoad {
  /** Bytes each link carries per byte of message, indexed by link id (flows along their routes + extra loads). */
  load: Float64Array;
  /** Longest route latency, µs. */
  latencyUs: number;
  crossesNetwork: boolean;
}

/** Loads every link of the graph with the phase's flows along their routes (and the extra in-network loads). */
export function phaseLoad(graph: TopologyGraph, flows: readonly Flow[], extra?: LinkLoads): PhaseLoad {
  const load = new Float64Array(graph.links.length);
  let latencyUs = 0;
  let crossesNetwork = false;
  for (const f of flows) {
    if (f.weight === 0 || f.src === f.dst) continue;
    const route = graph.route(f.src, f.dst);
    let lat = 0;
    for (const l of route) {
      load[l.id]! += f.weight;
      lat += l.latencyUs;
      if (l.kind === 'scale-out') crossesNetwork = true;
    }
    if (lat > latencyUs) latencyUs = lat;
  }
  if (extra) {
    for (const [id, w] of extra) {
      load[id]! += w;
      const l = graph.links[id]!;
      latencyUs = Math.max(latencyUs, l.latencyUs * 2);
    }
  }
  return { load, latencyUs, crossesNetwork };
}

export function evaluatePhase(
  graph: TopologyGraph,
  flows: readonly Flow[],
  eff: LinkEfficiency,
  extra?: LinkLoads,
): PhaseCost {
  return costOfLoad(graph, phaseLoad(graph, flows, extra), eff);
}

/** A phase's cost from its loads: the bandwidth term of the most loaded link (a cut one: infinite). */
export function costOfLoad(graph: TopologyGraph, phase: PhaseLoad, eff: LinkEfficiency): PhaseCost {
  const { load, latencyUs, crossesNetwork } = phase;
  let worst = 0;
  let bottleneck: Link | null = null;
  for (let i = 0; i < load.length; i++) {
    const w = load[i]!;
    if (w === 0) continue;
    const l = graph.links[i]!;
    const rate = l.bandwidthGBs * 1e9 * l.factor * eff[l.kind];
    const s = l.cut ? Number.POSITIVE_INFINITY : w / rate;
    if (s > worst) {
      worst = s;
      bottleneck = l;
    }
  }
  return { secondsPerByte: worst, latencyUs, crossesNetwork, bottleneck };
}
