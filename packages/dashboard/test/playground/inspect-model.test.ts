/**
 * inspectPlayground (IR, generated JavaScript, WGSL) and modelAcrossDevices (one row per catalogue device of every
 * registered simulator, from the cost record and each backend's timing model).
 */
import { getBackend } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import {
  BLOCK_REDUCE_TEMPLATE,
  inspectPlayground,
  modelAcrossDevices,
  OFF_BY_ONE_TEMPLATE,
  PLAYGROUND_TEMPLATES,
  parsePlayground,
  runPlayground,
  SOFTMAX_TEMPLATE,
  VECTOR_ADD_TEMPLATE,
} from '../../ui/src/playground/index';
import { edit, issueOf } from './helpers';

const GOOD = PLAYGROUND_TEMPLATES.filter((t) => !t.buggy).map((t) => [t.id, t.source] as const);
const ALL = PLAYGROUND_TEMPLATES.map((t) => [t.id, t.source] as const);

describe('inspectPlayground', () => {
  it.each(ALL)('%s: IR naming the kernel, generated JavaScript, WGSL', (_id, source) => {
    const p = parsePlayground(source);
    const view = inspectPlayground(p);
    expect(view.kernel).toBe(p.kernel.name);
    expect(view.style).toBe(p.style);
    expect(view.ir).toContain(`kernel @${p.kernel.name} (${p.style})`);
    expect(view.key).toContain('f32');
    expect(view.js.length).toBeGreaterThan(100);
    expect(view.compileMs).toBeGreaterThanOrEqual(0);
    // Every template lowers (the SIMT ones too); the tile ones are required to.
    expect(view.wgslError).toBeNull();
    expect(view.wgsl).toMatch(/@compute/);
  });

  it('the IR shows what the kernel does (a tile softmax reduces; a SIMT reduction has barriers)', () => {
    expect(inspectPlayground(parsePlayground(SOFTMAX_TEMPLATE)).ir).toMatch(/tile\.reduce|reduce/);
    expect(inspectPlayground(parsePlayground(BLOCK_REDUCE_TEMPLATE)).ir).toMatch(/barrier|sync/);
  });

  it("WGSL is null, with the lowering's reason, for what WGSL cannot express", () => {
    const src = `const k = simtKernel({ name: 'wide', params: { x: 'ptr<f32>', n: 'i64' } }, (k, { x, n }) => {
  const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
  if (i < n) x.set(i, 1);
});
return { kernel: k, grid: 1, block: 64, buffers: { x: { dtype: 'f32', length: 64 } }, scalars: { n: 64 } };`;
    const view = inspectPlayground(parsePlayground(src));
    expect(view.wgsl).toBeNull();
    expect(view.wgslError).toMatch(/i64/);
    expect(view.js.length).toBeGreaterThan(0); // the simulators still run it
  });
});

