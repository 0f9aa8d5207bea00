import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../src/index';

// turbo passes TESSERA_BACKEND through from the caller's shell; these tests set it themselves.
const savedBackendEnv = process.env.TESSERA_BACKEND;
beforeEach(() => {
  delete process.env.TESSERA_BACKEND;
});
afterEach(() => {
  if (savedBackendEnv === undefined) delete process.env.TESSERA_BACKEND;
  else process.env.TESSERA_BACKEND = savedBackendEnv;
});

async function tessera(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('tessera devices', () => {
  it('prints a table and a JSON list with ids, units, memory, bandwidth and peaks by dtype', async () => {
    const t = await tessera('devices');
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/h100.*NVIDIA H100 SXM5.*132 SMs/);
    expect(t.out).toMatch(/910b2.*Ascend 910B2.*24 AI cores/);
    const j = await tessera('devices', '--json');
    const list = JSON.parse(j.out) as Array<Record<string, unknown>>;
    expect(list.map((d) => d.id)).toEqual(['a100', 'h100', 'h200', 'b200', '910b2', '910b4', '910c']);
    for (const d of list) {
      for (const key of [
        'id',
        'backend',
        'name',
        'compute_units',
        'memory_bytes',
        'memory_bandwidth_gbs',
        'peak_tflops',
      ])
        expect(d).toHaveProperty(key);
      // Every catalogue device has a board power with its source and quality.
      expect(d.board_power_w, String(d.id)).toBeGreaterThan(0);
      expect(String(d.power_source).length, String(d.id)).toBeGreaterThan(20);
      expect(['datasheet', 'second-hand', 'estimate']).toContain(d.power_quality);
    }
    expect(t.out).toMatch(/h100 .*\| 700 W +\|/);
    expect(t.out).toMatch(/910b2 .*\| 400 W\* +\|/);
    expect(t.out).toMatch(/910c .*\| 400 W~ +\|/);
    const nv = JSON.parse((await tessera('devices', '--backend', 'ascend-sim', '--json')).out) as unknown[];
    expect(nv).toHaveLength(3);
  });

  it('lists only the backend TESSERA_BACKEND names, unless --backend says otherwise', async () => {
    process.env.TESSERA_BACKEND = 'Ascend-Sim';
    const ids = async (...argv: string[]) =>
      (JSON.parse((await tessera('devices', '--json', ...argv)).out) as Array<{ id: string }>).map((d) => d.id);
    expect(await ids()).toEqual(['910b2', '910b4', '910c']);
    expect(await ids('--backend', 'nvidia-sim')).toEqual(['a100', 'h100', 'h200', 'b200']);
    // Device ids are unique across backends: an explicit --device picks its own backend.
    const t = await tessera('bench', 'copy', '--device', 'h100', '--bytes', '1M', '--json');
    expect(t.code).toBe(0);
  });

  it('names TESSERA_BACKEND or --backend and lists the registered backends when the name is unknown', async () => {
    const flag = await tessera('devices', '--backend', 'cuda');
    expect(flag.code).toBe(1);
    expect(flag.err).toMatch(
      /^tessera: No backend named 'cuda' is registered\. Registered backends: nvidia-sim, ascend-sim, webgpu\.$/,
    );
    process.env.TESSERA_BACKEND = 'cuda';
    const env = await tessera('devices');
    expect(env.code).toBe(1);
    expect(env.err).toMatch(
      /^tessera: TESSERA_BACKEND names 'cuda', but no backend of that name is registered\. Registered backends: nvidia-sim, ascend-sim, webgpu\.$/,
    );
  });
});

