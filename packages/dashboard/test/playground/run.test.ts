/**
 * runPlayground: functional runs on simulated devices of both vendors, checked against the templates' float64
 * references; the sanitizer on the buggy template; poison, failed checks, limits, and memory freed after a fault.
 */
import { createRuntime } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import {
  modelAcrossDevices,
  OFF_BY_ONE_TEMPLATE,
  PLAYGROUND_LIMITS,
  PLAYGROUND_TEMPLATES,
  parsePlayground,
  runOnWebGpu,
  runPlayground,
  SOFTMAX_TEMPLATE,
  VECTOR_ADD_TEMPLATE,
} from '../../ui/src/playground/index';
import { edit, issueOf, lineOf } from './helpers';

const GOOD = PLAYGROUND_TEMPLATES.filter((t) => !t.buggy).map((t) => [t.id, t.source] as const);

describe('the templates run and match their float64 references', () => {
  it.each(GOOD.flatMap(([id, src]) => [[id, 'h100', src] as const, [id, '910c', src] as const]))(
    '%s on %s',
    async (_id, deviceId, source) => {
      const p = parsePlayground(source);
      const r = await runPlayground(p, { deviceId });
      expect(r.error).toBeNull();
      expect(r.ok).toBe(true);
      expect(r.deviceId).toBe(deviceId);
      expect(r.relError).not.toBeNull();
      expect(r.relError!).toBeLessThan(1e-5);
      expect(r.nanCount).toBe(0);
      expect(r.modelledMs!).toBeGreaterThan(0);
      expect(r.wallMs).toBeGreaterThanOrEqual(0);
      expect(r.outputValues!.length).toBe(p.buffers[p.output]!.length);
      expect(r.outputPreview).toEqual(Array.from(r.outputValues!.subarray(0, 8)));
      expect(r.sanitizer).toMatchObject({ enabled: false, reports: [], errors: 0 });
    },
  );

  it.each(GOOD)('%s is clean under the sanitizer', async (_id, source) => {
    const r = await runPlayground(parsePlayground(source), { deviceId: 'h100', sanitize: true });
    expect(r.ok).toBe(true);
    expect(r.relError!).toBeLessThan(1e-5);
    expect(r.sanitizer.enabled).toBe(true);
    expect(r.sanitizer.reports).toEqual([]);
    expect(r.sanitizer.summary).toMatch(/ERROR SUMMARY: 0 errors/);
  });
});

describe('other dtypes', () => {
  it('integer buffers compare exactly; bf16 within its own tolerance', async () => {
    const ints = `const n = 1000;
const triple = simtKernel({ name: 'triple', params: { x: 'ptr<i32>', y: 'ptr<i32>', n: 'i32' } }, (k, { x, y, n }) => {
  const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
  if (i < n) y.set(i, x.get(i) * 3 - 1);
});
return {
  kernel: triple, grid: cdiv(n, 128), block: 128,
  buffers: { x: { length: n, init: 'random', range: [-50, 50] }, y: { length: n } },
  scalars: { n },
  check: { output: 'y', reference: ({ x }) => x.map((v) => v * 3 - 1) },
};`;
    const p = parsePlayground(ints);
    expect(p.buffers.x!.dtype).toBe('i32'); // from the parameter's spec
    expect(p.check!.tolerance).toBe(0);
    const r = await runPlayground(p, { deviceId: 'h100' });
    expect(r.error).toBeNull();
    expect(r.relError).toBe(0);
    expect(r.outputValues).toBeInstanceOf(Int32Array);
    const off = await runPlayground(parsePlayground(ints.replace('* 3 - 1);', '* 3);')), { deviceId: 'h100' });
    expect(off.ok).toBe(false);
    expect(off.error!.kind).toBe('check');

    const bf16 = VECTOR_ADD_TEMPLATE.replace(/ptr<f32>/g, 'ptr<bf16>').replace(/dtype: 'f32'/g, "dtype: 'bf16'");
    const b = await runPlayground(parsePlayground(bf16), { deviceId: '910b2' });
    expect(b.ok).toBe(true);
    expect(b.tolerance).toBe(1e-2);
    expect(b.relError!).toBeGreaterThan(0); // the sum of two bf16 values is rounded to bf16
    expect(b.relError!).toBeLessThan(1e-2);
  });
});

