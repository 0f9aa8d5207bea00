/**
 * projectStep: one engine step of any @tessera/models architecture, costed by running the model graph's launches on a
 * timing-only cluster — buffers carry shape and dtype only, nothing is computed and no weight is materialised. The
 * decoder layer's launches are layer.ts's, the ones LlamaModel serves with (forward.ts lists them); the collectives
 * are the cluster communicator's (its tuner picks the algorithm: the one-sided path is its default for MoE
 * all-to-all). Parallelism: TP within a DP group, DP groups of attention with expert parallelism over a stage, and
 * pipeline stages (layout.ts); speculative decoding as a verification pass plus draft passes.
 *
 * Assumptions (also in each projection's `assumptions`): sigmoid routing costed as softmax top-k; uniform routing —
 * every expert gets an equal share of the (token, expert) pairs, and each rank's slice sends equally to every owner;
 * host input preparation (ids, positions, block tables) is not costed; one stream per rank, so kernels and collectives
 * serialise (no overlap); pipeline micro-batches of equal size.
 */
import { type Cluster, createCluster, resolveTopology } from '@tessera/cluster';
import type { DeviceBuffer, Stream } from '@tessera/device';
import { type BufferKind, type BufferPlan, bytesOf, planStage, routing } from './buffers';
import { type Comms, issueStep, type RankState } from './forward';
import { type Layout, resolveLayout } from './layout';
import { mlaAssumptions } from './mla';
import { timeline } from './timeline';
import {
  CapacityError,
  type MemoryPerDevice,
  ProjectionError,
  type ProjectStepOptions,
  type StepProjection,
} from './types';

