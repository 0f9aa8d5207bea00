/**
 * The live engine view's data: a bounded window of step events (from /api/engine/events) and what the charts and the
 * per-rank timeline draw from it. Steps are laid end to end on the modelled clock — the timeline shows the hardware's
 * time, not this machine's — so a step that took 2 s of CPU to simulate and 3 ms on the modelled H100 is 3 ms wide.
 */
import type { EngineSnapshot, StepEvent, TimelineKind } from '../../../src/api';

export const WINDOW_STEPS = 64;

export interface EngineWindow {
  snapshot: EngineSnapshot | null;
  steps: StepEvent[];
}

export function emptyWindow(): EngineWindow {
  return { snapshot: null, steps: [] };
}

/** A snapshot replaces the window (on connect and reconnect); its `recent` steps seed it. */
export function applySnapshot(snapshot: EngineSnapshot): EngineWindow {
  return { snapshot, steps: snapshot.recent.slice(-WINDOW_STEPS) };
}

/** Appends a step (ignoring one already seen: a reconnect may replay), keeping the last WINDOW_STEPS. */
export function applyStep(w: EngineWindow, e: StepEvent): EngineWindow {
  const last = w.steps[w.steps.length - 1];
  if (last && e.step <= last.step) return w;
  const steps = w.steps.length >= WINDOW_STEPS ? w.steps.slice(1 - WINDOW_STEPS) : w.steps.slice();
  steps.push(e);
  return { ...w, steps };
}

/** Column arrays for the step charts (uPlot's data layout: x first). */
export interface StepSeries {
  step: number[];
  running: number[];
  waiting: number[];
  kvPercent: number[];
  modelledMs: number[];
  wallMs: number[];
  prefillTokens: number[];
  decodeTokens: number[];
}

export function stepSeries(steps: readonly StepEvent[]): StepSeries {
  const s: StepSeries = {
    step: [],
    running: [],
    waiting: [],
    kvPercent: [],
    modelledMs: [],
    wallMs: [],
    prefillTokens: [],
    decodeTokens: [],
  };
  for (const e of steps) {
    s.step.push(e.step);
    s.running.push(e.running);
    s.waiting.push(e.waiting);
    s.kvPercent.push(e.kvCacheUsage * 100);
    s.modelledMs.push(e.modelledMs);
    s.wallMs.push(e.wallDurationMs);
    let prefill = 0;
    let decode = 0;
    for (const b of e.batch) {
      if (b.kind === 'prefill') prefill += b.tokens;
      else decode += b.tokens;
    }
    s.prefillTokens.push(prefill);
    s.decodeTokens.push(decode);
  }
  return s;
}

export interface TimelineBar {
  /** Modelled ms from the window's first shown step. */
  x0: number;
  x1: number;
  kind: TimelineKind;
  name: string;
  step: number;
}

export interface TimelineLayout {
  /** Ranks in order, each with its bars. */
  lanes: { rank: number; bars: TimelineBar[] }[];
  /** Where each step starts, for the step boundaries. */
  stepStarts: { step: number; x: number }[];
  spanMs: number;
  /** Modelled time per kind, summed over ranks, for the legend. */
  totals: Record<TimelineKind, number>;
}

/**
 * Lays the last `maxSteps` steps end to end on the modelled clock. Each step occupies its modelled duration (the
 * engine's clock advance); an op's start is relative to its step's start, as the server sends it.
 */
export function timelineLayout(steps: readonly StepEvent[], maxSteps = 8): TimelineLayout {
  const shown = steps.slice(-maxSteps);
  const lanes = new Map<number, TimelineBar[]>();
  const stepStarts: { step: number; x: number }[] = [];
  const totals: Record<TimelineKind, number> = { kernel: 0, collective: 0, memcpy: 0 };
  let x = 0;
  for (const e of shown) {
    stepStarts.push({ step: e.step, x });
    let end = e.modelledMs;
    for (const r of e.ranks) {
      let bars = lanes.get(r.rank);
      if (!bars) lanes.set(r.rank, (bars = []));
      for (const op of r.ops) {
        bars.push({ x0: x + op.startMs, x1: x + op.startMs + op.durMs, kind: op.kind, name: op.name, step: e.step });
        totals[op.kind] += op.durMs;
        end = Math.max(end, op.startMs + op.durMs);
      }
    }
    x += end;
  }
  return {
    lanes: [...lanes.entries()].sort((a, b) => a[0] - b[0]).map(([rank, bars]) => ({ rank, bars })),
    stepStarts,
    spanMs: x,
    totals,
  };
}