describe('the off-by-one template', () => {
  const p = () => parsePlayground(OFF_BY_ONE_TEMPLATE);

  it("faults without the sanitizer: the runtime's message, naming the buffer, as a result", async () => {
    const r = await runPlayground(p(), { deviceId: 'h100' });
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ kind: 'fault', code: 'IllegalAddress' });
    expect(r.error!.message).toMatch(/'x' \(buffer #\d+ \(f32\[4096\].*\)\) at index 4096 is out of bounds/);
    expect(r.error!.hint ?? '').not.toMatch(/device\.reset/); // the playground resets the device itself
    expect(r.outputValues).toBeNull();
    expect(r.sanitizer.reports).toEqual([]);
  });

  it('the sanitizer names the read past the end of x, the thread, and the line', async () => {
    const r = await runPlayground(p(), { deviceId: '910c', sanitize: true });
    expect(r.ok).toBe(false);
    expect(r.sanitizer.errors).toBeGreaterThan(0);
    const read = r.sanitizer.reports.find((x) => x.param === 'x');
    expect(read).toMatchObject({
      tool: 'memcheck',
      kind: 'out-of-bounds',
      access: 'read',
      index: 4096,
      line: lineOf(OFF_BY_ONE_TEMPLATE, 'x.get(i + 1)'),
      thread: [127, 0, 0],
      block: [31, 0, 0],
    });
    expect(read!.text).toMatch(/Invalid __global__ read of size 4 bytes/);
    expect(r.sanitizer.reports.find((x) => x.param === 'dx')).toMatchObject({ access: 'write', index: 4095 });
    expect(r.sanitizer.summary).toMatch(/ERROR SUMMARY: [1-9]\d* error/);
  });

  it('with the fix the comment suggests, it passes under the sanitizer', async () => {
    const fixed = parsePlayground(edit(OFF_BY_ONE_TEMPLATE, 'if (i < n) dx.set', 'if (i < n - 1) dx.set'));
    const r = await runPlayground(fixed, { deviceId: 'h100', sanitize: true });
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.sanitizer.reports).toEqual([]);
    expect(r.relError!).toBeLessThan(1e-5);
  });

  it("frees every allocation of the caller's device even after the fault, and leaves it usable", async () => {
    const dev = (await createRuntime({ backend: 'nvidia-sim', devices: 'h100' })).device(0);
    const { free, total } = dev.memGetInfo();
    expect(free).toBe(total);
    const bad = await runPlayground(p(), { device: dev, sanitize: true });
    expect(bad.error?.kind).toBe('fault');
    expect(dev.memGetInfo().free).toBe(total);
    const good = await runPlayground(parsePlayground(VECTOR_ADD_TEMPLATE), { device: dev });
    expect(good.ok).toBe(true);
    expect(dev.memGetInfo().free).toBe(total);
  });
});

describe('results that are wrong are caught', () => {
  it('elements never written stay NaN (poison) and fail the run', async () => {
    const src = edit(VECTOR_ADD_TEMPLATE, 'grid: cdiv(n, BLOCK),', 'grid: cdiv(n, BLOCK) - 1,');
    const r = await runPlayground(parsePlayground(src), { deviceId: 'h100' });
    expect(r.ok).toBe(false);
    expect(r.nanCount).toBe(1024);
    expect(r.relError).toBe(Number.POSITIVE_INFINITY);
    expect(r.error).toMatchObject({ kind: 'check' });
    expect(r.error!.message).toMatch(/1024 of 262144 elements of 'out' are still NaN/);
  });

  it('a wrong kernel fails the comparison with the reference', async () => {
    const src = edit(VECTOR_ADD_TEMPLATE, '.add(t.load(y, offs, { mask }))', '.sub(t.load(y, offs, { mask }))');
    const r = await runPlayground(parsePlayground(src), { deviceId: 'a100' });
    expect(r.ok).toBe(false);
    expect(r.relError!).toBeGreaterThan(0.5);
    expect(r.error!.message).toMatch(
      /differs from the reference: ‖out − ref‖ \/ ‖ref‖ = .* above the tolerance 0\.00001/,
    );
  });

  it('a reference of the wrong length, or one that throws, is reported (with its line)', async () => {
    let src = edit(VECTOR_ADD_TEMPLATE, 'x.map((v, i) => v + y[i])', 'x.slice(1)');
    let r = await runPlayground(parsePlayground(src), { deviceId: 'h100' });
    expect(r.error).toMatchObject({ kind: 'check' });
    expect(r.error!.message).toMatch(/returned 262143 values; 'out' has 262144 elements/);
    src = edit(VECTOR_ADD_TEMPLATE, 'x.map((v, i) => v + y[i])', 'x.map((v, i) => v + z[i])');
    r = await runPlayground(parsePlayground(src), { deviceId: 'h100' });
    expect(r.error).toMatchObject({ kind: 'check', line: lineOf(src, 'v + z[i]') });
    expect(r.error!.message).toMatch(/check\.reference threw: ReferenceError: z is not defined/);
  });
});

