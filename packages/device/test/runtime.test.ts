import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createBackend,
  createRuntime,
  getBackend,
  isTesseraError,
  listBackends,
  registerBackend,
  removeBackend,
  tileKernel,
} from '../src/index';
import { createTestBackend } from '../src/testing/test-backend';
import { expectThrowCode, testRuntime } from './helpers';

// The registry reads TESSERA_BACKEND, which turbo passes through from the caller's shell: start without it.
const savedBackendEnv = process.env.TESSERA_BACKEND;
beforeEach(() => {
  delete process.env.TESSERA_BACKEND;
});
afterEach(() => {
  removeBackend('lazy-test');
  removeBackend('other-test');
  removeBackend('opt-in-test');
  if (savedBackendEnv === undefined) delete process.env.TESSERA_BACKEND;
  else process.env.TESSERA_BACKEND = savedBackendEnv;
});

describe('backend registry', () => {
  it('creates a registered backend lazily, once, and picks TESSERA_BACKEND or the highest priority', async () => {
    let calls = 0;
    registerBackend(
      'lazy-test',
      () => {
        calls++;
        return createTestBackend();
      },
      { priority: 100 },
    );
    registerBackend('other-test', () => ({ ...createTestBackend(), name: 'other-test' }), { priority: 1 });
    expect(calls).toBe(0);
    expect(listBackends().slice(0, 2)).toEqual(['lazy-test', 'other-test']);
    const a = await getBackend();
    const b = await getBackend('LAZY-TEST');
    expect(a).toBe(b);
    expect(calls).toBe(1);
    process.env.TESSERA_BACKEND = 'other-test';
    expect((await getBackend()).name).toBe('other-test');
    await expect(getBackend('cuda')).rejects.toThrow(/No backend named 'cuda'.*Registered backends: .*lazy-test/);
  });

  it('leaves opt-in backends (negative priority) out of { optIn: false } and never defaults to them', async () => {
    let calls = 0;
    registerBackend(
      'opt-in-test',
      () => {
        calls++;
        return { ...createTestBackend(), name: 'opt-in-test' };
      },
      { priority: -10 },
    );
    registerBackend('lazy-test', () => createTestBackend(), { priority: 100 });
    expect(listBackends()).toContain('opt-in-test');
    expect(listBackends().at(-1)).toBe('opt-in-test');
    expect(listBackends({ optIn: false })).not.toContain('opt-in-test');
    expect(listBackends({ optIn: false })).toContain('lazy-test');
    expect((await getBackend()).name).not.toBe('opt-in-test');
    expect(calls).toBe(0);
    process.env.TESSERA_BACKEND = 'opt-in-test';
    expect((await getBackend()).name).toBe('opt-in-test');
    expect(calls).toBe(1);
  });

  it('names TESSERA_BACKEND and lists the registered backends when the variable names an unknown one', async () => {
    registerBackend('lazy-test', () => createTestBackend(), { priority: 100 });
    process.env.TESSERA_BACKEND = ' CUDA ';
    const e = await getBackend().catch((x: unknown) => x);
    expect(isTesseraError(e, 'NoBackend')).toBe(true);
    expect((e as Error).message).toMatch(/TESSERA_BACKEND names 'cuda'.*Registered backends: .*lazy-test/);
    expect((e as { details: { registered: string[] } }).details.registered).toEqual(listBackends());
    await expect(createRuntime()).rejects.toThrow(/TESSERA_BACKEND names 'cuda'/);
    await expect(createBackend()).rejects.toThrow(/TESSERA_BACKEND names 'cuda'/);
  });

  it('createBackend returns a new instance each time, apart from the shared one', async () => {
    registerBackend('lazy-test', () => createTestBackend(), { priority: 100 });
    const shared = await getBackend('lazy-test');
    const a = await createBackend('lazy-test');
    const b = await createBackend('LAZY-TEST');
    expect(a).not.toBe(shared);
    expect(a).not.toBe(b);
    a.addDevice({ ...a.catalog()[0]!, id: 'only-in-a' });
    expect(a.catalog().some((d) => d.id === 'only-in-a')).toBe(true);
    expect(shared.catalog().some((d) => d.id === 'only-in-a')).toBe(false);
    expect(await getBackend('lazy-test')).toBe(shared);
    await expect(createBackend('cuda')).rejects.toThrow(/No backend named 'cuda'/);
    await expect(createBackend(3 as never)).rejects.toThrow(/createBackend: name must be a non-empty string/);
  });
});

