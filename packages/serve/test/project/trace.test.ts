/**
 * projectionTrace: the projected step as a Chrome / Perfetto trace. No timed assertions: the trace is checked against
 * the StepProjection it came from.
 */
import { loadShippedModel } from '@tessera/models';
import { beforeAll, describe, expect, test } from 'vitest';
import { projectStep, type StepProjection } from '../../src/model/project';
import { type ProjectionTrace, projectionTrace, type TraceEvent, tracePid, traceTid } from '../../src/model/trace';

/** Rounding each op's start and end to the nanosecond moves a sum by at most 1 ns (1e-6 ms) per op. */
const NS_MS = 1e-6;

describe('projectionTrace', () => {
  let step: StepProjection;
  let trace: ProjectionTrace;
  const arch = () => loadShippedModel('llama-3.1-8b');
  beforeAll(async () => {
    step = await projectStep({ arch: arch(), topology: 'dgx-h100', tp: 2, batch: 4, contextLen: 512, phase: 'decode' });
    // The file's contents: what JSON.stringify writes and a viewer parses.
    trace = JSON.parse(
      JSON.stringify(
        projectionTrace(step, { model: 'llama-3.1-8b', system: 'dgx-h100', device: 'NVIDIA H100', tp: 2 }),
      ),
    ) as ProjectionTrace;
  });

  const complete = () => trace.traceEvents.filter((e) => e.ph === 'X');
  type Lane = 'compute' | 'communication';
  const LANES: Lane[] = ['compute', 'communication'];
  /** Rank r's events on one thread. */
  const onThread = (r: number, lane: Lane) =>
    complete().filter((e) => e.pid === tracePid(r) && e.tid === traceTid(r, lane));

  test('a JSON object in the Trace Event Format: traceEvents, displayTimeUnit, the meta in otherData', () => {
    expect(trace.displayTimeUnit).toBe('ms');
    expect(Array.isArray(trace.traceEvents)).toBe(true);
    expect(trace.otherData).toMatchObject({ model: 'llama-3.1-8b', system: 'dgx-h100', tp: 2, ranks: 2 });
    expect(trace.otherData.step_ms).toBe(step.ms);
    for (const e of trace.traceEvents) {
      expect(['M', 'X']).toContain(e.ph);
      expect(typeof e.name).toBe('string');
      expect(Number.isInteger(e.pid)).toBe(true);
      if (e.ph === 'X') {
        expect(Number.isFinite(e.ts)).toBe(true);
        expect(e.dur).toBeGreaterThanOrEqual(0);
      }
    }
    // One complete event per op.
    expect(complete()).toHaveLength(step.ranks.reduce((s, r) => s + r.ops.length, 0));
  });

  test('one process per rank, named "rank r · <device>", with a compute and a communication thread', () => {
    const meta = (name: string) => trace.traceEvents.filter((e) => e.ph === 'M' && e.name === name);
    const processes = meta('process_name');
    expect(processes.map((e) => [e.pid, e.args!.name])).toEqual([
      [tracePid(0), 'rank 0 · NVIDIA H100'],
      [tracePid(1), 'rank 1 · NVIDIA H100'],
    ]);
    const tids = new Set<number>();
    for (const r of [0, 1]) {
      const threads = meta('thread_name').filter((e) => e.pid === tracePid(r));
      expect(threads.map((e) => [e.tid, e.args!.name])).toEqual([
        [traceTid(r, 'compute'), 'compute'],
        [traceTid(r, 'communication'), 'communication'],
      ]);
      for (const e of threads) tids.add(e.tid!);
    }
    // Ids are never 0 and a tid names one thread in the whole trace (Perfetto follows OS semantics).
    expect(tids.size).toBe(4);
    expect(tids.has(0)).toBe(false);
    expect(processes.some((e) => e.pid === 0)).toBe(false);
    // Kernels on compute, collectives on communication, of the op's rank.
    for (const e of complete()) {
      const r = e.pid - 1;
      expect([0, 1]).toContain(r);
      expect(e.tid).toBe(traceTid(r, e.cat === 'kernel' ? 'compute' : 'communication'));
    }
  });

  test("per rank, the threads' durations sum to kernelsMs and collectivesMs", () => {
    for (const r of step.ranks) {
      const kernels = onThread(r.rank, 'compute');
      const colls = onThread(r.rank, 'communication');
      expect(kernels.length).toBeGreaterThan(0);
      expect(colls.length).toBeGreaterThan(0); // TP 2: the all-reduces
      const sum = (es: TraceEvent[]) => es.reduce((s, e) => s + e.dur!, 0) / 1e3;
      expect(Math.abs(sum(kernels) - r.kernelsMs)).toBeLessThanOrEqual(kernels.length * NS_MS + 1e-9);
      expect(Math.abs(sum(colls) - r.collectivesMs)).toBeLessThanOrEqual(colls.length * NS_MS + 1e-9);
    }
  });

  test("a thread's events do not overlap, and every event lies within [0, step.ms]", () => {
    const endUs = step.ms * 1e3;
    for (const r of step.ranks) {
      for (const lane of LANES) {
        const es = onThread(r.rank, lane);
        for (let i = 0; i < es.length; i++) {
          const e = es[i]!;
          expect(e.ts!).toBeGreaterThanOrEqual(0);
          expect(e.ts! + e.dur!).toBeLessThanOrEqual(endUs + 1e-3);
          if (i > 0) expect(e.ts!).toBeGreaterThanOrEqual(es[i - 1]!.ts! + es[i - 1]!.dur! - 1e-9);
        }
      }
    }
    // The step starts at 0 and ends with the critical rank's last op.
    const all = complete();
    let first = Number.POSITIVE_INFINITY;
    for (const e of all) first = Math.min(first, e.ts!);
    expect(first).toBe(0);
    const crit = onThread(step.criticalRank, 'compute').concat(onThread(step.criticalRank, 'communication'));
    let last = 0;
    for (const e of crit) last = Math.max(last, e.ts! + e.dur!);
    expect(last).toBeCloseTo(endUs, 3);
  });

  test('idle time shows as gaps: per rank, the gaps between its events (from 0) add up to idleMs', () => {
    for (const r of step.ranks) {
      // Both threads together, in time order: the rank's one stream.
      const es = complete()
        .filter((e) => e.pid === tracePid(r.rank))
        .sort((a, b) => a.ts! - b.ts!);
      let gapsUs = 0;
      let end = 0;
      for (const e of es) {
        gapsUs += Math.max(0, e.ts! - end);
        end = Math.max(end, e.ts! + e.dur!);
      }
      expect(Math.abs(gapsUs / 1e3 - r.idleMs)).toBeLessThanOrEqual(es.length * NS_MS + 1e-9);
    }
  });

  test("the TP group's collectives line up: the k-th collective starts and ends together on every rank", () => {
    const c0 = onThread(0, 'communication');
    const c1 = onThread(1, 'communication');
    // 32 layers × 2 all-reduces, then the logits' all-gather.
    expect(c0.map((e) => e.name)).toEqual([...Array.from({ length: 64 }, () => 'allreduce'), 'allgather']);
    expect(c1.map((e) => e.name)).toEqual(c0.map((e) => e.name));
    for (let k = 0; k < c0.length; k++) {
      // The communicator starts a collective when every rank is ready and ends it on all together.
      expect(c1[k]!.ts).toBe(c0[k]!.ts);
      expect(Math.abs(c1[k]!.ts! + c1[k]!.dur! - (c0[k]!.ts! + c0[k]!.dur!))).toBeLessThanOrEqual(1e-3);
    }
  });

  test('kernel args carry FLOPs, bytes and achieved rates; collective args carry bytes and algbw', () => {
    const byOp = new Map<string, TraceEvent>();
    for (const e of complete()) if (!byOp.has(e.name)) byOp.set(e.name, e);
    const gemm = byOp.get('gemm')!;
    const a = gemm.args as {
      ms: number;
      flops: number;
      bytes_read: number;
      bytes_written: number;
      dram_bytes: number;
      achieved_tflops: number;
      achieved_dram_GBps: number;
    };
    expect(a.flops).toBeGreaterThan(0);
    expect(a.bytes_read).toBeGreaterThan(0);
    expect(a.bytes_written).toBeGreaterThan(0);
    expect(a.dram_bytes).toBeGreaterThanOrEqual(a.bytes_read + a.bytes_written);
    expect(a.achieved_tflops).toBeCloseTo(a.flops / (a.ms * 1e-3) / 1e12, 9);
    expect(a.achieved_dram_GBps).toBeCloseTo(a.dram_bytes / (a.ms * 1e-3) / 1e9, 6);
    const ar = byOp.get('allreduce')!.args as { ms: number; bytes: number; algbw_GBps: number };
    expect(ar.bytes).toBe(4 * arch().hiddenSize * 4); // batch 4 × hidden of the f32 residual stream
    expect(ar.algbw_GBps).toBeCloseTo(ar.bytes / (ar.ms * 1e-3) / 1e9, 9);
    // The tuner's choice rides along: an 8-GPU NVSwitch all-reduce names its algorithm and protocol.
    const tuned = byOp.get('allreduce')!.args as { algorithm?: string; protocol?: string };
    expect(typeof tuned.algorithm).toBe('string');
    expect(typeof tuned.protocol).toBe('string');
  });

  test('a step of hundreds of thousands of ops (a big model at high TP) builds without a stack overflow', () => {
    // Synthetic: 4 ranks × 100k back-to-back ops (no argument spreads in projectionTrace, one pass).
    const ranks: StepProjection['ranks'] = Array.from({ length: 4 }, (_, rank) => ({
      ...step.ranks[0]!,
      rank,
      ops: Array.from({ length: 100_000 }, (_, i) => ({
        kind: i % 10 === 9 ? ('collective' as const) : ('kernel' as const),
        name: i % 10 === 9 ? 'allreduce' : 'gemm',
        startMs: i * 1e-3,
        ms: 1e-3,
      })),
    }));
    const big = { ...step, ranks, ms: 100 };
    const t = projectionTrace(big, { model: 'synthetic', system: 'dgx-h100', device: 'NVIDIA H100' });
    expect(t.traceEvents.filter((e) => e.ph === 'X')).toHaveLength(400_000);
    expect(JSON.stringify(t).length).toBeGreaterThan(400_000);
  });

  test('pipeline stages: process names carry the stage; the micro-batch lies within [0, latencyMs]', async () => {
    const pp = await projectStep({
      arch: arch(),
      topology: 'dgx-h100',
      tp: 1,
      pp: 2,
      batch: 4,
      contextLen: 512,
      phase: 'decode',
    });
    const t = projectionTrace(pp, { model: 'llama-3.1-8b', system: 'dgx-h100', device: 'NVIDIA H100' });
    const names = t.traceEvents.filter((e) => e.name === 'process_name').map((e) => e.args!.name);
    expect(names).toEqual(['rank 0 · stage 0 · NVIDIA H100', 'rank 1 · stage 1 · NVIDIA H100']);
    expect(t.otherData.latency_ms).toBe(pp.latencyMs);
    for (const e of t.traceEvents)
      if (e.ph === 'X') expect(e.ts! + e.dur!).toBeLessThanOrEqual(pp.latencyMs * 1e3 + 1e-3);
    // Stage 1 waits for stage 0: its idle time is the gap before its first op.
    const first1 = t.traceEvents.find((e) => e.ph === 'X' && e.pid === tracePid(1))!;
    expect(first1.ts!).toBeGreaterThan(0);
  });
});
