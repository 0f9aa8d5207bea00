/**
 * Collective algorithms as NCCL and HCCL run them, each expressed as phases of concurrent flows (see
 * network/flows.ts) with a step count. Message size S follows nccl-tests: the buffer for all-reduce, broadcast and
 * reduce; the gathered output for all-gather; the input for reduce-scatter; each rank's send buffer for all-to-all.
 *
 * - ring: n−1 (or 2(n−1)) steps, each rank passing S/n to the next. Across several scale-up domains one ring per
 *   rail (channel), rotated so every rail's NIC carries its share, as NCCL's channels do.
 * - tree: NCCL's double binary tree — two complementary binary trees each carrying half the data, reduce up then
 *   broadcast down, pipelined: log₂ n step latencies, each link carrying S/2 per tree.
 * - direct: every pair at once (HCCL's mesh algorithms on HCCS full meshes; all-to-all everywhere).
 * - nvls: NVLink SHARP — the switch reduces (or multicasts), so each GPU sends and receives the data once.
 * - hier: by node — intra-node reduce-scatter, the cross-node part per local rank (one ring per rail), intra-node
 *   all-gather (all-reduce); inter-node first then intra-node for all-gather; the reverse for reduce-scatter.
 * - onesided: all-to-all as DeepEP (NVSHMEM puts over NVLink and IBGDA) and CloudMatrix384's UB dispatch/combine run
 *   it: every rank writes its pieces straight into every peer's memory at once, then a completion flag per peer. The
 *   data moves in one phase; its time is one latency plus the larger of the bandwidth and message-rate terms
 *   (collectives/cost.ts), not a latency per peer.
 * - p2p: point-to-point send/recv pairs (nccl-tests' sendrecv: rank r sends to r+1 and receives from r−1), one step.
 */
import type { Flow, LinkLoads } from '../network/flows';
import type { TopologyGraph } from '../topology/graph';

export type CollectiveOp =
  | 'allreduce'
  | 'allgather'
  | 'reducescatter'
  | 'broadcast'
  | 'reduce'
  | 'alltoall'
  | 'sendrecv';
export type Algorithm = 'ring' | 'tree' | 'direct' | 'nvls' | 'hier' | 'onesided' | 'p2p';
export const ALGORITHMS: readonly Algorithm[] = ['ring', 'tree', 'direct', 'nvls', 'hier', 'onesided', 'p2p'];

export interface Phase {
  flows: Flow[];
  /** In-network loads (NVLS) added to the flows'. */
  extra?: LinkLoads;
  /** Times the phase repeats back to back. */
  steps: number;
  /** Steps of latency (pipelined phases move the data once but pay every hop's latency). */
  latencySteps: number;
}

export interface Plan {
  algorithm: Algorithm;
  phases: Phase[];
}

function ringFlows(order: readonly number[], weight: number, closed = true): Flow[] {
  const flows: Flow[] = [];
  const n = order.length;
  for (let i = 0; i < (closed ? n : n - 1); i++) flows.push({ src: order[i]!, dst: order[(i + 1) % n]!, weight });
  return flows;
}

/**
 * Ring orders for the communicator's ranks: one ring when they share a scale-up domain; otherwise one ring per rail
 * (local index), each visiting the domains in turn and rotated within each domain so that it leaves every domain
 * from a different rail.
 */
function ringOrders(graph: TopologyGraph, ranks: readonly number[]): number[][] {
  const byDomain = new Map<number, number[]>();
  for (const r of ranks) {
    const d = graph.domainOf(r);
    let l = byDomain.get(d);
    if (!l) byDomain.set(d, (l = []));
    l.push(r);
  }
  const groups = [...byDomain.values()];
  if (groups.length === 1) return [[...ranks]];
  const channels = Math.min(...groups.map((g) => g.length));
  const orders: number[][] = [];
  for (let c = 0; c < channels; c++) {
    const order: number[] = [];
    for (const g of groups) for (let i = 0; i < g.length; i++) order.push(g[(i + c) % g.length]!);
    orders.push(order);
  }
  return orders;
}

function allPairs(ranks: readonly number[], weight: number): Flow[] {
  const flows: Flow[] = [];
  for (const a of ranks) for (const b of ranks) if (a !== b) flows.push({ src: a, dst: b, weight });
  return flows;
}