describe('limits', () => {
  it('oversize buffers are refused with the sizes and the limit; modelling still takes them', async () => {
    const big = parsePlayground(edit(VECTOR_ADD_TEMPLATE, 'const n = 1 << 18;', 'const n = 1 << 22;'));
    const issue = await issueOf(() => runPlayground(big, { deviceId: 'h100' }));
    expect(issue.kind).toBe('limit');
    expect(issue.message).toMatch(/12,582,912 elements in all \(x 4,194,304, y 4,194,304, out 4,194,304\)/);
    expect(issue.message).toMatch(/at most 4,194,304 \(2\^22\)/);
    expect(issue.hint).toMatch(/Modelling/);
    const gpu = { requestAdapter: async () => null };
    expect((await issueOf(() => runOnWebGpu(big, gpu))).kind).toBe('limit');
    const model = await modelAcrossDevices(big);
    expect(model.rows.every((r) => r.ms! > 0)).toBe(true);
  });

  it('too many programs are refused', async () => {
    const src = edit(VECTOR_ADD_TEMPLATE, 'grid: cdiv(n, BLOCK),', 'grid: [1 << 11, 1 << 10],');
    const issue = await issueOf(() => runPlayground(parsePlayground(src), { deviceId: 'h100' }));
    expect(issue.kind).toBe('limit');
    expect(issue.message).toMatch(/The grid has 2,097,152 programs; a run takes at most 1,048,576 \(2\^20\)/);
  });

  /** A tile kernel that loops `iters` times over its tile: tiny buffers, as much work as the visitor types. */
  const spin = (iters: string) => `const k = tileKernel(
  { name: 'spin', params: { x: 'ptr<f32>', out: 'ptr<f32>', iters: 'i32', BLOCK: 'constexpr' } },
  (t, { x, out, iters, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    for (let j = 0; j < iters; j++) t.store(out, offs, t.load(x, offs).mul(2).add(1));
  },
);
return {
  kernel: k,
  grid: 64,
  buffers: { x: { dtype: 'f32', length: 64 * 256 }, out: { dtype: 'f32', length: 64 * 256, init: 'poison' } },
  scalars: { iters: ${iters}, BLOCK: 256 },
};`;

  it('a run whose cost record says it would take too long is refused before it starts', async () => {
    const issue = await issueOf(() => runPlayground(parsePlayground(spin('1e9')), { deviceId: 'h100' }));
    expect(issue.kind).toBe('limit');
    expect(issue.message).toMatch(/element operations and accesses; a run in the browser takes at most/);
    // The same launch models fine: nothing runs.
    const model = await modelAcrossDevices(parsePlayground(spin('1e9')));
    expect(model.rows.find((r) => r.deviceId === 'h100')!.ms!).toBeGreaterThan(1);
  });

  it('the sanitizer has a smaller budget than a plain run', async () => {
    // Between the two limits: 64 programs × 2048 iterations × a 256-wide tile.
    const p = parsePlayground(spin('2048'));
    const issue = await issueOf(() => runPlayground(p, { deviceId: 'h100', sanitize: true }));
    expect(issue.kind).toBe('limit');
    expect(issue.message).toMatch(/a sanitized run/);
    expect(issue.hint).toMatch(/sanitizer checks every access/);
    expect(PLAYGROUND_LIMITS.maxSanitizedWork).toBeLessThan(PLAYGROUND_LIMITS.maxRunWork);
  });

  it('an unknown device is named, with the ones there are', async () => {
    const issue = await issueOf(() => runPlayground(parsePlayground(SOFTMAX_TEMPLATE), { deviceId: 'h900' }));
    expect(issue.kind).toBe('environment');
    expect(issue.message).toMatch(/No simulated device 'h900'/);
    expect(issue.hint).toMatch(/h100 \(nvidia-sim\)/);
    expect(issue.hint).toMatch(/910c \(ascend-sim\)/);
  });
});
