/**
 * The collective cost model and tuner, after NCCL's (src/graph/tuning.cc):
 *
 *   t = baseLat(protocol) + Σ_phases [ latencySteps · (hopLat(protocol, fabric) + route latency)
 *                                    + steps · S · (seconds per byte of the phase) / efficiency(protocol) ]
 *
 * Seconds per byte come from the flow model (network/flows.ts) over the topology, with each fabric's link
 * efficiency. The tuner evaluates every applicable algorithm × protocol and keeps the fastest, as NCCL does; callers
 * may force either.
 */
import { TesseraError } from '@tessera/device';
import { evaluatePhase, type LinkEfficiency, type PhaseCost } from '../network/flows';
import type { TopologyGraph } from '../topology/graph';
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
}

export class CollectiveCostModel {
  private readonly cache = new Map<string, PlanCost>();
  private cacheVersion = -1;

  constructor(readonly graph: TopologyGraph) {}

  private planCost(ranks: readonly number[], op: CollectiveOp, algorithm: Algorithm, root: number): PlanCost {
    if (this.cacheVersion !== this.graph.version) {
      this.cache.clear();
      this.cacheVersion = this.graph.version;
    }
    const key = `${op}|${algorithm}|${root}|${ranks.length}|${ranks.join(',')}`;
    let c = this.cache.get(key);
    if (!c) {
      const plan: Plan = buildPlan(this.graph, ranks, op, algorithm, root);
      const eff: LinkEfficiency =
        algorithm === 'nvls'
          ? { 'scale-up': IN_SWITCH_EFFICIENCY, 'scale-out': LINK_EFFICIENCY['scale-out'] }
          : LINK_EFFICIENCY;
      c = {
        phases: plan.phases.map((p) => ({
          cost: evaluatePhase(this.graph, p.flows, eff, p.extra),
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
  ): CollectiveEstimate {
    const pc = PROTOCOL_CONSTANTS[protocol];
    const plan = this.planCost(ranks, op, algorithm, root);
    // NCCL returns at once for a zero-byte call.
    if (bytes === 0) return { us: 0, algorithm, protocol, bottleneck: null };
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

  /** The fastest applicable algorithm × protocol (or the forced ones). */
  tune(
    ranks: readonly number[],
    op: CollectiveOp,
    bytes: number,
    force: { algorithm?: Algorithm; protocol?: Protocol } = {},
    root = 0,
  ): CollectiveEstimate {
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
    let best: CollectiveEstimate | null = null;
    for (const a of force.algorithm ? [force.algorithm] : algos) {
      // NCCL runs NVLS (in-switch reduction) with the Simple protocol only.
      const protocols = a === 'nvls' ? (['Simple'] as const) : force.protocol ? [force.protocol] : PROTOCOLS;
      for (const p of protocols) {
        if (force.protocol && p !== force.protocol) continue;
        const t = this.time(ranks, op, bytes, a, p, root);
        if (!best || t.us < best.us) best = t;
      }
    }
    return best!;
  }
}
