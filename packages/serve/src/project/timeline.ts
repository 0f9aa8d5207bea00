/**
 * The step's timeline from the profiler's records: per rank, its kernels and collectives in issue order with their
 * times on the step's clock, the time it waited, and per pipeline stage the busiest rank's busy time.
 */
import { type Activity, compulsoryBytes } from '@tessera/device';
import type { Layout } from './layout';
import type { RankProjection } from './types';

export interface Timeline {
  ranks: RankProjection[];
  /** First launch → the last rank's end. */
  latencyMs: number;
  stageMs: number[];
  criticalRank: number;
}

/**
 * The earliest start among a step's records. A loop, not Math.min(...): a step at high TP (DeepSeek-R1 at TP 128 on
 * CloudMatrix384) has hundreds of thousands of records, past the engine's argument limit.
 */
export function earliestStart(records: readonly { startMs: number }[]): number {
  let t0 = Number.POSITIVE_INFINITY;
  for (const r of records) if (r.startMs < t0) t0 = r.startMs;
  return t0;
}

/**
 * `representative(rank)` names the rank whose launches stand for this one's (itself, or a rank that issued the same
 * launches: see step.ts); such ranks get their representative's timeline.
 */
export function timeline(
  L: Layout,
  all: readonly Activity[],
  representative: (rank: number) => number = (r) => r,
): Timeline {
  // In start order: with two streams per rank (two-batch overlap) issue order is not time order.
  const records = all
    .filter((r) => r.kind === 'kernel' || r.kind === 'collective')
    .sort((x, y) => x.startMs - y.startMs);
  const t0 = earliestStart(records);
  const ranks: RankProjection[] = Array.from({ length: L.devices }, (_, rank) => ({
    rank,
    stage: Math.floor(rank / L.stageRanks),
    group: Math.floor((rank % L.stageRanks) / L.tp),
    kernelsMs: 0,
    collectivesMs: 0,
    idleMs: 0,
    ops: [],
  }));
  const ends = ranks.map(() => t0);
  for (const rec of records) {
    const d = rec.deviceOrdinal;
    const rp = ranks[d]!;
    const ms = rec.endMs - rec.startMs;
    // A stage's first launch waits for the one before: that wait is idle time too.
    rp.idleMs += Math.max(0, rec.startMs - ends[d]!);
    ends[d] = Math.max(ends[d]!, rec.endMs);
    if (rec.kind === 'kernel') {
      rp.kernelsMs += ms;
      const c = rec.cost;
      const bytes = c ? compulsoryBytes(c) : null;
      rp.ops.push({
        kind: 'kernel',
        name: rec.name,
        startMs: rec.startMs - t0,
        ms,
        flops: c ? c.total.matrixFlops.reduce((s, x) => s + x, 0) : 0,
        bytesRead: bytes?.read ?? 0,
        bytesWritten: bytes?.written ?? 0,
        dramBytes: rec.timing?.breakdown.dramBytes ?? 0,
      });
    } else {
      rp.collectivesMs += ms;
      const args = (rec.args ?? {}) as { algorithm?: string; protocol?: string; bottleneck?: string | null };
      rp.ops.push({
        kind: 'collective',
        name: rec.name,
        startMs: rec.startMs - t0,
        ms,
        bytes: rec.bytes ?? 0,
        algorithm: args.algorithm,
        protocol: args.protocol,
        bottleneck: args.bottleneck ?? null,
      });
    }
  }
  for (const rp of ranks) {
    const rep = representative(rp.rank);
    if (rep === rp.rank) continue;
    const from = ranks[rep]!;
    Object.assign(rp, {
      kernelsMs: from.kernelsMs,
      collectivesMs: from.collectivesMs,
      idleMs: from.idleMs,
      ops: from.ops,
    });
    ends[rp.rank] = ends[rep]!;
  }
  let end = t0;
  let criticalRank = 0;
  for (const [r, e] of ends.entries())
    if (e > end) {
      end = e;
      criticalRank = r;
    }
  const stageMs = L.stages.map(() => 0);
  for (const rp of ranks) stageMs[rp.stage] = Math.max(stageMs[rp.stage]!, rp.kernelsMs + rp.collectivesMs);
  return { ranks, latencyMs: end - t0, stageMs, criticalRank };
}
