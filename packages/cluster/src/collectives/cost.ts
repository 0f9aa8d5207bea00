/**
 * The collective cost model and tuner, after NCCL's (src/graph/tuning.cc):
 *
 *   t = baseLat(protocol) + Σ_phases [ latencySteps · (hopLat(protocol, fabric) + route latency)
 *                                    + steps · S · (seconds per byte of the phase) / efficiency(protocol) ]
 *
 * Seconds per byte come from the flow model (network/flows.ts) over the topology, with each fabric's link
 * efficiency. The tuner evaluates every applicable algorithm × protocol and keeps the fastest, as NCCL does; callers
 * may force either.
 *
 * One-sided all-to-all (`onesided`: DeepEP's NVSHMEM/IBGDA puts, CloudMatrix384's UB dispatch/combine) is not a
 * sequence of NCCL steps: every rank puts its pieces into all peers at once and then sets a flag per peer, so
 *
 *   t = launch + 2 · route latency + max( S · seconds per byte,  max over ranks and fabrics of messages / message rate )
 *
 * — one latency (the data and the flag after it each cross the fabric once), the sender's injection bandwidth through
 * the same flow model, and the fabric's message rate (topology `messageRateM`) over the writes a rank issues or
 * receives: one per `messageBytes` of each peer's piece (one per peer by default) plus one flag per peer.
 */
import { TesseraError } from '@tessera/device';
import { costOfLoad, evaluatePhase, type LinkEfficiency, type PhaseCost, phaseLoad } from '../network/flows';
import type { LinkKind, TopologyGraph } from '../topology/graph';
import { type Algorithm, buildPlan, type CollectiveOp, candidateAlgorithms, type Plan } from './plans';

export type Protocol = 'LL' | 'LL128' | 'Simple';
export const PROTOCOLS: readonly Protocol[] = ['LL', 'LL128', 'Simple'];

/**
 * NCCL's protocol constants (older tuning.cc, as gathered in the project reference): base latency per collective,
 * per-step latency over NVLink-class and network hops (µs), and bandwidth efficiency relative to Simple — LL carries
 * 8 bytes of flags per 8 bytes of data (50 %), LL128 8 of every 128 (≈ 94 %).
 */
export const PROTOCOL_CONSTANTS: Readonly<
  Record<Protocol, { baseUs: number; scaleUpHopUs: number; scaleOutHopUs: number; efficiency: number }>
> = {
  LL: { baseUs: 3.6, scaleUpHopUs: 0.47, scaleOutHopUs: 2.7, efficiency: 0.5 },
  LL128: { baseUs: 10, scaleUpHopUs: 1.9, scaleOutHopUs: 4.0, efficiency: 120 / 128 },
  Simple: { baseUs: 8.4, scaleUpHopUs: 3.4, scaleOutHopUs: 9.6, efficiency: 1 },
};

/**
 * Link efficiency: the fraction of a link's rate a collective's transfers reach with the Simple protocol.
 * Scale-up 0.77: nccl-tests all-reduce on 8× A100 reaches ≈ 230 GB/s busbw at large sizes over 300 GB/s-per-direction
 * NVLink (an NCCL ring reaches about 80 % of link rate). Scale-out 0.92: multi-node nccl-tests busbw ≈ 92 % of NIC
 * line rate on NDR/HDR InfiniBand. Unified Bus and HCCS have no public equivalent and take the scale-up value.
 */
export const LINK_EFFICIENCY: LinkEfficiency = { 'scale-up': 0.77, 'scale-out': 0.92 };

/**
 * In-switch reduction (NVLS) reaches less of the link rate than a ring: nccl-tests all-reduce on 8× H100 SXM5 gives
 * 460–480 GB/s busbw at large sizes, i.e. 480 / (2·7/8 · 450 GB/s) ≈ 0.61 of the per-direction NVLink rate.
 */
export const IN_SWITCH_EFFICIENCY = 0.61;

