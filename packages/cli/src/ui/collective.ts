/**
 * POST /api/cluster/collective: one collective on a timing-only cluster of a built-in topology (nothing allocated,
 * nothing computed: the communicator's cost model), with injected faults, as nccl-tests would report it — time, algbw
 * and busbw (coll-perf's formulas), the algorithm and protocol the tuner chose — plus what each link carried.
 *
 * The collective really runs on the cluster (Communicator.allReduce, …), so a failed rank in the communicator times
 * out and a cut that leaves no path fails as the library fails them; those answer 200 with the library's message in
 * `error`, as NCCL/HCCL would report the call failing, not as bad requests.
 */
import { type Cluster, type Communicator, createCluster, TopologyGraph } from '@tessera/cluster';
import type { CollectiveName, CollectiveView } from '@tessera/dashboard';
import { isTesseraError } from '@tessera/device';
import { busBwFactor, parseCollOp, sizeOf } from '../commands/coll-perf';
import { runCollective } from '../commands/coll-perf-check';
import { builtinSpec, linkUtilisation, topologyView } from './topology';
import { bad, integer, list, objectBody, oneOf, shown } from './validate';

export const COLLECTIVE_NAMES: readonly CollectiveName[] = [
  'all_reduce',
  'all_gather',
  'reduce_scatter',
  'all_to_all',
  'broadcast',
];

/** Largest `bytes`: nccl-tests sweeps stop at 8 GB; per rank the buffers are at most 2 × this, within every device. */
export const MAX_COLLECTIVE_BYTES = 2 ** 32;

/** The library's failures that a real NCCL/HCCL call would report (the request itself was fine). */
const COLLECTIVE_FAILURES = new Set(['Timeout', 'PeerUnreachable']);

interface CheckedRequest {
  topology: string;
  op: CollectiveName;
  bytes: number;
  ranks: number;
  failRanks: number[];
  cutLinks: string[];
}

const FIELDS = ['topology', 'op', 'bytes', 'ranks', 'failRanks', 'cutLinks'] as const;

function check(body: unknown): CheckedRequest {
  const b = objectBody(body, FIELDS);
  const spec = builtinSpec(b.topology, 'topology');
  const op = oneOf(b.op, 'op', COLLECTIVE_NAMES, 'collective');
  const graph = new TopologyGraph(spec);
  const n = graph.ranks;
  const ranks = b.ranks === undefined ? n : integer(b.ranks, 'ranks', 2, n, ` (${spec.name} has ${n} ranks)`);
  const bytes = integer(b.bytes, 'bytes', 1, MAX_COLLECTIVE_BYTES);
  // nccl-tests' size S is the whole gathered / scattered array for these: each rank's share is S / ranks.
  const split = op === 'all_gather' || op === 'reduce_scatter' || op === 'all_to_all';
  if (split && bytes < ranks)
    throw bad('bytes', `${op} over ${ranks} ranks moves bytes / ranks per rank: give bytes ≥ ${ranks}, got ${bytes}.`);
  const failRanks =
    b.failRanks === undefined ? [] : list(b.failRanks, 'failRanks', n, (x, p) => integer(x, p, 0, n - 1));
  const names = new Set(graph.links.map((l) => l.name));
  const cutLinks =
    b.cutLinks === undefined
      ? []
      : list(b.cutLinks, 'cutLinks', graph.links.length, (x, p) => {
          const id = typeof x === 'string' ? x.replace('->', '→') : x;
          if (typeof id !== 'string' || !names.has(id))
            throw bad(
              p,
              `No link ${shown(x)} in ${spec.name}; link ids are the topology's, e.g. '${graph.links[0]!.name}'.`,
            );
          return id;
        });
  return { topology: spec.name, op, bytes, ranks, failRanks, cutLinks };
}

/** Send and receive buffers of nccl-tests' shapes: `count` elements per rank (u8: a count is a byte). */
function buffers(comm: Communicator, cluster: Cluster, op: CollectiveName, count: number) {
  const n = comm.size;
  const ins = op === 'reduce_scatter' || op === 'all_to_all' ? count * n : count;
  const outs = op === 'all_gather' || op === 'all_to_all' ? count * n : count;
  // Timing-only devices hold no memory: these buffers are shapes for the library's checks.
  const send = comm.ranks.map((g) => cluster.devices[g]!.alloc('u8', ins));
  const recv = comm.ranks.map((g) => cluster.devices[g]!.alloc('u8', outs));
  return { send, recv };
}

export async function collectiveView(body: unknown): Promise<CollectiveView> {
  const req = check(body);
  const cluster = await createCluster({ topology: req.topology, mode: 'timing' });
  const comm = cluster.communicator(Array.from({ length: req.ranks }, (_, r) => r));
  const op = parseCollOp(req.op);
  const { bytes, count } = sizeOf(op, req.bytes, req.ranks, 1);
  // Buffers first: a failed device refuses new allocations.
  const { send, recv } = buffers(comm, cluster, req.op, count);
  for (const r of req.failRanks) cluster.failDevice(r, 'failed by the dashboard request');
  for (const l of req.cutLinks) cluster.cutLink(l);
  const failed = (error: string): CollectiveView => ({
    topology: topologyView(cluster, req.topology),
    op: req.op,
    bytes,
    ranks: req.ranks,
    timeMs: null,
    algBwGBs: null,
    busBwGBs: null,
    algorithm: null,
    error,
  });
  let result: ReturnType<typeof runCollective>;
  try {
    result = runCollective(comm, op, send, recv, count, undefined);
  } catch (e) {
    if (isTesseraError(e) && COLLECTIVE_FAILURES.has(e.code)) return failed(e.message);
    throw e;
  }
  const seconds = result.us * 1e-6;
  // The payload each link carried, as the cluster's LinkTraffic counts it for llm-serve's cluster view (LL and LL128
  // flag bytes not included), so both views mean the same by utilisation.
  const carried = cluster.costModel.linkBytes(comm.ranks, op, bytes, result.algorithm, 0);
  const algBwGBs = result.us > 0 ? bytes / (result.us * 1e3) : 0;
  return {
    topology: topologyView(cluster, req.topology, { utilisation: linkUtilisation(cluster.graph, carried, seconds) }),
    op: req.op,
    bytes,
    ranks: req.ranks,
    timeMs: result.us / 1e3,
    algBwGBs,
    busBwGBs: algBwGBs * busBwFactor(op, req.ranks),
    algorithm: `${result.algorithm}/${result.protocol}`,
    error: null,
  };
}
