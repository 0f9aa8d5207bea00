/**
 * The profiler's bounded ring: the newest `capacity` records in order, sequence marks that survive wrapping and
 * clearing, and a window exported as a Chrome trace.
 */
import { describe, expect, it } from 'vitest';
import { type Activity, Profiler } from '../src/runtime/profiler';

const act = (i: number): Activity => ({
  kind: i % 3 === 0 ? 'collective' : 'kernel',
  name: `op${i}`,
  device: `dev:${i % 2}`,
  deviceOrdinal: i % 2,
  stream: 0,
  startMs: i,
  endMs: i + 0.5,
});
const names = (as: readonly Activity[]) => as.map((a) => a.name);

describe('Profiler ring', () => {
  it('keeps the newest capacity records in order, across several wraps', () => {
    const p = new Profiler(true, 5);
    for (let i = 0; i < 3; i++) p.record(act(i));
    expect(names(p.records)).toEqual(['op0', 'op1', 'op2']);
    for (let i = 3; i < 13; i++) p.record(act(i));
    expect(names(p.records)).toEqual(['op8', 'op9', 'op10', 'op11', 'op12']);
    // Reading rotated the ring; recording goes on from the right place.
    p.record(act(13));
    p.record(act(14));
    expect(names(p.records)).toEqual(['op10', 'op11', 'op12', 'op13', 'op14']);
    expect(p.recorded).toBe(15);
  });

  it('records nothing while disabled', () => {
    const p = new Profiler(false, 4);
    p.record(act(0));
    expect(p.records).toHaveLength(0);
    expect(p.recorded).toBe(0);
  });

  it('takes what was recorded since a mark, only what is still kept', () => {
    const p = new Profiler(true, 4);
    for (let i = 0; i < 3; i++) p.record(act(i));
    const mark = p.recorded;
    for (let i = 3; i < 5; i++) p.record(act(i));
    expect(names(p.since(mark))).toEqual(['op3', 'op4']);
    expect(p.since(p.recorded)).toEqual([]);
    // Past the ring's size: the oldest of the window are gone, the rest come in order.
    for (let i = 5; i < 9; i++) p.record(act(i));
    expect(names(p.since(mark))).toEqual(['op5', 'op6', 'op7', 'op8']);
    // clear() drops the records but not the numbering.
    const before = p.recorded;
    p.clear();
    expect(p.records).toHaveLength(0);
    expect(p.since(0)).toEqual([]);
    p.record(act(9));
    expect(p.recorded).toBe(before + 1);
    expect(names(p.since(before))).toEqual(['op9']);
  });

  it('stays O(1) per record at its bound (a million records into a 1000-slot ring)', () => {
    const p = new Profiler(true, 1000);
    const a = act(1);
    for (let i = 0; i < 1_000_000; i++) p.record(a);
    expect(p.records).toHaveLength(1000);
    expect(p.recorded).toBe(1_000_000);
  });

  it('exports a given window as Chrome trace events', () => {
    const p = new Profiler(true, 8);
    for (let i = 0; i < 6; i++) p.record(act(i));
    const trace = p.toChromeTrace(p.since(4));
    const spans = trace.traceEvents.filter((e) => e.ph === 'X');
    expect(spans.map((e) => [e.name, e.pid, e.ts, e.dur])).toEqual([
      ['op4', 0, 4000, 500],
      ['op5', 1, 5000, 500],
    ]);
    expect(trace.traceEvents.filter((e) => e.name === 'process_name')).toHaveLength(2);
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const c of [0, -1, 1.5, Number.NaN])
      expect(() => new Profiler(true, c)).toThrow(/capacity must be an integer/);
  });
});