/**
 * The fixed cost of a one-sided kernel: its launch and the receiver noticing completion, without a CPU proxy. Taken as
 * NCCL's smallest per-call constant, the LL protocol's base latency (3.6 µs, PROTOCOL_CONSTANTS.LL.baseUs), which is
 * the same kind of cost (a kernel that completes by polling flags in memory); not fitted.
 */
export const ONE_SIDED_LAUNCH_US = PROTOCOL_CONSTANTS.LL.baseUs;

/** A point-to-point transfer with its byte count, for one-sided costs of uneven traffic (all-to-allv). */
export interface ByteFlow {
  src: number;
  dst: number;
  bytes: number;
}

export interface CostOptions {
  algorithm?: Algorithm;
  protocol?: Protocol;
  /**
   * One-sided algorithms: each peer's piece travels as writes of at most this many bytes (DeepEP and UB dispatch put
   * one token per write: 7 KB of FP8 or 14 KB of BF16 for a 7168-wide model). Default: one write per peer.
   */
  messageBytes?: number;
}

export interface CollectiveEstimate {
  /** Modelled time, µs. */
  us: number;
  algorithm: Algorithm;
  protocol: Protocol;
  /** The busiest link of the slowest phase, for reports. */
  bottleneck: string | null;
}

interface PlanCost {
  phases: Array<{ cost: PhaseCost; steps: number; latencySteps: number }>;
  /** One-sided plans: the most peers any rank writes to (or is written by) over each fabric. */
  peers?: Record<LinkKind, number>;
}

/** Messages per second per rank that each fabric of the topology sustains (Infinity where none is published). */
function messageRates(graph: TopologyGraph): Record<LinkKind, number> {
  const { scaleUp, scaleOut } = graph.spec;
  return {
    'scale-up': scaleUp.messageRateM ? scaleUp.messageRateM * 1e6 : Number.POSITIVE_INFINITY,
    'scale-out': scaleOut?.messageRateM ? scaleOut.messageRateM * 1e6 : Number.POSITIVE_INFINITY,
  };
}

/** The fabric a transfer between two ranks uses: the scale-up fabric inside a domain, the network between domains. */
const fabricOf = (graph: TopologyGraph, a: number, b: number): LinkKind =>
  graph.domainOf(a) === graph.domainOf(b) ? 'scale-up' : 'scale-out';

function checkMessageBytes(m: number | undefined): void {
  if (m !== undefined && !(Number.isFinite(m) && m > 0))
    throw new TesseraError('InvalidValue', `messageBytes must be a number of bytes > 0, got ${m}.`);
}

/** Plans whose per-link loads linkBytes keeps (the most recent): one array of every link per phase each. */
const RECENT_LOADS = 4;

const planKey = (ranks: readonly number[], op: CollectiveOp, algorithm: Algorithm, root: number) =>
  `${op}|${algorithm}|${root}|${ranks.length}|${ranks.join(',')}`;

export class CollectiveCostModel {
  private readonly cache = new Map<string, PlanCost>();
  private cacheVersion = -1;
  /**
   * Per-link loads (bytes per byte of message, per phase) of the last few plans costed, so linkBytes right after a
   * tune does not route a 768-rank all-to-all's flows again. Bounded: the cost cache keeps one figure per phase, and
   * an array of every link for every plan a large cluster costs would not be small.
   */
  private readonly recentLoads = new Map<string, Float64Array[]>();

  constructor(readonly graph: TopologyGraph) {}