describe('runtime', () => {
  it('selects devices like cudaSetDevice and rejects bad ordinals', async () => {
    const rt = await testRuntime('functional', 3);
    expect(rt.getDeviceCount()).toBe(3);
    rt.setDevice(2);
    expect(rt.getDevice().ordinal).toBe(2);
    expectThrowCode(() => rt.setDevice(3), 'InvalidDevice', /ordinals 0..2/);
  });

  it('refuses functional allocations past the host limit and points to timing-only mode', async () => {
    const rt = await createRuntime({ backend: createTestBackend(), hostMemoryLimit: 1 << 20 });
    const dev = rt.device(0);
    const a = dev.alloc('f32', 200_000);
    expectThrowCode(() => dev.alloc('f32', 100_000), 'OutOfMemory', /timing/);
    dev.free(a);
    dev.alloc('f32', 100_000);
  });

  it('validates user device specs, naming the bad field', async () => {
    const backend = createTestBackend();
    const base = backend.catalog()[0]!;
    expectThrowCode(
      () => backend.addDevice({ ...base, id: 'x1', memoryBytes: -5 }, 'my.json'),
      'InvalidValue',
      /my.json: field 'memoryBytes'/,
    );
    expectThrowCode(() => backend.addDevice({ ...base, id: 'x2', dtypes: ['f32', 'f64'] }), 'InvalidValue', /'dtypes'/);
    expectThrowCode(
      () => backend.addDevice({ ...base, id: 'x3', onChip: { ...base.onChip, sharedPerBlock: 'big' } }),
      'InvalidValue',
      /sharedPerBlock/,
    );
    const d = backend.addDevice({ ...base, id: 'My-Chip', computeUnits: 4 });
    expect(d.id).toBe('my-chip');
    const rt = await createRuntime({ backend, devices: 'MY-CHIP' });
    expect(rt.device(0).properties.computeUnits).toBe(4);
  });

  it('accepts an optional board power with its source and quality, and names a bad one', () => {
    const backend = createTestBackend();
    const base = backend.catalog()[0]!;
    const power = { boardPowerW: 350, powerSource: 'my datasheet, 2026', powerQuality: 'datasheet' };
    const d = backend.addDevice({ ...base, id: 'p1', ...power });
    expect([d.boardPowerW, d.powerSource, d.powerQuality]).toEqual([350, 'my datasheet, 2026', 'datasheet']);
    expect(backend.addDevice({ ...base, id: 'p2' }).boardPowerW).toBeUndefined(); // optional
    for (const [bad, field] of [
      [{ ...power, boardPowerW: -1 }, /field 'boardPowerW' must be a positive number of watts/],
      [{ ...power, boardPowerW: '700' }, /'boardPowerW'/],
      [{ ...power, boardPowerW: Number.POSITIVE_INFINITY }, /'boardPowerW'/],
      [{ ...power, powerQuality: 'measured' }, /'powerQuality' must be one of "datasheet", "second-hand", "estimate"/],
      [{ ...power, powerQuality: undefined }, /'powerQuality'/],
      [{ ...power, powerSource: '' }, /'powerSource' must be a non-empty string/],
      [{ powerSource: 'orphan' }, /'powerSource' must be absent when boardPowerW is/],
    ] as const) {
      expectThrowCode(() => backend.addDevice({ ...base, id: 'p3', ...bad }, 'chip.json'), 'InvalidValue', field);
    }
  });

  it('getLastError returns and clears; peekAtLastError does not clear', async () => {
    const dev = (await testRuntime()).device(0);
    expect(() => dev.alloc('f32', -1)).toThrow();
    expect(dev.peekAtLastError()?.code).toBe('InvalidValue');
    expect(dev.getLastError()?.code).toBe('InvalidValue');
    expect(dev.getLastError()).toBeNull();
  });
});

describe('profiler', () => {
  it('exports launches and copies as Chrome trace events on the modelled timeline', async () => {
    const rt = await createRuntime({ backend: createTestBackend(), profile: true });
    const dev = rt.device(0);
    const x = dev.alloc('f32', 1024);
    dev.upload(x, new Float32Array(1024).fill(1));
    const s = dev.createStream();
    const k = tileKernel({ name: 'scale', params: { x: 'ptr' } }, (t, { x }) => {
      const o = t.arange(0, 1024);
      t.store(x, o, t.load(x, o).mul(2));
    });
    dev.launch(k, { grid: 1, stream: s }, { x });
    const trace = rt.profiler.toChromeTrace();
    const spans = trace.traceEvents.filter((e) => e.ph === 'X');
    expect(spans.map((e) => e.name)).toEqual(['upload', 'scale']);
    const kernel = spans[1]!;
    expect(kernel.tid).toBe(s.id);
    expect(kernel.ts as number).toBeGreaterThanOrEqual((spans[0]!.ts as number) + (spans[0]!.dur as number));
    expect((kernel.args as Record<string, unknown>).bytes_read).toBe(4096);
    expect(trace.traceEvents.some((e) => e.ph === 'M' && e.name === 'process_name')).toBe(true);
    expect(JSON.parse(JSON.stringify(trace)).traceEvents.length).toBe(trace.traceEvents.length);
  });
});

describe('withStream', () => {
  it('sends work that names no stream to the given stream, nests, and restores the previous one even on a throw', async () => {
    const rt = await createRuntime({ backend: createTestBackend(), profile: true });
    const dev = rt.device(0);
    const other = await createRuntime({ backend: createTestBackend() });
    const x = dev.alloc('f32', 1024);
    const [a, b] = [dev.createStream(), dev.createStream()];
    const k = tileKernel({ name: 'scale', params: { x: 'ptr' } }, (t, { x }) => {
      const o = t.arange(0, 1024);
      t.store(x, o, t.load(x, o).mul(2));
    });
    dev.launch(k, { grid: 1 }, { x });
    dev.withStream(a, () => {
      dev.launch(k, { grid: 1 }, { x });
      dev.withStream(b, () => dev.launch(k, { grid: 1 }, { x }));
      dev.launch(k, { grid: 1 }, { x });
      dev.fill(x, 1);
      dev.launch(k, { grid: 1, stream: b }, { x }); // a named stream wins
    });
    expect(() =>
      dev.withStream(a, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    dev.launch(k, { grid: 1 }, { x });
    const tids = rt.profiler.records.map((r) => (r.name === 'fill' ? `fill@${r.stream}` : r.stream));
    expect(tids).toEqual([0, a.id, b.id, a.id, `fill@${a.id}`, b.id, 0]);
    // Another device's stream is refused with the usual error.
    expectThrowCode(() => dev.withStream(other.device(0).createStream(), () => 0), 'InvalidResourceHandle');
  });
});
