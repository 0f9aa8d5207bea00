/**
 * The engine's step feed: one StepEvent per engine step — the batch it ran (prefill chunks and decodes), the queue and
 * KV cache after it, its wall and modelled times, and per rank what ran on the modelled clock (kernels, collectives,
 * copies) — for the dashboard's live view (apps/llm-serve: /api/engine/events, /api/engine/trace, /api/cluster).
 *
 * What it costs: nothing unless the feed is active — someone listens (`onStep`) or the window is retained
 * (`retain(true)`, which the HTTP server sets so the trace and the cluster view cover steps run before anyone looked).
 * Inactive, a step pays one boolean test: the runtime's profiler and the cluster's link counter stay off (unless
 * someone else turned them on). Active, the profiler records each launch, copy and collective (an object per launch,
 * small beside a functional launch) and the cluster counts link bytes per collective; after each step the feed takes
 * that step's records and, when it turned the profiler on itself, clears it — so the profiler holds one step at a time
 * and the feed's own window (the last 64 steps, their raw records capped at TRACE_ACTIVITIES) is all that is kept.
 *
 * The shapes are @tessera/dashboard's wire types (its api.ts), declared here because the engine does not depend on
 * the dashboard; the HTTP server checks they still match when it compiles.
 */
import type { Activity } from '@tessera/device';
import type { StepDevices } from './step-model';
import { rankOps } from './timeline';

export { OPS_PER_RANK, rankOps } from './timeline';

export type TimelineKind = 'kernel' | 'collective' | 'memcpy';

export interface TimelineOp {
  name: string;
  kind: TimelineKind;
  /** Modelled, ms from the step's start. */
  startMs: number;
  durMs: number;
}

export interface BatchItem {
  requestId: string;
  kind: 'prefill' | 'decode';
  /** Tokens this request computed in the step (a prefill chunk, or 1 for a decode). */
  tokens: number;
}

export interface StepEvent {
  step: number;
  /** Epoch ms (Date.now()) when the step finished on this machine. */
  wallMs: number;
  /** How long this machine took to compute the step, ms. */
  wallDurationMs: number;
  /** The engine's modelled clock at the step's start, and the step's modelled duration, ms. */
  modelledStartMs: number;
  modelledMs: number;
  running: number;
  waiting: number;
  kvCacheUsage: number;
  batch: BatchItem[];
  /** Per rank, what ran in the step on the modelled clock (long runs of small ops may be merged). */
  ranks: { rank: number; ops: TimelineOp[] }[];
}

export interface FeedRank {
  rank: number;
  /** "h100:3". */
  label: string;
  /** "NVIDIA H100 SXM5 80GB". */
  device: string;
  failed: boolean;
}

export type StepListener = (event: StepEvent) => void;

/** The retained window: the last this many steps. */
export const RECENT_STEPS = 64;
/** Raw records the trace window keeps at most (the oldest steps lose theirs first): a few tens of MB. */
export const TRACE_ACTIVITIES = 100_000;

/** What `begin` noted before the step ran. */
export interface StepMark {
  /** The model's modelled clock (the runtime's host clock) and the engine's, at the step's start. */
  clock0: number;
  modelledStartMs: number;
  wall0: number;
  /** The profiler's sequence number at the start (records from here on are the step's). */
  profilerMark: number;
}

interface Retained {
  event: StepEvent;
  clock0: number;
  activities: Activity[];
  linkBytes: Map<number, number>;
}

/** The window's totals for the cluster view. */
export interface FeedWindow {
  steps: number;
  /** Sum of the retained steps' modelled durations, ms. */
  modelledMs: number;
  /** Bytes each link (TopologyGraph link id) carried in the retained steps' collectives. */
  linkBytes: Map<number, number>;
}