  private planCost(ranks: readonly number[], op: CollectiveOp, algorithm: Algorithm, root: number): PlanCost {
    if (this.cacheVersion !== this.graph.version) {
      this.cache.clear();
      this.recentLoads.clear();
      this.cacheVersion = this.graph.version;
    }
    const key = planKey(ranks, op, algorithm, root);
    let c = this.cache.get(key);
    if (!c && algorithm === 'onesided') {
      // The same flows as the pairwise plan: share its (768-rank: 589 824-flow) evaluation.
      const pairwise = this.planCost(ranks, op, 'direct', root);
      const out = new Map<number, Record<LinkKind, number>>();
      for (const a of ranks) out.set(a, { 'scale-up': 0, 'scale-out': 0 });
      for (const a of ranks) for (const b of ranks) if (a !== b) out.get(a)![fabricOf(this.graph, a, b)]++;
      // All-to-all is symmetric: a rank receives from as many peers per fabric as it writes to.
      const peers: Record<LinkKind, number> = { 'scale-up': 0, 'scale-out': 0 };
      for (const p of out.values()) {
        peers['scale-up'] = Math.max(peers['scale-up'], p['scale-up']);
        peers['scale-out'] = Math.max(peers['scale-out'], p['scale-out']);
      }
      c = { phases: pairwise.phases.map((p) => ({ ...p, latencySteps: 1 })), peers };
      this.cache.set(key, c);
    }
    if (!c) {
      const plan: Plan = buildPlan(this.graph, ranks, op, algorithm, root);
      const eff: LinkEfficiency =
        algorithm === 'nvls'
          ? { 'scale-up': IN_SWITCH_EFFICIENCY, 'scale-out': LINK_EFFICIENCY['scale-out'] }
          : LINK_EFFICIENCY;
      const loads = plan.phases.map((p) => phaseLoad(this.graph, p.flows, p.extra));
      this.rememberLoads(
        key,
        loads.map((l) => l.load),
      );
      c = {
        phases: plan.phases.map((p, i) => ({
          cost: costOfLoad(this.graph, loads[i]!, eff),
          steps: p.steps,
          latencySteps: p.latencySteps,
        })),
      };
      this.cache.set(key, c);
    }
    return c;
  }

  /** Time of one algorithm × protocol. */
  time(
    ranks: readonly number[],
    op: CollectiveOp,
    bytes: number,
    algorithm: Algorithm,
    protocol: Protocol,
    root = 0,
    messageBytes?: number,
  ): CollectiveEstimate {
    const pc = PROTOCOL_CONSTANTS[protocol];
    const plan = this.planCost(ranks, op, algorithm, root);
    // NCCL returns at once for a zero-byte call.
    if (bytes === 0) return { us: 0, algorithm, protocol, bottleneck: null };
    if (algorithm === 'onesided') {
      const p = plan.phases[0];
      if (!p || !plan.peers) return { us: 0, algorithm, protocol, bottleneck: null };
      // Each peer's piece is S/n (nccl-tests' all-to-all size S is a rank's whole send buffer).
      const perPeer = bytes / ranks.length;
      const writes = (messageBytes ? Math.ceil(perPeer / messageBytes) : 1) + 1; // data + the completion flag
      const rate = messageRates(this.graph);
      return this.oneSided(
        p.cost.latencyUs,
        bytes * p.cost.secondsPerByte,
        Math.max(
          (plan.peers['scale-up'] * writes) / rate['scale-up'],
          (plan.peers['scale-out'] * writes) / rate['scale-out'],
        ),
        p.cost.bottleneck?.name ?? null,
      );
    }
    let us = ranks.length > 1 ? pc.baseUs : 0;
    let slowest = -1;
    let bottleneck: string | null = null;
    for (const p of plan.phases) {
      const hop = p.cost.crossesNetwork ? pc.scaleOutHopUs : pc.scaleUpHopUs;
      const transfer = (p.steps * bytes * p.cost.secondsPerByte * 1e6) / pc.efficiency;
      us += p.latencySteps * (hop + p.cost.latencyUs) + transfer;
      if (transfer > slowest) {
        slowest = transfer;
        bottleneck = p.cost.bottleneck?.name ?? null;
      }
    }
    return { us, algorithm, protocol, bottleneck };
  }