/** One step of `arch` on pp · dp · tp ranks of `topology`, costed with the kernels' and communicator's models. */
export async function projectStep(o: ProjectStepOptions): Promise<StepProjection> {
  const spec = resolveTopology(o.topology);
  // DeepEP's normal mode forwards inside a scale-up domain (a DGX's NVLink, an NVL72 rack, a CloudMatrix384's UB).
  const L = resolveLayout(o, spec.devicesPerNode * (spec.scaleUp.domainNodes ?? 1));
  const plans = L.stages.map((_, s) => planStage(L, s));
  const cluster: Cluster = await createCluster({
    topology: spec,
    ranks: L.devices,
    mode: 'timing',
    profile: true,
  });
  const props = cluster.devices[0]!.properties;
  if (L.Q && !props.dtypes.includes(L.Q))
    throw new ProjectionError(
      'weightDtype',
      `${props.name} has no ${L.Q} matrix path (it supports ${props.dtypes.join(', ')}); use ${L.weightDtype === 'fp8' ? 'int8 (W8A8) or bf16' : 'bf16'}.`,
    );
  if (L.C === 'fp8e4m3' && !props.dtypes.includes('fp8e4m3'))
    throw new ProjectionError(
      'kvDtype',
      `${props.name} has no fp8 (it supports ${props.dtypes.join(', ')}); use a bf16 or f16 KV cache.`,
    );
  const memory = checkCapacity(cluster, plans, L);
  // Representatives: ranks that would issue the very same launches share one timeline. A rank's launches follow from
  // its group's sequences in every pass, whether it is its group's TP rank 0 (which adds the residual and samples),
  // and under expert parallelism the (token, expert) rows its experts receive. The first rank of each kind issues the
  // kernels; the others issue none and hold only the buffers collectives touch (their timelines are copied).
  const allPasses = L.passes.flatMap((p) => [p, ...(L.halves?.get(p) ?? [])]);
  const recvs = L.moe && L.ep > 1 ? allPasses.map((p) => routing(L, p).recv) : [];
  const firstOfKind = new Map<string, number>();
  const repIndex = Array.from({ length: L.stageRanks }, (_, i) => {
    const g = Math.floor(i / L.tp);
    const key = JSON.stringify([allPasses.map((p) => p.groups[g]), i % L.tp === 0, recvs.map((r) => r[i])]);
    if (!firstOfKind.has(key)) firstOfKind.set(key, i);
    return firstOfKind.get(key)!;
  });
  const repOf = (i: number) => (o.everyRank ? i : repIndex[i]!);
  const stages: RankState[][] = plans.map((stagePlans, s) =>
    Array.from({ length: L.stageRanks }, (_, i) => {
      const dev = cluster.devices[s * L.stageRanks + i]!;
      const active = repOf(i) === i;
      const m = new Map<string, DeviceBuffer>();
      for (const p of stagePlans) if (active || p.kind === 'workspace') m.set(p.name, dev.alloc(p.dtype, p.n));
      return { dev, m, b: (name: string) => m.get(name)!, i, group: Math.floor(i / L.tp), t: i % L.tp, active };
    }),
  );
  const base = (s: number) => s * L.stageRanks;
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const comms: Comms = {
    tp: L.stages.map((_, s) =>
      Array.from({ length: L.dp }, (_, g) => (L.tp > 1 ? cluster.communicator(range(base(s) + g * L.tp, L.tp)) : null)),
    ),
    ep: L.stages.map((_, s) => (L.ep > 1 ? cluster.communicator(range(base(s), L.stageRanks)) : null)),
    pp: L.stages.map((_, s) => (s < L.pp - 1 ? cluster.communicator(range(base(s), 2 * L.stageRanks)) : null)),
  };
  // Two-batch overlap: the second half gets its own workspace (weights and KV are shared) and each rank two streams.
  const overlap = L.halves
    ? {
        stagesB: stages.map((ranks, s) =>
          ranks.map((rk) => {
            const m = new Map(rk.m);
            for (const p of plans[s]!) if (p.kind === 'workspace') m.set(p.name, rk.dev.alloc(p.dtype, p.n));
            return { ...rk, m, b: (name: string) => m.get(name)! };
          }),
        ),
        streams: stages.map((ranks) =>
          ranks.map((rk): [Stream, Stream] => [rk.dev.createStream(), rk.dev.createStream()]),
        ),
      }
    : undefined;
  const prof = cluster.runtime.profiler;
  prof.clear();
  issueStep(L, stages, comms, overlap);
  for (const d of cluster.devices) d.synchronize();
  const tl = timeline(L, prof.records, (rank) => rank - (rank % L.stageRanks) + repOf(rank % L.stageRanks));
  prof.clear();
  const busiest = Math.max(...tl.stageMs);
  const ms = L.pp > 1 ? Math.max(tl.latencyMs, L.pp * busiest) : tl.latencyMs;
  const target = L.passes[0]!;
  const tokensPerMicro = target.groups.reduce((n, g) => n + g.reduce((m, q) => m + q.queryLen, 0), 0);
  const sampledPerMicro = target.groups.reduce(
    (n, g) => n + (target.sampleAll ? g.reduce((m, q) => m + q.queryLen, 0) : g.length),
    0,
  );
  return {
    ms,
    latencyMs: tl.latencyMs,
    stageMs: tl.stageMs,
    criticalRank: tl.criticalRank,
    ranks: tl.ranks,
    tokens: tokensPerMicro * L.pp,
    sampledRows: sampledPerMicro * L.pp,
    outputTokens: L.sequencesInFlight * L.tokensPerSequenceStep,
    tokensPerSequenceStep: L.tokensPerSequenceStep,
    memory,
    devices: L.devices,
    assumptions: assumptions(L),
  };
}

/** Per-stage bytes as the device charges them; throws CapacityError for the fullest stage that does not fit. */
function checkCapacity(cluster: Cluster, plans: BufferPlan[][], L: Layout): MemoryPerDevice {
  const dev0 = cluster.devices[0]!;
  // The device charges each allocation rounded up to its granularity (cudaMalloc's): measure it with one byte.
  const before = dev0.memGetInfo().free;
  const probe = dev0.alloc('u8', 1);
  const gran = before - dev0.memGetInfo().free;
  dev0.free(probe);
  const capacity = dev0.memGetInfo().free;
  const charged = (p: BufferPlan) => Math.max(gran, Math.ceil(bytesOf(p) / gran) * gran);
  let worst: MemoryPerDevice | null = null;
  for (const stagePlans of plans) {
    const sum = (kind: BufferKind) => stagePlans.filter((p) => p.kind === kind).reduce((s, p) => s + charged(p), 0);
    const m: MemoryPerDevice = {
      weights: sum('weights'),
      kvCache: sum('kv'),
      workspace: sum('workspace') * (L.halves ? 2 : 1), // two-batch overlap: a second workspace for the other half
      total: 0,
      capacity,
    };
    m.total = m.weights + m.kvCache + m.workspace;
    if (!worst || m.total > worst.total) worst = m;
  }
  if (worst!.total > capacity) {
    const where = L.pp > 1 ? ` (the fullest of ${L.pp} pipeline stages)` : '';
    throw new CapacityError(worst!, worst!.total - capacity, `${dev0.properties.name}${where}`);
  }
  return worst!;
}