/** The two trees of a double binary tree over n positions: parent index of each position, −1 at the root. */
function doubleBinaryTree(n: number): [number[], number[]] {
  const t1 = Array.from({ length: n }, (_, i) => (i === 0 ? -1 : Math.floor((i - 1) / 2)));
  // The mirror tree: position i in tree 2 is position n−1−i in tree 1, so tree 1's leaves are tree 2's inner nodes.
  const t2 = Array.from({ length: n }, (_, i) => {
    const m = n - 1 - i;
    return m === 0 ? -1 : n - 1 - Math.floor((m - 1) / 2);
  });
  return [t1, t2];
}

/** Does the whole communicator sit in one scale-up domain whose switches reduce in-network? */
export function nvlsAvailable(graph: TopologyGraph, ranks: readonly number[]): boolean {
  if (!graph.spec.scaleUp.inSwitchReduction || graph.spec.scaleUp.kind !== 'switch') return false;
  const d = graph.domainOf(ranks[0]!);
  return ranks.every((r) => graph.domainOf(r) === d);
}

/** Algorithms that apply to `op` on these ranks (the tuner's candidates). */
export function candidateAlgorithms(graph: TopologyGraph, ranks: readonly number[], op: CollectiveOp): Algorithm[] {
  const n = ranks.length;
  const domains = new Set(ranks.map((r) => graph.domainOf(r))).size;
  // All-to-all: NCCL's grouped send/recv pairs (direct) or one-sided puts (onesided, DeepEP / UB dispatch).
  if (op === 'alltoall') return ['direct', 'onesided'];
  if (op === 'sendrecv') return ['p2p'];
  const nodes = new Set(ranks.map((r) => graph.nodeOf(r))).size;
  const out: Algorithm[] = ['ring'];
  if ((op === 'allreduce' || op === 'broadcast' || op === 'reduce') && n > 2) out.push('tree');
  // Pairwise algorithms are HCCL's on full meshes (HCCS), where every pair has its own link.
  if (n <= 64 && graph.spec.scaleUp.kind === 'mesh' && domains === 1) out.push('direct');
  if (nvlsAvailable(graph, ranks) && (op === 'allreduce' || op === 'allgather' || op === 'reducescatter'))
    out.push('nvls');
  if (
    (op === 'allreduce' || op === 'allgather' || op === 'reducescatter') &&
    nodes > 1 &&
    n / nodes >= 2 &&
    n % nodes === 0
  )
    out.push('hier');
  void domains;
  return out;
}

