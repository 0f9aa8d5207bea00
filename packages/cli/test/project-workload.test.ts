/**
 * `tessera project --slo-tpot … --rate …`: the workload search (simulateProjected in modelled time). Small runs only:
 * llama-3.1-8b on dgx-h100, 24 requests, max_num_seqs 8 and 16; no timing assertions (every figure is modelled).
 */
import { describe, expect, it } from 'vitest';
import { run } from '../src/index';

async function tessera(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

interface Point {
  tp: number;
  weights: string;
  maxNumSeqs: number;
  devices: number;
  completed: number;
  failed: number;
  ttftMs: { mean: number; p99: number };
  tpotMs: { mean: number; p99: number };
  durationS: number;
  outputTokensPerSecond: number;
  tokensPerSecondPerChip: number;
  tokensPerSecondPerKW: number;
  meetsSlos: boolean;
}
interface Result {
  mode: string;
  workload: { requests: number; rate: number | 'inf'; concurrency: number | null; seed: number; outputLen: number };
  sloTpotMs: number;
  sloTtftMs: number | null;
  batchLimits: number[];
  deployments: number;
  simulated: number;
  leftOut: Array<{ tp: number; dp: number; pp: number }>;
  points: Point[];
  meeting: Point[];
  best: Point | null;
  frontier: Point[];
}

const SLO_TPOT = 10;
const SLO_TTFT = 500;
/** The search at `--rate rate`, or with `arrivals` as given (e.g. ['--concurrency', '4']). */
const base = (rate: string | string[], ...more: string[]) => [
  'project',
  '--model',
  'llama-3.1-8b',
  '--system',
  'dgx-h100',
  '--slo-tpot',
  String(SLO_TPOT),
  '--slo-ttft',
  String(SLO_TTFT),
  ...(typeof rate === 'string' ? ['--rate', rate] : rate),
  '--requests',
  '24',
  '--input',
  '512',
  '--output',
  '64',
  '--max-batch',
  '16',
  ...more,
];
const key = (p: Point) => `${p.tp}/${p.weights}/${p.maxNumSeqs}`;

describe('tessera project --slo-tpot --rate (workload search)', () => {
  it('keeps only SLO-meeting runs in meeting, best first; the frontier is monotone and undominated', async () => {
    const t = await tessera(...base('40', '--json'));
    expect(t.code, t.err).toBe(0);
    const r = JSON.parse(t.out) as Result;
    expect(r.mode).toBe('workload');
    expect(r.workload).toMatchObject({ requests: 24, rate: 40, concurrency: null, seed: 0 });
    expect(r.batchLimits).toEqual([8, 16]);
    expect(r.deployments).toBe(4); // TP 1, 2, 4, 8; dense: nothing left out
    expect(r.leftOut).toEqual([]);
    expect(r.simulated).toBe(r.points.length);
    expect(r.points.length).toBe(8);
    for (const p of r.points) {
      expect(p.devices).toBe(p.tp);
      expect(p.completed).toBe(24);
      expect(p.failed).toBe(0);
      // Output tokens over the modelled duration, per chip: 24 requests × 64 tokens (range ratio 0).
      expect(p.tokensPerSecondPerChip * p.devices * p.durationS).toBeCloseTo(24 * 64, 6);
      expect(p.tokensPerSecondPerKW).toBeGreaterThan(0);
      expect(p.meetsSlos).toBe(p.tpotMs.p99 <= SLO_TPOT && p.ttftMs.p99 <= SLO_TTFT);
      expect(p.ttftMs.p99).toBeGreaterThanOrEqual(p.ttftMs.mean);
    }
    // Some configurations meet the SLOs and some do not: the filter is exercised both ways.
    expect(r.meeting.length).toBeGreaterThan(0);
    expect(r.meeting.length).toBeLessThan(r.points.length);
    expect(r.meeting.map(key).sort()).toEqual(
      r.points
        .filter((p) => p.meetsSlos)
        .map(key)
        .sort(),
    );
    for (const p of r.meeting) {
      expect(p.tpotMs.p99).toBeLessThanOrEqual(SLO_TPOT);
      expect(p.ttftMs.p99).toBeLessThanOrEqual(SLO_TTFT);
    }
    for (let i = 1; i < r.meeting.length; i++)
      expect(r.meeting[i]!.tokensPerSecondPerChip).toBeLessThanOrEqual(r.meeting[i - 1]!.tokensPerSecondPerChip);
    expect(r.best).toEqual(r.meeting[0]);

    expect(r.frontier.length).toBeGreaterThan(1);
    for (let i = 1; i < r.frontier.length; i++) {
      expect(r.frontier[i]!.tpotMs.p99).toBeGreaterThanOrEqual(r.frontier[i - 1]!.tpotMs.p99);
      expect(r.frontier[i]!.tokensPerSecondPerChip).toBeGreaterThan(r.frontier[i - 1]!.tokensPerSecondPerChip);
    }
    const dominates = (a: Point, b: Point) =>
      a.tpotMs.p99 <= b.tpotMs.p99 &&
      a.tokensPerSecondPerChip >= b.tokensPerSecondPerChip &&
      (a.tpotMs.p99 < b.tpotMs.p99 || a.tokensPerSecondPerChip > b.tokensPerSecondPerChip);
    const onFrontier = new Set(r.frontier.map(key));
    for (const f of r.frontier) expect(r.points.some((p) => dominates(p, f))).toBe(false);
    // Every run off the frontier is matched or beaten by a run on it.
    for (const p of r.points.filter((x) => !onFrontier.has(key(x))))
      expect(
        r.frontier.some((f) => f.tpotMs.p99 <= p.tpotMs.p99 && f.tokensPerSecondPerChip >= p.tokensPerSecondPerChip),
      ).toBe(true);

    // The same run twice: the same JSON (seeded workload, modelled clock, cached grid points change nothing).
    const again = await tessera(...base('40', '--json'));
    expect(again.code, again.err).toBe(0);
    expect(again.out).toBe(t.out);
  });

  it('a higher arrival rate queues: higher p99 TTFT at the same configuration', async () => {
    const at = async (rate: string) => {
      const t = await tessera(...base(rate, '--tp', '1', '--json'));
      expect(t.code, t.err).toBe(0);
      return (JSON.parse(t.out) as Result).points;
    };
    const slow = await at('2');
    const fast = await at('40');
    expect(slow.map(key)).toEqual(['1/bf16/8', '1/bf16/16']);
    expect(fast.map(key)).toEqual(slow.map(key));
    for (let i = 0; i < slow.length; i++) {
      expect(fast[i]!.ttftMs.p99).toBeGreaterThan(slow[i]!.ttftMs.p99);
      // More requests per second of modelled time: more output tokens per second.
      expect(fast[i]!.tokensPerSecondPerChip).toBeGreaterThan(slow[i]!.tokensPerSecondPerChip);
    }
  });

  it('prints the table and says what was simulated; a closed loop runs under --concurrency', async () => {
    const t = await tessera(...base('4', '--tp', '1'));
    expect(t.code, t.err).toBe(0);
    expect(t.out).toContain('a simulated run of 24 requests at 4 req/s (Poisson), 512 in / 64 out tokens, seed 0');
    expect(t.out).toContain('modelled times');
    for (const h of ['layout', 'weights', 'max_num_seqs', 'p99 TTFT ms', 'p99 TPOT ms', 'tok/s/chip', 'tok/s/kW'])
      expect(t.out).toContain(h);
    expect(t.out).toMatch(/best: TP 1, bf16, max_num_seqs \d+:/);

    const c = await tessera(...base(['--concurrency', '4'], '--tp', '1', '--json'));
    expect(c.code, c.err).toBe(0);
    const r = JSON.parse(c.out) as Result;
    expect(r.workload.rate).toBe('inf');
    expect(r.workload.concurrency).toBe(4);
    expect(r.points.every((p) => p.completed === 24)).toBe(true);
  });

  it('lists the layouts the simulator does not model, and refuses what it cannot run', async () => {
    // Every layout of a dense model at PP 2 (TP 1, 2, 4 on 8 GPUs) is left out: nothing to simulate, and the output says why.
    const pp = await tessera(...base('4', '--pp', '2'));
    expect(pp.code, pp.err).toBe(0);
    expect(pp.out).toContain('0 configurations simulated');
    expect(pp.out).toMatch(/3 layouts with PP 2 left out \(the simulated engine is one TP group/);
    expect(pp.out).toContain('best: none meets');

    const spec = await tessera(...base('4', '--tp', '1', '--spec', '1'));
    expect(spec.code).toBe(1);
    expect(spec.err).toContain('--spec');
    const noSlo = await tessera('project', '--model', 'llama-3.1-8b', '--system', 'dgx-h100', '--rate', '4');
    expect(noSlo.code).toBe(1);
    expect(noSlo.err).toContain('--slo-tpot');
    const noLens = await tessera(
      'project',
      '--model',
      'llama-3.1-8b',
      '--system',
      'dgx-h100',
      '--slo-tpot',
      '10',
      '--rate',
      '4',
    );
    expect(noLens.code).toBe(1);
    expect(noLens.err).toContain('--input');
  });
});
