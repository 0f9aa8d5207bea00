/**
 * The bench client against a live server: exact token totals, both columns of vLLM's table, JSON output, failures
 * counted, and the command line (bad flags exit 2).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LLMEngine } from '@tessera/serve';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/bench';
import { ProgressBar } from '../../src/bench/progress';
import { formatReport } from '../../src/bench/report';
import { run } from '../../src/main';
import { startTestServer, type TestServer } from '../support/server';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(() => s.close());

const ROWS = [
  'Successful requests:',
  'Failed requests:',
  'Benchmark duration (s):',
  'Total input tokens:',
  'Total generated tokens:',
  'Request throughput (req/s):',
  'Output token throughput (tok/s):',
  'Total Token throughput (tok/s):',
  'Mean TTFT (ms):',
  'Median TTFT (ms):',
  'P99 TTFT (ms):',
  'Mean TPOT (ms):',
  'Median TPOT (ms):',
  'P99 TPOT (ms):',
  'Mean ITL (ms):',
  'Median ITL (ms):',
  'P99 ITL (ms):',
  'Mean E2EL (ms):',
  'Median E2EL (ms):',
  'P99 E2EL (ms):',
  'Batch-1 TTFT (ms):',
  'Batch-1 TPOT (ms):',
];

describe('runBench', () => {
  it('runs a small workload with exact lengths and reports wall and modelled figures', async () => {
    const progress: number[] = [];
    const r = await runBench({
      baseUrl: s.baseUrl,
      numPrompts: 10,
      inputLen: 24,
      outputLen: 8,
      rangeRatio: 0.25,
      requestRate: 200,
      maxConcurrency: 4,
      seed: 1,
      onProgress: (done) => progress.push(done),
    });
    expect(r.completed).toBe(10);
    expect(r.failed).toBe(0);
    expect(r.model).toBe(s.engine.model.id);
    expect(r.hardware).toBe(s.engine.hardware);
    expect(r.totalInputTokens).toBe(r.inputLens.reduce((a, b) => a + b, 0));
    expect(r.inputLens.every((l) => l >= 18 && l <= 30)).toBe(true);
    expect(r.outputLens.every((l) => l >= 6 && l <= 10)).toBe(true);
    expect(r.totalOutputTokens).toBe(r.outputLens.reduce((a, b) => a + b, 0));
    expect(progress.at(-1)).toBe(10);
    // One more request, alone after the load: the single-stream (batch 1) latency on both clocks.
    const b = r.batch1!;
    expect(b).toMatchObject({ inputLen: 24, outputLen: 8, error: null });
    for (const f of [b.wall!, b.modelled!]) {
      expect(f.ttftMs).toBeGreaterThan(0);
      expect(f.tpotMs).toBeGreaterThan(0);
    }

    const m = r.modelled!;
    expect(m).not.toBeNull();
    // The modelled duration is a span of the engine's modelled clock: at least the slowest request, at most the clock.
    const clock = (s.engine as LLMEngine).modelledNow;
    expect(m.durationS * 1000).toBeLessThanOrEqual(clock + 1e-3);
    expect(m.durationS * 1000).toBeGreaterThanOrEqual(m.e2elMs.p99 - 1e-3);
    for (const sum of [r.wall!, m]) {
      expect(sum.durationS).toBeGreaterThan(0);
      expect(sum.outputThroughput).toBeCloseTo(r.totalOutputTokens / sum.durationS, 6);
      expect(sum.totalTokenThroughput).toBeCloseTo((r.totalInputTokens + r.totalOutputTokens) / sum.durationS, 6);
      expect(sum.ttftMs.mean).toBeGreaterThan(0);
      expect(sum.e2elMs.mean).toBeGreaterThan(sum.ttftMs.mean);
      expect(sum.itlMs.mean).toBeGreaterThan(0);
      expect(sum.tpotMs.median).toBeGreaterThan(0);
      expect(sum.ttftMs.p99).toBeGreaterThanOrEqual(sum.ttftMs.median);
    }

    const table = formatReport(r);
    const lines = table.split('\n');
    expect(lines).toContain('============ Serving Benchmark Result ============');
    for (const title of [
      'Time to First Token',
      'Time per Output Token (excl. 1st token)',
      'Inter-token Latency',
      'End-to-end Latency',
    ]) {
      expect(lines.some((l) => l.startsWith('-') && l.includes(title) && l.length === 50)).toBe(true);
    }
    expect(lines.some((l) => /^\s+wall\s+modelled$/.test(l))).toBe(true);
    for (const label of ROWS) {
      const line = lines.find((l) => l.startsWith(label));
      expect(line, label).toBeDefined();
      const values = line!.slice(label.length).trim().split(/\s+/);
      expect(values, label).toHaveLength(2);
      for (const v of values) expect(Number.isFinite(Number(v)), `${label} ${v}`).toBe(true);
    }
    expect(lines.find((l) => l.startsWith('Successful requests:'))).toMatch(/\s10\s+10$/);
    expect(lines.at(-1)).toBe('='.repeat(50));
  });

  it('counts requests the server refuses as failed', async () => {
    const r = await runBench({ baseUrl: s.baseUrl, numPrompts: 3, inputLen: s.engine.maxModelLen, outputLen: 4 });
    expect(r.completed).toBe(0);
    expect(r.failed).toBe(3);
    expect(r.errors[0]).toMatch(/HTTP 400: This model's maximum context length/);
    expect(formatReport(r)).toMatch(/Failed requests:\s+3\s+3/);
    expect(r.batch1!.error).toMatch(/HTTP 400/);
    expect(formatReport(r)).toMatch(/^Batch-1 TPOT \(ms\):\s+failed\s+n\/a$/m);
  });
});

describe('the bench command', () => {
  it('prints JSON and writes --output-file', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const file = join(mkdtempSync(join(tmpdir(), 'bench-')), 'result.json');
    const code = await run(
      [
        'bench',
        '--base-url',
        s.baseUrl,
        '--num-prompts',
        '3',
        '--input-len',
        '8',
        '--output-len',
        '3',
        '--json',
        '--no-progress',
        '--no-batch1',
        '--output-file',
        file,
      ],
      { out: (t) => out.push(t), err: (t) => err.push(t) },
    );
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const printed = JSON.parse(out.join('\n'));
    expect(printed).toMatchObject({ completed: 3, failed: 0, totalOutputTokens: 9, requestRate: 'inf', batch1: null });
    expect(JSON.parse(readFileSync(file, 'utf8')).completed).toBe(3);
  });

  it('rejects bad flags with one line and exit status 2', async () => {
    for (const argv of [
      ['--bogus'],
      ['bench', '--num-prompts', '0'],
      ['bench', '--request-rate', 'fast'],
      ['--tp', 'x'],
    ]) {
      const err: string[] = [];
      const code = await run(argv, { out: () => {}, err: (t) => err.push(t) });
      expect(code, argv.join(' ')).toBe(2);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^error: /);
      expect(err[0]).not.toContain('\n');
    }
  });
});

describe('ProgressBar', () => {
  it('redraws in place on a terminal and prints occasional lines otherwise', () => {
    const tty: string[] = [];
    const bar = new ProgressBar({ write: (t: string) => tty.push(t), isTTY: true });
    for (let i = 0; i <= 4; i++) bar.update(i, 4);
    expect(tty.filter((t) => t.startsWith('\r'))).toHaveLength(5);
    expect(tty.at(-1)).toBe('\n');

    const log: string[] = [];
    const plain = new ProgressBar({ write: (t: string) => log.push(t), isTTY: false });
    for (let i = 0; i <= 1000; i++) plain.update(i, 1000);
    expect(log.length).toBe(11);
    expect(log.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
  });
});
