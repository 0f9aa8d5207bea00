/**
 * projectionTrace: a projected step (projectStep's StepProjection) as a Chrome Trace Event Format JSON object, the
 * format https://ui.perfetto.dev and chrome://tracing open. One process per rank ("rank r · <device>"), two threads per
 * rank — "compute" (its kernels) and "communication" (its collectives) — and one complete event (`ph: 'X'`) per op, at
 * its start on the step's clock. A rank's stream runs one op at a time, so a thread's events never overlap, and the
 * time a rank waited (idleMs) shows as a gap on both of its threads.
 *
 * Times are in µs (the format's unit), rounded to the nanosecond (Perfetto's resolution): an op's start and end are
 * rounded, its duration is their difference, so rounding never makes two ops overlap.
 *
 * With pipeline stages (pp > 1) the timeline is one micro-batch through every stage, [0, latencyMs]; the step (`ms`,
 * pp micro-batches taking turns) is in the metadata. Process names carry the stage and DP group when there are several.
 *
 * Ids: rank r is pid r + 1 and its threads tids 2r + 1 (compute) and 2r + 2 (communication) — unique across the whole
 * trace and never 0, as Perfetto's importer, which follows OS semantics (tid 0 and pid 0 are the idle task, a tid names
 * one thread system-wide), displays them reliably. The names carry the rank.
 *
 * Linear in the number of ops and free of argument spreads: a step of a big model at high TP has hundreds of thousands.
 */
import type { ProjectedOp, StepProjection } from './project';

/** Who and what the step was: shown in the trace's metadata (`otherData`). */
export interface ProjectionTraceMeta {
  model: string;
  system: string;
  /** The device name, in each rank's process name. */
  device: string;
  /** Anything else worth keeping with the trace (tp, batch, phase, …): copied into `otherData`. */
  [key: string]: unknown;
}

/** One Trace Event Format event: `M` names a process or thread, `X` is a complete event (ts and dur in µs). */
export interface TraceEvent {
  name: string;
  ph: 'M' | 'X';
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

export interface ProjectionTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  /** The format's free-form metadata: the meta given, and the step's summary. */
  otherData: Record<string, unknown>;
}

/** Rank r's process id in the trace. */
export const tracePid = (rank: number) => rank + 1;
/** Rank r's thread ids: its kernels ('compute') and its collectives ('communication'). */
export const traceTid = (rank: number, lane: 'compute' | 'communication') => 2 * rank + (lane === 'compute' ? 1 : 2);

/** ms → integer ns. */
const ns = (ms: number) => Math.round(ms * 1e6);

/** Achieved rate (units per second) / scale, or undefined for a zero-length op. */
const rate = (amount: number, ms: number, scale: number) => (ms > 0 ? amount / (ms * 1e-3) / scale : undefined);

function opArgs(op: ProjectedOp): Record<string, unknown> {
  if (op.kind === 'kernel') {
    const flops = op.flops ?? 0;
    const dram = op.dramBytes ?? 0;
    const args: Record<string, unknown> = {
      ms: op.ms,
      flops,
      bytes_read: op.bytesRead ?? 0,
      bytes_written: op.bytesWritten ?? 0,
      dram_bytes: dram,
    };
    const tflops = rate(flops, op.ms, 1e12);
    const gbs = rate(dram, op.ms, 1e9);
    if (tflops !== undefined) args.achieved_tflops = tflops;
    if (gbs !== undefined) args.achieved_dram_GBps = gbs;
    return args;
  }
  const bytes = op.bytes ?? 0;
  const args: Record<string, unknown> = { ms: op.ms, bytes };
  const algbw = rate(bytes, op.ms, 1e9);
  if (algbw !== undefined) args.algbw_GBps = algbw;
  if (op.algorithm) args.algorithm = op.algorithm;
  if (op.protocol) args.protocol = op.protocol;
  if (op.bottleneck) args.bottleneck = op.bottleneck;
  return args;
}

/** The step as a Chrome / Perfetto trace. `JSON.stringify` it to a file and open it in https://ui.perfetto.dev. */
export function projectionTrace(step: StepProjection, meta: ProjectionTraceMeta): ProjectionTrace {
  const events: TraceEvent[] = [];
  let stages = false;
  let groups = false;
  for (const rank of step.ranks) {
    if (rank.stage > 0) stages = true;
    if (rank.group > 0) groups = true;
  }
  for (const rank of step.ranks) {
    const r = rank.rank;
    const pid = tracePid(r);
    const compute = traceTid(r, 'compute');
    const communication = traceTid(r, 'communication');
    events.push(
      {
        name: 'process_name',
        ph: 'M',
        pid,
        args: {
          name: `rank ${r}${stages ? ` · stage ${rank.stage}` : ''}${groups ? ` · DP ${rank.group}` : ''} · ${meta.device}`,
        },
      },
      { name: 'process_sort_index', ph: 'M', pid, args: { sort_index: r } },
      {
        name: 'process_labels',
        ph: 'M',
        pid,
        args: {
          labels:
            `kernels ${rank.kernelsMs.toFixed(3)} ms, collectives ${rank.collectivesMs.toFixed(3)} ms, ` +
            `idle ${rank.idleMs.toFixed(3)} ms${r === step.criticalRank ? ', critical rank' : ''}`,
        },
      },
      { name: 'thread_name', ph: 'M', pid, tid: compute, args: { name: 'compute' } },
      { name: 'thread_sort_index', ph: 'M', pid, tid: compute, args: { sort_index: 1 } },
      { name: 'thread_name', ph: 'M', pid, tid: communication, args: { name: 'communication' } },
      { name: 'thread_sort_index', ph: 'M', pid, tid: communication, args: { sort_index: 2 } },
    );
  }
  for (const rank of step.ranks) {
    const pid = tracePid(rank.rank);
    const compute = traceTid(rank.rank, 'compute');
    const communication = traceTid(rank.rank, 'communication');
    for (const op of rank.ops) {
      const s = ns(op.startMs);
      const e = ns(op.startMs + op.ms);
      events.push({
        name: op.name,
        cat: op.kind,
        ph: 'X',
        pid,
        tid: op.kind === 'kernel' ? compute : communication,
        ts: s / 1e3,
        dur: (e - s) / 1e3,
        args: opArgs(op),
      });
    }
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: {
      ...meta,
      ranks: step.ranks.length,
      step_ms: step.ms,
      latency_ms: step.latencyMs,
      stage_ms: step.stageMs,
      critical_rank: step.criticalRank,
      tokens: step.tokens,
      sampled_rows: step.sampledRows,
      memory_per_device: step.memory,
      assumptions: step.assumptions,
      source: '@tessera/serve projectStep (timing-only); times on the step clock, µs from its first launch',
    },
  };
}