/** The phases of `algorithm` running `op` over `ranks` (root = rank position for broadcast/reduce). */
export function buildPlan(
  graph: TopologyGraph,
  ranks: readonly number[],
  op: CollectiveOp,
  algorithm: Algorithm,
  root = 0,
): Plan {
  const n = ranks.length;
  const phases: Phase[] = [];
  const one = (flows: Flow[], steps: number, latencySteps = steps, extra?: LinkLoads) =>
    phases.push({ flows, steps, latencySteps, extra });
  if (n === 1) return { algorithm, phases };
  switch (algorithm) {
    case 'ring': {
      const orders = ringOrders(graph, ranks);
      const C = orders.length;
      if (op === 'allreduce' || op === 'allgather' || op === 'reducescatter') {
        const flows = orders.flatMap((o) => ringFlows(o, 1 / (n * C)));
        const steps = op === 'allreduce' ? 2 * (n - 1) : n - 1;
        one(flows, steps);
      } else if (op === 'broadcast' || op === 'reduce') {
        // A pipelined chain from (or to) the root: the data crosses every hop once; n−1 hop latencies.
        const flows = orders.flatMap((o) => {
          const start = o.indexOf(ranks[root]!);
          const chain = [...o.slice(start), ...o.slice(0, start)];
          const f = ringFlows(op === 'broadcast' ? chain : [...chain].reverse(), 1 / C, false);
          return f;
        });
        one(flows, 1, n - 1);
      }
      break;
    }
    case 'tree': {
      const [t1, t2] = doubleBinaryTree(n);
      const up = (t: number[]) => t.flatMap((p, i) => (p < 0 ? [] : [{ src: ranks[i]!, dst: ranks[p]!, weight: 0.5 }]));
      const down = (t: number[]) =>
        t.flatMap((p, i) => (p < 0 ? [] : [{ src: ranks[p]!, dst: ranks[i]!, weight: 0.5 }]));
      const depth = Math.ceil(Math.log2(n + 1));
      if (op === 'allreduce' || op === 'reduce') one([...up(t1), ...up(t2)], 1, depth);
      if (op === 'allreduce' || op === 'broadcast') one([...down(t1), ...down(t2)], 1, depth);
      break;
    }
    case 'direct': {
      if (op === 'allreduce') {
        one(allPairs(ranks, 1 / n), 1); // reduce-scatter
        one(allPairs(ranks, 1 / n), 1); // all-gather
      } else if (op === 'allgather' || op === 'reducescatter') {
        one(allPairs(ranks, 1 / n), 1);
      } else if (op === 'alltoall') {
        // NCCL's all-to-all is n−1 grouped send/recv pairs: the data moves in one phase, but each peer is its own
        // point-to-point operation with its own latency.
        one(allPairs(ranks, 1 / n), 1, n - 1);
      } else if (op === 'broadcast') {
        one(
          ranks.flatMap((r, i) => (i === root ? [] : [{ src: ranks[root]!, dst: r, weight: 1 }])),
          1,
        );
      } else if (op === 'reduce') {
        one(
          ranks.flatMap((r, i) => (i === root ? [] : [{ src: r, dst: ranks[root]!, weight: 1 }])),
          1,
        );
      }
      break;
    }
    case 'onesided': {
      // Every pair at once; latency and message costs are the cost model's (one latency, not one per peer).
      if (op === 'alltoall') one(allPairs(ranks, 1 / n), 1, 1);
      break;
    }
    case 'p2p': {
      // nccl-tests' sendrecv: rank i sends its whole buffer to rank i+1 (mod n) while receiving from i−1.
      if (op === 'sendrecv') one(ringFlows(ranks, 1), 1, 1);
      break;
    }
    case 'nvls': {
      // Each GPU's link to the switch: all-reduce sends S up and receives S down; all-gather sends its S/n and
      // receives the other (n−1)S/n; reduce-scatter the reverse.
      const extra: LinkLoads = new Map();
      const [upW, downW] =
        op === 'allreduce' ? [1, 1] : op === 'allgather' ? [1 / n, (n - 1) / n] : [(n - 1) / n, 1 / n];
      for (const r of ranks) {
        const sw = `sw${graph.nodeOf(r)}`;
        for (const l of graph.links) {
          if (l.from === `rank${r}` && l.to === sw) extra.set(l.id, (extra.get(l.id) ?? 0) + upW);
          if (l.from === sw && l.to === `rank${r}`) extra.set(l.id, (extra.get(l.id) ?? 0) + downW);
        }
      }
      one([], 1, 2, extra);
      break;
    }
    case 'hier': {
      // Groups are nodes: intra-node steps stay on the node's fabric; inter-node steps run one ring per local rank.
      const byNode = new Map<number, number[]>();
      for (const r of ranks) {
        const d = graph.nodeOf(r);
        let l = byNode.get(d);
        if (!l) byNode.set(d, (l = []));
        l.push(r);
      }
      const groups = [...byNode.values()];
      const g = Math.min(...groups.map((x) => x.length));
      const N = groups.length;
      const intra = (w: number) => groups.flatMap((grp) => ringFlows(grp, w));
      const inter = (w: number) => {
        const f: Flow[] = [];
        for (let i = 0; i < g; i++)
          f.push(
            ...ringFlows(
              groups.map((grp) => grp[i]!),
              w,
            ),
          );
        return f;
      };
      if (op === 'allreduce') {
        one(intra(1 / g), g - 1); // reduce-scatter in each node: each rank ends with S/g
        one(inter(1 / n), 2 * (N - 1)); // all-reduce of those shards across nodes, per local rank (S/n per step)
        one(intra(1 / g), g - 1); // all-gather in each node
      } else if (op === 'allgather') {
        one(inter(1 / n), N - 1); // each local rank gathers its peers' chunks across nodes (S/g each)
        one(intra(1 / g), g - 1); // then the node shares those S/g pieces
      } else {
        one(intra(1 / g), g - 1); // reduce-scatter in the node down to S/g per rank
        one(inter(1 / n), N - 1); // then across nodes down to S/n
      }
      break;
    }
  }
  return { algorithm, phases };
}
