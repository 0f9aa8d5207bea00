import type { ProjectionPoint, ProjectOptionsResponse, ProjectResponse } from '@tessera/dashboard';
import { SHIPPED_MODELS } from '@tessera/models';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/index';
import { MAX_PENDING_SEARCHES } from '../../src/ui/index';
import { post, refuses, get as UI_GET } from './helpers';

async function tessera(...argv: string[]): Promise<unknown> {
  const out: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: () => {} });
  expect(code).toBe(0);
  return JSON.parse(out.join('\n'));
}

type CliPoint = Omit<ProjectionPoint, 'tokensPerSecondPerSystem' | 'meetsSlo'>;
interface CliSearch {
  tried: number;
  fitted: number;
  meeting: CliPoint[];
  best: CliPoint | null;
  frontier: CliPoint[];
}

const cliFields = ({ tokensPerSecondPerSystem: _s, meetsSlo: _m, ...p }: ProjectionPoint): CliPoint => p;

describe('/api/project', () => {
  it('lists the shipped models, the built-in systems and defaults that are among them', async () => {
    const o = (await UI_GET('/api/project/options')) as ProjectOptionsResponse;
    expect(o.models.map((m) => m.id)).toEqual(SHIPPED_MODELS.map((m) => m.id));
    const llama = o.models.find((m) => m.id === 'llama-3.1-8b')!;
    expect(llama.name).toBe('meta-llama/Llama-3.1-8B');
    expect(llama.paramsB).toBeCloseTo(8.03, 2);
    expect(o.systems.map((s) => s.name)).toContain('cloudmatrix384');
    expect(o.models.map((m) => m.id)).toContain(o.defaults.model);
    for (const s of o.defaults.systems) expect(o.systems.map((x) => x.name)).toContain(s);
  });

  it('answers `tessera project --slo-tpot --slo-ttft --input --output --max-batch`’s search, with every fitting point', async () => {
    const request = {
      model: 'llama-3.1-8b',
      systems: ['dgx-h100'],
      sloTpotMs: 5,
      sloTtftMs: 50,
      input: 128,
      output: 64,
      maxBatch: 2,
    };
    const api = (await post('/api/project', request)) as ProjectResponse;
    const cli = (await tessera(
      'project',
      '--model',
      'llama-3.1-8b',
      '--system',
      'dgx-h100',
      '--slo-tpot',
      '5',
      '--slo-ttft',
      '50',
      '--input',
      '128',
      '--output',
      '64',
      '--max-batch',
      '2',
      '--json',
    )) as CliSearch;
    expect(api.model).toBe('llama-3.1-8b');
    expect(api.elapsedMs).toBeGreaterThan(0);
    const [r] = api.results;
    expect(r).toMatchObject({
      system: 'dgx-h100',
      vendor: 'nvidia',
      device: 'h100',
      chips: 8,
      sloTpotMs: 5,
      sloTtftMs: 50,
    });
    // TP 1, 2, 4, 8 × batch 1, 2: every one fits an 8B model on H100s.
    expect({ tried: r!.tried, fitted: r!.fitted, points: r!.points.length }).toEqual({
      tried: 8,
      fitted: 8,
      points: 8,
    });
    expect({ tried: cli.tried, fitted: cli.fitted }).toEqual({ tried: 8, fitted: 8 });
    // The same search: the points meeting both SLOs, the best and the frontier are the CLI's, figure for figure.
    const meeting = r!.points.filter((p) => p.meetsSlo);
    expect(meeting.length).toBeGreaterThan(0);
    expect(meeting.length).toBeLessThan(8); // TPOT 5 ms: TP 1 does not make it
    expect(new Set(meeting.map(cliFields))).toEqual(new Set(cli.meeting));
    expect(cliFields(r!.best!)).toEqual(cli.best);
    expect(r!.frontier.map(cliFields)).toEqual(cli.frontier);
    for (const p of r!.points) {
      expect(p.meetsSlo).toBe(p.tpotMs <= 5 && p.ttftMs !== null && p.ttftMs <= 50);
      // A full system runs 8 / TP copies: per system = per chip × 8.
      expect(p.tokensPerSecondPerSystem).toBeCloseTo(p.tokensPerSecondPerChip * 8, 9);
    }
    // And one configuration against `tessera project --tp 2 --batch 2` (decode context input + output / 2 = 160).
    const one = (await tessera(
      'project',
      '--model',
      'llama-3.1-8b',
      '--system',
      'dgx-h100',
      '--tp',
      '2',
      '--batch',
      '2',
      '--context',
      '160',
      '--json',
    )) as {
      tpotMs: number;
      tokensPerSecondPerChip: number;
      tokensPerSecondPerSystem: number;
      tokensPerSecondPerKW: number;
    };
    const tp2 = r!.points.find((p) => p.tp === 2 && p.batch === 2)!;
    expect(tp2.tpotMs).toBeCloseTo(one.tpotMs, 9);
    expect(tp2.tokensPerSecondPerChip).toBeCloseTo(one.tokensPerSecondPerChip, 6);
    expect(tp2.tokensPerSecondPerSystem).toBeCloseTo(one.tokensPerSecondPerSystem, 6);
    expect(tp2.tokensPerSecondPerKW).toBeCloseTo(one.tokensPerSecondPerKW, 6);
  });

  it('queues at most MAX_PENDING_SEARCHES searches and refuses the next with 503 at once', async () => {
    const small = { model: 'llama-3.1-8b', systems: ['dgx-h100'], sloTpotMs: 50, maxBatch: 1 };
    const queued = Array.from({ length: MAX_PENDING_SEARCHES }, () => post('/api/project', small));
    await refuses(post('/api/project', small), 503, null, /3 projection searches are already running or waiting/);
    for (const r of await Promise.all(queued)) expect((r as ProjectResponse).results).toHaveLength(1);
    // Once they have answered there is room again.
    expect(((await post('/api/project', small)) as ProjectResponse).results).toHaveLength(1);
  });

  it('refuses bad requests before searching, naming the field and the valid values', async () => {
    const ok = { model: 'llama-3.1-8b', systems: ['dgx-h100'], sloTpotMs: 50 };
    const p = (body: unknown) => post('/api/project', body);
    await refuses(p('{}'), 400, 'body', /must be a JSON object, got '\{\}'/);
    await refuses(p({ ...ok, batch: 4 }), 400, 'batch', /Unknown field 'batch'; the fields are model, systems/);
    await refuses(
      p({ ...ok, model: 'llama-3-8b' }),
      400,
      'model',
      /Unknown model 'llama-3-8b'; one of: llama-3.1-8b, .*deepseek-r1/,
    );
    await refuses(p({ ...ok, systems: [] }), 400, 'systems', /non-empty array of built-in topologies \(dgx-a100, /);
    await refuses(p({ ...ok, systems: 'dgx-h100' }), 400, 'systems', /non-empty array/);
    await refuses(
      p({ ...ok, systems: ['dgx-h100', 'h100'] }),
      400,
      'systems[1]',
      /Unknown topology 'h100'; one of: dgx-a100/,
    );
    await refuses(p({ ...ok, systems: ['dgx-h100', 'dgx-h100'] }), 400, 'systems[1]', /lists 'dgx-h100' twice/);
    const seven = ['dgx-a100', 'dgx-h100', 'hgx-h200', 'hgx-h800', 'nvl72', 'atlas-800t-a2', 'cloudmatrix384'];
    await refuses(p({ ...ok, systems: seven }), 400, 'systems', /at most 6 items, got 7/);
    await refuses(p({ ...ok, sloTpotMs: 0 }), 400, 'sloTpotMs', /positive number of ms, got 0/);
    await refuses(p({ ...ok, sloTpotMs: Number.POSITIVE_INFINITY }), 400, 'sloTpotMs', /got Infinity/);
    await refuses(p({ ...ok, sloTpotMs: undefined }), 400, 'sloTpotMs', /got nothing/);
    await refuses(p({ ...ok, sloTtftMs: -1 }), 400, 'sloTtftMs', /positive number of ms, got -1/);
    await refuses(p({ ...ok, input: 131073 }), 400, 'input', /from 1 to 131072 \(llama-3.1-8b's context\), got 131073/);
    await refuses(p({ ...ok, output: 0 }), 400, 'output', /from 1 to 131072/);
    await refuses(
      p({ ...ok, input: 100000, output: 40000 }),
      400,
      'output',
      /input \+ output \(140000\) exceed llama-3.1-8b's context of 131072/,
    );
    await refuses(p({ ...ok, maxBatch: 1024 }), 400, 'maxBatch', /from 1 to 512, got 1024/);
    await refuses(p({ ...ok, maxBatch: 48 }), 400, 'maxBatch', /power of two \(1, 2, 4, … 512\), got 48/);
  });
});