  /**
   * Bytes each link carries (indexed by link id) during one `algorithm` run of `op` over `ranks` with message size
   * `bytes` (nccl-tests' S): Σ over the plan's phases of steps · S · the phase's load per byte — the loads whose busiest
   * link sets each phase's time in `time`, on the graph's current routes (cut links routed around). Payload bytes: on
   * the wire LL and LL128 add their flags (÷ PROTOCOL_CONSTANTS[protocol].efficiency of what is passed as `bytes`).
   */
  linkBytes(ranks: readonly number[], op: CollectiveOp, bytes: number, algorithm: Algorithm, root = 0): Float64Array {
    // One-sided all-to-all moves the pairwise plan's flows (see planCost).
    const algo = algorithm === 'onesided' ? 'direct' : algorithm;
    const phases = this.planCost(ranks, op, algo, root).phases;
    const key = planKey(ranks, op, algo, root);
    let loads = this.recentLoads.get(key);
    if (!loads) {
      loads = buildPlan(this.graph, ranks, op, algo, root).phases.map(
        (p) => phaseLoad(this.graph, p.flows, p.extra).load,
      );
      this.rememberLoads(key, loads);
    }
    const out = new Float64Array(this.graph.links.length);
    if (bytes === 0) return out;
    phases.forEach((p, k) => {
      const load = loads[k]!;
      const scale = p.steps * bytes;
      for (let i = 0; i < load.length; i++) if (load[i]) out[i]! += scale * load[i]!;
    });
    return out;
  }

  private rememberLoads(key: string, loads: Float64Array[]): void {
    this.recentLoads.delete(key);
    this.recentLoads.set(key, loads);
    if (this.recentLoads.size > RECENT_LOADS) this.recentLoads.delete(this.recentLoads.keys().next().value!);
  }

  /** t = launch + 2 · route latency (µs) + max(bandwidth term, message term) (given in seconds). */
  private oneSided(
    routeLatencyUs: number,
    transferSeconds: number,
    messageSeconds: number,
    bottleneck: string | null,
  ): CollectiveEstimate {
    const messageBound = messageSeconds > transferSeconds;
    return {
      us: ONE_SIDED_LAUNCH_US + 2 * routeLatencyUs + Math.max(transferSeconds, messageSeconds) * 1e6,
      algorithm: 'onesided',
      protocol: 'Simple',
      bottleneck: messageBound ? 'message rate' : bottleneck,
    };
  }

