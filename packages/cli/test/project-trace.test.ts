/**
 * `tessera project --trace FILE`: the projected step's timeline as Chrome / Perfetto JSON, one file per system with
 * --compare. No timed assertions: the file is checked against the run's own --json figures.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { traceFileFor } from '../src/commands/project-trace';
import { run } from '../src/index';

async function tessera(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

interface Trace {
  traceEvents: Array<{
    name: string;
    ph: string;
    pid: number;
    tid?: number;
    ts?: number;
    dur?: number;
    cat?: string;
    args?: Record<string, unknown>;
  }>;
  displayTimeUnit: string;
  otherData: Record<string, unknown>;
}

const dir = mkdtempSync(join(tmpdir(), 'tessera-project-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const step = ['project', '--model', 'llama-3.1-8b', '--tp', '2', '--batch', '4', '--context', '512'];
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Trace;
const processNames = (t: Trace) =>
  t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args!.name);

describe('tessera project --trace', () => {
  it('writes the step as a trace: one process per rank, its ops on compute and communication, and says where', async () => {
    const file = join(dir, 'step.json');
    const t = await tessera(...step, '--system', 'dgx-h100', '--json', '--trace', file);
    expect(t.code, t.err).toBe(0);
    expect(t.err).toContain(`trace written to ${file} (open it in https://ui.perfetto.dev)`);
    // --json is unchanged: the step's per-op timeline stays out of it.
    const r = JSON.parse(t.out) as { stepMs: number; device: string; ranks: Array<{ kernelsMs: number }> };
    expect(t.out).not.toContain('projection');
    const trace = read(file);
    expect(trace.displayTimeUnit).toBe('ms');
    expect(trace.otherData).toMatchObject({ model: 'llama-3.1-8b', system: 'dgx-h100', tp: 2, batch: 4 });
    expect(trace.otherData.step_ms).toBe(r.stepMs);
    expect(processNames(trace)).toEqual([`rank 0 · ${r.device}`, `rank 1 · ${r.device}`]);
    const ops = trace.traceEvents.filter((e) => e.ph === 'X');
    // Rank r is pid r + 1, its threads 2r + 1 (compute) and 2r + 2 (communication).
    expect(new Set(ops.map((e) => e.tid))).toEqual(new Set([1, 2, 3, 4]));
    for (const e of ops) {
      expect(e.ts!).toBeGreaterThanOrEqual(0);
      expect(e.ts! + e.dur!).toBeLessThanOrEqual(r.stepMs * 1e3 + 1e-3);
    }
    // Rank 0's kernels add up to the kernels time --json reports (to the nanosecond per op).
    const k0 = ops.filter((e) => e.pid === 1 && e.tid === 1);
    const sumMs = k0.reduce((s, e) => s + e.dur!, 0) / 1e3;
    expect(Math.abs(sumMs - r.ranks[0]!.kernelsMs)).toBeLessThanOrEqual(k0.length * 1e-6);
  });

  it('--compare writes one file per system, the system id before the extension', async () => {
    const file = join(dir, 'cmp.trace.json');
    const t = await tessera(...step, '--compare', 'dgx-h100,hgx-h200', '--trace', file);
    expect(t.code, t.err).toBe(0);
    const files = [join(dir, 'cmp.trace.dgx-h100.json'), join(dir, 'cmp.trace.hgx-h200.json')];
    for (const f of files) expect(t.err).toContain(`trace written to ${f}`);
    expect(existsSync(file)).toBe(false);
    expect(read(files[0]!).otherData.system).toBe('dgx-h100');
    expect(read(files[1]!).otherData.system).toBe('hgx-h200');
    expect(processNames(read(files[1]!))).toHaveLength(2);
  });

  it('refuses --trace with --slo-tpot (a search projects many steps), before searching', async () => {
    const file = join(dir, 'slo.json');
    const t = await tessera(...step, '--system', 'dgx-h100', '--slo-tpot', '50', '--trace', file);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/--trace writes the timeline of one projected step and --slo-tpot projects many/);
    expect(existsSync(file)).toBe(false);
  });

  it('traceFileFor inserts the system id before the extension, or appends it', () => {
    expect(traceFileFor('out/step.json', 'nvl72', false)).toBe('out/step.json');
    expect(traceFileFor('out/step.json', 'nvl72', true)).toBe('out/step.nvl72.json');
    expect(traceFileFor('out/step', 'nvl72', true)).toBe('out/step.nvl72');
  });
});
