/**
 * `tessera-serve bench --modelled-time`: the engine in-process under the discrete-event driver, vLLM's table with the
 * modelled column only, the same figures on every run (they do not depend on this machine's speed), and flags of one
 * mode refused in the other.
 */
import { type LLMEngine, randomWorkload, seededRandom } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { BENCH_DEFAULTS } from '../../src/bench/bench';
import { runModelledBench } from '../../src/bench/modelled';
import { formatReport } from '../../src/bench/report';
import { run } from '../../src/main';
import { createTestEngine } from '../support/server';

const FLAGS = ['--num-prompts', '6', '--input-len', '16', '--output-len', '4', '--request-rate', '2000', '--seed', '1'];

async function bench(extra: string[]): Promise<{ code: number; out: string; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(['bench', '--modelled-time', ...FLAGS, '--no-progress', ...extra], {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  });
  return { code, out: out.join('\n'), err };
}

describe('bench --modelled-time', () => {
  it('prints the table with the modelled column, identical on every run', async () => {
    const a = await bench([]);
    expect(a.err).toEqual([]);
    expect(a.code).toBe(0);
    const lines = a.out.split('\n');
    expect(lines).toContain('Clock: modelled time only (in-process discrete-event simulation, no HTTP)');
    expect(lines.some((l) => /^Modelled hardware: 1× NVIDIA H100/.test(l))).toBe(true);
    expect(lines.some((l) => /^\s+modelled$/.test(l))).toBe(true);
    expect(lines.find((l) => l.startsWith('Successful requests:'))).toMatch(/\s6$/);
    for (const label of ['Benchmark duration (s):', 'Mean TTFT (ms):', 'P99 ITL (ms):', 'Batch-1 TPOT (ms):']) {
      const values = lines
        .find((l) => l.startsWith(label))!
        .slice(label.length)
        .trim()
        .split(/\s+/);
      expect(values, label).toHaveLength(1);
      expect(Number(values[0]), label).toBeGreaterThan(0);
    }
    // Nothing in it depends on how fast this machine simulates.
    expect((await bench([])).out).toBe(a.out);
  }, 300_000);

  it('prints JSON with the modelled figures and no wall column', async () => {
    const r = await bench(['--json', '--no-batch1']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({ mode: 'modelled-time', baseUrl: null, wall: null, completed: 6, batch1: null });
    expect(json.totalOutputTokens).toBe(24);
    expect(json.modelled.outputThroughput).toBeGreaterThan(0);
  }, 300_000);

  it('replays the HTTP benchmark’s workload for the same flags and seed', async () => {
    const engine = (await createTestEngine()) as LLMEngine;
    try {
      const o = { ...BENCH_DEFAULTS, numPrompts: 5, inputLen: 12, outputLen: 3, rangeRatio: 0.5, seed: 7 };
      const r = await runModelledBench(engine, { ...o, batch1: false });
      const w = randomWorkload({ ...o, vocabSize: engine.model.config.vocabSize }, seededRandom(7));
      expect(r.inputLens).toEqual(w.requests.map((q) => q.promptTokenIds.length));
      expect(r.outputLens).toEqual(w.requests.map((q) => q.outputLen));
      expect(formatReport(r)).not.toMatch(/wall/);
    } finally {
      await engine.shutdown();
    }
  }, 300_000);

  it('refuses the flags of the other mode with one line and exit status 2', async () => {
    for (const argv of [
      ['bench', '--tp', '2'],
      ['bench', '--max-num-seqs', '4'],
      ['bench', '--modelled-time', '--base-url', 'http://127.0.0.1:1'],
      ['bench', '--modelled-time', '--vocab-size', '100'],
    ]) {
      const err: string[] = [];
      const code = await run(argv, { out: () => {}, err: (t) => err.push(t) });
      expect(code, argv.join(' ')).toBe(2);
      expect(err, argv.join(' ')).toHaveLength(1);
      expect(err[0]).toMatch(/^error: --/);
    }
  });
});
