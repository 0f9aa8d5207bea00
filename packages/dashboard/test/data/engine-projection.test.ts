import { describe, expect, it } from 'vitest';
import type { ProjectionPoint, ProjectResponse, StepEvent } from '../../src/api';
import {
  applySnapshot,
  applyStep,
  emptyWindow,
  stepSeries,
  timelineLayout,
  WINDOW_STEPS,
} from '../../ui/src/data/engine';
import { bestBars, frontierChart, pointKey, projectionCsv } from '../../ui/src/data/projection';

function step(n: number, over: Partial<StepEvent> = {}): StepEvent {
  return {
    step: n,
    wallMs: 1_700_000_000_000 + n,
    wallDurationMs: 50 + n,
    modelledStartMs: n * 2,
    modelledMs: 2,
    running: 2,
    waiting: 1,
    kvCacheUsage: 0.25,
    batch: [
      { requestId: 'a', kind: 'prefill', tokens: 7 },
      { requestId: 'b', kind: 'decode', tokens: 1 },
      { requestId: 'c', kind: 'decode', tokens: 1 },
    ],
    ranks: [
      {
        rank: 0,
        ops: [
          { name: 'gemm', kind: 'kernel', startMs: 0, durMs: 1.5 },
          { name: 'all_reduce', kind: 'collective', startMs: 1.5, durMs: 0.5 },
        ],
      },
      { rank: 1, ops: [{ name: 'gemm', kind: 'kernel', startMs: 0, durMs: 1.25 }] },
    ],
    ...over,
  };
}

describe('engine window', () => {
  it('keeps the last WINDOW_STEPS steps and ignores replays', () => {
    let w = emptyWindow();
    for (let i = 1; i <= WINDOW_STEPS + 10; i++) w = applyStep(w, step(i));
    expect(w.steps).toHaveLength(WINDOW_STEPS);
    expect(w.steps[0]!.step).toBe(11);
    const same = applyStep(w, step(WINDOW_STEPS + 10));
    expect(same).toBe(w);
  });

  it('seeds from a snapshot', () => {
    const w = applySnapshot({
      model: {} as never,
      stats: { running: 0, waiting: 0, kvCacheUsage: 0, prefixCacheQueries: 0, prefixCacheHits: 0, preemptions: 0 },
      ranks: [],
      recent: [step(3), step(4)],
    });
    expect(w.steps.map((s) => s.step)).toEqual([3, 4]);
  });

  it('splits each batch into prefill and decode tokens', () => {
    const s = stepSeries([
      step(1),
      step(2, { batch: [{ requestId: 'b', kind: 'decode', tokens: 1 }], kvCacheUsage: 0.5 }),
    ]);
    expect(s.prefillTokens).toEqual([7, 0]);
    expect(s.decodeTokens).toEqual([2, 1]);
    expect(s.kvPercent).toEqual([25, 50]);
    expect(s.wallMs).toEqual([51, 52]);
  });

  it('lays steps end to end on the modelled clock, one lane per rank', () => {
    const layout = timelineLayout([step(1), step(2, { modelledMs: 3 })]);
    expect(layout.lanes.map((l) => l.rank)).toEqual([0, 1]);
    expect(layout.stepStarts).toEqual([
      { step: 1, x: 0 },
      { step: 2, x: 2 },
    ]);
    expect(layout.spanMs).toBe(5);
    const r0 = layout.lanes[0]!.bars;
    expect(r0.map((b) => [b.x0, b.x1, b.kind])).toEqual([
      [0, 1.5, 'kernel'],
      [1.5, 2, 'collective'],
      [2, 3.5, 'kernel'],
      [3.5, 4, 'collective'],
    ]);
    expect(layout.totals).toEqual({ kernel: 5.5, collective: 1, memcpy: 0 });
  });

  it('widens a step whose ops outlast its reported duration', () => {
    const layout = timelineLayout([step(1, { modelledMs: 1 }), step(2)]);
    expect(layout.stepStarts[1]!.x).toBe(2);
  });
});

function point(tp: number, batch: number, tpotMs: number, perChip: number, meetsSlo = true): ProjectionPoint {
  return {
    tp,
    dp: 1,
    pp: 1,
    weights: 'bf16',
    batch,
    tpotMs,
    ttftMs: null,
    tokensPerSecondPerChip: perChip,
    tokensPerSecondPerSystem: perChip * 8,
    tokensPerSecondPerKW: perChip / 2,
    meetsSlo,
  };
}

const response: ProjectResponse = {
  model: 'llama-3.1-8b',
  elapsedMs: 10,
  results: [
    {
      system: 'dgx-h100',
      vendor: 'nvidia',
      device: 'h100',
      chips: 8,
      sloTpotMs: 50,
      sloTtftMs: null,
      tried: 10,
      fitted: 3,
      best: point(1, 64, 20, 900),
      points: [point(1, 1, 5, 200), point(1, 64, 20, 900), point(2, 64, 12, 600)],
      frontier: [point(1, 1, 5, 200), point(2, 64, 12, 600), point(1, 64, 20, 900)],
    },
    {
      system: 'atlas-800t-a2',
      vendor: 'ascend',
      device: '910b2',
      chips: 8,
      sloTpotMs: 50,
      sloTtftMs: null,
      tried: 10,
      fitted: 2,
      best: point(1, 32, 20, 450),
      points: [point(1, 1, 9, 110), point(1, 32, 20, 450)],
      frontier: [point(1, 1, 9, 110), point(1, 32, 20, 450)],
    },
  ],
};

describe('projection shaping', () => {
  it('puts every frontier on one ascending TPOT axis, null where a system has no point', () => {
    const c = frontierChart(response);
    expect(c.x).toEqual([5, 9, 12, 20]);
    expect(c.series.map((s) => s.system)).toEqual(['dgx-h100', 'atlas-800t-a2']);
    expect(c.series[0]!.y).toEqual([200, null, 600, 900]);
    expect(c.series[1]!.y).toEqual([null, 110, null, 450]);
  });

  it('scales the best bars to the best system on the chosen metric', () => {
    const bars = bestBars(response, 'tokensPerSecondPerChip');
    expect(bars.map((b) => [b.system, b.value, b.share])).toEqual([
      ['dgx-h100', 900, 1],
      ['atlas-800t-a2', 450, 0.5],
    ]);
    expect(bars[0]!.config).toBe('TP1, batch 64, bf16');
    const none = bestBars({ ...response, results: [{ ...response.results[1]!, best: null }] }, 'tokensPerSecondPerKW');
    expect(none[0]).toMatchObject({ value: null, share: 0 });
    expect(none[0]!.config).toMatch(/no configuration meets TPOT ≤ 50 ms/);
  });

  it('exports every point as CSV, marking the frontier by configuration (JSON copies, not identities)', () => {
    const copy = JSON.parse(JSON.stringify(response)) as ProjectResponse;
    const lines = projectionCsv(copy).trim().split('\n');
    expect(lines).toHaveLength(1 + 5);
    expect(lines[0]).toMatch(/^system,vendor,device,chips,tp,/);
    const cols = lines[0]!.split(',');
    const row = (i: number) => Object.fromEntries(lines[i]!.split(',').map((v, j) => [cols[j], v]));
    expect(row(1)).toMatchObject({ system: 'dgx-h100', tpot_ms: '5', on_frontier: 'true', ttft_ms: '' });
    expect(row(4)).toMatchObject({ system: 'atlas-800t-a2', tokens_per_s_per_chip: '110' });
    expect(pointKey(copy.results[0]!.points[1]!)).toBe('1|1|1|bf16|64');
  });
});