export class StepFeed {
  private readonly listeners = new Set<StepListener>();
  private readonly closeListeners = new Set<() => void>();
  private closed = false;
  private retaining = false;
  private readonly window: Retained[] = [];
  private activitiesKept = 0;
  /** The feed turned these on (and turns them off again when it goes idle); false when someone else had. */
  private ownsProfiler = false;
  private ownsTraffic = false;
  /** Listener calls that threw (the engine carries on; the listener stays subscribed). */
  listenerErrors = 0;
  /** Steps whose event could not be built (a bug here; the engine carries on without that event). */
  feedErrors = 0;

  constructor(private readonly devices: StepDevices | undefined) {}

  /** Listeners subscribed now. */
  get listenerCount(): number {
    return this.listeners.size;
  }

  /** True while steps are observed: someone listens, or the window is retained. */
  get active(): boolean {
    return this.listeners.size > 0 || this.retaining;
  }

  /** Calls `listener` after every step (synchronously, in the engine's loop: keep it short); returns unsubscribe. */
  onStep(listener: StepListener): () => void {
    if (typeof listener !== 'function') {
      throw new TypeError(`onStep: the listener must be a function, got ${typeof listener}.`);
    }
    this.listeners.add(listener);
    this.sync();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.listeners.delete(listener);
      this.sync();
    };
  }

  /**
   * Calls `listener` once when the engine shuts down (no more steps will come): a stream of step events ends then
   * instead of holding its connection open. Called at once if the feed is already closed. Returns unsubscribe.
   */
  onClose(listener: () => void): () => void {
    if (this.closed) {
      listener();
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** The engine's shutdown: tells the onClose listeners (each once; one that throws does not stop the others). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.closeListeners) {
      try {
        l();
      } catch {
        this.listenerErrors++;
      }
    }
    this.closeListeners.clear();
  }

  /** Keeps recording the window (events, trace, link bytes) with nobody listening — the HTTP server's choice. */
  retain(on: boolean): void {
    this.retaining = on;
    this.sync();
  }

  /** The retained events, oldest first (at most RECENT_STEPS). */
  recent(): StepEvent[] {
    return this.window.map((r) => r.event);
  }

  /** The ranks the model runs on, with their devices and whether they failed. */
  ranks(): FeedRank[] {
    const d = this.devices;
    if (!d) return [];
    const failed = d.cluster.failedRanks();
    return d.cluster.devices.slice(0, d.ranks).map((dev, rank) => ({
      rank,
      label: dev.label,
      device: dev.properties.name,
      failed: failed.has(rank) || dev.failed,
    }));
  }

  /** The window's totals: steps, modelled time and link bytes (the cluster view's utilisation). */
  windowTotals(): FeedWindow {
    const linkBytes = new Map<number, number>();
    let modelledMs = 0;
    for (const r of this.window) {
      modelledMs += r.event.modelledMs;
      for (const [id, b] of r.linkBytes) linkBytes.set(id, (linkBytes.get(id) ?? 0) + b);
    }
    return { steps: this.window.length, modelledMs, linkBytes };
  }

  /**
   * The retained window as Chrome trace JSON (Perfetto UI opens it): every launch, copy and collective of the kept
   * steps on the runtime's modelled clock (a process per device, a thread per stream), and an `engine` process with
   * one span per step naming its batch.
   */
  trace(): { traceEvents: Record<string, unknown>[]; displayTimeUnit: string } {
    const d = this.devices;
    const activities = this.window.flatMap((r) => r.activities);
    const trace = d ? d.runtime.profiler.toChromeTrace(activities) : { traceEvents: [], displayTimeUnit: 'ns' };
    const pid = d ? d.cluster.devices.length : 0;
    const steps: Record<string, unknown>[] = [
      { name: 'process_name', ph: 'M', pid, args: { name: 'engine' } },
      { name: 'thread_name', ph: 'M', pid, tid: 0, args: { name: 'steps' } },
    ];
    for (const r of this.window) {
      const e = r.event;
      const prefill = e.batch.filter((b) => b.kind === 'prefill');
      steps.push({
        name: `step ${e.step}`,
        cat: 'step',
        ph: 'X',
        pid,
        tid: 0,
        ts: r.clock0 * 1000,
        dur: e.modelledMs * 1000,
        args: {
          requests: e.batch.length,
          prefill_tokens: prefill.reduce((n, b) => n + b.tokens, 0),
          decodes: e.batch.length - prefill.length,
          running: e.running,
          waiting: e.waiting,
          kv_cache_usage: e.kvCacheUsage,
          wall_ms: e.wallDurationMs,
        },
      });
    }
    return { traceEvents: [...trace.traceEvents, ...steps], displayTimeUnit: trace.displayTimeUnit };
  }

  /** Before a step runs: null when the feed is inactive (the step then pays nothing more). */
  begin(clock0: number, modelledStartMs: number): StepMark | null {
    if (!this.active) return null;
    const d = this.devices;
    // Bytes counted outside a step (none today) are not this step's.
    if (d && this.ownsTraffic) d.cluster.traffic.take();
    return { clock0, modelledStartMs, wall0: performance.now(), profilerMark: d ? d.runtime.profiler.recorded : 0 };
  }

  /**
   * After the step: builds its event, retains it and hands it to every listener. Never throws: the step has happened,
   * and nothing the feed or a listener does wrong may fail it (faults are counted in `listenerErrors` / `feedErrors`).
   */
  end(
    mark: StepMark,
    step: Pick<StepEvent, 'step' | 'modelledMs' | 'running' | 'waiting' | 'kvCacheUsage' | 'batch'>,
  ): void {
    let event: StepEvent;
    try {
      event = this.record(mark, step);
    } catch {
      this.feedErrors++;
      return;
    }
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's fault is its own (a dashboard client, a test): the step has happened and the engine goes on.
        this.listenerErrors++;
      }
    }
  }

  private record(
    mark: StepMark,
    step: Pick<StepEvent, 'step' | 'modelledMs' | 'running' | 'waiting' | 'kvCacheUsage' | 'batch'>,
  ): StepEvent {
    const d = this.devices;
    let activities: Activity[] = [];
    let linkBytes = new Map<number, number>();
    if (d) {
      const prof = d.runtime.profiler;
      activities = prof.since(mark.profilerMark);
      if (this.ownsProfiler) prof.clear();
      linkBytes = d.cluster.traffic.enabled ? d.cluster.traffic.take() : linkBytes;
    }
    const event: StepEvent = {
      step: step.step,
      wallMs: Date.now(),
      wallDurationMs: performance.now() - mark.wall0,
      modelledStartMs: mark.modelledStartMs,
      modelledMs: step.modelledMs,
      running: step.running,
      waiting: step.waiting,
      kvCacheUsage: step.kvCacheUsage,
      batch: step.batch,
      ranks: d ? rankOps(activities, mark.clock0, d.ranks) : [],
    };
    this.keep({ event, clock0: mark.clock0, activities, linkBytes });
    return event;
  }

  private keep(r: Retained): void {
    this.window.push(r);
    this.activitiesKept += r.activities.length;
    if (this.window.length > RECENT_STEPS) this.activitiesKept -= this.window.shift()!.activities.length;
    // Past the cap, the oldest steps keep their events and link bytes but lose their raw records (the trace).
    for (let i = 0; this.activitiesKept > TRACE_ACTIVITIES && i < this.window.length - 1; i++) {
      this.activitiesKept -= this.window[i]!.activities.length;
      this.window[i]!.activities = [];
    }
  }

  /** Turns the profiler and the link counter on while active, off (if the feed turned them on) when not. */
  private sync(): void {
    const d = this.devices;
    if (!d) return;
    const prof = d.runtime.profiler;
    const traffic = d.cluster.traffic;
    if (this.active) {
      if (!prof.enabled) {
        prof.enabled = true;
        this.ownsProfiler = true;
      }
      if (!traffic.enabled) {
        traffic.enabled = true;
        this.ownsTraffic = true;
      }
      return;
    }
    if (this.ownsProfiler) {
      prof.enabled = false;
      prof.clear();
      this.ownsProfiler = false;
    }
    if (this.ownsTraffic) {
      traffic.enabled = false;
      traffic.take();
      this.ownsTraffic = false;
    }
  }
}