  /**
   * Uneven all-to-all (all-to-allv): explicit flows with byte counts, costed both ways — NCCL's grouped send/recv
   * (`direct`: one point-to-point latency per peer of the busiest rank) and one-sided puts (`onesided`) — and the
   * fastest kept, unless forced.
   */
  flowsTime(ranks: readonly number[], flows: readonly ByteFlow[], o: CostOptions = {}): CollectiveEstimate {
    checkMessageBytes(o.messageBytes);
    const algos: Algorithm[] = ['direct', 'onesided'];
    if (o.algorithm && !algos.includes(o.algorithm)) {
      throw new TesseraError(
        'Unsupported',
        `Algorithm '${o.algorithm}' does not apply to alltoall on these ${ranks.length} ranks of '${this.graph.spec.name}'.`,
        { hint: `Applicable here: ${algos.join(', ')}.` },
      );
    }
    if (o.algorithm === 'onesided' && o.protocol && o.protocol !== 'Simple') {
      throw new TesseraError(
        'Unsupported',
        `One-sided puts carry no LL flags: Simple protocol only, not ${o.protocol}.`,
        {
          hint: "Drop the protocol, or pass 'Simple'.",
        },
      );
    }
    const moving = flows.filter((f) => f.src !== f.dst && f.bytes > 0);
    if (moving.length === 0) return { us: 0, algorithm: o.algorithm ?? 'direct', protocol: 'Simple', bottleneck: null };
    const cost = evaluatePhase(
      this.graph,
      moving.map((f) => ({ src: f.src, dst: f.dst, weight: f.bytes })),
      LINK_EFFICIENCY,
    );
    const peersOut = new Map<number, number>();
    for (const f of moving) peersOut.set(f.src, (peersOut.get(f.src) ?? 0) + 1);
    const maxPeers = Math.max(...peersOut.values());
    let best: CollectiveEstimate | null = null;
    if (o.algorithm !== 'onesided') {
      for (const protocol of o.protocol ? [o.protocol] : PROTOCOLS) {
        const pc = PROTOCOL_CONSTANTS[protocol];
        const hop = cost.crossesNetwork ? pc.scaleOutHopUs : pc.scaleUpHopUs;
        const us = pc.baseUs + maxPeers * (hop + cost.latencyUs) + (cost.secondsPerByte * 1e6) / pc.efficiency;
        if (!best || us < best.us)
          best = { us, algorithm: 'direct', protocol, bottleneck: cost.bottleneck?.name ?? null };
      }
    }
    if (o.algorithm !== 'direct') {
      const rate = messageRates(this.graph);
      const writes = new Map<string, number>(); // `${rank}|${fabric}|out|in` → writes issued or received
      const add = (k: string, w: number) => writes.set(k, (writes.get(k) ?? 0) + w);
      for (const f of moving) {
        const fabric = fabricOf(this.graph, f.src, f.dst);
        const w = (o.messageBytes ? Math.ceil(f.bytes / o.messageBytes) : 1) + 1;
        add(`${f.src}|${fabric}|out`, w);
        add(`${f.dst}|${fabric}|in`, w);
      }
      let messageSeconds = 0;
      for (const [k, w] of writes) messageSeconds = Math.max(messageSeconds, w / rate[k.split('|')[1] as LinkKind]);
      const t = this.oneSided(cost.latencyUs, cost.secondsPerByte, messageSeconds, cost.bottleneck?.name ?? null);
      if (!best || t.us < best.us) best = t;
    }
    return best!;
  }

  /** The fastest applicable algorithm × protocol (or the forced ones). */
  tune(
    ranks: readonly number[],
    op: CollectiveOp,
    bytes: number,
    force: CostOptions = {},
    root = 0,
  ): CollectiveEstimate {
    checkMessageBytes(force.messageBytes);
    const algos = candidateAlgorithms(this.graph, ranks, op);
    if (force.algorithm && !algos.includes(force.algorithm)) {
      throw new TesseraError(
        'Unsupported',
        `Algorithm '${force.algorithm}' does not apply to ${op} on these ${ranks.length} ranks of '${this.graph.spec.name}'.`,
        {
          hint: `Applicable here: ${algos.join(', ')}.`,
        },
      );
    }
    if (force.algorithm === 'nvls' && force.protocol && force.protocol !== 'Simple') {
      throw new TesseraError('Unsupported', `NVLS runs with the Simple protocol only, not ${force.protocol}.`, {
        hint: "Drop the protocol, or pass 'Simple'.",
      });
    }
    if (force.algorithm === 'onesided' && force.protocol && force.protocol !== 'Simple') {
      throw new TesseraError(
        'Unsupported',
        `One-sided puts carry no LL flags: Simple protocol only, not ${force.protocol}.`,
        {
          hint: "Drop the protocol, or pass 'Simple'.",
        },
      );
    }
    let best: CollectiveEstimate | null = null;
    for (const a of force.algorithm ? [force.algorithm] : algos) {
      // NCCL runs NVLS (in-switch reduction) with the Simple protocol only; one-sided puts move bulk data (Simple) and
      // signal with separate flag writes.
      const simpleOnly = a === 'nvls' || a === 'onesided';
      const protocols = simpleOnly ? (['Simple'] as const) : force.protocol ? [force.protocol] : PROTOCOLS;
      for (const p of protocols) {
        if (force.protocol && p !== force.protocol) continue;
        const t = this.time(ranks, op, bytes, a, p, root, force.messageBytes);
        if (!best || t.us < best.us) best = t;
      }
    }
    return best!;
  }
}