describe('modelAcrossDevices', () => {
  it.each(GOOD)('%s: one row per catalogue device of both simulators, each with a time', async (_id, source) => {
    const report = await modelAcrossDevices(parsePlayground(source));
    const want: string[] = [];
    for (const name of ['nvidia-sim', 'ascend-sim']) {
      for (const d of (await getBackend(name)).catalog()) want.push(`${name}/${d.id}`);
    }
    expect(report.rows.map((r) => `${r.backend}/${r.deviceId}`).sort()).toEqual(want.sort());
    expect(report.rows.find((r) => r.deviceId === 'h100')).toMatchObject({ vendor: 'nvidia', backend: 'nvidia-sim' });
    expect(report.rows.find((r) => r.deviceId === '910c')).toMatchObject({ vendor: 'ascend', backend: 'ascend-sim' });
    for (const r of report.rows) {
      expect(r.error).toBeNull();
      expect(r.ms).toBeGreaterThan(0);
      expect(['matrix', 'vector', 'memory', 'latency']).toContain(r.bound);
      expect(Object.keys(r.breakdown).length).toBeGreaterThan(0);
      expect(r.deviceName.length).toBeGreaterThan(0);
    }
    expect(report.totals.programs).toBe(report.grid[0] * report.grid[1] * report.grid[2]);
    expect(report.totals.bytesRead).toBeGreaterThan(0);
    expect(report.totals.bytesWritten).toBeGreaterThan(0);
    expect(report.totals.flops).toBeGreaterThan(0);
  });

  it('totals are the cost record of the launch (vector add: 8n bytes read, 4n written, no matrix work)', async () => {
    const n = 1 << 18;
    const report = await modelAcrossDevices(parsePlayground(VECTOR_ADD_TEMPLATE));
    expect(report.totals).toMatchObject({ bytesRead: 8 * n, bytesWritten: 4 * n, matrixFlops: 0, exact: true });
    expect(report.totals.vectorOps).toBeGreaterThanOrEqual(n); // the adds, and the index arithmetic and masks
  });

  it('a memory-bound vector add: H100 beats A100 by about their HBM bandwidth ratio', async () => {
    // Large enough that launch latency is noise; modelling allocates nothing, so the size costs nothing.
    const big = parsePlayground(edit(VECTOR_ADD_TEMPLATE, 'const n = 1 << 18;', 'const n = 1 << 27;'));
    const report = await modelAcrossDevices(big);
    const h100 = report.rows.find((r) => r.deviceId === 'h100')!;
    const a100 = report.rows.find((r) => r.deviceId === 'a100')!;
    expect(h100.bound).toBe('memory');
    expect(a100.bound).toBe('memory');
    const speedup = a100.ms! / h100.ms!;
    const bandwidthRatio = h100.memoryBandwidthGBs / a100.memoryBandwidthGBs;
    expect(bandwidthRatio).toBeGreaterThan(1.2); // the catalogue's own figures differ enough for the test to mean something
    expect(speedup / bandwidthRatio).toBeGreaterThan(0.85);
    expect(speedup / bandwidthRatio).toBeLessThan(1.15);
  });

  it.each([
    ['vector-add', 'h100', VECTOR_ADD_TEMPLATE],
    ['vector-add', '910c', VECTOR_ADD_TEMPLATE],
    ['block-reduce', 'a100', BLOCK_REDUCE_TEMPLATE],
    ['block-reduce', '910b2', BLOCK_REDUCE_TEMPLATE],
  ] as const)('%s on %s: the same time as a functional launch on that device', async (_id, device, source) => {
    const p = parsePlayground(source);
    const row = (await modelAcrossDevices(p)).rows.find((r) => r.deviceId === device)!;
    const run = await runPlayground(p, { deviceId: device });
    expect(run.ok).toBe(true);
    expect(row.ms).toBe(run.modelledMs);
    expect(row.bound).toBe(run.timing!.bound);
  });

  it('a device that refuses the launch gets the reason in its row', async () => {
    const p = parsePlayground(edit(BLOCK_REDUCE_TEMPLATE, 'const THREADS = 256;', 'const THREADS = 2048;'));
    const report = await modelAcrossDevices(p);
    const h100 = report.rows.find((r) => r.deviceId === 'h100')!;
    expect(h100.ms).toBeNull();
    expect(h100.error).toMatchObject({ kind: 'launch', code: 'InvalidConfiguration' });
    expect(h100.error!.message).toMatch(/block dimension 0 is 2048, above the limit 1024/);
    expect(report.totals.programs).toBeGreaterThan(0);
  });

  it('a launch that would fault is refused before anything runs, naming the buffer', async () => {
    const issue = await issueOf(() => modelAcrossDevices(parsePlayground(OFF_BY_ONE_TEMPLATE)));
    expect(issue).toMatchObject({ kind: 'fault', code: 'IllegalAddress' });
    expect(issue.message).toMatch(/buffer 'x' \(f32\[4096\]\) at index 4096 is out of bounds/);
  });
});
