import { SHIPPED_MODELS } from '@tessera/models';
import { describe, expect, it } from 'vitest';
import { run } from '../src/index';

async function tessera(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

interface Result {
  ok: boolean;
  system: string;
  tp: number;
  devices: number;
  batch: number;
  stepMs: number;
  tpotMs: number | null;
  tokensPerStep: number;
  tokensPerSecond: number;
  tokensPerSecondPerChip: number;
  tokensPerSecondPerSystem: number;
  devicesPerSystem: number;
  tokensPerSecondPerKW: number;
  power: { totalKW: number };
  memory: { weights: number; kvCache: number; workspace: number; total: number; capacity: number };
  critical: { kernelsMs: number; collectivesMs: number; idleMs: number };
  assumptions: string[];
  error?: string;
  shortfallBytes?: number | null;
}

describe('tessera project', () => {
  it('projects llama-3.1-8b on dgx-h100: the table, and tokens/s per chip = batch / step time / devices', async () => {
    const t = await tessera('project', '--model', 'llama-3.1-8b', '--system', 'dgx-h100', '--tp', '2');
    expect(t.code, t.err).toBe(0);
    for (const label of [
      'step time',
      'TPOT',
      'tokens/s per chip',
      'tokens/s per system',
      'tokens/s per kW',
      'weights / device',
      'KV cache / device',
      'workspace / device',
      'total / capacity',
      'kernels',
      'collectives',
    ])
      expect(t.out).toContain(label);
    expect(t.out).toMatch(/Assumptions:\n {2}- /);

    const j = await tessera('project', '--model', 'llama-3.1-8b', '--system', 'dgx-h100', '--tp', '2', '--json');
    expect(j.code, j.err).toBe(0);
    const r = JSON.parse(j.out) as Result;
    expect(r.ok).toBe(true);
    expect(r.tp).toBe(2);
    expect(r.devices).toBe(2);
    expect(r.batch).toBe(64);
    expect(r.tokensPerStep).toBe(64);
    expect(r.tpotMs).toBe(r.stepMs);
    expect(r.stepMs).toBeGreaterThan(0);
    expect(r.tokensPerSecondPerChip).toBeCloseTo(r.batch / (r.stepMs / 1e3) / r.devices, 6);
    expect(r.tokensPerSecondPerSystem).toBeCloseTo(r.tokensPerSecondPerChip * r.devicesPerSystem, 6);
    expect(r.tokensPerSecondPerKW).toBeCloseTo(r.tokensPerSecond / r.power.totalKW, 6);
    const m = r.memory;
    expect(m.total).toBe(m.weights + m.kvCache + m.workspace);
    expect(m.total).toBeLessThanOrEqual(m.capacity);
    expect(r.critical.kernelsMs + r.critical.collectivesMs).toBeGreaterThan(0);
    expect(r.critical.collectivesMs).toBeGreaterThan(0); // TP 2 all-reduces
    expect(r.assumptions.length).toBeGreaterThan(0);
    // The text prints the same step time.
    expect(t.out).toContain(`${r.stepMs.toFixed(3)} ms`);
  });

  it('chooses the smallest power-of-two TP that fits when --tp is not given, and says so', async () => {
    const t = await tessera('project', '--model', 'llama-3.1-70b', '--system', 'dgx-h100', '--json');
    expect(t.code, t.err).toBe(0);
    const r = JSON.parse(t.out) as Result & { tpChoice: string };
    // 70B in bf16 is ≈ 131 GiB of weights, plus 64 × 2048 tokens of KV cache: the chosen TP fits, half of it does not.
    expect(r.tp).toBeGreaterThan(1);
    expect(r.tpChoice).toMatch(/^auto/);
    const half = await tessera('project', '--model', 'llama-3.1-70b', '--system', 'dgx-h100', '--tp', String(r.tp / 2));
    expect(half.code).toBe(1);
    expect(half.err).toMatch(/Does not fit on NVIDIA H100/);
    const text = await tessera('project', '--model', 'llama-3.1-70b', '--system', 'dgx-h100');
    expect(text.out).toMatch(/TP: auto: the smallest power of two up to 8 that fits \(dgx-h100\)/);
  });

  it('--compare prints the shortfall line for a system the model does not fit and still prints the other', async () => {
    const argv = ['project', '--model', 'llama-3.1-405b', '--compare', 'dgx-h100,nvl72', '--tp', '8', '--batch', '8'];
    const t = await tessera(...argv);
    expect(t.code, t.err).toBe(0);
    // 405B over 8 devices: ≈ 95 GiB of weights per device, more than an H100's 80 GB, less than a B200's 192 GB.
    expect(t.out).toMatch(/^dgx-h100: at TP 8: Does not fit on NVIDIA H100[^\n]*GiB short\.$/m);
    expect(t.out).toMatch(/\| *\| nvl72 *\|/);
    expect(t.out).not.toMatch(/\| *\| dgx-h100/);
    expect(t.out).toContain('tokens/s per chip');

    const j = await tessera(...argv, '--json');
    expect(j.code, j.err).toBe(0);
    const rs = JSON.parse(j.out) as Result[];
    expect(rs.map((r) => [r.system, r.ok])).toEqual([
      ['dgx-h100', false],
      ['nvl72', true],
    ]);
    expect(rs[0]!.shortfallBytes).toBeGreaterThan(0);
    expect(rs[0]!.error).toMatch(/GiB short/);
    expect(rs[1]!.tokensPerSecondPerChip).toBeCloseTo(8 / (rs[1]!.stepMs / 1e3) / 8, 6);
  });

  it('a single system the model does not fit: the shortfall, exit 1', async () => {
    const t = await tessera('project', '--model', 'llama-3.1-405b', '--system', 'dgx-h100', '--tp', '8');
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/^tessera: dgx-h100: at TP 8: Does not fit on NVIDIA H100.*GiB short\.$/);
  });

  it('an unknown model or system: one line listing the valid ids, exit 1', async () => {
    const m = await tessera('project', '--model', 'llama-9', '--system', 'dgx-h100');
    expect(m.code).toBe(1);
    expect(m.out).toBe('');
    expect(m.err.split('\n')).toHaveLength(1);
    expect(m.err).toContain("Unknown model 'llama-9'");
    for (const { id } of SHIPPED_MODELS) expect(m.err).toContain(id);

    const s = await tessera('project', '--model', 'llama-3.1-8b', '--compare', 'dgx-h100,dgx-h900');
    expect(s.code).toBe(1);
    expect(s.out).toBe('');
    expect(s.err.split('\n')).toHaveLength(1);
    expect(s.err).toMatch(/Unknown system 'dgx-h900'; one of: .*dgx-h100.*nvl72.*cloudmatrix384/);
  });

  it('--slo-tpot searches: only configurations meeting the SLO, the best first, a Pareto frontier', async () => {
    type P = { tp: number; batch: number; tpotMs: number; tokensPerSecondPerChip: number };
    type R = { sloTpotMs: number; meeting: P[]; best: P | null; frontier: P[]; fitted: number };
    // A small space (TP 2, batch 1…32) keeps the test short; first every TPOT, then an SLO between them.
    const search = async (slo: string) => {
      const s = await tessera(
        'project',
        '--model',
        'llama-3.1-8b',
        '--system',
        'dgx-h100',
        '--tp',
        '2',
        '--max-batch',
        '32',
        '--slo-tpot',
        slo,
        '--json',
      );
      expect(s.code).toBe(0);
      return JSON.parse(s.out) as R;
    };
    const all = await search('1000ms');
    expect(all.fitted).toBe(6);
    expect(all.meeting).toHaveLength(6);
    const tpots = all.meeting.map((p) => p.tpotMs).sort((a, b) => a - b);
    const slo = (tpots[2]! + tpots[3]!) / 2; // three meet it, three do not
    const r = await search(`${slo}`);
    expect(r.sloTpotMs).toBe(slo);
    expect(r.meeting).toHaveLength(3);
    for (const p of r.meeting) expect(p.tpotMs).toBeLessThanOrEqual(slo);
    expect(r.best).toEqual(r.meeting[0]);
    for (const p of r.meeting) expect(p.tokensPerSecondPerChip).toBeLessThanOrEqual(r.best!.tokensPerSecondPerChip);
    // Along the frontier TPOT rises and so does throughput per chip; no configuration beats the frontier at its TPOT.
    for (let i = 1; i < r.frontier.length; i++) {
      expect(r.frontier[i]!.tpotMs).toBeGreaterThanOrEqual(r.frontier[i - 1]!.tpotMs);
      expect(r.frontier[i]!.tokensPerSecondPerChip).toBeGreaterThan(r.frontier[i - 1]!.tokensPerSecondPerChip);
    }
    for (const p of all.meeting) {
      const dominating = r.frontier.filter((f) => f.tpotMs <= p.tpotMs);
      expect(Math.max(...dominating.map((f) => f.tokensPerSecondPerChip))).toBeGreaterThanOrEqual(
        p.tokensPerSecondPerChip,
      );
    }
    const bad = await tessera('project', '--model', 'llama-3.1-8b', '--system', 'dgx-h100', '--slo-tpot', 'fast');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--slo-tpot 'fast' must be a positive number of ms/);
  });

  it('--dp, --pp and --spec: devices = PP × DP × TP, TPOT = step ÷ expected tokens per step, tokens/s counts the tokens emitted', async () => {
    const j = await tessera(
      'project',
      '--model',
      'mixtral-8x7b',
      '--system',
      'dgx-h100',
      '--tp',
      '4',
      '--dp',
      '2',
      '--batch',
      '16',
      '--spec',
      '2',
      '--acceptance',
      '0.8',
      '--json',
    );
    expect(j.code, j.err).toBe(0);
    const r = JSON.parse(j.out) as Result & { dp: number; ep: number; tokensPerSequenceStep: number };
    expect([r.devices, r.dp, r.ep]).toEqual([8, 2, 8]);
    const perSeq = 1 + 0.8 + 0.64;
    expect(r.tokensPerSequenceStep).toBeCloseTo(perSeq, 12);
    expect(r.tpotMs!).toBeCloseTo(r.stepMs / perSeq, 9);
    expect(r.tokensPerStep).toBeCloseTo(16 * perSeq, 9);
    expect(r.tokensPerSecondPerChip).toBeCloseTo((16 * perSeq) / (r.stepMs / 1e3) / 8, 6);
    const pp = await tessera(
      'project',
      '--model',
      'llama-3.1-8b',
      '--system',
      'dgx-h100',
      '--tp',
      '2',
      '--pp',
      '2',
      '--json',
    );
    expect(pp.code, pp.err).toBe(0);
    expect((JSON.parse(pp.out) as Result).devices).toBe(4);
    // Too many devices for the system, and DP on a dense model: one clear line each.
    const big = await tessera('project', '--model', 'llama-3.1-8b', '--system', 'dgx-h100', '--tp', '4', '--pp', '4');
    expect(big.code).toBe(1);
    expect(big.err).toMatch(/TP 4 × PP 4 = 16 devices exceed the 8 of dgx-h100/);
    const dense = await tessera('project', '--model', 'llama-3.1-8b', '--system', 'dgx-h100', '--dp', '2');
    expect(dense.code).toBe(1);
    expect(dense.err).toMatch(/attention data parallelism pairs with expert parallelism/);
  });

  it('runs every shipped model on every built-in system: a projection where it fits, a shortfall line where it does not', async () => {
    const systems = ['dgx-a100', 'dgx-h100', 'hgx-h200', 'hgx-h800', 'nvl72', 'atlas-800t-a2', 'cloudmatrix384'];
    let fits = 0;
    for (const m of SHIPPED_MODELS) {
      const t = await tessera(
        'project',
        '--model',
        m.id,
        '--compare',
        systems.join(','),
        '--batch',
        '8',
        '--context',
        '1024',
        '--json',
      );
      const all = JSON.parse(t.out) as Result[];
      expect(all.map((r) => r.system)).toEqual(systems);
      for (const r of all) {
        if (r.ok) {
          fits++;
          expect(r.stepMs, `${m.id} on ${r.system}`).toBeGreaterThan(0);
          expect(r.memory.total).toBeLessThanOrEqual(r.memory.capacity);
        } else {
          // The one line says at which TP degrees it was tried and how much memory is missing.
          expect(r.error, `${m.id} on ${r.system}`).toMatch(
            /fits at no TP in \{1, 2, 4, 8\}; at TP 8: Does not fit on .*GiB short/,
          );
          expect(r.shortfallBytes).toBeGreaterThan(0);
        }
      }
    }
    // The big ones do not fit one 8-GPU node in bf16, but do fit the rack-scale systems (and Llama-405B fits an HGX H200): 49 of 63 run.
    expect(fits).toBe(49);
    // Where bf16 does not fit, fp8 weights or a second node (dgx-h100x2) does.
    const fp8 = await tessera(
      'project',
      '--model',
      'deepseek-r1',
      '--system',
      'hgx-h200',
      '--weights',
      'fp8',
      '--batch',
      '8',
      '--context',
      '1024',
    );
    expect(fp8.code, fp8.err).toBe(0);
    const two = await tessera(
      'project',
      '--model',
      'llama-3.1-405b',
      '--system',
      'dgx-h100x2',
      '--batch',
      '8',
      '--context',
      '1024',
    );
    expect(two.code, two.err).toBe(0);
  }, 300_000);

  it('--slo-tpot with --slo-ttft, --input/--output and --search-weights: DP layouts for MoE, every weight dtype, both SLOs met', async () => {
    type P = { tp: number; dp: number; weights: string; batch: number; tpotMs: number; ttftMs: number | null };
    const run = async (ttft: string) => {
      const t = await tessera(
        'project',
        '--model',
        'mixtral-8x7b',
        '--system',
        'dgx-h100',
        '--slo-tpot',
        '40',
        '--slo-ttft',
        ttft,
        '--input',
        '512',
        '--output',
        '128',
        '--search-weights',
        '--tp',
        '1',
        '--max-batch',
        '8',
        '--json',
      );
      expect(t.code, t.err).toBe(0);
      return JSON.parse(t.out) as { meeting: P[]; best: P | null; frontier: P[]; fitted: number; sloTtftMs: number };
    };
    const loose = await run('10000');
    // Attention DP appears for the MoE model, and all three weight dtypes (H100 has fp8).
    expect(new Set(loose.meeting.map((p) => p.dp)).size).toBeGreaterThan(1);
    expect(new Set(loose.meeting.map((p) => p.weights))).toEqual(new Set(['bf16', 'int8', 'fp8']));
    const ttfts = [...new Set(loose.meeting.map((p) => p.ttftMs!))].sort((a, b) => a - b);
    // A TTFT SLO between the fastest and slowest prefill keeps only the configurations that meet it.
    const slo = (ttfts[0]! + ttfts[ttfts.length - 1]!) / 2;
    const tight = await run(String(slo));
    expect(tight.sloTtftMs).toBe(slo);
    expect(tight.meeting.length).toBeGreaterThan(0);
    expect(tight.meeting.length).toBeLessThan(loose.meeting.length);
    for (const p of tight.meeting) {
      expect(p.ttftMs!).toBeLessThanOrEqual(slo);
      expect(p.tpotMs).toBeLessThanOrEqual(40);
    }
    expect(tight.best).toEqual(tight.meeting[0]);
  }, 300_000);

  it('--disaggregate: TTFT = prefill step + KV hand-over, TPOT = the decode step, the best ratio; errors say what is missing', async () => {
    const args = ['project', '--model', 'llama-3.1-8b', '--system', 'dgx-h100', '--disaggregate', '--prefill-tp', '2'];
    const j = await tessera(...args, '--tp', '2', '--batch', '16', '--input', '1024', '--output', '128', '--json');
    expect(j.code, j.err).toBe(0);
    const r = JSON.parse(j.out) as {
      ttftMs: number;
      tpotMs: number;
      prefillMs: number;
      decodeMs: number;
      kvTransfer: { ms: number; bytes: number };
      ratio: { prefill: number; decode: number };
      devices: number;
    };
    expect(r.ttftMs).toBeCloseTo(r.prefillMs + r.kvTransfer.ms, 9);
    expect(r.tpotMs).toBe(r.decodeMs);
    expect(r.devices).toBe(2 * r.ratio.prefill + 2 * r.ratio.decode);
    const t = await tessera(...args, '--tp', '2', '--batch', '16', '--input', '1024', '--output', '128');
    expect(t.out).toMatch(/KV hand-over/);
    expect(t.out).toMatch(/best ratio/);
    const noLens = await tessera(...args, '--tp', '2');
    expect(noLens.code).toBe(1);
    expect(noLens.err).toMatch(/needs --input/);
    const tooBig = await tessera(...args, '--prefill-tp', '8', '--tp', '8', '--input', '64', '--output', '8');
    expect(tooBig.code).toBe(1);
    expect(tooBig.err).toMatch(/need 16 devices/);
  });

  it('tokens/s per MW provisioned: the full-system figure × 1000 ÷ --pue (IT power only without it)', async () => {
    const args = ['project', '--model', 'llama-3.1-8b', '--system', 'dgx-h100', '--tp', '1', '--batch', '8', '--json'];
    type R = { tokensPerSecondPerKWFullSystem: number; tokensPerSecondPerMWProvisioned: number; pue: number };
    const it1 = JSON.parse((await tessera(...args)).out) as R;
    expect(it1.pue).toBe(1);
    expect(it1.tokensPerSecondPerMWProvisioned).toBeCloseTo(1000 * it1.tokensPerSecondPerKWFullSystem, 6);
    const it2 = JSON.parse((await tessera(...args, '--pue', '1.25')).out) as R;
    expect(it2.tokensPerSecondPerMWProvisioned).toBeCloseTo((1000 * it2.tokensPerSecondPerKWFullSystem) / 1.25, 6);
    const bad = await tessera(...args, '--pue', '0.5');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--pue 0.5: facility ÷ IT power, between 1 and 3/);
  });

  it('--disaggregate with --slo-tpot/--slo-ttft searches prefill/decode pairs: both SLOs met, the best ratio per pair', async () => {
    const t = await tessera(
      'project',
      '--model',
      'llama-3.1-8b',
      '--system',
      'dgx-h100',
      '--disaggregate',
      '--slo-tpot',
      '20',
      '--slo-ttft',
      '200',
      '--input',
      '1024',
      '--output',
      '128',
      '--max-batch',
      '8',
      '--json',
    );
    expect(t.code, t.err).toBe(0);
    type P = {
      prefill: { ms: number; prompts: number; devices: number };
      decode: { batch: number; devices: number; tpotMs: number };
      kvHandOverMs: number;
      ttftMs: number;
      tpotMs: number;
      ratio: { prefill: number; decode: number };
      tokensPerSecondPerChip: number;
    };
    const r = JSON.parse(t.out) as { meeting: P[]; best: P; frontier: P[]; pairs: number };
    expect(r.meeting.length).toBeGreaterThan(0);
    expect(r.best).toEqual(r.meeting[0]);
    for (const p of r.meeting) {
      expect(p.ttftMs).toBeLessThanOrEqual(200);
      expect(p.tpotMs).toBeLessThanOrEqual(20);
      expect(p.ttftMs).toBeCloseTo(p.prefill.ms + p.kvHandOverMs, 9);
      expect(p.prefill.devices + p.decode.devices).toBeLessThanOrEqual(8);
      // The ratio is the best of all x, y ≤ 16 for this pair's rates.
      const rP = p.prefill.prompts / (p.prefill.ms / 1e3);
      const rD = p.decode.batch / ((128 * p.tpotMs) / 1e3);
      const perChip = (x: number, y: number) =>
        (Math.min(x * rP, y * rD) * 128) / (x * p.prefill.devices + y * p.decode.devices);
      expect(p.tokensPerSecondPerChip).toBeCloseTo(perChip(p.ratio.prefill, p.ratio.decode), 6);
      for (let x = 1; x <= 16; x += 5)
        for (let y = 1; y <= 16; y += 5)
          expect(perChip(x, y)).toBeLessThanOrEqual(p.tokensPerSecondPerChip * (1 + 1e-9));
    }
    for (let i = 1; i < r.frontier.length; i++) {
      expect(r.frontier[i]!.tpotMs).toBeGreaterThanOrEqual(r.frontier[i - 1]!.tpotMs);
      expect(r.frontier[i]!.tokensPerSecondPerChip).toBeGreaterThan(r.frontier[i - 1]!.tokensPerSecondPerChip);
    }
  }, 300_000);

  it('--system takes a topology file (YAML or JSON) as well as a built-in name', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'project-topo-'));
    const file = join(dir, 'four-h100.yaml');
    writeFileSync(
      file,
      `name: four-h100
backend: nvidia-sim
device: h100
nodes: 1
devicesPerNode: 4
scaleUp: { kind: switch, bandwidthGBs: 450, latencyUs: 0.5 }
power: { overheadW: 2000, quality: estimate, source: "a test file" }
`,
    );
    const t = await tessera('project', '--model', 'llama-3.1-70b', '--system', file, '--batch', '8', '--json');
    expect(t.code, t.err).toBe(0);
    const r = JSON.parse(t.out) as Result;
    expect(r.tp).toBe(2); // the smallest power of two up to its 4 devices that holds 70B in bf16
    expect(r.devicesPerSystem).toBe(4);
    const missing = await tessera('project', '--model', 'llama-3.1-8b', '--system', join(dir, 'none.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/Cannot read topology file/);
  });
});