function assumptions(L: Layout): string[] {
  const { moe, mla } = L;
  const kv = L.kvSequences;
  const out = [
    L.halves
      ? "two-batch overlap: two streams per rank; one half's collectives overlap the other half's kernels (kernels share the compute engine, collectives the communication engine, and communication takes no SMs from compute)"
      : 'one stream per rank: kernels and collectives serialise, no compute/communication overlap',
    'host input preparation (ids, positions, block tables, sampling parameters) is not costed',
    `KV cache per rank: ${kv.length} sequences (up to ${Math.max(...kv.map((q) => q.contextLen))} tokens) in blocks of ${L.blockSize}, ${L.kvDtype}${L.kvDtype === 'fp8' ? ' (e4m3, one scale per tensor for K and V: quantised by reshape_and_cache, dequantised on load by attention)' : ''}`,
    'the embedding table is replicated on every rank that embeds (as LlamaModel keeps it); the LM head is vocab-parallel',
  ];
  if (L.Q)
    out.push(
      `W8A8 ${L.weightDtype}: every projection and expert GEMM quantises its input per token first${mla ? "; MLA's absorbed W_UK / W_UV stay in bf16 (as vLLM dequantises them)" : ''}`,
    );
  if (mla) out.push(...mlaAssumptions(L));
  if (moe && moe.scoringFunc !== 'softmax') {
    out.push(
      `${moe.scoringFunc} routing${moe.numExpertGroups ? ' with group-limited top-k' : ''} is costed as moeRouter's softmax top-k (the same shapes and one launch)`,
    );
  }
  if (moe) {
    out.push(
      `uniform routing: each of the ${L.E} experts gets an equal share (±1) of the (token, expert) pairs`,
      L.ep > 1
        ? `expert parallelism over the ${L.ep} ranks of a stage: ${L.El} whole experts each${L.redundantExperts > 0 ? ` (${L.E} experts in ${L.El * L.ep} slots: ${L.redundantExperts} hold replicas, as EPLB places redundant experts)` : ''}; every rank routes ⌈N/tp⌉ of its group's tokens and sends an equal share to every owner (dispatch and combine: all-to-all-v)`
        : 'experts TP-sharded over their intermediate dimension (vLLM without --enable-expert-parallel)',
    );
  }
  if (L.dp > 1)
    out.push(
      `attention data parallelism: ${L.dp} groups of TP ${L.tp}, each with its own sequences and KV cache; dense layers run within each group`,
    );
  if (L.pp > 1)
    out.push(
      `${L.pp} pipeline stages of ${L.stages.map((s) => s.length).join('/')} layers; ${L.pp} equal micro-batches of ${L.sequencesInFlight / L.pp} sequences take turns, so a step is max(one micro-batch's latency, ${L.pp} × the busiest stage); activations move between stages as f32 (hidden + residual in bf16: the same bytes)`,
    );
  if (L.draft) {
    out.push(
      `speculative decoding: ${L.draftTokens} draft token(s) per step from ${L.draft === 'mtp' ? "the model's MTP layer" : 'an EAGLE-style head (one dense decoder layer, its weights counted)'}; every step verifies ${L.draftTokens + 1} tokens per sequence and emits (1 − α^${L.draftTokens + 1}) / (1 − α) = ${L.tokensPerSequenceStep.toFixed(2)} on average`,
    );
  }
  return out;
}