describe('tessera bench', () => {
  it('gemm reports the calibrated H100 figure as JSON, case-insensitively', async () => {
    const t = await tessera(
      'bench',
      'gemm',
      '--device',
      'H100',
      '--dtype',
      'bf16',
      '--m',
      '8192',
      '--n',
      '8192',
      '--k',
      '8192',
      '--json',
    );
    expect(t.code).toBe(0);
    const r = JSON.parse(t.out);
    expect(r).toMatchObject({ device: 'h100', op: 'gemm', dtype: 'bf16' });
    for (const k of ['simulated_ms', 'tflops', 'efficiency']) expect(typeof r[k]).toBe('number');
    expect(r.tflops).toBeGreaterThan(714);
    expect(r.tflops).toBeLessThan(874);
    expect(r.efficiency).toBeCloseTo(r.tflops / 989.4, 6);
  });

  it('copy counts bytes read plus written and lands in the streaming range', async () => {
    const t = await tessera('bench', 'copy', '--device', '910c', '--bytes', '4G', '--json');
    expect(t.code).toBe(0);
    const r = JSON.parse(t.out);
    expect(r).toMatchObject({ device: '910c', op: 'copy' });
    expect(r.gbps).toBeCloseTo((2 * 4 * 1024 ** 3) / (r.simulated_ms * 1e6), 6);
    expect(r.efficiency).toBeGreaterThan(0.85);
    expect(r.efficiency).toBeLessThan(0.92);
  });

  it('prints a readable summary without --json', async () => {
    const t = await tessera('bench', 'gemm', '--device', 'a100', '--m', '256', '--n', '256', '--k', '256');
    expect(t.out).toMatch(/modelled time .*µs/);
    expect(t.out).toMatch(/latency-bound/);
  });

  it('writes a Chrome trace with --trace', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'trace.json');
    const t = await tessera('--trace', file, 'bench', 'copy', '--device', 'h100', '--bytes', '64M');
    expect(t.code).toBe(0);
    const trace = JSON.parse(readFileSync(file, 'utf8'));
    expect(trace.traceEvents.some((e: { ph: string; name: string }) => e.ph === 'X' && e.name === 'copy')).toBe(true);
  });
});

describe('tessera bench for the library operators', () => {
  it('attention prefill is compute-bound near peak; decode, rmsnorm and softmax memory-bound near bandwidth, on both vendors', async () => {
    for (const device of ['h100', '910b2']) {
      const run = async (...argv: string[]) => {
        const t = await tessera('bench', ...argv, '--device', device, '--json');
        expect(t.code, `${argv.join(' ')} on ${device}: ${t.err}`).toBe(0);
        return JSON.parse(t.out) as { bound: string; efficiency: number };
      };
      const att = await run('attention', '--seq', '4096');
      expect(['matrix', 'vector']).toContain(att.bound);
      expect(att.efficiency).toBeGreaterThan(0.6);
      for (const argv of [
        ['decode', '--batch', '64', '--context', '4096'],
        ['rmsnorm', '--rows', '8192', '--cols', '8192'],
        ['softmax', '--rows', '8192', '--cols', '32768'],
      ]) {
        const r = await run(...argv);
        expect(r.bound, argv[0]).toBe('memory');
        expect(r.efficiency, argv[0]).toBeGreaterThan(0.75);
        expect(r.efficiency, argv[0]).toBeLessThan(0.92);
      }
    }
  });
});

describe('errors', () => {
  it('exit non-zero with one line that says what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['bench', 'gemm', '--device', 'h100', '--m', '1', '--n', 'x', '--k', '1'], /--n must be a positive integer/],
      [['bench', 'gemm', '--device', 'tpu', '--m', '1', '--n', '1', '--k', '1'], /Unknown device 'tpu'.*Known devices/],
      [
        ['bench', 'gemm', '--device', '910b2', '--dtype', 'fp8', '--m', '64', '--n', '64', '--k', '64'],
        /fp8e4m3 \(float8 e4m3\), which .* does not support\. Use int8/,
      ],
      [['bench', 'copy', '--device', 'h100', '--bytes', 'lots'], /is not a size/],
      [['bench', 'gemm', '--device', 'h100', '--m', '1', '--k', '1'], /required option '--n/],
      [['bench', 'gemm', '--device', 'h100', '--dtype', 'f64', '--m', '1', '--n', '1', '--k', '1'], /Allowed choices/],
      [['frobnicate'], /unknown command/],
    ];
    for (const [argv, re] of cases) {
      const t = await tessera(...argv);
      expect(t.code, argv.join(' ')).not.toBe(0);
      expect(t.err, argv.join(' ')).toMatch(re);
    }
  });

  it('validates --device-spec files and uses the device they add', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ id: 'x', vendor: 'nvidia', name: 'X' }));
    expect((await tessera('--device-spec', bad, 'devices')).err).toMatch(/bad.json: field '.*' must be/);
    const devs = JSON.parse((await tessera('devices', '--json')).out) as Array<Record<string, unknown>>;
    const h100 = devs.find((d) => d.id === 'h100')!;
    const good = join(dir, 'good.json');
    const { NVIDIA_CATALOG } = await import('@tessera/backend-nvidia-sim');
    writeFileSync(good, JSON.stringify({ ...NVIDIA_CATALOG[1], id: 'h100-half', name: 'Half H100', computeUnits: 66 }));
    const t = await tessera(
      '--device-spec',
      good,
      'bench',
      'gemm',
      '--device',
      'h100-half',
      '--m',
      '4096',
      '--n',
      '4096',
      '--k',
      '4096',
      '--json',
    );
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out).tflops).toBeLessThan(0.6 * (h100.peak_tflops as Record<string, number>).bf16!);
    // The device belonged to that run only: every run of the program creates its own backend instances.
    const after = JSON.parse((await tessera('devices', '--json')).out) as Array<{ id: string }>;
    expect(after.map((d) => d.id)).not.toContain('h100-half');
  });

  it('prints help for every command', async () => {
    for (const argv of [
      ['--help'],
      ['devices', '--help'],
      ['bench', '--help'],
      ['bench', 'gemm', '--help'],
      ['bench', 'copy', '--help'],
    ]) {
      const t = await tessera(...argv);
      expect(t.code).toBe(0);
      expect(t.out).toMatch(/Usage: tessera/);
    }
  });
});

