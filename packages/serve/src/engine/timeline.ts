/**
 * A step's ops per rank for its StepEvent (feed.ts): the profiler's records on the modelled clock, relative to the
 * step's start, with long runs of small ops merged so an event stays small whatever the model.
 */
import type { Activity } from '@tessera/device';
import type { StepEvent, TimelineKind, TimelineOp } from './feed';

/** Ops per rank in one event before runs of small ops of one kind are merged (see `rankOps`). */
export const OPS_PER_RANK = 200;

const KIND: Partial<Record<Activity['kind'], TimelineKind>> = {
  kernel: 'kernel',
  collective: 'collective',
  memcpy: 'memcpy',
  memset: 'memcpy', // a fill runs on the copy engine, beside the copies
};
const PLURAL: Record<TimelineKind, string> = { kernel: 'kernels', collective: 'collectives', memcpy: 'copies' };

/** Rounds to the nanosecond: the modelled times have no more precision, and the JSON stays short. */
const ns = (ms: number) => Math.round(ms * 1e6) / 1e6;

interface Run {
  first: TimelineOp;
  n: number;
  busy: number;
  end: number;
}

/**
 * Per rank, the step's ops on the modelled clock (ms from the step's start), in start order. A rank with more than
 * OPS_PER_RANK ops gets consecutive ops of one kind merged while together they span at most a quantum (the rank's span
 * ÷ OPS_PER_RANK, doubled until the count fits): a big model's hundreds of tiny kernels become a few bars, while any
 * op longer than the quantum stays whole. A kernel never merges with a collective, so a rank keeps at most
 * max(OPS_PER_RANK, 2 × its collectives + 1) ops (under TP: the two all-reduces of each layer with the kernel runs
 * between them). At about 65 bytes of JSON per op, the embedded model's TP-8 step is about 40 KB (73 ops per rank,
 * none merged), a 32-layer TP-8 step at most about 105 KB, an 80-layer one about 200 KB. A merged op's duration is
 * the sum of its ops' (busy time, so per-kind busy fractions stay exact), and its name is the first op's with how
 * many more it holds.
 */
export function rankOps(activities: readonly Activity[], clock0: number, ranks: number): StepEvent['ranks'] {
  const per: TimelineOp[][] = Array.from({ length: ranks }, () => []);
  for (const a of activities) {
    const kind = KIND[a.kind];
    const ops = per[a.deviceOrdinal];
    if (!kind || !ops) continue;
    ops.push({ name: a.name, kind, startMs: Math.max(0, a.startMs - clock0), durMs: a.endMs - a.startMs });
  }
  return per.map((ops, rank) => {
    ops.sort((x, y) => x.startMs - y.startMs);
    const merged = ops.length > OPS_PER_RANK ? mergeRuns(ops) : ops;
    return { rank, ops: merged.map((o) => ({ ...o, startMs: ns(o.startMs), durMs: ns(o.durMs) })) };
  });
}

function mergeRuns(ops: readonly TimelineOp[]): TimelineOp[] {
  // A loop, not Math.max(...): a spread of a very long step's ops would overflow the call stack.
  let last = 0;
  for (const o of ops) last = Math.max(last, o.startMs + o.durMs);
  const span = last - ops[0]!.startMs;
  let quantum = span / OPS_PER_RANK;
  for (;;) {
    const out = mergeWithin(ops, quantum);
    if (out.length <= OPS_PER_RANK || quantum >= span) return out;
    quantum *= 2;
  }
}

function mergeWithin(ops: readonly TimelineOp[], quantum: number): TimelineOp[] {
  const out: TimelineOp[] = [];
  let run: Run | null = null;
  const flush = (r: Run) => {
    if (r.n === 1) {
      out.push(r.first);
      return;
    }
    const spanMs = r.end - r.first.startMs;
    out.push({
      name: `${r.first.name} +${r.n - 1} ${PLURAL[r.first.kind]}`,
      kind: r.first.kind,
      startMs: r.first.startMs,
      durMs: Math.min(r.busy, spanMs),
    });
  };
  for (const op of ops) {
    const end = op.startMs + op.durMs;
    if (run && op.kind === run.first.kind && Math.max(run.end, end) - run.first.startMs <= quantum) {
      run.n++;
      run.busy += op.durMs;
      run.end = Math.max(run.end, end);
      continue;
    }
    if (run) flush(run);
    run = { first: op, n: 1, busy: op.durMs, end };
  }
  if (run) flush(run);
  return out;
}
