/**
 * Records every launch, copy and collective on the modelled timeline, and exports Chrome trace JSON
 * (the Trace Event Format that chrome://tracing and https://ui.perfetto.dev open).
 */
import type { CostRecord } from '../kernel/cost';
import type { KernelTiming } from './backend';

export type ActivityKind = 'kernel' | 'memcpy' | 'memset' | 'collective' | 'marker';

export interface Activity {
  kind: ActivityKind;
  name: string;
  /** Device label used as the trace's process ("h100:0"). */
  device: string;
  deviceOrdinal: number;
  stream: number;
  /** Modelled start and end, milliseconds since the runtime started. */
  startMs: number;
  endMs: number;
  bytes?: number;
  cost?: CostRecord;
  timing?: KernelTiming;
  args?: Record<string, unknown>;
}

export class Profiler {
  private readonly activities: Activity[] = [];
  enabled: boolean;
  /** Oldest records are dropped past this many, so a long-running server cannot grow without bound. */
  readonly capacity: number;

  constructor(enabled = false, capacity = 1_000_000) {
    this.enabled = enabled;
    this.capacity = capacity;
  }

  record(a: Activity): void {
    if (!this.enabled) return;
    if (this.activities.length >= this.capacity) this.activities.shift();
    this.activities.push(a);
  }

  get records(): readonly Activity[] {
    return this.activities;
  }

  clear(): void {
    this.activities.length = 0;
  }

  /** Chrome / Perfetto trace JSON: one process per device, one thread per stream, times in microseconds. */
  toChromeTrace(): { traceEvents: Record<string, unknown>[]; displayTimeUnit: string } {
    const events: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    for (const a of this.activities) {
      const pk = `${a.deviceOrdinal}`;
      if (!seen.has(pk)) {
        seen.add(pk);
        events.push({ name: 'process_name', ph: 'M', pid: a.deviceOrdinal, args: { name: a.device } });
      }
      const tk = `${a.deviceOrdinal}:${a.stream}`;
      if (!seen.has(tk)) {
        seen.add(tk);
        const tname = a.stream === 0 ? 'default stream' : `stream ${a.stream}`;
        events.push({ name: 'thread_name', ph: 'M', pid: a.deviceOrdinal, tid: a.stream, args: { name: tname } });
      }
      const args: Record<string, unknown> = { ...a.args };
      if (a.bytes !== undefined) args.bytes = a.bytes;
      if (a.timing) {
        args.bound = a.timing.bound;
        args.breakdown_us = a.timing.breakdown;
      }
      if (a.cost) {
        args.grid = a.cost.grid;
        args.programs = a.cost.programs;
        args.flops_matrix = a.cost.total.totalMatrixFlops;
        args.ops_vector = a.cost.total.totalVectorOps;
        args.bytes_read = a.cost.total.bytesRead;
        args.bytes_written = a.cost.total.bytesWritten;
      }
      events.push({
        name: a.name,
        cat: a.kind,
        ph: 'X',
        pid: a.deviceOrdinal,
        tid: a.stream,
        ts: a.startMs * 1000,
        dur: (a.endMs - a.startMs) * 1000,
        args,
      });
    }
    return { traceEvents: events, displayTimeUnit: 'ns' };
  }
}