describe('tessera compile', () => {
  const file = '../../examples/cuda-samples/src/vector-add.ts';
  const costArgs = [
    '--arg',
    'numElements=1000000',
    '--arg',
    'A=f32:1000000',
    '--arg',
    'B=f32:1000000',
    '--arg',
    'C=f32:1000000',
  ];

  it('prints the IR, the generated JavaScript and the cost record of a launch, without running it', async () => {
    const ir = await tessera('compile', file, '--kernel', 'vectorAdd', '--dump', 'ir', '--block', '256');
    expect(ir.code).toBe(0);
    expect(ir.out).toMatch(/kernel @vectorAdd \(simt\) specialised \{A:f32, B:f32, C:f32, block=256x1x1/);
    expect(ir.out).toMatch(/simt\.load\(%A\.\d+, %\d+\) : float/);
    expect(ir.out).toMatch(/scf\.if\(%\d+\)/);
    const js = await tessera('compile', file, '--kernel', 'vectorAdd', '--dump', 'js', '--block', '256');
    expect(js.code).toBe(0);
    expect(js.out).toMatch(/return function run\(b0, b1, launch\)/);
    const wgsl = await tessera('compile', file, '--kernel', 'vectorAdd', '--dump', 'wgsl', '--block', '256');
    expect(wgsl.code, wgsl.err).toBe(0);
    expect(wgsl.out).toMatch(/@compute @workgroup_size\(256, 1, 1\)/);
    expect(wgsl.out).toMatch(/var<storage, read> /);
    const cost = await tessera(
      'compile',
      file,
      '--kernel',
      'vectorAdd',
      '--dump',
      'cost',
      '--block',
      '256',
      '--grid',
      '3907',
      '--device',
      'h100',
      ...costArgs,
    );
    expect(cost.code).toBe(0);
    const record = JSON.parse(cost.out.slice(cost.out.indexOf('\n{') + 1, cost.out.lastIndexOf('}') + 1)) as {
      programs: number;
      total: { bytesRead: number; bytesWritten: number; vectorOps: Record<string, number> };
      classes: { count: number }[];
    };
    // 1 M elements in blocks of 256: 3906 full blocks and one holding 64 elements; one add per element.
    expect(record.programs).toBe(3907);
    expect(record.classes.map((c) => c.count)).toEqual([3906, 1]);
    expect(record.total.bytesRead).toBe(8_000_000);
    expect(record.total.bytesWritten).toBe(4_000_000);
    // FLOPs are counted from the kernel's arithmetic: one add per element that passes the `i < n` guard.
    expect(record.total.vectorOps.f32).toBe(1_000_000);
    expect(cost.out).toMatch(/modelled on NVIDIA H100 SXM5 80GB: [\d.]+ ms/);
  });

  it('names what is wrong: an unknown kernel, a missing argument, a bad dtype', async () => {
    const missing = await tessera('compile', file, '--kernel', 'nope', '--dump', 'ir');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/exports no kernel named 'nope'\. Its kernels: vectorAdd/);
    const noScalars = await tessera('compile', file, '--kernel', 'vectorAdd', '--dump', 'cost', '--grid', '4');
    expect(noScalars.code).toBe(1);
    expect(noScalars.err).toMatch(/needs values for: numElements/);
    const badDtype = await tessera('compile', file, '--kernel', 'vectorAdd', '--dump', 'ir', '--arg', 'A=f65');
    expect(badDtype.code).toBe(1);
    expect(badDtype.err).toMatch(/'f65' is not a dtype/);
  });
});
