/**
 * Records every launch, copy and collective on the modelled timeline, and exports Chrome trace JSON
 * (the Trace Event Format that chrome://tracing and https://ui.perfetto.dev open).
 */
import { TesseraError } from '../errors';
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

/**
 * The records live in a ring of `capacity` slots: past it, each new record overwrites the oldest in O(1) (a long-running
 * server keeps the most recent window instead of growing, and never pays Array#shift's O(n) per record). Every record
 * gets a sequence number (`recorded` before it was added), so a reader can take just what happened since a mark
 * (`since`) — the serving engine's per-step feed does this.
 */
export class Profiler {
  private ring: Activity[] = [];
  /** Slot of the oldest record. */
  private head = 0;
  private count = 0;
  private total = 0;
  enabled: boolean;
  /** Oldest records are dropped past this many, so a long-running server cannot grow without bound. */
  readonly capacity: number;

  constructor(enabled = false, capacity = 1_000_000) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new TesseraError('InvalidValue', `Profiler: capacity must be an integer ≥ 1, got ${String(capacity)}.`, {
        hint: 'Give the number of records to keep (default 1 000 000).',
      });
    }
    this.enabled = enabled;
    this.capacity = capacity;
  }

  record(a: Activity): void {
    if (!this.enabled) return;
    if (this.count < this.capacity) {
      // Until the ring first fills (or after clear), slots are appended in order from slot 0.
      this.ring[(this.head + this.count) % this.capacity] = a;
      this.count++;
    } else {
      this.ring[this.head] = a;
      this.head = (this.head + 1) % this.capacity;
    }
    this.total++;
  }

  /** Records kept now, oldest first (at most `capacity`). */
  get records(): readonly Activity[] {
    if (this.head !== 0) {
      // Rotate once into order; later records overwrite from slot 0 again, so reads stay O(1) until the next wrap.
      this.ring = [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
      this.head = 0;
    }
    return this.ring;
  }

  /** Records ever made (cleared and dropped ones included): the sequence number the next record will get. */
  get recorded(): number {
    return this.total;
  }

  /** The records with sequence number ≥ `mark` (a value of `recorded`) that are still kept, oldest first. */
  since(mark: number): Activity[] {
    const oldest = this.total - this.count;
    const from = Math.max(oldest, Math.min(this.total, Math.floor(mark)));
    const out: Activity[] = new Array(this.total - from);
    for (let i = 0; i < out.length; i++) out[i] = this.ring[(this.head + from - oldest + i) % this.capacity]!;
    return out;
  }

  clear(): void {
    this.ring = [];
    this.head = 0;
    this.count = 0;
  }

  /**
   * Chrome / Perfetto trace JSON: one process per device, one thread per stream, times in microseconds. Of the records
   * kept, or of `activities` (e.g. a window a caller took with `since`).
   */
  toChromeTrace(activities: readonly Activity[] = this.records): {
    traceEvents: Record<string, unknown>[];
    displayTimeUnit: string;
  } {
    const events: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    for (const a of activities) {
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
